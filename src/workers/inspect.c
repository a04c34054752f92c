/* First-payload inspector: names the protocol that opens each direction of a flow.
 * This is where the protocol inspectors plug in; it sees the first payload of each
 * direction and nothing after, so it costs nothing on bulk data. */
#include "workers.h"

#include <string.h>

#include "tls.h"

static bool starts(const uint8_t *p, uint32_t len, const char *s)
{
	size_t n = strlen(s);

	return len >= n && memcmp(p, s, n) == 0;
}

unsigned tt_inspect_first_payload(
    uint8_t proto, uint16_t sport, uint16_t dport, const uint8_t *p, uint32_t len)
{
	static const char *const http[] = {"GET ", "POST ", "HEAD ", "PUT ", "DELETE ", "OPTIONS ",
	    "CONNECT ", "PATCH ", "HTTP/1."};

	if (proto == 17 && (sport == 53 || dport == 53))
		return TT_APP_DNS;
	/* TLS record: content type 20-23, version 3.x. */
	if (len >= 3 && p[0] >= 0x14 && p[0] <= 0x17 && p[1] == 0x03 && p[2] <= 0x04)
		return TT_APP_TLS;
	if (starts(p, len, "SSH-"))
		return TT_APP_SSH;
	for (size_t i = 0; i < sizeof(http) / sizeof(http[0]); i++)
		if (starts(p, len, http[i]))
			return TT_APP_HTTP;
	return TT_APP_UNKNOWN;
}

/* Copy a NUL-terminated string, cut to size - 1 bytes. */
static void copy_str(char *dst, size_t size, const char *src)
{
	size_t n = strnlen(src, size - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

void tt_inspect_tls_summary(const struct tt_tls_flow *t, struct tt_flow_tls *out)
{
	memset(out, 0, sizeof(*out));
	out->has_ch = t->has_ch;
	out->has_sh = t->has_sh;
	out->has_cert = t->has_cert;
	out->n_records = t->n_recs;
	if (t->has_ch) {
		char ja3[2048], md5[TT_TLS_MD5_HEX];

		out->ch_traits = tt_tls_client_hello_tor_traits(&t->ch);
		copy_str(out->sni, sizeof(out->sni), t->ch.sni);
		if (tt_tls_ja3(&t->ch, ja3, sizeof(ja3), md5) == 0)
			copy_str(out->ja3, sizeof(out->ja3), md5);
		tt_tls_ja4(&t->ch, 't', out->ja4);
	}
	if (t->has_sh) {
		struct tt_tls_cell_stats cs;

		out->version = t->sh.version;
		out->cipher = t->sh.cipher;
		tt_tls_cell_score(t->recs, t->n_recs, t->sh.version, t->sh.cipher, &cs);
		for (int d = 0; d < 2; d++) {
			out->cell_app[d] = cs.dir[d].n_app;
			out->cell_exact[d] = cs.dir[d].n_exact;
		}
		out->is_versions = cs.has_versions;
		out->is_bundle = cs.has_bundle;
		out->is_d1 = cs.is_d1;
		out->is_d2 = cs.is_d2;
	}
	if (t->has_cert) {
		out->cert_traits = tt_tls_cert_tor_traits(&t->cert);
		copy_str(out->cert_subject, sizeof(out->cert_subject), t->cert.subject_cn);
		copy_str(out->cert_issuer, sizeof(out->cert_issuer), t->cert.issuer_cn);
	}
}
