/* tortrace serve: the analyst's web page and its JSON API over the same engine as the
 * command (tt_analyze()). Internal to src/serve; src/cli calls tt_serve_run().
 *
 * Threads and what they own:
 *   main       parses nothing (the CLI did), starts everything, then waits in sigwait()
 *              for SIGINT/SIGTERM (stop) and SIGHUP (reload --relays); joins at the end
 *   HTTP       libmicrohttpd, one thread per connection: parse requests, stream uploads
 *              to DATA/uploads, produce jobs onto the queue, answer the API, stream SSE
 *   runner i   --jobs of them: consume jobs from the queue and run tt_analyze() on each
 * They meet at: the job queue (liburcu wfcqueue + a semaphore that counts its items), the
 * job table (server.lock; a job's progress fields are atomics written by its runner), and
 * the relay index (published with RCU: see relayset.c). */
#ifndef TT_SRC_SERVE_SERVE_H
#define TT_SRC_SERVE_SERVE_H

#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <urcu/wfcqueue.h>

/* Options of tortrace serve, filled by src/cli/serve_cmd.c; strings borrowed. */
struct tt_serve_opts {
	const char *listen;      /* "ADDR:PORT" (IPv4 or [IPv6]); port 0 picks a free one */
	const char *data_dir;    /* uploads, jobs, history.sqlite */
	const char *relays_path; /* relay data loaded at start and on SIGHUP, or NULL */
	const char *token_file;  /* the access token (first line), or NULL */
	const char *tls_cert;    /* PEM certificate and key: HTTPS; both or neither */
	const char *tls_key;
	unsigned n_jobs;           /* analyses at once (runner threads), >= 1 */
	unsigned queue_max;        /* jobs waiting at most; more are refused with 503 */
	unsigned analysis_workers; /* tt_config.n_workers of each analysis (>= 1) */
	uint64_t max_upload_bytes; /* a capture larger than this is refused with 413 */
};

/* Run the server until SIGINT or SIGTERM. Call from the main thread before any other
 * thread exists (it blocks the signals it waits for in every thread it starts). Logs to
 * stderr; prints "listening on URL" there once ready. Returns the exit status: 0 after a
 * clean stop, 1 a failure while running, 2 a usage error (bad address, missing token
 * beyond loopback, unreadable files, relay data that cannot be loaded). */
int tt_serve_run(const struct tt_serve_opts *o);

/* ---- embedded web assets (generated from src/serve/www/ by embed.py at build time) ---- */
struct tt_www_file {
	const char *path; /* "/", "/app.js", ... */
	const char *content_type;
	const unsigned char *data;
	size_t len;
};
extern const struct tt_www_file tt_www_files[];
extern const size_t tt_www_n_files;

/* ---- relay data published with RCU (relayset.c) ------------------------------------- */
struct tt_relays;

/* One loaded relay index. Immutable once published; freed when the last reference goes. */
struct tt_relayset {
	struct tt_relays *idx;
	char *path;          /* where it was loaded from */
	char digest[64];     /* XXH3-128 over its sources, as report.json names it */
	uint64_t generation; /* 1 for the first index loaded, +1 for each reload */
	uint64_t loaded_unix_ns;
	size_t n_relays, n_docs;
	atomic_uint refs; /* the published pointer holds one; each analysis using it one */
};

struct tt_relaypub {
	struct tt_relayset *cur;     /* RCU-protected: rcu_dereference() under rcu_read_lock() */
	pthread_mutex_t reload_lock; /* one reload at a time (HTTP threads, SIGHUP) */
	atomic_uint_fast64_t generation;
	atomic_uint_fast64_t n_reloads;
};

void tt_relaypub_init(struct tt_relaypub *p);
/* Load path into a new index and publish it; the previous one is released after a grace
 * period (running analyses keep their own reference and finish on it). Any thread; blocks
 * only the caller, for the load and one synchronize_rcu(). 0, or -errno with err set. */
int tt_relaypub_load(struct tt_relaypub *p, const char *path, char *err, size_t err_len);
/* A reference to the current index, or NULL when none is loaded. The calling thread must
 * be registered with liburcu (rcu_register_thread()). Release with tt_relayset_put(). */
struct tt_relayset *tt_relaypub_get(struct tt_relaypub *p);
void tt_relayset_put(struct tt_relayset *rs);
/* Unpublish and free the current index (after every reader is done). Main thread, at
 * the end. */
void tt_relaypub_fini(struct tt_relaypub *p);

/* ---- jobs (jobs.c) --------------------------------------------------------------------- */
enum tt_job_state {
	TT_JOB_QUEUED = 0,
	TT_JOB_RUNNING,
	TT_JOB_DONE,
	TT_JOB_FAILED,
	TT_JOB_CANCELLED,
};

const char *tt_job_state_name(int state);

/* One uploaded capture and its analysis. Created by an HTTP thread (all fields before it
 * is published in the table), then written only by the runner that dequeues it: state and
 * progress as atomics, the result fields under server.lock before state becomes final. */
struct tt_job {
	struct cds_wfcq_node node; /* the queue's link */
	uint64_t id;
	char name[128];  /* the sanitised upload name */
	char *dir;       /* DATA/jobs/ID: report.json, report.html, flows.msgpack, tor.pcap */
	char *input;     /* DATA/jobs/ID/input/NAME */
	char format[16]; /* sniffed: pcap, pcap-ns, pcapng, gzip, zstd */
	uint64_t size_bytes;
	uint64_t created_unix_ns;
	atomic_int state; /* enum tt_job_state */
	atomic_bool stop; /* cancel: tt_config.stop of its analysis */
	atomic_uint_fast64_t bytes_done, bytes_total, pkts_done, elapsed_ns, started_unix_ns,
	    finished_unix_ns;
	/* Results (server.lock): */
	char *error; /* what went wrong, or NULL */
	char relay_digest[64];
	char relay_path[256];
	bool has_report, has_pcap, is_complete;
	int status; /* tt_analyze()'s */
	uint64_t flows, tor_flows, candidates, hosts;
};

struct tt_server {
	const struct tt_serve_opts *opts;
	char *data_dir, *uploads_dir, *jobs_dir, *relays_dir, *history_path;
	char *token; /* NULL: no token required (loopback only) */
	bool is_tls;
	struct tt_relaypub relays;
	/* Job table: append-only array of pointers (lock); jobs live until the end. */
	pthread_mutex_t lock;
	pthread_cond_t changed; /* broadcast on any job's progress or state (SSE waits) */
	struct tt_job **jobs;
	size_t n_jobs, cap_jobs;
	atomic_uint_fast64_t next_id;
	atomic_uint_fast64_t next_upload;
	/* The queue: HTTP threads enqueue (wait-free), runners dequeue (blocking variant,
	 * which serialises consumers with the queue's own lock). items counts what the
	 * queue holds; n_queued is checked against queue_max before enqueueing. */
	struct cds_wfcq_head q_head;
	struct cds_wfcq_tail q_tail;
	sem_t items;
	atomic_uint n_queued;
	pthread_t *runners;
	unsigned n_runners;
	atomic_bool is_stopping;
};

int tt_jobs_init(struct tt_server *s);
/* Start the runner threads. 0 or -errno. */
int tt_jobs_start(struct tt_server *s);
/* Tell the runners to stop (running analyses are cancelled) and join them. */
void tt_jobs_stop(struct tt_server *s);
void tt_jobs_fini(struct tt_server *s);
/* Read the jobs a previous server left in DATA/jobs (job.json), so their results stay
 * listed; a job without job.json was cut by a stop and is marked failed. */
void tt_jobs_load(struct tt_server *s);
/* Publish job in the table and put it on the queue. -EAGAIN when the queue is full (the
 * job is not published; the caller frees it). HTTP threads. */
int tt_jobs_submit(struct tt_server *s, struct tt_job *job);
struct tt_job *tt_jobs_find(struct tt_server *s, uint64_t id);
void tt_job_free(struct tt_job *job);
/* The job as a JSON object (jansson json_t *), taken under server.lock. */
struct json_t;
struct json_t *tt_job_json(struct tt_server *s, const struct tt_job *job);

/* ---- helpers (util.c) ------------------------------------------------------------------ */
/* The upload's name reduced to a safe file name: the last path component, characters
 * outside [A-Za-z0-9._-] as '_', no leading dots, at most out_len - 1 bytes; "upload" when
 * nothing is left. */
void tt_serve_sanitize_name(const char *name, char *out, size_t out_len);
/* The capture format of a file's first bytes: "pcap", "pcap-ns", "pcapng", "gzip",
 * "zstd", or NULL for anything else (n < 4 included). */
const char *tt_serve_sniff(const unsigned char *head, size_t n);
/* Compare a presented token with the expected one in time that depends on neither. */
bool tt_serve_token_equal(const char *given, const char *expected);
char *tt_serve_join(const char *dir, const char *name);
int tt_serve_mkdir_p(const char *dir);
/* Remove dir and everything under it (best effort). */
void tt_serve_rm_rf(const char *dir);

#endif /* TT_SRC_SERVE_SERVE_H */
