/* Linux calls that Swift's Glibc module does not expose (they need _GNU_SOURCE there). */
#ifndef HIKE_CLINUX_SHIM_H
#define HIKE_CLINUX_SHIM_H

#include <netinet/in.h> /* before the uapi headers: their libc-compat then skips in6_addr */
#include <linux/sched.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/if_link.h>
#include <linux/if_addr.h>
#include <linux/veth.h>
#include <linux/net_namespace.h>
#include <linux/lwtunnel.h>
#include <linux/seg6.h>
#include <linux/seg6_iptunnel.h>
#include <linux/seg6_local.h>
#include <linux/if_packet.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <errno.h>
#include <fcntl.h>

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

/* Whether GRO is on for interface name in the calling thread's network namespace (ETHTOOL_GGRO):
 * 1 or 0, or -1 with errno set. */
static inline int clinux_gro_enabled(const char *name)
{
	struct ethtool_value value = { .cmd = ETHTOOL_GGRO };
	struct ifreq request;
	int fd, rc, saved;

	memset(&request, 0, sizeof(request));
	strncpy(request.ifr_name, name, IFNAMSIZ - 1);
	request.ifr_data = (void *)&value;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	rc = ioctl(fd, SIOCETHTOOL, &request);
	saved = errno;
	close(fd);
	errno = saved;
	return rc < 0 ? -1 : (value.data ? 1 : 0);
}

/* Pins the calling thread to one CPU: sched_setaffinity(0, …) by its system call (the libc
 * wrapper and its CPU_SET macros need _GNU_SOURCE). */
static inline int clinux_pin_thread(int cpu)
{
	unsigned long mask[16] = { 0 }; /* 1024 CPUs */
	const int bits = 8 * (int)sizeof(unsigned long);

	if (cpu < 0 || cpu >= 16 * bits) {
		errno = EINVAL;
		return -1;
	}
	mask[cpu / bits] = 1UL << (cpu % bits);
	return syscall(SYS_sched_setaffinity, 0, sizeof(mask), mask) < 0 ? -1 : 0;
}

/* Sends count copies of buf on a connected socket with one sendmmsg(2) (by its system call: the
 * wrapper and struct mmsghdr need _GNU_SOURCE). Returns the messages sent, or -1. */
struct clinux_mmsghdr {
	struct msghdr msg_hdr;
	unsigned int msg_len;
};

static inline int clinux_send_copies(int fd, void *buf, size_t len, unsigned int count)
{
	struct clinux_mmsghdr messages[64];
	struct iovec vector = { .iov_base = buf, .iov_len = len };
	unsigned int i;

	if (count > 64)
		count = 64;
	for (i = 0; i < count; i++) {
		memset(&messages[i], 0, sizeof(messages[i]));
		messages[i].msg_hdr.msg_iov = &vector;
		messages[i].msg_hdr.msg_iovlen = 1;
	}
	return (int)syscall(SYS_sendmmsg, fd, messages, count, 0);
}

/* Starts path with argv detached from the caller: a session of its own, stdin /dev/null,
 * stdout and stderr appended to log, and no other descriptor inherited (a parent's pipes or
 * its process-watching sockets would otherwise stay open in it, and whoever waits for them
 * would wait as long as it runs). The child calls only async-signal-safe functions before
 * exec. Returns the pid, or -errno. */
static inline int clinux_spawn_detached(const char *path, char *const argv[], const char *log)
{
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int in = open("/dev/null", O_RDONLY);
		int out = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);

		if (in < 0 || out < 0)
			_exit(127);
		dup2(in, 0);
		dup2(out, 1);
		dup2(out, 2);
		setsid();
		syscall(SYS_close_range, 3, ~0U, 0);
		execv(path, argv);
		_exit(127);
	}
	return pid;
}

#endif
