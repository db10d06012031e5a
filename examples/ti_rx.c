/*
 * The jumbo(9) functions as the ti(4) driver used them, in user space:
 * allocate a page for each receive descriptor, post its I/O address, turn
 * the I/O address back into a virtual address when the "adapter" has
 * filled it, hand the page up, and free it through the external-storage
 * free routine.  One page is given away (moved into the reader's buffer
 * with mremap) and its slot stolen back into the pool.
 *
 *   cc ti_rx.c $(pkg-config --cflags --libs jumbo)
 */
#define _GNU_SOURCE
#include <jumbo/jumbo.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define RING 8

int main(void)
{
	vm_paddr_t ring[RING]; /* what a NIC's receive ring would hold */
	struct jumbo_stats st;

	if (!jumbo_vm_init()) {
		perror("jumbo_vm_init");
		return 1;
	}
	size_t ps = jumbo_page_size();

	/* Fill the ring: the descriptors carry I/O addresses, not pointers. */
	for (int i = 0; i < RING; i++) {
		vm_page_t pg = jumbo_pg_alloc();
		if (!pg) {
			perror("jumbo_pg_alloc");
			return 1;
		}
		ring[i] = VM_PAGE_TO_PHYS(pg);
	}

	/* The "adapter" writes a frame into each posted buffer. */
	for (int i = 0; i < RING; i++) {
		caddr_t kva = jumbo_phys_to_kva(ring[i]);
		snprintf(kva, ps, "frame %d at I/O address %#llx", i,
			 (unsigned long long)ring[i]);
	}

	/* Receive: translate, read, and free via the mbuf free routine. */
	for (int i = 1; i < RING; i++) {
		caddr_t kva = jumbo_phys_to_kva(ring[i]);
		printf("rx: %s\n", kva);
		jumbo_freem(kva, NULL);
	}

	/* Zero-copy: move page 0 into a reader's buffer, steal the slot. */
	char *reader = mmap(NULL, ps, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	caddr_t kva = jumbo_phys_to_kva(ring[0]);
	if (reader == MAP_FAILED ||
	    mremap(kva, ps, ps, MREMAP_MAYMOVE | MREMAP_FIXED, reader) != reader) {
		perror("mremap");
		return 1;
	}
	jumbo_pg_steal(jumbo_pool_page(jumbo_default_pool(), kva));
	printf("moved: %s\n", reader);

	jumbo_pool_stats(jumbo_default_pool(), &st);
	printf("pool: %llu allocs, %llu frees, %llu steal(s), %llu in use\n",
	       (unsigned long long)st.allocs, (unsigned long long)st.frees,
	       (unsigned long long)st.steals, (unsigned long long)st.in_use);
	munmap(reader, ps);
	return st.in_use == 0 ? 0 : 1;
}
