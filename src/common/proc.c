/*
 * What a process is, as the layers that share memory with other processes
 * tell their peers apart: its pid namespace.
 */
#include "jumbo_common.h"

#include <sys/stat.h>

uint64_t _jumbo_pidns(void)
{
	struct stat sb;

	return stat("/proc/self/ns/pid", &sb) == 0 ? (uint64_t)sb.st_ino : 0;
}
