/* The reader: inputs, byte sources, capture formats, packet decoding and the reader
 * thread that shards packets onto the worker rings. Internal to src/reader and to the
 * code that starts the pipeline (src/lib). */
#ifndef TT_SRC_READER_READER_H
#define TT_SRC_READER_READER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core.h"

struct tt_ahead;
struct tt_ahead_job;
struct tt_config;
struct tt_file_id;
struct tt_file_stats;

/* ---- byte sources: a whole-file mapping, or a stream (plain, gzip, zstd) ----------- */

enum tt_comp {
	TT_COMP_NONE = 0, /* mmapped */
	TT_COMP_PLAIN,    /* read(): pipes and files that cannot be mapped */
	TT_COMP_GZIP,
	TT_COMP_ZSTD,
};

/* Called when the source stops using a chunk (it switched to a new one, or closed);
 * every descriptor that points into the chunk has been handed over before the call. */
typedef void (*tt_release_fn)(void *ctx, struct tt_chunk *c);

struct tt_source {
	const uint8_t *p, *end; /* unread bytes */
	uint64_t off;           /* offset of p in the (decompressed) stream */
	int comp;               /* enum tt_comp */
	int fd;
	bool is_eof;            /* the underlying file or stream is exhausted */
	struct tt_chunk *chunk; /* the bytes p points into */
	tt_release_fn release;
	void *release_ctx;
	void *dec;        /* z_stream or ZSTD_DStream */
	uint8_t *in;      /* compressed input buffer */
	uint8_t *scratch; /* tt_source_discard() decodes into it */
	size_t in_len, in_pos;
	uint64_t n_raw_bytes;      /* bytes read from the file so far (progress) */
	uint64_t file_size;        /* mapped files */
	const uint8_t *populated;  /* mapped files: page tables filled up to here */
	const uint8_t *prefetched; /* mapped files: cache lines requested up to here */
	/* Pipes and other inputs that are not regular files: a read waits with poll() in
	 * slices of 100 ms and gives up with -EINTR once *stop is set (the reader thread
	 * sets stop after opening; NULL: never). */
	const atomic_bool *stop;
	bool is_pollable;
	char err[160];        /* the message of the last negative return */
	uint64_t err_off;     /* ... and where: offset in the (decompressed) stream */
	uint64_t err_raw_off; /* compressed sources: offset in the file of the fault */
	/* streamed compressed sources */
	bool is_mid_frame; /* input consumed since the last end of a gzip member/zstd frame */
	int pending_rc;    /* decoder error held back until the bytes before it are read */
	size_t zstd_hint;  /* input the zstd decoder asked for next (0: a frame start) */
	char pending_err[160];
	/* Decompressed ahead by a helper thread (see "decompression ahead" below): the
	 * stream's bytes and its end or fault come from this job; fd is the job's. */
	struct tt_ahead_job *ahead;
};

/* Open path. Returns 0, or -errno with s->err set. */
int tt_source_open(struct tt_source *s, const char *path, tt_release_fn release, void *ctx);
/* A source over memory the caller keeps alive until tt_source_close(). Returns 0 or
 * -ENOMEM. (Uncompressed captures only: the fuzzer and library callers use it.) */
int tt_source_open_mem(
    struct tt_source *s, const uint8_t *data, size_t len, tt_release_fn release, void *ctx);
/* Make n bytes readable at s->p. Returns 0 when they are, 1 at end of input with fewer
 * (s->end - s->p are left), or -errno (-EBADMSG: corrupt compressed data) with s->err. */
int tt_source_need_slow(struct tt_source *s, size_t n);
static inline int tt_source_need(struct tt_source *s, size_t n)
{
	return (size_t)(s->end - s->p) >= n ? 0 : tt_source_need_slow(s, n);
}
static inline void tt_source_skip(struct tt_source *s, size_t n)
{
	s->p += n;
	s->off += n;
}
/* Advance over n bytes that need not be readable at once (a large block that is not
 * used): a mapped source moves its window, a streamed one decodes and drops them in
 * pieces of at most a chunk, so memory stays bounded. Returns 0, 1 when the input ended
 * first (everything up to the end is skipped), or -errno with s->err. */
int tt_source_discard(struct tt_source *s, uint64_t n);
/* Mapped files only, called once per record: fill page tables a few MiB ahead of p in
 * one system call per 2 MiB instead of a page fault per 64 KiB, and request the cache
 * lines of the next 16 KiB, so that record headers are in cache when parsed (16 KiB
 * measured best of 4-64 KiB on the bench capture). */
void tt_source_populate(struct tt_source *s);
static inline void tt_source_ahead(struct tt_source *s)
{
	if (s->comp != TT_COMP_NONE)
		return;
	if (s->p + (4u << 20) > s->populated && s->populated < s->end)
		tt_source_populate(s);
	while (s->prefetched < s->p + 16384 && s->prefetched < s->end) {
		__builtin_prefetch(s->prefetched);
		s->prefetched += 64;
	}
}
/* Mapped files: true when the file is now shorter than when it was opened (its size
 * then goes to *now_bytes). Called when tt_mapguard_faults() changed: pages past the new
 * end were read as zeros. */
bool tt_source_shrank(struct tt_source *s, uint64_t *now_bytes);
/* Release the current chunk through the callback and close. */
void tt_source_close(struct tt_source *s);

/* For the read-ahead helpers (ahead.c). Open path as tt_source_open() would, but only when
 * it is a non-empty regular file of gzip or zstd data: returns 1 (s then streams it, to be
 * read with tt_source_produce() only), 0 when it is anything else or cannot be opened
 * (nothing stays open: the reader opens it itself and reports what is wrong, as without
 * read-ahead), or -ENOMEM. Standard input ("-") and FIFOs are never opened. */
int tt_source_open_compressed(struct tt_source *s, const char *path);
/* Decompress into [dst, dst + room): bytes produced (s->off counts them), 0 at the clean
 * end, or -errno with s->err, s->err_off and s->err_raw_off set exactly as the reader's
 * own decoding would set them (-EBADMSG: corrupt or cut short). */
ssize_t tt_source_produce(struct tt_source *s, uint8_t *dst, size_t room);
/* The reader's side of a file decompressed ahead: a streamed source whose bytes come from
 * job (fd and comp are the job's; fd stays the job's). Cannot fail. */
void tt_source_open_ahead(struct tt_source *s, struct tt_ahead_job *job, int fd, int comp,
    tt_release_fn release, void *ctx);

/* ---- capture formats -------------------------------------------------------------- */

enum tt_format {
	TT_FMT_PCAP = 0,
	TT_FMT_PCAP_NS,
	TT_FMT_PCAPNG,
};

struct tt_iface {
	uint32_t linktype, snaplen;
	uint64_t ts_div, ts_mul; /* ns = units * ts_mul / ts_div */
	int64_t ts_offset_s;
};

struct tt_capture {
	int format; /* enum tt_format */
	bool is_swapped;
	bool is_big_endian;
	struct tt_iface *ifaces; /* pcap: one; pcapng: per section */
	uint32_t n_ifaces, cap_ifaces;
	uint64_t n_caplen_over_snaplen; /* tolerated, counted */
	uint64_t err_off;
	char err[200];
	bool is_source_err; /* err came from the byte source (see tt_source.err_raw_off) */
	/* Timestamps finer than a microsecond: a nanosecond pcap, or a pcapng interface
	 * whose if_tsresol is finer (a carved copy then needs nanosecond precision). */
	bool has_sub_us_ts;
};

struct tt_frame {
	const uint8_t *data;
	uint32_t caplen, wirelen, linktype;
	uint64_t ts_ns;
};

/* Read the file header. Returns 0, or -EBADMSG / -errno with cap->err, cap->err_off. */
int tt_capture_open(struct tt_capture *cap, struct tt_source *s);
/* Next frame: 1, 0 at a clean end, or < 0 with cap->err and cap->err_off set. */
int tt_capture_next(struct tt_capture *cap, struct tt_source *s, struct tt_frame *f);
void tt_capture_close(struct tt_capture *cap);
const char *tt_format_name(int format);

/* ---- decoding: link layer → IP → TCP/UDP ---------------------------------------------- */

enum tt_dec {
	TT_DEC_FLOW = 0,  /* TCP or UDP with ports */
	TT_DEC_FRAG,      /* a non-first IP fragment (no L4 header); frag_* set */
	TT_DEC_OTHER_IP,  /* IP, other protocol (proto set) */
	TT_DEC_NON_IP,    /* link layer fine, not IP (ARP, LLDP, ...) */
	TT_DEC_TRUNCATED, /* headers cut by the snap length, or malformed */
	TT_DEC_BAD_LINK,  /* link type not decoded */
};

struct tt_decoded {
	const uint8_t *l3;  /* IP header (the innermost, after IP-in-IP or GRE) */
	uint32_t l3_caplen; /* captured bytes from l3 on */
	uint32_t l4_len;    /* bytes after the IP headers per the IP length fields */
	uint16_t l4_off;    /* offset of TCP/UDP from l3 */
	uint16_t sport, dport;
	uint8_t ip_version;
	uint8_t proto;
	bool is_frag_first;       /* offset 0 with more fragments: remember its ports */
	uint32_t frag_id;         /* IPv4 identification or IPv6 fragment id */
	const uint8_t *src, *dst; /* addresses inside l3 */
};

/* Decode one frame of the given link type. Returns an enum tt_dec. Pure function. */
int tt_decode(uint32_t linktype, const uint8_t *frame, uint32_t caplen, struct tt_decoded *d);
/* One level of UDP tunnel. outer is a TT_DEC_FLOW result with proto 17 (l3, l3_caplen,
 * l4_off, ports valid). When its ports and payload are a tunnel (VXLAN to 4789, GENEVE to
 * 6081, GRE-in-UDP to 4754; GTP-U 2152, Teredo 3544, AYIYA 5072, CAPWAP data 5247 on
 * either port), decodes the encapsulated packet into *inner and returns its enum tt_dec
 * (never TT_DEC_BAD_LINK); inner points into the same frame bytes. Returns -1, leaving
 * *inner untouched, when it is not a tunnel or the payload carries no packet (GTP
 * signalling, AYIYA heartbeat, CAPWAP keep-alive or DTLS). inner may be outer. Only one
 * level: the caller loops while the result is a UDP TT_DEC_FLOW (each level consumes
 * at least 8 bytes, but cap the depth). Pure function, any thread. */
int tt_decode_tunnel(const struct tt_decoded *outer, struct tt_decoded *inner);
/* Nested UDP tunnels followed (the reader's and the carve's loops over tt_decode_tunnel). */
#define TT_MAX_TUNNELS 8
/* True when tt_decode() knows the link type. */
bool tt_linktype_known(uint32_t linktype);
const char *tt_linktype_name(uint32_t linktype);

/* ---- IP fragments ---------------------------------------------------------------------
 * A later IP fragment carries no ports: it belongs to the flow of the first fragment with
 * the same (src, dst, id, protocol), when that was seen. The table is direct-mapped
 * (a newer first fragment takes the slot of an older one) and cleared when a set of files
 * starts; the reader and the carve (src/lib/carve.c) use it alike, so they attribute
 * fragments to the same flows. */

#define TT_FRAG_SLOTS 4096

struct tt_frag_slot {
	uint8_t src[16], dst[16];
	uint32_t id;
	uint32_t hash; /* the flow hash of the first fragment */
	uint16_t sport, dport;
	uint8_t proto, ip_version;
	bool is_used;
};

/* The slot of d's (src, dst, id) in table (TT_FRAG_SLOTS entries). Any thread. */
struct tt_frag_slot *tt_frag_slot(struct tt_frag_slot *table, const struct tt_decoded *d);
/* True when slot s holds the first fragment of d's datagram. */
bool tt_frag_match(const struct tt_frag_slot *s, const struct tt_decoded *d);
/* Remember d, a first fragment (d->is_frag_first) whose flow hash is hash, in s. */
void tt_frag_note(struct tt_frag_slot *s, const struct tt_decoded *d, uint32_t hash);

/* ---- inputs ------------------------------------------------------------------------ */

/* Expand paths (files, folders walked recursively in natural name order, glob patterns) into
 * *out (malloc()ed array of malloc()ed paths, in argument order). Paths that do not
 * exist are kept, so that they get an error in the report. Returns 0 or -ENOMEM. */
int tt_inputs_expand(const char *const *paths, size_t n, char ***out, size_t *n_out);
void tt_inputs_free(char **paths, size_t n);

/* ---- decompression ahead (ahead.c) ----------------------------------------------------
 * Helper threads decompress the next compressed files of the input list ahead of the
 * reader, in list order, into blocks from a pool of 32 MiB per helper (256 MiB at most);
 * the reader takes each file's blocks in order (tt_source_open_ahead()), so what it
 * parses, every offset and every error are those it would have met decoding the file
 * itself. Uncompressed files are left
 * to the reader (mapped as before). The pool belongs to the reader thread: only it calls
 * these functions; the helpers are internal to ahead.c. */

/* Helper threads for this run: TT_DECOMPRESS_AHEAD=0 turns read-ahead off, =N asks for N
 * helpers (tests, bench); unset: min(CPUs this thread may run on, 8), and 0 with one CPU. */
unsigned tt_ahead_threads(void);
/* Start n_threads helpers over files[first..n_files) (paths only are read), which the
 * reader then takes in order. NULL when n_threads is 0 or on failure (read-ahead is then
 * off: the reader decodes). */
struct tt_ahead *tt_ahead_new(const struct tt_file_stats *files, size_t first, size_t n_files,
    unsigned n_threads, const atomic_bool *stop);
/* The reader is at file i (files before it are released): the job of i, once a helper
 * has opened it, or NULL when i is not a compressed regular file (the reader opens it
 * itself). *fd, *comp and *id (its identity when the helper opened it) are set with a job. */
struct tt_ahead_job *tt_ahead_job_of(
    struct tt_ahead *a, size_t i, int *fd, int *comp, struct tt_file_id *id);
/* Reader: copy the job's next bytes into [dst, dst + room) (waits for a helper when none
 * are ready); as tt_source_produce(), with s->err, err_off, err_raw_off and n_raw_bytes set. */
ssize_t tt_ahead_take(struct tt_ahead_job *job, struct tt_source *s, uint8_t *dst, size_t room);
/* Reader, done with the job's file (tt_source_close() calls it): a helper still
 * decompressing it stops; its memory is reused. */
void tt_ahead_release(struct tt_ahead_job *job);
/* Stop the helpers (promptly: each finishes at most the block it decodes), join them and
 * free everything. NULL is fine. */
void tt_ahead_free(struct tt_ahead *a);

/* ---- the reader thread ------------------------------------------------------------------ */

struct tt_reader {
	/* set before start */
	const struct tt_config *cfg;
	struct tt_ring *rings; /* one per worker; this thread is the only producer */
	unsigned n_workers;
	struct tt_file_stats *files; /* one per input, written here, read by the aggregator
				      * after every worker's TT_REC_FILE_DONE for its set */
	size_t n_files;
	/* --shard (src/lib/shard.c): when is_shard, read only the capture sets whose first file
	 * is in [own_lo, own_hi) (a set that starts there is read whole, past own_hi too) and
	 * the files without packets in that range; every other file is left alone, but for
	 * the files read only to decide the chain (the last one with packets before own_lo,
	 * and those of a set begun before it), whose stats are cleared again. is_owned
	 * (n_files entries, zeroed by the caller) is set here for each file read. */
	bool is_shard;
	size_t own_lo, own_hi;
	bool *is_owned;
	/* progress, written here with relaxed stores, read by main */
	_Atomic uint64_t progress_bytes;
	_Atomic uint64_t progress_pkts; /* packets read (tt_progress.pkts_done) */
	_Atomic uint32_t progress_files;
	_Atomic bool is_done; /* set last, when every ring has its STREAM_END */
	/* result, read after join */
	bool is_interrupted;
	int rc; /* 0, or -errno when the filter did not compile */
};

/* The hasher thread: SHA-256 of each input file into files[i].sha256. */
struct tt_hasher {
	const struct tt_config *cfg;
	struct tt_file_stats *files;
	size_t n_files;
};

void *tt_hasher_main(void *arg);
/* (st_dev, st_ino, size, mtime) of an open regular file; id->is_set stays false for
 * pipes and on error. Any thread. */
void tt_file_id_of(int fd, struct tt_file_id *id);
/* Main thread, after the reader and the hasher are joined: a file whose identity
 * differs between the reader's and the hasher's opening and finishing is marked
 * is_changed; its SHA-256 is dropped and the reason goes into its error. */
void tt_files_check_changed(struct tt_file_stats *files, size_t n);

/* Thread entry: read every file in order (a shard: the files it owns, see is_shard),
 * chaining files that continue each other into sets (one timeline each; see reader.c,
 * "capture sets"; cfg->is_no_chain: every file is a set of its own), then send
 * TT_PKT_STREAM_END to every ring. */
void *tt_reader_main(void *arg);

#endif /* TT_SRC_READER_READER_H */
