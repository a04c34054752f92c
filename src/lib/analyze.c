#define _GNU_SOURCE /* pthread_setname_np */
/* tt_analyze(): sets up the pipeline (reader → workers → aggregator), runs it while
 * reporting progress to the caller's callback, drains it, writes the outputs and tears
 * everything down: setup(), run(), drain(), teardown() over one struct analysis. The
 * library draws nothing: the CLI's progress bar is in src/cli/progress.c.
 *
 * Outputs are a pair: report.json describes the flows.msgpack beside it, and report.html
 * (unless --no-html) is rendered from that report.json. All are written under temporary
 * names (*.tmp), and every write, flush, fsync and close is checked; report.html is
 * rendered from report.json.tmp, so it is made before anything is put in place. Only when
 * all are complete are the old report.json and report.html removed, flows.msgpack and
 * report.html renamed into place, then report.json last (with --no-html no page takes the
 * old one's place: it would describe other flows). If anything fails (a full disk), the temporary
 * files are removed and the previous outputs stay as they were. A crash between the
 * renames can leave new outputs without a report.json, never beside a report.json that
 * describes other flows: when report.json exists, the outputs are consistent. */
#include "tortrace/tortrace.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <pcap/pcap.h>

#include "core.h"
#include "reader.h"
#include "workers.h"
#include "aggregate.h"
#include "relays.h"
#include "lib.h"

/* Messages per worker-to-aggregator ring. A block is a 2 MiB mapping (core.h
 * TT_REC_BLOCK_MAP, resident in full as a huge page), so this bounds the records in
 * flight per worker to 16 MiB: with 256 slots and 256 KiB blocks, workers that evicted
 * millions of flows faster than the aggregator sorted them held ~300 MiB in their rings,
 * outside --sort-budget; with 32 slots of 2 MiB, a lagging aggregator (a loaded machine)
 * let -j 2 reach 282 MB on golden_determinism_rss's 3 M flows. */
#define OUT_RING_SLOTS 8u
#define MAX_WORKERS    256u

void tt_config_defaults(struct tt_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->ring_slots = 4096;
	/* Suricata's established-TCP and UDP timeouts: long-lived TCP connections with
	 * keepalives every few minutes stay one flow. */
	cfg->tcp_timeout_ns = 3600ull * 1000000000u;
	cfg->udp_timeout_ns = 300ull * 1000000000u;
	cfg->flow_memory_bytes = TT_FLOW_MEMORY_DEFAULT;
	cfg->min_score = TT_MIN_SCORE_DEFAULT;
}

int tt_lib_mkdir_p(const char *dir)
{
	char buf[4096];
	size_t len = strlen(dir);

	if (len == 0 || len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, dir, len + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0777) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0777) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

char *tt_lib_join(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = malloc(n);

	if (p)
		snprintf(p, n, "%s/%s", dir, name);
	return p;
}

static int check_filter(const char *expr)
{
	struct bpf_program prog;
	pcap_t *dead = pcap_open_dead(DLT_EN10MB, 262144);
	int rc = 0;

	if (!dead)
		return -ENOMEM;
	if (pcap_compile(dead, &prog, expr, 1, PCAP_NETMASK_UNKNOWN) < 0) {
		tt_log(TT_LOG_ERROR, "bad filter '%s': %s", expr, pcap_geterr(dead));
		rc = -EINVAL;
	} else {
		pcap_freecode(&prog);
	}
	pcap_close(dead);
	return rc;
}

static unsigned worker_count(const struct tt_config *cfg)
{
	/* By default one core is left to the reader: on 2 cores, -j 2 measured 1.5x slower
	 * than -j 1 (bench/RESULTS.md), because the reader then shares its core. */
	long n = cfg->n_workers ? (long)cfg->n_workers : sysconf(_SC_NPROCESSORS_ONLN) - 1;

	if (n < 1)
		n = 1;
	return n > (long)MAX_WORKERS ? MAX_WORKERS : (unsigned)n;
}

int tt_lib_finish_file(FILE *f, int rc)
{
	errno = 0;
	if (rc == 0 && ferror(f))
		rc = -EIO;
	if (fflush(f) != 0 && rc == 0)
		rc = errno ? -errno : -EIO;
	if (fsync(fileno(f)) != 0 && rc == 0)
		rc = -errno;
	if (fclose(f) != 0 && rc == 0)
		rc = errno ? -errno : -EIO;
	return rc;
}

/* Write report.json.tmp; 0 or -errno. */
static int write_report(const char *tmp, const struct tt_config *cfg, const struct tt_reader *rd,
    const struct tt_aggregator *agg, const struct tt_run_info *run)
{
	FILE *f = fopen(tmp, "w");
	int rc;

	if (!f)
		return -errno;
	errno = 0;
	rc = tt_report_write(f, cfg, rd->files, rd->n_files, agg, run);
	if (rc < 0 && errno)
		rc = -errno; /* the write's own error (ENOSPC, EFBIG), not just -EIO */
	return tt_lib_finish_file(f, rc);
}

int tt_lib_commit_outputs(const char *flows_tmp, const char *flows_final, const char *report_tmp,
    const char *report_final, const char *html_tmp, const char *html_final)
{
	int rc = 0;

	if (unlink(report_final) != 0 && errno != ENOENT)
		rc = -errno;
	else if (unlink(html_final) != 0 && errno != ENOENT)
		rc = -errno;
	else if (rename(flows_tmp, flows_final) != 0)
		rc = -errno;
	else if (html_tmp && rename(html_tmp, html_final) != 0)
		rc = -errno;
	else if (rename(report_tmp, report_final) != 0)
		rc = -errno;
	/* Whatever happened, no temporary file stays behind: after a failed rename, the
	 * folder holds no report.json, never an inconsistent set. */
	unlink(flows_tmp);
	unlink(report_tmp);
	if (html_tmp)
		unlink(html_tmp);
	return rc;
}

void tt_lib_sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

/* The state of one tt_analyze() call, owned by the calling thread. The threads it starts
 * get pointers into it (reader, workers, aggregator, hasher) and are joined before it is
 * freed. */
struct analysis {
	const struct tt_config *cfg;
	uint64_t t0, peak_rss;
	struct timespec wall;
	struct tt_relays *relays;
	bool is_relays_borrowed; /* relays is cfg->relays: not ours to free */
	char **paths;
	size_t n_paths;
	uint64_t total_bytes;
	unsigned nw, n_in, n_out; /* workers, and rings initialised */
	struct tt_reader rd;
	struct tt_aggregator agg;
	struct tt_worker *workers;
	struct tt_ring *in_rings, *out_rings;
	struct tt_ring *block_rings; /* aggregator → worker: empty record blocks */
	unsigned n_block_rings;
	pthread_t *wt, rt, at, ht;
	struct tt_hasher hasher;
	bool is_hashing;
	bool is_hash_wanted;    /* --sha256, or auto with a core for the hasher */
	bool *is_owned;         /* --shard: the files this shard read (n_paths), else NULL */
	uint64_t *mtimes;       /* each input's modification time (ns) when the run began */
	bool is_skipped;        /* --shard with --resume: OUT holds this shard's result already */
	bool is_skipped_failed; /* ... in which an input failed */
	bool is_guarded;        /* the SIGBUS guard of mapped captures is installed */
	uint64_t *wpkts, *wflows;
	char *flows_tmp, *flows_final, *report_tmp, *report_final, *html_tmp, *html_final;
};

/* Whether the inputs' SHA-256 is computed: --sha256, or by default only where the hasher
 * has a core of its own (measured on 2 CPUs: 1.2 s -> 2.0 s for the 2 GiB bench capture). */
bool tt_lib_is_hash_wanted(const struct tt_config *cfg)
{
	return cfg->hash_mode > 0 || (cfg->hash_mode == 0 && sysconf(_SC_NPROCESSORS_ONLN) >= 4);
}

/* --shard I/N: the range of files this shard owns (shard.c), and no partial.bin of an
 * earlier run left in OUT until this one is complete. 0, or -EINVAL with a message. */
static int setup_shard(struct analysis *an)
{
	const struct tt_config *cfg = an->cfg;
	uint64_t *sizes = calloc(an->n_paths, sizeof(*sizes));
	char *partial = tt_lib_join(cfg->out_dir, TT_PARTIAL_NAME);
	int rc = 0;

	if (!sizes || !partial || !(an->is_owned = calloc(an->n_paths, sizeof(*an->is_owned)))) {
		tt_log(TT_LOG_ERROR, "out of memory");
		rc = -ENOMEM;
		goto out;
	}
	if (cfg->shard_index >= cfg->shard_count) {
		tt_log(TT_LOG_ERROR, "--shard %u/%u: I must be from 0 to N - 1", cfg->shard_index,
		    cfg->shard_count);
		rc = -EINVAL;
		goto out;
	}
	if (cfg->write_pcap) {
		tt_log(TT_LOG_ERROR, "--shard cannot --write-pcap: carve after the merge");
		rc = -EINVAL;
		goto out;
	}
	for (size_t i = 0; i < an->n_paths; i++) {
		if (strcmp(an->paths[i], "-") == 0) {
			tt_log(TT_LOG_ERROR, "--shard cannot read standard input: every shard "
					     "must see the same inputs");
			rc = -EINVAL;
			goto out;
		}
		sizes[i] = an->rd.files[i].size_bytes;
	}
	if (cfg->is_resume) {
		char why[256];

		if (tt_partial_is_current(cfg->out_dir, cfg, an->paths, sizes, an->mtimes,
			an->n_paths, an->relays, tt_lib_is_hash_wanted(cfg), why, sizeof(why),
			&an->is_skipped_failed)) {
			tt_log(cfg->is_quiet ? TT_LOG_DEBUG : TT_LOG_INFO,
			    "shard %u/%u: %s holds its complete result for these inputs, "
			    "unchanged: kept (--resume)",
			    cfg->shard_index, cfg->shard_count, cfg->out_dir);
			an->is_skipped = true;
			goto out;
		}
		if (access(partial, F_OK) == 0)
			tt_log(cfg->is_quiet ? TT_LOG_DEBUG : TT_LOG_INFO,
			    "shard %u/%u: %s is analysed again: %s", cfg->shard_index,
			    cfg->shard_count, cfg->out_dir, why);
	}
	if (unlink(partial) != 0 && errno != ENOENT) {
		rc = -errno;
		tt_log(TT_LOG_ERROR, "cannot remove %s: %s", partial, strerror(-rc));
		goto out;
	}
	an->rd.is_shard = true;
	an->rd.is_owned = an->is_owned;
	an->agg.is_noting_flagged = true;
	tt_shard_range(
	    sizes, an->n_paths, cfg->shard_index, cfg->shard_count, &an->rd.own_lo, &an->rd.own_hi);
	tt_log(TT_LOG_DEBUG, "shard %u/%u: files [%zu, %zu) of %zu", cfg->shard_index,
	    cfg->shard_count, an->rd.own_lo, an->rd.own_hi, an->n_paths);
out:
	free(sizes);
	free(partial);
	return rc;
}

/* Check the options, load the relay data, expand the inputs, allocate the rings and
 * open flows.msgpack.tmp. Returns 0 or an enum tt_status (with a message). */
static int setup(struct analysis *an)
{
	const struct tt_config *cfg = an->cfg;
	unsigned nw;
	int rc;

	an->t0 = tt_now_ns();
	clock_gettime(CLOCK_REALTIME, &an->wall);
	an->rd.cfg = cfg;
	an->agg.cfg = cfg;
	an->nw = nw = worker_count(cfg);
	if (cfg->bpf && check_filter(cfg->bpf) < 0)
		return TT_STATUS_USAGE;
	if (cfg->relays) {
		/* Loaded by the caller, who keeps it alive; only read here. */
		an->relays = (struct tt_relays *)cfg->relays;
		an->is_relays_borrowed = true;
	} else if (cfg->relays_path) {
		rc = tt_relays_open(cfg->relays_path, cfg->relays_cache, &an->relays);
		if (rc < 0) {
			tt_log(TT_LOG_ERROR, "cannot load relay data %s: %s", cfg->relays_path,
			    strerror(-rc));
			return TT_STATUS_USAGE;
		}
		for (size_t i = 0; i < tt_relays_n_errors(an->relays) && i < 5; i++)
			tt_log(TT_LOG_WARN, "relay data: %s", tt_relays_error(an->relays, i));
		if (tt_relays_is_empty(an->relays)) { /* report.json says relay_data.used: false */
			char why[256];

			tt_relays_describe_empty(an->relays, why, sizeof(why));
			tt_log(TT_LOG_WARN,
			    "relay data %s holds no relay entries: %s; continuing without relay "
			    "data",
			    cfg->relays_path, why);
			tt_relays_free(an->relays);
			an->relays = NULL;
		}
	}
	if (tt_inputs_expand(cfg->paths, cfg->n_paths, &an->paths, &an->n_paths) < 0) {
		tt_log(TT_LOG_ERROR, "out of memory");
		return TT_STATUS_USAGE;
	}
	if (an->n_paths == 0) {
		tt_log(TT_LOG_ERROR, "no input files");
		return TT_STATUS_USAGE;
	}
	rc = tt_lib_mkdir_p(cfg->out_dir);
	if (rc < 0) {
		tt_log(TT_LOG_ERROR, "cannot create %s: %s", cfg->out_dir, strerror(-rc));
		return TT_STATUS_USAGE;
	}
	/* Before the analysis, not after it: a carve that cannot be done should not cost the
	 * time of an analysis first (after OUT is made: FILE may be in it). */
	if (cfg->write_pcap && tt_carve_check(cfg, an->paths, an->n_paths) < 0)
		return TT_STATUS_USAGE;
	an->rd.files = calloc(an->n_paths, sizeof(*an->rd.files));
	an->workers = calloc(nw, sizeof(*an->workers));
	an->wt = calloc(nw, sizeof(*an->wt));
	an->in_rings = calloc(nw, sizeof(*an->in_rings));
	an->out_rings = calloc(nw, sizeof(*an->out_rings));
	an->block_rings = calloc(nw, sizeof(*an->block_rings));
	an->wpkts = calloc(nw, sizeof(*an->wpkts));
	an->wflows = calloc(nw, sizeof(*an->wflows));
	an->mtimes = calloc(an->n_paths, sizeof(*an->mtimes));
	an->flows_tmp = tt_lib_join(cfg->out_dir, "flows.msgpack.tmp");
	an->flows_final = tt_lib_join(cfg->out_dir, "flows.msgpack");
	an->report_tmp = tt_lib_join(cfg->out_dir, "report.json.tmp");
	an->report_final = tt_lib_join(cfg->out_dir, "report.json");
	an->html_tmp = tt_lib_join(cfg->out_dir, "report.html.tmp");
	an->html_final = tt_lib_join(cfg->out_dir, "report.html");
	if (!an->rd.files || !an->workers || !an->wt || !an->in_rings || !an->out_rings ||
	    !an->block_rings || !an->wpkts || !an->wflows || !an->mtimes || !an->flows_tmp ||
	    !an->flows_final || !an->report_tmp || !an->report_final || !an->html_tmp ||
	    !an->html_final) {
		tt_log(TT_LOG_ERROR, "out of memory");
		return TT_STATUS_USAGE;
	}
	an->rd.n_files = an->n_paths;
	for (size_t i = 0; i < an->n_paths; i++) {
		struct stat st;

		an->rd.files[i].path = an->paths[i];
		an->rd.files[i].format = -1;
		if (stat(an->paths[i], &st) == 0) {
			an->rd.files[i].size_bytes = (uint64_t)st.st_size;
			an->mtimes[i] = (uint64_t)st.st_mtim.tv_sec * 1000000000u +
					(uint64_t)st.st_mtim.tv_nsec;
		}
		an->total_bytes += an->rd.files[i].size_bytes;
	}
	if (cfg->shard_count && setup_shard(an) < 0)
		return TT_STATUS_USAGE;
	if (an->is_skipped)
		return 0;
	for (; an->n_in < nw; an->n_in++)
		if (tt_ring_init(&an->in_rings[an->n_in], cfg->ring_slots, sizeof(struct tt_pkt)) <
		    0)
			break;
	for (; an->n_out < nw; an->n_out++)
		if (tt_ring_init(
			&an->out_rings[an->n_out], OUT_RING_SLOTS, sizeof(struct tt_rec_msg)) < 0)
			break;
	for (; an->n_block_rings < nw; an->n_block_rings++)
		if (tt_ring_init(&an->block_rings[an->n_block_rings], TT_REC_BLOCKS_AHEAD,
			sizeof(uint8_t *)) < 0)
			break;
	if (an->n_in < nw || an->n_out < nw || an->n_block_rings < nw) {
		tt_log(TT_LOG_ERROR, "cannot allocate rings (--ring-slots must be a power of two)");
		return TT_STATUS_USAGE;
	}
	an->agg.flows_out = fopen(an->flows_tmp, "wb");
	if (!an->agg.flows_out) {
		tt_log(TT_LOG_ERROR, "cannot write %s: %s", an->flows_tmp, strerror(errno));
		return TT_STATUS_USAGE;
	}
	/* The header is small: a write error shows at the latest in tt_lib_finish_file(). */
	errno = 0;
	if (tt_flows_write_header(an->agg.flows_out, an->paths, an->n_paths) < 0)
		an->agg.rc = errno ? -errno : -EIO;
	an->rd.rings = an->in_rings;
	an->rd.n_workers = nw;
	an->agg.in = an->out_rings;
	an->agg.blocks = an->block_rings;
	an->agg.n_workers = nw;
	an->agg.files = an->rd.files;
	an->agg.n_files = an->n_paths;
	if (!cfg->is_no_detect && !(an->agg.findings = tt_findings_new(an->relays, an->n_paths))) {
		tt_log(TT_LOG_ERROR, "out of memory");
		return TT_STATUS_USAGE;
	}
	return 0;
}

static void sample_rss(struct analysis *an)
{
	uint64_t rss = tt_rss_anon_bytes();

	if (rss > an->peak_rss)
		an->peak_rss = rss;
}

/* Tell the caller's progress callback, if any, how far the reader is. */
static void report_progress(struct analysis *an, bool is_final)
{
	struct tt_progress p;

	if (!an->cfg->progress)
		return;
	p = (struct tt_progress){
	    .bytes_done = atomic_load_explicit(&an->rd.progress_bytes, memory_order_relaxed),
	    .bytes_total = an->total_bytes,
	    .files_done = atomic_load_explicit(&an->rd.progress_files, memory_order_relaxed),
	    .files_total = an->n_paths,
	    .elapsed_ns = tt_now_ns() - an->t0,
	    .is_final = is_final,
	    .pkts_done = atomic_load_explicit(&an->rd.progress_pkts, memory_order_relaxed),
	};
	an->cfg->progress(&p, an->cfg->progress_ctx);
}

/* Start the threads, then sample memory and report progress about every 100 ms until the
 * reader is done (polling every 2 ms, so that short runs are not kept waiting). Returns 0,
 * or TT_STATUS_USAGE when the threads could not all start (those that did are joined). */
static int run(struct analysis *an)
{
	const struct tt_config *cfg = an->cfg;
	unsigned nw = an->nw, n_started = 0;

	if (pthread_create(&an->at, NULL, tt_aggregator_main, &an->agg) != 0) {
		tt_log(TT_LOG_ERROR, "cannot start threads");
		return TT_STATUS_USAGE;
	}
	pthread_setname_np(an->at, "tt-aggregator");
	for (; n_started < nw; n_started++) {
		an->workers[n_started] = (struct tt_worker){.cfg = cfg,
		    .relays = an->relays,
		    .id = n_started,
		    .n_workers = nw,
		    .in = &an->in_rings[n_started],
		    .out = &an->out_rings[n_started],
		    .blocks = &an->block_rings[n_started]};
		if (pthread_create(
			&an->wt[n_started], NULL, tt_worker_main, &an->workers[n_started]) != 0)
			break;
		pthread_setname_np(an->wt[n_started], "tt-worker");
	}
	/* Captures are mapped: a file cut while being read must not kill the run. */
	an->is_guarded = n_started == nw && tt_mapguard_install() == 0;
	if (n_started < nw || pthread_create(&an->rt, NULL, tt_reader_main, &an->rd) != 0) {
		/* Stop what runs: the workers that started end on STREAM_END; the aggregator
		 * waits for all nw, so tell it the missing ones are done. */
		struct tt_pkt end = {.kind = TT_PKT_STREAM_END};
		struct tt_rec_msg done = {.kind = TT_REC_WORKER_DONE};

		tt_log(TT_LOG_ERROR, "cannot start threads");
		for (unsigned w = 0; w < n_started; w++)
			tt_ring_push_all(&an->in_rings[w], &end, 1);
		for (unsigned w = n_started; w < nw; w++)
			tt_ring_push_all(&an->out_rings[w], &done, 1);
		for (unsigned w = 0; w < n_started; w++)
			pthread_join(an->wt[w], NULL);
		pthread_join(an->at, NULL);
		if (an->is_guarded)
			tt_mapguard_uninstall();
		an->is_guarded = false;
		return TT_STATUS_USAGE;
	}
	pthread_setname_np(an->rt, "tt-reader");
	an->hasher = (struct tt_hasher){.cfg = cfg, .files = an->rd.files, .n_files = an->n_paths};
	an->is_hash_wanted = tt_lib_is_hash_wanted(cfg);
	/* A shard learns which files are its own as it reads them: it hashes them after. */
	an->is_hashing = an->is_hash_wanted && !cfg->shard_count &&
			 pthread_create(&an->ht, NULL, tt_hasher_main, &an->hasher) == 0;
	if (an->is_hashing)
		pthread_setname_np(an->ht, "tt-hasher");
	tt_log(
	    TT_LOG_DEBUG, "pipeline: %u workers started at %.3f s", nw, (double)tt_now_ns() / 1e9);
	for (unsigned tick = 0;; tick++) {
		struct timespec ts = {.tv_nsec = 2 * 1000 * 1000};

		if (tick % 50 == 0) {
			sample_rss(an);
			report_progress(an, false);
		}
		if (atomic_load(&an->rd.is_done))
			break;
		nanosleep(&ts, NULL);
	}
	return 0;
}

/* Add the analysis to the history database (tt_config.history_path). A failure is logged
 * and never changes the analysis's status: its outputs are complete without it. */
void tt_lib_record_history(const struct tt_config *cfg, const struct tt_relays *relays,
    const struct tt_file_stats *files, size_t n_files, const struct tt_aggregator *agg,
    const struct tt_run_info *run, int status, bool is_carved)
{
	struct tt_history_run h = {0};
	struct tt_history_input *in = calloc(n_files + 1, sizeof(*in));
	struct tt_history_host *hosts = calloc(TT_HISTORY_HOSTS_MAX, sizeof(*hosts));
	char **abs_paths = calloc(n_files + 1, sizeof(*abs_paths));
	char *out_abs = realpath(cfg->out_dir, NULL);
	char *report = out_abs ? tt_lib_join(out_abs, "report.json") : NULL;
	char *flows = out_abs ? tt_lib_join(out_abs, "flows.msgpack") : NULL;
	char *relays_abs = cfg->relays_path ? realpath(cfg->relays_path, NULL) : NULL;
	char *html = out_abs && !cfg->is_no_html ? tt_lib_join(out_abs, "report.html") : NULL;
	char *pcap = cfg->write_pcap && is_carved ? realpath(cfg->write_pcap, NULL) : NULL;
	int64_t id;

	if (!in || !hosts || !abs_paths || !report || !flows) {
		tt_log(TT_LOG_ERROR, "history %s: out of memory; this analysis is not recorded",
		    cfg->history_path);
		goto out;
	}
	h.started_ns = run->started_unix_ns;
	h.finished_ns = run->started_unix_ns + run->elapsed_ns;
	h.elapsed_s = (double)run->elapsed_ns / 1e9;
	h.version = TT_VERSION;
	h.command = cfg->command_line;
	h.status = status;
	h.is_complete = run->is_complete;
	h.out_dir = out_abs;
	h.report = report;
	h.flows = flows;
	h.html = html;
	h.pcap = pcap;
	h.relay_data = relays ? (relays_abs ? relays_abs : cfg->relays_path) : NULL;
	h.relay_digest = relays ? tt_relays_digest(relays) : NULL;
	h.min_score = cfg->min_score > 0 ? cfg->min_score : TT_MIN_SCORE_DEFAULT;
	h.flows_total = agg->n_flows;
	h.tor_flows = agg->n_tor;
	h.candidates = agg->n_cand;
	for (size_t i = 0; i < n_files; i++) {
		const struct tt_file_stats *f = &files[i];

		abs_paths[i] = realpath(f->path, NULL); /* NULL for "-": kept as given */
		in[i] = (struct tt_history_input){.path = abs_paths[i] ? abs_paths[i] : f->path,
		    .size = f->size_bytes,
		    .sha256 = f->sha256,
		    .packets = f->n_pkts,
		    .error = f->error};
		for (int v = 1; v < TT_VERDICT_COUNT; v++) {
			in[i].tor_flows += f->n_verdict[v];
			h.verdicts[v] += f->n_verdict[v];
		}
		h.files_failed += f->error != NULL;
		h.packets += f->n_pkts;
		h.bytes += f->n_bytes;
	}
	h.inputs = in;
	h.n_inputs = n_files;
	h.hosts_total = tt_findings_hosts(agg->findings, hosts, TT_HISTORY_HOSTS_MAX);
	h.n_hosts = h.hosts_total < TT_HISTORY_HOSTS_MAX ? h.hosts_total : TT_HISTORY_HOSTS_MAX;
	h.hosts = hosts;
	if (tt_history_record(cfg->history_path, &h, &id) < 0)
		tt_log(TT_LOG_ERROR,
		    "history %s: this analysis is not recorded (its outputs are complete in %s)",
		    cfg->history_path, cfg->out_dir);
	else if (!cfg->is_quiet)
		tt_log(
		    TT_LOG_INFO, "recorded as analysis %" PRId64 " in %s", id, cfg->history_path);
out:
	for (size_t i = 0; abs_paths && i < n_files; i++)
		free(abs_paths[i]);
	free(abs_paths);
	free(in);
	free(hosts);
	free(out_abs);
	free(report);
	free(flows);
	free(relays_abs);
	free(html);
	free(pcap);
}

/* Join the pipeline as it drains, then write report.json and put both outputs in place
 * (see the top). Returns an enum tt_status. */
static int drain(struct analysis *an)
{
	const struct tt_config *cfg = an->cfg;
	struct tt_run_info run = {0};
	bool has_failures = false, is_committed = false, is_carved = false;
	bool is_partial_failed = false;
	int flows_rc, report_rc = 0, html_rc = 0, rc, status;
	const char *html_tmp = cfg->is_no_html ? NULL : an->html_tmp;

	pthread_join(an->rt, NULL);
	for (unsigned w = 0; w < an->nw; w++)
		pthread_join(an->wt[w], NULL);
	pthread_join(an->at, NULL);
	if (an->is_hashing)
		pthread_join(an->ht, NULL);
	if (an->is_guarded)
		tt_mapguard_uninstall();
	an->is_guarded = false;
	if (cfg->shard_count && an->is_hash_wanted) {
		for (size_t i = 0; i < an->n_paths; i++) {
			struct tt_hasher h = {.cfg = cfg, .files = &an->rd.files[i], .n_files = 1};

			if (an->is_owned[i])
				tt_hasher_main(&h);
		}
		an->is_hashing = true;
	}
	tt_files_check_changed(an->rd.files, an->n_paths);
	sample_rss(an);
	report_progress(an, true);
	tt_log(TT_LOG_DEBUG, "pipeline: joined at %.3f s", (double)tt_now_ns() / 1e9);

	flows_rc = tt_lib_finish_file(an->agg.flows_out, an->agg.rc);
	an->agg.flows_out = NULL;
	for (unsigned w = 0; w < an->nw; w++) {
		an->wpkts[w] = an->workers[w].n_pkts;
		an->wflows[w] = an->workers[w].n_max_flows;
		if (an->workers[w].rc < 0)
			has_failures = true;
	}
	run.started_unix_ns = (uint64_t)an->wall.tv_sec * 1000000000u + (uint64_t)an->wall.tv_nsec;
	run.elapsed_ns = tt_now_ns() - an->t0;
	run.peak_rss_anon_bytes = an->peak_rss;
	run.n_workers = an->nw;
	run.is_complete = !an->rd.is_interrupted && an->rd.rc == 0 && an->agg.rc == 0;
	run.worker_pkts = an->wpkts;
	run.worker_max_flows = an->wflows;
	run.relays = an->relays;
	run.is_hashed = an->is_hashing;
	if (flows_rc == 0) {
		uint64_t t = tt_now_ns();

		/* Snowflake sessions are assembled from the finished flows file. */
		if (an->agg.findings && tt_findings_set_flows(an->agg.findings, an->flows_tmp) < 0)
			flows_rc = -ENOMEM;
		report_rc = write_report(an->report_tmp, cfg, &an->rd, &an->agg, &run);
		tt_log(TT_LOG_DEBUG, "report.json (findings included): %.3f s",
		    (double)(tt_now_ns() - t) / 1e9);
	}
	/* From the report.json just written, before anything is put in place. */
	if (flows_rc == 0 && report_rc == 0 && html_tmp) {
		uint64_t t = tt_now_ns();

		html_rc = tt_report_html_write(an->report_tmp, html_tmp);
		tt_log(TT_LOG_DEBUG, "report.html: %.3f s", (double)(tt_now_ns() - t) / 1e9);
	}
	if (flows_rc == 0 && report_rc == 0 && html_rc == 0 &&
	    (rc = tt_lib_commit_outputs(an->flows_tmp, an->flows_final, an->report_tmp,
		 an->report_final, html_tmp, an->html_final)) < 0) {
		tt_log(TT_LOG_ERROR, "cannot rename the outputs into %s: %s", cfg->out_dir,
		    strerror(-rc));
		has_failures = true;
	} else if (flows_rc == 0 && report_rc == 0 && html_rc == 0) {
		tt_lib_sync_dir(cfg->out_dir);
		is_committed = true;
	} else {
		bool is_kept = access(an->flows_final, F_OK) == 0 ||
			       access(an->report_final, F_OK) == 0 ||
			       access(an->html_final, F_OK) == 0;
		const char *what = flows_rc < 0    ? an->flows_final
				   : report_rc < 0 ? an->report_final
						   : an->html_final;

		unlink(an->flows_tmp);
		unlink(an->report_tmp);
		unlink(an->html_tmp);
		tt_log(TT_LOG_ERROR, "cannot write %s: %s; %s", what,
		    strerror(-(flows_rc < 0    ? flows_rc
			       : report_rc < 0 ? report_rc
					       : html_rc)),
		    is_kept ? "the previous outputs are kept" : "no outputs were written");
		has_failures = true;
	}
	for (size_t i = 0; i < an->n_paths; i++)
		if ((!an->is_owned || an->is_owned[i]) &&
		    (an->rd.files[i].error || !an->rd.files[i].is_read))
			has_failures = true;
	/* A shard's partial result, last: a folder with partial.bin is a complete part. */
	if (cfg->shard_count && is_committed &&
	    tt_partial_write(cfg, an->rd.files, an->mtimes, an->n_paths, an->is_owned, an->relays,
		an->is_hashing, run.is_complete, &an->agg) < 0)
		has_failures = is_partial_failed = true;
	/* The carve reads the flows just committed, and the inputs again. An interrupted
	 * run is not carved: the signal asked to stop. */
	if (cfg->write_pcap && is_committed && !an->rd.is_interrupted) {
		if (tt_carve(cfg, an->flows_final, an->rd.files, an->n_paths) < 0)
			has_failures = true;
		else
			is_carved = true;
	} else if (cfg->write_pcap && is_committed && an->rd.is_interrupted)
		tt_log(
		    TT_LOG_ERROR, "the run was interrupted: %s was not written", cfg->write_pcap);
	status = has_failures || !run.is_complete ? TT_STATUS_PARTIAL : TT_STATUS_OK;
	if (is_partial_failed || (cfg->shard_count && !is_committed))
		status = TT_STATUS_USAGE; /* no part to merge: the shard failed */
	if (cfg->history_path && is_committed && !cfg->shard_count)
		tt_lib_record_history(
		    cfg, an->relays, an->rd.files, an->n_paths, &an->agg, &run, status, is_carved);
	if (is_committed && an->agg.findings && (cfg->on_host || cfg->on_relay) &&
	    tt_findings_each(an->agg.findings, cfg->on_host, cfg->on_relay, cfg->findings_ctx) < 0)
		tt_log(TT_LOG_ERROR, "out of memory: the findings were not all passed on");
	if (!cfg->is_quiet)
		tt_log(TT_LOG_INFO, "%zu files, %" PRIu64 " flows, %.2f s", an->n_paths,
		    an->agg.n_flows, (double)run.elapsed_ns / 1e9);
	return status;
}

/* Free what setup() made, whatever point it reached; threads are joined by now. */
static void teardown(struct analysis *an)
{
	free(an->agg.tor_buf);
	free(an->agg.cand_buf);
	free(an->agg.flagged);
	tt_findings_free(an->agg.findings);
	if (an->agg.flows_out) {
		fclose(an->agg.flows_out);
		unlink(an->flows_tmp);
	}
	for (unsigned w = 0; w < an->n_in; w++)
		tt_ring_fini(&an->in_rings[w]);
	for (unsigned w = 0; w < an->n_out; w++)
		tt_ring_fini(&an->out_rings[w]);
	/* The threads are joined: the blocks made ahead and not taken are unmapped here. */
	for (unsigned w = 0; w < an->n_block_rings; w++) {
		uint8_t *blk;

		while (tt_ring_pop(&an->block_rings[w], &blk, 1) == 1)
			tt_rec_buf_free(blk, true);
		tt_ring_fini(&an->block_rings[w]);
	}
	if (an->rd.files)
		for (size_t i = 0; i < an->n_paths; i++)
			free(an->rd.files[i].error);
	free(an->rd.files);
	free(an->workers);
	free(an->wt);
	free(an->in_rings);
	free(an->out_rings);
	free(an->block_rings);
	free(an->wpkts);
	free(an->wflows);
	free(an->is_owned);
	free(an->mtimes);
	free(an->flows_tmp);
	free(an->flows_final);
	free(an->report_tmp);
	free(an->report_final);
	free(an->html_tmp);
	free(an->html_final);
	tt_inputs_free(an->paths, an->n_paths);
	if (!an->is_relays_borrowed)
		tt_relays_free(an->relays);
}

int tt_analyze(const struct tt_config *cfg)
{
	struct analysis *an = calloc(1, sizeof(*an));
	int status;

	if (!an) {
		tt_log(TT_LOG_ERROR, "out of memory");
		return TT_STATUS_USAGE;
	}
	if (cfg->is_resume && !cfg->shard_count) {
		free(an);
		return tt_lib_resume(cfg);
	}
	an->cfg = cfg;
	status = setup(an);
	if (status == 0 && !an->is_skipped)
		status = run(an);
	if (an->is_skipped) { /* the status the run that made the part had */
		status = an->is_skipped_failed ? TT_STATUS_PARTIAL : TT_STATUS_OK;
		teardown(an);
		free(an);
		return status;
	}
	if (status == 0)
		status = drain(an);
	teardown(an);
	free(an);
	return status;
}
