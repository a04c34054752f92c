/* The aggregator: the only writer of outputs. Consumes flow records from every worker,
 * orders them so that outputs do not depend on -j, and writes the report files; also the
 * JSON writer and the flows.msgpack reader used by `tortrace export`. Internal. */
#ifndef TT_SRC_AGGREGATE_AGGREGATE_H
#define TT_SRC_AGGREGATE_AGGREGATE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "tortrace/record.h"
#include "core.h"

struct tt_config;

/* ---- JSON writer ------------------------------------------------------------------------
 * Streams JSON to a FILE, with commas and (optionally) indentation handled here. Strings
 * are escaped; invalid UTF-8 becomes U+FFFD, so any file name is representable. */
#define TT_JSON_DEPTH 32

struct tt_json {
	FILE *f;
	bool is_pretty;
	int depth;
	bool has_items[TT_JSON_DEPTH];
	bool after_key;
};

void tt_json_init(struct tt_json *j, FILE *f, bool is_pretty);
void tt_json_obj(struct tt_json *j);
void tt_json_obj_end(struct tt_json *j);
void tt_json_arr(struct tt_json *j);
void tt_json_arr_end(struct tt_json *j);
void tt_json_key(struct tt_json *j, const char *key);
void tt_json_str(struct tt_json *j, const char *s); /* NULL writes null */
void tt_json_u64(struct tt_json *j, uint64_t v);
void tt_json_i64(struct tt_json *j, int64_t v);
void tt_json_num(struct tt_json *j, double v, int decimals);
void tt_json_bool(struct tt_json *j, bool v);
void tt_json_null(struct tt_json *j);
/* Unix nanoseconds as fractional seconds with 6 decimals. */
void tt_json_ts(struct tt_json *j, uint64_t ts_ns);
/* A key and its value in one call. */
void tt_json_kv_u64(struct tt_json *j, const char *key, uint64_t v);
void tt_json_kv_str(struct tt_json *j, const char *key, const char *s);

/* ---- the aggregator thread -------------------------------------------------------------- */

#define TT_REPORT_TOR_MAX    10000 /* Tor flows listed in report.json; all are in flows.msgpack */
/* Candidates listed in report.json (all are in flows.msgpack, key candidate): fewer, as they
 * are leads, not findings, and each is listed with its evidence explained (10,000 of them
 * made a 17 MB report and cost 8 % of a run on the bench capture). */
#define TT_REPORT_CAND_MAX   1000
/* Hosts and relays listed in report.json (all are counted). */
#define TT_REPORT_HOSTS_MAX  10000
#define TT_REPORT_RELAYS_MAX 10000

struct tt_relays;

/* ---- findings (findings.c): hosts, relays, per-file confidence ------------------------
 * Built by the aggregator thread from every flow with a verdict or a candidate, written
 * into report.json after the threads are joined. The result depends only on the set of
 * flows added, not on their order. */
struct tt_findings;

/* relays (may be NULL) says whether an initiator is a relay itself. NULL without memory. */
struct tt_findings *tt_findings_new(const struct tt_relays *relays, size_t n_files);
void tt_findings_free(struct tt_findings *f);
/* Add one flow (any verdict or candidate; others are ignored but for the per-file
 * strongest flow). Returns 0 or -ENOMEM, which sticks: tt_findings_write returns it. */
int tt_findings_add(struct tt_findings *f, const struct tt_flow_record *r);
/* The finished flows file the report is written beside (flows.msgpack.tmp): when a flow
 * is tor-snowflake, tor-meek or tor-webtunnel or a candidate for one, tt_findings_write
 * reads it once for the flows of those sessions' endpoints (report.json
 * "snowflake_sessions", "transport_sessions"). Not read otherwise; NULL or unset: the
 * sessions list their anchors (the flows with the verdict or candidate) only. path is
 * copied. */
int tt_findings_set_flows(struct tt_findings *f, const char *path);
/* The keys hosts_total, candidate_only_hosts, hosts, relays_total, relays, the sessions
 * (snowflake_sessions*, transport_sessions*, only when there is one) and activity into
 * the open object of j. Returns 0 or -ENOMEM. */
int tt_findings_write(struct tt_json *j, struct tt_findings *f);
/* Call on_host / on_relay (either may be NULL) for every host with a verdict and every
 * relay, in report order; after tt_findings_write. Returns 0 or -ENOMEM. */
struct tt_host_finding;
struct tt_relay_finding;
int tt_findings_each(const struct tt_findings *f,
    void (*on_host)(const struct tt_host_finding *h, void *ctx),
    void (*on_relay)(const struct tt_relay_finding *r, void *ctx), void *ctx);
/* A file's confidence 0-100 (its strongest flow's score, rounded down) and why, in
 * words, into reason (f may be NULL: no flow had evidence). */
void tt_findings_file_confidence(const struct tt_findings *f, size_t file_id, uint64_t n_flows,
    double min_score, unsigned *confidence, char *reason, size_t len);

struct tt_aggregator {
	/* set before start */
	const struct tt_config *cfg;
	struct tt_ring *in; /* one per worker; this thread is the only consumer */
	/* One per worker, or NULL: empty 2 MiB blocks (uint8_t *, tt_rec_block_map_populated)
	 * this thread makes ahead for the worker's records and inspection memory, so that the
	 * worker does not wait for the kernel to zero them; this thread is the only producer
	 * and refills them until the worker is done. Blocks left in them are unmapped by the
	 * caller after the threads are joined. */
	struct tt_ring *blocks;
	unsigned n_workers;
	struct tt_file_stats *files;
	size_t n_files;
	FILE *flows_out;              /* flows.msgpack (temporary name), header already written */
	struct tt_findings *findings; /* made by the caller; this thread adds to it */
	/* written by the aggregator, read by main after join */
	uint64_t n_flows, n_flows_tcp, n_flows_udp, n_blocks;
	/* records with a verdict other than none, for report.json (the first TT_REPORT_TOR_MAX),
	 * msgpack bytes back to back, in output order */
	uint8_t *tor_buf;
	size_t tor_len, tor_cap;
	uint64_t n_tor, n_tor_kept;
	/* candidates (positive evidence below --min-score), kept the same way */
	uint8_t *cand_buf;
	size_t cand_len, cand_cap;
	uint64_t n_cand, n_cand_kept;
	/* --shard (set before start: is_noting_flagged): where each record with a verdict or
	 * a candidate lies among the record bytes written after flows.msgpack's header, as
	 * (offset, length) pairs in output order, so that the merge reads only those. Written
	 * by the aggregator, read by main after join; flagged is malloc()ed (main frees it). */
	bool is_noting_flagged;
	uint64_t *flagged;
	size_t n_flagged, cap_flagged; /* pairs */
	uint64_t n_out_bytes;          /* record bytes written after the header */
	int rc;
};

void *tt_aggregator_main(void *arg);

/* Count one record, in output order, into a's report state: flows, TCP/UDP, the Tor flows
 * and candidates listed in report.json, the findings (when a->findings). The per-file
 * counts are not touched. r needs data, len, verdict, candidate and proto. Used by the
 * aggregator thread for every record it writes, and by the merge of shards (src/lib) for
 * every record of the parts, so that both build report.json alike. Returns 0 or -ENOMEM. */
int tt_aggregator_account(struct tt_aggregator *a, const struct tt_rec_ref *r);

/* Write the flows.msgpack header map. Returns 0 or -EIO. */
int tt_flows_write_header(FILE *f, char *const *paths, size_t n_paths);

/* ---- sorting and sorted runs (spill.c) -------------------------------------------------
 * Used by the aggregator thread only; a struct tt_spill belongs to the thread that made
 * it. Errors are logged (naming the run and the offset) and returned as -errno, or
 * -EBADMSG for a run that is not what was written. */

#define TT_SPILL_FANIN 64 /* runs read at once by a merge */

/* Sort v[0..n) in the output order (tt_rec_ref_cmp) without moving it: *order receives a
 * malloc()ed permutation (the caller frees it). Returns 0 or -ENOMEM. */
int tt_rec_ref_sort(const struct tt_rec_ref *v, size_t n, uint32_t **order);

struct tt_spill;
typedef int (*tt_spill_emit_fn)(void *ctx, const struct tt_rec_ref *r);

/* Runs kept in one unlinked file in dir (created with the first run). NULL, errno set. */
struct tt_spill *tt_spill_new(const char *dir);
void tt_spill_free(struct tt_spill *s);
size_t tt_spill_n_runs(const struct tt_spill *s);
int tt_spill_fd(const struct tt_spill *s); /* for tests: -1 before the first run */
/* Append one sorted run: v in the order given (or as it is when order is NULL). */
int tt_spill_run(struct tt_spill *s, const struct tt_rec_ref *v, const uint32_t *order, size_t n);
/* Merge every run of s (may be NULL) with the sorted records v (order as above) and pass
 * each record, in output order, to emit, whose r->data is valid only during the call; a
 * negative return from emit stops the merge and is returned. More than TT_SPILL_FANIN
 * runs are first merged in passes into longer runs. Returns 0 or a negative errno. */
int tt_spill_merge(struct tt_spill *s, const struct tt_rec_ref *v, const uint32_t *order, size_t n,
    tt_spill_emit_fn emit, void *ctx);

/* ---- the report ------------------------------------------------------------------------ */

struct tt_run_info {
	uint64_t started_unix_ns;
	uint64_t elapsed_ns;
	uint64_t peak_rss_anon_bytes;
	unsigned n_workers;
	bool is_complete;
	const uint64_t *worker_pkts; /* n_workers */
	const uint64_t *worker_max_flows;
	const struct tt_relays *relays; /* relay data used, or NULL */
	bool is_hashed;                 /* files[].sha256 were computed */
};

/* Write report.json for the run to f. Returns 0 or -EIO. */
int tt_report_write(FILE *f, const struct tt_config *cfg, const struct tt_file_stats *files,
    size_t n_files, const struct tt_aggregator *agg, const struct tt_run_info *run);

/* ---- history (history.c) ---------------------------------------------------------------
 * One SQLite database of past analyses. Any thread; each call opens and closes it. Errors
 * are logged (naming the database) and returned as -errno; a history error never makes an
 * analysis fail. */

struct tt_history_input {
	const char *path;
	uint64_t size;
	const char *sha256; /* hex, or NULL / "" when not computed */
	uint64_t packets, tor_flows;
	const char *error; /* NULL when read completely */
};

struct tt_history_host {
	char address[46];
	char roles[64]; /* "client,relay" */
	uint64_t tor_flows, tor_bytes;
	uint64_t first_ns, last_ns;
	double best_score;
};

struct tt_history_run {
	uint64_t started_ns, finished_ns;
	double elapsed_s;
	const char *version, *command;
	int status; /* enum tt_status */
	bool is_complete;
	const char *out_dir, *report, *flows;  /* absolute paths */
	const char *html, *pcap;               /* report.html, the carved pcap, or NULL */
	const char *relay_data, *relay_digest; /* NULL without relay data */
	double min_score;
	uint64_t files_failed, packets, bytes, flows_total, tor_flows, candidates, hosts_total;
	uint64_t verdicts[TT_VERDICT_COUNT];
	const struct tt_history_input *inputs;
	size_t n_inputs;
	const struct tt_history_host *hosts;
	size_t n_hosts;
};

/* Record one analysis (creating the database and its folder when missing); *id gets its
 * id. Returns 0 or -errno. */
int tt_history_record(const char *path, const struct tt_history_run *run, int64_t *id);
/* Print the analyses started at or after since_ns (0: all) that found host (NULL: any),
 * newest first, as a table or a JSON array. Returns 0 or -errno. */
int tt_history_list(const char *path, uint64_t since_ns, const char *host, bool is_json, FILE *out);
/* Print one analysis: summary, inputs, hosts, outputs. -ENOENT when there is none. */
int tt_history_show(const char *path, int64_t id, bool is_json, FILE *out);

/* The hosts of the findings in the report's order, the first max into out (may be NULL
 * when max is 0); returns how many hosts there are. */
#define TT_HISTORY_HOSTS_MAX 1000
size_t tt_findings_hosts(const struct tt_findings *f, struct tt_history_host *out, size_t max);

/* ---- report.html (html.c) ----------------------------------------------------------------
 * Rendered from a report.json (any thread; reads nothing else): summary, hosts, a timeline
 * per host and Tor bytes over time as inline SVG, relays, Tor flows and candidates with
 * their evidence, files, provenance. One self-contained file: nothing is fetched, every
 * string is HTML-escaped, tables are bounded (the first rows, and how many there are). The
 * output depends only on the report.json, so rendering it again gives the same bytes. */

/* Write the page for report_json_path to out. Returns 0, -EBADMSG (it cannot be read, is not
 * JSON or not a tortrace.report/1: logged, naming it), -ENOMEM, or -EIO (a write to out
 * failed). */
int tt_report_html(const char *report_json_path, FILE *out);
/* The same into a new file html_path (created or truncated), flushed, fsync()ed and closed;
 * the caller renames it into place. Returns 0 or as above, with the write's own -errno
 * (not logged). */
int tt_report_html_write(const char *report_json_path, const char *html_path);

/* ---- export -------------------------------------------------------------------------------- */

enum tt_export_format {
	TT_EXPORT_JSONL = 0,
	TT_EXPORT_CSV,
};

/* One flow as a JSON object (the shape of `export --jsonl`): file is the capture where it
 * started, last_file the one of its last packet (the same unless captures were chained). */
void tt_flow_json(
    struct tt_json *j, const struct tt_flow_record *r, const char *file, const char *last_file);

/* Print every flow of a flows.msgpack file to out. Returns 0, or -errno / -EBADMSG with a
 * message on stderr naming the file and the record. */
int tt_export(const char *path, int format, FILE *out);

/* The same over an open stream; name is used in messages. Records before a fault are
 * printed. Returns 0, or -errno / -EBADMSG with a message on stderr that says what is
 * wrong and at which byte offset. */
int tt_export_stream(FILE *in, const char *name, int format, FILE *out);

#endif /* TT_SRC_AGGREGATE_AGGREGATE_H */
