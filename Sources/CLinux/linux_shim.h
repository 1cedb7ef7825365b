/* Linux calls that Swift's Glibc module does not expose (they need _GNU_SOURCE there). */
#ifndef HIKE_CLINUX_SHIM_H
#define HIKE_CLINUX_SHIM_H

#include <linux/sched.h>
#include <linux/if_packet.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

/* Moves the calling thread into the network namespace behind fd. */
static inline int clinux_setns_net(int fd)
{
	return (int)syscall(__NR_setns, fd, CLONE_NEWNET);
}

/* Gives the calling thread a new, empty network namespace. */
static inline int clinux_unshare_net(void)
{
	return (int)syscall(__NR_unshare, CLONE_NEWNET);
}

static inline int clinux_gettid(void)
{
	return (int)syscall(__NR_gettid);
}

/* The filesystem type (statfs f_type) of path, or -1 with errno set. */
static inline long clinux_fs_type(const char *path)
{
	struct statfs st;

	if (statfs(path, &st) != 0)
		return -1;
	return (long)st.f_type;
}

#endif
