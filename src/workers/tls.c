/* TLS inspector: reassembly of the first bytes of a TCP stream, TLS record and handshake
 * walkers, hello and certificate parsers, JA3/JA3S/JA4, and Tor's TLS traits. Every
 * parser reads through a bounded cursor (struct rd) whose reads past the end return zeros
 * and set a sticky flag, so malformed lengths cannot lead outside the input. */
#include "tls.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

/* ---- bounded reader ---------------------------------------------------------------- */

struct rd {
	const uint8_t *p;
	uint32_t len, off;
	bool is_bad; /* a read ran past len */
};

static struct rd rd_make(const uint8_t *p, uint32_t len)
{
	return (struct rd){.p = p, .len = len};
}

static uint32_t rd_left(const struct rd *r)
{
	return r->len - r->off;
}

static bool rd_need(struct rd *r, uint32_t n)
{
	if (rd_left(r) < n) {
		r->is_bad = true;
		r->off = r->len;
		return false;
	}
	return true;
}

static uint8_t rd_u8(struct rd *r)
{
	if (!rd_need(r, 1))
		return 0;
	return r->p[r->off++];
}

static uint16_t rd_u16(struct rd *r)
{
	uint16_t v;

	if (!rd_need(r, 2))
		return 0;
	v = (uint16_t)(r->p[r->off] << 8 | r->p[r->off + 1]);
	r->off += 2;
	return v;
}

static uint32_t rd_u24(struct rd *r)
{
	uint32_t v;

	if (!rd_need(r, 3))
		return 0;
	v = (uint32_t)r->p[r->off] << 16 | (uint32_t)r->p[r->off + 1] << 8 | r->p[r->off + 2];
	r->off += 3;
	return v;
}

static void rd_skip(struct rd *r, uint32_t n)
{
	if (rd_need(r, n))
		r->off += n;
}

/* The next n bytes as a reader of their own; on overrun, an empty bad reader. */
static struct rd rd_sub(struct rd *r, uint32_t n)
{
	struct rd s = {.p = r->p, .len = 0, .is_bad = true};

	if (rd_need(r, n)) {
		s = rd_make(r->p + r->off, n);
		r->off += n;
	}
	return s;
}

/* ---- stream reassembly ------------------------------------------------------------- */

void tt_tls_stream_init(struct tt_tls_stream *s)
{
	/* The buffer is left as it is: only bytes below len (or inside ranges) are read. */
	memset(s, 0, offsetof(struct tt_tls_stream, buf));
}

static void ranges_remove_first(struct tt_tls_stream *s)
{
	memmove(&s->ranges[0], &s->ranges[1], (size_t)(s->n_ranges - 1) * sizeof(s->ranges[0]));
	s->n_ranges--;
}

/* Record [start, end) as held out-of-order data, merging with touching islands.
 * Returns false when there is no free slot. */
static bool ranges_insert(struct tt_tls_stream *s, uint32_t start, uint32_t end)
{
	unsigned i = 0, j;

	while (i < s->n_ranges && s->ranges[i].end < start)
		i++;
	/* Islands i.. that overlap or touch [start, end) merge into one. */
	j = i;
	while (j < s->n_ranges && s->ranges[j].start <= end) {
		if (s->ranges[j].start < start)
			start = s->ranges[j].start;
		if (s->ranges[j].end > end)
			end = s->ranges[j].end;
		j++;
	}
	if (j == i) {
		if (s->n_ranges == TT_TLS_STREAM_MAX_RANGES)
			return false;
		memmove(&s->ranges[i + 1], &s->ranges[i],
		    (size_t)(s->n_ranges - i) * sizeof(s->ranges[0]));
		s->n_ranges++;
	} else if (j > i + 1) {
		memmove(&s->ranges[i + 1], &s->ranges[j],
		    (size_t)(s->n_ranges - j) * sizeof(s->ranges[0]));
		s->n_ranges = (uint8_t)(s->n_ranges - (j - i - 1));
	}
	s->ranges[i] = (struct tt_tls_range){start, end};
	return true;
}

uint32_t tt_tls_stream_add(
    struct tt_tls_stream *s, uint32_t seq, const uint8_t *payload, uint32_t len, bool is_syn)
{
	uint32_t off, end, old_len = s->len;
	int32_t rel;

	if (is_syn) {
		seq++; /* SYN occupies one sequence number; data (TFO) follows it */
		if (!s->has_base) {
			s->base_seq = seq;
			s->has_base = true;
		}
	}
	if (len == 0)
		return 0;
	if (!s->has_base) {
		s->base_seq = seq;
		s->has_base = true;
		s->flags |= TT_TLS_STREAM_MIDSTREAM;
	}
	s->n_segs++;
	/* Offsets are taken modulo 2^32, so sequence wrap-around needs no special case; a
	 * negative offset is data from before byte 0 (an old retransmission). */
	rel = (int32_t)(seq - s->base_seq);
	if (rel < 0) {
		uint32_t skip = (uint32_t) - (int64_t)rel;

		if (skip >= len) {
			s->n_retrans_segs++;
			return 0;
		}
		payload += skip;
		len -= skip;
		rel = 0;
	}
	off = (uint32_t)rel;
	if (off >= TT_TLS_STREAM_CAP) {
		s->flags |= TT_TLS_STREAM_FULL;
		return 0;
	}
	end = off + (len < TT_TLS_STREAM_CAP - off ? len : TT_TLS_STREAM_CAP - off);
	if (end - off < len)
		s->flags |= TT_TLS_STREAM_FULL;
	if (end <= s->len) {
		s->n_retrans_segs++;
		return 0;
	}
	if (off > s->len) {
		/* A hole before this segment: keep it aside until the hole fills. */
		s->n_ooo_segs++;
		if (!ranges_insert(s, off, end)) {
			s->flags |= TT_TLS_STREAM_GAP;
			return 0;
		}
		memcpy(s->buf + off, payload, end - off);
		return 0;
	}
	/* Bytes below len were already delivered and are never rewritten: pointers into
	 * them stay valid. */
	memcpy(s->buf + s->len, payload + (s->len - off), end - s->len);
	s->len = end;
	while (s->n_ranges > 0 && s->ranges[0].start <= s->len) {
		if (s->ranges[0].end > s->len)
			s->len = s->ranges[0].end;
		ranges_remove_first(s);
	}
	return s->len - old_len;
}

bool tt_tls_stream_is_done(const struct tt_tls_stream *s)
{
	if (s->flags & TT_TLS_STREAM_FOLLOW)
		return (s->flags & TT_TLS_STREAM_LOST) != 0;
	return (s->flags & TT_TLS_STREAM_NOT_TLS) || s->len == TT_TLS_STREAM_CAP;
}

void tt_tls_stream_start_follow(struct tt_tls_stream *s)
{
	s->flags |= TT_TLS_STREAM_FOLLOW;
	s->fol.hdr_off = s->walk_off;
	s->fol.hdr_mask = 0;
	for (unsigned i = 0; i < 5 && s->walk_off + i < s->len; i++) {
		s->fol.hdr[i] = s->buf[s->walk_off + i];
		s->fol.hdr_mask |= (uint8_t)(1u << i);
	}
}

/* Segments may run this far past a header whose bytes never came (a capture that lost
 * them) before following gives up: tor and browsers keep far less than this in flight. */
#define FOLLOW_LAG_MAX (256u * 1024)

int tt_tls_follow_next(struct tt_tls_follow *fl, uint32_t seg_off, const uint8_t *payload,
    uint32_t len, struct tt_tls_record *r)
{
	uint32_t length;
	const uint8_t *h = fl->hdr;

	/* Only the 5 bytes at hdr_off are read; the rest of the segment is never touched.
	 * Offsets wrap with the sequence numbers, so they are compared as signed
	 * differences. */
	for (unsigned i = 0; i < 5 && fl->hdr_mask != 0x1f; i++) {
		int32_t d = (int32_t)(fl->hdr_off + i - seg_off);

		if (!(fl->hdr_mask & (1u << i)) && d >= 0 && (uint32_t)d < len) {
			fl->hdr[i] = payload[d];
			fl->hdr_mask |= (uint8_t)(1u << i);
		}
	}
	if (fl->hdr_mask != 0x1f) {
		if (len > 0 && (int32_t)(seg_off - fl->hdr_off) > (int32_t)FOLLOW_LAG_MAX)
			return -EBADMSG;
		return 0;
	}
	length = (uint32_t)h[3] << 8 | h[4];
	if (h[0] < 20 || h[0] > 24 || h[1] != 3 || h[2] > 4 || length > TT_TLS_RECORD_MAX)
		return -EBADMSG;
	*r = (struct tt_tls_record){.offset = fl->hdr_off,
	    .type = h[0],
	    .version = (uint16_t)(h[1] << 8 | h[2]),
	    .length = (uint16_t)length,
	    .is_truncated = true};
	fl->hdr_off += 5 + length;
	fl->hdr_mask = 0;
	return 1;
}

int tt_tls_stream_follow(struct tt_tls_stream *s, uint32_t seq, const uint8_t *payload,
    uint32_t len, struct tt_tls_record *r)
{
	int rc;

	if (s->flags & TT_TLS_STREAM_LOST)
		return -EBADMSG;
	rc = tt_tls_follow_next(&s->fol, seq - s->base_seq, payload, len, r);
	if (rc < 0)
		s->flags |= TT_TLS_STREAM_LOST;
	return rc;
}

int tt_tls_stream_next_record(struct tt_tls_stream *s, struct tt_tls_record *r)
{
	const uint8_t *h;
	uint32_t avail;

	if (s->flags & TT_TLS_STREAM_NOT_TLS)
		return -EBADMSG;
	if ((s->flags & (TT_TLS_STREAM_RESYNC | TT_TLS_STREAM_SYNCED)) == TT_TLS_STREAM_RESYNC) {
		int rc = tt_tls_resync(
		    s->buf, s->len, s->len == TT_TLS_STREAM_CAP, &s->scan_off, &s->sync_off);

		if (rc == 0)
			return 0;
		if (rc < 0) {
			s->flags |= TT_TLS_STREAM_NOT_TLS;
			return -EBADMSG;
		}
		s->flags |= TT_TLS_STREAM_SYNCED;
		s->walk_off = s->sync_off;
	}
	if (s->walk_off + 5 > s->len)
		return 0;
	h = s->buf + s->walk_off;
	r->type = h[0];
	r->version = (uint16_t)(h[1] << 8 | h[2]);
	r->length = (uint16_t)(h[3] << 8 | h[4]);
	if (r->type < 20 || r->type > 24 || h[1] != 3 || h[2] > 4 ||
	    r->length > TT_TLS_RECORD_MAX) {
		s->flags |= TT_TLS_STREAM_NOT_TLS;
		return -EBADMSG;
	}
	avail = s->len - s->walk_off - 5;
	if (avail < r->length) {
		/* Wait for the rest, unless the buffer has ended before the record does. */
		if (s->len < TT_TLS_STREAM_CAP)
			return 0;
		r->is_truncated = true;
		r->frag_len = (uint16_t)avail;
	} else {
		r->is_truncated = false;
		r->frag_len = r->length;
	}
	r->frag = h + 5;
	r->offset = s->walk_off;
	s->walk_off += 5 + r->frag_len;
	if (r->is_truncated)
		s->walk_off = s->len + 5; /* nothing further can be read */
	return 1;
}

/* ---- mid-stream resynchronisation ------------------------------------------------ */

/* Why this rule, and how often random bytes pass it. A header is 5 bytes: type 20..24
 * (5 of 256 values), 0x03 (1/256), minor 1..4 (4/256), length 1..16640 (16640/65536), so
 * a random 5-byte window passes with p1 = 5*4*16640 / 2^40 = 3.03e-7. A chained header
 * must repeat the first one's version: p2 = 5*16640 / (256 * 2^32) = 7.57e-8, except
 * after a first header of type 22 (a ClientHello's record says 3.1, the records after it
 * 3.3), where the second may have any minor and fixes the version. Rule (c) (two headers
 * at the end of a full buffer) is the loosest: per offset p1 * p2 + p1/5 * p1 = 2.3e-14 +
 * 1.8e-14 = 4.1e-14, so at most 8192 * 4.1e-14 = 3.4e-10 per 8 KiB direction. Rule (a)
 * needs about p1 * p1 * p2 = 7e-21 per offset, and rule (b) p1 * p1 * 1/16640 (the second
 * length must be the one that ends at the buffer's end) = 5.5e-18 per offset and check. Ciphertext
 * before the first true header is such random bytes, so a false boundary inside real TLS is as
 * rare. Two headers alone would do for random bytes; the third (or the end landing on the boundary)
 * guards structured data that imitates one header. */
enum {
	CHAIN_FAIL,
	CHAIN_PENDING,
	CHAIN_OK,
};

static bool resync_header_ok(const uint8_t *h, int version_minor)
{
	uint32_t length = (uint32_t)h[3] << 8 | h[4];

	if (h[0] < 20 || h[0] > 24 || h[1] != 3)
		return false;
	if (version_minor < 0 ? h[2] < 1 || h[2] > 4 : h[2] != version_minor)
		return false;
	return length >= 1 && length <= TT_TLS_RESYNC_LEN_MAX;
}

static int chain_at(const uint8_t *buf, uint32_t len, bool is_final, uint32_t o)
{
	uint64_t p = o;
	unsigned k = 0;
	int minor = -1;

	for (;;) {
		if (k >= 2 && p == len)
			return CHAIN_OK; /* (b) */
		if (p + 5 > len) {
			if (!is_final)
				return CHAIN_PENDING;
			return k >= 2 ? CHAIN_OK : CHAIN_FAIL; /* (c) */
		}
		if (!resync_header_ok(buf + p, minor))
			return CHAIN_FAIL;
		if (++k == TT_TLS_RESYNC_CHAIN)
			return CHAIN_OK; /* (a) */
		/* A ClientHello's record says 3.1 whatever is negotiated: after a handshake
		 * record the chain's version is set by the next header. */
		minor = k == 1 && buf[p] == 22 ? -1 : buf[p + 2];
		p += 5 + ((uint32_t)buf[p + 3] << 8 | buf[p + 4]);
	}
}

int tt_tls_resync(
    const uint8_t *buf, uint32_t len, bool is_final, uint32_t *scan_off, uint32_t *off)
{
	uint32_t pending = UINT32_MAX;

	/* Offsets below *scan_off failed for good on an earlier call: their chain broke
	 * inside bytes that do not change. A pending offset does not stop the scan, so a
	 * false header whose record claims 16 KiB cannot hide the true boundary after it. */
	for (uint32_t o = *scan_off; o < len; o++) {
		int c = chain_at(buf, len, is_final, o);

		if (c == CHAIN_OK) {
			*scan_off = o;
			*off = o;
			return 1;
		}
		if (c == CHAIN_PENDING && pending == UINT32_MAX)
			pending = o;
	}
	if (is_final) {
		*scan_off = len;
		return -EBADMSG;
	}
	*scan_off = pending == UINT32_MAX ? len : pending;
	return 0;
}

/* ---- handshake messages ------------------------------------------------------------ */

void tt_tls_hs_init(struct tt_tls_hs *h)
{
	memset(h, 0, offsetof(struct tt_tls_hs, buf));
}

void tt_tls_hs_feed(struct tt_tls_hs *h, const struct tt_tls_record *r)
{
	uint32_t n;

	if (h->is_encrypted || h->is_overflow)
		return;
	if (r->type == 20 || r->type == 23) {
		h->is_encrypted = true;
		return;
	}
	if (r->type != 22)
		return;
	n = r->frag_len;
	if (n > TT_TLS_HS_CAP - h->len) {
		n = TT_TLS_HS_CAP - h->len;
		h->is_overflow = true;
	}
	memcpy(h->buf + h->len, r->frag, n);
	h->len += n;
	if (r->is_truncated)
		h->is_overflow = true;
}

int tt_tls_hs_next(struct tt_tls_hs *h, struct tt_tls_hs_msg *m)
{
	const uint8_t *p;
	uint32_t left, length;

	if (h->off > h->len)
		return h->off == UINT32_MAX ? -EBADMSG : 0;
	left = h->len - h->off;
	if (left < 4) {
		if (h->is_overflow && left > 0)
			h->off = h->len + 1; /* a cut header: nothing more to give */
		return 0;
	}
	p = h->buf + h->off;
	length = (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
	if (p[0] == 0 || p[0] > 30 || length > (1u << 17)) {
		/* Not a handshake message type we know, or absurd: not plaintext handshake. */
		h->off = UINT32_MAX;
		return -EBADMSG;
	}
	m->type = p[0];
	m->length = length;
	m->body = p + 4;
	if (left - 4 < length) {
		if (!h->is_overflow)
			return 0;
		m->len = left - 4;
		m->is_truncated = true;
		h->off = h->len + 1;
		return 1;
	}
	m->len = length;
	m->is_truncated = false;
	h->off += 4 + length;
	return 1;
}

/* ---- hellos ---------------------------------------------------------------------------- */

/* Read a list of 16-bit values filling at most cap entries; *n counts them all. */
static void read_u16_list(struct rd *r, uint16_t *out, unsigned cap, uint16_t *n, bool *is_trunc)
{
	*n = 0;
	while (rd_left(r) >= 2) {
		uint16_t v = rd_u16(r);

		if (*n < cap)
			out[*n] = v;
		else
			*is_trunc = true;
		if (*n < UINT16_MAX)
			(*n)++;
	}
	if (rd_left(r) != 0)
		r->is_bad = true; /* odd byte count */
}

static void read_u16_list8(struct rd *r, uint16_t *out, unsigned cap, uint8_t *n, bool *is_trunc)
{
	uint16_t n16;

	read_u16_list(r, out, cap, &n16, is_trunc);
	*n = (uint8_t)(n16 > UINT8_MAX ? UINT8_MAX : n16);
}

static void copy_alpn(struct tt_tls_alpn *a, const struct rd *name)
{
	uint32_t n = name->len < TT_TLS_ALPN_NAME_MAX ? name->len : TT_TLS_ALPN_NAME_MAX;

	a->len = (uint8_t)name->len;
	a->last = name->len ? name->p[name->len - 1] : 0;
	memcpy(a->name, name->p, n);
	a->name[n] = '\0';
}

static void parse_ch_ext(struct tt_tls_client_hello *ch, uint16_t type, struct rd *e)
{
	struct rd l;

	switch (type) {
	case 0x0000: /* server_name: list of (type, name) */
		l = rd_sub(e, rd_u16(e));
		while (rd_left(&l) >= 3) {
			uint8_t kind = rd_u8(&l);
			struct rd name = rd_sub(&l, rd_u16(&l));

			if (kind == 0 && !ch->has_sni && !name.is_bad) {
				uint32_t n = name.len < TT_TLS_SNI_MAX ? name.len : TT_TLS_SNI_MAX;

				memcpy(ch->sni, name.p, n);
				ch->sni[n] = '\0';
				ch->sni_len = (uint16_t)n;
				ch->has_sni = true;
			}
			e->is_bad |= name.is_bad;
		}
		e->is_bad |= l.is_bad;
		break;
	case 0x000a: /* supported_groups */
		l = rd_sub(e, rd_u16(e));
		read_u16_list(&l, ch->groups, TT_TLS_MAX_GROUPS, &ch->n_groups, &ch->is_truncated);
		e->is_bad |= l.is_bad;
		break;
	case 0x000b: /* ec_point_formats */
		l = rd_sub(e, rd_u8(e));
		while (rd_left(&l) > 0) {
			uint8_t v = rd_u8(&l);

			if (ch->n_point_formats < TT_TLS_MAX_POINT_FORMATS)
				ch->point_formats[ch->n_point_formats++] = v;
			else
				ch->is_truncated = true;
		}
		e->is_bad |= l.is_bad;
		break;
	case 0x000d: /* signature_algorithms */
		l = rd_sub(e, rd_u16(e));
		read_u16_list(
		    &l, ch->sigalgs, TT_TLS_MAX_SIGALGS, &ch->n_sigalgs, &ch->is_truncated);
		e->is_bad |= l.is_bad;
		break;
	case 0x0010: /* ALPN: list of 8-bit-length names */
		ch->has_alpn_ext = true;
		l = rd_sub(e, rd_u16(e));
		while (rd_left(&l) > 0) {
			struct rd name = rd_sub(&l, rd_u8(&l));

			if (name.is_bad)
				break;
			if (ch->n_alpn < TT_TLS_MAX_ALPN)
				copy_alpn(&ch->alpn[ch->n_alpn++], &name);
			else
				ch->is_truncated = true;
		}
		e->is_bad |= l.is_bad;
		break;
	case 0x0015: /* padding */
		ch->has_padding = true;
		ch->padding_len = (uint16_t)e->len;
		e->off = e->len;
		break;
	case 0x002b: /* supported_versions (ClientHello form: 8-bit list length) */
		l = rd_sub(e, rd_u8(e));
		read_u16_list8(
		    &l, ch->versions, TT_TLS_MAX_VERSIONS, &ch->n_versions, &ch->is_truncated);
		e->is_bad |= l.is_bad;
		break;
	case 0x0033: /* key_share: list of (group, key) */
		l = rd_sub(e, rd_u16(e));
		while (rd_left(&l) >= 4) {
			uint16_t g = rd_u16(&l);

			rd_skip(&l, rd_u16(&l));
			if (ch->n_key_shares < TT_TLS_MAX_KEY_SHARES)
				ch->key_shares[ch->n_key_shares++] = g;
			else
				ch->is_truncated = true;
		}
		e->is_bad |= l.is_bad;
		break;
	default:
		e->off = e->len;
		break;
	}
}

static int parse_client_hello(
    const uint8_t *body, uint32_t len, bool is_dtls, struct tt_tls_client_hello *ch)
{
	struct rd r = rd_make(body, len), l;

	memset(ch, 0, sizeof(*ch));
	ch->body_len = len;
	ch->legacy_version = rd_u16(&r);
	rd_skip(&r, 32); /* random */
	ch->session_id_len = rd_u8(&r);
	rd_skip(&r, ch->session_id_len);
	if (is_dtls)
		rd_skip(&r, rd_u8(&r)); /* the cookie (RFC 6347 §4.2.1): DTLS's one addition */
	l = rd_sub(&r, rd_u16(&r));
	read_u16_list(&l, ch->ciphers, TT_TLS_MAX_CIPHERS, &ch->n_ciphers, &ch->is_truncated);
	r.is_bad |= l.is_bad;
	l = rd_sub(&r, rd_u8(&r));
	while (rd_left(&l) > 0) {
		uint8_t v = rd_u8(&l);

		if (ch->n_compression < TT_TLS_MAX_COMPRESSION)
			ch->compression[ch->n_compression++] = v;
	}
	if (r.is_bad)
		goto out;
	if (rd_left(&r) < 2)
		goto out; /* no extensions block (SSL 3.0 / early TLS) */
	ch->has_exts_block = true;
	l = rd_sub(&r, rd_u16(&r));
	while (rd_left(&l) >= 4) {
		uint16_t type = rd_u16(&l);
		struct rd e = rd_sub(&l, rd_u16(&l));

		if (e.is_bad)
			break;
		if (ch->n_exts < TT_TLS_MAX_EXTS)
			ch->exts[ch->n_exts] = type;
		else
			ch->is_truncated = true;
		if (ch->n_exts < UINT16_MAX)
			ch->n_exts++;
		if (tt_tls_is_grease(type)) {
			ch->has_grease = true;
			continue;
		}
		parse_ch_ext(ch, type, &e);
		r.is_bad |= e.is_bad;
	}
	r.is_bad |= l.is_bad || rd_left(&l) != 0;
out:
	for (unsigned i = 0; i < ch->n_ciphers && i < TT_TLS_MAX_CIPHERS; i++)
		ch->has_grease |= tt_tls_is_grease(ch->ciphers[i]);
	for (unsigned i = 0; i < ch->n_groups && i < TT_TLS_MAX_GROUPS; i++)
		ch->has_grease |= tt_tls_is_grease(ch->groups[i]);
	return r.is_bad ? -EBADMSG : 0;
}

int tt_tls_parse_client_hello(const uint8_t *body, uint32_t len, struct tt_tls_client_hello *ch)
{
	return parse_client_hello(body, len, false, ch);
}

int tt_dtls_parse_client_hello(const uint8_t *body, uint32_t len, struct tt_tls_client_hello *ch)
{
	return parse_client_hello(body, len, true, ch);
}

/* SHA-256("HelloRetryRequest"), the random of a HelloRetryRequest (RFC 8446 §4.1.3). */
static const uint8_t hrr_random[32] = {
    0xcf,
    0x21,
    0xad,
    0x74,
    0xe5,
    0x9a,
    0x61,
    0x11,
    0xbe,
    0x1d,
    0x8c,
    0x02,
    0x1e,
    0x65,
    0xb8,
    0x91,
    0xc2,
    0xa2,
    0x11,
    0x16,
    0x7a,
    0xbb,
    0x8c,
    0x5e,
    0x07,
    0x9e,
    0x09,
    0xe2,
    0xc8,
    0xa8,
    0x33,
    0x9c,
};

int tt_tls_parse_server_hello(const uint8_t *body, uint32_t len, struct tt_tls_server_hello *sh)
{
	struct rd r = rd_make(body, len), l;

	memset(sh, 0, sizeof(*sh));
	sh->legacy_version = rd_u16(&r);
	sh->version = sh->legacy_version;
	if (rd_left(&r) >= 32)
		sh->is_hrr = memcmp(r.p + r.off, hrr_random, 32) == 0;
	rd_skip(&r, 32);
	sh->session_id_len = rd_u8(&r);
	rd_skip(&r, sh->session_id_len);
	sh->cipher = rd_u16(&r);
	sh->compression = rd_u8(&r);
	if (r.is_bad || rd_left(&r) < 2)
		return r.is_bad ? -EBADMSG : 0;
	l = rd_sub(&r, rd_u16(&r));
	while (rd_left(&l) >= 4) {
		uint16_t type = rd_u16(&l);
		struct rd e = rd_sub(&l, rd_u16(&l)), a;

		if (e.is_bad)
			break;
		if (sh->n_exts < TT_TLS_MAX_EXTS)
			sh->exts[sh->n_exts++] = type;
		else
			sh->is_truncated = true;
		switch (type) {
		case 0x002b: /* supported_versions: the selected version */
			sh->version = rd_u16(&e);
			break;
		case 0x0033: /* key_share: group (+ key, or nothing in a HelloRetryRequest) */
			sh->key_share = rd_u16(&e);
			break;
		case 0x0010:
			a = rd_sub(&e, rd_u16(&e));
			if (!a.is_bad && rd_left(&a) > 0) {
				struct rd name = rd_sub(&a, rd_u8(&a));

				if (!name.is_bad)
					copy_alpn(&sh->alpn, &name);
			}
			break;
		default:
			break;
		}
		r.is_bad |= e.is_bad;
	}
	r.is_bad |= l.is_bad || rd_left(&l) != 0;
	return r.is_bad ? -EBADMSG : 0;
}

/* ---- X.509 (minimal DER) ---------------------------------------------------------------- */

/* One TLV. val holds the value, cut short if the input ends first (then returns 1).
 * Returns 0 for a whole TLV, 1 for a cut one, -1 when the header itself is bad or
 * missing. Only single-byte tags and definite lengths up to 4 bytes (DER). */
static int der_next(struct rd *r, uint8_t *tag, struct rd *val)
{
	uint32_t n;
	uint8_t b;

	if (rd_left(r) < 2)
		return -1;
	*tag = rd_u8(r);
	if ((*tag & 0x1f) == 0x1f)
		return -1;
	b = rd_u8(r);
	if (b < 0x80) {
		n = b;
	} else {
		unsigned k = b & 0x7f;

		if (k == 0 || k > 4 || rd_left(r) < k)
			return -1;
		n = 0;
		while (k--)
			n = n << 8 | rd_u8(r);
	}
	if (n > rd_left(r)) {
		*val = rd_make(r->p + r->off, rd_left(r));
		r->off = r->len;
		return 1;
	}
	*val = rd_make(r->p + r->off, n);
	r->off += n;
	return 0;
}

static void copy_printable(char *dst, uint8_t *dst_len, const struct rd *v, uint8_t tag)
{
	uint32_t n = 0, step = tag == 0x1e ? 2 : 1; /* BMPString: UCS-2, keep the low byte */

	for (uint32_t i = step - 1; i < v->len && n < TT_TLS_CN_MAX; i += step) {
		uint8_t c = v->p[i];

		dst[n++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	dst[n] = '\0';
	*dst_len = (uint8_t)n;
}

/* Walk a Name (SEQUENCE OF SET OF SEQUENCE { OID, value }): count attributes and copy the
 * first commonName (2.5.4.3). */
static void parse_name(struct rd name, char *cn, uint8_t *cn_len, bool *has_cn, uint8_t *n_attrs)
{
	static const uint8_t cn_oid[] = {0x55, 0x04, 0x03};
	uint8_t tag;
	struct rd set, atv;

	while (der_next(&name, &tag, &set) >= 0) {
		while (der_next(&set, &tag, &atv) >= 0) {
			struct rd oid, val;
			uint8_t vtag;

			if (*n_attrs < UINT8_MAX)
				(*n_attrs)++;
			if (der_next(&atv, &tag, &oid) != 0 || tag != 0x06)
				continue;
			if (oid.len != sizeof(cn_oid) || memcmp(oid.p, cn_oid, sizeof(cn_oid)) != 0)
				continue;
			if (*has_cn || der_next(&atv, &vtag, &val) < 0)
				continue;
			copy_printable(cn, cn_len, &val, vtag);
			*has_cn = true;
		}
	}
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (H. Hinnant). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static bool digits(const uint8_t *p, unsigned n, unsigned *out)
{
	unsigned v = 0;

	for (unsigned i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		v = v * 10 + (unsigned)(p[i] - '0');
	}
	*out = v;
	return true;
}

/* UTCTime "YYMMDDHHMMSSZ" or GeneralizedTime "YYYYMMDDHHMMSSZ" to Unix seconds. */
static bool parse_time(uint8_t tag, const struct rd *v, int64_t *out)
{
	unsigned y, mo, d, h, mi, s, yl = tag == 0x17 ? 2 : 4;
	const uint8_t *p = v->p;

	if ((tag != 0x17 && tag != 0x18) || v->len != yl + 11 || p[yl + 10] != 'Z')
		return false;
	if (!digits(p, yl, &y) || !digits(p + yl, 2, &mo) || !digits(p + yl + 2, 2, &d) ||
	    !digits(p + yl + 4, 2, &h) || !digits(p + yl + 6, 2, &mi) || !digits(p + yl + 8, 2, &s))
		return false;
	if (tag == 0x17)
		y += y < 50 ? 2000 : 1900; /* RFC 5280 §4.1.2.5.1 */
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60)
		return false;
	*out = days_from_civil(y, mo, d) * 86400 + (int64_t)(h * 3600 + mi * 60 + s);
	return true;
}

/* RSA modulus bits from a SubjectPublicKeyInfo value. */
static uint16_t rsa_bits(struct rd spki)
{
	static const uint8_t rsa_oid[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01};
	struct rd alg, oid, bits, key, mod;
	uint8_t tag;
	uint32_t i = 0, nbits;

	if (der_next(&spki, &tag, &alg) != 0 || tag != 0x30)
		return 0;
	if (der_next(&alg, &tag, &oid) != 0 || tag != 0x06 || oid.len != sizeof(rsa_oid) ||
	    memcmp(oid.p, rsa_oid, sizeof(rsa_oid)) != 0)
		return 0;
	if (der_next(&spki, &tag, &bits) != 0 || tag != 0x03 || bits.len < 1)
		return 0;
	bits.off = 1; /* unused-bits byte */
	if (der_next(&bits, &tag, &key) < 0 || tag != 0x30)
		return 0;
	if (der_next(&key, &tag, &mod) != 0 || tag != 0x02)
		return 0;
	while (i < mod.len && mod.p[i] == 0)
		i++;
	if (i == mod.len || mod.len - i > 8192)
		return 0;
	nbits = (mod.len - i) * 8;
	for (uint8_t b = mod.p[i]; !(b & 0x80); b = (uint8_t)(b << 1))
		nbits--;
	return (uint16_t)nbits;
}

int tt_tls_parse_x509(const uint8_t *der, uint32_t len, struct tt_tls_cert *c)
{
	struct rd r = rd_make(der, len), cert, tbs, v, issuer = {0}, validity;
	uint8_t tag;
	int rc;

	uint32_t n_certs = c->n_certs;

	memset(c, 0, sizeof(*c));
	c->n_certs = n_certs;
	c->version = 1;
	c->der_len = len;
	if ((rc = der_next(&r, &tag, &cert)) < 0 || tag != 0x30)
		return -EBADMSG;
	c->is_truncated = rc == 1;
	if ((rc = der_next(&cert, &tag, &tbs)) < 0 || tag != 0x30)
		return -EBADMSG;
	c->is_truncated |= rc == 1;
	rc = der_next(&tbs, &tag, &v);
	if (rc == 0 && tag == 0xa0) { /* [0] EXPLICIT Version */
		struct rd iv;

		if (der_next(&v, &tag, &iv) == 0 && tag == 0x02 && iv.len == 1 && iv.p[0] < 3)
			c->version = (uint8_t)(iv.p[0] + 1);
		rc = der_next(&tbs, &tag, &v);
	}
	if (rc < 0 || tag != 0x02)
		goto cut;
	c->serial_len = (uint8_t)(v.len > UINT8_MAX ? UINT8_MAX : v.len);
	if (rc == 1 || der_next(&tbs, &tag, &v) != 0) /* signature AlgorithmIdentifier */
		goto cut;
	if ((rc = der_next(&tbs, &tag, &issuer)) < 0 || tag != 0x30)
		goto cut;
	parse_name(issuer, c->issuer_cn, &c->issuer_cn_len, &c->has_issuer_cn, &c->n_issuer_attrs);
	if (rc == 1 || der_next(&tbs, &tag, &validity) != 0 || tag != 0x30)
		goto cut;
	if (der_next(&validity, &tag, &v) == 0 && parse_time(tag, &v, &c->not_before) &&
	    der_next(&validity, &tag, &v) == 0 && parse_time(tag, &v, &c->not_after))
		c->has_validity = true;
	if ((rc = der_next(&tbs, &tag, &v)) < 0 || tag != 0x30)
		goto cut;
	parse_name(v, c->subject_cn, &c->subject_cn_len, &c->has_subject_cn, &c->n_subject_attrs);
	c->is_self_issued = v.len == issuer.len && memcmp(v.p, issuer.p, v.len) == 0;
	if (rc == 1 || (rc = der_next(&tbs, &tag, &v)) < 0 || tag != 0x30)
		goto cut;
	c->key_bits = rsa_bits(v);
	if (rc == 1)
		goto cut;
	/* issuerUniqueID [1], subjectUniqueID [2], extensions [3] */
	while ((rc = der_next(&tbs, &tag, &v)) >= 0) {
		if (tag == 0xa3)
			c->has_extensions = true;
		if (rc == 1)
			goto cut;
	}
	return 0;
cut:
	c->is_truncated = true;
	return 0;
}

int tt_tls_parse_certificate(const uint8_t *body, uint32_t len, struct tt_tls_cert *c)
{
	struct rd r = rd_make(body, len), list;
	uint32_t n_list, n;
	int rc = -EBADMSG;

	memset(c, 0, sizeof(*c));
	n_list = rd_u24(&r);
	if (r.is_bad)
		return -EBADMSG;
	/* The message may be cut: take what is there. */
	list = rd_make(r.p + r.off, n_list < rd_left(&r) ? n_list : rd_left(&r));
	while (rd_left(&list) >= 3) {
		n = rd_u24(&list);
		c->n_certs++;
		if (c->n_certs == 1) {
			uint32_t have = n < rd_left(&list) ? n : rd_left(&list);

			rc = tt_tls_parse_x509(list.p + list.off, have, c);
			c->der_len = n;
			c->is_truncated |= have < n;
		}
		if (n > rd_left(&list))
			break;
		rd_skip(&list, n);
	}
	return rc;
}

/* ---- fingerprints ------------------------------------------------------------------ */

struct sb {
	char *p;
	size_t size, len;
	bool is_full;
};

static void sb_putc(struct sb *b, char c)
{
	if (b->len + 1 < b->size)
		b->p[b->len++] = c;
	else
		b->is_full = true;
}

static void sb_putu(struct sb *b, unsigned v)
{
	char tmp[12];
	int n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		sb_putc(b, tmp[--n]);
}

static void sb_puthex4(struct sb *b, uint16_t v)
{
	static const char hex[] = "0123456789abcdef";

	for (int s = 12; s >= 0; s -= 4)
		sb_putc(b, hex[(v >> s) & 0xf]);
}

static void sb_put_u16_list(struct sb *b, const uint16_t *v, unsigned n)
{
	bool is_first = true;

	for (unsigned i = 0; i < n; i++) {
		if (tt_tls_is_grease(v[i]))
			continue;
		if (!is_first)
			sb_putc(b, '-');
		sb_putu(b, v[i]);
		is_first = false;
	}
}

static unsigned min_u(unsigned a, unsigned b)
{
	return a < b ? a : b;
}

/* MD5 and SHA-256, fetched from libcrypto's default provider once per process: the
 * legacy EVP_md5()/EVP_sha256() make every EVP_Digest() fetch the algorithm again (a
 * lookup under a lock), which cost more than the hashing of a fingerprint string. NULL
 * when the provider has no such algorithm; digest_hex then writes zeros. */
static EVP_MD *md5_md, *sha256_md;
static pthread_once_t md_once = PTHREAD_ONCE_INIT;

static void fetch_mds(void)
{
	md5_md = EVP_MD_fetch(NULL, "MD5", NULL);
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

enum { DIGEST_MD5, DIGEST_SHA256 };

/* Hex digest of s[0, n) with MD5 or SHA-256, truncated to out_hex digits, NUL-terminated. */
static void digest_hex(int which, const char *s, size_t n, char *out, unsigned out_hex)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;
	const EVP_MD *md;

	pthread_once(&md_once, fetch_mds);
	md = which == DIGEST_MD5 ? md5_md : sha256_md;
	if (!md || !EVP_Digest(s, n, d, &dlen, md, NULL))
		dlen = 0; /* libcrypto could not hash: an all-zero fingerprint says so */
	for (unsigned i = 0; i < out_hex; i++) {
		unsigned byte = i / 2 < dlen ? d[i / 2] : 0;

		out[i] = hex[i % 2 ? byte & 0xf : byte >> 4];
	}
	out[out_hex] = '\0';
}

int tt_tls_ja3(
    const struct tt_tls_client_hello *ch, char *str, size_t str_size, char md5_hex[TT_TLS_MD5_HEX])
{
	char tmp[TT_TLS_JA3_STR_MAX];
	struct sb b = {.p = tmp, .size = sizeof(tmp)};

	sb_putu(&b, ch->legacy_version);
	sb_putc(&b, ',');
	sb_put_u16_list(&b, ch->ciphers, min_u(ch->n_ciphers, TT_TLS_MAX_CIPHERS));
	sb_putc(&b, ',');
	sb_put_u16_list(&b, ch->exts, min_u(ch->n_exts, TT_TLS_MAX_EXTS));
	sb_putc(&b, ',');
	sb_put_u16_list(&b, ch->groups, min_u(ch->n_groups, TT_TLS_MAX_GROUPS));
	sb_putc(&b, ',');
	for (unsigned i = 0; i < ch->n_point_formats; i++) {
		if (i)
			sb_putc(&b, '-');
		sb_putu(&b, ch->point_formats[i]);
	}
	tmp[b.len] = '\0';
	if (b.is_full)
		return -ENOSPC;
	digest_hex(DIGEST_MD5, tmp, b.len, md5_hex, 32);
	if (str) {
		if (b.len + 1 > str_size)
			return -ENOSPC;
		memcpy(str, tmp, b.len + 1);
	}
	return 0;
}

int tt_tls_ja3s(
    const struct tt_tls_server_hello *sh, char *str, size_t str_size, char md5_hex[TT_TLS_MD5_HEX])
{
	char tmp[TT_TLS_JA3_STR_MAX];
	struct sb b = {.p = tmp, .size = sizeof(tmp)};

	sb_putu(&b, sh->legacy_version);
	sb_putc(&b, ',');
	sb_putu(&b, sh->cipher);
	sb_putc(&b, ',');
	sb_put_u16_list(&b, sh->exts, min_u(sh->n_exts, TT_TLS_MAX_EXTS));
	tmp[b.len] = '\0';
	if (b.is_full)
		return -ENOSPC;
	digest_hex(DIGEST_MD5, tmp, b.len, md5_hex, 32);
	if (str) {
		if (b.len + 1 > str_size)
			return -ENOSPC;
		memcpy(str, tmp, b.len + 1);
	}
	return 0;
}

int tt_cmp_u16(const void *a, const void *b)
{
	return (int)*(const uint16_t *)a - (int)*(const uint16_t *)b;
}

/* Copy the non-GREASE values of v (minus skip_a and skip_b), sorted when is_sorted. */
static unsigned filtered(const uint16_t *v, unsigned n, uint16_t *out, bool is_sorted, bool is_skip,
    uint16_t skip_a, uint16_t skip_b)
{
	unsigned k = 0;

	for (unsigned i = 0; i < n; i++) {
		if (tt_tls_is_grease(v[i]) || (is_skip && (v[i] == skip_a || v[i] == skip_b)))
			continue;
		out[k++] = v[i];
	}
	if (is_sorted)
		qsort(out, k, sizeof(out[0]), tt_cmp_u16);
	return k;
}

static void sb_put_hex_list(struct sb *b, const uint16_t *v, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		if (i)
			sb_putc(b, ',');
		sb_puthex4(b, v[i]);
	}
}

static const char *ja4_version(const struct tt_tls_client_hello *ch, char proto)
{
	uint16_t v = 0;
	bool is_set = false;

	for (unsigned i = 0; i < ch->n_versions && i < TT_TLS_MAX_VERSIONS; i++) {
		uint16_t x = ch->versions[i];

		if (tt_tls_is_grease(x))
			continue;
		/* DTLS numbers run downwards: its highest version is the lowest value. */
		if (!is_set || (proto == 'd' ? x < v : x > v))
			v = x;
		is_set = true;
	}
	if (!is_set)
		v = ch->legacy_version;
	switch (v) {
	case 0x0304:
		return "13";
	case 0x0303:
		return "12";
	case 0x0302:
		return "11";
	case 0x0301:
		return "10";
	case 0x0300:
		return "s3";
	case 0x0200:
		return "s2";
	case 0x0100:
		return "s1";
	case 0xfeff:
		return "d1";
	case 0xfefd:
		return "d2";
	case 0xfefc:
		return "d3";
	default:
		return "00";
	}
}

static bool is_alnum(uint8_t c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

void tt_tls_ja4(const struct tt_tls_client_hello *ch, char proto, char out[TT_TLS_JA4_SIZE])
{
	static const char hex[] = "0123456789abcdef";
	uint16_t v[TT_TLS_MAX_CIPHERS > TT_TLS_MAX_EXTS ? TT_TLS_MAX_CIPHERS : TT_TLS_MAX_EXTS];
	uint16_t sig[TT_TLS_MAX_SIGALGS];
	char tmp[TT_TLS_JA3_STR_MAX];
	struct sb b = {.p = tmp, .size = sizeof(tmp)};
	unsigned n_c, n_e, n_s, n_all_e = 0;
	bool has_sni_ext = false;
	char a0 = '0', a1 = '0';

	n_c = filtered(ch->ciphers, min_u(ch->n_ciphers, TT_TLS_MAX_CIPHERS), v, true, false, 0, 0);
	for (unsigned i = 0; i < min_u(ch->n_exts, TT_TLS_MAX_EXTS); i++) {
		if (tt_tls_is_grease(ch->exts[i]))
			continue;
		n_all_e++;
		has_sni_ext |= ch->exts[i] == 0x0000;
	}
	if (ch->n_alpn > 0 && ch->alpn[0].len > 0) {
		uint8_t first = (uint8_t)ch->alpn[0].name[0], last = ch->alpn[0].last;

		if (is_alnum(first) && is_alnum(last)) {
			a0 = (char)first;
			a1 = (char)last;
		} else {
			a0 = hex[first >> 4];
			a1 = hex[last & 0xf];
		}
	}
	/* Section a: protocol, version, SNI, counts, ALPN. */
	sb_putc(&b, proto);
	sb_putc(&b, ja4_version(ch, proto)[0]);
	sb_putc(&b, ja4_version(ch, proto)[1]);
	sb_putc(&b, has_sni_ext ? 'd' : 'i');
	sb_putc(&b, (char)('0' + min_u(n_c, 99) / 10));
	sb_putc(&b, (char)('0' + min_u(n_c, 99) % 10));
	sb_putc(&b, (char)('0' + min_u(n_all_e, 99) / 10));
	sb_putc(&b, (char)('0' + min_u(n_all_e, 99) % 10));
	sb_putc(&b, a0);
	sb_putc(&b, a1);
	memcpy(out, tmp, 10);
	out[10] = '_';
	/* Section b: sorted ciphers. */
	b.len = 0;
	sb_put_hex_list(&b, v, n_c);
	if (n_c == 0)
		memcpy(out + 11, "000000000000", 13);
	else
		digest_hex(DIGEST_SHA256, tmp, b.len, out + 11, 12);
	out[23] = '_';
	/* Section c: sorted extensions without SNI and ALPN, then signature algorithms in
	 * wire order. */
	n_e = filtered(ch->exts, min_u(ch->n_exts, TT_TLS_MAX_EXTS), v, true, true, 0x0000, 0x0010);
	n_s = filtered(
	    ch->sigalgs, min_u(ch->n_sigalgs, TT_TLS_MAX_SIGALGS), sig, false, false, 0, 0);
	b.len = 0;
	sb_put_hex_list(&b, v, n_e);
	if (n_s > 0) {
		sb_putc(&b, '_');
		sb_put_hex_list(&b, sig, n_s);
	}
	if (n_e == 0)
		memcpy(out + 24, "000000000000", 13);
	else
		digest_hex(DIGEST_SHA256, tmp, b.len, out + 24, 12);
}

/* ---- Tor traits ------------------------------------------------------------------------- */

/* log2((1/32) / p) in hundredths of a bit, where p is the letter's English frequency
 * (digits taken as 0.3%): positive for letters that random base32 text uses more often
 * than English does. A label's sum is > 0 when it looks more random than English. */
static const int16_t randomness_cbits[36] = {
    /* a..z */
    -139,
    107,
    17,
    -44,
    -202,
    49,
    63,
    -96,
    -116,
    438,
    202,
    -37,
    37,
    -111,
    -126,
    70,
    497,
    -94,
    -102,
    -154,
    18,
    167,
    41,
    438,
    67,
    548,
    /* 0..9 (0, 1, 8, 9 are not base32 and never reach here) */
    0,
    0,
    338,
    338,
    338,
    338,
    338,
    338,
    0,
    0,
};

static bool is_base32(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '2' && c <= '7');
}

/* Whether name is prefix + [a-z2-7]{lo,hi} + suffix; the label goes to *label and *n. */
static bool tor_name_shape(const char *name, size_t len, const char *prefix, const char *suffix,
    size_t lo, size_t hi, const char **label, size_t *n)
{
	size_t np = strlen(prefix), ns = strlen(suffix);

	if (len < np + ns + lo || len > np + ns + hi)
		return false;
	if (memcmp(name, prefix, np) != 0 || memcmp(name + len - ns, suffix, ns) != 0)
		return false;
	for (size_t i = np; i < len - ns; i++)
		if (!is_base32(name[i]))
			return false;
	*label = name + np;
	*n = len - np - ns;
	return true;
}

static bool label_looks_random(const char *label, size_t n)
{
	bool has_digit = false;
	int score = 0;

	for (size_t i = 0; i < n; i++) {
		char c = label[i];

		has_digit |= c < 'a';
		score += randomness_cbits[c >= 'a' ? c - 'a' : 26 + (c - '0')];
	}
	/* Thresholds chosen on simulated tor labels (uniform length 4..25: 5.8% missed) and
	 * on brand names: letters alone need a margin, since "dazn", "iflix" or "zoom" score
	 * positive by one rare letter. 81% of random labels of 8+ characters have a digit. */
	if (has_digit)
		return score > 0;
	return score > (n < 8 ? 400 : 100);
}

enum tt_tls_sni_class tt_tls_sni_classify(const char *sni, size_t len)
{
	const char *label;
	size_t n;

	if (!sni || !tor_name_shape(sni, len, "www.", ".com", 4, 25, &label, &n))
		return TT_TLS_SNI_OTHER;
	return label_looks_random(label, n) ? TT_TLS_SNI_TOR_RANDOM : TT_TLS_SNI_TOR_SHAPE;
}

bool tt_tls_sni_is_tor_like(const char *sni, size_t len)
{
	return tt_tls_sni_classify(sni, len) == TT_TLS_SNI_TOR_RANDOM;
}

bool tt_tls_groups_have_p224(const uint16_t *groups, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (groups[i] == 0x0015)
			return true;
	return false;
}

static bool is_tor_group(uint16_t g)
{
	switch (g) {
	case 0x0015: /* secp224r1 */
	case 0x0017: /* secp256r1 */
	case 0x001d: /* x25519 */
	case 0x11eb: /* SecP256r1MLKEM768 */
	case 0x11ec: /* X25519MLKEM768 */
		return true;
	default:
		return false;
	}
}

unsigned tt_tls_client_hello_tor_traits(const struct tt_tls_client_hello *ch)
{
	unsigned t = 0, n_groups = min_u(ch->n_groups, TT_TLS_MAX_GROUPS);
	bool is_subset = n_groups > 0;
	enum tt_tls_sni_class sni = TT_TLS_SNI_OTHER;

	if (!ch->has_alpn_ext)
		t |= TT_TLS_CH_NO_ALPN;
	if (tt_tls_groups_have_p224(ch->groups, n_groups))
		t |= TT_TLS_CH_P224;
	for (unsigned i = 0; i < n_groups; i++)
		is_subset &= is_tor_group(ch->groups[i]);
	if (is_subset)
		t |= TT_TLS_CH_TOR_GROUPS;
	if (ch->has_sni)
		sni = tt_tls_sni_classify(ch->sni, ch->sni_len);
	if (sni != TT_TLS_SNI_OTHER)
		t |= TT_TLS_CH_SNI_SHAPE;
	if (sni == TT_TLS_SNI_TOR_RANDOM)
		t |= TT_TLS_CH_SNI_RANDOM;
	if (ch->body_len == 508)
		t |= TT_TLS_CH_LEN_512;
	if (!ch->has_grease)
		t |= TT_TLS_CH_NO_GREASE;
	return t;
}

unsigned tt_tls_cert_tor_traits(const struct tt_tls_cert *c)
{
	const char *label;
	size_t n;
	unsigned t = 0;

	if (c->has_subject_cn && c->n_subject_attrs == 1 &&
	    tor_name_shape(c->subject_cn, c->subject_cn_len, "www.", ".net", 8, 20, &label, &n))
		t |= TT_TLS_CERT_SUBJECT_NAME;
	if (c->has_issuer_cn && c->n_issuer_attrs == 1 &&
	    tor_name_shape(c->issuer_cn, c->issuer_cn_len, "www.", ".com", 8, 20, &label, &n))
		t |= TT_TLS_CERT_ISSUER_NAME;
	if (!c->is_truncated && !c->has_extensions)
		t |= TT_TLS_CERT_NO_EXTENSIONS;
	if (c->has_validity) {
		int64_t life = c->not_after - c->not_before, rem = life % 86400;

		if (c->not_before % 86400 == 0)
			t |= TT_TLS_CERT_MIDNIGHT;
		/* router.c: a whole number of days in [5, 365], minus one second half the time */
		if ((rem == 0 || rem == 86399) && life >= 5 * 86400 - 1 && life <= 365 * 86400)
			t |= TT_TLS_CERT_LIFETIME;
	}
	if (c->serial_len == 8 || c->serial_len == 9)
		t |= TT_TLS_CERT_SERIAL_8;
	if (c->key_bits == 2048)
		t |= TT_TLS_CERT_RSA_2048;
	return t;
}

bool tt_tls_cert_is_tor_like(const struct tt_tls_cert *c)
{
	return (tt_tls_cert_tor_traits(c) & TT_TLS_CERT_ALL) == TT_TLS_CERT_ALL;
}

/* ---- cell framing ---------------------------------------------------------------------- */

int tt_tls_cell_overhead(uint16_t version, uint16_t cipher)
{
	if (version == 0x0304)
		return 17;
	if (version != 0x0303)
		return -1; /* TLS <= 1.1 only has CBC and RC4 here */
	switch (cipher) {
	case 0xcca8: /* ECDHE-RSA-CHACHA20-POLY1305 */
	case 0xcca9: /* ECDHE-ECDSA-CHACHA20-POLY1305 */
	case 0xccaa: /* DHE-RSA-CHACHA20-POLY1305 */
		return 16;
	case 0x009c:
	case 0x009d:
	case 0x009e:
	case 0x009f: /* RSA/DHE AES-GCM */
	case 0xc02b:
	case 0xc02c:
	case 0xc02f:
	case 0xc030: /* ECDHE AES-GCM */
	case 0xc09c:
	case 0xc09d:
	case 0xc09e:
	case 0xc09f: /* AES-CCM */
	case 0xc0ac:
	case 0xc0ad: /* ECDHE-ECDSA AES-CCM */
		return 24;
	default:
		return -1;
	}
}

int tt_tls_framing_of(uint16_t version, uint16_t cipher, struct tt_tls_framing *out)
{
	int fixed = tt_tls_cell_overhead(version, cipher);
	uint8_t iv = version >= 0x0302 ? 16 : 0, mac = 20;

	memset(out, 0, sizeof(*out));
	if (fixed > 0) {
		out->kind = TT_TLS_FRAMING_FIXED;
		out->fixed = (uint8_t)fixed;
		return 0;
	}
	if (version < 0x0300 || version > 0x0303)
		return -ENOENT;
	switch (cipher) {
	case 0x0004: /* RC4-MD5 */
	case 0x0005: /* RC4-SHA */
	case 0xc011: /* ECDHE-RSA-RC4-SHA */
	case 0xc007: /* ECDHE-ECDSA-RC4-SHA */
		out->kind = TT_TLS_FRAMING_FIXED;
		out->fixed = cipher == 0x0004 ? 16 : 20;
		out->has_512 = true;
		return 0;
	case 0x000a: /* DES-CBC3-SHA */
	case 0x0016: /* EDH-RSA-DES-CBC3-SHA */
	case 0xc012: /* ECDHE-RSA-DES-CBC3-SHA */
	case 0xc008: /* ECDHE-ECDSA-DES-CBC3-SHA */
		out->kind = TT_TLS_FRAMING_CBC;
		out->iv = version >= 0x0302 ? 8 : 0;
		out->mac = 20;
		out->block = 8;
		out->has_512 = true;
		return 0;
	case 0x002f: /* AES128-SHA */
	case 0x0033: /* DHE-RSA-AES128-SHA */
	case 0x0035: /* AES256-SHA */
	case 0x0039: /* DHE-RSA-AES256-SHA, tor's 2013 choice with old servers */
	case 0x0041: /* CAMELLIA128-SHA */
	case 0x0045:
	case 0x0084: /* CAMELLIA256-SHA */
	case 0x0088:
	case 0xc004:
	case 0xc005:
	case 0xc009: /* ECDHE-ECDSA-AES128-SHA */
	case 0xc00a: /* ECDHE-ECDSA-AES256-SHA */
	case 0xc00e:
	case 0xc00f:
	case 0xc013: /* ECDHE-RSA-AES128-SHA, tor.pcap 2013 */
	case 0xc014: /* ECDHE-RSA-AES256-SHA */
		break;
	case 0x003c: /* AES128-SHA256 */
	case 0x003d: /* AES256-SHA256 */
	case 0x0067: /* DHE-RSA-AES128-SHA256 */
	case 0x006b: /* DHE-RSA-AES256-SHA256 */
	case 0xc023: /* ECDHE-ECDSA-AES128-SHA256 */
	case 0xc027: /* ECDHE-RSA-AES128-SHA256 */
		mac = 32;
		break;
	case 0xc024: /* ECDHE-ECDSA-AES256-SHA384 */
	case 0xc028: /* ECDHE-RSA-AES256-SHA384 */
		mac = 48;
		break;
	default:
		return -ENOENT;
	}
	out->kind = TT_TLS_FRAMING_CBC;
	out->iv = iv;
	out->mac = mac;
	out->block = 16;
	out->has_512 = true;
	return 0;
}

int tt_tls_framing_cells(const struct tt_tls_framing *fr, uint32_t len)
{
	static const uint32_t cell[2] = {TT_TLS_CELL_LEN, TT_TLS_CELL_LEN - 2};
	uint32_t body, p_lo, p_hi;

	switch (fr->kind) {
	case TT_TLS_FRAMING_FIXED:
		if (len <= fr->fixed)
			return 0;
		p_lo = p_hi = len - fr->fixed;
		break;
	case TT_TLS_FRAMING_CBC:
		if (len < (uint32_t)fr->iv + fr->mac + 1u || (len - fr->iv) % fr->block != 0)
			return 0;
		body = len - fr->iv;
		/* OpenSSL pads to the next block: the plaintext is one of block values. */
		p_hi = body - fr->mac - 1;
		p_lo = body >= (uint32_t)fr->mac + fr->block ? body - fr->mac - fr->block : 0;
		if (p_lo == 0)
			return -1; /* an empty fragment */
		break;
	default:
		return 0;
	}
	for (unsigned c = 0; c < (fr->has_512 ? 2u : 1u); c++) {
		uint32_t n = p_hi / cell[c];

		/* 512 n with n a power of two is a power-of-two plaintext (1 KiB, ..., the
		 * full 16 KiB record), which every bulk transfer writes: not evidence. */
		if (c == 1 && n > 1 && (n & (n - 1)) == 0)
			continue;
		if (n >= 1 && n * cell[c] >= p_lo)
			return (int)n;
	}
	return 0;
}

static void count_record(
    struct tt_tls_cell_stats *out, struct tt_tls_cell_dir *st, unsigned *run, int cells)
{
	(void)out;
	if (cells < 0)
		return; /* an empty fragment */
	if (st->n_app < UINT8_MAX)
		st->n_app++;
	if (cells == 0) {
		*run = 0;
		return;
	}
	if (st->n_exact < UINT8_MAX)
		st->n_exact++;
	if (cells == 1 && st->n_single < UINT8_MAX)
		st->n_single++;
	(*run)++;
	if (*run > st->longest_run)
		st->longest_run = (uint8_t)(*run > UINT8_MAX ? UINT8_MAX : *run);
}

/* The plaintext of a record for the handshake landmarks (VERSIONS, the bundle): exact for
 * fixed overheads, the largest possible for CBC. */
static uint32_t plain_of(const struct tt_tls_framing *fr, uint32_t len)
{
	uint32_t ovh =
	    fr->kind == TT_TLS_FRAMING_FIXED ? fr->fixed : (uint32_t)fr->iv + fr->mac + 1;

	return len > ovh ? len - ovh : 0;
}

/* A VERSIONS cell: 11 bytes with 16-bit circuit ids in link protocol >= 3 (2 + 1 + 2 + 2n:
 * 11 for versions 3..5, 9 for two), or the plaintext a CBC record of it may hold. */
static bool is_versions_len(const struct tt_tls_framing *fr, uint32_t len, uint32_t *plain)
{
	if (fr->kind == TT_TLS_FRAMING_FIXED) {
		*plain = plain_of(fr, len);
		return *plain == 11 || *plain == 9;
	}
	for (uint32_t p = 9; p <= 11; p += 2) {
		uint32_t need = fr->iv + (p + fr->mac + 1 + fr->block - 1) / fr->block * fr->block;

		if (len == need) {
			*plain = p;
			return true;
		}
	}
	return false;
}

void tt_tls_cell_score(const struct tt_tls_rec_len *recs, unsigned n, uint16_t version,
    uint16_t cipher, struct tt_tls_cell_stats *out)
{
	unsigned run[2] = {0, 0}, phase = 0, n_phase, n_exact;
	bool is_post = version != 0x0304;
	const struct tt_tls_framing *fr = &out->framing;

	memset(out, 0, sizeof(*out));
	out->overhead = tt_tls_cell_overhead(version, cipher);
	if (tt_tls_framing_of(version, cipher, &out->framing) < 0)
		return;
	for (unsigned i = 0, n_seen = 0; i < n && n_seen < TT_TLS_CELL_WINDOW_RECS; i++) {
		const struct tt_tls_rec_len *r = &recs[i];
		uint32_t plain = plain_of(fr, r->len);
		int cells = r->type == 23 ? tt_tls_framing_cells(fr, r->len) : 0;

		/* The window: the flow's first records, TLS 1.0 empty fragments not counted. */
		if (!(r->type == 23 && cells < 0 && fr->kind == TT_TLS_FRAMING_CBC))
			n_seen++;
		if (r->type != 23)
			continue;
		if (!is_post) {
			/* TLS 1.3 encrypts the rest of the handshake in application-data
			 * records; the client's Finished is the last of them. */
			if (!r->is_server)
				is_post = true;
			continue;
		}
		if (!r->is_server) {
			uint32_t vplain;

			/* phase 0: before VERSIONS; 1: the record after it (NETINFO); 2: the
			 * cell phase. In TLS 1.0 CBC a VERSIONS cell (11 bytes) pads to the
			 * length of OpenSSL's empty fragments (32 bytes with SHA-1), which come
			 * before every record: such records keep phase 0. */
			if (phase == 0 && is_versions_len(fr, r->len, &vplain)) {
				out->has_versions = true;
				out->versions_len = (uint16_t)vplain;
				if (cells >= 0)
					phase = 1;
				continue;
			}
			if (cells < 0)
				continue; /* an empty fragment carries nothing */
			if (phase < 2 && out->has_versions) {
				out->next_client_len = (uint16_t)plain;
				out->has_netinfo = cells > 0;
				phase = 2;
				continue;
			}
			phase = 2;
			count_record(out, &out->dir[0], &run[0], cells);
			continue;
		}
		if (cells < 0)
			continue;
		if (out->has_versions && out->bundle_len == 0) {
			/* Before the bundle: TLS 1.3 session tickets, then the bundle. */
			if (plain >= 1024) {
				out->bundle_len = (uint16_t)plain;
				out->has_bundle = plain >= 1800 && plain <= 2400;
			}
			continue;
		}
		count_record(out, &out->dir[1], &run[1], cells);
	}
	n_phase = out->dir[0].n_app + out->dir[1].n_app;
	n_exact = out->dir[0].n_exact + out->dir[1].n_exact;
	out->is_d1 = out->has_versions && out->has_bundle;
	out->is_d2 = n_phase >= 3 && n_exact * 5 >= n_phase * 4;
}

bool tt_tls_cell_is_tor_like(const struct tt_tls_cell_stats *st)
{
	return st->is_d1 && st->is_d2;
}

/* ---- cell framing without the handshake ------------------------------------------- */

/* Ordered by how common the suite is today, so ties go to the likelier one. */
static const struct tt_tls_framing ms_framings[TT_TLS_MS_N_OVERHEADS] = {
    {.kind = TT_TLS_FRAMING_FIXED, .fixed = 17},
    {.kind = TT_TLS_FRAMING_FIXED, .fixed = 24},
    {.kind = TT_TLS_FRAMING_FIXED, .fixed = 16},
    {.kind = TT_TLS_FRAMING_FIXED, .fixed = 9},
    {.kind = TT_TLS_FRAMING_CBC, .iv = 0, .mac = 20, .block = 16, .has_512 = true},
    {.kind = TT_TLS_FRAMING_CBC, .iv = 16, .mac = 20, .block = 16, .has_512 = true},
    {.kind = TT_TLS_FRAMING_CBC, .iv = 16, .mac = 32, .block = 16, .has_512 = true},
};

const struct tt_tls_framing *tt_tls_midstream_framing(unsigned i)
{
	return i < TT_TLS_MS_N_OVERHEADS ? &ms_framings[i] : NULL;
}

int tt_tls_midstream_overhead(unsigned i)
{
	if (i >= TT_TLS_MS_N_OVERHEADS)
		return -1;
	return ms_framings[i].kind == TT_TLS_FRAMING_FIXED ? ms_framings[i].fixed : 0;
}

static uint8_t sat8(unsigned v)
{
	return (uint8_t)(v > UINT8_MAX ? UINT8_MAX : v);
}

/* D4 for one direction and one fixed overhead. The residue of the end of record i is
 * res[i + 1] (res[0] = 0, the start of the window). For each residue (tried once, at its
 * first end), the records covered are those of bursts of at most TT_TLS_BURST_MAX_RECS
 * records between consecutive ends on that residue. The records before its first end and
 * after its last one are excused up to TT_TLS_BURST_MAX_RECS each: the window starts and
 * ends inside a burst. *cover and *n_need (the records that had to be covered) come from
 * the residue with the best share; *n_lens: distinct lengths among the covered records
 * (up to TT_TLS_BURST_MIN_LENS). */
static void burst_cover(const uint16_t *lens, unsigned n, unsigned ovh, unsigned *cover_out,
    unsigned *need_out, unsigned *n_lens)
{
	uint16_t res[TT_TLS_FOLLOW_RECS + 1];
	uint32_t sum[TT_TLS_FOLLOW_RECS + 1]; /* plaintext bytes before each end */

	*cover_out = *n_lens = 0;
	*need_out = n;
	res[0] = 0;
	sum[0] = 0;
	for (unsigned i = 0; i < n; i++) {
		unsigned plain = lens[i] > ovh ? lens[i] - ovh : 0;

		res[i + 1] = (uint16_t)((res[i] + plain) % TT_TLS_CELL_LEN);
		sum[i + 1] = sum[i] + plain;
	}
	/* Quadratic in the worst case (257 x 257 short steps), once per flow at its end. */
	for (unsigned a = 0; a < n; a++) {
		unsigned cover = 0, last = a, k, need, head, tail;
		uint16_t seen[TT_TLS_BURST_MIN_LENS];
		unsigned n_seen = 0;
		bool is_tried = false;

		for (k = 0; k < a; k++)
			if (res[k] == res[a]) {
				is_tried = true;
				break;
			}
		if (is_tried)
			continue;
		for (k = a + 1; k <= n; k++) {
			if (res[k] != res[a])
				continue;
			/* A burst carries at least one whole cell: records no longer than the
			 * overhead (an echo of 1-8 byte writes) are bursts of zero cells, which
			 * any lengths make (tools/tls_negatives.py found 11 such echoes). */
			if (k - last <= TT_TLS_BURST_MAX_RECS &&
			    sum[k] - sum[last] >= TT_TLS_CELL_LEN) {
				cover += k - last;
				for (unsigned j = last; j < k && n_seen < TT_TLS_BURST_MIN_LENS;
				     j++) {
					bool is_new = true;

					for (unsigned q = 0; q < n_seen; q++)
						is_new &= seen[q] != lens[j];
					if (is_new)
						seen[n_seen++] = lens[j];
				}
			}
			last = k;
		}
		head = a < TT_TLS_BURST_MAX_RECS ? a : TT_TLS_BURST_MAX_RECS;
		tail = n - last < TT_TLS_BURST_MAX_RECS ? n - last : TT_TLS_BURST_MAX_RECS;
		need = n - head - tail;
		/* The better share; on a tie, more records covered, then more lengths. */
		if ((uint64_t)cover * *need_out > (uint64_t)*cover_out * need ||
		    ((uint64_t)cover * *need_out == (uint64_t)*cover_out * need &&
			(cover > *cover_out || n_seen > *n_lens))) {
			*cover_out = cover;
			*need_out = need;
			*n_lens = n_seen;
		}
	}
}

static void score_dir(const uint16_t *lens, unsigned n, struct tt_tls_midstream_dir *o)
{
	unsigned n_app[TT_TLS_MS_N_OVERHEADS] = {0}, fit[TT_TLS_MS_N_OVERHEADS] = {0},
		 single[TT_TLS_MS_N_OVERHEADS] = {0}, best = 0, best_cover = 0, best_lens = 0;
	bool is_blocky = true;

	memset(o, 0, sizeof(*o));
	for (unsigned i = 0; i < n; i++) {
		for (unsigned j = 0; j < TT_TLS_MS_N_OVERHEADS; j++) {
			int c = tt_tls_framing_cells(&ms_framings[j], lens[i]);

			if (c < 0)
				continue; /* an empty fragment under this framing */
			n_app[j]++;
			if (c > 0)
				fit[j]++;
			if (c == 1)
				single[j]++;
		}
	}
	/* The framing with the largest fitting share (first of equals). */
	for (unsigned j = 1; j < TT_TLS_MS_N_OVERHEADS; j++)
		if ((uint64_t)fit[j] * (n_app[best] ? n_app[best] : 1) >
		    (uint64_t)fit[best] * (n_app[j] ? n_app[j] : 1))
			best = j;
	o->n_app = sat8(n_app[best] ? n_app[best] : n);
	if (fit[best] > 0) {
		o->n_fit = sat8(fit[best]);
		o->n_single = sat8(single[best]);
		o->overhead =
		    ms_framings[best].kind == TT_TLS_FRAMING_FIXED ? ms_framings[best].fixed : 0;
		o->framing = (uint8_t)(best + 1);
	}
	o->is_d3 = n_app[best] >= TT_TLS_MS_MIN_RECS &&
		   fit[best] * 100u >= n_app[best] * (unsigned)TT_TLS_MS_MIN_FIT_PCT;
	/* D4's arithmetic holds for AEAD records only. An AES-CBC suite pads each record to
	 * its 16-byte block (and TLS 1.1+ adds a 16-byte IV): every length is a multiple of
	 * 16, which AEAD records of varied plaintexts are by chance with p = 1/16 each, so 16
	 * of them are not. Not 8: tor's TLS 1.2 GCM bursts (4,048-byte plaintexts and cell
	 * remainders, + 24) are all multiples of 8. 3DES-CBC (8-byte blocks) is left in:
	 * tor last used it in 2013, where D4 does not fire. */
	for (unsigned i = 0; i < n && is_blocky; i++)
		is_blocky = lens[i] % 16 == 0;
	if (n >= TT_TLS_BURST_MIN_RECS && !is_blocky) {
		unsigned best_need = n;

		for (unsigned j = 0; j < TT_TLS_BURST_N_OVERHEADS; j++) {
			unsigned n_lens, c, need;

			burst_cover(lens, n, ms_framings[j].fixed, &c, &need, &n_lens);
			if (c < TT_TLS_BURST_MIN_RECS || n_lens < TT_TLS_BURST_MIN_LENS)
				continue;
			if ((uint64_t)c * best_need > (uint64_t)best_cover * need) {
				best_cover = c;
				best_need = need;
				best_lens = n_lens;
			}
		}
		o->n_burst = sat8(best_cover);
		o->n_lens = (uint8_t)best_lens;
		o->is_d4 = best_cover >= TT_TLS_BURST_MIN_RECS &&
			   best_cover * 100u >= best_need * (unsigned)TT_TLS_BURST_MIN_PCT;
	}
}

void tt_tls_midstream_score_lens(
    const uint16_t *const lens[2], const unsigned n[2], struct tt_tls_midstream_stats *out)
{
	bool is_fire[2];

	memset(out, 0, sizeof(*out));
	out->best_dir = -1;
	for (unsigned d = 0; d < 2; d++) {
		score_dir(lens[d], n[d], &out->dir[d]);
		is_fire[d] = out->dir[d].is_d3;
		out->is_bursts |= out->dir[d].is_d4;
	}
	out->is_tor_like = is_fire[0] || is_fire[1];
	/* The firing direction; else (both or neither) the larger fitting share. */
	if (is_fire[0] != is_fire[1])
		out->best_dir = is_fire[0] ? 0 : 1;
	else if (n[0] > 0 && n[1] > 0)
		out->best_dir = (unsigned)out->dir[1].n_fit * out->dir[0].n_app >
					(unsigned)out->dir[0].n_fit * out->dir[1].n_app
				    ? 1
				    : 0;
	else if (n[0] > 0 || n[1] > 0)
		out->best_dir = n[0] > 0 ? 0 : 1;
}

void tt_tls_midstream_score(
    const struct tt_tls_rec_len *recs, unsigned n, struct tt_tls_midstream_stats *out)
{
	uint16_t buf[2][TT_TLS_FOLLOW_RECS];
	unsigned cnt[2] = {0, 0};
	const uint16_t *lens[2] = {buf[0], buf[1]};

	for (unsigned i = 0; i < n; i++) {
		unsigned d = recs[i].is_server ? 1 : 0;

		if (recs[i].type == 23 && cnt[d] < TT_TLS_FOLLOW_RECS)
			buf[d][cnt[d]++] = recs[i].len;
	}
	tt_tls_midstream_score_lens(lens, cnt, out);
}

bool tt_tls_midstream_is_tor_like(const struct tt_tls_midstream_stats *st)
{
	return st->is_tor_like;
}

/* ---- fingerprint table ----------------------------------------------------------------- */

static bool is_hex_lower(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static bool is_ja4(const char *s, size_t n)
{
	/* t13d1516h2_8daaf6152771_b0da82dd1658 */
	if (n != 36 || s[10] != '_' || s[23] != '_')
		return false;
	if (s[0] != 't' && s[0] != 'q' && s[0] != 'd')
		return false;
	for (size_t i = 1; i < 10; i++)
		if (!is_alnum((uint8_t)s[i]))
			return false;
	return is_hex_lower(s + 11, 12) && is_hex_lower(s + 24, 12);
}

/* Copy field [p, p + n) into dst (size cap), cutting it if longer. */
static void copy_field(char *dst, size_t cap, const char *p, size_t n)
{
	if (n >= cap)
		n = cap - 1;
	memcpy(dst, p, n);
	dst[n] = '\0';
}

static bool is_date(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (i == 4 || i == 7 ? s[i] != '-' : s[i] < '0' || s[i] > '9')
			return false;
	return n == 4 || n == 10;
}

/* One entry: 5 fields in format v1, 6 in v2 (the capture date before the source). */
static int parse_fp_line(struct tt_tls_fp *fp, const char *p, size_t n, unsigned version)
{
	const char *f[6];
	size_t fl[6], k = 0, start = 0, want = version == 1 ? 5 : 6;

	for (size_t i = 0; i <= n && k < want; i++) {
		if (i == n || p[i] == '\t') {
			f[k] = p + start;
			fl[k++] = i - start;
			start = i + 1;
		}
	}
	if (k != want || start <= n)
		return -EBADMSG; /* fewer or more fields */
	if (fl[0] == 3 && memcmp(f[0], "ja3", 3) == 0) {
		if (fl[1] != 32 || !is_hex_lower(f[1], 32))
			return -EBADMSG;
	} else if (fl[0] == 4 && memcmp(f[0], "ja3s", 4) == 0) {
		if (fl[1] != 32 || !is_hex_lower(f[1], 32))
			return -EBADMSG;
	} else if (fl[0] == 3 && memcmp(f[0], "ja4", 3) == 0) {
		if (!is_ja4(f[1], fl[1]))
			return -EBADMSG;
	} else {
		return -EBADMSG;
	}
	for (unsigned i = 2; i < want; i++)
		if (fl[i] == 0)
			return -EBADMSG;
	if (want == 6 && !is_date(f[4], fl[4]))
		return -EBADMSG;
	copy_field(fp->kind, sizeof(fp->kind), f[0], fl[0]);
	copy_field(fp->value, sizeof(fp->value), f[1], fl[1]);
	copy_field(fp->tor_version, sizeof(fp->tor_version), f[2], fl[2]);
	copy_field(fp->tls_library, sizeof(fp->tls_library), f[3], fl[3]);
	if (want == 6)
		copy_field(fp->captured, sizeof(fp->captured), f[4], fl[4]);
	else
		fp->captured[0] = '\0';
	copy_field(fp->source, sizeof(fp->source), f[want - 1], fl[want - 1]);
	return 0;
}

int tt_tls_fp_table_parse(
    struct tt_tls_fp_table *t, const char *text, size_t len, unsigned *bad_line)
{
	static const char magic[] = "# tortrace tor-fingerprints v";
	size_t pos = 0;
	unsigned line = 0;

	memset(t, 0, sizeof(*t));
	while (pos < len) {
		size_t end = pos, n;
		const char *p = text + pos;
		int rc;

		while (end < len && text[end] != '\n')
			end++;
		n = end - pos;
		if (n > 0 && p[n - 1] == '\r')
			n--;
		pos = end + 1;
		line++;
		if (line == 1) {
			unsigned v = 0;
			size_t i = sizeof(magic) - 1;

			if (n <= i || memcmp(p, magic, i) != 0)
				goto bad;
			for (; i < n && p[i] >= '0' && p[i] <= '9' && v < 1000; i++)
				v = v * 10 + (unsigned)(p[i] - '0');
			if (i != n || v == 0)
				goto bad;
			if (v != 1 && v != 2) {
				if (bad_line)
					*bad_line = line;
				return -ENOTSUP;
			}
			t->format_version = v;
			continue;
		}
		if (n == 0 || p[0] == '#')
			continue;
		if (t->n == TT_TLS_FP_MAX) {
			if (bad_line)
				*bad_line = line;
			return -ENOSPC;
		}
		rc = parse_fp_line(&t->fp[t->n], p, n, t->format_version);
		if (rc < 0)
			goto bad;
		t->n++;
	}
	if (line == 0)
		goto bad;
	return 0;
bad:
	if (bad_line)
		*bad_line = line == 0 ? 1 : line;
	return -EBADMSG;
}

const struct tt_tls_fp *tt_tls_fp_table_find(
    const struct tt_tls_fp_table *t, const char *kind, const char *value)
{
	for (unsigned i = 0; i < t->n; i++)
		if (strcmp(t->fp[i].kind, kind) == 0 && strcmp(t->fp[i].value, value) == 0)
			return &t->fp[i];
	return NULL;
}

/* ---- one flow ---------------------------------------------------------------------- */

void tt_tls_flow_init(struct tt_tls_flow *f)
{
	for (unsigned d = 0; d < 2; d++) {
		tt_tls_stream_init(&f->st[d]);
		tt_tls_hs_init(&f->hs[d]);
	}
	f->n_recs = 0;
	f->n_app[0] = f->n_app[1] = 0;
	f->n_restarts[0] = f->n_restarts[1] = 0;
	f->is_keep_bytes = false;
	f->has_ch = f->has_sh = f->has_cert = false;
	f->is_ch_bad = f->is_sh_bad = f->is_cert_bad = false;
}

void tt_tls_flow_init_midstream(struct tt_tls_flow *f)
{
	tt_tls_flow_init(f);
	f->st[0].flags |= TT_TLS_STREAM_RESYNC;
	f->st[1].flags |= TT_TLS_STREAM_RESYNC;
}

static void flow_message(struct tt_tls_flow *f, bool is_server, const struct tt_tls_hs_msg *m)
{
	if (!is_server && m->type == 1 && !f->has_ch) {
		f->has_ch = true;
		f->is_ch_bad = tt_tls_parse_client_hello(m->body, m->len, &f->ch) < 0;
	} else if (is_server && m->type == 2 && !f->has_sh) {
		f->has_sh = true;
		f->is_sh_bad = tt_tls_parse_server_hello(m->body, m->len, &f->sh) < 0;
	} else if (is_server && m->type == 11 && !f->has_cert) {
		/* TLS 1.3 certificates are encrypted and never reach here. */
		f->has_cert = true;
		f->is_cert_bad = tt_tls_parse_certificate(m->body, m->len, &f->cert) < 0;
	}
}

/* Keep a record's length for the framing tests. */
static void flow_record(struct tt_tls_flow *f, unsigned d, const struct tt_tls_record *r)
{
	if (f->n_recs < TT_TLS_CELL_MAX_RECS)
		f->recs[f->n_recs++] = (struct tt_tls_rec_len){
		    .len = r->length, .type = r->type, .is_server = (uint8_t)d};
	if (r->type == 23 && f->n_app[d] < TT_TLS_FOLLOW_RECS)
		f->app_lens[d][f->n_app[d]++] = r->length;
}

/* A direction of a flow seen without its start may lose data (a capture that dropped
 * packets, a file of a rotated set missing): the header follower stops at the first
 * header it cannot read, and a buffer that never synchronised waits for bytes that will
 * not come. Either is restarted on the segment at hand, resynchronising as at a mid-stream
 * start, with an empty window (records on both sides of a gap are not one burst
 * sequence). A flow that showed its handshake is never restarted: its D1/D2 window is
 * read before any later loss matters. */
#define TT_TLS_MAX_RESTARTS 4

static bool may_restart(const struct tt_tls_flow *f, unsigned d)
{
	const struct tt_tls_stream *s = &f->st[d];

	return f->n_restarts[d] < TT_TLS_MAX_RESTARTS && f->n_app[d] < TT_TLS_FOLLOW_RECS &&
	       ((s->flags & TT_TLS_STREAM_RESYNC) ||
		   ((s->flags & TT_TLS_STREAM_MIDSTREAM) && !f->has_ch && !f->has_sh));
}

static void restart(struct tt_tls_flow *f, unsigned d)
{
	tt_tls_stream_init(&f->st[d]);
	f->st[d].flags = TT_TLS_STREAM_RESYNC;
	f->n_app[d] = 0;
	f->n_restarts[d]++;
}

void tt_tls_flow_add(struct tt_tls_flow *f, bool is_server, uint32_t seq, const uint8_t *payload,
    uint32_t len, bool is_syn)
{
	unsigned d = is_server ? 1 : 0;
	struct tt_tls_stream *s = &f->st[d];
	struct tt_tls_record r;
	struct tt_tls_hs_msg m;

	if (s->flags & TT_TLS_STREAM_FOLLOW) {
		int rc = 0;

		while (f->n_app[d] < TT_TLS_FOLLOW_RECS &&
		       (rc = tt_tls_stream_follow(s, seq, payload, len, &r)) == 1)
			flow_record(f, d, &r);
		if (rc >= 0 || !may_restart(f, d))
			return;
		restart(f, d); /* this segment starts the new stream */
	} else if ((s->flags & TT_TLS_STREAM_RESYNC) && !(s->flags & TT_TLS_STREAM_SYNCED) &&
		   s->has_base && len > 0 && s->len < TT_TLS_STREAM_CAP &&
		   (int32_t)(seq - s->base_seq) >= (int32_t)TT_TLS_STREAM_CAP &&
		   may_restart(f, d)) {
		restart(f, d); /* data went past a hole the buffer waits on */
	}
	if (tt_tls_stream_add(s, seq, payload, len, is_syn) == 0)
		return;
	while (tt_tls_stream_next_record(s, &r) == 1) {
		flow_record(f, d, &r);
		tt_tls_hs_feed(&f->hs[d], &r);
		/* A record cut by the end of the full buffer: the next header is past it. */
		if (r.is_truncated)
			s->walk_off = r.offset + 5 + r.length;
	}
	while (tt_tls_hs_next(&f->hs[d], &m) == 1)
		flow_message(f, is_server, &m);
	/* Once a direction is encrypted only record headers matter: stop copying its bytes
	 * and follow the headers (the walker has read every complete record buffered; after
	 * a restart, not before the resync found a boundary). The segment just added may
	 * reach past the buffer, so it is followed too. */
	if (f->hs[d].is_encrypted && !f->is_keep_bytes &&
	    !(s->flags & (TT_TLS_STREAM_NOT_TLS | TT_TLS_STREAM_FOLLOW)) &&
	    (s->flags & (TT_TLS_STREAM_RESYNC | TT_TLS_STREAM_SYNCED)) != TT_TLS_STREAM_RESYNC &&
	    (s->walk_off <= s->len || s->len == TT_TLS_STREAM_CAP)) {
		tt_tls_stream_start_follow(s);
		while (f->n_app[d] < TT_TLS_FOLLOW_RECS &&
		       tt_tls_stream_follow(s, seq, payload, len, &r) == 1)
			flow_record(f, d, &r);
	}
}

static bool dir_is_done(const struct tt_tls_flow *f, unsigned d)
{
	return tt_tls_stream_is_done(&f->st[d]) ||
	       ((f->st[d].flags & TT_TLS_STREAM_FOLLOW) && f->n_app[d] >= TT_TLS_FOLLOW_RECS);
}

bool tt_tls_flow_is_done(const struct tt_tls_flow *f)
{
	if (dir_is_done(f, 0) && dir_is_done(f, 1))
		return true;
	return f->n_recs == TT_TLS_CELL_MAX_RECS && f->has_ch && f->has_sh;
}

unsigned tt_tls_flow_records_wanted(const struct tt_tls_flow *f)
{
	struct tt_tls_framing fr;

	if (f->has_sh && tt_tls_framing_of(f->sh.version, f->sh.cipher, &fr) == 0 &&
	    fr.kind == TT_TLS_FRAMING_CBC)
		return TT_TLS_CELL_MAX_RECS;
	return TT_TLS_CELL_WINDOW_RECS;
}

bool tt_tls_flow_midstream_is_done(const struct tt_tls_flow *f)
{
	if (!(f->st[0].flags & TT_TLS_STREAM_RESYNC))
		return false;
	return dir_is_done(f, 0) && dir_is_done(f, 1);
}
