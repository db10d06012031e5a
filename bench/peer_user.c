/*
 * jumbo-user, jumbo-user-static: the seed's path as a user's program
 * builds it (user/seed_user.c, built by user-build.sh against the
 * installed headers with pkg-config), opened here.  The workloads are
 * instantiated in that object, so its calls into libjumbo are exactly a
 * program's: through the PLT into libjumbo.so, or direct into its own
 * copy of libjumbo.a.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "dl.h"

#ifndef BENCH_USER_SO
#define BENCH_USER_SO ""
#define BENCH_USER_STATIC_SO ""
#endif

static struct peer user_shared, user_static;

static int user_open(const char *path, struct peer *to, char *why,
		     size_t whylen)
{
	const struct peer *from;
	void *h = bench_dlopen(path, why, whylen);

	if (h == NULL || bench_dlsym(h, "jb_user_peer", (void **)&from, why,
				     whylen))
		return -1;
	/* The name and text stay ours; the workloads are the object's. */
	to->s1 = from->s1;
	to->s2 = from->s2;
	to->s3_produce = from->s3_produce;
	to->s3_consume = from->s3_consume;
	to->s4 = from->s4;
	return from->start(0, why, whylen);
}

/* The environment may name another build of the object: a "before"
 * build, run alternately with this one in the same minutes. */
static const char *user_path(const char *env, const char *built)
{
	const char *s = getenv(env);

	return s && *s ? s : built;
}

static int shared_start(size_t capacity, char *why, size_t whylen)
{
	(void)capacity;
	return user_open(user_path("JUMBO_BENCH_USER_SO", BENCH_USER_SO),
			 &user_shared, why, whylen);
}

static int static_start(size_t capacity, char *why, size_t whylen)
{
	(void)capacity;
	return user_open(user_path("JUMBO_BENCH_USER_A_SO",
				   BENCH_USER_STATIC_SO),
			 &user_static, why, whylen);
}

/* Trampolines: the peer tables are const and filled before start(). */
#define USER_TRAMPOLINES(v)                                                  \
	static void v##_s1(const struct wl_params *a, struct wl_result *r)   \
	{                                                                    \
		v.s1(a, r);                                                  \
	}                                                                    \
	static void v##_s2(const struct wl_params *a, struct wl_result *r)   \
	{                                                                    \
		v.s2(a, r);                                                  \
	}                                                                    \
	static void v##_s3p(struct spsc *q, uint64_t n, struct wl_result *r) \
	{                                                                    \
		v.s3_produce(q, n, r);                                       \
	}                                                                    \
	static void v##_s3c(struct spsc *q, uint64_t n, struct wl_result *r) \
	{                                                                    \
		v.s3_consume(q, n, r);                                       \
	}                                                                    \
	static void v##_s4(uint64_t steps, uint64_t seed, struct wl_result *r) \
	{                                                                    \
		v.s4(steps, seed, r);                                        \
	}
USER_TRAMPOLINES(user_shared)
USER_TRAMPOLINES(user_static)

const struct peer peer_jumbo_user = {
	.name = "jumbo-user",
	.what = "the seed's three calls, built with pkg-config, libjumbo.so",
	.start = shared_start,
	.s1 = user_shared_s1,
	.s2 = user_shared_s2,
	.s3_produce = user_shared_s3p,
	.s3_consume = user_shared_s3c,
	.s4 = user_shared_s4,
};

const struct peer peer_jumbo_user_static = {
	.name = "jumbo-user-a",
	.what = "the seed's three calls, built with pkg-config, libjumbo.a",
	.start = static_start,
	.s1 = user_static_s1,
	.s2 = user_static_s2,
	.s3_produce = user_static_s3p,
	.s3_consume = user_static_s3c,
	.s4 = user_static_s4,
};
