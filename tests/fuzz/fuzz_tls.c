/* libFuzzer harness for the TLS inspector: the input is a TCP conversation cut into
 * segments, each with a direction, a sequence-number jump and flags, fed to the inspector
 * as the worker feeds it (reassembly, record walk, hello and certificate parsing, JA3/JA4,
 * Tor traits, cell framing), then summarised into a record's tls object. The first bytes
 * also drive the parsers directly, so that ClientHello, ServerHello and certificate
 * parsing get inputs that need no framing. Built with -Dfuzz=true and clang; .ci/run runs
 * it for a bounded time, seeded with the TLS captures' payloads. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/workers/tls.h"
#include "../../src/workers/workers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct tt_tls_flow *flow;
static struct tt_tls_client_hello ch;
static struct tt_tls_server_hello sh;
static struct tt_tls_cert cert;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t seq[2] = {1000, 900000};
	struct tt_flow_tls summary;
	size_t off = 0;
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
	/* As a conversation: [dir|syn|seq-jump bits][len hi][len lo] then len bytes. */
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
		tt_tls_flow_add(flow, is_server, seq[dir], data + off, (uint32_t)len, is_syn);
		seq[dir] += (uint32_t)len + is_syn;
		off += len;
		if (tt_tls_flow_is_done(flow))
			break;
	}
	tt_inspect_tls_summary(flow, &summary);
	return 0;
}
