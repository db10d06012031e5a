/*
 * The fast paths of libjumbo.so reach their thread-local caches without a
 * call: no __tls_get_addr in the functions a packet loop calls per page or
 * per mbuf.  The default TLS model of a shared library (general-dynamic)
 * calls __tls_get_addr through the PLT at every access; the library's
 * thread caches are declared initial-exec so that an access is one
 * %fs-relative load.  m_get and m_gethdr once made two such calls each,
 * m_free and m_freem one in the push they called.
 *
 * Reads the library's machine code with objdump (binutils); skipped where
 * it is missing.  JUMBO_SO: the path of libjumbo.so (tests/tls_model.cmake).
 */
#include "check.h"

#ifndef JUMBO_SO
#error "JUMBO_SO: the path of libjumbo.so"
#endif

static const char *const fast[] = {
	"m_get", "m_gethdr", "m_free", "m_freem",
	"jumbo_pool_alloc", "jumbo_pool_free",
	"jumbo_pool_alloc_bulk", "jumbo_pool_free_bulk",
	"jumbo_pg_alloc", "jumbo_pg_free",
};
#define NFAST (sizeof(fast) / sizeof(fast[0]))

/* The function a "<name>:" or "<name@@VERSION>:" header line opens. */
static int which(const char *line)
{
	const char *lt = strchr(line, '<'), *end;

	if (!lt || !strstr(line, ">:"))
		return -2; /* not a header */
	end = lt + 1 + strcspn(lt + 1, "@>");
	for (size_t i = 0; i < NFAST; i++)
		if (strlen(fast[i]) == (size_t)(end - lt - 1) &&
		    !strncmp(lt + 1, fast[i], (size_t)(end - lt - 1)))
			return (int)i;
	return -1;
}

int main(void)
{
	char cmd[4096], line[1024];
	int cur = -1, seen[NFAST] = { 0 };

	if (system("objdump --version >/dev/null 2>&1") != 0)
		skip("objdump (binutils) is not installed");
	snprintf(cmd, sizeof(cmd), "objdump -d --no-show-raw-insn '%s'", JUMBO_SO);
	FILE *f = popen(cmd, "r");
	CHECK(f != NULL);
	if (!f)
		return 1;
	while (fgets(line, sizeof(line), f)) {
		int w = which(line);
		if (w != -2) {
			cur = w;
			if (w >= 0)
				seen[w] = 1;
			continue;
		}
		if (cur >= 0 && strstr(line, "call") &&
		    strstr(line, "__tls_get_addr")) {
			fprintf(stderr, "%s calls __tls_get_addr: %s", fast[cur],
				line);
			check_failures++;
		}
	}
	CHECK(pclose(f) == 0);
	for (size_t i = 0; i < NFAST; i++) {
		if (!seen[i])
			fprintf(stderr, "%s: not found in %s\n", fast[i], JUMBO_SO);
		CHECK(seen[i]);
	}
	return check_done("tls_model");
}
