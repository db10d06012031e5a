/*
 * The AF_XDP plumbing the receive and send backends share (jumbo_xdp.h).
 * Built without libxdp, only the probe exists, and it says so.
 */
#include "jumbo_xdp.h"

#include <jumbo/jumbo.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef JUMBO_HAVE_XDP

int _jumbo_xdp_probe(char *why, size_t len)
{
	snprintf(why, len, "xdp backend: libjumbo was built without libxdp "
		 "(install libxdp-dev and rebuild)");
	return -EOPNOTSUPP;
}

#else

int _jumbo_xdp_probe(char *why, size_t len)
{
	int fd = socket(AF_XDP, SOCK_RAW, 0);

	if (fd < 0) {
		snprintf(why, len, "xdp backend: no AF_XDP socket (%s): a "
			 "kernel without XDP sockets, or no CAP_NET_RAW",
			 strerror(errno));
		return -EOPNOTSUPP;
	}
	close(fd);
	return 0;
}

static void xdp_route(const char *who, const char *f, va_list a)
{
	char msg[400];

	if (!_jumbo_log_routed())
		return;
	vsnprintf(msg, sizeof(msg), f, a);
	size_t n = strlen(msg);
	while (n && msg[n - 1] == '\n')
		msg[--n] = '\0';
	_jumbo_log(JUMBO_LOG_INFO, "%s: %s", who, msg);
}

static int xdp_bpf_print(enum libbpf_print_level l, const char *f, va_list a)
{
	if (l != LIBBPF_DEBUG)
		xdp_route("libbpf", f, a);
	return 0;
}

static int xdp_xdp_print(enum libxdp_print_level l, const char *f, va_list a)
{
	if (l != LIBXDP_DEBUG)
		xdp_route("libxdp", f, a);
	return 0;
}

void _jumbo_xdp_quiet_begin(struct jumbo_xdp_quiet *q)
{
	q->bpf = libbpf_set_print(xdp_bpf_print);
	q->xdp = libxdp_set_print(xdp_xdp_print);
}

void _jumbo_xdp_quiet_end(struct jumbo_xdp_quiet *q)
{
	libbpf_set_print(q->bpf);
	libxdp_set_print(q->xdp);
}

int _jumbo_xdp_umem(struct jumbo_pool *pool, unsigned fill, unsigned comp,
		    struct xsk_umem **umem, struct xsk_ring_prod *fq,
		    struct xsk_ring_cons *cq, char **base, size_t *nframes,
		    char *why, size_t len)
{
	struct xsk_umem_config uc = {
		.fill_size = fill, .comp_size = comp,
		.frame_size = JUMBO_XDP_FRAME, .frame_headroom = 0, .flags = 0,
	};
	struct jumbo_stats st;
	int e;

	*umem = NULL;
	if (jumbo_pool_stats(pool, &st) != 0 ||
	    st.page_size != JUMBO_XDP_FRAME ||
	    jumbo_page_state(jumbo_pool_page(pool, jumbo_pool_iova_to_addr(
			     pool, (st.reserved - 1) * JUMBO_XDP_FRAME)), NULL,
			     NULL) == JUMBO_PG_UNUSED) {
		snprintf(why, len, "xdp backend: the pool must have 4 KiB pages "
			 "and be committed whole (init_pages = max_pages) to be "
			 "a UMEM");
		return -EINVAL;
	}
	*base = jumbo_pool_iova_to_addr(pool, 0);
	*nframes = st.reserved;
	/* Pinned first: a trim running now ends before the pages are. */
	e = jumbo_pool_pin(pool);
	if (e) {
		snprintf(why, len, "xdp backend: pinning the pool: %s",
			 strerror(-e));
		return e;
	}
	e = xsk_umem__create(umem, *base, st.reserved * JUMBO_XDP_FRAME, fq, cq,
			     &uc);
	if (e) {
		*umem = NULL;
		jumbo_pool_unpin(pool);
		snprintf(why, len, "xdp backend: registering the pool as a "
			 "UMEM: %s", strerror(-e));
		return e;
	}
	return 0;
}

void _jumbo_xdp_umem_delete(struct jumbo_pool *pool, struct xsk_umem *umem)
{
	xsk_umem__delete(umem);
	jumbo_pool_unpin(pool);
}

#endif
