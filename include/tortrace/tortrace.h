/* tortrace public API: analyse packet captures and write a consolidated report.
 *
 * One call, tt_analyze(), runs the whole pipeline (reader thread → worker threads →
 * aggregator) over a list of paths and writes OUT/report.json, OUT/flows.msgpack and
 * OUT/report.html (a page rendered from report.json).
 * The flow record schema shared by every stage is in <tortrace/record.h>.
 */
#ifndef TT_TORTRACE_H
#define TT_TORTRACE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tortrace/record.h"

struct tt_relays;

#define TT_VERSION "0.1.0"

/* Exit statuses of the command line, also returned by tt_analyze(). */
enum tt_status {
	TT_STATUS_OK = 0,      /* every input was read completely */
	TT_STATUS_PARTIAL = 1, /* some input failed or was cut short; the report says which */
	TT_STATUS_USAGE = 2,   /* bad options, or nothing could be done at all */
};

/* How far an analysis is, for struct tt_config's progress callback. */
struct tt_progress {
	uint64_t bytes_done;  /* input bytes read so far (of the file as stored: compressed
			       * bytes for a compressed file) */
	uint64_t bytes_total; /* the inputs' sizes when the run started (0 for a pipe) */
	size_t files_done;    /* inputs read completely (or given up) */
	size_t files_total;   /* inputs after folders and globs were expanded */
	uint64_t elapsed_ns;  /* since tt_analyze() was called */
	bool is_final;        /* the last call: every thread has finished; no call follows */
	uint64_t pkts_done;   /* packets read so far (all inputs) */
};

/* What the findings say about one host (report.json "hosts"; docs/report-schema.md), for
 * struct tt_config's on_host. Strings are valid during the call only. */
enum tt_host_role {
	TT_ROLE_CLIENT = 1u << 0,    /* initiated Tor links while not listed as a relay */
	TT_ROLE_RELAY = 1u << 1,     /* initiated links while listed, or accepted them */
	TT_ROLE_BRIDGE = 1u << 2,    /* a private address that accepted bridge links
				      * (tor-bridge, tor-pt, tor-webtunnel) */
	TT_ROLE_EXIT_SIDE = 1u << 3, /* reached from a Tor exit */
	/* relayed a Snowflake session: the DTLS client of a tor-snowflake flow that opened a
	 * TLS connection to port 443 within a second (the proxy's view; not a Tor user) */
	TT_ROLE_SNOWFLAKE_PROXY = 1u << 4,
};

struct tt_host_finding {
	const char *address;
	unsigned roles; /* enum tt_host_role bits */
	uint64_t tor_flows, tor_bytes, candidates;
	uint64_t first_ns, last_ns; /* Unix time of its Tor flows' first and last packet */
	uint64_t active_ns;         /* the length of its merged active periods */
	size_t n_relays;            /* relays and bridges it used */
	double best_score;
	unsigned best_verdict;  /* enum tt_verdict of its strongest flow (TT_VERDICT_NONE:
				 * a candidate) */
	uint32_t best_evidence; /* the evidence bits of its strongest flow */
};

/* One relay, bridge or exit of the findings (report.json "relays"), for on_relay. */
enum tt_relay_finding_kind {
	TT_RELAY_FINDING_RELAY = 0, /* a relay's ORPort or DirPort */
	TT_RELAY_FINDING_BRIDGE,    /* the responder of tor-bridge, tor-pt or tor-webtunnel
				     * links (a meek front is no relay or bridge) */
	TT_RELAY_FINDING_EXIT,      /* a listed exit that initiated tor-exit-side flows */
};

struct tt_relay_finding {
	const char *address;
	uint16_t port;                      /* 0 for an exit */
	unsigned kind;                      /* enum tt_relay_finding_kind */
	const char *nickname, *fingerprint; /* NULL when relay data does not name it */
	uint64_t tor_flows, tor_bytes;
	uint64_t first_ns, last_ns;
	size_t n_hosts;
};

/* Options of one analysis. Filled by the caller (the CLI parses argv into it), read-only
 * once tt_analyze() starts. Strings are borrowed for the duration of the call. */
struct tt_config {
	const char *const *paths; /* files, folders (walked recursively) or glob patterns */
	size_t n_paths;
	const char *out_dir;        /* created if missing */
	const char *bpf;            /* libpcap filter expression, or NULL */
	const char *relays_path;    /* relay data (file or folder) for relay matches, or NULL */
	const char *relays_cache;   /* compiled relay index to use or refresh, or NULL */
	const char *command_line;   /* recorded in the report's provenance, or NULL */
	unsigned n_workers;         /* 0: online CPUs - 1 (at least 1): the reader has a core */
	uint32_t ring_slots;        /* descriptors per reader→worker ring, a power of two */
	uint64_t sort_budget_bytes; /* records held for sorting before sorted runs are
				     * spilled to OUT (0: 128 MiB) */
	uint64_t flow_memory_bytes; /* flow state of all workers together: each of the 256
				     * partitions of the flow-hash space holds at most
				     * flow_memory_bytes / 320 / 256 flows, and ends its least
				     * recently active flow early (end "evict") to take a new one.
				     * A fixed number, never derived from the machine, so that
				     * results are the same everywhere (0: the default) */
	uint64_t tcp_timeout_ns;    /* a TCP flow idle this long in packet time ends */
	uint64_t udp_timeout_ns;    /* the same for UDP */
	bool is_quiet;              /* no progress bar, only errors on stderr */
	bool is_no_detect;          /* flows only: no TLS/obfs4 inspection, no verdicts */
	bool is_no_chain;           /* every file is a timeline of its own: files that
				     * continue each other (rotated captures) are not read
				     * as one set */
	bool is_no_html;            /* write no OUT/report.html (by default it is rendered
				     * from report.json and put in place with it; with this
				     * set, a report.html left by an earlier run is removed,
				     * so that it never describes other outputs) */
	/* The score a flow needs for a verdict other than none (tor-exit-side, a relay-data
	 * fact, excepted): in (0, 1]; 0 means TT_MIN_SCORE_DEFAULT. A flow with positive
	 * evidence below it is a candidate (its record's candidate field), never a verdict. */
	double min_score;
	/* Evidence items left out of scoring, bit i for item i of the evidence table
	 * (measurement only: the CLI's hidden --without-evidence ID, e.g. B3). 0: none. */
	uint32_t evidence_off;
	/* Carving (NULL: off): after the outputs are committed, every packet of the flows
	 * with a verdict (verdict other than none) is written to this pcap, in time order,
	 * with its original bytes and timestamp; packets of a second link type go to
	 * write_pcap.<linktype>.pcap. The inputs are read again, so they must be files (not
	 * standard input). A failed carve leaves no file, keeps the analysis's outputs and
	 * makes tt_analyze() return TT_STATUS_PARTIAL. See src/lib/carve.c. */
	const char *write_pcap;
	/* The history database to record the analysis in (created when missing), or NULL not
	 * to record it. The CLI's default is $XDG_DATA_HOME/tortrace/history.sqlite. A
	 * history error is logged and never changes the analysis's status. */
	const char *history_path;
	int hash_mode;      /* SHA-256 of each input: 1 on, -1 off, 0 auto (on with >= 4 CPUs,
			     * where the hasher thread has a core of its own) */
	bool show_progress; /* the CLI's choice to draw a progress bar (on a terminal, or
			     * --progress); the library does not read it: see progress */
	/* Called, when not NULL, on the thread that called tt_analyze(): about every 100 ms
	 * while the inputs are read, then once with is_final set after every thread of the
	 * pipeline has finished and before the outputs are written. p is valid during the
	 * call only. It must return quickly (the pipeline does not wait, but memory
	 * sampling does). ctx is progress_ctx. The library never draws progress itself. */
	void (*progress)(const struct tt_progress *p, void *ctx);
	void *progress_ctx;
	/* Called, when not NULL, on the thread that called tt_analyze() after the outputs are
	 * written, once per host and per relay of the findings in report.json's order (also
	 * those past the report's listing limit). ctx is findings_ctx. Not called with
	 * is_no_detect. */
	void (*on_host)(const struct tt_host_finding *h, void *ctx);
	void (*on_relay)(const struct tt_relay_finding *r, void *ctx);
	void *findings_ctx;
	/* Set by a signal handler to stop early: the pipeline drains and the report is
	 * marked incomplete. May be NULL. */
	const atomic_bool *stop;
	/* A relay index the caller already loaded (src/relays: tt_relays_open()), used instead
	 * of loading relays_path, which is then only recorded (report.json, history) and
	 * should name where the index came from. Borrowed: it must stay valid and unchanged
	 * until tt_analyze() returns, and it is never freed by the library. Lookups only read
	 * it, so several analyses at once may share one (tortrace serve publishes reloaded
	 * indexes with RCU and keeps each one alive while an analysis uses it). NULL: load
	 * relays_path, if any. For programs linked with the static library only: the shared
	 * library exports no way to make one. */
	const struct tt_relays *relays;
	/* --shard I/N (shard_count 0: not a shard): analyse part shard_index (0-based) of N of
	 * the expanded inputs, a contiguous range balanced by bytes, reading each capture set
	 * that starts in that range whole, and write a partial result into out_dir beside the
	 * shard's own outputs: partial.bin (provenance, the inputs, the per-file results of the
	 * files it read), for tt_merge(). Not with write_pcap or standard input. */
	unsigned shard_index, shard_count;
	/* --resume: the run keeps a journal in out_dir/journal/ (src/lib/resume.c): the
	 * inputs are read in pieces of about checkpoint_bytes (0: TT_CHECKPOINT_DEFAULT), each
	 * piece's result saved as it ends, then joined into out_dir. Run again with is_resume
	 * after a crash, kill or stop, and the pieces already saved whose inputs are unchanged
	 * (size and modification time) are kept: the outputs are those of one uninterrupted
	 * run. With a shard (shard_count), a complete partial result already in out_dir for
	 * unchanged inputs is kept and the shard does nothing. Not with write_pcap or
	 * standard input. */
	bool is_resume;
	uint64_t checkpoint_bytes;
};

/* The default of tt_config.min_score: a verdict needs p >= 0.5, i.e. the evidence must
 * make Tor more likely than not after the prior of 1e-3. */
#define TT_MIN_SCORE_DEFAULT 0.5

/* The default of tt_config.checkpoint_bytes: 4 GiB of input per saved piece (each piece
 * ends with a drain of the pipeline, about 0.1 s on 2 CPUs: bench/resume_cost.sh). */
#define TT_CHECKPOINT_DEFAULT (4096ull << 20)

/* The default of tt_config.flow_memory_bytes: 1 GiB (about 3.3 million flows). */
#define TT_FLOW_MEMORY_DEFAULT (1024ull << 20)

/* Fill *cfg with defaults (workers 0 = online CPUs - 1, TCP idle timeout 3600 s, UDP 300 s,
 * ring 4096, flow memory 1 GiB, min_score 0.5). */
void tt_config_defaults(struct tt_config *cfg);

/* Run one analysis with cfg. Any thread; blocks until the report is written.
 * Returns an enum tt_status. Diagnostics go to stderr, one line per bad input. */
int tt_analyze(const struct tt_config *cfg);

/* Merge the partial results of `tortrace analyze --shard I/N` (one folder per shard, all
 * N of one run, in any order) into out_dir: report.json, flows.msgpack and (unless
 * is_no_html) report.html equal to those of one tt_analyze() over the same inputs, but for
 * report.json's "run". relays_path overrides the relay data path the shards recorded (its
 * digest must still be theirs); NULL: the recorded one. command_line is recorded in "run".
 * Missing, duplicate or mismatched parts are refused with a message naming the part.
 * Returns an enum tt_status: 0, 1 when some input failed in a shard, 2 refused or failed. */
int tt_merge(const char *const *parts, size_t n_parts, const char *out_dir, bool is_no_html,
    const char *relays_path, const char *relays_cache, const char *command_line);

/* ---- options by name -------------------------------------------------------------------
 * For programs that cannot lay out struct tt_config (FFIs such as Python's ctypes): an
 * opaque configuration set by the CLI's long option names. Defaults as
 * tt_config_defaults(), out "tortrace-out", quiet, no history. */
struct tt_options;

struct tt_options *tt_options_new(void); /* NULL without memory */
void tt_options_free(struct tt_options *o);
/* key: "path" (once per input), "out", "relays", "relays-cache", "filter", "history",
 * "command" (recorded as the command line), "jobs", "min-score", "tcp-timeout" and
 * "udp-timeout" (seconds), "checkpoint" (MiB), and "no-detect", "no-chain", "quiet", "sha256",
 * "resume" with "1" or "0".
 * The value is copied. Returns 0, -EINVAL (unknown key or bad value) or -ENOMEM. */
int tt_options_set(struct tt_options *o, const char *key, const char *value);
/* tt_analyze() with these options and the findings callbacks (either may be NULL). */
int tt_options_analyze(struct tt_options *o,
    void (*on_host)(const struct tt_host_finding *h, void *ctx),
    void (*on_relay)(const struct tt_relay_finding *r, void *ctx), void *ctx);

/* ---- reading an analysis's flows ------------------------------------------------------
 * OUT/flows.msgpack record by record, as `tortrace export` reads it: a damaged file gives
 * its records up to the fault, then an error that names the file and the byte offset.
 * One iterator belongs to one thread. */
struct tt_flows;

/* Open path and read its header. *out is set (NULL only without memory) and must be
 * closed; returns 0, or -errno / -EBADMSG with tt_flows_error() saying why. */
int tt_flows_open(const char *path, struct tt_flows **out);
/* The next record into *r (valid until the next call): 1, 0 at the end, or -errno /
 * -EBADMSG (tt_flows_error() says what and where). */
int tt_flows_next(struct tt_flows *it, const struct tt_flow_record **r);
/* "PATH: truncated record at byte offset N ...", or NULL when there was no error. */
const char *tt_flows_error(const struct tt_flows *it);
/* The analysis's inputs: a record's file_id and last_file_id index them. */
size_t tt_flows_n_files(const struct tt_flows *it);
const char *tt_flows_file(const struct tt_flows *it, uint32_t file_id);
/* The record as one JSON object, the line `tortrace export --jsonl` prints, into buf
 * (NUL-terminated, cut to len - 1); returns the length it needed (0 without memory). */
size_t tt_flows_json(
    const struct tt_flows *it, const struct tt_flow_record *r, char *buf, size_t len);
void tt_flows_close(struct tt_flows *it);

#endif /* TT_TORTRACE_H */
