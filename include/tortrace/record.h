/* The flow record: what a worker knows about one bidirectional flow when it ends.
 *
 * Workers encode records as msgpack maps and hand them to the aggregator; the aggregator
 * writes the same maps to OUT/flows.msgpack, which `tortrace export` and `merge` read.
 * Keys are short strings, so a reader of an older or newer schema skips what it does not
 * know. TT_RECORD_SCHEMA changes when a key changes meaning.
 *
 * flows.msgpack layout: one header map {"type": "tortrace.flows", "schema": N,
 * "version": "x.y.z", "files": [path, ...]}, then one map per flow, sorted by file, first
 * timestamp, then key, so the file does not depend on the number of workers.
 */
#ifndef TT_RECORD_H
#define TT_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TT_RECORD_SCHEMA 1

/* Direction index of the per-direction counters. */
enum tt_dir {
	TT_DIR_FWD = 0, /* initiator → responder */
	TT_DIR_REV = 1, /* responder → initiator */
};

/* Why a flow record was emitted. */
enum tt_flow_end {
	TT_END_EOF = 0,   /* end of the capture file */
	TT_END_IDLE = 1,  /* idle longer than the timeout, in packet time */
	TT_END_REUSE = 2, /* a new TCP SYN after FIN/RST on the same 5-tuple */
	TT_END_STOP = 3,  /* the run was interrupted */
	TT_END_EVICT = 4, /* ended early to keep flow state within --flow-memory */
};

/* How a flow's initiator (src_*, direction FWD) was decided. */
enum tt_flow_initiator {
	TT_INIT_FIRST_PACKET = 0,  /* no SYN or SYN-ACK, no relay or port hint: the sender of
				    * the first packet captured (also every UDP flow) */
	TT_INIT_SYN = 1,           /* the flow's first packet was a SYN (its sender) or a
				    * SYN-ACK (its receiver) */
	TT_INIT_GUESSED_RELAY = 2, /* no SYN: the first packet came from a relay's ORPort or
				    * DirPort listed at that time, so the other side initiated */
	TT_INIT_GUESSED_PORT = 3,  /* no SYN: the first packet came from a service port to an
				    * ephemeral one, so the other side initiated */
	TT_INIT_COUNT,
};

/* flags */
#define TT_FLOW_SYN_SEEN      (1u << 0) /* the initiator's SYN was captured */
#define TT_FLOW_TRUNCATED     (1u << 1) /* some packet was captured shorter than on the wire */
#define TT_FLOW_FIN_SEEN      (1u << 2)
#define TT_FLOW_RST_SEEN      (1u << 3)
#define TT_FLOW_TLS           (1u << 4) /* the TLS inspector looked at this flow */
/* TLS inspection closed early to make room for a new TLS flow of the same partition (what
 * it saw up to then is kept in the record's tls summary) */
#define TT_FLOW_TLS_EVICTED   (1u << 5)
/* Both first flights look like nothing (fully encrypted: no protocol start, random bytes)
 * and have the lengths of obfs4's handshake (client 141-8192, server 141-8237 bytes). */
#define TT_FLOW_FET_HANDSHAKE (1u << 6)
/* With TT_FLOW_FET_HANDSHAKE: among the first 256 payload segments after the two first
 * flights, each direction has a full segment and at least 8 distinct sizes below its
 * largest, one of them occurs in both directions, and those sizes repeat more often than
 * sizes drawn uniformly from their range would with probability 1e-4 (obfs4 pads each
 * burst to a length drawn from one distribution of few values that both ends seed alike;
 * evidence G1). */
#define TT_FLOW_PT_SHAPE      (1u << 7)
/* With TT_FLOW_FET_HANDSHAKE: a first flight that obfs4 does not send: written in several
 * writes (a segment shorter than the first before the last), over obfs4's 8192-byte
 * handshake ceiling, or a client flight of 1537 bytes (RTMP's C0+C1; evidence F-). */
#define TT_FLOW_NOT_OBFS4_HS  (1u << 8)
/* A direction's first payload was a TLS handshake record (0x16 0x03: a ClientHello or
 * ServerHello) in a packet captured shorter than it was on the wire, and the captured
 * bytes end inside the record: the capture's snap length cut the hello, so its
 * fingerprint, SNI and certificate cannot be read (`tortrace diagnose` counts these). A
 * hello merely split over several TCP segments does not set it. */
#define TT_FLOW_HELLO_CUT     (1u << 9)

/* What the UDP inspector saw on a flow's datagrams (tt_flow_record.webrtc), by RFC 7983's
 * demultiplexing of each datagram's first byte: STUN 0-3, DTLS 20-63, RTP/RTCP 128-191. */
#define TT_WRTC_STUN       (1u << 0)  /* a STUN message (magic cookie) */
#define TT_WRTC_STUN_BARE  (1u << 1)  /* a Binding request without attributes (gathering) */
#define TT_WRTC_ICE        (1u << 2)  /* a Binding request with USERNAME and MESSAGE-INTEGRITY */
#define TT_WRTC_DTLS       (1u << 3)  /* a DTLS record (0xfe version) */
#define TT_WRTC_CH_FWD     (1u << 4)  /* a DTLS ClientHello from the initiator */
#define TT_WRTC_CH_REV     (1u << 5)  /* ... from the responder */
#define TT_WRTC_SH_FWD     (1u << 6)  /* a DTLS ServerHello from the initiator */
#define TT_WRTC_SH_REV     (1u << 7)  /* ... from the responder */
#define TT_WRTC_PION_CH    (1u << 8)  /* the ClientHello is pion's (evidence S4) */
#define TT_WRTC_PION_SH    (1u << 9)  /* the ServerHello is pion's (evidence S3) */
#define TT_WRTC_STUN_REPLY (1u << 10) /* a STUN success response */

/* Verdicts (TOR-DETECTION.md §6): what the evidence says the flow is. */
enum tt_verdict {
	TT_VERDICT_NONE = 0,
	TT_VERDICT_TOR,           /* a Tor link to a relay listed at the flow's time */
	TT_VERDICT_TOR_BRIDGE,    /* Tor's link handshake to an address no relay list names */
	TT_VERDICT_TOR_PT,        /* a pluggable-transport shape */
	TT_VERDICT_TOR_DIR,       /* the Tor directory protocol */
	TT_VERDICT_TOR_EXIT_SIDE, /* traffic from a Tor exit (not Tor's protocol itself) */
	TT_VERDICT_TOR_SNOWFLAKE, /* Snowflake: a WebRTC data channel carrying Tor */
	TT_VERDICT_TOR_MEEK,      /* meek: Tor's records polled through HTTPS to a front */
	TT_VERDICT_TOR_WEBTUNNEL, /* WebTunnel: Tor's TLS inside an HTTPS connection */
	TT_VERDICT_COUNT,
};

/* The relay a flow's endpoint was at the flow's time (from the run's relay data). */
struct tt_flow_relay {
	uint64_t from_ns, to_ns; /* the listing's validity */
	uint32_t flags;          /* TT_RELAY_FLAG_* (src/relays/relays.h) */
	uint16_t port;           /* the listed port, 0 for exit and plain lists */
	uint8_t kind;            /* match kind (orport, orport-near, dirport, exit, ...) */
	uint8_t is_src;          /* 1: the initiator is the relay; 0: the responder */
	char fingerprint[41];
	char nickname[20];
};

/* What the TLS inspector saw in a flow's first 8 KiB each way (TT_FLOW_TLS). */
struct tt_flow_tls {
	uint16_t version; /* negotiated (ServerHello), 0 if none seen */
	uint16_t cipher;
	uint32_t ch_traits;   /* Tor traits of the ClientHello (tls.h enum tt_tls_ch_trait) */
	uint32_t cert_traits; /* Tor traits of the certificate, TLS <= 1.2 (tt_tls_cert_trait) */
	uint8_t n_records;    /* records seen, both directions */
	uint8_t cell_app[2], cell_exact[2]; /* cell-phase records, and those n x 514 + overhead */
	bool has_ch, has_sh, has_cert;
	bool is_versions;  /* the client's first record after the handshake is VERSIONS */
	bool is_bundle;    /* the relay's ~2 KB first bundle */
	bool is_d1, is_d2; /* framing evidence (tls.h tt_tls_cell_stats) */
	/* Mid-stream inspection (a TCP flow without SYN whose first payload was not TLS):
	 * both directions resynchronise on record headers (tls.h tt_tls_midstream_stats). */
	bool is_midstream;
	uint8_t ms_app[2], ms_fit[2]; /* application-data records, and those 514 n + overhead */
	bool is_d3;                   /* evidence D3: mid-stream cell framing */
	uint8_t ms_burst[2];          /* records in cell-aligned bursts (D4) */
	bool is_d4;                   /* evidence D4: mid-stream cell bursts */
	/* The client's records followed after the inspection, for Tor inside another TLS
	 * connection (meek, WebTunnel; src/workers/tls.h tt_tunnel_stats); all 0 when the
	 * flow was not followed (no complete handshake, an unknown or CBC suite, D1/D2). */
	uint8_t nest_app, nest_fit;     /* W1: of the first 64, those of 65-8192 bytes; of
					 * them, Tor records of whole cells one layer down */
	uint8_t is_nest_hello;          /* W2: Tor's ClientHello, then its VERSIONS, nested */
	uint8_t poll_backoff;           /* M1: longest chain of poll waits growing x1.5 */
	uint16_t poll_mode;             /* M2: the most frequent client record length */
	uint8_t poll_bodies, poll_cell; /* M2: records over it + 64; of them, a POST whose
					 * body is one Tor record of whole cells */
	char sni[64];                   /* cut at 63 bytes */
	char ja3[33];                   /* MD5 hex */
	char ja4[37];
	char cert_subject[64], cert_issuer[64];
};

struct tt_flow_record {
	uint8_t src_ip[16]; /* initiator; IPv4 uses the first 4 bytes */
	uint8_t dst_ip[16];
	uint16_t src_port, dst_port;
	uint8_t proto;                    /* 6 TCP, 17 UDP */
	uint8_t ip_version;               /* 4 or 6 */
	uint8_t tcp_flags[2];             /* OR of the TCP flags seen, per direction */
	uint8_t end;                      /* enum tt_flow_end */
	uint8_t initiator;                /* enum tt_flow_initiator */
	uint8_t app[2];                   /* enum tt_app: first payload's protocol, per direction */
	uint32_t flags;                   /* TT_FLOW_* */
	uint32_t file_id;                 /* index into the run's list of files: the file where
					   * the flow started */
	uint32_t last_file_id;            /* the file of its last packet: a later file of the
					   * same set when rotated captures continue each other
					   * (absent in older files: then file_id) */
	uint64_t first_ts_ns, last_ts_ns; /* Unix time, nanoseconds */
	uint64_t pkts[2], bytes[2];       /* frames and frame bytes on the wire, per direction */
	uint64_t payload_bytes[2];        /* TCP/UDP payload bytes per direction */
	uint64_t n_frags;                 /* non-first IP fragments counted into this flow */
	/* What the TLS inspector saw, or NULL. Kept out of line: only TLS flows pay for it
	 * (the record is embedded in every flow of a worker's table). */
	struct tt_flow_tls *tls;
	struct tt_flow_relay *relay; /* a relay match, or NULL; out of line like tls */
	uint32_t evidence;           /* bit i: item i of the evidence table fired */
	float score;                 /* confidence in [0, 1] that the flow is Tor */
	uint8_t verdict;             /* enum tt_verdict */
	/* enum tt_verdict: a flow with positive evidence whose score stays below the
	 * threshold (tt_config.min_score) is a candidate for this verdict; its verdict is
	 * none. TT_VERDICT_NONE when the flow is not a candidate. */
	uint8_t candidate;
	/* UDP flows only (0 otherwise, and then not written; laid out to cost the flow table
	 * 8 bytes a flow): TT_WRTC_* facts, DTLS application-data records after a DTLS hello
	 * and RTP/RTCP datagrams after it, the ICE username pair as a hash that is the same
	 * from both ends (0: none), and of the application-data records the ServerHello's
	 * sender wrote, those over 100 bytes and those of them 624 or 648 + 512 k bytes long
	 * (evidence S5), both over the first 65535 such records. Counts saturate. */
	uint16_t webrtc;
	uint16_t dtls_app;
	uint16_t rtp;
	uint32_t ice;
	uint16_t up_big, up_quantum;
};

/* ---- the evidence table (src/workers/evidence.c) -------------------------------------- */

struct tt_evidence_item {
	const char *id;     /* "A1", "B2", ... (TOR-DETECTION.md §6.2) */
	char group;         /* correlated items share a group and are damped */
	double weight;      /* ln of the likelihood ratio */
	const char *reason; /* one line: what was seen and why it counts */
	/* Evidence bits beside which this item is not counted (it stays listed): measured
	 * together with them it adds nothing. 0: always counted. */
	uint32_t not_beside;
};

/* The table, and its size. */
const struct tt_evidence_item *tt_evidence_table(unsigned *n);
const char *tt_verdict_name(unsigned verdict);

/* First payload protocol, seen by the worker's first-payload inspector. */
enum tt_app {
	TT_APP_NONE = 0, /* no payload in that direction */
	TT_APP_UNKNOWN,
	TT_APP_TLS,
	TT_APP_HTTP,
	TT_APP_SSH,
	TT_APP_DNS,
	TT_APP_TOR_DIR, /* an HTTP request for a Tor directory document: GET /tor/ */
	TT_APP_COUNT,
};

/* Name of an enum tt_app / tt_flow_end / tt_flow_initiator value ("tls", "idle",
 * "guessed-port", ...). */
const char *tt_app_name(unsigned app);
const char *tt_end_name(unsigned end);
const char *tt_initiator_name(unsigned initiator);
/* Name of an IP protocol ("tcp", "udp", else "ip") and of a TLS version ("tls1.3", ...,
 * "other", "" for 0), as export prints them. */
const char *tt_proto_name(unsigned proto);
const char *tt_tls_version_name(unsigned version);

/* Order records by file, first timestamp, then 5-tuple: a total order for equal inputs,
 * suitable for qsort. */
int tt_record_cmp(const void *a, const void *b);

/* Write an IP address of a record as text into buf (at least 46 bytes). */
void tt_record_ip_str(const struct tt_flow_record *r, bool is_dst, char *buf, size_t len);

/* The schema table, and TT_RECORD_MAX_BYTES (the most bytes one encoded record takes),
 * computed from it. */
#include "tortrace/record_schema.h"

#endif /* TT_RECORD_H */
