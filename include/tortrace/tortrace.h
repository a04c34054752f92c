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
	/* Set by a signal handler to stop early: the pipeline drains and the report is
	 * marked incomplete. May be NULL. */
	const atomic_bool *stop;
};

/* The default of tt_config.min_score: a verdict needs p >= 0.5, i.e. the evidence must
 * make Tor more likely than not after the prior of 1e-3. */
#define TT_MIN_SCORE_DEFAULT 0.5

/* The default of tt_config.flow_memory_bytes: 1 GiB (about 3.3 million flows). */
#define TT_FLOW_MEMORY_DEFAULT (1024ull << 20)

/* Fill *cfg with defaults (workers 0 = online CPUs - 1, TCP idle timeout 3600 s, UDP 300 s,
 * ring 4096, flow memory 1 GiB, min_score 0.5). */
void tt_config_defaults(struct tt_config *cfg);

/* Run one analysis with cfg. Any thread; blocks until the report is written.
 * Returns an enum tt_status. Diagnostics go to stderr, one line per bad input. */
int tt_analyze(const struct tt_config *cfg);

#endif /* TT_TORTRACE_H */
