/* First-payload inspector: names the protocol that opens each direction of a flow.
 * This is where the protocol inspectors plug in; it sees the first payload of each
 * direction and nothing after, so it costs nothing on bulk data. */
#include "workers.h"

#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

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
	/* Directory fetches, and relays publishing their descriptors to authorities. */
	if (starts(p, len, "GET /tor/") || starts(p, len, "POST /tor/"))
		return TT_APP_TOR_DIR;
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

/* Append the values of v[0, n) that are not GREASE, after their count, to the key k (of
 * *len bytes so far): both fingerprints skip GREASE values wherever they are, so hellos that
 * differ only in their GREASE draws share an entry. False when they do not fit in
 * TT_FP_KEY_MAX. */
static bool key_put(uint8_t *k, size_t *len, const uint16_t *v, unsigned n)
{
	size_t at = *len, o = at + 2;

	for (unsigned i = 0; i < n; i++) {
		if (tt_tls_is_grease(v[i]))
			continue;
		if (o + 2 > TT_FP_KEY_MAX)
			return false;
		memcpy(k + o, &v[i], 2);
		o += 2;
	}
	if (o > TT_FP_KEY_MAX)
		return false;
	memcpy(k + at, &(uint16_t){(uint16_t)((o - at - 2) / 2)}, 2);
	*len = o;
	return true;
}

static unsigned min_u(unsigned a, unsigned b)
{
	return a < b ? a : b;
}

/* Every input of tt_tls_ja3 and tt_tls_ja4 (tls.c), as bytes; 0 when they take more than
 * TT_FP_KEY_MAX. The lists are cut where the fingerprint functions cut them, GREASE left
 * out as both fingerprints leave it out of lists. The point formats are bytes, never
 * GREASE. */
static size_t fp_key(const struct tt_tls_client_hello *ch, uint8_t *k)
{
	size_t len = 0;
	uint16_t pf[TT_TLS_MAX_POINT_FORMATS];
	uint16_t head[6] = {ch->legacy_version, ch->n_alpn, ch->n_alpn > 0 ? ch->alpn[0].len : 0,
	    ch->n_alpn > 0 ? (uint8_t)ch->alpn[0].name[0] : 0,
	    ch->n_alpn > 0 ? ch->alpn[0].last : 0, 0};

	for (unsigned i = 0; i < ch->n_point_formats; i++)
		pf[i] = ch->point_formats[i];
	/* The head whole: a legacy_version that happens to be a GREASE value (only a hostile
	 * hello sends one) is printed by JA3 and must not be skipped (found by fuzz_tls). */
	memcpy(k, head, sizeof(head));
	len = sizeof(head);
	if (!key_put(k, &len, ch->ciphers, min_u(ch->n_ciphers, TT_TLS_MAX_CIPHERS)) ||
	    !key_put(k, &len, ch->exts, min_u(ch->n_exts, TT_TLS_MAX_EXTS)) ||
	    !key_put(k, &len, ch->groups, min_u(ch->n_groups, TT_TLS_MAX_GROUPS)) ||
	    !key_put(k, &len, ch->sigalgs, min_u(ch->n_sigalgs, TT_TLS_MAX_SIGALGS)) ||
	    !key_put(k, &len, ch->versions, min_u(ch->n_versions, TT_TLS_MAX_VERSIONS)) ||
	    !key_put(k, &len, pf, ch->n_point_formats))
		return 0;
	return len;
}

/* The JA3 (MD5 hex, or "" when its string does not fit) and JA4 of ch. */
static void fingerprints(const struct tt_tls_client_hello *ch, char ja3_out[33], char ja4_out[37])
{
	char ja3[2048], md5[TT_TLS_MD5_HEX];

	ja3_out[0] = '\0';
	if (tt_tls_ja3(ch, ja3, sizeof(ja3), md5) == 0)
		copy_str(ja3_out, 33, md5);
	tt_tls_ja4(ch, 't', ja4_out);
}

static void fingerprints_cached(
    struct tt_fp_cache *c, const struct tt_tls_client_hello *ch, char ja3_out[33], char ja4_out[37])
{
	uint8_t key[TT_FP_KEY_MAX];
	size_t len = c ? fp_key(ch, key) : 0;
	struct tt_fp_entry *e;

	if (len == 0) {
		fingerprints(ch, ja3_out, ja4_out);
		return;
	}
	e = &c->e[XXH3_64bits(key, len) % TT_FP_CACHE_N];
	if (e->key_len == len && memcmp(e->key, key, len) == 0) {
		c->n_hits++;
	} else {
		c->n_misses++;
		fingerprints(ch, e->ja3, e->ja4);
		memcpy(e->key, key, len);
		e->key_len = (uint16_t)len;
	}
	memcpy(ja3_out, e->ja3, 33);
	memcpy(ja4_out, e->ja4, 37);
}

void tt_inspect_tls_summary(const struct tt_tls_flow *t, bool is_syn_less,
    struct tt_fp_cache *cache, struct tt_flow_tls *out)
{
	memset(out, 0, sizeof(*out));
	out->has_ch = t->has_ch;
	out->has_sh = t->has_sh;
	out->has_cert = t->has_cert;
	out->n_records = t->n_recs;
	if (t->has_ch) {
		out->ch_traits = tt_tls_client_hello_tor_traits(&t->ch);
		copy_str(out->sni, sizeof(out->sni), t->ch.sni);
		fingerprints_cached(cache, &t->ch, out->ja3, out->ja4);
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
	/* Mid-stream framing: a mid-stream inspection (tt_tls_flow_init_midstream, both ways
	 * resynchronised), or a flow caught without its SYN whose first payload happened to
	 * start on a record header (so it was walked from there) and showed no hello: both
	 * are records from the middle of a connection, without the handshake the D1/D2 tests
	 * need. */
	if ((t->st[0].flags & TT_TLS_STREAM_RESYNC) || (is_syn_less && !t->has_ch && !t->has_sh)) {
		struct tt_tls_midstream_stats ms;

		const uint16_t *lens[2] = {t->app_lens[0], t->app_lens[1]};
		const unsigned n[2] = {t->n_app[0], t->n_app[1]};

		/* The window: each direction's first TT_TLS_FOLLOW_RECS application-data
		 * records after the resync, read from their headers. */
		tt_tls_midstream_score_lens(lens, n, &ms);
		out->is_midstream = true;
		for (int d = 0; d < 2; d++) {
			out->ms_app[d] = ms.dir[d].n_app;
			out->ms_fit[d] = ms.dir[d].n_fit;
			out->ms_burst[d] = ms.dir[d].n_burst;
		}
		out->is_d3 = tt_tls_midstream_is_tor_like(&ms);
		out->is_d4 = ms.is_bursts;
	}
	if (t->has_cert) {
		out->cert_traits = tt_tls_cert_tor_traits(&t->cert);
		copy_str(out->cert_subject, sizeof(out->cert_subject), t->cert.subject_cn);
		copy_str(out->cert_issuer, sizeof(out->cert_issuer), t->cert.issuer_cn);
	}
}

/* Bits set per byte value (no popcount instruction is assumed). */
static const uint8_t popcount8[256] = {
#define B2(n) n, n + 1, n + 1, n + 2
#define B4(n) B2(n), B2(n + 1), B2(n + 1), B2(n + 2)
#define B6(n) B4(n), B4(n + 1), B4(n + 1), B4(n + 2)
    B6(0),
    B6(1),
    B6(1),
    B6(2),
#undef B6
#undef B4
#undef B2
};

static bool is_print(uint8_t c)
{
	return c >= 0x20 && c <= 0x7e;
}

#define FET_PRINT_START 12

bool tt_inspect_is_fully_encrypted(const uint8_t *p, uint32_t len)
{
	uint32_t bits = 0, n_print = 0, run = 0, longest = 0;
	/* Ex2, tortrace's form: the GFW exempts a printable first 6 bytes, which random bytes
	 * have with probability (95/256)^6 = 0.26 % (an obfs4 flow has two flights: 0.5 %).
	 * A lab wants a protocol start, not a censor's shortcut: a printable first 12 bytes
	 * (a token or banner; random bytes: (95/256)^12 = 7e-6). Shorter cleartext messages
	 * are mostly printable and Ex3 exempts them. */
	bool start_print = len >= FET_PRINT_START;

	if (len < 8)
		return false;
	/* Exemptions that need no scan first: TLS and HTTP starts (most TCP payloads). */
	if (tt_inspect_first_payload(6, 0, 0, p, len) != TT_APP_UNKNOWN)
		return false;
	/* The statistics of the first 512 bytes decide as well as all of them would, at a
	 * fraction of the cost on bulk first segments. */
	uint32_t n = len > 512 ? 512 : len;

	for (uint32_t i = 0; i < n; i++) {
		bits += popcount8[p[i]];
		if (is_print(p[i])) {
			n_print++;
			if (++run > longest)
				longest = run;
		} else {
			run = 0;
			if (i < FET_PRINT_START)
				start_print = false;
		}
	}
	if (bits * 10 <= 34 * n || bits * 10 >= 46 * n) /* Ex1: not 3.4-4.6 bits a byte */
		return false;
	if (start_print || n_print * 2 > n || longest > 20) /* Ex2, Ex3, Ex4 */
		return false;
	/* Binary protocols with a cleartext header, which obfs4 (whose frame lengths are
	 * masked) never has: a 4-byte length below 1 MiB (Kerberos over TCP, ...; a random
	 * word is that small once in 4096), a 2-byte length equal to the rest, an ASN.1
	 * SEQUENCE (LDAP), DCE-RPC version 5. */
	if (((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]) <
		(1u << 20) ||
	    ((uint32_t)p[0] << 8 | p[1]) == len - 2 ||
	    (p[0] == 0x30 && (p[1] & 0x80 || p[1] + 2u == len)) || (p[0] == 5 && p[1] <= 1))
		return false;
	return true;
}

/* ---- the obfs4 shape after the first flights (G1; workers.h) ---------------------- */

double tt_pt_repeat_tail(unsigned n, unsigned r, unsigned c)
{
	/* p[j]: the probability that the draws so far took j distinct values. A draw finds a
	 * new value with probability (r - j) / r. Summing in a fixed order keeps the result
	 * the same on every run (G1 must not depend on -j). */
	double p[TT_PT_SEGS + 1] = {1.0}, tail = 0;

	TT_BUG_ON(n > TT_PT_SEGS);
	if (c == 0 || r == 0)
		return 1.0;
	for (unsigned k = 0; k < n; k++) {
		for (unsigned j = k + 1; j >= 1; j--)
			p[j] =
			    p[j] * j / r + (j - 1 < r ? p[j - 1] * (double)(r - (j - 1)) / r : 0);
		p[0] = 0;
	}
	for (unsigned j = 0; j + c <= n; j++)
		tail += p[j];
	return tail;
}

static unsigned n_distinct_sorted(const uint16_t *v, unsigned n)
{
	unsigned d = n > 0;

	for (unsigned i = 1; i < n; i++)
		d += v[i] != v[i - 1];
	return d;
}

bool tt_pt_shape_is_obfs4(const struct tt_pt_shape *s)
{
	uint16_t max[2] = {0, 0}, v[2][TT_PT_SEGS], all[TT_PT_SEGS];
	unsigned m[2] = {0, 0}, n_distinct[2], n_shared = 0, n = 0, n_repeat;

	for (unsigned i = 0; i < s->n; i++)
		if (s->len[i] > max[s->is_rev[i]])
			max[s->is_rev[i]] = s->len[i];
	/* Sizes below a direction's largest: full segments say nothing of padding. */
	for (unsigned i = 0; i < s->n; i++) {
		int d = s->is_rev[i];

		if (s->len[i] < max[d]) {
			v[d][m[d]++] = s->len[i];
			all[n++] = s->len[i];
		}
	}
	qsort(v[0], m[0], sizeof(v[0][0]), tt_cmp_u16);
	qsort(v[1], m[1], sizeof(v[1][0]), tt_cmp_u16);
	qsort(all, n, sizeof(all[0]), tt_cmp_u16);
	n_distinct[0] = n_distinct_sorted(v[0], m[0]);
	n_distinct[1] = n_distinct_sorted(v[1], m[1]);
	for (unsigned i = 0, j = 0; i < m[0] && j < m[1];) {
		if (v[0][i] < v[1][j]) {
			i++;
		} else if (v[0][i] > v[1][j]) {
			j++;
		} else {
			n_shared++;
			for (uint16_t x = v[0][i]; i < m[0] && v[0][i] == x; i++)
				;
		}
	}
	/* Tor's cells fill segments both ways: three 514-byte cells in obfs4 frames exceed
	 * one. Interactive protocols of small messages have many sizes but no full ones. A
	 * protocol's few fixed message sizes are not a drawn distribution: 8 distinct sizes
	 * each way, one of them seen both ways (both ends draw from one distribution). */
	if (n_distinct[0] < 8 || n_distinct[1] < 8 || n_shared < 1 || max[0] < 1024 ||
	    max[1] < 1024)
		return false;
	/* obfs4 pads each burst so that its last segment has a length drawn from a
	 * per-bridge distribution of 1 to 100 values (obfs4 probdist), both ways alike: the
	 * same sizes come back. Sizes drawn uniformly from their observed range repeat only
	 * by birthday coincidence. G1 wants more repeats than that explains at TT_PT_ALPHA. */
	n_repeat = n - n_distinct_sorted(all, n);
	return tt_pt_repeat_tail(n, (unsigned)(all[n - 1] - all[0]) + 1, n_repeat) <= TT_PT_ALPHA;
}
