/* The token bucket of the meter package, in the original HIKe's fixed-point units:
 *
 *   rate         (tokens / 2^shift_tokens) per 2^base_time_bits ns
 *   bucket_size  tokens / 2^shift_tokens
 *   last_tokens  tokens / 2^shift_tokens
 *   last_time    ns
 *
 * so rate = R[tokens/s] · 2^shift_tokens · 2^base_time_bits / 10^9, and a packet takes one
 * token (2^shift_tokens units). The default (no configuration) is the original's: 20 tokens/s,
 * bucket of 5 tokens, base_time_bits 30, shift_tokens 20. */
#ifndef HIKE_METER_TB_H
#define HIKE_METER_TB_H

#include <linux/types.h>

#define TB_IN_PROFILE 0
#define TB_OUT_PROFILE ((__u64)-1)
#define TB_LOG2_MAX_DELTA 32 /* after 2^32 ns (4.3 s) idle the bucket is full again */
#define TB_RATE_MAX 0xffffffffULL /* so that Δ · rate fits 64 bits (Δ < 2^32) */
#define TB_BUCKET_MAX (1ULL << 62)
#define TB_ENTRIES 4096
#define TB_CFG_ENTRIES 1024

#define TB_DEFAULT_RATE 22517998ULL
#define TB_DEFAULT_BUCKET 5242880ULL
#define TB_DEFAULT_BASE_TIME_BITS 30
#define TB_DEFAULT_SHIFT_TOKENS 20

/* A bucket's state (the original's struct flow): the parameters in force and the tokens left. */
struct tb_flow {
	__u64 rate;
	__u64 bucket_size;
	__u64 last_tokens;
	__u64 last_time;
	__u64 base_time_bits;
	__u64 shift_tokens;
};

/* The parameters of a bucket, per key or default (set at run time in the config maps). */
struct tb_params {
	__u64 rate;
	__u64 bucket_size;
	__u64 base_time_bits;
	__u64 shift_tokens;
};

/* Takes the packet's token from f at time now; fresh = f was just created (starts full).
 * Returns TB_IN_PROFILE when there was a token, TB_OUT_PROFILE when not. */
static __always_inline __u64 tb_take(struct tb_flow *f, const struct tb_params *p, __u64 now, int fresh)
{
	__u64 rate = p->rate > TB_RATE_MAX ? TB_RATE_MAX : p->rate;
	__u64 bucket = p->bucket_size > TB_BUCKET_MAX ? TB_BUCKET_MAX : p->bucket_size;
	__u64 base = p->base_time_bits & 63, shift = p->shift_tokens & 63;
	__u64 tokens, delta, add, need = 1ULL << shift;
	__u64 ret;

	if (fresh) {
		tokens = bucket;
	} else {
		delta = now > f->last_time ? now - f->last_time : 0;
		tokens = f->last_tokens > bucket ? bucket : f->last_tokens;
		if (delta >> TB_LOG2_MAX_DELTA) {
			tokens = bucket;
		} else {
			add = (delta * rate) >> base;
			tokens = add > bucket - tokens ? bucket : tokens + add;
		}
	}
	if (tokens >= need) {
		tokens -= need;
		ret = TB_IN_PROFILE;
	} else {
		ret = TB_OUT_PROFILE;
	}
	f->rate = rate;
	f->bucket_size = bucket;
	f->base_time_bits = base;
	f->shift_tokens = shift;
	f->last_tokens = tokens;
	f->last_time = now;
	return ret;
}

#endif
