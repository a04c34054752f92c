#define _GNU_SOURCE /* pthread_setname_np */
/* tt_analyze(): sets up the pipeline (reader → workers → aggregator), waits for it while
 * drawing progress, then writes the report.
 *
 * Outputs are a pair: report.json describes the flows.msgpack beside it. Both are written
 * under temporary names (*.tmp), and every write, flush, fsync and close is checked. Only
 * when both are complete is the old report.json removed, flows.msgpack renamed into place,
 * then report.json last. If anything fails (a full disk), the temporary files are removed
 * and the previous outputs stay as they were. A crash between the renames can leave the
 * new flows.msgpack without a report.json, never beside a report.json that describes other
 * flows: when report.json exists, the pair is consistent. */
#include "tortrace/tortrace.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <pcap/pcap.h>

#include "../core/core.h"
#include "../reader/reader.h"
#include "../workers/workers.h"
#include "../aggregate/aggregate.h"
#include "../relays/relays.h"

#define OUT_RING_SLOTS 256u
#define MAX_WORKERS    256u

void tt_config_defaults(struct tt_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->ring_slots = 4096;
	/* Suricata's established-TCP and UDP timeouts: long-lived TCP connections with
	 * keepalives every few minutes stay one flow. */
	cfg->tcp_timeout_ns = 3600ull * 1000000000u;
	cfg->udp_timeout_ns = 300ull * 1000000000u;
}

static int mkdir_p(const char *dir)
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

static char *join(const char *dir, const char *name)
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

static void human(double bytes, char *buf, size_t len)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	int u = 0;

	while (bytes >= 1024 && u < 4) {
		bytes /= 1024;
		u++;
	}
	snprintf(buf, len, "%.1f %s", bytes, units[u]);
}

static void draw_progress(const struct tt_reader *r, uint64_t total_bytes, uint64_t t0)
{
	uint64_t done = atomic_load_explicit(&r->progress_bytes, memory_order_relaxed);
	uint32_t files = atomic_load_explicit(&r->progress_files, memory_order_relaxed);
	double secs = (double)(tt_now_ns() - t0) / 1e9;
	char a[32], b[32], rate[32];
	int pct = total_bytes ? (int)(done * 100 / total_bytes) : 100;

	human((double)done, a, sizeof(a));
	human((double)total_bytes, b, sizeof(b));
	human(secs > 0 ? (double)done / secs : 0, rate, sizeof(rate));
	fprintf(stderr, "\r\033[Kfiles %u/%zu  %s / %s  %3d%%  %s/s", files, r->n_files, a, b,
	    pct > 100 ? 100 : pct, rate);
	fflush(stderr);
}

/* Complete a file written through f (rc: how writing went so far) and close it: 0, or the
 * first error as -errno. */
static int finish_file(FILE *f, int rc)
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
	return finish_file(f, rc);
}

/* Put the complete temporary outputs in place: report.json last (see the top). */
static int commit_outputs(const char *flows_tmp, const char *flows_final, const char *report_tmp,
    const char *report_final)
{
	if (unlink(report_final) != 0 && errno != ENOENT)
		return -errno;
	if (rename(flows_tmp, flows_final) != 0 || rename(report_tmp, report_final) != 0)
		return -errno;
	return 0;
}

int tt_analyze(const struct tt_config *cfg)
{
	struct tt_reader rd = {.cfg = cfg};
	struct tt_aggregator agg = {.cfg = cfg};
	struct tt_worker *workers = NULL;
	struct tt_ring *in_rings = NULL, *out_rings = NULL;
	pthread_t *wt = NULL, rt, at;
	char **paths = NULL, *flows_tmp = NULL, *flows_final = NULL;
	char *report_tmp = NULL, *report_final = NULL;
	int flows_rc, report_rc = 0;
	size_t n_paths = 0;
	uint64_t total_bytes = 0, t0 = tt_now_ns(), peak = 0, *wpkts = NULL, *wflows = NULL;
	struct timespec wall;
	struct tt_run_info run = {0};
	unsigned nw = worker_count(cfg), n_in = 0, n_out = 0, n_started = 0;
	bool has_failures = false;
	int status = TT_STATUS_USAGE, rc;
	struct tt_relays *relays = NULL;
	struct tt_hasher hasher;
	pthread_t ht;
	bool is_hashing = false;

	clock_gettime(CLOCK_REALTIME, &wall);
	if (cfg->bpf && check_filter(cfg->bpf) < 0)
		return TT_STATUS_USAGE;
	if (cfg->relays_path) {
		rc = tt_relays_open(cfg->relays_path, cfg->relays_cache, &relays);
		if (rc < 0) {
			tt_log(TT_LOG_ERROR, "cannot load relay data %s: %s", cfg->relays_path,
			    strerror(-rc));
			return TT_STATUS_USAGE;
		}
		for (size_t i = 0; i < tt_relays_n_errors(relays) && i < 5; i++)
			tt_log(TT_LOG_WARN, "relay data: %s", tt_relays_error(relays, i));
	}
	if (tt_inputs_expand(cfg->paths, cfg->n_paths, &paths, &n_paths) < 0) {
		tt_log(TT_LOG_ERROR, "out of memory");
		goto out_paths;
	}
	if (n_paths == 0) {
		tt_log(TT_LOG_ERROR, "no input files");
		goto out_paths;
	}
	rc = mkdir_p(cfg->out_dir);
	if (rc < 0) {
		tt_log(TT_LOG_ERROR, "cannot create %s: %s", cfg->out_dir, strerror(-rc));
		goto out_paths;
	}
	rd.files = calloc(n_paths, sizeof(*rd.files));
	workers = calloc(nw, sizeof(*workers));
	wt = calloc(nw, sizeof(*wt));
	in_rings = calloc(nw, sizeof(*in_rings));
	out_rings = calloc(nw, sizeof(*out_rings));
	wpkts = calloc(nw, sizeof(*wpkts));
	wflows = calloc(nw, sizeof(*wflows));
	flows_tmp = join(cfg->out_dir, "flows.msgpack.tmp");
	flows_final = join(cfg->out_dir, "flows.msgpack");
	report_tmp = join(cfg->out_dir, "report.json.tmp");
	report_final = join(cfg->out_dir, "report.json");
	if (!rd.files || !workers || !wt || !in_rings || !out_rings || !wpkts || !wflows ||
	    !flows_tmp || !flows_final || !report_tmp || !report_final) {
		tt_log(TT_LOG_ERROR, "out of memory");
		goto out_alloc;
	}
	rd.n_files = n_paths;
	for (size_t i = 0; i < n_paths; i++) {
		struct stat st;

		rd.files[i].path = paths[i];
		rd.files[i].format = -1;
		if (stat(paths[i], &st) == 0)
			rd.files[i].size_bytes = (uint64_t)st.st_size;
		total_bytes += rd.files[i].size_bytes;
	}
	for (; n_in < nw; n_in++)
		if (tt_ring_init(&in_rings[n_in], cfg->ring_slots, sizeof(struct tt_pkt)) < 0)
			break;
	for (; n_out < nw; n_out++)
		if (tt_ring_init(&out_rings[n_out], OUT_RING_SLOTS, sizeof(struct tt_rec_msg)) < 0)
			break;
	if (n_in < nw || n_out < nw) {
		tt_log(TT_LOG_ERROR, "cannot allocate rings (--ring-slots must be a power of two)");
		goto out_rings;
	}
	agg.flows_out = fopen(flows_tmp, "wb");
	if (!agg.flows_out) {
		tt_log(TT_LOG_ERROR, "cannot write %s: %s", flows_tmp, strerror(errno));
		goto out_rings;
	}
	/* The header is small: a write error shows at the latest in finish_file(). */
	errno = 0;
	if (tt_flows_write_header(agg.flows_out, paths, n_paths) < 0)
		agg.rc = errno ? -errno : -EIO;

	rd.rings = in_rings;
	rd.n_workers = nw;
	agg.in = out_rings;
	agg.n_workers = nw;
	agg.files = rd.files;
	agg.n_files = n_paths;
	if (pthread_create(&at, NULL, tt_aggregator_main, &agg) != 0) {
		tt_log(TT_LOG_ERROR, "cannot start threads");
		goto out_flows;
	}
	pthread_setname_np(at, "tt-aggregator");
	for (; n_started < nw; n_started++) {
		workers[n_started] = (struct tt_worker){.cfg = cfg,
		    .relays = relays,
		    .id = n_started,
		    .in = &in_rings[n_started],
		    .out = &out_rings[n_started]};
		if (pthread_create(&wt[n_started], NULL, tt_worker_main, &workers[n_started]) != 0)
			break;
		pthread_setname_np(wt[n_started], "tt-worker");
	}
	if (n_started < nw) {
		/* Stop what runs: the workers that started end on STREAM_END; the aggregator
		 * waits for all nw, so tell it the missing ones are done. */
		struct tt_pkt end = {.kind = TT_PKT_STREAM_END};
		struct tt_rec_msg done = {.kind = TT_REC_WORKER_DONE};

		tt_log(TT_LOG_ERROR, "cannot start threads");
		for (unsigned w = 0; w < n_started; w++)
			tt_ring_push_all(&in_rings[w], &end, 1);
		for (unsigned w = n_started; w < nw; w++)
			tt_ring_push_all(&out_rings[w], &done, 1);
		for (unsigned w = 0; w < n_started; w++)
			pthread_join(wt[w], NULL);
		pthread_join(at, NULL);
		goto out_flows;
	}
	if (pthread_create(&rt, NULL, tt_reader_main, &rd) != 0) {
		struct tt_pkt end = {.kind = TT_PKT_STREAM_END};

		tt_log(TT_LOG_ERROR, "cannot start threads");
		for (unsigned w = 0; w < nw; w++)
			tt_ring_push_all(&in_rings[w], &end, 1);
		for (unsigned w = 0; w < nw; w++)
			pthread_join(wt[w], NULL);
		pthread_join(at, NULL);
		goto out_flows;
	}

	pthread_setname_np(rt, "tt-reader");
	hasher = (struct tt_hasher){.cfg = cfg, .files = rd.files, .n_files = n_paths};
	/* Hashing reads every byte again: by default only where it has a core of its own
	 * (measured on 2 CPUs: 1.2 s → 2.0 s for the 2 GiB bench capture). */
	is_hashing =
	    (cfg->hash_mode > 0 || (cfg->hash_mode == 0 && sysconf(_SC_NPROCESSORS_ONLN) >= 4)) &&
	    pthread_create(&ht, NULL, tt_hasher_main, &hasher) == 0;
	if (is_hashing)
		pthread_setname_np(ht, "tt-hasher");
	if (cfg->show_progress && !cfg->is_quiet)
		tt_log_set_progress(true);
	tt_log(
	    TT_LOG_DEBUG, "pipeline: %u workers started at %.3f s", nw, (double)tt_now_ns() / 1e9);

	/* Main: sample memory and draw progress every 100 ms until the reader is done;
	 * poll every 2 ms so that short runs are not kept waiting. */
	for (unsigned tick = 0;; tick++) {
		struct timespec ts = {.tv_nsec = 2 * 1000 * 1000};

		if (tick % 50 == 0) {
			uint64_t rss = tt_rss_anon_bytes();

			if (rss > peak)
				peak = rss;
			if (cfg->show_progress && !cfg->is_quiet)
				draw_progress(&rd, total_bytes, t0);
		}
		if (atomic_load(&rd.is_done))
			break;
		nanosleep(&ts, NULL);
	}
	pthread_join(rt, NULL);
	for (unsigned w = 0; w < nw; w++)
		pthread_join(wt[w], NULL);
	pthread_join(at, NULL);
	if (is_hashing)
		pthread_join(ht, NULL);
	{
		uint64_t rss = tt_rss_anon_bytes();

		if (rss > peak)
			peak = rss;
	}
	if (cfg->show_progress && !cfg->is_quiet) {
		draw_progress(&rd, total_bytes, t0);
		fputc('\n', stderr);
		tt_log_set_progress(false);
	}

	tt_log(TT_LOG_DEBUG, "pipeline: joined at %.3f s", (double)tt_now_ns() / 1e9);
	/* Outputs: flows first, then the report that describes them; see the top. */
	flows_rc = finish_file(agg.flows_out, agg.rc);
	agg.flows_out = NULL;
	for (unsigned w = 0; w < nw; w++) {
		wpkts[w] = workers[w].n_pkts;
		wflows[w] = workers[w].n_max_flows;
		if (workers[w].rc < 0)
			has_failures = true;
	}
	run.started_unix_ns = (uint64_t)wall.tv_sec * 1000000000u + (uint64_t)wall.tv_nsec;
	run.elapsed_ns = tt_now_ns() - t0;
	run.peak_rss_anon_bytes = peak;
	run.n_workers = nw;
	run.is_complete = !rd.is_interrupted && rd.rc == 0 && agg.rc == 0;
	run.worker_pkts = wpkts;
	run.worker_max_flows = wflows;
	run.relays = relays;
	run.is_hashed = is_hashing;
	if (flows_rc == 0)
		report_rc = write_report(report_tmp, cfg, &rd, &agg, &run);
	if (flows_rc == 0 && report_rc == 0 &&
	    (rc = commit_outputs(flows_tmp, flows_final, report_tmp, report_final)) < 0) {
		tt_log(TT_LOG_ERROR, "cannot rename the outputs into %s: %s", cfg->out_dir,
		    strerror(-rc));
		has_failures = true;
	} else if (flows_rc < 0 || report_rc < 0) {
		bool is_kept = access(flows_final, F_OK) == 0 || access(report_final, F_OK) == 0;

		unlink(flows_tmp);
		unlink(report_tmp);
		tt_log(TT_LOG_ERROR, "cannot write %s: %s; %s",
		    flows_rc < 0 ? flows_final : report_final,
		    strerror(-(flows_rc < 0 ? flows_rc : report_rc)),
		    is_kept ? "the previous outputs are kept" : "no outputs were written");
		has_failures = true;
	}
	for (size_t i = 0; i < n_paths; i++)
		if (rd.files[i].error || !rd.files[i].is_read)
			has_failures = true;
	status = has_failures || !run.is_complete ? TT_STATUS_PARTIAL : TT_STATUS_OK;
	if (!cfg->is_quiet)
		tt_log(TT_LOG_INFO, "%zu files, %" PRIu64 " flows, %.2f s", n_paths, agg.n_flows,
		    (double)run.elapsed_ns / 1e9);
out_flows:
	free(agg.tor_buf);
	if (agg.flows_out) {
		fclose(agg.flows_out);
		unlink(flows_tmp);
	}
out_rings:
	for (unsigned w = 0; w < n_in; w++)
		tt_ring_fini(&in_rings[w]);
	for (unsigned w = 0; w < n_out; w++)
		tt_ring_fini(&out_rings[w]);
out_alloc:
	if (rd.files)
		for (size_t i = 0; i < n_paths; i++)
			free(rd.files[i].error);
	free(rd.files);
	free(workers);
	free(wt);
	free(in_rings);
	free(out_rings);
	free(wpkts);
	free(wflows);
	free(flows_tmp);
	free(flows_final);
	free(report_tmp);
	free(report_final);
out_paths:
	tt_inputs_free(paths, n_paths);
	tt_relays_free(relays);
	return status;
}
