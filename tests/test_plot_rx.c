/*
 * tools/plot-rx.sh: a hand-made CSV in the format "jumbo rx --csv" writes
 * becomes a PNG of the expected size; a file with another header is refused
 * with a message; a name with a quote in it does not break the gnuplot
 * program.  Skips without gnuplot.
 */
#include "test_tool.h"

static const char csv_text[] =
	"time_s,frames,bytes,gbps,frames_per_s,kernel_drops,nobuf_drops,"
	"truncated,pool_in_use\n"
	"0.5,50000,450000000,7.2,100000,0,0,0,120\n"
	"1.0,110000,990000000,8.64,120000,0,0,0,140\n"
	"1.5,160000,1440000000,7.2,100000,10,0,0,900\n"
	"2.0,190000,1710000000,4.32,60000,250,30,0,4096\n"
	"2.5,250000,2250000000,8.64,120000,250,30,1,300\n";

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	REQUIRE(f && fputs(text, f) >= 0 && fclose(f) == 0);
}

/* Width and height from a PNG's IHDR, or 0 if the file is not a PNG. */
static int png_size(const char *path, unsigned *w, unsigned *h)
{
	unsigned char b[24];
	FILE *f = fopen(path, "rb");
	size_t n = f ? fread(b, 1, sizeof(b), f) : 0;

	if (f)
		fclose(f);
	if (n != sizeof(b) || memcmp(b, "\x89PNG\r\n\x1a\n", 8) ||
	    memcmp(b + 12, "IHDR", 4))
		return 0;
	*w = (unsigned)b[16] << 24 | b[17] << 16 | b[18] << 8 | b[19];
	*h = (unsigned)b[20] << 24 | b[21] << 16 | b[22] << 8 | b[23];
	return 1;
}

int main(void)
{
	const char *src = getenv("JUMBO_SRC");
	char dir[] = "/tmp/jumbo-plot-test.XXXXXX", script[512], csv[600],
	     png[600], bad[600];
	struct proc p;
	unsigned w = 0, h = 0;

	if (!src)
		skip("JUMBO_SRC is not set (run from CTest)");
	if (!have_prog("gnuplot"))
		skip("gnuplot is not installed (scripts/install-deps.sh bench)");
	snprintf(script, sizeof(script), "%s/tools/plot-rx.sh", src);
	REQUIRE(mkdtemp(dir));
	snprintf(csv, sizeof(csv), "%s/it's rx.csv", dir);
	snprintf(png, sizeof(png), "%s/it's rx.png", dir);
	write_file(csv, csv_text);

	char *argv[] = { "sh", script, csv, NULL };
	CHECK_EQ(proc_run(&p, argv, PROC_HANG_MS), 0);
	CHECK(png_size(png, &w, &h));
	CHECK_EQ(w, 1000);
	CHECK_EQ(h, 900);
	CHECK(strstr(p.obuf, "rx.png") != NULL);
	if (check_failures)
		proc_dump(&p, "plot-rx.sh");

	/* Another header: refused, and says which it wanted. */
	snprintf(bad, sizeof(bad), "%s/bad.csv", dir);
	write_file(bad, "time,frames\n1,2\n");
	char *argv_bad[] = { "sh", script, bad, NULL };
	CHECK_EQ(proc_run(&p, argv_bad, PROC_HANG_MS), 1);
	CHECK(strstr(p.ebuf, "want: time_s,frames,bytes,gbps") != NULL);
	snprintf(png, sizeof(png), "%s/bad.png", dir);
	CHECK(access(png, F_OK) != 0);

	char cmd[700];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	CHECK_EQ(system(cmd), 0);
	return check_done("plot_rx");
}
