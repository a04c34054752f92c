/* libFuzzer harness for the TLS inspector: the input is a TCP conversation cut into
 * segments, each with a direction, a sequence-number jump and flags, fed to the inspector
 * as the worker feeds it (reassembly, record walk, hello and certificate parsing, JA3/JA4,
 * Tor traits, cell framing), then summarised into a record's tls object. The first bytes
 * also drive the parsers directly, so that ClientHello, ServerHello and certificate
 * parsing get inputs that need no framing, and the resync scanner gets them raw; bit 7 of
 * the first byte runs the conversation through the mid-stream path. Where the worker would
 * close the inspection, the client-record follower (tunnel.c) takes the rest. Built with
 * -Dfuzz=true and clang; .ci/run runs it for a bounded time, seeded with the TLS captures'
 * payloads. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/workers/tls.h"
#include "../../src/workers/workers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A boundary tt_tls_resync reports lies inside the bytes it was given. */
static void resync_check(uint32_t at, uint32_t len)
{
	if (at >= len)
		abort();
}

static struct tt_tls_flow *flow;
static struct tt_tunnel tun;
static struct tt_tls_client_hello ch;
static struct tt_tls_server_hello sh;
static struct tt_tls_cert cert;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t seq[2] = {1000, 900000};
	struct tt_flow_tls summary;
	size_t off = 0;
	bool is_mid, is_tun = false;
	uint64_t ts = 1000000000ull;
	char ja3[TT_TLS_MD5_HEX], ja3s[TT_TLS_MD5_HEX], ja4[TT_TLS_JA4_SIZE], str[4096];

	if (!flow && !(flow = malloc(sizeof(*flow))))
		return 0;
	/* Straight into the parsers: the input as one message body of each kind. */
	if (size > 0) {
		uint32_t len = size > 65535 ? 65535 : (uint32_t)size;

		switch (data[0] % 3) {
		case 0:
			if (tt_tls_parse_client_hello(data + 1, len - 1, &ch) == 0) {
				tt_tls_ja3(&ch, str, sizeof(str), ja3);
				tt_tls_ja4(&ch, 't', ja4);
				(void)tt_tls_client_hello_tor_traits(&ch);
			}
			break;
		case 1:
			if (tt_tls_parse_server_hello(data + 1, len - 1, &sh) == 0)
				tt_tls_ja3s(&sh, str, sizeof(str), ja3s);
			break;
		default:
			if (tt_tls_parse_certificate(data + 1, len - 1, &cert) == 0)
				(void)tt_tls_cert_tor_traits(&cert);
			break;
		}
	}
	/* Straight into the resync scanner, as a growing buffer and as a full one. */
	if (size > 1) {
		uint32_t len =
		    size - 1 > TT_TLS_STREAM_CAP ? TT_TLS_STREAM_CAP : (uint32_t)size - 1;
		uint32_t scan = 0, at = 0;

		if (tt_tls_resync(data + 1, len / 2, false, &scan, &at) == 1)
			resync_check(at, len / 2);
		if (tt_tls_resync(data + 1, len, true, &scan, &at) == 1)
			resync_check(at, len);
	}
	/* As a conversation: [dir|syn|seq-jump bits][len hi][len lo] then len bytes. Bit 7
	 * of the first byte says "no SYN seen": the flow is inspected mid-stream (resync,
	 * then the cipher-blind framing score). */
	is_mid = size > 0 && (data[0] & 0x80);
	if (is_mid)
		tt_tls_flow_init_midstream(flow);
	else
		tt_tls_flow_init(flow);
	while (off + 3 <= size) {
		uint8_t ctl = data[off];
		bool is_server = ctl & 1, is_syn = (ctl & 2) != 0;
		size_t len = (size_t)data[off + 1] << 8 | data[off + 2];
		int dir = is_server;

		off += 3;
		if (len > size - off)
			len = size - off;
		/* Sequence jumps: a retransmission (back), a hole (forward), or in order. */
		if ((ctl & 0x0c) == 0x04)
			seq[dir] -= (uint32_t)(ctl >> 4) * 64;
		else if ((ctl & 0x0c) == 0x08)
			seq[dir] += (uint32_t)(ctl >> 4) * 97;
		/* Once the worker would close the inspection, the follower takes the client's
		 * records on (tunnel.c), with times that step by the control bits. */
		ts += (uint64_t)(ctl >> 4) * 37000000ull;
		if (is_tun && is_server)
			tt_tunnel_server(&tun, ts);
		else if (is_tun && !tt_tunnel_is_done(&tun))
			tt_tunnel_client(&tun, seq[dir], data + off, (uint32_t)len, ts);
		else if (!is_tun)
			tt_tls_flow_add(
			    flow, is_server, seq[dir], data + off, (uint32_t)len, is_syn);
		seq[dir] += (uint32_t)len + is_syn;
		off += len;
		if (!is_tun && !is_mid && flow->has_ch && flow->has_sh &&
		    flow->n_recs >= tt_tls_flow_records_wanted(flow) &&
		    (flow->st[0].flags & (TT_TLS_STREAM_FOLLOW | TT_TLS_STREAM_LOST)) ==
			TT_TLS_STREAM_FOLLOW) {
			tt_tunnel_start(&tun, flow, 17u + (data[0] & 7u));
			is_tun = true;
		} else if (!is_tun && tt_tls_flow_is_done(flow)) {
			break;
		}
	}
	if (is_tun) {
		struct tt_tunnel_stats ts_out;

		tt_tunnel_stats(&tun, &ts_out);
		if (ts_out.w1_fit > ts_out.w1_elig || ts_out.w1_elig > TT_TUN_W1_WINDOW ||
		    ts_out.m2_fit > ts_out.m2_elig || tun.n_lens > TT_TUN_LENS ||
		    (ts_out.m2_mode == 0 && ts_out.m2_elig > 0))
			abort();
	}
	tt_inspect_tls_summary(flow, false, NULL, &summary);
	{
		/* The fingerprint cache gives what the functions give: a miss, then a hit. */
		static struct tt_fp_cache cache;
		struct tt_flow_tls cached;

		for (int k = 0; k < 2; k++) {
			tt_inspect_tls_summary(flow, false, &cache, &cached);
			if (memcmp(&cached, &summary, sizeof(cached)) != 0)
				abort();
		}
	}
	if (is_mid) {
		struct tt_tls_midstream_stats ms;

		tt_tls_midstream_score(flow->recs, flow->n_recs, &ms);
		if (tt_tls_midstream_is_tor_like(&ms) && ms.best_dir < 0)
			abort(); /* firing needs records */
	}
	return 0;
}
