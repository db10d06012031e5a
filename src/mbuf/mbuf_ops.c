/*
 * Operations on mbuf chains: building the chain of a jumbo frame, sharing
 * (m_copym), reading (m_copydata, m_length), cutting bytes off (m_adj)
 * and making headers contiguous (m_pullup).  FreeBSD's semantics where they exist.
 */
#include "mbuf_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int _jumbo_mb_chain(const char *fn, const struct mbuf *m, size_t *lenp)
{
	size_t len = 0;

	for (; m; m = m->m_next) {
		if (unlikely(!mb_live(m)))
			return _jumbo_mb_bad(fn, m);
		len += m->m_len;
	}
	*lenp = len;
	return 0;
}

size_t m_length(const struct mbuf *m, struct mbuf **last)
{
	size_t len = 0;
	const struct mbuf *l = NULL;

	for (; m; m = m->m_next) {
		if (unlikely(!mb_live(m))) {
			_jumbo_mb_bad("m_length", m);
			len = 0;
			l = NULL;
			break;
		}
		len += m->m_len;
		l = m;
	}
	if (last)
		*last = (struct mbuf *)(uintptr_t)l;
	return len;
}

static int cmp_addr(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t) * (void *const *)a;
	uintptr_t y = (uintptr_t) * (void *const *)b;
	return x < y ? -1 : x > y;
}

/*
 * The pages are taken in one bulk call and sorted by address: pages freed
 * together come back together, so a frame's pages are often adjacent and
 * can then move in one mremap.
 */
struct mbuf *m_getjumbo(struct jumbo_pool *pool, size_t len, int *err)
{
	void *stackpg[32], **pages = stackpg;
	struct mbuf *head = NULL, **tailp = &head;
	size_t ps, n, got = 0, i;
	int e = 0;

	if (!pool && jumbo_vm_init())
		pool = jumbo_default_pool();
	if (!pool) {
		e = -ENOMEM;
		goto out;
	}
	if (len == 0) {
		e = -EINVAL;
		goto out;
	}
	ps = jumbo_pool_page_size(pool);
	n = len / ps + (len % ps != 0); /* len + ps - 1 could wrap */
	/* More pages than the pool's cap never come: no array for them. */
	if (n > JUMBO_HEAD(pool)->ph_npages ||
	    (n > 32 && !(pages = malloc(n * sizeof(*pages))))) {
		e = -ENOMEM;
		goto out;
	}
	while (got < n) {
		unsigned want = (unsigned)JUMBO_MIN(n - got, (size_t)1 << 16);
		unsigned r = jumbo_pool_alloc_bulk(pool, pages + got, want);
		got += r;
		if (r < want) {
			/* EXDEV: a shared pool in a fork child (see fork.c). */
			e = errno == EXDEV ? -EXDEV : -ENOMEM;
			goto out;
		}
	}
	qsort(pages, n, sizeof(*pages), cmp_addr);
	for (i = 0; i < n; i++) {
		struct mbuf *m = i ? m_get(M_NOWAIT, MT_DATA)
				   : m_gethdr(M_NOWAIT, MT_DATA);
		if (!m) {
			e = -ENOMEM;
			goto out;
		}
		*tailp = m;
		tailp = &m->m_next;
		if ((e = m_extadd_jumbo(m, pool, pages[i], NULL, NULL)) != 0)
			goto out;
		pages[i] = NULL; /* the mbuf owns it now */
		m->m_len = i + 1 < n ? ps : len - i * ps;
	}
	head->m_pkthdr.len = len;
out:
	if (e) {
		m_freem(head);
		head = NULL;
		for (i = 0; i < got; i++)
			if (pages[i])
				jumbo_pool_free(pool, pages[i]);
	}
	if (pages != stackpg)
		free(pages);
	if (err)
		*err = e;
	if (e)
		errno = -e;
	return head;
}

struct mbuf *m_copym(struct mbuf *m, size_t off, size_t len, int how)
{
	struct mbuf *top = NULL, **np = &top, *n;
	size_t total;
	int copyhdr;

	if (!m || _jumbo_mb_chain("m_copym", m, &total) != 0) {
		errno = EINVAL;
		return NULL;
	}
	copyhdr = off == 0 && (m->m_flags & M_PKTHDR);
	if (off > total || (len != M_COPYALL && len > total - off)) {
		errno = EINVAL;
		return NULL;
	}
	if (len == M_COPYALL)
		len = total - off;
	while (off > 0 && off >= m->m_len) {
		off -= m->m_len;
		m = m->m_next;
	}
	do {
		n = copyhdr ? m_gethdr(how, MT_DATA) : m_get(how, MT_DATA);
		if (!n)
			goto nospace;
		*np = n;
		np = &n->m_next;
		if (copyhdr) {
			n->m_pkthdr = m->m_pkthdr;
			n->m_pkthdr.len = len;
			copyhdr = 0;
		}
		/* A zero-length chain still gets one (empty) mbuf. */
		if (!m)
			break;
		n->m_len = JUMBO_MIN(len, m->m_len - off);
		if (m->m_flags & M_EXT) {
			_jumbo_mb_ext_share(n, m);
			n->m_flags |= m->m_flags & M_RDONLY;
			n->m_data = m->m_data + off;
		} else {
			memcpy(n->m_data, m->m_data + off, n->m_len);
		}
		len -= n->m_len;
		off = 0;
		m = m->m_next;
	} while (len > 0);
	return top;
nospace:
	m_freem(top);
	errno = ENOMEM;
	return NULL;
}

int m_copydata(const struct mbuf *m, size_t off, size_t len, void *cp)
{
	char *d = cp;
	size_t total;

	if (!m || _jumbo_mb_chain("m_copydata", m, &total) != 0)
		return -EINVAL;
	if ((!cp && len) || off > total || len > total - off)
		return -EINVAL;
	while (off > 0 && off >= m->m_len) {
		off -= m->m_len;
		m = m->m_next;
	}
	while (len > 0) {
		size_t c = JUMBO_MIN(len, m->m_len - off);
		memcpy(d, m->m_data + off, c);
		d += c;
		len -= c;
		off = 0;
		m = m->m_next;
	}
	return 0;
}

void m_adj(struct mbuf *mp, long req_len)
{
	struct mbuf *m;
	size_t len, total;

	if (!mp || req_len == 0 || _jumbo_mb_chain("m_adj", mp, &total) != 0)
		return;
	if (req_len > 0) {
		len = JUMBO_MIN((size_t)req_len, total);
		for (m = mp; m && len > 0; m = m->m_next) {
			size_t c = JUMBO_MIN(len, m->m_len);
			m->m_len -= c;
			m->m_data += c;
			len -= c;
		}
		if (mp->m_flags & M_PKTHDR)
			mp->m_pkthdr.len = total - JUMBO_MIN((size_t)req_len, total);
		return;
	}
	/* Cut from the tail: keep the first total - |req_len| bytes. */
	len = (size_t)-(req_len + 1) + 1;
	size_t keep = len >= total ? 0 : total - len;
	if (mp->m_flags & M_PKTHDR)
		mp->m_pkthdr.len = keep;
	for (m = mp; m; m = m->m_next) {
		if (m->m_len >= keep) {
			m->m_len = keep;
			keep = 0;
		} else {
			keep -= m->m_len;
		}
	}
}

struct mbuf *m_pullup(struct mbuf *m, size_t len)
{
	struct mbuf *n;
	int err = EINVAL;

	size_t total;

	/* A bad chain is not ours to free: report it and leave it. */
	if (!m || !mb_live(m)) {
		if (m)
			_jumbo_mb_bad("m_pullup", m);
		errno = EINVAL;
		return NULL;
	}
	if (m->m_len >= len)
		return m;
	if (_jumbo_mb_chain("m_pullup", m, &total) != 0)
		return NULL;
	if (len > MHLEN || total < len)
		goto bad;
	if (!(m->m_flags & M_EXT)) {
		/* Room in m's own buffer: gather there. */
		n = m;
		memmove(n->m_dat, n->m_data, n->m_len);
		n->m_data = n->m_dat;
		m = m->m_next;
	} else {
		err = ENOMEM;
		if (!(n = m_get(M_NOWAIT, MT_DATA)))
			goto bad;
		if (m->m_flags & M_PKTHDR) {
			n->m_flags |= M_PKTHDR;
			n->m_pkthdr = m->m_pkthdr;
			m->m_flags &= ~M_PKTHDR;
		}
	}
	while (n->m_len < len) {
		size_t c = JUMBO_MIN(len - n->m_len, m->m_len);
		memcpy(n->m_data + n->m_len, m->m_data, c);
		n->m_len += c;
		m->m_data += c;
		m->m_len -= c;
		if (m->m_len == 0)
			m = m_free(m);
	}
	n->m_next = m;
	return n;
bad:
	m_freem(m);
	errno = err;
	return NULL;
}
