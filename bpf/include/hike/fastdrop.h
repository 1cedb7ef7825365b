/* The fastdrop package's ABI: the prefix list, its IPv4 index, the loader's configuration and
 * counters. docs/packages.md describes them; Swift writes the index (FastDropTable).
 *
 * Addresses are 16 bytes: an IPv4 prefix a.b.c.d/n is held IPv4-mapped, ::ffff:a.b.c.d/(96 + n),
 * as in the nat package. */
#ifndef HIKE_FASTDROP_H
#define HIKE_FASTDROP_H

#include <linux/types.h>
#include "hike/vm_abi.h"

#define FASTDROP_PREFIXES (1 << 18)

/* fastdrop_prefixes (LPM trie): the longest prefix that holds the address decides; value 1
 * drops, 0 is an exception inside a shorter dropped prefix. */
struct fastdrop_key {
	__u32 prefixlen;
	__u8 addr[16];
};

/* fastdrop_dir24: a 2-bit code per IPv4 /24 (2^24 of them, 32 to a u64 word, /24 number i in
 * word i / 32 at bits 2 (i mod 32)), so that most IPv4 lookups are one array read. An all-zero
 * index (ASK everywhere) is always right; hike fills it from the prefix list. */
#define FASTDROP_DIR24_WORDS (1 << 19)
#define FASTDROP_ASK 0  /* prefixes longer than /24 inside: ask the trie */
#define FASTDROP_DROP 1 /* every address of the /24 is dropped */
#define FASTDROP_PASS 2 /* no address of the /24 is dropped */

/* fastdrop_stats slots (per-CPU packets and bytes). */
#define FASTDROP_S_DROPPED 0
#define FASTDROP_S_PASSED 1
#define FASTDROP_S_NOT_IP 2
#define FASTDROP_S_MAX 3

#endif
