/*
 * The logging hook (jumbo_set_log): a message the library prints reaches
 * the program's function with its level and argument, and nothing reaches
 * stderr; a function that does nothing silences the library; NULL brings
 * stderr back; the abort on a corrupting free reports through the hook too.
 */
#include <jumbo/jumbo.h>
#include <jumbo/mbuf.h>

#include "check.h"

struct seen {
	int calls;
	int level;
	char msg[512];
};

static void record(int level, const char *msg, void *arg)
{
	struct seen *s = arg;

	s->calls++;
	s->level = level;
	snprintf(s->msg, sizeof(s->msg), "%s", msg);
}

static void quiet(int level, const char *msg, void *arg)
{
	(void)level, (void)msg, (void)arg;
}

/* A write(2) per line, as a program's own logger might. */
static void to_stderr_tagged(int level, const char *msg, void *arg)
{
	char line[600];
	int n = snprintf(line, sizeof(line), "%s[%d] %s\n", (const char *)arg,
			 level, msg);
	if (write(2, line, (size_t)n) < 0)
		_exit(3);
}

/* jumbo_pool_destroy on a pool with a page out: -EBUSY and one message. */
static void destroy_busy(void *arg)
{
	struct jumbo_pool_params pp;
	jumbo_pool_params_init(&pp);
	pp.max_pages = 8;
	pp.name = "logtest";
	struct jumbo_pool *p = jumbo_pool_create(&pp);
	if (!p)
		_exit(2);
	void *pg = jumbo_pool_alloc(p);
	if (!pg || jumbo_pool_destroy(p) != -EBUSY)
		_exit(2);
	int *calls = arg;
	if (calls)
		*calls += 1;
	jumbo_pool_free(p, pg);
	if (jumbo_pool_destroy(p) != 0)
		_exit(2);
}

static void captured(void *arg)
{
	struct seen s = { 0 };
	if (jumbo_set_log(record, &s) != 0)
		_exit(2);
	destroy_busy(NULL);
	/* Checked in the child: its stderr is the parent's evidence. */
	if (s.calls != 1 || s.level != JUMBO_LOG_ERROR ||
	    !strstr(s.msg, "jumbo_pool_destroy") ||
	    !strstr(s.msg, "\"logtest\"") || !strstr(s.msg, "still in use") ||
	    strchr(s.msg, '\n'))
		_exit(4);
}

static void silenced(void *arg)
{
	if (jumbo_set_log(quiet, NULL) != 0)
		_exit(2);
	destroy_busy(NULL);
}

static void restored(void *arg)
{
	if (jumbo_set_log(quiet, NULL) != 0 || jumbo_set_log(NULL, NULL) != 0)
		_exit(2);
	destroy_busy(NULL);
}

static void double_free(void *arg)
{
	if (jumbo_set_log(to_stderr_tagged, "hook") != 0)
		_exit(2);
	struct mbuf *m = m_get(M_NOWAIT, MT_DATA);
	if (!m)
		_exit(2);
	m_free(m);
	m_free(m);
}

int main(void)
{
	char buf[4096];
	int st;

	st = run_child(captured, NULL, buf, sizeof(buf));
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CHECK_EQ(strlen(buf), 0); /* the hook had it, stderr nothing */
	if (buf[0])
		fprintf(stderr, "captured: stderr got: %s\n", buf);

	st = run_child(silenced, NULL, buf, sizeof(buf));
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CHECK_EQ(strlen(buf), 0);

	st = run_child(restored, NULL, buf, sizeof(buf));
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CHECK(strstr(buf, "jumbo_pool_destroy: pool \"logtest\"") != NULL);
	CHECK(buf[0] && buf[strlen(buf) - 1] == '\n');

	const char *want[] = { "hook[3] m_free: double free of mbuf 0x", NULL };
	expect_abort("double free through the hook", double_free, NULL, want);

	return check_done("log");
}
