/* Capture file formats: classic pcap (both byte orders, µs and ns) and pcapng (sections
 * of either byte order, several interfaces each with its own link type, snap length and
 * timestamp resolution; EPB, SPB and the obsolete PB; other blocks skipped).
 *
 * Every length read from the file is checked against the bytes that are there before it
 * is used. Errors say what was wrong and at which byte offset (of the decompressed
 * stream for compressed files).
 */
#include "reader.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Largest record accepted when it also exceeds the snap length: libpcap's and
 * Wireshark's limit for ordinary link types. */
#define MAX_SANE_CAPLEN (256u * 1024)
/* Largest pcapng block accepted (Wireshark's limit is of the same order): packet and
 * interface blocks are buffered whole, others are skipped in pieces. */
#define MAX_BLOCK       (64u << 20)

#define PCAPNG_SHB 0x0A0D0D0Au
#define PCAPNG_IDB 1u
#define PCAPNG_PB  2u
#define PCAPNG_SPB 3u
#define PCAPNG_EPB 6u
#define PCAPNG_BOM 0x1A2B3C4Du

static inline uint32_t rd32(const struct tt_capture *c, const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return c->is_swapped ? __builtin_bswap32(v) : v;
}

static inline uint16_t rd16(const struct tt_capture *c, const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, 2);
	return c->is_swapped ? __builtin_bswap16(v) : v;
}

static int bad(struct tt_capture *c, uint64_t off, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int bad(struct tt_capture *c, uint64_t off, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
	c->err_off = off;
	return rc;
}

/* A failure of the byte source (read error, corrupt or cut compressed data) as a capture
 * error, at the offset where the source failed. */
static int src_bad(struct tt_capture *c, struct tt_source *s, int rc)
{
	c->is_source_err = true;
	return bad(c, s->err_off, rc, "%s", s->err);
}

/* tt_source_need() with the error turned into a capture error. */
static int need(struct tt_capture *c, struct tt_source *s, size_t n, const char *what)
{
	int rc = tt_source_need(s, n);

	if (rc < 0)
		return src_bad(c, s, rc);
	if (rc > 0)
		return bad(c, s->off, -EBADMSG, "%s: truncated (%zu of %zu bytes)", what,
		    (size_t)(s->end - s->p), n);
	return 0;
}

const char *tt_format_name(int format)
{
	switch (format) {
	case TT_FMT_PCAP:
		return "pcap";
	case TT_FMT_PCAP_NS:
		return "pcap-ns";
	case TT_FMT_PCAPNG:
		return "pcapng";
	default:
		return "unknown";
	}
}

static struct tt_iface *add_iface(struct tt_capture *c)
{
	if (c->n_ifaces == c->cap_ifaces) {
		uint32_t n = c->cap_ifaces ? 2 * c->cap_ifaces : 4;
		struct tt_iface *p = realloc(c->ifaces, n * sizeof(*p));

		if (!p)
			return NULL;
		c->ifaces = p;
		c->cap_ifaces = n;
	}
	return &c->ifaces[c->n_ifaces++];
}

static int open_pcap(struct tt_capture *c, struct tt_source *s, uint32_t magic)
{
	struct tt_iface *ifc;
	const uint8_t *h;
	int rc = need(c, s, 24, "pcap file header");

	if (rc < 0)
		return rc;
	h = s->p;
	c->is_swapped = magic == 0xd4c3b2a1u || magic == 0x4d3cb2a1u;
	c->format = (magic == 0xa1b23c4du || magic == 0x4d3cb2a1u) ? TT_FMT_PCAP_NS : TT_FMT_PCAP;
	c->has_sub_us_ts = c->format == TT_FMT_PCAP_NS;
	c->is_big_endian = c->is_swapped == (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__);
	c->n_ifaces = 0;
	ifc = add_iface(c);
	if (!ifc)
		return bad(c, 0, -ENOMEM, "out of memory");
	/* The upper bits of the link type field carry FCS info (pcap-savefile(5)). */
	ifc->linktype = rd32(c, h + 20) & 0x03ffffffu;
	ifc->snaplen = rd32(c, h + 16);
	ifc->ts_mul = 1;
	ifc->ts_div = 1;
	ifc->ts_offset_s = 0;
	tt_source_skip(s, 24);
	return 0;
}

static int next_pcap(struct tt_capture *c, struct tt_source *s, struct tt_frame *f)
{
	const struct tt_iface *ifc = &c->ifaces[0];
	uint64_t off = s->off;
	uint32_t caplen, sec, frac;
	int rc = tt_source_need(s, 16);

	if (rc < 0)
		return src_bad(c, s, rc);
	if (rc > 0) {
		if (s->end == s->p)
			return 0;
		return bad(c, off, -EBADMSG, "truncated record header (%zu of 16 bytes)",
		    (size_t)(s->end - s->p));
	}
	sec = rd32(c, s->p);
	frac = rd32(c, s->p + 4);
	caplen = rd32(c, s->p + 8);
	f->wirelen = rd32(c, s->p + 12);
	if (caplen > ifc->snaplen && ifc->snaplen != 0) {
		if (caplen > MAX_SANE_CAPLEN)
			return bad(c, off, -EBADMSG,
			    "record length %u is larger than the snap length %u", caplen,
			    ifc->snaplen);
		c->n_caplen_over_snaplen++;
	} else if (caplen > MAX_SANE_CAPLEN * 4) {
		return bad(c, off, -EBADMSG, "record length %u is not plausible", caplen);
	}
	rc = tt_source_need(s, 16 + (size_t)caplen);
	if (rc < 0)
		return src_bad(c, s, rc);
	if (rc > 0)
		return bad(c, off, -EBADMSG,
		    "truncated record: %u bytes announced, %zu left in the file", caplen,
		    (size_t)(s->end - s->p) - 16);
	f->data = s->p + 16;
	f->caplen = caplen;
	f->linktype = ifc->linktype;
	if (c->format == TT_FMT_PCAP_NS)
		f->ts_ns = (uint64_t)sec * 1000000000u + frac;
	else
		f->ts_ns = (uint64_t)sec * 1000000000u + (uint64_t)frac * 1000u;
	tt_source_skip(s, 16 + (size_t)caplen);
	return 1;
}

/* ---- pcapng ------------------------------------------------------------------------- */

static int parse_shb(struct tt_capture *c, struct tt_source *s)
{
	uint64_t off = s->off;
	uint32_t bom, len;
	int rc = need(c, s, 28, "pcapng section header");

	if (rc < 0)
		return rc;
	memcpy(&bom, s->p + 8, 4);
	if (bom == PCAPNG_BOM)
		c->is_swapped = false;
	else if (bom == __builtin_bswap32(PCAPNG_BOM))
		c->is_swapped = true;
	else
		return bad(c, off + 8, -EBADMSG, "pcapng section header: bad byte-order magic");
	c->is_big_endian = c->is_swapped == (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__);
	len = rd32(c, s->p + 4);
	if (len < 28 || len % 4 != 0)
		return bad(c, off + 4, -EBADMSG, "pcapng section header: bad length %u", len);
	if (rd16(c, s->p + 12) != 1)
		return bad(c, off + 12, -EBADMSG, "pcapng section header: unsupported version %u",
		    rd16(c, s->p + 12));
	if (len > MAX_BLOCK)
		return bad(c, off + 4, -EBADMSG, "pcapng section header: length %u too large", len);
	/* Nothing after the fixed part is used (options): skip it without buffering. */
	rc = tt_source_discard(s, len);
	if (rc < 0)
		return src_bad(c, s, rc);
	if (rc > 0)
		return bad(
		    c, off, -EBADMSG, "pcapng section header: truncated (%u bytes announced)", len);
	c->n_ifaces = 0; /* interfaces belong to their section */
	return 0;
}

static int parse_idb(struct tt_capture *c, const uint8_t *b, uint32_t len, uint64_t off)
{
	struct tt_iface *ifc;
	uint32_t pos = 16;

	if (len < 20)
		return bad(c, off, -EBADMSG, "pcapng interface block too short (%u bytes)", len);
	ifc = add_iface(c);
	if (!ifc)
		return bad(c, off, -ENOMEM, "out of memory");
	ifc->linktype = rd16(c, b + 8);
	ifc->snaplen = rd32(c, b + 12);
	ifc->ts_mul = 1000; /* default resolution: microseconds */
	ifc->ts_div = 1;
	ifc->ts_offset_s = 0;
	while (pos + 4 <= len - 4) {
		uint16_t code = rd16(c, b + pos), olen = rd16(c, b + pos + 2);

		if (code == 0 || pos + 4 + olen > len - 4)
			break;
		if (code == 9 && olen >= 1) { /* if_tsresol */
			uint8_t r = b[pos + 4];
			uint64_t units = 1;

			if (r & 0x80) {
				if ((r & 0x7f) > 50)
					return bad(c, off, -EBADMSG, "if_tsresol 2^-%u", r & 0x7f);
				units = 1ull << (r & 0x7f);
			} else {
				if (r > 19)
					return bad(c, off, -EBADMSG, "if_tsresol 10^-%u", r);
				for (unsigned i = 0; i < r; i++)
					units *= 10;
			}
			if (units > 1000000000000000ull)
				return bad(c, off, -EBADMSG, "if_tsresol finer than 1e-15 s");
			/* ns = ts * 1e9 / units, kept as an exact fraction where possible */
			if (units <= 1000000000u && 1000000000u % units == 0) {
				ifc->ts_mul = 1000000000u / units;
				ifc->ts_div = 1;
			} else {
				/* 2^-n, or finer than 1 ns: reduce 1e9 / units. */
				uint64_t a = 1000000000u, m = units;

				while (m) {
					uint64_t t = a % m;

					a = m;
					m = t;
				}
				ifc->ts_mul = 1000000000u / a;
				ifc->ts_div = units / a;
			}
		} else if (code == 14 && olen == 8) { /* if_tsoffset */
			uint64_t v;

			memcpy(&v, b + pos + 4, 8);
			ifc->ts_offset_s = (int64_t)(c->is_swapped ? __builtin_bswap64(v) : v);
		}
		pos += 4 + ((olen + 3u) & ~3u);
	}
	if (ifc->ts_mul < 1000 * ifc->ts_div) /* a unit shorter than 1 us */
		c->has_sub_us_ts = true;
	return 0;
}

/* Timestamp units of an interface → Unix nanoseconds. False when the result is not in
 * [0, 2^64) ns (before 1970 through if_tsoffset, or after 2554): the products are taken
 * in 128 bits, so nothing wraps on the way. */
__extension__ typedef __int128 i128;
__extension__ typedef unsigned __int128 u128;

static bool iface_ts(const struct tt_iface *ifc, uint64_t units, uint64_t *ns)
{
	i128 t;

	if (ifc->ts_div == 1 && ifc->ts_offset_s == 0)
		return !__builtin_mul_overflow(units, ifc->ts_mul, ns);
	t = (i128)((u128)units * ifc->ts_mul / ifc->ts_div);
	t += (i128)ifc->ts_offset_s * 1000000000;
	if (t < 0 || t > (i128)UINT64_MAX)
		return false;
	*ns = (uint64_t)t;
	return true;
}

static int next_pcapng(struct tt_capture *c, struct tt_source *s, struct tt_frame *f)
{
	for (;;) {
		uint64_t off = s->off;
		uint32_t type, len, caplen, ifid;
		const uint8_t *b;
		const struct tt_iface *ifc;
		int rc = tt_source_need(s, 12);

		if (rc < 0)
			return src_bad(c, s, rc);
		if (rc > 0) {
			if (s->end == s->p)
				return 0;
			return bad(c, off, -EBADMSG, "truncated pcapng block header");
		}
		memcpy(&type, s->p, 4); /* the SHB type reads the same in both orders */
		if (type == PCAPNG_SHB) {
			rc = parse_shb(c, s);
			if (rc < 0)
				return rc;
			continue;
		}
		type = rd32(c, s->p);
		len = rd32(c, s->p + 4);
		if (len < 12 || len % 4 != 0)
			return bad(
			    c, off + 4, -EBADMSG, "pcapng block type %u: bad length %u", type, len);
		if (len > MAX_BLOCK)
			return bad(c, off + 4, -EBADMSG,
			    "pcapng block type %u: length %u too large", type, len);
		if (type != PCAPNG_IDB && type != PCAPNG_EPB && type != PCAPNG_PB &&
		    type != PCAPNG_SPB) {
			/* NRB, ISB, DSB, custom, unknown: not used, skipped in pieces (a
			 * streamed source would otherwise buffer the whole block). */
			rc = tt_source_discard(s, len - 4);
			if (rc == 0)
				rc = tt_source_need(s, 4);
			if (rc < 0)
				return src_bad(c, s, rc);
			if (rc > 0)
				return bad(c, off, -EBADMSG,
				    "truncated pcapng block: %u bytes announced", len);
			if (rd32(c, s->p) != len)
				return bad(c, off + len - 4, -EBADMSG,
				    "pcapng block type %u: trailing length does not match", type);
			tt_source_skip(s, 4);
			continue;
		}
		rc = tt_source_need(s, len);
		if (rc < 0)
			return src_bad(c, s, rc);
		if (rc > 0)
			return bad(c, off, -EBADMSG,
			    "truncated pcapng block: %u bytes announced, %zu left", len,
			    (size_t)(s->end - s->p));
		b = s->p;
		if (rd32(c, b + len - 4) != len)
			return bad(c, off + len - 4, -EBADMSG,
			    "pcapng block type %u: trailing length does not match", type);
		switch (type) {
		case PCAPNG_IDB:
			rc = parse_idb(c, b, len, off);
			if (rc < 0)
				return rc;
			tt_source_skip(s, len);
			continue;
		case PCAPNG_EPB:
		case PCAPNG_PB:
			if (len < 32)
				return bad(
				    c, off, -EBADMSG, "packet block too short (%u bytes)", len);
			ifid = type == PCAPNG_EPB ? rd32(c, b + 8) : rd16(c, b + 8);
			caplen = rd32(c, b + 20);
			f->wirelen = rd32(c, b + 24);
			if (ifid >= c->n_ifaces)
				return bad(c, off + 8, -EBADMSG,
				    "packet block names interface %u, but only %u are defined",
				    ifid, c->n_ifaces);
			if (caplen > len - 32)
				return bad(c, off + 20, -EBADMSG,
				    "packet block: captured length %u exceeds the block (%u bytes)",
				    caplen, len);
			ifc = &c->ifaces[ifid];
			if (!iface_ts(ifc, ((uint64_t)rd32(c, b + 12) << 32) | rd32(c, b + 16),
				&f->ts_ns))
				return bad(c, off + 12, -EBADMSG,
				    "packet block: timestamp out of range (units %" PRIu64
				    ", if_tsoffset %" PRId64 " s)",
				    ((uint64_t)rd32(c, b + 12) << 32) | rd32(c, b + 16),
				    ifc->ts_offset_s);
			f->data = b + 28;
			break;
		case PCAPNG_SPB:
			if (len < 16)
				return bad(c, off, -EBADMSG, "simple packet block too short");
			if (c->n_ifaces == 0)
				return bad(
				    c, off, -EBADMSG, "simple packet block before any interface");
			ifc = &c->ifaces[0];
			f->wirelen = rd32(c, b + 8);
			caplen = f->wirelen;
			if (ifc->snaplen && caplen > ifc->snaplen)
				caplen = ifc->snaplen;
			if (caplen > len - 16)
				caplen = len - 16;
			f->ts_ns = 0;
			f->data = b + 12;
			break;
		default:
			TT_BUG_ON(true); /* other blocks were skipped above */
			continue;
		}
		if (ifc->snaplen && caplen > ifc->snaplen)
			c->n_caplen_over_snaplen++;
		f->caplen = caplen;
		f->linktype = ifc->linktype;
		tt_source_skip(s, len);
		return 1;
	}
}

int tt_capture_open(struct tt_capture *c, struct tt_source *s)
{
	uint32_t magic;
	int rc;

	memset(c, 0, sizeof(*c));
	c->format = -1;
	rc = tt_source_need(s, 4);
	if (rc < 0)
		return src_bad(c, s, rc);
	if (rc > 0)
		return bad(
		    c, 0, -EBADMSG, "not a capture file: only %zu bytes", (size_t)(s->end - s->p));
	memcpy(&magic, s->p, 4);
	switch (magic) {
	case 0xa1b2c3d4u:
	case 0xd4c3b2a1u:
	case 0xa1b23c4du:
	case 0x4d3cb2a1u:
		return open_pcap(c, s, magic);
	case PCAPNG_SHB:
		c->format = TT_FMT_PCAPNG;
		return parse_shb(c, s);
	default:
		return bad(c, 0, -EBADMSG,
		    "not a capture file (magic %02x %02x %02x %02x is neither pcap nor pcapng)",
		    s->p[0], s->p[1], s->p[2], s->p[3]);
	}
}

int tt_capture_next(struct tt_capture *c, struct tt_source *s, struct tt_frame *f)
{
	return c->format == TT_FMT_PCAPNG ? next_pcapng(c, s, f) : next_pcap(c, s, f);
}

void tt_capture_close(struct tt_capture *c)
{
	free(c->ifaces);
	c->ifaces = NULL;
	c->n_ifaces = c->cap_ifaces = 0;
}
