/*
 * jumbo(1) renders clean: no warning from mandoc -T lint -W warning nor
 * from groff -ww, and no word of running text turned into a flag (a
 * '.Fl' that swallows the words after it renders them as '-or -the').
 * Skips without mandoc or groff (scripts/install-deps.sh installs both).
 */
#include "test_tool.h"

#ifndef JUMBO_SOURCE_DIR
#error "tests/tool_man.cmake defines JUMBO_SOURCE_DIR"
#endif

#define ARGS(...) ((char *const[]){ __VA_ARGS__, NULL })

int main(void)
{
	/* JUMBO_MAN_PAGE: another page to check, e.g. an older one. */
	const char *page = getenv("JUMBO_MAN_PAGE") ? getenv("JUMBO_MAN_PAGE")
						    : JUMBO_SOURCE_DIR
						      "/man/jumbo.1";
	static const char *const stray[] = { " -or ", " -the ", " -and ",
					     " -of ", " -with " };
	struct proc p;

	if (!have_prog("mandoc") || !have_prog("groff"))
		skip("mandoc or groff is not installed");
	proc_run(&p, ARGS("mandoc", "-T", "lint", "-W", "warning",
			  (char *)page), PROC_HANG_MS);
	printf("mandoc -T lint -W warning: status %d\n%s", p.status, p.obuf);
	/* Its only output is findings; status 0 is none at this level. */
	CHECK_EQ(p.status, 0);
	CHECK_EQ(p.olen, 0);
	proc_run(&p, ARGS("groff", "-ww", "-mandoc", "-Tutf8", (char *)page),
		 PROC_HANG_MS);
	printf("groff -ww: status %d, %zu bytes of warnings\n%s", p.status,
	       p.elen, p.ebuf);
	CHECK_EQ(p.status, 0);
	CHECK_EQ(p.elen, 0);
	proc_run(&p, ARGS("mandoc", "-T", "ascii", "-O", "width=1000",
			  (char *)page), PROC_HANG_MS);
	CHECK_EQ(p.status, 0);
	{
		/* Bold and underline are overstrikes: "c\bc", "_\bc". */
		size_t o = 0;
		for (size_t i = 0; i < p.olen; i++) {
			if (i + 1 < p.olen && p.obuf[i + 1] == '\b') {
				i++;
				continue;
			}
			p.obuf[o++] = p.obuf[i];
		}
		p.obuf[o] = 0;
	}
	for (size_t i = 0; i < sizeof(stray) / sizeof(stray[0]); i++)
		if (strstr(p.obuf, stray[i])) {
			printf("rendered with a stray hyphen: '%s'\n", stray[i]);
			CHECK(0);
		}
	return check_done("tool_man");
}
