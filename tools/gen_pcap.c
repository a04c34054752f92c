/*
 * gen_pcap.c - deterministic synthetic packet capture generator with
 * ground truth, for tortrace's benchmark and tests.
 *
 * Writes pcap or pcapng bytes itself (no libpcap).  The traffic is a pool
 * of concurrent TCP and UDP flows (TLS 1.2/1.3 with realistic ClientHello
 * and ServerHello, HTTP, SSH, plain TCP, DNS, QUIC-like and NTP over UDP),
 * interleaved in time.  The same arguments always give byte-identical
 * output.  Output is streamed; memory use is independent of the file size.
 *
 * Build: cc -O2 -o tt-genpcap tools/gen_pcap.c
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#define EPOCH_SEC   UINT64_C(1715965200) /* 2024-05-17T17:00:00Z */
#define NSEC        UINT64_C(1000000000)
#define HEADROOM    128 /* room for headers before the payload */
#define PAY_MAX     65536
#define FRAME_MAX   (HEADROOM + 1600)
#define PRE_MAX     1024
#define POOL_SIZE   (1u << 20)
#define POOL_MASK   (POOL_SIZE - 1)
#define MAX_Q       6
#define DEF_SNAPLEN 262144u
#define DEF_CONC    512u
#define FLOW_BYTES  6144u /* default bytes per flow */
#define FLOW_PKTS   8u    /* default packets per flow (--packets) */
#define OUT_BUF     (8u << 20)
#define QUIC_DGRAM  1252u

#define TH_FIN 0x01
#define TH_SYN 0x02
#define TH_RST 0x04
#define TH_PSH 0x08
#define TH_ACK 0x10

enum { LINK_ETHER, LINK_RAW, LINK_SLL, LINK_SLL2, LINK_NULL };

static const struct {
	const char *name;
	uint16_t linktype;
	uint8_t hdrlen;
} links[] = {
    [LINK_ETHER] = {"ether", 1, 14},
    [LINK_RAW] = {"raw", 101, 0},
    [LINK_SLL] = {"sll", 113, 16},
    [LINK_SLL2] = {"sll2", 276, 20},
    [LINK_NULL] = {"null", 0, 4},
};

enum kind {
	K_TLS12,
	K_TLS13,
	K_HTTP,
	K_SSH,
	K_PLAIN,
	K_SYNFAIL,
	K_RSTFAIL,
	K_DNS,
	K_QUIC,
	K_NTP,
	K_NKINDS
};

enum phase {
	PH_SYN,
	PH_RST,
	PH_SYNACK,
	PH_ACK3,
	PH_XFER,
	PH_RACK,
	PH_FIN1,
	PH_FIN2,
	PH_FIN3,
	PH_UDP,
	PH_DONE
};

/* one half-duplex transfer: prefix bytes, queued TLS records, then body */
struct xfer {
	uint32_t left;     /* stream bytes not yet sent */
	uint32_t rec_left; /* body bytes left in the current record */
	uint32_t rec_size; /* preferred application record body size */
	uint16_t pre_len, pre_pos;
	uint16_t q_len[MAX_Q]; /* queued record body lengths */
	uint8_t q_type[MAX_Q], q_hs[MAX_Q];
	uint8_t nq, qi;
	uint8_t dir;     /* 0: client to server */
	uint8_t tls;     /* body framed as TLS records */
	uint8_t hdr[64]; /* record header + structured start of body */
	uint8_t hdr_len, hdr_pos;
	uint8_t unacked;
	uint8_t pre[PRE_MAX];
};

struct flow {
	uint64_t rng; /* per-flow splitmix64 state */
	uint64_t name_seed;
	uint64_t first_ts, last_ts;
	uint64_t pkts[2], bytes[2];
	uint32_t seq[2];
	uint32_t pool_off;
	uint32_t vol; /* bulk payload volume */
	uint32_t req; /* request size */
	uint32_t host;
	uint32_t flowlabel;
	uint32_t recsz;
	uint16_t ipid[2];
	uint16_t port[2];
	uint16_t mss;
	uint16_t vlan;
	uint16_t rounds;
	uint16_t step; /* transfer program counter */
	uint16_t sub;
	uint8_t addr[2][16];
	uint8_t cid[2][8];
	uint8_t v6, proto, kind, phase, next_phase;
	uint8_t ttl[2];
	uint8_t ack_dir, closer, upload, close_notify, alpn, tor;
	uint8_t server_first;
	struct xfer x;
};

struct pkt {
	uint32_t seq, ack, plen;
	uint8_t dir, flags, optlen;
};

/* options */
static struct {
	const char *out_path, *truth_path;
	uint64_t size, packets, flows;
	uint64_t seed;
	int flows_set;
	int pcapng, ns, be, link;
	uint32_t snaplen, conc;
	double vlan_frac, ipv6_frac, udp_frac;
	int64_t cut_header, cut_last;
	int bad_caplen;
	uint32_t bad_caplen_value;
} opt = {
    .seed = 1,
    .link = LINK_ETHER,
    .snaplen = DEF_SNAPLEN,
    .conc = DEF_CONC,
    .vlan_frac = 0.1,
    .ipv6_frac = 0.2,
    .udp_frac = 0.25,
    .cut_header = -1,
    .cut_last = -1,
    .bad_caplen_value = 0x7fffff00u,
};

/* generator state */
static uint64_t g_rng[4];
static uint8_t *g_pool;
static uint64_t g_ts;
static uint32_t n_hosts, n_servers;
static uint32_t *host_port;
static uint8_t (*srv_v4)[4];
static uint8_t (*srv_v6)[16];
static uint64_t tot_pkts, tot_bytes, tot_flows;
static FILE *truth;

/* output buffer and the pending (last) record */
static FILE *out_f;
static uint8_t *out_buf;
static size_t out_len;
static uint64_t out_written;
static uint8_t rec_buf[64 + FRAME_MAX];
static size_t rec_len;

/* ---------------------------------------------------------------- PRNG */

static uint64_t rotl64(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* xoshiro256** */
static uint64_t grand(void)
{
	uint64_t *s = g_rng;
	uint64_t r = rotl64(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl64(s[3], 45);
	return r;
}

static uint32_t below(uint64_t r, uint32_t n)
{
	return (uint32_t)(((r >> 32) * (uint64_t)n) >> 32);
}

static uint32_t gbelow(uint32_t n)
{
	return below(grand(), n);
}

static uint32_t grange(uint32_t lo, uint32_t hi)
{
	return lo + gbelow(hi - lo + 1);
}

static double gunit(void)
{
	return (double)(grand() >> 11) * 0x1.0p-53;
}

static uint32_t sbelow(uint64_t *s, uint32_t n)
{
	return below(splitmix64(s), n);
}

static uint32_t fbelow(struct flow *f, uint32_t n)
{
	return below(splitmix64(&f->rng), n);
}

static uint32_t frange(struct flow *f, uint32_t lo, uint32_t hi)
{
	return lo + fbelow(f, hi - lo + 1);
}

static void frand_bytes(struct flow *f, uint8_t *p, size_t n)
{
	while (n > 0) {
		uint64_t v = splitmix64(&f->rng);
		size_t k = n < 8 ? n : 8;

		memcpy(p, &v, k);
		p += k;
		n -= k;
	}
}

/* ------------------------------------------------------- byte helpers */

static void be16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void be24(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 16);
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)v;
}

static void be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* file byte order (headers) */
static void fe16(uint8_t *p, uint32_t v)
{
	if (opt.be) {
		be16(p, v);
	} else {
		p[0] = (uint8_t)v;
		p[1] = (uint8_t)(v >> 8);
	}
}

static void fe32(uint8_t *p, uint32_t v)
{
	if (opt.be) {
		be32(p, v);
	} else {
		p[0] = (uint8_t)v;
		p[1] = (uint8_t)(v >> 8);
		p[2] = (uint8_t)(v >> 16);
		p[3] = (uint8_t)(v >> 24);
	}
}

static uint32_t min32(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}

/* ones' complement sum over big-endian 16-bit words */
static uint64_t csum_add(uint64_t sum, const uint8_t *p, size_t n)
{
	while (n >= 4) {
		sum += (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
		p += 4;
		n -= 4;
	}
	if (n >= 2) {
		sum += (uint32_t)p[0] << 8 | p[1];
		p += 2;
		n -= 2;
	}
	if (n)
		sum += (uint32_t)p[0] << 8;
	return sum;
}

static uint16_t csum_fold(uint64_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* ----------------------------------------------------------- output */

static int out_flush(void)
{
	if (out_len && fwrite(out_buf, 1, out_len, out_f) != out_len)
		return errno ? -errno : -EIO;
	out_written += out_len;
	out_len = 0;
	return 0;
}

static int out_put(const void *p, size_t n)
{
	int err;

	if (out_len + n > OUT_BUF) {
		err = out_flush();
		if (err)
			return err;
	}
	memcpy(out_buf + out_len, p, n);
	out_len += n;
	return 0;
}

/* write the pending record, or only its first @cut bytes if cut >= 0 */
static int rec_flush(int64_t cut)
{
	size_t n = rec_len;
	int err;

	if (cut >= 0 && (uint64_t)cut < n)
		n = (size_t)cut;
	err = out_put(rec_buf, n);
	rec_len = 0;
	return err;
}

static size_t global_header(uint8_t *b)
{
	size_t o = 0;

	if (!opt.pcapng) {
		fe32(b, opt.ns ? 0xa1b23c4du : 0xa1b2c3d4u);
		fe16(b + 4, 2);
		fe16(b + 6, 4);
		fe32(b + 8, 0);
		fe32(b + 12, 0);
		fe32(b + 16, opt.snaplen);
		fe32(b + 20, links[opt.link].linktype);
		return 24;
	}
	/* Section Header Block with shb_userappl */
	fe32(b, 0x0a0d0d0au);
	fe32(b + 4, 56);
	fe32(b + 8, 0x1a2b3c4du);
	fe16(b + 12, 1);
	fe16(b + 14, 0);
	memset(b + 16, 0xff, 8);
	fe16(b + 24, 4);
	fe16(b + 26, 17);
	memset(b + 28, 0, 20);
	memcpy(b + 28, "tortrace gen_pcap", 17);
	fe32(b + 48, 0); /* opt_endofopt */
	fe32(b + 52, 56);
	o = 56;
	/* Interface Description Block */
	fe32(b + o, 1);
	fe32(b + o + 4, opt.ns ? 32 : 20);
	fe16(b + o + 8, links[opt.link].linktype);
	fe16(b + o + 10, 0);
	fe32(b + o + 12, opt.snaplen);
	if (opt.ns) {
		fe16(b + o + 16, 9); /* if_tsresol */
		fe16(b + o + 18, 1);
		b[o + 20] = 9;
		b[o + 21] = b[o + 22] = b[o + 23] = 0;
		fe32(b + o + 24, 0);
		fe32(b + o + 28, 32);
		o += 32;
	} else {
		fe32(b + o + 16, 20);
		o += 20;
	}
	return o;
}

/* length of the SHB alone (what --cut-header cuts) */
static size_t first_header_len(void)
{
	return opt.pcapng ? 56 : 24;
}

static int write_record(uint64_t ts, const uint8_t *frame, uint32_t len, int bad)
{
	uint32_t caplen = min32(len, opt.snaplen);
	uint32_t hdr_caplen = bad ? opt.bad_caplen_value : caplen;
	uint8_t *b = rec_buf;
	int err;

	if (rec_len) {
		err = rec_flush(-1);
		if (err)
			return err;
	}
	if (!opt.pcapng) {
		uint64_t frac = ts % NSEC;

		fe32(b, (uint32_t)(ts / NSEC));
		fe32(b + 4, (uint32_t)(opt.ns ? frac : frac / 1000));
		fe32(b + 8, hdr_caplen);
		fe32(b + 12, len);
		memcpy(b + 16, frame, caplen);
		rec_len = 16 + caplen;
	} else {
		uint32_t pad = (4 - (caplen & 3)) & 3;
		uint32_t total = 32 + caplen + pad;
		uint64_t units = opt.ns ? ts : ts / 1000;

		fe32(b, 6);
		fe32(b + 4, total);
		fe32(b + 8, 0);
		fe32(b + 12, (uint32_t)(units >> 32));
		fe32(b + 16, (uint32_t)units);
		fe32(b + 20, hdr_caplen);
		fe32(b + 24, len);
		memcpy(b + 28, frame, caplen);
		memset(b + 28 + caplen, 0, pad);
		fe32(b + 28 + caplen + pad, total);
		rec_len = total;
	}
	return 0;
}

/* ------------------------------------------------------------ names */

static const char *const name_pfx[] = {
    "www",
    "api",
    "cdn",
    "static",
    "img",
    "mail",
    "login",
    "accounts",
    "edge",
    "m",
    "app",
    "assets",
    "update",
    "push",
    "media",
    "video",
    "s",
    "ws",
    "auth",
    "graph",
};
static const char *const name_syl[] = {
    "go",
    "ex",
    "am",
    "pl",
    "ne",
    "tw",
    "or",
    "ka",
    "lu",
    "mi",
    "zo",
    "ta",
    "ri",
    "ven",
    "dor",
    "sal",
    "mar",
    "pix",
    "net",
    "cloud",
    "data",
    "fast",
    "shop",
    "news",
    "play",
    "micro",
    "soft",
    "tube",
    "gram",
    "book",
    "star",
    "link",
    "box",
    "hub",
    "ly",
    "fy",
    "io",
    "zen",
};
static const char *const name_tld[] = {
    "com",
    "com",
    "com",
    "net",
    "org",
    "io",
    "de",
    "co.uk",
    "fr",
    "jp",
    "ru",
    "info",
    "nl",
    "app",
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static size_t str_append(char *out, size_t o, size_t cap, const char *s)
{
	size_t n = strlen(s);

	if (o + n >= cap)
		n = cap - 1 - o;
	memcpy(out + o, s, n);
	out[o + n] = 0;
	return o + n;
}

/* deterministic host name; tor-style names look like Tor's SNI */
static size_t gen_name(uint64_t seed, int tor, char *out, size_t cap)
{
	uint64_t s = seed;
	size_t o = 0;
	uint32_t i, n;

	out[0] = 0;
	if (tor) {
		static const char b32[] = "abcdefghijklmnopqrstuvwxyz234567";

		o = str_append(out, o, cap, "www.");
		n = 8 + sbelow(&s, 13);
		for (i = 0; i < n && o + 1 < cap; i++)
			out[o++] = b32[sbelow(&s, 32)];
		out[o] = 0;
		return str_append(out, o, cap, sbelow(&s, 2) ? ".com" : ".net");
	}
	if (sbelow(&s, 10) < 7) {
		o = str_append(out, o, cap, name_pfx[sbelow(&s, NELEM(name_pfx))]);
		o = str_append(out, o, cap, ".");
	}
	n = 1 + sbelow(&s, 3);
	for (i = 0; i < n; i++)
		o = str_append(out, o, cap, name_syl[sbelow(&s, NELEM(name_syl))]);
	o = str_append(out, o, cap, ".");
	return str_append(out, o, cap, name_tld[sbelow(&s, NELEM(name_tld))]);
}

/* ------------------------------------------------------ TLS messages */

static const uint16_t tls12_ciphers[] = {
    0xc02b,
    0xc02f,
    0xc02c,
    0xc030,
    0xcca9,
    0xcca8,
    0xc013,
    0xc014,
    0x009c,
    0x009d,
    0x002f,
    0x0035,
    0xc009,
    0xc00a,
};

static size_t put_u16s(uint8_t *b, size_t o, const uint16_t *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++, o += 2)
		be16(b + o, v[i]);
	return o;
}

static size_t build_client_hello(struct flow *f, uint8_t *b, int tls13)
{
	static const uint16_t groups[] = {0x001d, 0x0017, 0x0018, 0x0019};
	static const uint16_t sigalgs[] = {
	    0x0403,
	    0x0804,
	    0x0401,
	    0x0503,
	    0x0805,
	    0x0501,
	    0x0806,
	    0x0601,
	};
	char name[96];
	size_t nlen = gen_name(f->name_seed, f->tor, name, sizeof(name));
	size_t o = 0, ext, cs, hs, ngroups, n;
	int grease = fbelow(f, 2) == 0 && !f->tor;
	uint32_t gv = 0x0a0a + 0x1010 * fbelow(f, 16);

	b[o++] = 0x16;
	b[o++] = 3;
	b[o++] = 1;
	o += 2; /* record length */
	hs = o;
	b[o++] = 1;
	o += 3; /* handshake length */
	b[o++] = 3;
	b[o++] = 3;
	frand_bytes(f, b + o, 32);
	o += 32;
	if (tls13 || fbelow(f, 2)) {
		b[o++] = 32;
		frand_bytes(f, b + o, 32);
		o += 32;
	} else {
		b[o++] = 0;
	}
	cs = o;
	o += 2;
	if (grease) {
		be16(b + o, gv);
		o += 2;
	}
	if (tls13) {
		static const uint16_t c13[] = {0x1301, 0x1302, 0x1303};

		o = put_u16s(b, o, c13, 3);
	}
	n = 6 + fbelow(f, NELEM(tls12_ciphers) - 5);
	o = put_u16s(b, o, tls12_ciphers, n);
	be16(b + cs, (uint32_t)(o - cs - 2));
	b[o++] = 1; /* compression methods */
	b[o++] = 0;
	ext = o;
	o += 2;
	if (grease) {
		be16(b + o, gv);
		be16(b + o + 2, 0);
		o += 4;
	}
	/* server_name */
	be16(b + o, 0x0000);
	be16(b + o + 2, (uint32_t)(nlen + 5));
	be16(b + o + 4, (uint32_t)(nlen + 3));
	b[o + 6] = 0;
	be16(b + o + 7, (uint32_t)nlen);
	memcpy(b + o + 9, name, nlen);
	o += 9 + nlen;
	/* extended_master_secret, renegotiation_info */
	be16(b + o, 0x0017);
	be16(b + o + 2, 0);
	be16(b + o + 4, 0xff01);
	be16(b + o + 6, 1);
	b[o + 8] = 0;
	o += 9;
	/* supported_groups */
	ngroups = 3 + fbelow(f, 2);
	be16(b + o, 0x000a);
	be16(b + o + 2, (uint32_t)(2 * ngroups + 2));
	be16(b + o + 4, (uint32_t)(2 * ngroups));
	o = put_u16s(b, o + 6, groups, ngroups);
	/* ec_point_formats */
	be16(b + o, 0x000b);
	be16(b + o + 2, 2);
	b[o + 4] = 1;
	b[o + 5] = 0;
	o += 6;
	/* session_ticket */
	be16(b + o, 0x0023);
	be16(b + o + 2, 0);
	o += 4;
	if (f->alpn) {
		static const uint8_t alpn[] = {
		    0x00,
		    0x10,
		    0x00,
		    0x0e,
		    0x00,
		    0x0c,
		    0x02,
		    'h',
		    '2',
		    0x08,
		    'h',
		    't',
		    't',
		    'p',
		    '/',
		    '1',
		    '.',
		    '1',
		};

		memcpy(b + o, alpn, sizeof(alpn));
		o += sizeof(alpn);
	}
	/* status_request */
	be16(b + o, 0x0005);
	be16(b + o + 2, 5);
	b[o + 4] = 1;
	be32(b + o + 5, 0);
	o += 9;
	/* signature_algorithms */
	be16(b + o, 0x000d);
	be16(b + o + 2, (uint32_t)(2 * NELEM(sigalgs) + 2));
	be16(b + o + 4, (uint32_t)(2 * NELEM(sigalgs)));
	o = put_u16s(b, o + 6, sigalgs, NELEM(sigalgs));
	if (tls13) {
		/* key_share x25519 */
		be16(b + o, 0x0033);
		be16(b + o + 2, 38);
		be16(b + o + 4, 36);
		be16(b + o + 6, 0x001d);
		be16(b + o + 8, 32);
		frand_bytes(f, b + o + 10, 32);
		o += 42;
		/* supported_versions */
		be16(b + o, 0x002b);
		be16(b + o + 2, 5);
		b[o + 4] = 4;
		be16(b + o + 5, 0x0304);
		be16(b + o + 7, 0x0303);
		o += 9;
		/* psk_key_exchange_modes */
		be16(b + o, 0x002d);
		be16(b + o + 2, 2);
		b[o + 4] = 1;
		b[o + 5] = 1;
		o += 6;
	}
	if (grease) {
		/* padding to 517 bytes like common browsers */
		be16(b + o, 0x0015);
		n = o + 4 < 517 ? 517 - (o + 4) : 0;
		be16(b + o + 2, (uint32_t)n);
		memset(b + o + 4, 0, n);
		o += 4 + n;
	}
	be16(b + ext, (uint32_t)(o - ext - 2));
	be24(b + hs + 1, (uint32_t)(o - hs - 4));
	be16(b + 3, (uint32_t)(o - 5));
	return o;
}

static size_t build_server_hello(struct flow *f, uint8_t *b, int tls13)
{
	size_t o = 0, ext;

	b[o++] = 0x16;
	b[o++] = 3;
	b[o++] = 3;
	o += 2;
	b[o++] = 2;
	o += 3;
	b[o++] = 3;
	b[o++] = 3;
	frand_bytes(f, b + o, 32);
	o += 32;
	b[o++] = 32;
	frand_bytes(f, b + o, 32);
	o += 32;
	if (tls13)
		be16(b + o, 0x1301 + fbelow(f, 3));
	else
		be16(b + o, tls12_ciphers[fbelow(f, 6)]);
	o += 2;
	b[o++] = 0;
	ext = o;
	o += 2;
	if (tls13) {
		be16(b + o, 0x002b);
		be16(b + o + 2, 2);
		be16(b + o + 4, 0x0304);
		be16(b + o + 6, 0x0033);
		be16(b + o + 8, 36);
		be16(b + o + 10, 0x001d);
		be16(b + o + 12, 32);
		frand_bytes(f, b + o + 14, 32);
		o += 46;
	} else {
		be16(b + o, 0xff01);
		be16(b + o + 2, 1);
		b[o + 4] = 0;
		be16(b + o + 5, 0x0017);
		be16(b + o + 7, 0);
		be16(b + o + 9, 0x000b);
		be16(b + o + 11, 2);
		b[o + 13] = 1;
		b[o + 14] = 0;
		o += 15;
		if (f->alpn) {
			static const uint8_t alpn[] = {
			    0x00,
			    0x10,
			    0x00,
			    0x05,
			    0x00,
			    0x03,
			    0x02,
			    'h',
			    '2',
			};

			memcpy(b + o, alpn, sizeof(alpn));
			o += sizeof(alpn);
		}
	}
	be16(b + ext, (uint32_t)(o - ext - 2));
	be24(b + 6, (uint32_t)(o - 9));
	be16(b + 3, (uint32_t)(o - 5));
	return o;
}

/* -------------------------------------------------------- transfers */

static void x_begin(struct flow *f, int dir, int tls, uint32_t rec_size)
{
	struct xfer *x = &f->x;

	x->dir = (uint8_t)dir;
	x->tls = (uint8_t)tls;
	x->rec_size = rec_size ? rec_size : 16401;
	x->left = x->rec_left = 0;
	x->pre_len = x->pre_pos = 0;
	x->hdr_len = x->hdr_pos = 0;
	x->nq = x->qi = 0;
	x->unacked = 0;
}

static void x_prefix(struct flow *f, const void *p, size_t n)
{
	struct xfer *x = &f->x;

	if (n > (size_t)(PRE_MAX - x->pre_len))
		n = (size_t)(PRE_MAX - x->pre_len);
	memcpy(x->pre + x->pre_len, p, n);
	x->pre_len = (uint16_t)(x->pre_len + n);
	x->left += (uint32_t)n;
}

static void x_queue(struct flow *f, uint8_t type, uint8_t hs, uint32_t body)
{
	struct xfer *x = &f->x;

	if (x->nq >= MAX_Q)
		return;
	if (type == 0x14)
		body = 1;
	else if (hs && body < 4)
		body = 4;
	x->q_type[x->nq] = type;
	x->q_hs[x->nq] = hs;
	x->q_len[x->nq] = (uint16_t)body;
	x->nq++;
	x->left += 5 + body;
}

/* body bytes after prefix and queue; TLS bodies are never 1..5 bytes */
static void x_body(struct flow *f, uint32_t n)
{
	if (f->x.tls && n > 0 && n < 6)
		n = 6;
	f->x.left += n;
}

static void pool_copy(struct flow *f, uint8_t *dst, uint32_t n)
{
	memcpy(dst, g_pool + (f->pool_off & POOL_MASK), n);
	f->pool_off += n * 7 + 13;
}

static void x_next_record(struct flow *f)
{
	struct xfer *x = &f->x;
	uint32_t body;
	uint8_t type, hs;

	if (x->qi < x->nq) {
		type = x->q_type[x->qi];
		hs = x->q_hs[x->qi];
		body = x->q_len[x->qi];
		x->qi++;
	} else {
		type = 0x17;
		hs = 0;
		body = x->rec_size;
		if (body + 5 > x->left || x->left - (body + 5) < 6)
			body = x->left - 5;
	}
	x->hdr[0] = type;
	x->hdr[1] = 3;
	x->hdr[2] = 3;
	be16(x->hdr + 3, body);
	x->hdr_len = 5;
	x->hdr_pos = 0;
	x->rec_left = body;
	if (type == 0x14) {
		x->hdr[5] = 1;
		x->hdr_len = 6;
		x->rec_left = 0;
	} else if (hs) {
		uint8_t *h = x->hdr + 9;

		x->hdr[5] = hs;
		be24(x->hdr + 6, body - 4);
		x->hdr_len = 9;
		/* plausible structure at the start of cleartext messages */
		if (hs == 0x0b && body >= 14) { /* Certificate */
			be24(h, body - 7);
			be24(h + 3, body - 10);
			h[6] = 0x30;
			h[7] = 0x82;
			be16(h + 8, body - 14);
			x->hdr_len = 19;
		} else if (hs == 0x0c && body >= 48) { /* ECDHE params */
			h[0] = 3;
			be16(h + 1, 0x001d);
			h[3] = 32;
			memcpy(h + 4, g_pool + (f->pool_off & POOL_MASK), 32);
			be16(h + 36, 0x0804);
			be16(h + 38, body - 48);
			x->hdr_len = 49;
		} else if (hs == 0x10 && body == 37) { /* ClientKeyExchange */
			h[0] = 32;
			x->hdr_len = 10;
		} else if (hs == 0x04 && body >= 10) { /* NewSessionTicket */
			be32(h, 7200);
			be16(h + 4, body - 10);
			x->hdr_len = 15;
		}
		x->rec_left = body - (x->hdr_len - 5u);
	}
}

/* produce the next @n bytes of the current transfer's stream */
static void x_fill(struct flow *f, uint8_t *dst, uint32_t n)
{
	struct xfer *x = &f->x;
	uint32_t k;

	while (n > 0) {
		if (x->pre_pos < x->pre_len) {
			k = min32(n, (uint32_t)(x->pre_len - x->pre_pos));
			memcpy(dst, x->pre + x->pre_pos, k);
			x->pre_pos = (uint16_t)(x->pre_pos + k);
		} else if (x->hdr_pos < x->hdr_len) {
			k = min32(n, (uint32_t)(x->hdr_len - x->hdr_pos));
			memcpy(dst, x->hdr + x->hdr_pos, k);
			x->hdr_pos = (uint8_t)(x->hdr_pos + k);
		} else if (!x->tls || x->rec_left > 0) {
			k = x->tls ? min32(n, x->rec_left) : n;
			pool_copy(f, dst, k);
			if (x->tls)
				x->rec_left -= k;
		} else if (x->left >= 6 || x->qi < x->nq) {
			x_next_record(f);
			continue;
		} else {
			x->tls = 0; /* cannot happen: degrade to raw */
			continue;
		}
		dst += k;
		n -= k;
		x->left -= k;
	}
}

/* --------------------------------------------------------- TCP flows */

static void tcp_seg(struct flow *f, struct pkt *p, int dir, uint8_t flags)
{
	p->dir = (uint8_t)dir;
	p->flags = flags;
	p->plen = 0;
	p->optlen = 0;
	p->seq = f->seq[dir];
	p->ack = (flags & TH_ACK) ? f->seq[!dir] : 0;
}

static void http_request(struct flow *f, uint32_t upload_len)
{
	static const char *const ua[] = {
	    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
	    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
	    "Chrome/124.0.0.0 Safari/537.36",
	    "curl/7.88.1",
	    "Debian APT-HTTP/1.3 (2.6.1)",
	};
	char host[96], buf[PRE_MAX];
	int n;

	gen_name(f->name_seed, 0, host, sizeof(host));
	if (upload_len)
		n = snprintf(buf, sizeof(buf),
		    "POST /upload/%08x HTTP/1.1\r\nHost: %s\r\n"
		    "User-Agent: %s\r\nContent-Type: application/octet-stream\r\n"
		    "Content-Length: %u\r\n\r\n",
		    (unsigned)splitmix64(&f->rng), host, ua[fbelow(f, NELEM(ua))],
		    (unsigned)upload_len);
	else
		n = snprintf(buf, sizeof(buf),
		    "GET /%s/%08x%s HTTP/1.1\r\nHost: %s\r\n"
		    "User-Agent: %s\r\nAccept: */*\r\n"
		    "Accept-Encoding: gzip, deflate\r\nConnection: keep-alive\r\n\r\n",
		    fbelow(f, 2) ? "static" : "api/v1/items", (unsigned)splitmix64(&f->rng),
		    fbelow(f, 2) ? ".js" : "", host, ua[fbelow(f, NELEM(ua))]);
	if (n > 0)
		x_prefix(f, buf, (size_t)n);
}

static void http_response(struct flow *f, uint32_t body)
{
	static const char *const ct[] = {
	    "text/html; charset=utf-8",
	    "application/json",
	    "image/jpeg",
	    "application/javascript",
	    "application/octet-stream",
	};
	char buf[PRE_MAX];
	int n;

	n = snprintf(buf, sizeof(buf),
	    "HTTP/1.1 %s\r\nServer: nginx/1.22.1\r\n"
	    "Date: Fri, 17 May 2024 17:00:00 GMT\r\nContent-Type: %s\r\n"
	    "Content-Length: %u\r\nConnection: keep-alive\r\n\r\n",
	    body ? "200 OK" : "201 Created", ct[fbelow(f, NELEM(ct))], (unsigned)body);
	if (n > 0)
		x_prefix(f, buf, (size_t)n);
	x_body(f, body);
}

/* set up the next transfer of a TCP flow, or its close */
static void tcp_next(struct flow *f)
{
	uint8_t buf[PRE_MAX];
	uint32_t s = f->step++;
	uint32_t round, resp, req, bytes, dir;
	int bulk, tls = f->kind == K_TLS12 || f->kind == K_TLS13;

	f->phase = PH_XFER;
	switch (f->kind) {
	case K_TLS13:
		if (s == 0) {
			x_begin(f, 0, 0, 0);
			x_prefix(f, buf, build_client_hello(f, buf, 1));
			return;
		}
		if (s == 1) {
			x_begin(f, 1, 1, 0);
			x_prefix(f, buf, build_server_hello(f, buf, 1));
			x_queue(f, 0x14, 0, 1);
			x_queue(f, 0x17, 0, frange(f, 40, 120));
			x_queue(f, 0x17, 0, frange(f, 1500, 4200));
			x_queue(f, 0x17, 0, fbelow(f, 2) ? 96 : 281);
			x_queue(f, 0x17, 0, 53);
			return;
		}
		if (s == 2) {
			x_begin(f, 0, 1, 0);
			x_queue(f, 0x14, 0, 1);
			x_queue(f, 0x17, 0, 53);
			return;
		}
		s -= 3;
		break;
	case K_TLS12:
		if (s == 0) {
			x_begin(f, 0, 0, 0);
			x_prefix(f, buf, build_client_hello(f, buf, 0));
			return;
		}
		if (s == 1) {
			x_begin(f, 1, 1, 0);
			x_prefix(f, buf, build_server_hello(f, buf, 0));
			x_queue(f, 0x16, 0x0b, frange(f, 1500, 4200));
			x_queue(f, 0x16, 0x0c, frange(f, 300, 330));
			x_queue(f, 0x16, 0x0e, 4);
			return;
		}
		if (s == 2) {
			x_begin(f, 0, 1, 0);
			x_queue(f, 0x16, 0x10, 37);
			x_queue(f, 0x14, 0, 1);
			x_queue(f, 0x16, 0, 40);
			return;
		}
		if (s == 3) {
			x_begin(f, 1, 1, 0);
			if (fbelow(f, 2))
				x_queue(f, 0x16, 0x04, frange(f, 170, 200));
			x_queue(f, 0x14, 0, 1);
			x_queue(f, 0x16, 0, 40);
			return;
		}
		s -= 4;
		break;
	case K_SSH:
		if (s < 6) {
			static const char *const banner[2] = {
			    "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n",
			    "SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.10\r\n",
			};
			static const uint32_t lo[6] = {0, 0, 1400, 1000, 48, 560};
			static const uint32_t hi[6] = {0, 0, 1600, 1100, 48, 1100};

			x_begin(f, (int)(s & 1), 0, 0);
			if (s < 2)
				x_prefix(f, banner[s], strlen(banner[s]));
			else
				x_body(f, frange(f, lo[s], hi[s]));
			return;
		}
		s -= 6;
		break;
	case K_PLAIN:
		if (f->server_first) {
			if (s == 0) {
				x_begin(f, 1, 0, 0);
				x_body(f, frange(f, 40, 120));
				return;
			}
			s -= 1;
		}
		break;
	default:
		break;
	}

	if (s >= 2u * f->rounds) {
		if (tls && f->close_notify && s == 2u * f->rounds) {
			x_begin(f, f->closer, 1, 0);
			if (f->kind == K_TLS13)
				x_queue(f, 0x17, 0, 19);
			else
				x_queue(f, 0x15, 0, 26);
			return;
		}
		f->phase = PH_FIN1;
		return;
	}
	round = s / 2;
	resp = f->vol / f->rounds;
	if (round == f->rounds - 1u)
		resp = f->vol - resp * (f->rounds - 1u);
	req = f->req;
	bulk = s & 1;
	dir = (uint32_t)bulk;
	if (f->upload)
		dir = !dir;
	bytes = bulk ? resp : req;
	if (bytes == 0)
		bytes = 1;
	switch (f->kind) {
	case K_TLS12:
	case K_TLS13:
		x_begin(f, (int)dir, 1, bulk ? f->recsz : 16401);
		if (bulk && round == 0 && f->kind == K_TLS13 && !f->tor && dir == 1) {
			x_queue(f, 0x17, 0, frange(f, 230, 280));
			x_queue(f, 0x17, 0, frange(f, 230, 280));
		}
		x_body(f, bytes);
		break;
	case K_HTTP:
		x_begin(f, (int)dir, 0, 0);
		if (dir == 0 && bulk) {
			http_request(f, bytes);
			x_body(f, bytes);
		} else if (dir == 0) {
			http_request(f, 0);
		} else {
			http_response(f, bulk ? bytes : 0);
		}
		break;
	default:
		x_begin(f, (int)dir, 0, 0);
		x_body(f, bytes);
		break;
	}
}

/* the side that sends next after a finished transfer, or -1 */
static int next_sender(const struct flow *f)
{
	if (f->phase == PH_XFER)
		return f->x.dir;
	if (f->phase == PH_FIN1)
		return f->closer;
	return -1;
}

static void tcp_step(struct flow *f, struct pkt *p, uint8_t *pay)
{
	struct xfer *x = &f->x;
	uint32_t n;
	int prev;

	switch (f->phase) {
	case PH_SYN:
		tcp_seg(f, p, 0, TH_SYN);
		p->optlen = 12;
		if (f->kind == K_SYNFAIL) {
			if (++f->sub >= f->rounds)
				f->phase = PH_DONE;
			return;
		}
		f->seq[0]++;
		f->phase = f->kind == K_RSTFAIL ? PH_RST : PH_SYNACK;
		return;
	case PH_RST:
		tcp_seg(f, p, 1, TH_RST | TH_ACK);
		p->seq = 0;
		f->phase = PH_DONE;
		return;
	case PH_SYNACK:
		tcp_seg(f, p, 1, TH_SYN | TH_ACK);
		p->optlen = 12;
		f->seq[1]++;
		f->phase = PH_ACK3;
		return;
	case PH_ACK3:
		tcp_seg(f, p, 0, TH_ACK);
		tcp_next(f);
		return;
	case PH_XFER:
		if (x->unacked >= 2) {
			tcp_seg(f, p, !x->dir, TH_ACK);
			x->unacked = 0;
			return;
		}
		n = min32(f->mss, x->left);
		tcp_seg(f, p, x->dir, (uint8_t)(TH_ACK | (n == x->left ? TH_PSH : 0)));
		p->plen = n;
		x_fill(f, pay, n);
		f->seq[x->dir] += n;
		x->unacked++;
		if (x->left)
			return;
		prev = x->dir;
		tcp_next(f);
		if (next_sender(f) != !prev) {
			f->next_phase = f->phase;
			f->ack_dir = (uint8_t)!prev;
			f->phase = PH_RACK;
		}
		return;
	case PH_RACK:
		tcp_seg(f, p, f->ack_dir, TH_ACK);
		f->phase = f->next_phase;
		return;
	case PH_FIN1:
		tcp_seg(f, p, f->closer, TH_FIN | TH_ACK);
		f->seq[f->closer]++;
		f->phase = PH_FIN2;
		return;
	case PH_FIN2:
		tcp_seg(f, p, !f->closer, TH_FIN | TH_ACK);
		f->seq[!f->closer]++;
		f->phase = PH_FIN3;
		return;
	case PH_FIN3:
		tcp_seg(f, p, f->closer, TH_ACK);
		f->phase = PH_DONE;
		return;
	default:
		f->phase = PH_DONE;
		return;
	}
}

/* --------------------------------------------------------- UDP flows */

static size_t dns_name(uint8_t *b, const char *name)
{
	size_t o = 0;

	while (*name) {
		const char *dot = strchr(name, '.');
		size_t n = dot ? (size_t)(dot - name) : strlen(name);

		b[o++] = (uint8_t)n;
		memcpy(b + o, name, n);
		o += n;
		name += n;
		if (*name == '.')
			name++;
	}
	b[o++] = 0;
	return o;
}

static uint32_t build_dns(struct flow *f, uint8_t *b, uint32_t q, int resp)
{
	uint64_t s = f->name_seed ^ (0x5bd1e995ULL * (q + 1));
	uint16_t id = (uint16_t)splitmix64(&s);
	uint32_t r = sbelow(&s, 100);
	uint16_t qtype = q ? 28 : r < 70 ? 1 : r < 90 ? 28 : 65;
	int edns = sbelow(&s, 2);
	int cname = sbelow(&s, 5) == 0;
	int nx = sbelow(&s, 50) == 0;
	uint32_t nans = qtype == 65 || nx ? 0 : 1 + sbelow(&s, 3);
	char name[96], cn[96];
	size_t o = 12, i, qname_len, rd, cn_off = 0;

	gen_name(f->name_seed, 0, name, sizeof(name));
	be16(b, id);
	be16(b + 2, resp ? (nx ? 0x8183 : 0x8180) : 0x0100);
	be16(b + 4, 1);
	be16(b + 6, resp ? nans + (nans && cname) : 0);
	be16(b + 8, 0);
	be16(b + 10, (uint32_t)edns);
	qname_len = dns_name(b + o, name);
	o += qname_len;
	be16(b + o, qtype);
	be16(b + o + 2, 1);
	o += 4;
	if (resp && nans) {
		uint32_t ttl = 30 + sbelow(&s, 3600);

		if (cname) {
			gen_name(splitmix64(&s), 0, cn, sizeof(cn));
			be16(b + o, 0xc00c);
			be16(b + o + 2, 5);
			be16(b + o + 4, 1);
			be32(b + o + 6, ttl);
			rd = dns_name(b + o + 12, cn);
			be16(b + o + 10, (uint32_t)rd);
			cn_off = o + 12;
			o += 12 + rd;
		}
		for (i = 0; i < nans; i++) {
			uint32_t alen = qtype == 1 ? 4 : 16;

			be16(b + o, 0xc000 | (uint32_t)(cn_off ? cn_off : 12));
			be16(b + o + 2, qtype);
			be16(b + o + 4, 1);
			be32(b + o + 6, ttl);
			be16(b + o + 10, alen);
			o += 12;
			if (alen == 4) {
				be32(b + o, (uint32_t)splitmix64(&s) | 0x40000000u);
			} else {
				uint64_t lo = splitmix64(&s);

				be32(b + o, 0x2a000000u | (uint32_t)(lo >> 40));
				be32(b + o + 4, (uint32_t)lo);
				be32(b + o + 8, 0);
				be32(b + o + 12, (uint32_t)(lo >> 20) & 0xffff);
			}
			o += alen;
		}
	}
	if (edns) {
		b[o] = 0;
		be16(b + o + 1, 41);
		be16(b + o + 3, resp ? 1232 : 4096);
		be32(b + o + 5, 0);
		be16(b + o + 9, 0);
		o += 11;
	}
	return (uint32_t)o;
}

static uint32_t quic_long(struct flow *f, uint8_t *b, int dir, int type, uint32_t len)
{
	uint32_t o = 0;

	b[o++] = (uint8_t)(0xc0 | (type << 4) | (int)fbelow(f, 4));
	be32(b + o, 1);
	o += 4;
	if (dir == 0) {
		b[o++] = 8;
		memcpy(b + o, f->cid[1], 8);
		o += 8;
		b[o++] = 0;
	} else {
		b[o++] = 0;
		b[o++] = 8;
		memcpy(b + o, f->cid[0], 8);
		o += 8;
	}
	if (type == 0)
		b[o++] = 0; /* token length */
	be16(b + o, 0x4000 | (len - o - 2));
	o += 2;
	pool_copy(f, b + o, len - o);
	return len;
}

static uint32_t quic_short(struct flow *f, uint8_t *b, int dir, uint32_t len)
{
	uint32_t o = 1;

	b[0] = (uint8_t)(0x40 | fbelow(f, 64));
	if (dir == 0) {
		memcpy(b + 1, f->cid[0], 8);
		o += 8;
	}
	if (len < o + 20)
		len = o + 20;
	pool_copy(f, b + o, len - o);
	return len;
}

/* next QUIC request/response transfer, or step 4 (close) */
static void quic_next(struct flow *f)
{
	uint32_t s = f->sub++;
	uint32_t round = s / 2, resp, dir;

	if (s >= 2u * f->rounds) {
		f->step = 4;
		return;
	}
	resp = f->vol / f->rounds;
	if (round == f->rounds - 1u)
		resp = f->vol - resp * (f->rounds - 1u);
	dir = s & 1;
	if (f->upload)
		dir = !dir;
	x_begin(f, (int)dir, 0, 0);
	x_body(f, (s & 1) ? (resp ? resp : 1) : f->req);
}

static void udp_step(struct flow *f, struct pkt *p, uint8_t *pay)
{
	struct xfer *x = &f->x;
	uint32_t n;

	p->seq = p->ack = 0;
	p->flags = p->optlen = 0;
	switch (f->kind) {
	case K_DNS:
		p->dir = (uint8_t)(f->step & 1);
		p->plen = build_dns(f, pay, f->step / 2u, f->step & 1);
		if (++f->step >= 2u * f->rounds)
			f->phase = PH_DONE;
		return;
	case K_NTP:
		p->dir = (uint8_t)f->step;
		memset(pay, 0, 48);
		pay[0] = f->step ? 0x24 : 0x23;
		if (f->step) {
			pay[1] = 2;
			pay[2] = 3;
			pay[3] = 0xe9;
			frand_bytes(f, pay + 12, 36);
		} else {
			frand_bytes(f, pay + 40, 8);
		}
		p->plen = 48;
		if (++f->step >= 2)
			f->phase = PH_DONE;
		return;
	default:
		break;
	}
	/* QUIC */
	switch (f->step) {
	case 0:
		p->dir = 0;
		p->plen = quic_long(f, pay, 0, 0, 1250);
		f->sub = (uint16_t)(2 + fbelow(f, 2));
		f->step = 1;
		return;
	case 1:
		p->dir = 1;
		p->plen = quic_long(
		    f, pay, 1, f->sub > 1 ? 0 : 2, f->sub > 1 ? 1250 : frange(f, 300, 1000));
		if (--f->sub == 0)
			f->step = 2;
		return;
	case 2:
		p->dir = 0;
		p->plen = quic_long(f, pay, 0, 0, 1250);
		f->step = 3;
		f->sub = 0;
		quic_next(f);
		return;
	case 3:
		if (x->unacked >= 2) {
			p->dir = (uint8_t)!x->dir;
			p->plen = quic_short(f, pay, p->dir, frange(f, 30, 50));
			x->unacked = 0;
			return;
		}
		n = min32(QUIC_DGRAM - 26, x->left);
		p->dir = x->dir;
		p->plen = quic_short(f, pay, p->dir, n + 17 + (p->dir ? 0 : 8));
		x->left -= n;
		x->unacked++;
		if (!x->left)
			quic_next(f);
		return;
	default:
		p->dir = 0;
		p->plen = quic_short(f, pay, 0, frange(f, 35, 45));
		f->phase = PH_DONE;
		return;
	}
}

static void flow_step(struct flow *f, struct pkt *p, uint8_t *pay)
{
	if (f->proto == 6)
		tcp_step(f, p, pay);
	else
		udp_step(f, p, pay);
}

/* ------------------------------------------------------ frame build */

static uint32_t link_len(const struct flow *f)
{
	return links[opt.link].hdrlen + (f->vlan ? 4u : 0u);
}

/* bytes a record of a frame of @len bytes takes in the file */
static uint32_t record_size(uint32_t len)
{
	uint32_t caplen = min32(len, opt.snaplen);

	if (!opt.pcapng)
		return 16 + caplen;
	return 32 + caplen + ((4 - (caplen & 3)) & 3);
}

static uint32_t wire_len(const struct flow *f, const struct pkt *p)
{
	uint32_t l4 = f->proto == 6 ? 20u + p->optlen : 8u;

	return link_len(f) + (f->v6 ? 40u : 20u) + l4 + p->plen;
}

static const uint8_t gw_mac[6] = {0x00, 0x1b, 0x21, 0x3a, 0x4f, 0x01};

static void host_mac(uint32_t h, uint8_t *m)
{
	m[0] = 0x52;
	m[1] = 0x54;
	m[2] = 0x00;
	be24(m + 3, h);
}

/* build headers in front of @pay; returns the frame start */
static uint8_t *build_frame(struct flow *f, const struct pkt *p, uint8_t *pay, uint32_t *lenp)
{
	int d = p->dir;
	uint32_t l4len = f->proto == 6 ? 20u + p->optlen : 8u;
	uint32_t iplen = f->v6 ? 40u : 20u;
	uint8_t *l4 = pay - l4len, *ip = l4 - iplen, *lk;
	uint16_t etype = f->v6 ? 0x86dd : 0x0800;
	uint8_t cmac[6];
	uint64_t sum;
	uint32_t i;

	/* transport */
	be16(l4, f->port[d]);
	be16(l4 + 2, f->port[!d]);
	if (f->proto == 6) {
		be32(l4 + 4, p->seq);
		be32(l4 + 8, p->ack);
		l4[12] = (uint8_t)((l4len / 4) << 4);
		l4[13] = p->flags;
		be16(l4 + 14, (p->flags & TH_SYN) ? (d ? 65160 : 64240) : (d ? 501 : 502));
		be16(l4 + 16, 0);
		be16(l4 + 18, 0);
		if (p->optlen) {
			be16(l4 + 20, 0x0204);
			be16(l4 + 22, f->mss);
			l4[24] = 1;
			l4[25] = 3;
			l4[26] = 3;
			l4[27] = d ? 9 : 7;
			l4[28] = 1;
			l4[29] = 1;
			l4[30] = 4;
			l4[31] = 2;
		}
	} else {
		be16(l4 + 4, l4len + p->plen);
		be16(l4 + 6, 0);
	}
	/* pseudo header checksum */
	sum = f->proto + (uint64_t)l4len + p->plen;
	sum = csum_add(sum, f->addr[0], f->v6 ? 16 : 4);
	sum = csum_add(sum, f->addr[1], f->v6 ? 16 : 4);
	sum = csum_add(sum, l4, l4len);
	sum = csum_add(sum, pay, p->plen);
	i = csum_fold(sum);
	if (f->proto == 17 && i == 0)
		i = 0xffff;
	be16(l4 + (f->proto == 6 ? 16 : 6), i);

	/* network */
	if (f->v6) {
		be32(ip, 0x60000000u | f->flowlabel);
		be16(ip + 4, l4len + p->plen);
		ip[6] = f->proto;
		ip[7] = f->ttl[d];
		memcpy(ip + 8, f->addr[d], 16);
		memcpy(ip + 24, f->addr[!d], 16);
	} else {
		ip[0] = 0x45;
		ip[1] = 0;
		be16(ip + 2, 20 + l4len + p->plen);
		be16(ip + 4, f->ipid[d]);
		f->ipid[d]++;
		be16(ip + 6, 0x4000);
		ip[8] = f->ttl[d];
		ip[9] = f->proto;
		be16(ip + 10, 0);
		memcpy(ip + 12, f->addr[d], 4);
		memcpy(ip + 16, f->addr[!d], 4);
		be16(ip + 10, csum_fold(csum_add(0, ip, 20)));
	}

	/* link */
	lk = ip - link_len(f);
	host_mac(f->host, cmac);
	switch (opt.link) {
	case LINK_ETHER:
		memcpy(lk, d ? cmac : gw_mac, 6);
		memcpy(lk + 6, d ? gw_mac : cmac, 6);
		if (f->vlan) {
			be16(lk + 12, 0x8100);
			be16(lk + 14, f->vlan);
			be16(lk + 16, etype);
		} else {
			be16(lk + 12, etype);
		}
		break;
	case LINK_SLL:
		be16(lk, d ? 0 : 4);
		be16(lk + 2, 1);
		be16(lk + 4, 6);
		memcpy(lk + 6, d ? gw_mac : cmac, 6);
		be16(lk + 12, 0);
		be16(lk + 14, etype);
		break;
	case LINK_SLL2:
		be16(lk, etype);
		be16(lk + 2, 0);
		be32(lk + 4, 2);
		be16(lk + 8, 1);
		lk[10] = d ? 0 : 4;
		lk[11] = 6;
		memcpy(lk + 12, d ? gw_mac : cmac, 6);
		be16(lk + 18, 0);
		break;
	case LINK_NULL:
		fe32(lk, f->v6 ? 24 : 2);
		break;
	default:
		break;
	}
	*lenp = (uint32_t)(pay + p->plen - lk);
	return lk;
}

/* ----------------------------------------------------- flow creation */

struct port_weight {
	uint16_t port;
	uint16_t permille;
	uint8_t kind;
};

static const struct port_weight tcp_ports[] = {
    {443, 560, K_TLS13},
    {9001, 30, K_TLS13},
    {993, 10, K_TLS12},
    {8443, 10, K_TLS12},
    {80, 200, K_HTTP},
    {8080, 40, K_HTTP},
    {9030, 10, K_HTTP},
    {22, 40, K_SSH},
    {25, 25, K_PLAIN},
    {3306, 25, K_PLAIN},
    {5222, 20, K_PLAIN},
    {5432, 15, K_PLAIN},
    {6667, 15, K_PLAIN},
};

static const struct port_weight udp_ports[] = {
    {53, 650, K_DNS},
    {443, 300, K_QUIC},
    {123, 50, K_NTP},
};

static const struct port_weight *pick_port(const struct port_weight *t, size_t n)
{
	uint32_t r = gbelow(1000);
	size_t i;

	for (i = 0; i + 1 < n; i++) {
		if (r < t[i].permille)
			return &t[i];
		r -= t[i].permille;
	}
	return &t[n - 1];
}

static int take_client(uint32_t *host, uint16_t *port)
{
	uint32_t h = gbelow(n_hosts), i;

	for (i = 0; i < n_hosts; i++) {
		uint32_t hh = (h + i) % n_hosts;

		if (host_port[hh] <= 60999) {
			*host = hh;
			*port = (uint16_t)host_port[hh];
			host_port[hh] += grange(1, 3);
			return 0;
		}
	}
	return -ENOSPC;
}

static void client_addr(uint32_t h, int v6, uint8_t *a)
{
	uint32_t v = (h * 0x9e3779b1u + 0x2a51u) & 0xffffffu;

	if (!v6) {
		a[0] = 10;
		be24(a + 1, v);
		return;
	}
	memset(a, 0, 16);
	be32(a, 0xfd747261u);
	be16(a + 4, 0x6365);
	be16(a + 6, 1 + (h >> 24));
	be32(a + 8, 0x02163eff);
	a[12] = 0xfe;
	be24(a + 13, h & 0xffffffu);
}

static void server_addr(struct flow *f, int v6, uint16_t port)
{
	static const uint8_t dns4[4][4] = {
	    {8, 8, 8, 8},
	    {1, 1, 1, 1},
	    {9, 9, 9, 9},
	    {192, 168, 0, 1},
	};
	static const uint8_t dns6[2][16] = {
	    {0x20, 0x01, 0x48, 0x60, 0x48, 0x60, 0, 0, 0, 0, 0, 0, 0, 0, 0x88, 0x88},
	    {0x26, 0x06, 0x47, 0x00, 0x47, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0x11, 0x11},
	};
	uint32_t idx;

	if (port == 53) {
		if (v6)
			memcpy(f->addr[1], dns6[gbelow(2)], 16);
		else
			memcpy(f->addr[1], dns4[gbelow(4)], 4);
		return;
	}
	/* skewed popularity: low indices are popular */
	idx = gbelow(gbelow(n_servers) + 1);
	if (v6)
		memcpy(f->addr[1], srv_v6[idx], 16);
	else
		memcpy(f->addr[1], srv_v4[idx], 4);
}

static double flow_mult(void)
{
	uint32_t r = gbelow(1000);
	double u = gunit();

	if (r < 450)
		u = 0.02 + 0.18 * u;
	else if (r < 750)
		u = 0.2 + 0.8 * u;
	else if (r < 920)
		u = 1.0 + 2.0 * u;
	else if (r < 990)
		u = 3.0 + 5.0 * u;
	else
		u = 8.0 + 32.0 * u;
	return u / 1.1945;
}

/*
 * Initialise a new flow.  @base is the bulk volume (bytes) for an average
 * flow, @cap the most the remaining budget allows, and @fill asks for a
 * flow that uses up that budget.  All creation-time choices use the
 * global PRNG, in-flow choices use the flow's own.
 */
static int flow_init(struct flow *f, double base, double cap, int fill)
{
	const struct port_weight *pw;
	uint32_t r;
	double v;
	int err;

	memset(f, 0, sizeof(*f));
	f->rng = grand();
	f->name_seed = grand();
	if (gunit() < opt.udp_frac) {
		f->proto = 17;
		pw = pick_port(udp_ports, NELEM(udp_ports));
	} else {
		f->proto = 6;
		pw = pick_port(tcp_ports, NELEM(tcp_ports));
	}
	f->kind = pw->kind;
	f->port[1] = pw->port;
	f->v6 = gunit() < opt.ipv6_frac;
	{
		/* drawn for every link type so all formats carry the same flows */
		static const uint16_t vids[] = {10, 20, 30, 100, 200, 1001};
		int tag = gunit() < opt.vlan_frac;
		uint16_t vid = vids[gbelow(NELEM(vids))];

		if (tag && opt.link == LINK_ETHER)
			f->vlan = vid;
	}
	err = take_client(&f->host, &f->port[0]);
	if (err)
		return err;
	client_addr(f->host, f->v6, f->addr[0]);
	server_addr(f, f->v6, f->port[1]);
	f->flowlabel = gbelow(1u << 20);
	f->ipid[0] = (uint16_t)grand();
	f->ipid[1] = (uint16_t)grand();
	f->ttl[0] = 64;
	f->ttl[1] = (uint8_t)grange(40, 58);
	f->seq[0] = (uint32_t)grand();
	f->seq[1] = (uint32_t)grand();
	f->pool_off = (uint32_t)grand();
	f->mss = f->v6 ? 1440 : 1460;
	if (gbelow(10) == 0)
		f->mss = (uint16_t)(f->mss - 80);
	f->closer = gbelow(10) < 3;
	r = (uint32_t)grand();
	memcpy(f->cid[0], &r, 4);
	r = (uint32_t)grand();
	memcpy(f->cid[0] + 4, &r, 4);
	r = (uint32_t)grand();
	memcpy(f->cid[1], &r, 4);
	r = (uint32_t)grand();
	memcpy(f->cid[1] + 4, &r, 4);

	if (f->proto == 6) {
		r = gbelow(100);
		if (r < 2) {
			f->kind = K_SYNFAIL;
			f->rounds = (uint16_t)grange(1, 3);
		} else if (r < 3) {
			f->kind = K_RSTFAIL;
		}
		if (f->kind == K_TLS13 && f->port[1] == 443 && gbelow(4) == 0)
			f->kind = K_TLS12;
		f->tor = f->port[1] == 9001;
		f->alpn = !f->tor && f->port[1] != 993 && gbelow(10) < 7;
		f->close_notify = gbelow(10) < 6;
		f->server_first = f->port[1] == 25 || f->port[1] == 3306;
		f->phase = PH_SYN;
	} else {
		f->phase = PH_UDP;
		if (f->kind == K_DNS)
			f->rounds = gbelow(10) < 4 ? 2 : 1;
	}

	if (f->kind == K_SYNFAIL || f->kind == K_RSTFAIL || f->kind == K_DNS || f->kind == K_NTP)
		return 0;

	/* bulk kinds */
	v = flow_mult() * base;
	if (v > cap || fill)
		v = cap;
	if (v < 1)
		v = 1;
	if (v > 256.0 * 1024 * 1024)
		v = 256.0 * 1024 * 1024;
	f->vol = (uint32_t)v;
	f->upload = gbelow(100) < 8;
	f->req = grange(80, 900);
	if (f->kind == K_SSH) {
		f->rounds = (uint16_t)grange(2, 30);
		f->req = grange(36, 120);
	} else if (f->vol > 50000) {
		f->rounds = (uint16_t)grange(1, 6);
	} else if (f->vol > 8000) {
		f->rounds = (uint16_t)grange(1, 3);
	} else {
		f->rounds = (uint16_t)grange(1, 2);
	}
	if (f->kind == K_QUIC)
		f->req = grange(40, 400);
	if (f->tor) {
		f->recsz = 531u * grange(1, 4);
	} else {
		r = gbelow(10);
		f->recsz = r < 6 ? (f->kind == K_TLS12 ? 16408u : 16401u) : r < 8 ? 4113u : 1369u;
	}
	return 0;
}

/* ------------------------------------------------------------ truth */

static void fmt_addr(const struct flow *f, int side, char *buf, size_t cap)
{
	if (!inet_ntop(f->v6 ? AF_INET6 : AF_INET, f->addr[side], buf, (socklen_t)cap))
		snprintf(buf, cap, "?");
}

static void truth_row(const struct flow *f)
{
	char a[64], b[64];

	if (f->pkts[0] + f->pkts[1] == 0)
		return;
	tot_flows++;
	if (!truth)
		return;
	fmt_addr(f, 0, a, sizeof(a));
	fmt_addr(f, 1, b, sizeof(b));
	fprintf(truth,
	    "%s,%s,%u,%s,%u,%" PRIu64 ".%09" PRIu64 ",%" PRIu64 ".%09" PRIu64 ",%" PRIu64
	    ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 "\n",
	    f->proto == 6 ? "tcp" : "udp", a, (unsigned)f->port[0], b, (unsigned)f->port[1],
	    f->first_ts / NSEC, f->first_ts % NSEC, f->last_ts / NSEC, f->last_ts % NSEC,
	    f->pkts[0], f->pkts[1], f->bytes[0], f->bytes[1]);
}

/* ------------------------------------------------------------- main */

static void usage(FILE *fp)
{
	fprintf(fp,
	    "Usage: tt-genpcap -o FILE [options]\n"
	    "Deterministic synthetic packet capture generator with ground truth.\n"
	    "\n"
	    "Output:\n"
	    "  -o, --output FILE       capture file to write (required)\n"
	    "      --truth FILE.csv    ground truth, one row per bidirectional flow:\n"
	    "                          proto,src_ip,src_port,dst_ip,dst_port,first_ts,\n"
	    "                          last_ts,pkts_fwd,pkts_rev,bytes_fwd,bytes_rev\n"
	    "                          (src = initiator; bytes = wire length incl. link\n"
	    "                          header; rows in flow completion order)\n"
	    "Amount (default: --flows 100 of about 6 KiB each):\n"
	    "      --size BYTES        approximate file size; suffix K/M/G (1024-based)\n"
	    "      --packets N         exactly N packets (flows open at the end are cut)\n"
	    "      --flows N           total flows (default: size/6 KiB, packets/8);\n"
	    "                          with --size, exactly N flows are started\n"
	    "      --concurrency N     active flows at a time (default %u)\n"
	    "      --seed N            PRNG seed (default 1)\n"
	    "Format:\n"
	    "      --format pcap|pcapng  (default pcap)\n"
	    "      --ns                nanosecond timestamps\n"
	    "      --big-endian        write headers big-endian\n"
	    "      --snaplen N         capture length limit (default %u)\n"
	    "      --link ether|raw|sll|sll2|null  (link types 1, 101, 113, 276, 0)\n"
	    "Traffic mix:\n"
	    "      --vlan-frac F       fraction of Ethernet flows with 802.1Q (0.1)\n"
	    "      --ipv6-frac F       fraction of IPv6 flows (0.2)\n"
	    "      --udp-frac F        fraction of UDP flows (0.25)\n"
	    "Broken files (tests):\n"
	    "      --cut-header N      write only the first N bytes of the file header\n"
	    "                          (pcapng: of the SHB) and stop\n"
	    "      --cut-last-record N cut the final record after N bytes (record\n"
	    "                          header included); truth still counts it\n"
	    "      --bad-caplen[=V]    one record in the middle claims caplen V\n"
	    "                          (default 0x7fffff00); truth still counts it\n"
	    "  -h, --help              this help\n"
	    "\n"
	    "Prints 'packets=N bytes=N flows=N' (bytes = sum of wire lengths).\n",
	    DEF_CONC, DEF_SNAPLEN);
}

static int parse_u64(const char *s, uint64_t *v, int suffix)
{
	char *end;
	unsigned long long x;

	errno = 0;
	if (*s == '-')
		return -EINVAL;
	x = strtoull(s, &end, 0);
	if (errno || end == s)
		return -EINVAL;
	if (suffix && *end) {
		unsigned shift = 0;

		switch (*end) {
		case 'k':
		case 'K':
			shift = 10;
			break;
		case 'm':
		case 'M':
			shift = 20;
			break;
		case 'g':
		case 'G':
			shift = 30;
			break;
		case 't':
		case 'T':
			shift = 40;
			break;
		default:
			return -EINVAL;
		}
		end++;
		if (*end == 'i')
			end++;
		if (*end == 'B' || *end == 'b')
			end++;
		if (x > (UINT64_MAX >> shift))
			return -ERANGE;
		x <<= shift;
	}
	if (*end)
		return -EINVAL;
	*v = x;
	return 0;
}

static int parse_frac(const char *s, double *v)
{
	char *end;
	double x;

	errno = 0;
	x = strtod(s, &end);
	if (errno || end == s || *end || !(x >= 0.0 && x <= 1.0))
		return -EINVAL;
	*v = x;
	return 0;
}

enum {
	O_TRUTH = 256,
	O_SIZE,
	O_PACKETS,
	O_FLOWS,
	O_CONC,
	O_SEED,
	O_FORMAT,
	O_NS,
	O_BE,
	O_SNAPLEN,
	O_LINK,
	O_VLAN,
	O_IPV6,
	O_UDP,
	O_CUTHDR,
	O_CUTLAST,
	O_BADCAP,
};

static int parse_args(int argc, char **argv)
{
	static const struct option lo[] = {
	    {"output", required_argument, NULL, 'o'},
	    {"truth", required_argument, NULL, O_TRUTH},
	    {"size", required_argument, NULL, O_SIZE},
	    {"packets", required_argument, NULL, O_PACKETS},
	    {"flows", required_argument, NULL, O_FLOWS},
	    {"concurrency", required_argument, NULL, O_CONC},
	    {"seed", required_argument, NULL, O_SEED},
	    {"format", required_argument, NULL, O_FORMAT},
	    {"ns", no_argument, NULL, O_NS},
	    {"big-endian", no_argument, NULL, O_BE},
	    {"snaplen", required_argument, NULL, O_SNAPLEN},
	    {"link", required_argument, NULL, O_LINK},
	    {"vlan-frac", required_argument, NULL, O_VLAN},
	    {"ipv6-frac", required_argument, NULL, O_IPV6},
	    {"udp-frac", required_argument, NULL, O_UDP},
	    {"cut-header", required_argument, NULL, O_CUTHDR},
	    {"cut-last-record", required_argument, NULL, O_CUTLAST},
	    {"bad-caplen", optional_argument, NULL, O_BADCAP},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	uint64_t v;
	size_t i;
	int c, err = 0;

	while ((c = getopt_long(argc, argv, "o:h", lo, NULL)) != -1) {
		switch (c) {
		case 'o':
			opt.out_path = optarg;
			break;
		case O_TRUTH:
			opt.truth_path = optarg;
			break;
		case O_SIZE:
			err = parse_u64(optarg, &opt.size, 1);
			if (!err && opt.size == 0)
				err = -EINVAL;
			break;
		case O_PACKETS:
			err = parse_u64(optarg, &opt.packets, 1);
			if (!err && opt.packets == 0)
				err = -EINVAL;
			break;
		case O_FLOWS:
			err = parse_u64(optarg, &opt.flows, 1);
			if (!err && (opt.flows == 0 || opt.flows > 100000000))
				err = -EINVAL;
			opt.flows_set = 1;
			break;
		case O_CONC:
			err = parse_u64(optarg, &v, 1);
			if (!err && (v == 0 || v > 1000000))
				err = -EINVAL;
			opt.conc = (uint32_t)v;
			break;
		case O_SEED:
			err = parse_u64(optarg, &opt.seed, 0);
			break;
		case O_FORMAT:
			if (!strcmp(optarg, "pcap"))
				opt.pcapng = 0;
			else if (!strcmp(optarg, "pcapng"))
				opt.pcapng = 1;
			else
				err = -EINVAL;
			break;
		case O_NS:
			opt.ns = 1;
			break;
		case O_BE:
			opt.be = 1;
			break;
		case O_SNAPLEN:
			err = parse_u64(optarg, &v, 1);
			if (!err && (v == 0 || v > 0x7fffffff))
				err = -EINVAL;
			opt.snaplen = (uint32_t)v;
			break;
		case O_LINK:
			err = -EINVAL;
			for (i = 0; i < NELEM(links); i++) {
				if (!strcmp(optarg, links[i].name)) {
					opt.link = (int)i;
					err = 0;
				}
			}
			break;
		case O_VLAN:
			err = parse_frac(optarg, &opt.vlan_frac);
			break;
		case O_IPV6:
			err = parse_frac(optarg, &opt.ipv6_frac);
			break;
		case O_UDP:
			err = parse_frac(optarg, &opt.udp_frac);
			break;
		case O_CUTHDR:
			err = parse_u64(optarg, &v, 0);
			opt.cut_header = (int64_t)(v < 4096 ? v : 4096);
			break;
		case O_CUTLAST:
			err = parse_u64(optarg, &v, 0);
			opt.cut_last = (int64_t)(v < 65536 ? v : 65536);
			break;
		case O_BADCAP:
			opt.bad_caplen = 1;
			if (optarg) {
				err = parse_u64(optarg, &v, 0);
				if (!err && v > UINT32_MAX)
					err = -ERANGE;
				opt.bad_caplen_value = (uint32_t)v;
			}
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			return -EINVAL;
		}
		if (err) {
			fprintf(
			    stderr, "tt-genpcap: bad value for option: %s\n", optarg ? optarg : "");
			return err;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "tt-genpcap: unexpected argument: %s\n", argv[optind]);
		return -EINVAL;
	}
	if (!opt.out_path) {
		fprintf(stderr, "tt-genpcap: -o FILE is required\n");
		return -EINVAL;
	}
	if (opt.size && opt.packets) {
		fprintf(stderr, "tt-genpcap: --size and --packets are exclusive\n");
		return -EINVAL;
	}
	return 0;
}

static int setup(void)
{
	uint64_t s = opt.seed;
	uint32_t i;

	for (i = 0; i < 4; i++)
		g_rng[i] = splitmix64(&s);
	g_pool = malloc(POOL_SIZE + PAY_MAX);
	if (!g_pool)
		return -ENOMEM;
	for (i = 0; i < (POOL_SIZE + PAY_MAX) / 8; i++) {
		uint64_t v = grand();

		memcpy(g_pool + 8 * (size_t)i, &v, 8);
	}

	n_hosts = (uint32_t)(opt.flows / 1000 + 64);
	host_port = malloc(sizeof(*host_port) * n_hosts);
	n_servers = (uint32_t)(opt.flows / 8 + 16);
	if (n_servers > 8192)
		n_servers = 8192;
	srv_v4 = malloc(sizeof(*srv_v4) * n_servers);
	srv_v6 = malloc(sizeof(*srv_v6) * n_servers);
	if (!host_port || !srv_v4 || !srv_v6)
		return -ENOMEM;
	for (i = 0; i < n_hosts; i++)
		host_port[i] = grange(32768, 40000);
	for (i = 0; i < n_servers; i++) {
		uint8_t o;

		do {
			o = (uint8_t)grange(1, 223);
		} while (o == 10 || o == 127 || o == 169 || o == 172 || o == 192 || o == 100);
		srv_v4[i][0] = o;
		be24(srv_v4[i] + 1, gbelow(1u << 24));
		memset(srv_v6[i], 0, 16);
		be32(srv_v6[i], 0x2a000000u | gbelow(1u << 20) << 4);
		be32(srv_v6[i] + 4, (uint32_t)grand());
		be16(srv_v6[i] + 14, grange(1, 0xffff));
	}
	return 0;
}

/* gap between packets: bursts of a few us and pauses up to 300 us */
static uint64_t next_gap(void)
{
	uint64_t gap = gbelow(10) < 7 ? grange(200, 10000) : grange(10000, 300000);

	if (!opt.ns)
		gap = (gap / 1000 + 1) * 1000;
	return gap;
}

static int generate(void)
{
	static uint8_t frame[FRAME_MAX + PAY_MAX];
	static uint8_t scratch[FRAME_MAX + PAY_MAX];
	uint8_t *pay = frame + HEADROOM;
	struct flow *pool, *dry;
	uint64_t target, started = 0, planned = 0, produced = 0;
	uint32_t active = 0, i;
	double per_flow, base, corr, rem, cap;
	int units_pkts = opt.packets != 0;
	int bad_done = !opt.bad_caplen;
	int err;

	if (opt.packets) {
		target = opt.packets;
		if (!opt.flows_set)
			opt.flows = opt.packets / FLOW_PKTS ? opt.packets / FLOW_PKTS : 1;
	} else if (opt.size) {
		target = opt.size;
		if (!opt.flows_set)
			opt.flows = opt.size / FLOW_BYTES ? opt.size / FLOW_BYTES : 1;
	} else {
		if (!opt.flows_set)
			opt.flows = 100;
		target = opt.flows * FLOW_BYTES;
	}
	/* the file header counts towards --size */
	if (opt.size && target > 256)
		target -= opt.pcapng ? 88 : 24;
	per_flow = (double)target / (double)opt.flows;
	/* bulk volume of an average flow; the correction adapts it */
	base = units_pkts ? per_flow * 900.0 : per_flow;
	corr = 1.0;

	err = setup();
	if (err)
		return err;
	pool = calloc(opt.conc, sizeof(*pool));
	dry = malloc(sizeof(*dry));
	if (!pool || !dry)
		return -ENOMEM;
	g_ts = EPOCH_SEC * NSEC;

	for (;;) {
		struct flow *f;
		struct pkt p;
		uint8_t *fr;
		uint32_t len, slot;

		/* fill the pool */
		while (active < opt.conc) {
			int more;

			if (units_pkts || (opt.size && !opt.flows_set))
				more = planned < target;
			else
				more = started < opt.flows;
			if (!more)
				break;
			f = &pool[active];
			rem = planned < target ? (double)(target - planned) : 0.0;
			cap = units_pkts ? rem * 900.0 : rem * 0.9 - 2000.0;
			err = flow_init(f, base * corr, cap,
			    opt.flows_set && !units_pkts && started + 1 == opt.flows);
			if (err)
				return err;
			/* dry run to know the flow's exact cost */
			memcpy(dry, f, sizeof(*dry));
			while (dry->phase != PH_DONE) {
				flow_step(dry, &p, scratch + HEADROOM);
				planned += units_pkts ? 1 : record_size(wire_len(dry, &p));
			}
			started++;
			active++;
			/* steer the average towards target/flows */
			if (started > 16) {
				double ideal = per_flow * (double)started;
				double e = (ideal - (double)planned) / (per_flow * 20.0);

				if (e > 1)
					e = 1;
				if (e < -1)
					e = -1;
				corr *= 1.0 + 0.05 * e;
				if (corr < 0.001)
					corr = 0.001;
				if (corr > 1000)
					corr = 1000;
			}
		}
		if (active == 0)
			break;

		slot = gbelow(active);
		f = &pool[slot];
		g_ts += next_gap();
		flow_step(f, &p, pay);
		fr = build_frame(f, &p, pay, &len);
		if (!bad_done && produced * 2 >= target) {
			bad_done = 1;
			err = write_record(g_ts, fr, len, 1);
		} else {
			err = write_record(g_ts, fr, len, 0);
		}
		if (err)
			return err;
		if (!f->pkts[0] && !f->pkts[1])
			f->first_ts = g_ts;
		f->last_ts = g_ts;
		f->pkts[p.dir]++;
		f->bytes[p.dir] += len;
		tot_pkts++;
		tot_bytes += len;
		produced += units_pkts ? 1 : record_size(len);
		if (units_pkts && tot_pkts >= opt.packets)
			break;
		if (f->phase == PH_DONE) {
			truth_row(f);
			active--;
			if (slot != active)
				memcpy(f, &pool[active], sizeof(*f));
		}
	}
	/* flows still open (--packets) */
	for (i = 0; i < active; i++)
		truth_row(&pool[i]);
	/* the file came out smaller than planned: break the last record */
	if (!bad_done && rec_len)
		fe32(rec_buf + (opt.pcapng ? 20 : 8), opt.bad_caplen_value);
	err = rec_flush(opt.cut_last);
	free(pool);
	free(dry);
	return err;
}

int main(int argc, char **argv)
{
	uint8_t hdr[128];
	size_t hlen;
	int err;

	err = parse_args(argc, argv);
	if (err) {
		usage(stderr);
		return 2;
	}
	out_f = fopen(opt.out_path, "wb");
	if (!out_f) {
		fprintf(stderr, "tt-genpcap: %s: %s\n", opt.out_path, strerror(errno));
		return 1;
	}
	if (opt.truth_path) {
		truth = fopen(opt.truth_path, "w");
		if (!truth) {
			fprintf(stderr, "tt-genpcap: %s: %s\n", opt.truth_path, strerror(errno));
			return 1;
		}
		setvbuf(truth, NULL, _IOFBF, 1 << 20);
		fprintf(truth, "proto,src_ip,src_port,dst_ip,dst_port,first_ts,"
			       "last_ts,pkts_fwd,pkts_rev,bytes_fwd,bytes_rev\n");
	}
	out_buf = malloc(OUT_BUF);
	if (!out_buf)
		return 1;
	hlen = global_header(hdr);
	if (opt.cut_header >= 0) {
		size_t n = first_header_len();

		if ((uint64_t)opt.cut_header < n)
			n = (size_t)opt.cut_header;
		err = out_put(hdr, n);
	} else {
		err = out_put(hdr, hlen);
		if (!err)
			err = generate();
	}
	if (!err)
		err = out_flush();
	if (fclose(out_f) && !err)
		err = errno ? -errno : -EIO;
	if (truth && fclose(truth) && !err)
		err = errno ? -errno : -EIO;
	if (err) {
		fprintf(stderr, "tt-genpcap: %s\n", strerror(-err));
		return 1;
	}
	printf("packets=%" PRIu64 " bytes=%" PRIu64 " flows=%" PRIu64 "\n", tot_pkts, tot_bytes,
	    tot_flows);
	return 0;
}
