/* Jobs: each upload is one analysis. HTTP threads produce jobs onto a liburcu wait-free
 * concurrent queue (wfcqueue: enqueue is wait-free for any number of producers), the
 * --jobs runner threads consume them (the blocking dequeue serialises consumers with the
 * queue's internal lock), and a semaphore counts the items so that an idle runner sleeps
 * instead of polling. The queue is bounded by n_queued, checked before enqueueing: a full
 * queue answers 503 with Retry-After instead of growing without limit.
 *
 * A runner runs tt_analyze() (the command's engine) with the job's folder as OUT, the
 * server's history database, a carve to OUT/tor.pcap, the relay index current when it
 * starts (a reference from relayset.c), a progress callback that stores the reader's
 * position in the job's atomics, and the job's stop flag (cancel). */
#include "serve.h"

#include <errno.h>
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <urcu.h>

#include "tortrace/tortrace.h"
#include "core.h"

static const char *const state_names[] = {"queued", "running", "done", "failed", "cancelled"};

const char *tt_job_state_name(int state)
{
	return state >= 0 && state <= TT_JOB_CANCELLED ? state_names[state] : "unknown";
}

static uint64_t unix_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int tt_jobs_init(struct tt_server *s)
{
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->changed, NULL);
	cds_wfcq_init(&s->q_head, &s->q_tail);
	atomic_init(&s->n_queued, 0);
	atomic_init(&s->next_id, 1);
	atomic_init(&s->is_stopping, false);
	return sem_init(&s->items, 0, 0) < 0 ? -errno : 0;
}

void tt_job_free(struct tt_job *job)
{
	if (!job)
		return;
	free(job->dir);
	free(job->input);
	free(job->error);
	free(job);
}

/* Add job to the table (server.lock held). */
static int table_add(struct tt_server *s, struct tt_job *job)
{
	if (s->n_jobs == s->cap_jobs) {
		size_t cap = s->cap_jobs ? s->cap_jobs * 2 : 64;
		struct tt_job **v = realloc(s->jobs, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		s->jobs = v;
		s->cap_jobs = cap;
	}
	s->jobs[s->n_jobs++] = job;
	return 0;
}

int tt_jobs_submit(struct tt_server *s, struct tt_job *job)
{
	unsigned n = atomic_fetch_add(&s->n_queued, 1);
	int rc;

	if (n >= s->opts->queue_max || atomic_load(&s->is_stopping)) {
		atomic_fetch_sub(&s->n_queued, 1);
		return -EAGAIN;
	}
	pthread_mutex_lock(&s->lock);
	rc = table_add(s, job);
	pthread_cond_broadcast(&s->changed);
	pthread_mutex_unlock(&s->lock);
	if (rc < 0) {
		atomic_fetch_sub(&s->n_queued, 1);
		return rc;
	}
	cds_wfcq_node_init(&job->node);
	cds_wfcq_enqueue(&s->q_head, &s->q_tail, &job->node); /* wait-free */
	sem_post(&s->items);
	return 0;
}

struct tt_job *tt_jobs_find(struct tt_server *s, uint64_t id)
{
	struct tt_job *job = NULL;

	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->n_jobs; i++)
		if (s->jobs[i]->id == id) {
			job = s->jobs[i];
			break;
		}
	pthread_mutex_unlock(&s->lock);
	return job; /* jobs are never freed while the server runs */
}

json_t *tt_job_json(struct tt_server *s, const struct tt_job *job)
{
	json_t *o = json_object();
	int state = atomic_load(&job->state);
	uint64_t done = atomic_load(&job->bytes_done), total = atomic_load(&job->bytes_total);
	uint64_t elapsed = atomic_load(&job->elapsed_ns);
	double secs = (double)elapsed / 1e9, rate = secs > 0 ? (double)done / secs : 0;

	json_object_set_new(o, "id", json_integer((json_int_t)job->id));
	json_object_set_new(o, "name", json_string(job->name));
	json_object_set_new(o, "format", json_string(job->format));
	json_object_set_new(o, "size", json_integer((json_int_t)job->size_bytes));
	json_object_set_new(o, "state", json_string(tt_job_state_name(state)));
	json_object_set_new(o, "created_ns", json_integer((json_int_t)job->created_unix_ns));
	json_object_set_new(
	    o, "started_ns", json_integer((json_int_t)atomic_load(&job->started_unix_ns)));
	json_object_set_new(
	    o, "finished_ns", json_integer((json_int_t)atomic_load(&job->finished_unix_ns)));
	json_object_set_new(o, "bytes_done", json_integer((json_int_t)done));
	json_object_set_new(o, "bytes_total", json_integer((json_int_t)total));
	json_object_set_new(
	    o, "packets_done", json_integer((json_int_t)atomic_load(&job->pkts_done)));
	json_object_set_new(o, "elapsed_s", json_real(secs));
	json_object_set_new(o, "throughput_bps", json_real(rate));
	json_object_set_new(o, "eta_s",
	    state == TT_JOB_RUNNING && rate > 0 && total >= done
		? json_real((double)(total - done) / rate)
		: json_null());
	pthread_mutex_lock(&s->lock);
	json_object_set_new(o, "error", job->error ? json_string(job->error) : json_null());
	json_object_set_new(o, "complete", json_boolean(job->is_complete));
	json_object_set_new(o, "status", json_integer(job->status));
	json_object_set_new(o, "has_report", json_boolean(job->has_report));
	json_object_set_new(o, "has_pcap", json_boolean(job->has_pcap));
	json_object_set_new(
	    o, "relay_digest", job->relay_digest[0] ? json_string(job->relay_digest) : json_null());
	json_object_set_new(
	    o, "relay_path", job->relay_path[0] ? json_string(job->relay_path) : json_null());
	json_object_set_new(o, "flows", json_integer((json_int_t)job->flows));
	json_object_set_new(o, "tor_flows", json_integer((json_int_t)job->tor_flows));
	json_object_set_new(o, "candidates", json_integer((json_int_t)job->candidates));
	json_object_set_new(o, "hosts", json_integer((json_int_t)job->hosts));
	pthread_mutex_unlock(&s->lock);
	return o;
}

struct progress_ctx {
	struct tt_server *s;
	struct tt_job *job;
};

/* tt_analyze()'s progress callback, on the runner's thread: store and wake SSE. */
static void on_progress(const struct tt_progress *p, void *arg)
{
	struct progress_ctx *c = arg;

	atomic_store(&c->job->bytes_done, p->bytes_done);
	atomic_store(&c->job->bytes_total, p->bytes_total);
	atomic_store(&c->job->pkts_done, p->pkts_done);
	atomic_store(&c->job->elapsed_ns, p->elapsed_ns);
	pthread_mutex_lock(&c->s->lock);
	pthread_cond_broadcast(&c->s->changed);
	pthread_mutex_unlock(&c->s->lock);
}

static uint64_t json_u64(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_integer(v) ? (uint64_t)json_integer_value(v) : 0;
}

/* Write DATA/jobs/ID/job.json (under a temporary name, renamed) so a later server lists
 * the job again. server.lock held by the caller? No: called by the runner after the job
 * is final, when nothing else writes it. */
static void save_job(struct tt_server *s, struct tt_job *job)
{
	json_t *o = tt_job_json(s, job);
	char *tmp = tt_serve_join(job->dir, "job.json.tmp");
	char *fin = tt_serve_join(job->dir, "job.json");

	if (o && tmp && fin && json_dump_file(o, tmp, JSON_COMPACT) == 0)
		rename(tmp, fin);
	json_decref(o);
	free(tmp);
	free(fin);
}

/* Read what the analysis wrote into the job's result fields (server.lock held). */
static void read_results(struct tt_job *job, int status)
{
	char *path = tt_serve_join(job->dir, "report.json");
	char *pcap = tt_serve_join(job->dir, "tor.pcap");
	json_error_t jerr;
	json_t *rep = path ? json_load_file(path, 0, &jerr) : NULL;
	json_t *files, *f, *rd, *totals;
	size_t i;

	job->status = status;
	job->has_report = rep != NULL;
	job->has_pcap = pcap && access(pcap, R_OK) == 0;
	if (rep) {
		job->is_complete = json_is_true(json_object_get(rep, "complete"));
		totals = json_object_get(rep, "totals");
		job->flows = json_u64(totals, "flows");
		job->candidates = json_u64(json_object_get(totals, "candidates"), "total");
		job->tor_flows = json_u64(rep, "tor_flows_total");
		job->hosts = json_u64(rep, "hosts_total");
		rd = json_object_get(json_object_get(rep, "options"), "relay_data");
		if (json_is_string(json_object_get(rd, "digest_xxh3_128")))
			snprintf(job->relay_digest, sizeof(job->relay_digest), "%s",
			    json_string_value(json_object_get(rd, "digest_xxh3_128")));
		files = json_object_get(rep, "files");
		json_array_foreach(files, i, f)
		{
			json_t *e = json_object_get(f, "error");

			if (json_is_string(e) && !job->error)
				job->error = strdup(json_string_value(e));
		}
		json_decref(rep);
	} else if (!job->error) {
		char msg[300];

		snprintf(msg, sizeof(msg),
		    "the analysis could not run (status %d): see the server's log", status);
		job->error = strdup(msg);
	}
	free(path);
	free(pcap);
}

static void run_job(struct tt_server *s, struct tt_job *job)
{
	struct tt_config cfg;
	struct progress_ctx pc = {s, job};
	struct tt_relayset *rs = tt_relaypub_get(&s->relays);
	const char *paths[1] = {job->input};
	char *pcap = tt_serve_join(job->dir, "tor.pcap");
	char cmd[300];
	int status, state;

	tt_config_defaults(&cfg);
	snprintf(
	    cmd, sizeof(cmd), "tortrace serve: upload %s (job %" PRIu64 ")", job->name, job->id);
	cfg.paths = paths;
	cfg.n_paths = 1;
	cfg.out_dir = job->dir;
	cfg.command_line = cmd;
	cfg.n_workers = s->opts->analysis_workers;
	cfg.is_quiet = true;
	cfg.hash_mode = -1;
	cfg.write_pcap = pcap;
	cfg.history_path = s->history_path;
	cfg.progress = on_progress;
	cfg.progress_ctx = &pc;
	cfg.stop = &job->stop;
	if (rs) {
		cfg.relays = rs->idx;
		cfg.relays_path = rs->path;
	}
	status = pcap ? tt_analyze(&cfg) : TT_STATUS_USAGE;
	pthread_mutex_lock(&s->lock);
	if (rs) {
		snprintf(job->relay_path, sizeof(job->relay_path), "%s", rs->path);
		snprintf(job->relay_digest, sizeof(job->relay_digest), "%s", rs->digest);
	}
	read_results(job, status);
	if (atomic_load(&job->stop))
		state = TT_JOB_CANCELLED;
	else if (!job->has_report || status == TT_STATUS_USAGE)
		state = TT_JOB_FAILED;
	else
		state = TT_JOB_DONE; /* a partial read is done, with its error named */
	atomic_store(&job->finished_unix_ns, unix_ns());
	atomic_store(&job->state, state);
	pthread_cond_broadcast(&s->changed);
	pthread_mutex_unlock(&s->lock);
	tt_relayset_put(rs);
	save_job(s, job);
	tt_log(
	    TT_LOG_INFO, "job %" PRIu64 " (%s): %s", job->id, job->name, tt_job_state_name(state));
	free(pcap);
}

static void *runner_main(void *arg)
{
	struct tt_server *s = arg;

	rcu_register_thread(); /* it reads the relay index under rcu_read_lock() */
	for (;;) {
		struct cds_wfcq_node *node;
		struct tt_job *job;

		while (sem_wait(&s->items) < 0 && errno == EINTR)
			;
		if (atomic_load(&s->is_stopping))
			break;
		node = cds_wfcq_dequeue_blocking(&s->q_head, &s->q_tail);
		if (!node)
			continue;
		atomic_fetch_sub(&s->n_queued, 1);
		job = caa_container_of(node, struct tt_job, node);
		if (atomic_load(&job->stop)) { /* cancelled while queued */
			pthread_mutex_lock(&s->lock);
			atomic_store(&job->finished_unix_ns, unix_ns());
			atomic_store(&job->state, TT_JOB_CANCELLED);
			pthread_cond_broadcast(&s->changed);
			pthread_mutex_unlock(&s->lock);
			save_job(s, job);
			continue;
		}
		pthread_mutex_lock(&s->lock);
		atomic_store(&job->started_unix_ns, unix_ns());
		atomic_store(&job->state, TT_JOB_RUNNING);
		pthread_cond_broadcast(&s->changed);
		pthread_mutex_unlock(&s->lock);
		run_job(s, job);
	}
	rcu_unregister_thread();
	return NULL;
}

int tt_jobs_start(struct tt_server *s)
{
	s->runners = calloc(s->opts->n_jobs, sizeof(*s->runners));
	if (!s->runners)
		return -ENOMEM;
	for (; s->n_runners < s->opts->n_jobs; s->n_runners++)
		if (pthread_create(&s->runners[s->n_runners], NULL, runner_main, s) != 0)
			return -EAGAIN;
	return 0;
}

void tt_jobs_stop(struct tt_server *s)
{
	atomic_store(&s->is_stopping, true);
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->n_jobs; i++)
		atomic_store(&s->jobs[i]->stop, true);
	pthread_cond_broadcast(&s->changed);
	pthread_mutex_unlock(&s->lock);
	for (unsigned i = 0; i < s->n_runners; i++)
		sem_post(&s->items);
	for (unsigned i = 0; i < s->n_runners; i++)
		pthread_join(s->runners[i], NULL);
	s->n_runners = 0;
}

void tt_jobs_fini(struct tt_server *s)
{
	/* What is still queued is in the table too: free through the table only. */
	while (__cds_wfcq_dequeue_blocking(&s->q_head, &s->q_tail))
		;
	for (size_t i = 0; i < s->n_jobs; i++) {
		struct tt_job *job = s->jobs[i];

		/* Never run: say so in its job.json, so a later server lists it as
		 * cancelled, not as cut short. The runners are joined: no one else writes. */
		if (atomic_load(&job->state) == TT_JOB_QUEUED) {
			job->error = strdup("the server stopped before this analysis ran");
			atomic_store(&job->finished_unix_ns, unix_ns());
			atomic_store(&job->state, TT_JOB_CANCELLED);
			save_job(s, job);
		}
		tt_job_free(job);
	}
	free(s->jobs);
	free(s->runners);
	sem_destroy(&s->items);
	cds_wfcq_destroy(&s->q_head, &s->q_tail);
	pthread_cond_destroy(&s->changed);
	pthread_mutex_destroy(&s->lock);
}

/* One job folder of a previous server, read back from its job.json. */
static struct tt_job *load_one(const char *jobs_dir, const char *name, uint64_t id)
{
	struct tt_job *job = calloc(1, sizeof(*job));
	char *jpath;
	json_t *o;
	json_error_t jerr;
	const char *st;

	if (!job || !(job->dir = tt_serve_join(jobs_dir, name))) {
		free(job);
		return NULL;
	}
	job->id = id;
	jpath = tt_serve_join(job->dir, "job.json");
	o = jpath ? json_load_file(jpath, 0, &jerr) : NULL;
	free(jpath);
	if (!o) {
		snprintf(job->name, sizeof(job->name), "job %" PRIu64, id);
		job->error = strdup("the server stopped before this analysis finished");
		atomic_init(&job->state, TT_JOB_FAILED);
		return job;
	}
	snprintf(job->name, sizeof(job->name), "%s",
	    json_string_value(json_object_get(o, "name"))
		? json_string_value(json_object_get(o, "name"))
		: "?");
	snprintf(job->format, sizeof(job->format), "%s",
	    json_string_value(json_object_get(o, "format"))
		? json_string_value(json_object_get(o, "format"))
		: "");
	if (json_is_string(json_object_get(o, "error")))
		job->error = strdup(json_string_value(json_object_get(o, "error")));
	if (json_is_string(json_object_get(o, "relay_digest")))
		snprintf(job->relay_digest, sizeof(job->relay_digest), "%s",
		    json_string_value(json_object_get(o, "relay_digest")));
	if (json_is_string(json_object_get(o, "relay_path")))
		snprintf(job->relay_path, sizeof(job->relay_path), "%s",
		    json_string_value(json_object_get(o, "relay_path")));
	st = json_string_value(json_object_get(o, "state"));
	atomic_init(&job->state, TT_JOB_FAILED);
	for (int i = TT_JOB_DONE; i <= TT_JOB_CANCELLED; i++)
		if (st && strcmp(st, state_names[i]) == 0)
			atomic_init(&job->state, i);
	job->size_bytes = json_u64(o, "size");
	job->created_unix_ns = json_u64(o, "created_ns");
	atomic_init(&job->started_unix_ns, json_u64(o, "started_ns"));
	atomic_init(&job->finished_unix_ns, json_u64(o, "finished_ns"));
	atomic_init(&job->bytes_done, json_u64(o, "bytes_done"));
	atomic_init(&job->bytes_total, json_u64(o, "bytes_total"));
	atomic_init(&job->pkts_done, json_u64(o, "packets_done"));
	atomic_init(
	    &job->elapsed_ns, (uint64_t)(json_number_value(json_object_get(o, "elapsed_s")) * 1e9));
	job->status = (int)json_integer_value(json_object_get(o, "status"));
	job->is_complete = json_is_true(json_object_get(o, "complete"));
	job->has_report = json_is_true(json_object_get(o, "has_report"));
	job->has_pcap = json_is_true(json_object_get(o, "has_pcap"));
	job->flows = json_u64(o, "flows");
	job->tor_flows = json_u64(o, "tor_flows");
	job->candidates = json_u64(o, "candidates");
	job->hosts = json_u64(o, "hosts");
	json_decref(o);
	return job;
}

static int cmp_job(const void *a, const void *b)
{
	const struct tt_job *x = *(struct tt_job *const *)a, *y = *(struct tt_job *const *)b;

	return x->id < y->id ? -1 : x->id > y->id;
}

void tt_jobs_load(struct tt_server *s)
{
	DIR *d = opendir(s->jobs_dir);
	struct dirent *e;
	uint64_t max_id = 0;

	if (!d)
		return;
	while ((e = readdir(d))) {
		char *end;
		unsigned long long id = strtoull(e->d_name, &end, 10);
		struct tt_job *job;

		if (e->d_name[0] < '1' || e->d_name[0] > '9' || *end || id == 0)
			continue;
		job = load_one(s->jobs_dir, e->d_name, id);
		if (!job)
			continue;
		pthread_mutex_lock(&s->lock);
		if (table_add(s, job) < 0)
			tt_job_free(job);
		pthread_mutex_unlock(&s->lock);
		if (id > max_id)
			max_id = id;
	}
	closedir(d);
	if (s->n_jobs > 1) /* qsort wants a non-NULL array even for 0 items */
		qsort(s->jobs, s->n_jobs, sizeof(*s->jobs), cmp_job);
	atomic_store(&s->next_id, max_id + 1);
}
