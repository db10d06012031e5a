/*
 * What a process is, as the layers that share memory with other processes
 * tell their peers apart: its pid namespace, and the locks that say a peer
 * lives whatever its namespace and its pid (named pools, rings).
 */
#include "jumbo_common.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

uint64_t _jumbo_pidns(void)
{
	struct stat sb;

	return stat("/proc/self/ns/pid", &sb) == 0 ? (uint64_t)sb.st_ino : 0;
}

bool _jumbo_same_file(int a, int b)
{
	struct stat x, y;

	return fstat(a, &x) == 0 && fstat(b, &y) == 0 && x.st_dev == y.st_dev &&
	       x.st_ino == y.st_ino;
}

int _jumbo_reopen(int fd)
{
	char path[32];
	int nfd;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	nfd = open(path, O_RDWR | O_CLOEXEC);
	if (nfd < 0)
		return -errno;
	/* /proc may be another namespace's, whose "self" is not us. */
	if (!_jumbo_same_file(nfd, fd)) {
		close(nfd);
		return -ESTALE;
	}
	return nfd;
}

/* A write lock on record i's byte, to take or to ask about. */
static struct flock lock_byte(uint64_t i)
{
	return (struct flock){
		.l_type = F_WRLCK,
		.l_whence = SEEK_SET,
		.l_start = JUMBO_LOCK_OFF(i),
		.l_len = 1,
	};
}

int _jumbo_lock_take(int fd, uint64_t i)
{
	struct flock fl = lock_byte(i);

	if (fcntl(fd, F_OFD_SETLK, &fl) == 0)
		return 0;
	return errno == EACCES || errno == EAGAIN ? -EAGAIN : -errno;
}

bool _jumbo_lock_free(int fd, uint64_t i)
{
	struct flock fl = lock_byte(i);

	return fcntl(fd, F_OFD_GETLK, &fl) == 0 && fl.l_type == F_UNLCK;
}
