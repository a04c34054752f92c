/* TLS inspector: reassembles the first kilobytes of each direction of a TCP flow (until the
 * direction is encrypted; after that it follows record headers only, copying nothing),
 * walks the TLS records, parses ClientHello, ServerHello and (TLS <= 1.2) Certificate, computes
 * JA3, JA3S and JA4, and tests Tor's TLS traits (TOR-DETECTION.md §1.3-§1.4, evidence
 * groups B, C and D of §6.2).
 *
 * Threads and memory: every function is a pure function over memory the caller owns. No
 * locks, no allocation of ours. The one exception is the digests of the fingerprints
 * (tt_tls_ja3, tt_tls_ja3s, tt_tls_ja4): MD5 and SHA-256 are fetched from libcrypto once per
 * process (pthread_once; the one global), and EVP_Digest allocates a context internally;
 * they run once per handshake shape (the worker caches them, workers.h tt_fp_cache), never
 * per packet. Any thread may call anything here on objects it owns; in tortrace that is
 * the worker that owns the flow.
 *
 * Pointers handed out (record fragments, handshake message bodies) point into the
 * stream or handshake buffer they came from. They stay valid until that object is
 * re-initialised, because bytes below a stream's contiguous length are never rewritten.
 *
 * Internal to src/workers (the worker includes it; nothing else should). */
#ifndef TT_SRC_WORKERS_TLS_H
#define TT_SRC_WORKERS_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- per-direction TCP reassembly of the first TT_TLS_STREAM_CAP bytes --------------- */

#define TT_TLS_STREAM_CAP        8192u /* bytes kept per direction */
#define TT_TLS_STREAM_MAX_RANGES 4     /* out-of-order islands kept past the in-order end */

enum tt_tls_stream_flag {
	TT_TLS_STREAM_FULL = 1u << 0,      /* bytes past TT_TLS_STREAM_CAP were dropped */
	TT_TLS_STREAM_GAP = 1u << 1,       /* an out-of-order segment was dropped (no slot) */
	TT_TLS_STREAM_MIDSTREAM = 1u << 2, /* no SYN: byte 0 is the first data segment seen */
	TT_TLS_STREAM_NOT_TLS = 1u << 3,   /* the record walker met a non-TLS header; stopped */
	TT_TLS_STREAM_RESYNC = 1u << 4,    /* byte 0 may be inside a record: the walker first
					    * finds a record boundary (tt_tls_resync) */
	TT_TLS_STREAM_SYNCED = 1u << 5,    /* RESYNC: a boundary was found at sync_off */
	TT_TLS_STREAM_FOLLOW = 1u << 6,    /* the direction is encrypted: only record headers
					    * are read from later segments, nothing is copied
					    * into buf (tt_tls_stream_follow) */
	TT_TLS_STREAM_LOST = 1u << 7,      /* FOLLOW: a header was lost or malformed; stopped */
};

/* Out-of-order data already copied into buf at [start, end) (stream offsets). */
struct tt_tls_range {
	uint32_t start, end;
};

/* Following a direction's record headers without keeping its bytes: where the next
 * header starts and its bytes gathered so far (tt_tls_follow_next). */
struct tt_tls_follow {
	uint32_t hdr_off; /* stream offset of the next record header */
	uint8_t hdr[5];   /* its bytes gathered so far */
	uint8_t hdr_mask; /* which of hdr's bytes are there (bit i: hdr[i]) */
};

/* One direction of a TCP stream. Every field is written only by tt_tls_stream_* calls. */
struct tt_tls_stream {
	uint32_t base_seq; /* sequence number of buf[0] (valid when has_base) */
	uint32_t len;      /* buf[0, len) is contiguous stream data */
	uint32_t walk_off; /* offset of the next record header the walker reads */
	uint32_t sync_off; /* RESYNC: where the walk started (valid once SYNCED); else 0 */
	uint32_t scan_off; /* RESYNC: offsets below it cannot start a chain (see tt_tls_resync) */
	uint32_t n_segs, n_retrans_segs, n_ooo_segs; /* data segments seen, wholly old, early */
	uint16_t flags;                              /* enum tt_tls_stream_flag bits */
	uint8_t n_ranges;
	bool has_base;
	struct tt_tls_range ranges[TT_TLS_STREAM_MAX_RANGES]; /* sorted, disjoint, > len */
	struct tt_tls_follow fol;                             /* FOLLOW: the next record header */
	uint8_t buf[TT_TLS_STREAM_CAP];
};

/* Reset s to empty. */
void tt_tls_stream_init(struct tt_tls_stream *s);

/* Add one TCP segment of this direction: seq is the segment's sequence number, is_syn
 * whether it carries SYN (its payload then starts at seq + 1). In-order bytes are
 * appended; bytes already held (retransmission) are ignored; a segment past a hole is
 * kept in one of TT_TLS_STREAM_MAX_RANGES islands until the hole fills (else
 * TT_TLS_STREAM_GAP). Bytes past TT_TLS_STREAM_CAP are dropped (TT_TLS_STREAM_FULL).
 * Without a SYN the first data segment defines offset 0 (TT_TLS_STREAM_MIDSTREAM).
 * Returns how many bytes the contiguous prefix grew by. payload is not kept. */
uint32_t tt_tls_stream_add(
    struct tt_tls_stream *s, uint32_t seq, const uint8_t *payload, uint32_t len, bool is_syn);

/* True when no byte can be added any more (buffer full and contiguous, or not TLS). */
bool tt_tls_stream_is_done(const struct tt_tls_stream *s);

/* A TLS record found by the walker. frag points into the stream's buffer. */
struct tt_tls_record {
	const uint8_t *frag; /* the first frag_len bytes of the fragment */
	uint32_t offset;     /* stream offset of the record header */
	uint16_t version;    /* record-layer version */
	uint16_t length;     /* fragment length from the header */
	uint16_t frag_len;   /* == length unless is_truncated */
	uint8_t type;        /* content type: 20 CCS, 21 alert, 22 handshake, 23 data, 24 hb */
	bool is_truncated;   /* the record runs past TT_TLS_STREAM_CAP; only its start is kept */
};

#define TT_TLS_RECORD_MAX 18432u /* 2^14 + 2048: the largest TLSCiphertext fragment */

/* The next complete record of s, in stream order. A record that crosses the end of a full
 * buffer is returned once with is_truncated set. Returns 1 with *r filled, 0 when no
 * complete record is available yet (call again after more tt_tls_stream_add), or
 * -EBADMSG when the bytes are not TLS (bad type, version or length; sticky, and
 * TT_TLS_STREAM_NOT_TLS is set). With TT_TLS_STREAM_RESYNC set, the walk starts at the
 * offset tt_tls_resync finds (0 until it finds one; -EBADMSG, sticky, when the full
 * buffer holds none). */
int tt_tls_stream_next_record(struct tt_tls_stream *s, struct tt_tls_record *r);

/* Switch s to following record headers only: the walker has read every complete record of
 * buf (tt_tls_stream_next_record returned 0), and the next header is at walk_off. Later
 * segments go to tt_tls_stream_follow instead of tt_tls_stream_add; the header bytes
 * already in buf are taken over. */
void tt_tls_stream_start_follow(struct tt_tls_stream *s);

/* Following (TT_TLS_STREAM_FOLLOW): take the next record header from a segment of this
 * direction (seq: its sequence number), reading only the 5 header bytes, wherever they
 * fall (a header split across segments, or arriving out of order, is gathered byte by
 * byte). Returns 1 with *r set (frag NULL, frag_len 0, is_truncated), 0 when the segment
 * completes no further header (call again with the same segment after each 1), or
 * -EBADMSG when following stopped (TT_TLS_STREAM_LOST: a malformed header, or segments
 * arrived 256 KiB past a header whose bytes never came). */
int tt_tls_stream_follow(struct tt_tls_stream *s, uint32_t seq, const uint8_t *payload,
    uint32_t len, struct tt_tls_record *r);

/* The same on a bare follower: seg_off is the segment's offset in the stream (its
 * sequence number minus the stream's base). -EBADMSG is not sticky here: the caller
 * stops. */
int tt_tls_follow_next(struct tt_tls_follow *fl, uint32_t seg_off, const uint8_t *payload,
    uint32_t len, struct tt_tls_record *r);

/* ---- mid-stream: finding record boundaries without the start of the stream ---------- */

enum {
	TT_TLS_RESYNC_CHAIN = 3,             /* headers in a chain that settle a boundary */
	TT_TLS_RESYNC_LEN_MAX = 16384 + 256, /* 2^14 + 256: TLS 1.3's TLSCiphertext bound */
};

/* Find the first record boundary in buf[0, len), the buffered bytes of a direction whose
 * start was not seen. A candidate offset o starts a chain of record headers: each has type
 * 20..24, version 0x0301..0x0304 (every header after the first: the first one's version;
 * after a first handshake record, the second one's, as a ClientHello's record says 3.1)
 * and length 1..TT_TLS_RESYNC_LEN_MAX, and the next header follows the record. o is
 * accepted when
 *   (a) TT_TLS_RESYNC_CHAIN headers chain from it, or
 *   (b) 2 headers chain and the second record ends exactly at len (a segment boundary), or
 *   (c) is_final (no byte will be added: the buffer is full) and 2 headers chain, the
 *       second record running past len.
 * On random bytes the chance that some offset of an 8 KiB buffer passes is below 4e-10
 * (rule (c): 8192 x 4.1e-14; tls.c gives the arithmetic).
 * *scan_off (in/out, start at 0) lets repeated calls on a growing buffer skip offsets
 * already ruled out. Returns 1 with *off set, 0 when none yet (more bytes may settle one),
 * -EBADMSG when is_final and there is none. Pure; any thread. */
int tt_tls_resync(
    const uint8_t *buf, uint32_t len, bool is_final, uint32_t *scan_off, uint32_t *off);

/* ---- handshake messages (they may span records) ---------------------------------- */

#define TT_TLS_HS_CAP 8192u

/* Plaintext handshake bytes of one direction, concatenated across records. Written only by
 * tt_tls_hs_* calls. */
struct tt_tls_hs {
	uint32_t len;      /* bytes in buf */
	uint32_t off;      /* offset of the next message tt_tls_hs_next returns */
	bool is_encrypted; /* a CCS or application-data record was seen: later
			    * handshake records are ciphertext and are not fed */
	bool is_overflow;  /* handshake bytes were dropped: buf is full or a record was cut */
	uint8_t buf[TT_TLS_HS_CAP];
};

struct tt_tls_hs_msg {
	const uint8_t *body; /* into the tt_tls_hs buffer */
	uint32_t len;        /* bytes in body (< length when is_truncated) */
	uint32_t length;     /* body length from the message header */
	uint8_t type;        /* 1 ClientHello, 2 ServerHello, 11 Certificate, ... */
	bool is_truncated;   /* the message was cut by an overflow; parse what is there */
};

void tt_tls_hs_init(struct tt_tls_hs *h);

/* Feed a record of this direction (from tt_tls_stream_next_record). Fragments of
 * handshake records are appended until the direction's first ChangeCipherSpec or
 * application-data record, after which the handshake is encrypted. */
void tt_tls_hs_feed(struct tt_tls_hs *h, const struct tt_tls_record *r);

/* The next handshake message. Returns 1 with *m filled, 0 when none is complete yet, or
 * -EBADMSG when the bytes are not handshake messages (sticky). After an overflow the
 * cut message is returned once with is_truncated. */
int tt_tls_hs_next(struct tt_tls_hs *h, struct tt_tls_hs_msg *m);

/* ---- ClientHello, ServerHello, Certificate --------------------------------------- */

enum {
	TT_TLS_MAX_CIPHERS = 512, /* ja3_lots_of_cipher_suites.pcap (nDPI) offers 350 */
	TT_TLS_MAX_EXTS = 64,
	TT_TLS_MAX_GROUPS = 48,
	TT_TLS_MAX_SIGALGS = 48,
	TT_TLS_MAX_VERSIONS = 16,
	TT_TLS_MAX_POINT_FORMATS = 8,
	TT_TLS_MAX_COMPRESSION = 8,
	TT_TLS_MAX_KEY_SHARES = 8,
	TT_TLS_MAX_ALPN = 8,
	TT_TLS_ALPN_NAME_MAX = 31, /* bytes of each ALPN name kept */
	TT_TLS_SNI_MAX = 255,
};

/* qsort's comparison of uint16_t values, ascending (tls.c; shared by the inspectors). */
int tt_cmp_u16(const void *a, const void *b);

/* GREASE (RFC 8701): 0x0a0a, 0x1a1a, ... 0xfafa. */
static inline bool tt_tls_is_grease(uint16_t v)
{
	return (v & 0x0f0f) == 0x0a0a && (v >> 8) == (v & 0xff);
}

struct tt_tls_alpn {
	uint8_t len;                         /* true length of the name (1..255) */
	uint8_t last;                        /* its last byte */
	char name[TT_TLS_ALPN_NAME_MAX + 1]; /* first bytes, NUL-terminated */
};

/* A parsed ClientHello. Lists are in wire order and include GREASE values; a list longer
 * than its array keeps its first entries, its n_ counts all, and is_truncated is set. */
struct tt_tls_client_hello {
	uint32_t body_len; /* handshake body length (tor 0.4.9: 508, in a 512-byte record) */
	uint16_t legacy_version;
	uint16_t n_ciphers, n_exts, n_groups, n_sigalgs;
	uint16_t ciphers[TT_TLS_MAX_CIPHERS];
	uint16_t exts[TT_TLS_MAX_EXTS];
	uint16_t groups[TT_TLS_MAX_GROUPS];
	uint16_t sigalgs[TT_TLS_MAX_SIGALGS];
	uint16_t versions[TT_TLS_MAX_VERSIONS]; /* supported_versions */
	uint16_t key_shares[TT_TLS_MAX_KEY_SHARES];
	uint8_t point_formats[TT_TLS_MAX_POINT_FORMATS];
	uint8_t compression[TT_TLS_MAX_COMPRESSION];
	uint8_t n_versions, n_key_shares, n_point_formats, n_compression, n_alpn;
	uint8_t session_id_len;
	uint16_t padding_len; /* length of the padding extension's data */
	uint16_t sni_len;
	bool has_sni, has_alpn_ext, has_padding, has_grease;
	bool has_exts_block; /* the extensions block is present (absent in old hellos) */
	bool is_truncated;   /* a list overflowed its array (fingerprints would be wrong) */
	struct tt_tls_alpn alpn[TT_TLS_MAX_ALPN];
	char sni[TT_TLS_SNI_MAX + 1]; /* first host_name, NUL-terminated */
};

/* Parse a ClientHello body (after the 4-byte handshake header). Returns 0, or -EBADMSG
 * when a length field runs past its container (fields parsed up to there are kept);
 * never reads outside body[0, len). */
int tt_tls_parse_client_hello(const uint8_t *body, uint32_t len, struct tt_tls_client_hello *ch);
/* The same for a DTLS ClientHello body (after DTLS's 12-byte handshake header): a cookie
 * follows the session id. A DTLS ServerHello has TLS's layout (tt_tls_parse_server_hello). */
int tt_dtls_parse_client_hello(const uint8_t *body, uint32_t len, struct tt_tls_client_hello *ch);

/* A parsed ServerHello. */
struct tt_tls_server_hello {
	uint16_t legacy_version;
	uint16_t version; /* negotiated: supported_versions if present, else legacy */
	uint16_t cipher;
	uint16_t key_share; /* TLS 1.3 group, 0 if none */
	uint16_t n_exts;
	uint16_t exts[TT_TLS_MAX_EXTS];
	uint8_t compression, session_id_len;
	bool is_hrr;             /* HelloRetryRequest (the special random of RFC 8446 §4.1.3) */
	bool is_truncated;       /* more than TT_TLS_MAX_EXTS extensions */
	struct tt_tls_alpn alpn; /* selected protocol (len 0: none) */
};

/* Parse a ServerHello body. Returns 0 or -EBADMSG (as above). */
int tt_tls_parse_server_hello(const uint8_t *body, uint32_t len, struct tt_tls_server_hello *sh);

/* pion/dtls's hellos (Snowflake's client and standalone proxy; webrtc.c): the ClientHello
 * by its suites, extensions and groups in order (evidence S4), the ServerHello by its
 * extension order (S3). */
bool tt_webrtc_is_pion_client_hello(const struct tt_tls_client_hello *ch);
bool tt_webrtc_is_pion_server_hello(const struct tt_tls_server_hello *sh);

enum {
	TT_TLS_CN_MAX = 64, /* ub-common-name */
};

/* The first certificate of a chain, from a minimal DER walk. */
struct tt_tls_cert {
	uint32_t n_certs; /* certificates in the message (those whose length was seen) */
	uint32_t der_len; /* DER length of the first certificate */
	int64_t not_before, not_after; /* Unix seconds, UTC (valid when has_validity) */
	uint16_t key_bits;             /* RSA modulus bits, 0 when not RSA or not seen */
	uint8_t version;               /* 1..3 */
	uint8_t serial_len;            /* INTEGER content bytes, a leading 0x00 sign pad included */
	uint8_t n_subject_attrs, n_issuer_attrs; /* AttributeTypeAndValue entries per Name */
	uint8_t subject_cn_len, issuer_cn_len;
	bool has_subject_cn, has_issuer_cn, has_validity, has_extensions;
	bool is_self_issued; /* the issuer Name is byte-identical to the subject Name */
	bool is_truncated;   /* the DER ran out: fields after the cut are unset */
	char subject_cn[TT_TLS_CN_MAX + 1]; /* non-printable bytes become '?' */
	char issuer_cn[TT_TLS_CN_MAX + 1];
};

/* Parse a TLS <= 1.2 Certificate message body (a 3-byte list length, then 3-byte length +
 * DER per certificate); body may be cut short (is_truncated then). Returns 0, or -EBADMSG
 * when no certificate could be parsed. Bounded: never reads outside body[0, len). */
int tt_tls_parse_certificate(const uint8_t *body, uint32_t len, struct tt_tls_cert *c);

/* Parse one DER X.509 certificate into c (n_certs untouched). Same returns. */
int tt_tls_parse_x509(const uint8_t *der, uint32_t len, struct tt_tls_cert *c);

/* ---- fingerprints -------------------------------------------------------------------- */

enum {
	TT_TLS_JA3_STR_MAX = 4096, /* enough for full lists at the TT_TLS_MAX_* sizes */
	TT_TLS_MD5_HEX = 33,       /* 32 hex digits + NUL */
	TT_TLS_JA4_SIZE = 37,      /* "t13d1516h2_8daaf6152771_b0da82dd1658" + NUL */
};

/* JA3 (salesforce/ja3) of a ClientHello: "version,ciphers,extensions,groups,formats" in
 * decimal, GREASE removed, as tshark's tls.handshake.ja3_full; md5_hex is its MD5.
 * str may be NULL. Returns 0, or -ENOSPC when str_size is too small. */
int tt_tls_ja3(
    const struct tt_tls_client_hello *ch, char *str, size_t str_size, char md5_hex[TT_TLS_MD5_HEX]);

/* JA3S of a ServerHello: "version,cipher,extensions". Same conventions. */
int tt_tls_ja3s(
    const struct tt_tls_server_hello *sh, char *str, size_t str_size, char md5_hex[TT_TLS_MD5_HEX]);

/* JA4 (FoxIO, TLS client) of a ClientHello; proto is 't' (TCP), 'q' (QUIC) or 'd'
 * (DTLS). Writes 36 characters + NUL. */
void tt_tls_ja4(const struct tt_tls_client_hello *ch, char proto, char out[TT_TLS_JA4_SIZE]);

/* ---- Tor traits ------------------------------------------------------------------------ */

enum tt_tls_sni_class {
	TT_TLS_SNI_OTHER = 0,  /* not www.<4..25 base32>.com */
	TT_TLS_SNI_TOR_SHAPE,  /* has the shape, but the label reads like words */
	TT_TLS_SNI_TOR_RANDOM, /* has the shape and the label looks random: tor-like */
};

/* Classify a ClientHello SNI against tor's crypto_random_hostname(4, 25, "www.", ".com")
 * (tortls_openssl.c): "www." + 4..25 characters of [a-z2-7] + ".com", exact case. The
 * randomness test scores the label's letters against English letter frequencies, so
 * www.google.com is TT_TLS_SNI_TOR_SHAPE. */
enum tt_tls_sni_class tt_tls_sni_classify(const char *sni, size_t len);

/* tt_tls_sni_classify(...) == TT_TLS_SNI_TOR_RANDOM. */
bool tt_tls_sni_is_tor_like(const char *sni, size_t len);

/* True when a supported_groups list contains secp224r1 (0x0015), which tor's clients
 * offer and browsers do not. Older OpenSSL clients that list every named curve (curl,
 * mobile apps) offer it too: 65 of 502 non-tor hellos in the peers' traces. Combine it
 * with the other traits. */
bool tt_tls_groups_have_p224(const uint16_t *groups, unsigned n);

enum tt_tls_ch_trait {
	TT_TLS_CH_NO_ALPN = 1u << 0,    /* no ALPN extension */
	TT_TLS_CH_P224 = 1u << 1,       /* secp224r1 among the groups */
	TT_TLS_CH_TOR_GROUPS = 1u << 2, /* groups ⊆ {P-256, X25519, P-224, MLKEM hybrids} */
	TT_TLS_CH_SNI_SHAPE = 1u << 3,  /* SNI has tor's shape */
	TT_TLS_CH_SNI_RANDOM = 1u << 4, /* ... and looks random */
	TT_TLS_CH_LEN_512 = 1u << 5,    /* body 508 bytes: a 512-byte padded record (weak: many
					 * OpenSSL and Chrome hellos are padded to 512 too) */
	TT_TLS_CH_NO_GREASE = 1u << 6,  /* no GREASE (weak: OpenSSL never sends it) */
};

/* The tor traits (enum tt_tls_ch_trait bits) of a ClientHello. Tor 0.4.9 with OpenSSL 3.0
 * shows all seven; tor of 2013 shows NO_ALPN, P224, SNI_* and NO_GREASE. Measured on 502
 * non-tor hellos of the nDPI/Zeek/Suricata traces: P224 alone 65, NO_ALPN + P224 57,
 * NO_ALPN + P224 + SNI_RANDOM 0, P224 + TOR_GROUPS 0.
 * Checked with tshark on the 2013 hellos (nDPI tor.pcap, 7 flows; tor_legacy/
 * tor_v4.2_full.pcap is the same 7 flows): TLS 1.0, 36 suites ending 0xfeff, 0x000a,
 * 0x00ff (the Firefox list tor 0.2.x imitated), extensions exactly server_name,
 * ec_point_formats, supported_groups (all 25 named curves 0x0001..0x0019, so P224 but not
 * TOR_GROUPS: evidence B2 does not hold for them), no ALPN, no session ticket, bodies of
 * 200..215 bytes (not LEN_512). SNI_RANDOM holds on 7 of 7. */
unsigned tt_tls_client_hello_tor_traits(const struct tt_tls_client_hello *ch);

enum tt_tls_cert_trait {
	TT_TLS_CERT_SUBJECT_NAME = 1u << 0, /* subject CN = www.<8..20 base32>.net, only RDN */
	TT_TLS_CERT_ISSUER_NAME = 1u << 1,  /* issuer CN = www.<8..20 base32>.com, only RDN */
	TT_TLS_CERT_NO_EXTENSIONS = 1u << 2,
	TT_TLS_CERT_MIDNIGHT = 1u << 3,  /* notBefore at 00:00:00 UTC */
	TT_TLS_CERT_LIFETIME = 1u << 4,  /* 5..365 days, ending on 00:00:00 or 23:59:59 */
	TT_TLS_CERT_SERIAL_8 = 1u << 5,  /* 8 random bytes (+ sign pad) */
	TT_TLS_CERT_RSA_2048 = 1u << 6,  /* not checked by tt_tls_cert_is_tor_like */
	TT_TLS_CERT_ALL = (1u << 6) - 1, /* the bits tt_tls_cert_is_tor_like needs */
};

/* The tor link-certificate traits (enum tt_tls_cert_trait bits) of a certificate; see
 * tortls.c/x509_openssl.c/router.c (TOR-DETECTION.md §1.4). */
unsigned tt_tls_cert_tor_traits(const struct tt_tls_cert *c);

/* All of TT_TLS_CERT_ALL: decisive evidence C1 (a tor relay or bridge). The key size is
 * left out because 2013 tor used RSA-1024 link keys. */
bool tt_tls_cert_is_tor_like(const struct tt_tls_cert *c);

/* ---- cell framing (evidence group D) ---------------------------------------------- */

enum {
	TT_TLS_CELL_LEN = 514,     /* link protocol >= 4: CircID(4) | cmd(1) | payload(509) */
	TT_TLS_CELL_MAX_RECS = 48, /* records kept per flow for the scorer */
	/* D1/D2 judge a flow's first 20 records (both directions, handshake included; TLS
	 * 1.0 empty fragments not counted, so a 2013 link shows as many cells): the window D2
	 * was set on, before tor's bulk records (4 KiB chunks that cut cells) begin. The
	 * worker keeps up to TT_TLS_CELL_MAX_RECS. */
	TT_TLS_CELL_WINDOW_RECS = 20,
};

/* One record of a flow, in the order the worker saw them. */
struct tt_tls_rec_len {
	uint16_t len;      /* record length from the header */
	uint8_t type;      /* content type */
	uint8_t is_server; /* 1: server -> client */
};

/* How a cipher suite frames plaintext into a record, for the cell arithmetic.
 * AEAD and stream ciphers add a fixed number of bytes (TLS 1.3: 17, TLS 1.2 AES-GCM/CCM:
 * 24, ChaCha20-Poly1305: 16, TLS 1.3 AES-CCM_8: 9; RC4-SHA: 20, RC4-MD5: 16). CBC suites
 * add an explicit IV (TLS >= 1.1: one block), the MAC (SHA-1 20, SHA-256 32, SHA-384 48)
 * and 1..block bytes of padding (OpenSSL pads minimally): a 514-byte cell with SHA-1 and
 * AES in TLS 1.0 is 514 + 20 + 1 -> 544. Tor before link protocol 4 (tor < 0.2.4, the
 * 2013 captures) sent 512-byte cells, and 512 + 21 also pads to 544. */
enum tt_tls_framing_kind {
	TT_TLS_FRAMING_FIXED = 1, /* AEAD or stream cipher: len = plaintext + fixed */
	TT_TLS_FRAMING_CBC,       /* len = iv + roundup(plaintext + mac + 1, block) */
};

struct tt_tls_framing {
	uint8_t kind;           /* enum tt_tls_framing_kind; 0: unknown (nothing fits) */
	uint8_t fixed;          /* FIXED: bytes added */
	uint8_t iv, mac, block; /* CBC */
	bool has_512;           /* 512-byte cells (link protocol 3) fit too: CBC and stream suites,
				 * the era before AEAD in tor. Only 512 n with n 1 or not a power of two:
				 * 512, 1024, ..., 16384 are the plaintexts of any bulk transfer (a TLS 1.0
				 * download of full records fits "32 cells" otherwise; seen in nDPI's
				 * tls_long_cert.pcap, 1024-byte plaintexts, under 3DES) */
};

/* The framing of a negotiated suite (version and cipher from the ServerHello). Returns 0,
 * or -ENOENT for a suite it does not know (out->kind is 0 then). */
int tt_tls_framing_of(uint16_t version, uint16_t cipher, struct tt_tls_framing *out);

/* Whole cells in a record of length len under fr: n >= 1, 0 when the record is not whole
 * cells, -1 when it is an empty fragment (CBC: the 1/n-1 record split of TLS 1.0, which
 * OpenSSL sends before each record; neither evidence for nor against cells). */
int tt_tls_framing_cells(const struct tt_tls_framing *fr, uint32_t len);

/* Bytes a record adds to its plaintext: 17 for TLS 1.3 (type byte + 16-byte tag), 24 for
 * TLS 1.2 AES-GCM/CCM (8-byte nonce + tag), 16 for TLS 1.2 ChaCha20-Poly1305; -1 when
 * unknown (CBC suites pad, so the plaintext length cannot be recovered). */
int tt_tls_cell_overhead(uint16_t version, uint16_t cipher);

struct tt_tls_cell_dir {
	uint8_t n_app;       /* application-data records in the cell phase (below) */
	uint8_t n_exact;     /* ... whose plaintext is n x 514, n >= 1 */
	uint8_t n_single;    /* ... exactly one cell */
	uint8_t longest_run; /* longest run of consecutive exact records */
};

/* Result of tt_tls_cell_score. Written only by it.
 * The cell phase: when the client's VERSIONS record was found, the client's records after
 * VERSIONS and the one after it (NETINFO, or a relay's CERTS+AUTHENTICATE+NETINFO), and the
 * server's records after its bundle; otherwise every application-data record after the
 * handshake. Handshake landmarks are thus kept out of the exactness counts. */
struct tt_tls_cell_stats {
	int overhead;                  /* tt_tls_cell_overhead, or -1 for CBC and unknown suites */
	struct tt_tls_framing framing; /* of the suite; kind 0: unknown (nothing else is set) */
	struct tt_tls_cell_dir dir[2]; /* [0] client -> server, [1] server -> client */
	uint16_t versions_len;         /* plaintext of the client's VERSIONS record (11, 9), or 0 */
	uint16_t next_client_len;      /* plaintext of the client's record after VERSIONS, or 0 */
	uint16_t bundle_len;           /* plaintext of the server's first record >= 1 KiB after
					* VERSIONS, or 0 */
	bool has_versions; /* client: Finished (TLS 1.3), then an 11- or 9-byte record */
	bool has_netinfo;  /* client: the record after VERSIONS is whole cells */
	bool has_bundle;   /* server: VERSIONS+CERTS+AUTH_CHALLENGE+NETINFO, 1.8-2.4 KB */
	bool is_d1;        /* evidence D1: has_versions and has_bundle */
	bool is_d2;        /* evidence D2: >= 3 cell-phase records, >= 80% exact */
};

/* Score the framing of a flow's first records against tor's cells (TOR-DETECTION.md
 * §1.2-§1.3, evidence D1/D2). version and cipher come from the ServerHello. Application
 * records after the handshake are those after the client's first one in TLS 1.3 (its
 * Finished) and all of them in TLS 1.2. */
void tt_tls_cell_score(const struct tt_tls_rec_len *recs, unsigned n, uint16_t version,
    uint16_t cipher, struct tt_tls_cell_stats *out);

/* is_d1 && is_d2: the framing of a tor link, as measured on the tornet captures. */
bool tt_tls_cell_is_tor_like(const struct tt_tls_cell_stats *st);

/* ---- cell framing without the handshake (mid-stream evidence) ----------------------- */

/* D3: N = 6 records, K/N = 80 %, first set by bench/midstream_weight.py on the first 20
 * records of a mid-stream flow (0 of 446 non-tor TLS flows fired at any N in 3..10 and
 * share in 60..100 %). Random lengths fit a fixed overhead with p = 1/514, so 5 of 6 by
 * chance is below 1e-12; a flow of constant-length records fits with p ~ 4/514 whatever N
 * is, which only a larger negative sample can measure. Since the header follower, the
 * records are those of a direction's first TT_TLS_FOLLOW_RECS after the resync, and the
 * weight was measured again on that window (bench/midstream_weight.py, evidence.c). */
enum {
	TT_TLS_MS_N_OVERHEADS = 7,  /* candidate framings (tt_tls_midstream_framing) */
	TT_TLS_MS_N_FIXED = 4,      /* the first ones are AEAD: 17, 24, 16, 9 */
	TT_TLS_MS_MIN_RECS = 6,     /* D3 N: application-data records a direction needs */
	TT_TLS_MS_MIN_FIT_PCT = 80, /* D3 K/N: share of them that fit one framing */
	TT_TLS_FOLLOW_RECS = 256,   /* application-data record lengths kept per direction */
};

/* D4, cell bursts: tor writes a burst of cells with one SSL_write per flush, which the TLS
 * library cuts into records at its own size (tor 0.4.9 with OpenSSL 3: 4048-byte
 * plaintexts, so 32 cells go out as 4065 x 4 + 273). A record then cuts cells, but the
 * plaintext summed over a burst is whole cells: the running sum of (len - overhead) comes
 * back to one residue modulo 514 at every burst end. The item: in one direction, at least
 * TT_TLS_BURST_MIN_RECS records, and at least TT_TLS_BURST_MIN_PCT % of them lie in
 * bursts of at most TT_TLS_BURST_MAX_RECS records that begin and end on that residue (a
 * record of whole cells is a burst of one), for one AEAD overhead (below), among records of
 * at least 3 different lengths (a flow of one constant length is D3's risk, not this one's).
 * Random lengths put a given pair of record ends within 8 records on one residue with
 * p = 1/514. CBC suites are not tested: their padding hides the exact plaintext, so a
 * direction whose lengths are all multiples of 16 (AES-CBC) is left out (tls.c). */
enum {
	/* The AEAD overheads D4 tries, the first of the candidates: 17 (TLS 1.3, any suite)
	 * and 24 (TLS 1.2 AES-GCM). Those are the only AEAD framings tor negotiates: its
	 * TLS 1.2 server list (tortls.c) puts ECDHE-RSA-AES256/128-GCM first and its
	 * clients always offer them, so CHACHA20-POLY1305 (16) is never chosen, and
	 * OpenSSL never enables TLS 1.3's AES-CCM_8 (9) by default. Each extra overhead is a
	 * second chance for a non-Tor flow to fit: a TLS 1.2 GCM record of 2,048 bytes is
	 * 2,072 bytes long, exactly 4 cells under 16; a TLS 1.3 one is 2,065, 4 cells under
	 * 9. D3 still tries every candidate. */
	TT_TLS_BURST_N_OVERHEADS = 2,
	TT_TLS_BURST_MIN_RECS = 16,
	TT_TLS_BURST_MIN_PCT = 80,
	TT_TLS_BURST_MAX_RECS = 8,
	TT_TLS_BURST_MIN_LENS = 3,
};

/* Candidate i (0 <= i < TT_TLS_MS_N_OVERHEADS) of the framing, when the suite is
 * unknown: AEAD 17 (TLS 1.3), 24 (TLS 1.2 AES-GCM/CCM), 16 (ChaCha20-Poly1305), 9 (TLS
 * 1.3 AES-CCM_8); AES-CBC with SHA-1 in TLS 1.0 (tor.pcap 2013) and TLS 1.1/1.2, with
 * SHA-256 in TLS 1.2. RC4, 3DES and SHA-384 are left out: tor never preferred them, and
 * each candidate adds chances to fit (RC4-SHA's 20 turns TLS 1.2 GCM records of 1 KiB,
 * 1024 + 24 = 1028 + 20, into "2 cells": nDPI tls_long_cert.pcap). NULL past the end. */
const struct tt_tls_framing *tt_tls_midstream_framing(unsigned i);

/* The fixed overhead of candidate i, 0 for a CBC candidate, -1 past the end. */
int tt_tls_midstream_overhead(unsigned i);

struct tt_tls_midstream_dir {
	uint8_t n_app;    /* application-data records of this direction (saturates at 255),
			   * empty fragments of the chosen framing left out */
	uint8_t n_fit;    /* ... whose length is whole cells under the chosen framing */
	uint8_t n_single; /* ... of exactly one cell */
	uint8_t overhead; /* the chosen framing's fixed overhead; 0: CBC or none fit */
	uint8_t framing;  /* the candidate most records fit (first of equals), + 1; 0: none */
	uint8_t n_burst;  /* D4: records in cell-aligned bursts (best AEAD overhead) */
	uint8_t n_lens;   /* D4: distinct lengths among those records (saturates at 3) */
	bool is_d3, is_d4;
};

/* Result of tt_tls_midstream_score. Written only by it. */
struct tt_tls_midstream_stats {
	struct tt_tls_midstream_dir dir[2]; /* [0] client -> server, [1] server -> client */
	int8_t best_dir;  /* the direction with the larger fitting share (the firing one, if
			   * any); -1 when neither has an application-data record */
	bool is_tor_like; /* D3: some direction has >= TT_TLS_MS_MIN_RECS records, and at least
			   * TT_TLS_MS_MIN_FIT_PCT % of them fit one framing */
	bool is_bursts;   /* D4: some direction's records are cell bursts (above) */
};

/* Score the framing of a flow seen from the middle (no handshake, so no version or
 * cipher): for each direction and candidate framing, how many application-data records
 * are whole cells (D3), and how many lie in cell-aligned bursts (D4). Records of other
 * types are skipped. Pure; any thread. */
void tt_tls_midstream_score(
    const struct tt_tls_rec_len *recs, unsigned n, struct tt_tls_midstream_stats *out);

/* The same over per-direction lists of application-data record lengths (a flow's
 * app_lens). Pure; any thread. */
void tt_tls_midstream_score_lens(
    const uint16_t *const lens[2], const unsigned n[2], struct tt_tls_midstream_stats *out);

/* st->is_tor_like: evidence D3 (mid-stream cell framing). */
bool tt_tls_midstream_is_tor_like(const struct tt_tls_midstream_stats *st);

/* ---- known Tor fingerprints (data/tor-fingerprints.tsv) ---------------------------- */

enum {
	TT_TLS_FP_MAX = 64,
	TT_TLS_FP_FIELD = 48,
};

struct tt_tls_fp {
	char kind[8];                /* "ja3", "ja3s" or "ja4" */
	char value[TT_TLS_FP_FIELD]; /* 32 lowercase hex (ja3, ja3s) or a JA4 */
	char tor_version[TT_TLS_FP_FIELD];
	char tls_library[TT_TLS_FP_FIELD];
	char captured[11];                /* v2: when the capture was taken, YYYY-MM-DD or
					   * YYYY; "" in v1 tables */
	char source[TT_TLS_FP_FIELD * 2]; /* where it was observed (cut if longer) */
};

struct tt_tls_fp_table {
	unsigned format_version; /* from the header line */
	unsigned n;
	struct tt_tls_fp fp[TT_TLS_FP_MAX];
};

/* Parse the text of a fingerprint table. The first line is "# tortrace tor-fingerprints
 * v2" (or v1); then lines "kind<TAB>value<TAB>tor version<TAB>TLS library<TAB>capture
 * date<TAB>source" (v1: without the date), blank lines and '#' comments. The date is
 * YYYY-MM-DD or YYYY: when the capture the entry was taken from was recorded. Returns 0;
 * -EBADMSG for a bad line (its 1-based number in *bad_line, if not NULL), -ENOTSUP for
 * another format version, -ENOSPC past TT_TLS_FP_MAX entries. */
int tt_tls_fp_table_parse(
    struct tt_tls_fp_table *t, const char *text, size_t len, unsigned *bad_line);

/* The entry of that kind and value, or NULL. */
const struct tt_tls_fp *tt_tls_fp_table_find(
    const struct tt_tls_fp_table *t, const char *kind, const char *value);

/* ---- one flow: the glue a worker uses ---------------------------------------------- */

/* Both directions of a TLS flow (about 36 KiB: allocate it only for flows whose first
 * payload is TLS, and drop it when tt_tls_flow_is_done). Written only by tt_tls_flow_*. */
struct tt_tls_flow {
	struct tt_tls_stream st[2]; /* [0] client -> server, [1] server -> client */
	struct tt_tls_hs hs[2];
	struct tt_tls_client_hello ch;
	struct tt_tls_server_hello sh;
	struct tt_tls_cert cert;
	struct tt_tls_rec_len recs[TT_TLS_CELL_MAX_RECS];
	/* The first TT_TLS_FOLLOW_RECS application-data records of each direction, read from
	 * headers only once the direction is encrypted (the mid-stream window). */
	uint16_t app_lens[2][TT_TLS_FOLLOW_RECS];
	uint16_t n_app[2];
	uint8_t n_restarts[2]; /* mid-stream resyncs after a loss, per direction */
	uint8_t n_recs;
	bool is_keep_bytes; /* set after init: keep copying each direction's first
			     * TT_TLS_STREAM_CAP bytes instead of following headers once it is
			     * encrypted (tests and tools that want the bytes) */
	bool has_ch, has_sh, has_cert;
	bool is_ch_bad, is_sh_bad, is_cert_bad; /* the message was there but malformed */
};

void tt_tls_flow_init(struct tt_tls_flow *f);

/* tt_tls_flow_init for a flow whose start was not seen (no SYN, e.g. a capture begun
 * mid-connection or a later file of a rotated archive): both streams resynchronise
 * (TT_TLS_STREAM_RESYNC) before their records are walked. Feed it with tt_tls_flow_add as
 * usual, then score f->recs with tt_tls_midstream_score. Handshake messages are parsed
 * only if a direction's walk starts on a handshake record. */
void tt_tls_flow_init_midstream(struct tt_tls_flow *f);

/* Add a segment of one direction (is_server: server -> client), then walk every record it
 * completes: keep record lengths for tt_tls_cell_score, and parse the first ClientHello,
 * ServerHello and Certificate. */
void tt_tls_flow_add(struct tt_tls_flow *f, bool is_server, uint32_t seq, const uint8_t *payload,
    uint32_t len, bool is_syn);

/* True when nothing more can be learnt: both streams are done (full, not TLS, lost, or
 * following with TT_TLS_FOLLOW_RECS records), or the record list is full and both hellos
 * were seen. */
bool tt_tls_flow_is_done(const struct tt_tls_flow *f);

/* How many records (both directions, f->n_recs) the D1/D2 window needs once both hellos
 * are seen: TT_TLS_CELL_WINDOW_RECS, or TT_TLS_CELL_MAX_RECS for a CBC suite (OpenSSL's
 * TLS 1.0 empty fragments double the records). The worker closes the inspection there. */
unsigned tt_tls_flow_records_wanted(const struct tt_tls_flow *f);

/* A mid-stream inspection (tt_tls_flow_init_midstream) has no hellos to wait for: it is
 * done when each direction holds TT_TLS_FOLLOW_RECS application-data records or cannot
 * give more (not TLS, lost), which is when tt_tls_midstream_score_lens has all it uses.
 * False for other flows. */
bool tt_tls_flow_midstream_is_done(const struct tt_tls_flow *f);

/* ---- Tor inside another TLS connection: meek and WebTunnel (tunnel.c) -------------- */

enum {
	TT_TUN_LENS = 64,        /* client application-data record lengths kept (W1, W2, M2) */
	TT_TUN_MAX_RECS = 1024,  /* client records followed; then the follower stops */
	TT_TUN_SLOTS = 4,        /* record lengths whose poll waits are tracked (M1) */
	TT_TUN_INNER = 22,       /* a Tor TLS 1.3 record beyond its cells: header 5 + 17 */
	TT_TUN_W1_WINDOW = 64,   /* W1 judges the first 64 client records */
	TT_TUN_W1_MIN = 8,       /* ... of which at least 8 of 65-8192 bytes */
	TT_TUN_W2_WINDOW = 16,   /* W2 looks for the inner ClientHello among the first 16 */
	TT_TUN_M2_MIN_MODE = 5,  /* M1/M2: a length seen at least 5 times */
	TT_TUN_M2_MIN_BODIES = 5 /* M2: at least 5 records over the mode + 64 */
};
#define TT_TUN_M1_MIN_US 80000u /* M1: a chain starts from a wait of 80 ms or more */

/* One record length's poll waits (M1). Times in microseconds from the follower's start
 * (about 71 minutes fit; later records saturate and break chains). */
struct tt_tun_slot {
	uint32_t last_us; /* time of this length's latest record */
	uint32_t wait_us; /* the wait before it (server's last payload to it), 0: none */
	uint16_t len, n;  /* the length, and records of it seen */
	uint8_t run;      /* current chain of x1.45-1.55 steps */
	uint8_t best;     /* longest chain */
};

/* The follower of a TLS flow's client records after the inspector closed (about 230
 * bytes; freed when the client closes or the flow ends). Written only by tt_tunnel_*. */
struct tt_tunnel {
	struct tt_tls_follow fol;
	uint32_t base_seq;
	uint64_t t0_ns;  /* time origin of the slots (the first packet the follower saw) */
	uint64_t srv_ns; /* time of the server's latest payload segment, 0: none yet */
	uint16_t lens[TT_TUN_LENS];
	uint16_t n_lens, n_recs; /* lengths kept; application-data records followed */
	uint8_t overhead;        /* the outer suite's AEAD overhead (tt_tls_cell_overhead) */
	bool is_lost;            /* a header could not be read: following stopped */
	struct tt_tun_slot slot[TT_TUN_SLOTS];
};

/* Take over f's client direction, which must be following record headers
 * (TT_TLS_STREAM_FOLLOW, not LOST), with its application-data lengths so far; overhead is
 * the negotiated suite's (tt_tls_cell_overhead, >= 0). */
void tt_tunnel_start(struct tt_tunnel *t, const struct tt_tls_flow *f, unsigned overhead);

/* A client segment (seq: its sequence number) at ts_ns: read the record headers it holds. */
void tt_tunnel_client(
    struct tt_tunnel *t, uint32_t seq, const uint8_t *payload, uint32_t len, uint64_t ts_ns);

/* A server segment with payload at ts_ns. */
void tt_tunnel_server(struct tt_tunnel *t, uint64_t ts_ns);

/* Nothing more to read: TT_TUN_MAX_RECS records, or a header was lost. */
bool tt_tunnel_is_done(const struct tt_tunnel *t);

struct tt_tunnel_stats {
	uint16_t n_recs;         /* client application-data records followed */
	uint8_t w1_elig, w1_fit; /* W1: records of 65-8192 B among the first 64; of them,
				  * 514 k + overhead + 22 */
	bool is_w2;              /* W2: inner ClientHello, then inner VERSIONS */
	uint16_t m2_mode;        /* M2: the most frequent length (seen >= 5 times), or 0 */
	uint8_t m2_elig, m2_fit; /* M2: records over the mode + 64; of them, a poll body */
	uint8_t m1_run;          /* M1: longest x1.5 chain of poll waits */
};

/* The items' counts from what the follower kept. Pure. */
void tt_tunnel_stats(const struct tt_tunnel *t, struct tt_tunnel_stats *out);

#endif /* TT_SRC_WORKERS_TLS_H */
