/* Parsers of relay documents: consensus (ns, microdesc), TorDNSEL exit lists, plain
 * address lists. They read a byte buffer and report entries through callbacks, so the
 * index (relays.c) and a fuzzer can drive them alike. */
#include "relays.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#define NS_PER_S 1000000000ull

/* ---- small lexical helpers --------------------------------------------------------- */

struct line_iter {
	const char *p, *end;
	uint64_t no; /* 1-based number of the line last returned */
};

/* The next line without its '\n' (and '\r'); false at the end of the buffer. */
static bool next_line(struct line_iter *it, const char **s, size_t *n)
{
	const char *nl;

	if (it->p >= it->end)
		return false;
	nl = memchr(it->p, '\n', (size_t)(it->end - it->p));
	if (!nl)
		nl = it->end;
	*s = it->p;
	*n = (size_t)(nl - it->p);
	if (*n > 0 && (*s)[*n - 1] == '\r')
		(*n)--;
	it->p = nl + 1;
	it->no++;
	return true;
}

#define MAX_TOKENS 12

/* Split a line at spaces and tabs into at most MAX_TOKENS tokens; returns the count
 * (MAX_TOKENS + 1 when there are more). */
static size_t split(const char *s, size_t n, const char **tok, size_t *len)
{
	size_t k = 0, i = 0;

	while (i < n) {
		while (i < n && (s[i] == ' ' || s[i] == '\t'))
			i++;
		if (i == n)
			break;
		if (k == MAX_TOKENS)
			return MAX_TOKENS + 1;
		tok[k] = s + i;
		while (i < n && s[i] != ' ' && s[i] != '\t')
			i++;
		len[k] = (size_t)(s + i - tok[k]);
		k++;
	}
	return k;
}

static bool tok_is(const char *t, size_t n, const char *word)
{
	size_t w = strlen(word);

	return n == w && memcmp(t, word, w) == 0;
}

static bool starts_with(const char *s, size_t n, const char *prefix)
{
	size_t w = strlen(prefix);

	return n >= w && memcmp(s, prefix, w) == 0;
}

static int parse_uint(const char *s, size_t n, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0 || n > 20)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(s[i] - '0');
		if (v > max)
			return -EINVAL;
	}
	*out = v;
	return 0;
}

static int parse_port(const char *s, size_t n, uint16_t *port)
{
	uint64_t v;

	if (parse_uint(s, n, 65535, &v) < 0)
		return -EINVAL;
	*port = (uint16_t)v;
	return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static int digits(const char *s, size_t n, unsigned *out)
{
	unsigned v = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	*out = v;
	return 0;
}

int tt_relays_parse_time(const char *s, size_t n, uint64_t *out_ns)
{
	static const unsigned mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	unsigned y, mo, d, h, mi, se;
	int64_t days;

	if (n != 19 || s[4] != '-' || s[7] != '-' || (s[10] != ' ' && s[10] != 'T') ||
	    s[13] != ':' || s[16] != ':')
		return -EINVAL;
	if (digits(s, 4, &y) || digits(s + 5, 2, &mo) || digits(s + 8, 2, &d) ||
	    digits(s + 11, 2, &h) || digits(s + 14, 2, &mi) || digits(s + 17, 2, &se))
		return -EINVAL;
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 ||
	    se > 60)
		return -EINVAL;
	if (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
		return -EINVAL;
	days = days_from_civil(y, mo, d);
	*out_ns = ((uint64_t)days * 86400u + h * 3600u + mi * 60u + se) * NS_PER_S;
	return 0;
}

/* Two tokens "YYYY-MM-DD" "HH:MM:SS" (adjacent in the line, one space apart). */
static int parse_time2(const char *date, size_t dn, const char *tod, size_t tn, uint64_t *ns)
{
	char buf[19];

	if (dn != 10 || tn != 8)
		return -EINVAL;
	memcpy(buf, date, 10);
	buf[10] = ' ';
	memcpy(buf + 11, tod, 8);
	return tt_relays_parse_time(buf, 19, ns);
}

/* Dotted-quad IPv4, strict: four decimal parts 0..255. */
static int parse_ipv4(const char *s, size_t n, uint8_t *addr)
{
	unsigned part = 0, v = 0, nd = 0;

	for (size_t i = 0; i <= n; i++) {
		if (i == n || s[i] == '.') {
			if (nd == 0 || nd > 3 || v > 255 || part > 3)
				return -EINVAL;
			addr[part++] = (uint8_t)v;
			v = 0;
			nd = 0;
		} else if (s[i] >= '0' && s[i] <= '9') {
			v = v * 10 + (unsigned)(s[i] - '0');
			nd++;
		} else {
			return -EINVAL;
		}
	}
	return part == 4 ? 0 : -EINVAL;
}

/* IPv4 or IPv6 (no brackets) into addr[16] (zeroed) and *ver. */
static int parse_ip(const char *s, size_t n, uint8_t addr[16], uint8_t *ver)
{
	char buf[64];

	memset(addr, 0, 16);
	if (memchr(s, ':', n) == NULL) {
		*ver = 4;
		return parse_ipv4(s, n, addr);
	}
	if (n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (inet_pton(AF_INET6, buf, addr) != 1)
		return -EINVAL;
	*ver = 6;
	return 0;
}

/* "[v6]:port" or "v4:port". */
static int parse_addr_port(const char *s, size_t n, uint8_t addr[16], uint8_t *ver, uint16_t *port)
{
	const char *colon;

	if (n > 0 && s[0] == '[') {
		const char *rb = memchr(s, ']', n);

		if (!rb || rb + 1 >= s + n || rb[1] != ':')
			return -EINVAL;
		if (parse_ip(s + 1, (size_t)(rb - s - 1), addr, ver) < 0 || *ver != 6)
			return -EINVAL;
		return parse_port(rb + 2, (size_t)(s + n - rb - 2), port);
	}
	colon = memchr(s, ':', n);
	if (!colon)
		return -EINVAL;
	if (parse_ip(s, (size_t)(colon - s), addr, ver) < 0)
		return -EINVAL;
	return parse_port(colon + 1, (size_t)(s + n - colon - 1), port);
}

/* Value of a base64 character + 1, or 0 for any other byte. */
/* clang-format off */
static const uint8_t b64_val[256] = {
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0, 63,  0,  0,  0, 64,
    53, 54, 55, 56, 57, 58, 59, 60, 61, 62,  0,  0,  0,  0,  0,  0,
     0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14, 15,
    16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26,  0,  0,  0,  0,  0,
     0, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41,
    42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52,  0,  0,  0,  0,  0,
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
};
/* clang-format on */

/* A 20-byte digest in base64 without padding (27 characters; "=" tolerated). */
static int parse_b64_digest(const char *s, size_t n, uint8_t out[20])
{
	uint32_t acc = 0;
	unsigned bits = 0, k = 0;

	while (n > 0 && s[n - 1] == '=')
		n--;
	if (n != 27)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		int v = b64_val[(unsigned char)s[i]];

		if (v == 0)
			return -EINVAL;
		acc = (acc << 6) | (uint32_t)(v - 1);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (k < 20)
				out[k++] = (uint8_t)(acc >> bits);
		}
	}
	return k == 20 ? 0 : -EINVAL;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static int parse_hex_digest(const char *s, size_t n, uint8_t out[20])
{
	if (n != 40)
		return -EINVAL;
	for (size_t i = 0; i < 20; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

static int parse_nickname(const char *s, size_t n, char out[20])
{
	if (n == 0 || n > 19)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
			return -EINVAL;
	}
	memcpy(out, s, n);
	out[n] = '\0';
	return 0;
}

#define FLAG(name)                                                                                 \
	{                                                                                          \
		name, sizeof(name) - 1                                                             \
	}

static const struct {
	const char *name;
	size_t len;
} flag_names[TT_RELAY_FLAG_COUNT] = {
    FLAG("Authority"),
    FLAG("BadExit"),
    FLAG("Exit"),
    FLAG("Fast"),
    FLAG("Guard"),
    FLAG("HSDir"),
    FLAG("MiddleOnly"),
    FLAG("NoEdConsensus"),
    FLAG("Running"),
    FLAG("Stable"),
    FLAG("StaleDesc"),
    FLAG("Sybil"),
    FLAG("V2Dir"),
    FLAG("Valid"),
    FLAG("BadDirectory"),
    FLAG("Named"),
    FLAG("Unnamed"),
};

/* Each "s" line has about eight flags: compare lengths before bytes. */
static uint32_t flag_bit(const char *s, size_t n)
{
	for (unsigned i = 0; i < TT_RELAY_FLAG_COUNT; i++)
		if (n == flag_names[i].len && memcmp(s, flag_names[i].name, n) == 0)
			return 1u << i;
	return 0;
}

size_t tt_relay_flags_format(uint32_t flags, char *buf, size_t len)
{
	size_t at = 0;

	if (len > 0)
		buf[0] = '\0';
	for (unsigned i = 0; i < TT_RELAY_FLAG_COUNT; i++) {
		int n;

		if (!(flags & (1u << i)))
			continue;
		n = snprintf(at < len ? buf + at : NULL, at < len ? len - at : 0, "%s%s",
		    at ? " " : "", flag_names[i].name);
		at += (size_t)n;
	}
	return at;
}

/* ---- detection ------------------------------------------------------------------------ */

static bool is_blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t')
			return false;
	return true;
}

/* A plain-list line: an address or a small prefix (address/24../32 for IPv4,
 * /120../128 for IPv6), then optionally spaces and a '#' comment. Returns 1 for an
 * address (*plen = prefix length, full length when none), 0 for a blank or comment line,
 * -ERANGE for a larger network, -EINVAL otherwise. */
static int list_line(const char *s, size_t n, uint8_t addr[16], uint8_t *ver, unsigned *plen)
{
	size_t i = 0, j;
	const char *slash;

	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	if (i == n || s[i] == '#')
		return 0;
	j = i;
	while (j < n && s[j] != ' ' && s[j] != '\t' && s[j] != '#')
		j++;
	/* Lists such as nDPI's write hosts and small blocks of exits as prefixes. */
	slash = memchr(s + i, '/', j - i);
	if (parse_ip(s + i, (size_t)((slash ? slash : s + j) - (s + i)), addr, ver) < 0)
		return -EINVAL;
	*plen = *ver == 4 ? 32 : 128;
	if (slash) {
		uint64_t v;

		if (parse_uint(slash + 1, (size_t)(s + j - slash - 1), *plen, &v) < 0)
			return -EINVAL;
		if (v + 8 < *plen)
			return -ERANGE;
		*plen = (unsigned)v;
	}
	while (j < n && (s[j] == ' ' || s[j] == '\t'))
		j++;
	if (j < n && s[j] != '#')
		return -EINVAL;
	return 1;
}

void tt_relays_detect(const char *buf, size_t len, struct tt_relays_doc_head *head)
{
	struct line_iter it = {buf, buf + len, 0};
	const char *s;
	size_t n;
	bool is_first = true;

	memset(head, 0, sizeof(*head));
	head->why_none = "empty";
	if (len > 0 && memchr(buf, '\0', len < 4096 ? len : 4096)) {
		head->why_none = "binary";
		return;
	}
	while (next_line(&it, &s, &n)) {
		uint8_t addr[16], ver;

		if (is_blank(s, n))
			continue;
		if (is_first) {
			/* Annotations such as "@type network-status-consensus-3 1.0" come first;
			 * an exit list may start with "@type tordnsel 1.0". */
			if (starts_with(s, n, "@type tordnsel") ||
			    starts_with(s, n, "Downloaded ") || starts_with(s, n, "ExitNode ")) {
				head->source = TT_RELAYS_SRC_EXITLIST;
				return;
			}
			if (s[0] == '@')
				continue;
			if (tok_is(s, n, "network-status-version 3")) {
				head->source = TT_RELAYS_SRC_NS;
				is_first = false;
				continue;
			}
			if (tok_is(s, n, "network-status-version 3 microdesc")) {
				head->source = TT_RELAYS_SRC_MICRODESC;
				is_first = false;
				continue;
			}
			if (starts_with(s, n, "network-status-version")) {
				head->why_none = "unsupported network-status version or flavour";
				return;
			}
			if (s[0] == '#')
				continue;
			if (list_line(s, n, addr, &ver, &(unsigned){0}) == 1) {
				head->source = TT_RELAYS_SRC_IPLIST;
				return;
			}
			head->why_none = "not a consensus, exit list or address list";
			return;
		}
		/* Inside a consensus header: note its status and valid-after. */
		if (tok_is(s, n, "vote-status vote")) {
			head->source = TT_RELAYS_SRC_NONE;
			head->why_none = "a vote, not a consensus";
			return;
		}
		if (starts_with(s, n, "valid-after ")) {
			uint64_t t;

			if (tt_relays_parse_time(s + 12, n - 12, &t) == 0)
				head->valid_after_ns = t;
			return;
		}
		if (starts_with(s, n, "r ") || starts_with(s, n, "dir-source "))
			return;
	}
	if (head->source == TT_RELAYS_SRC_NONE)
		head->why_none = len ? "only comments" : "empty";
}

/* ---- parsing ------------------------------------------------------------------------ */

struct parser {
	const struct tt_relays_parse_ops *ops;
	void *ctx;
	struct tt_relays_doc_stats *st;
	uint64_t line;
};

static void bad_msg(struct parser *p, const char *msg)
{
	p->st->n_bad_lines++;
	if (p->ops->error)
		p->ops->error(p->ctx, p->line, msg);
}

/* "what 'token'", with the token cut to 60 bytes and control bytes shown as '?'. */
static void bad(struct parser *p, const char *what, const char *tok, size_t n)
{
	char msg[160];
	char t[64];

	if (n > 60)
		n = 60;
	memcpy(t, tok, n);
	t[n] = '\0';
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)t[i] < 0x20 || (unsigned char)t[i] >= 0x7f)
			t[i] = '?';
	snprintf(msg, sizeof(msg), "%s '%s'", what, t);
	bad_msg(p, msg);
}

static void emit(struct parser *p, const struct tt_relays_entry *e)
{
	p->st->n_entries++;
	if (p->ops->entry)
		p->ops->entry(p->ctx, e);
}

/* The router being read: its r line, a lines, and flags from the s line. */
#define MAX_ROUTER_ADDRS 8

struct router {
	bool is_open;
	struct tt_relays_entry base; /* identity, nickname, v4 address, times */
	uint16_t orport, dirport;
	uint32_t flags;
	unsigned n_extra;
	struct {
		uint8_t addr[16];
		uint8_t ver;
		uint16_t port;
	} extra[MAX_ROUTER_ADDRS];
};

static void router_flush(struct parser *p, struct router *r)
{
	struct tt_relays_entry e;

	if (!r->is_open)
		return;
	r->is_open = false;
	e = r->base;
	e.flags = r->flags;
	e.kind = TT_RELAY_ADDR_ORPORT;
	e.port = r->orport;
	if (e.port != 0)
		emit(p, &e);
	if (r->dirport != 0) {
		e.kind = TT_RELAY_ADDR_DIRPORT;
		e.port = r->dirport;
		emit(p, &e);
	}
	e.kind = TT_RELAY_ADDR_ORPORT;
	for (unsigned i = 0; i < r->n_extra; i++) {
		memcpy(e.addr, r->extra[i].addr, 16);
		e.ip_version = r->extra[i].ver;
		e.port = r->extra[i].port;
		emit(p, &e);
	}
}

static void consensus_r(
    struct parser *p, struct router *r, const char *s, size_t n, uint64_t va, uint64_t vu)
{
	const char *tok[MAX_TOKENS];
	size_t len[MAX_TOKENS], k = split(s, n, tok, len), at;
	struct tt_relays_entry *e = &r->base;

	/* ns: r nick identity digest date time IP ORPort DirPort (9 tokens);
	 * microdesc: the same without the descriptor digest (8 tokens). */
	if (k != 8 && k != 9) {
		bad(p, "r line has the wrong number of fields", s, n);
		return;
	}
	memset(e, 0, sizeof(*e));
	if (parse_nickname(tok[1], len[1], e->nickname) < 0) {
		bad(p, "bad nickname", tok[1], len[1]);
		return;
	}
	if (parse_b64_digest(tok[2], len[2], e->fp) < 0) {
		bad(p, "bad identity", tok[2], len[2]);
		return;
	}
	at = k - 5;
	if (k == 9 && parse_b64_digest(tok[3], len[3], (uint8_t[20]){0}) < 0) {
		bad(p, "bad descriptor digest", tok[3], len[3]);
		return;
	}
	{
		uint64_t pub;

		/* Checked for well-formedness only: consensuses ignore the publication time
		 * and microdesc ones may carry a placeholder date. */
		if (parse_time2(tok[at], len[at], tok[at + 1], len[at + 1], &pub) < 0) {
			bad(p, "bad publication time", tok[at], len[at] + 1 + len[at + 1]);
			return;
		}
	}
	if (parse_ipv4(tok[at + 2], len[at + 2], e->addr) < 0) {
		bad(p, "bad IPv4 address", tok[at + 2], len[at + 2]);
		return;
	}
	if (parse_port(tok[at + 3], len[at + 3], &r->orport) < 0) {
		bad(p, "bad ORPort", tok[at + 3], len[at + 3]);
		return;
	}
	if (parse_port(tok[at + 4], len[at + 4], &r->dirport) < 0) {
		bad(p, "bad DirPort", tok[at + 4], len[at + 4]);
		return;
	}
	e->ip_version = 4;
	e->has_fp = true;
	e->from_ns = va;
	e->to_ns = vu;
	r->flags = 0;
	r->n_extra = 0;
	r->is_open = true;
	p->st->n_routers++;
}

static void consensus_a(struct parser *p, struct router *r, const char *s, size_t n)
{
	const char *v = s + 2;
	size_t vn = n - 2;
	uint8_t addr[16], ver;
	uint16_t port;

	while (vn > 0 && v[vn - 1] == ' ')
		vn--;
	if (parse_addr_port(v, vn, addr, &ver, &port) < 0 || port == 0) {
		bad(p, "bad address in a line", v, vn);
		return;
	}
	if (r->n_extra == MAX_ROUTER_ADDRS) {
		bad(p, "more than 8 a lines for one router: ignored", v, vn);
		return;
	}
	memcpy(r->extra[r->n_extra].addr, addr, 16);
	r->extra[r->n_extra].ver = ver;
	r->extra[r->n_extra].port = port;
	r->n_extra++;
}

static void consensus_s(struct router *r, const char *s, size_t n)
{
	size_t i = 1;

	while (i < n) {
		size_t j;

		while (i < n && s[i] == ' ')
			i++;
		j = i;
		while (j < n && s[j] != ' ')
			j++;
		if (j > i)
			r->flags |= flag_bit(s + i, j - i);
		i = j;
	}
}

static int parse_consensus(struct parser *p, const char *buf, size_t len)
{
	struct line_iter it = {buf, buf + len, 0};
	struct router r = {0};
	uint64_t va = 0, fu = 0, vu = 0;
	bool in_header = true;
	const char *s;
	size_t n;

	while (next_line(&it, &s, &n)) {
		p->line = it.no;
		if (n < 2)
			continue;
		if (s[1] == ' ' && !in_header) {
			if (s[0] == 'r') {
				router_flush(p, &r);
				consensus_r(p, &r, s, n, va, vu);
			} else if (s[0] == 'a' && r.is_open) {
				consensus_a(p, &r, s, n);
			} else if (s[0] == 's' && r.is_open) {
				consensus_s(&r, s, n);
			}
			continue;
		}
		if (in_header) {
			uint64_t *dst = NULL;
			size_t skip = 0;

			if (starts_with(s, n, "valid-after ")) {
				dst = &va;
				skip = 12;
			} else if (starts_with(s, n, "fresh-until ")) {
				dst = &fu;
				skip = 12;
			} else if (starts_with(s, n, "valid-until ")) {
				dst = &vu;
				skip = 12;
			} else if (starts_with(s, n, "r ")) {
				in_header = false;
				if (va == 0 || vu == 0 || vu <= va) {
					p->line = it.no;
					bad_msg(p, "consensus without a usable valid-after / "
						   "valid-until before its first r line");
					return -EBADMSG;
				}
				consensus_r(p, &r, s, n, va, vu);
			}
			if (dst && tt_relays_parse_time(s + skip, n - skip, dst) < 0)
				bad(p, "bad time", s, n);
			continue;
		}
		if (starts_with(s, n, "directory-footer"))
			break;
	}
	router_flush(p, &r);
	if (in_header && (va == 0 || vu == 0)) {
		p->line = it.no;
		bad_msg(p, "consensus without valid-after / valid-until");
		return -EBADMSG;
	}
	p->st->valid_after_ns = va;
	p->st->fresh_until_ns = fu;
	p->st->valid_until_ns = vu;
	return 0;
}

/* ExitAddress scanned at S: [S - 24 h, S + 48 h), the window ExoneraTor applies. */
#define EXIT_BEFORE_NS (1 * TT_RELAYS_DAY_NS)
#define EXIT_AFTER_NS  (2 * TT_RELAYS_DAY_NS)

static int parse_exitlist(struct parser *p, const char *buf, size_t len)
{
	struct line_iter it = {buf, buf + len, 0};
	struct tt_relays_entry e;
	bool has_node = false;
	uint64_t first = 0, last = 0;
	const char *s;
	size_t n;

	memset(&e, 0, sizeof(e));
	while (next_line(&it, &s, &n)) {
		const char *tok[MAX_TOKENS];
		size_t len_[MAX_TOKENS], k;
		uint64_t t;

		p->line = it.no;
		k = split(s, n, tok, len_);
		if (k == 0 || tok[0][0] == '@' || tok[0][0] == '#')
			continue;
		if (tok_is(tok[0], len_[0], "ExitNode")) {
			has_node = false;
			if (k != 2 || parse_hex_digest(tok[1], len_[1], e.fp) < 0) {
				bad(p, "bad ExitNode line", s, n);
				continue;
			}
			has_node = true;
			p->st->n_routers++;
		} else if (tok_is(tok[0], len_[0], "ExitAddress")) {
			if (!has_node) {
				bad(p, "ExitAddress without a valid ExitNode before it", s, n);
				continue;
			}
			if (k != 4 || parse_ip(tok[1], len_[1], e.addr, &e.ip_version) < 0 ||
			    parse_time2(tok[2], len_[2], tok[3], len_[3], &t) < 0) {
				bad(p, "bad ExitAddress line", s, n);
				continue;
			}
			e.has_fp = true;
			e.kind = TT_RELAY_ADDR_EXIT;
			e.from_ns = t > EXIT_BEFORE_NS ? t - EXIT_BEFORE_NS : 0;
			e.to_ns = t + EXIT_AFTER_NS;
			if (first == 0 || t < first)
				first = t;
			if (t > last)
				last = t;
			emit(p, &e);
		} else if (tok_is(tok[0], len_[0], "Published") ||
			   tok_is(tok[0], len_[0], "LastStatus") ||
			   tok_is(tok[0], len_[0], "Downloaded")) {
			if (k != 3 || parse_time2(tok[1], len_[1], tok[2], len_[2], &t) < 0)
				bad(p, "bad time line", s, n);
		} else {
			bad(p, "unknown exit-list line", s, n);
		}
	}
	p->st->valid_after_ns = first;
	p->st->valid_until_ns = last;
	return 0;
}

static int parse_iplist(struct parser *p, const char *buf, size_t len)
{
	struct line_iter it = {buf, buf + len, 0};
	struct tt_relays_entry e;
	const char *s;
	unsigned plen;
	size_t n;

	memset(&e, 0, sizeof(e));
	e.kind = TT_RELAY_ADDR_LISTED;
	e.to_ns = UINT64_MAX;
	while (next_line(&it, &s, &n)) {
		int rc;

		p->line = it.no;
		rc = list_line(s, n, e.addr, &e.ip_version, &plen);
		if (rc == -ERANGE) {
			bad(p, "network larger than 256 addresses", s, n);
		} else if (rc < 0) {
			bad(p, "not an IP address", s, n);
		} else if (rc == 1) {
			unsigned host_bits = (e.ip_version == 4 ? 32u : 128u) - plen;
			unsigned last = e.ip_version == 4 ? 3 : 15;
			uint8_t base = (uint8_t)(e.addr[last] & ~((1u << host_bits) - 1));

			/* host_bits <= 8: only the last byte varies */
			p->st->n_routers++;
			for (unsigned k = 0; k < 1u << host_bits; k++) {
				e.addr[last] = (uint8_t)(base + k);
				emit(p, &e);
			}
		}
	}
	return 0;
}

int tt_relays_parse(const char *buf, size_t len, const struct tt_relays_parse_ops *ops, void *ctx,
    struct tt_relays_doc_stats *st)
{
	struct parser p = {ops, ctx, st, 0};
	struct tt_relays_doc_head head;

	memset(st, 0, sizeof(*st));
	tt_relays_detect(buf, len, &head);
	st->source = head.source;
	switch (head.source) {
	case TT_RELAYS_SRC_NS:
	case TT_RELAYS_SRC_MICRODESC:
		return parse_consensus(&p, buf, len);
	case TT_RELAYS_SRC_EXITLIST:
		return parse_exitlist(&p, buf, len);
	case TT_RELAYS_SRC_IPLIST:
		return parse_iplist(&p, buf, len);
	default:
		p.line = 0;
		bad_msg(&p, head.why_none);
		return -EBADMSG;
	}
}

const char *tt_relays_source_name(unsigned source)
{
	static const char *const names[] = {"none", "ns", "microdesc", "exit-list", "ip-list"};

	return source < TT_RELAYS_SRC_COUNT ? names[source] : "?";
}

const char *tt_relay_match_kind_name(unsigned kind)
{
	static const char *const names[] = {"orport", "dirport", "orport-near", "dirport-near",
	    "exit", "ip-only", "listed-undated"};

	return kind < TT_RELAY_MATCH_COUNT ? names[kind] : "?";
}

const char *tt_relay_addr_kind_name(unsigned kind)
{
	static const char *const names[] = {"orport", "dirport", "exit", "listed"};

	return kind < 4 ? names[kind] : "?";
}
