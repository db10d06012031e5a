/*
 * The pool's memory, from the kernel: one reservation for the cap, memory
 * committed into it in steps, given back (trim) and re-backed (steal) in
 * place, so that no page's address ever moves.
 *
 * Three kinds of backing:
 *   anonymous 4 KiB: the reservation is PROT_NONE private anonymous memory;
 *     commit is mprotect(READ|WRITE), which the kernel charges against
 *     RLIMIT_DATA and the overcommit policy, so a refusal is an error here
 *     and not an OOM kill later; then MADV_POPULATE_WRITE faults it in.
 *   anonymous 2 MiB: commit maps MAP_HUGETLB memory over the reservation;
 *     the kernel reserves the huge pages at mmap, so a shortage is ENOMEM
 *     at once, not SIGBUS at first touch.
 *   shared (memfd or a named pool's object, 4 KiB; hugetlb 2 MiB): the
 *     range is mapped MAP_SHARED over the reservation and faulted in (4
 *     KiB: through the mapping, which asks for huge pages; hugetlb:
 *     fallocate gives the file its pages first); a refusal is an error.
 *     The I/O address is the offset in the file.
 */
#include "jumbo_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>


/*
 * Reserve len bytes of address space aligned to align, with no memory yet.
 * Private PROT_NONE memory is not charged by the kernel; making it writable
 * at commit is (and it must not be MAP_NORESERVE, or it would not be).
 */
void *_jumbo_reserve(size_t len, size_t align)
{
	size_t span = len + align;
	char *raw = mmap(NULL, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
			 -1, 0);
	if (raw == MAP_FAILED)
		return NULL;
	uintptr_t a = ((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1);
	/* Give back the slack on both sides: the range is [a, a + len). */
	if (a > (uintptr_t)raw)
		munmap(raw, a - (uintptr_t)raw);
	if ((uintptr_t)raw + span > a + len)
		munmap((char *)a + len, (uintptr_t)raw + span - (a + len));
	return (void *)a;
}

void _jumbo_unreserve(void *addr, size_t len)
{
	munmap(addr, len);
}

/* The file's memory for [off, off + len), then mapped, faulted in. */
static int commit_file(struct jumbo_pool *p, char *addr, size_t len, off_t off)
{
	if (fallocate(p->fd, 0, off, (off_t)len) != 0)
		return errno == ENOSPC ? -ENOMEM : -errno;
	if (mmap(addr, len, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_FIXED | MAP_POPULATE, p->fd, off) == MAP_FAILED)
		return -errno;
	return 0;
}

/*
 * A 4 KiB pool's shared memory (a named pool's object in /dev/shm, a
 * memfd): mapped first and faulted in through the mapping, which asks for
 * huge pages (MADV_HUGEPAGE) before the first fault.  The file system
 * then decides: 2 MiB pages where it gives them on request (a tmpfs
 * mounted huge=advise, memfds under shmem_enabled=advise) or to every
 * file (huge=within_size, always), else 4 KiB ones.  A file that is
 * allocated first (fallocate) gets its pages without the mapping's
 * request, so only the second kind could give them.  A refusal is still
 * an error here, not a SIGBUS later: a page the file system cannot give
 * fails the populate with EFAULT.  Kernels before 5.14 (no
 * MADV_POPULATE_WRITE) take the file's pages first, as before.
 */
static int commit_shmem(struct jumbo_pool *p, char *addr, size_t len,
			off_t off)
{
	if (mmap(addr, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
		 p->fd, off) == MAP_FAILED)
		return -errno;
	/* Refused where the kernel has no transparent huge pages: 4 KiB. */
	(void)madvise(addr, len, MADV_HUGEPAGE);
	if (madvise(addr, len, MADV_POPULATE_WRITE) == 0)
		return 0;
	int err = errno == EINVAL ? commit_file(p, addr, len, off)
				  : errno == EFAULT ? -ENOMEM : -errno;
	/* A memfd pool's range goes back to the reservation it was (a named
	 * pool's whole object stays mapped, as every attach maps it). */
	if (err && !p->shm)
		mmap(addr, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
		     -1, 0);
	return err;
}

/* Commit frames [first, first + n): memory behind them, faulted in. */
int _jumbo_commit(struct jumbo_pool *p, size_t first, size_t n)
{
	char *addr = p->head.ph_base + (first << p->head.ph_shift);
	size_t len = n << p->head.ph_shift;
	off_t off = (off_t)(first << p->head.ph_shift);
	void *r;

	if (p->fd >= 0) {
		/*
		 * A peer that maps the memfd may have written the range while
		 * it was not committed, which gives the file pages there: drop
		 * them first, so that a page committed reads as zeros, as it
		 * does in every other kind of pool.
		 */
		if (fallocate(p->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			      off, (off_t)len) != 0)
			return -errno;
		int err = p->huge ? commit_file(p, addr, len, off)
				  : commit_shmem(p, addr, len, off);
		if (err)
			fallocate(p->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				  off, (off_t)len);
		return err;
	}
	if (p->huge) {
		r = mmap(addr, len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_HUGETLB |
				 MAP_POPULATE, -1, 0);
		if (r == MAP_FAILED) {
			int err = -errno;
			/* MAP_FIXED may have replaced the range: restore it. */
			mmap(addr, len, PROT_NONE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
			return err;
		}
		return 0;
	}
	if (mprotect(addr, len, PROT_READ | PROT_WRITE) != 0)
		return -errno;
	if (madvise(addr, len, MADV_POPULATE_WRITE) != 0 && errno != EINVAL) {
		int err = -errno;
		madvise(addr, len, MADV_DONTNEED);
		mprotect(addr, len, PROT_NONE);
		return err == -EFAULT ? -ENOMEM : err;
	}
	return 0;
}

/*
 * Give back the memory of frames [first, first + n), which are free; the
 * range stays mapped and refaults as zeroed memory when next written.
 */
int _jumbo_decommit(struct jumbo_pool *p, size_t first, size_t n)
{
	char *addr = p->head.ph_base + (first << p->head.ph_shift);
	size_t len = n << p->head.ph_shift;

	if (p->fd >= 0)
		return fallocate(p->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				 (off_t)(first << p->head.ph_shift), (off_t)len) ?
			       -errno : 0;
	return madvise(addr, len, MADV_DONTNEED) ? -errno : 0;
}

/*
 * Re-back the slot of frame idx after its memory was moved away or given
 * up.  If the slot is still mapped (moved with MREMAP_DONTUNMAP, or kept by
 * the caller), dropping its pages is enough.  If a plain mremap left a hole,
 * map fresh memory into it, but never over a mapping someone else made
 * there meanwhile (MAP_FIXED_NOREPLACE): then the slot is lost.
 */
int _jumbo_reback(struct jumbo_pool *p, size_t idx)
{
	char *addr = p->head.ph_base + (idx << p->head.ph_shift);
	size_t len = p->page_size;
	int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE;

	if (madvise(addr, len, MADV_DONTNEED) == 0)
		return 0;
	if (errno != ENOMEM)
		return -errno;
	if (p->huge)
		flags |= MAP_HUGETLB;
	void *r = mmap(addr, len, PROT_READ | PROT_WRITE, flags, -1, 0);
	if (r == MAP_FAILED)
		return -errno;
	if (r != addr) { /* a kernel without NOREPLACE put it elsewhere */
		munmap(r, len);
		return -EEXIST;
	}
	return 0;
}
