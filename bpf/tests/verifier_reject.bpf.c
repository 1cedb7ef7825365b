/* Reads packet memory without checking it against data_end: the verifier must reject this
 * program, and BPFKit's load error must carry the verifier's log.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int unchecked_read(struct xdp_md *ctx)
{
	unsigned char *data = (unsigned char *)(long)ctx->data;

	return data[12] == 0x86 ? XDP_PASS : XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
