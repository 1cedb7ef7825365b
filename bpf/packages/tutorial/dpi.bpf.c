/* tutorial: dpi(select, replace), a minimal deep packet inspection. It looks for the keyword
 * "foobar" at the start of the UDP payload of an IPv6 packet: r0 = 1 when it is there, else 0
 * (also for packets that are not UDP over IPv6). The packet is never changed and never dropped:
 * the chain decides what to do with the answer.
 *
 * The two arguments are the original's (a keyword selector and a replacement character); as
 * there, they are accepted and not used.
 *
 * UDP is found behind Hop-by-Hop, Routing and Destination Options headers (up to eight); a
 * Fragment header or any other next header is "not UDP".
 *
 * One deliberate difference from the original (hikepkg-tutorial dpi.bpf.c): the original
 * compared the keyword's terminating NUL only after reading one more byte, so it needed a payload
 * of at least 7 bytes ("foobar\n" matched, an exact "foobar" did not), and it read the payload at
 * a fixed offset after the IPv6 fixed header, which is right only without extension headers. Here
 * a payload of 6 bytes or more that starts with "foobar" matches, and the payload is the one
 * after the extension headers.
 */
#define HIKE_PACKAGE "tutorial"
#include "hike/hike.h"
#include "hike/ip6_udp.h"
#include "hike/counter.h"

#define DPI_KEYWORD_LEN 6

/* Per-CPU: [0] packets dpi ran on, [1] packets whose UDP payload starts with the keyword. */
#define DPI_STAT_SCANNED 0
#define DPI_STAT_MATCHED 1

HIKE_EVENT_COUNTER_MAP(dpi_stats, 2);

/* 1 when the UDP payload (at least 6 bytes, by the UDP length and in the frame) starts with
 * "foobar", else 0. */
static __always_inline int dpi_match(struct hike_ctx *ctx)
{
	struct hike_cursor cur;
	struct udphdr *udp = hike_ip6_udp(ctx, &cur);
	__u8 *p;

	if (!udp || bpf_ntohs(udp->len) < sizeof(*udp) + DPI_KEYWORD_LEN)
		return 0;
	p = cur.pos;
	if ((void *)(p + DPI_KEYWORD_LEN) > cur.end)
		return 0;
	return p[0] == 'f' && p[1] == 'o' && p[2] == 'o' && p[3] == 'b' && p[4] == 'a' && p[5] == 'r';
}

HIKE_PROG(dpi)
{
	int match = dpi_match(ctx);

	hike_count_event(&dpi_stats, DPI_STAT_SCANNED);
	if (match)
		hike_count_event(&dpi_stats, DPI_STAT_MATCHED);
	HVM_RET = match;
	return HIKE_XDP_VM;
}
EXPORT_HIKE_PROG_3(dpi, __u64, select, __u64, replace);
EXPORT_HIKE_PROG_MAP(dpi, dpi_stats);

char LICENSE[] SEC("license") = "GPL";
