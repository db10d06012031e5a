/*
 * What the tests of the network backends share: a pool for a backend,
 * and for those that build interfaces (the xdp tests), a network
 * namespace of their own, shell commands (ip, sysctl, nsenter) and an
 * interface's MAC address.  Header only, like check.h.
 */
#ifndef JUMBO_TEST_NET_H
#define JUMBO_TEST_NET_H

#include "check.h"

#include <jumbo/jumbo.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

/*
 * A pool named name of max_pages pages, init_pages committed at once
 * (max_pages for a UMEM: committed whole), reserve_pages kept cold
 * (JUMBO_RESERVE_AUTO: the library's choice); the test stops if it
 * cannot be made.
 */
static inline struct jumbo_pool *tn_pool(const char *name, size_t max_pages,
					 size_t init_pages,
					 size_t reserve_pages, unsigned flags)
{
	struct jumbo_pool_params pp;
	struct jumbo_pool *pool;

	jumbo_pool_params_init(&pp);
	pp.max_pages = max_pages;
	pp.init_pages = init_pages;
	pp.reserve_pages = reserve_pages;
	pp.flags = flags;
	pp.name = name;
	pool = jumbo_pool_create(&pp);
	REQUIRE(pool != NULL);
	return pool;
}

/* A shell command, formatted: system(3)'s status. */
static inline __attribute__((format(printf, 1, 2))) int
tn_sh(const char *fmt, ...)
{
	char cmd[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

/*
 * Into a network namespace of the test's own (it and the interfaces in
 * it go with the process, even one killed by its timeout), or skip: not
 * root, one of the commands in tools (a shell word list) missing, or no
 * namespace.
 */
static inline void tn_netns(const char *test, const char *tools)
{
	if (geteuid() != 0)
		skip("%s: needs root (a network namespace, veth pairs, AF_XDP)",
		     test);
	if (tn_sh("for c in %s; do command -v $c >/dev/null || exit 1; done",
		  tools))
		skip("%s: needs %s", test, tools);
	if (unshare(CLONE_NEWNET) != 0)
		skip("%s: unshare(CLONE_NEWNET): %s", test, strerror(errno));
}

/* The interface's MAC address (sysfs shows the namespace that mounted
 * it, not this one: ask the kernel).  0 or -1. */
static inline int tn_mac(const char *ifname, unsigned char mac[6])
{
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM, 0), r;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	r = fd >= 0 ? ioctl(fd, SIOCGIFHWADDR, &ifr) : -1;
	if (fd >= 0)
		close(fd);
	if (!r)
		memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
	return r ? -1 : 0;
}

/* aa:bb:cc:dd:ee:ff, for ip(8). */
static inline void tn_mac_text(const unsigned char mac[6], char *out,
			       size_t size)
{
	snprintf(out, size, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1],
		 mac[2], mac[3], mac[4], mac[5]);
}

#endif
