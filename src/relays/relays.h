/* Relay data: Tor directory documents parsed into a time-aware (address, port) index.
 *
 * Inputs, detected from their content (never from their name):
 *   - network-status consensus documents, "ns" and "microdesc" flavours (one hourly
 *     document, a folder tree of them, or a tor DataDirectory with cached-consensus and
 *     cached-microdesc-consensus);
 *   - exit lists in TorDNSEL format (ExitNode / Published / LastStatus / ExitAddress);
 *   - plain address lists (one IPv4 or IPv6 address a line, '#' comments, blank lines);
 * each of them as it is, compressed (.xz, .gz, .zst, .bz2: one document), or as members
 * of a tar archive, compressed or not (CollecTor's monthly .tar.xz): compression and tar
 * are recognised by magic bytes, and each member is a document named "ARCHIVE:MEMBER".
 * Any other file or member is skipped and counted. A bad line is reported as
 * "path:line: message" (kept in the index's error list and logged with tt_log) and the
 * rest of the document and of the folder still loads; a damaged archive is reported with
 * the member and byte offset, and the members before the damage are kept.
 *
 * Validity intervals, all [from, to) in Unix nanoseconds:
 *   - consensus entry: [valid-after, valid-until). The same relay at the same address,
 *     port and kind in consecutive documents is one interval: a document extends the
 *     current interval when its valid-after <= the interval's end. Flags are the union
 *     over the merged documents; the nickname is the latest one seen.
 *   - exit-list ExitAddress scanned at S: [S - 24 h, S + 48 h), ExoneraTor's window
 *     (it matches scans dated D-2..D+1 for a query on date D). Scans of the same relay
 *     and address merge when they overlap.
 *   - plain list: undated, [0, UINT64_MAX).
 * A lookup at time T reports an interval as a strong match when T is inside it and as
 * "near" when T is within 24 h of it (relays change addresses; addresses are reused).
 *
 * Threads: an index is immutable once built or loaded. Lookups and every other const
 * accessor may run from any number of threads at once; build/load/free from one.
 * Memory: an index owns one flat image (heap, or a read-only mmap of a cache file);
 * every pointer an accessor returns points into it and lives until tt_relays_free().
 */
#ifndef TT_SRC_RELAYS_RELAYS_H
#define TT_SRC_RELAYS_RELAYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Kinds of input document. */
enum tt_relays_source {
	TT_RELAYS_SRC_NONE = 0,  /* not a relay document: skipped */
	TT_RELAYS_SRC_NS,        /* network-status-version 3 (full "ns" flavour) */
	TT_RELAYS_SRC_MICRODESC, /* network-status-version 3 microdesc */
	TT_RELAYS_SRC_EXITLIST,  /* TorDNSEL exit list */
	TT_RELAYS_SRC_IPLIST,    /* plain list of addresses, undated */
	TT_RELAYS_SRC_COUNT,
};

/* What a listed address is. */
enum tt_relay_addr_kind {
	TT_RELAY_ADDR_ORPORT = 0, /* r line address + ORPort, or an a line */
	TT_RELAY_ADDR_DIRPORT,    /* r line address + DirPort (when not 0) */
	TT_RELAY_ADDR_EXIT,       /* exit-list ExitAddress (no port) */
	TT_RELAY_ADDR_LISTED,     /* plain list (no port, no time) */
};

/* Match kinds, strongest first; lookups return matches in this order. */
enum tt_relay_match_kind {
	TT_RELAY_MATCH_ORPORT = 0,     /* address + ORPort listed, T inside the validity */
	TT_RELAY_MATCH_DIRPORT,        /* address + DirPort listed, T inside */
	TT_RELAY_MATCH_ORPORT_NEAR,    /* address + ORPort, T within 24 h of the validity */
	TT_RELAY_MATCH_DIRPORT_NEAR,   /* address + DirPort, T within 24 h */
	TT_RELAY_MATCH_EXIT,           /* exit-list address, T inside its window */
	TT_RELAY_MATCH_IP_ONLY,        /* the address is a relay's, on another port: weak */
	TT_RELAY_MATCH_LISTED_UNDATED, /* in a plain address list: no time, no port */
	TT_RELAY_MATCH_COUNT,
};

/* Consensus flags ("s" line). Unknown flags are ignored. */
#define TT_RELAY_FLAG_AUTHORITY     (1u << 0)
#define TT_RELAY_FLAG_BADEXIT       (1u << 1)
#define TT_RELAY_FLAG_EXIT          (1u << 2)
#define TT_RELAY_FLAG_FAST          (1u << 3)
#define TT_RELAY_FLAG_GUARD         (1u << 4)
#define TT_RELAY_FLAG_HSDIR         (1u << 5)
#define TT_RELAY_FLAG_MIDDLEONLY    (1u << 6)
#define TT_RELAY_FLAG_NOEDCONSENSUS (1u << 7)
#define TT_RELAY_FLAG_RUNNING       (1u << 8)
#define TT_RELAY_FLAG_STABLE        (1u << 9)
#define TT_RELAY_FLAG_STALEDESC     (1u << 10)
#define TT_RELAY_FLAG_SYBIL         (1u << 11)
#define TT_RELAY_FLAG_V2DIR         (1u << 12)
#define TT_RELAY_FLAG_VALID         (1u << 13)
#define TT_RELAY_FLAG_BADDIRECTORY  (1u << 14)
#define TT_RELAY_FLAG_NAMED         (1u << 15)
#define TT_RELAY_FLAG_UNNAMED       (1u << 16)
#define TT_RELAY_FLAG_COUNT         17

#define TT_RELAY_NONE    UINT32_MAX /* "no relay identity" (plain lists) */
#define TT_RELAYS_DAY_NS (86400ull * 1000000000ull)

/* ---- parsing one document (used by the index; also a fuzzing entry point) ----------- */

/* One listed address as a parser reports it. */
struct tt_relays_entry {
	uint64_t from_ns, to_ns; /* validity [from, to) */
	uint32_t flags;          /* TT_RELAY_FLAG_* */
	uint16_t port;           /* 0 for EXIT and LISTED */
	uint8_t kind;            /* enum tt_relay_addr_kind */
	uint8_t ip_version;      /* 4 (address in the first 4 bytes, rest zero) or 6 */
	uint8_t addr[16];
	bool has_fp;       /* false for plain lists */
	uint8_t fp[20];    /* RSA identity digest */
	char nickname[20]; /* NUL-terminated; empty for exit and plain lists */
};

/* What the first bytes of a document say. */
struct tt_relays_doc_head {
	int source;              /* enum tt_relays_source; NONE when not a relay document */
	uint64_t valid_after_ns; /* consensus only, 0 when not in the head */
	const char *why_none;    /* static text, when source is NONE */
};

/* Per-document counts written by tt_relays_parse(). */
struct tt_relays_doc_stats {
	int source; /* enum tt_relays_source */
	/* consensus: its header times; exit list: first scan, 0, last scan; plain list: 0 */
	uint64_t valid_after_ns, fresh_until_ns, valid_until_ns;
	uint64_t n_routers;   /* r lines / ExitNode entries / list lines with an address */
	uint64_t n_entries;   /* entries reported */
	uint64_t n_bad_lines; /* errors reported */
};

/* Callbacks of tt_relays_parse(). error() gets a 1-based line number and a message that
 * lives only for the call. */
struct tt_relays_parse_ops {
	void (*entry)(void *ctx, const struct tt_relays_entry *e);
	void (*error)(void *ctx, uint64_t line, const char *msg);
};

/* Classify a document from its first bytes (buf may be the whole file or its first
 * 4 KiB or more). Pure function, any thread. Always fills *head. */
void tt_relays_detect(const char *buf, size_t len, struct tt_relays_doc_head *head);

/* Parse one whole document held in buf (need not be NUL-terminated). Calls ops->entry
 * for each listed address and ops->error for each bad line; bad lines are skipped.
 * Any thread. Returns 0; -EBADMSG when the document as a whole is unusable (not a relay
 * document, or a consensus without valid-after/valid-until), after one error() call. */
int tt_relays_parse(const char *buf, size_t len, const struct tt_relays_parse_ops *ops, void *ctx,
    struct tt_relays_doc_stats *st);

/* ---- the index --------------------------------------------------------------------- */

struct tt_relays;

/* Build an index from files and folders (walked recursively; symlinks to files are
 * followed, symlinks to folders are not). Documents that cannot be read or parsed are
 * reported in the error list and skipped. Any one thread. Returns 0 and *out (free it
 * with tt_relays_free), -ENOENT/-EACCES when a path itself cannot be opened, -ENOMEM. */
int tt_relays_build(const char *const *paths, size_t n_paths, struct tt_relays **out);

/* Write idx as a binary cache file (versioned header, the source files with sizes,
 * mtimes and XXH3-128 digests, the combined digest, then the flat arrays), atomically
 * (temporary file + rename). idx is not changed: any thread, also while lookups run.
 * Returns 0 or -errno: -EISDIR / -EINVAL when path exists and is a folder / not a regular
 * file (a FIFO or a device is never replaced). */
int tt_relays_save(const struct tt_relays *idx, const char *path);

/* Map a cache file written by tt_relays_save (read-only, shared with the page cache).
 * The file is validated (magic, version, layout, checksum, every index in range, and every
 * structural invariant the lookups rely on: the checksum is no protection against a
 * deliberate edit), not compared with the sources (see tt_relays_is_fresh). A FIFO or
 * device is refused without a blocking open. Any one thread. Returns 0 and *out (the
 * caller owns it: tt_relays_free), -ENOENT, -EBADMSG (corrupt, truncated or another
 * format version), -EISDIR / -EINVAL (a folder / not a regular file), or -errno. */
int tt_relays_load_cache(const char *path, struct tt_relays **out);

/* tt_relays_load_cache from a cache image in memory (copied: buf may be freed after the
 * call; any alignment). For tests and fuzzing. Any one thread. Returns 0 and *out,
 * -EBADMSG or -ENOMEM. */
int tt_relays_load_mem(const void *buf, size_t len, struct tt_relays **out);

/* 1 when idx was built from exactly these paths and every file under them (an archive
 * as a whole) still has the recorded size and mtime (and no file was added or removed), 0 when
 * stale, -errno when a path cannot be read. Walks the paths (one stat per file); read-only on idx,
 * any thread. */
int tt_relays_is_fresh(const struct tt_relays *idx, const char *const *paths, size_t n_paths);

/* Load cache_path when it is fresh for paths; otherwise build from paths and, when
 * cache_path is not NULL, rewrite the cache (a failure to write it is logged, not
 * returned). A corrupt cache (-EBADMSG) is logged and rebuilt. The cache file is never
 * itself read as a source. Returns as tt_relays_build, or -EISDIR / -EINVAL (logged) when
 * cache_path exists and is not a regular file. */
int tt_relays_open_paths(
    const char *const *paths, size_t n_paths, const char *cache_path, struct tt_relays **out);
/* tt_relays_open_paths with one path. */
int tt_relays_open(const char *path_or_dir, const char *cache_path, struct tt_relays **out);

/* Free an index and everything accessors returned (NULL is fine). The owner's thread,
 * after every lookup on it has returned. */
void tt_relays_free(struct tt_relays *idx);

/* One match of a lookup. Self-contained (no pointers). */
struct tt_relay_match {
	uint64_t from_ns, to_ns;      /* the listing's validity; 0/UINT64_MAX when undated */
	uint32_t flags;               /* TT_RELAY_FLAG_*, union over the merged documents */
	uint32_t relay;               /* relay number, or TT_RELAY_NONE */
	uint32_t first_doc, last_doc; /* documents (tt_relays_doc) that opened / last
				       * extended the interval */
	uint16_t port;                /* the listed port (0 for exit and plain lists) */
	uint8_t kind;                 /* enum tt_relay_match_kind */
	uint8_t addr_kind;            /* enum tt_relay_addr_kind */
	uint8_t sources;              /* bit (1 << enum tt_relays_source) per source kind */
	uint8_t ip_version;
	uint8_t addr[16];
	char fingerprint[41]; /* 40 upper-case hex, or "" */
	char nickname[20];    /* or "" */
};

/* Find what is known about addr (16 bytes, IPv4 in the first 4; ip_version 4 or 6) on
 * port (0 = any port) at time t_ns (Unix ns; 0 = any time). Writes at most max matches,
 * strongest kind first, and returns how many there are in all. An IP_ONLY match is not
 * reported for a relay that also matched on the port. Read-only: any thread, any number
 * of threads at once. */
size_t tt_relays_lookup(const struct tt_relays *idx, const uint8_t addr[16], uint8_t ip_version,
    uint16_t port, uint64_t t_ns, struct tt_relay_match *out, size_t max);

/* The same for a time span [from_ns, to_ns) (e.g. a whole day, or a flow's duration): a
 * listing matches when its validity overlaps the span; near when it overlaps the span
 * widened by 24 h on each side. from_ns = to_ns = 0 means any time. */
size_t tt_relays_lookup_range(const struct tt_relays *idx, const uint8_t addr[16],
    uint8_t ip_version, uint16_t port, uint64_t from_ns, uint64_t to_ns, struct tt_relay_match *out,
    size_t max);

/* Counts and provenance of an index. */
struct tt_relays_info {
	uint64_t n_files;    /* regular files found under the paths */
	uint64_t n_archives; /* of them, compressed files and tar archives */
	uint64_t n_docs;     /* documents loaded (files, compressed files, archive members) */
	uint64_t n_docs_by_source[TT_RELAYS_SRC_COUNT];
	uint64_t n_skipped;      /* files and archive members of no known kind */
	uint64_t n_failed;       /* relay documents that could not be read or were unusable */
	uint64_t n_relays;       /* distinct identities */
	uint64_t n_intervals;    /* (address, port, kind, relay) validity intervals */
	uint64_t n_addresses;    /* distinct addresses */
	uint64_t n_errors;       /* bad lines and bad files, including any past the list's cap */
	uint64_t n_source_bytes; /* bytes of the loaded documents */
	uint64_t earliest_ns, latest_ns; /* span of the dated listings (0 when none) */
	uint64_t built_ns;               /* wall clock when the index was built */
	bool is_from_cache;              /* loaded from a cache file */
};

/* Fill *out (caller's memory). Any thread. */
void tt_relays_get_info(const struct tt_relays *idx, struct tt_relays_info *out);

/* true when idx holds no relay entries at all (no interval: every lookup finds nothing),
 * e.g. built from empty or binary files or documents without entries. Any thread. */
bool tt_relays_is_empty(const struct tt_relays *idx);

/* Why an empty index is empty, for a warning: "3 files, none a consensus, exit list or IP
 * list", "1 file, 1 document with no entries", "no files", ... Written into buf
 * (NUL-terminated when len > 0); returns the length it needed. Any thread. */
size_t tt_relays_describe_empty(const struct tt_relays *idx, char *buf, size_t len);

/* Hex XXH3-128 (32 characters) over the multiset of the loaded documents' contents: the
 * XXH3-128 of the sorted list of each document's own XXH3-128 in canonical (big-endian)
 * form, which is what `xxh128sum FILE` prints (see tt_relays_doc). Independent of file
 * names, paths and order, and of packing: a compressed document or an archive member is
 * digested decompressed, so a tarball gives the digest of its members unpacked. XXH3 is not a
 * cryptographic hash: it identifies the data for provenance, it does not authenticate it. Any
 * thread; the string lives in idx. */
const char *tt_relays_digest(const struct tt_relays *idx);

/* Bad lines and files as "path:line: message" (or "path: message"), in the order they
 * were met (consensuses by valid-after, then exit lists, then plain lists), at most 10000
 * kept (n_errors in the info counts them all). The first 3 of each file are also logged
 * with tt_log(TT_LOG_WARN) while building. Any thread; strings live in idx, NULL when i
 * is out of range. */
size_t tt_relays_n_errors(const struct tt_relays *idx);
const char *tt_relays_error(const struct tt_relays *idx, size_t i);

/* One document: a file found under the paths, or one member of an archive. */
struct tt_relays_doc {
	const char *path; /* as walked ("ARCHIVE:MEMBER" for a member); points into the index */
	int source;       /* enum tt_relays_source; NONE for skipped files */
	bool is_failed;   /* a relay document that could not be used */
	uint64_t size_bytes, mtime_ns; /* of the document (a member's: its tar header's) */
	uint64_t valid_after_ns, fresh_until_ns, valid_until_ns;
	uint64_t n_routers, n_entries, n_bad_lines;
	char digest[33]; /* hex XXH3-128 of the document's bytes, "" when not read */
};

/* Number of documents, and document i (0 <= i < n) in walk order (sorted paths; an
 * archive's members in archive order, at the archive's place; members that are not relay
 * documents have no entry, only a count in n_skipped); the document numbers of struct
 * tt_relay_match index this list. Any thread. Returns 0 or -ERANGE. */
size_t tt_relays_n_docs(const struct tt_relays *idx);
int tt_relays_doc(const struct tt_relays *idx, size_t i, struct tt_relays_doc *out);

/* Names: "orport", "orport-near", ...; "ns", "microdesc", "exit-list", "ip-list";
 * "orport", "dirport", "exit", "listed". Static strings; "?" when out of range. Any
 * thread. */
const char *tt_relay_match_kind_name(unsigned kind);
const char *tt_relays_source_name(unsigned source);
const char *tt_relay_addr_kind_name(unsigned kind);

/* Write the flags as space-separated consensus names ("Fast Guard Running") into buf
 * (NUL-terminated when len > 0); returns the length it needed (like snprintf). Any
 * thread. */
size_t tt_relay_flags_format(uint32_t flags, char *buf, size_t len);

/* Parse "YYYY-MM-DD HH:MM:SS" (sep may be ' ' or 'T') exactly n bytes long into Unix
 * ns. Returns 0 or -EINVAL. Any thread. */
int tt_relays_parse_time(const char *s, size_t n, uint64_t *out_ns);

#endif /* TT_SRC_RELAYS_RELAYS_H */
