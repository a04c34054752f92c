/* The HTTP side of tortrace serve, on libmicrohttpd (one thread per connection, so that a
 * Server-Sent Events stream may wait for its job's progress without holding up anyone).
 *
 * Routes (docs/serve.md has them with curl examples):
 *   GET  /  /app.js  /app.css  /login          the page (embedded at build time)
 *   POST /login                                token=... from the form: sets the cookie
 *   POST /api/jobs?name=NAME                   the body is a capture: streamed to
 *                                              DATA/uploads, sniffed, queued as a job
 *   GET  /api/jobs  /api/jobs/ID               job list, one job
 *   GET  /api/jobs/ID/events                   its progress as Server-Sent Events
 *   POST /api/jobs/ID/cancel
 *   GET  /api/jobs/ID/flows?host=&q=&verdict=&min_score=&offset=&limit=
 *   GET  /api/jobs/ID/report.json|report.html|tor.pcap|flows.msgpack
 *   GET  /api/history  /api/history/ID         the history database (as tortrace history)
 *   GET  /api/status   GET|POST /api/relays    server state; relay data, replaced live
 *
 * Uploads never sit in memory whole: each chunk libmicrohttpd hands over is written to
 * DATA/uploads/N.part at once. The size limit is checked against Content-Length before
 * the body is read (413 without reading it) and again on every chunk (a chunked upload
 * past it is discarded, then answered 413). The first bytes decide the format (415 for
 * anything that is not a capture). Only a complete, accepted upload is renamed into its
 * job folder; the request-completed callback removes the .part of any other (an error, a
 * client that went away), so no partial file stays behind. */
#define _GNU_SOURCE /* asprintf */
#include "serve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <malloc.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>
#include <openssl/sha.h>
#include <urcu.h>

#include "tortrace/tortrace.h"
#include "core.h"
#include "aggregate.h"

#define BODY_MAX      (64u * 1024)
#define FLOWS_LIMIT   1000
#define COOKIE_NAME   "tt_session"
#define RETRY_AFTER_S "5"

/* The page's policy: nothing from elsewhere, no inline script or style. */
static const char csp_app[] =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'";
/* report.html carries its own inline script and style; it is shown sandboxed in a frame
 * of the page (no same origin: it cannot read the session). */
static const char csp_report[] =
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'self'; sandbox "
    "allow-scripts";

enum req_kind {
	REQ_NONE = 0,
	REQ_UPLOAD,        /* POST /api/jobs: a capture */
	REQ_RELAYS_UPLOAD, /* POST /api/relays with a relay document as the body */
	REQ_BODY,          /* a small body kept in memory (forms, JSON) */
};

/* One request's state, from its first call to the request-completed callback; only the
 * connection's thread touches it. */
struct req {
	int kind;
	bool is_started;
	int fd; /* the upload's .part, -1 when none */
	char *part;
	uint64_t n_bytes;
	unsigned char head[8];
	size_t n_head;
	const char *format;
	bool is_too_big, is_bad_type, is_io_error;
	char name[128];
	char *body;
	size_t n_body;
};

struct sse {
	struct tt_server *s;
	struct tt_job *job;
	char *buf;
	size_t len, off;
	int last_state;
	uint64_t last_bytes;
	unsigned n_events;
	bool is_final_sent;
};

/* ---- responses ----------------------------------------------------------------------- */

static enum MHD_Result queue(struct MHD_Connection *c, unsigned code, struct MHD_Response *r,
    const char *ctype, const char *csp)
{
	enum MHD_Result ret;

	if (!r)
		return MHD_NO;
	if (ctype)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	MHD_add_response_header(r, "Content-Security-Policy", csp ? csp : csp_app);
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
	if (!MHD_get_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL))
		MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	ret = MHD_queue_response(c, code, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result send_text(
    struct MHD_Connection *c, unsigned code, const char *ctype, const char *text, size_t len)
{
	return queue(c, code,
	    MHD_create_response_from_buffer(len, (void *)text, MHD_RESPMEM_MUST_COPY), ctype, NULL);
}

/* Steals o. */
static enum MHD_Result send_json_ex(
    struct MHD_Connection *c, unsigned code, json_t *o, const char *hname, const char *hval)
{
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	struct MHD_Response *r;

	json_decref(o);
	if (!s)
		return MHD_NO;
	r = MHD_create_response_from_buffer(strlen(s), s, MHD_RESPMEM_MUST_FREE);
	if (r && hname)
		MHD_add_response_header(r, hname, hval);
	return queue(c, code, r, "application/json", NULL);
}

static enum MHD_Result send_json(struct MHD_Connection *c, unsigned code, json_t *o)
{
	return send_json_ex(c, code, o, NULL, NULL);
}

static enum MHD_Result send_error(struct MHD_Connection *c, unsigned code, const char *msg)
{
	return send_json(c, code, json_pack("{s:s}", "error", msg));
}

static enum MHD_Result send_file(struct MHD_Connection *c, const char *path, const char *ctype,
    const char *download_name, const char *csp)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	struct MHD_Response *r;

	if (fd < 0)
		return send_error(c, MHD_HTTP_NOT_FOUND, "no such file for this job");
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return send_error(c, MHD_HTTP_NOT_FOUND, "no such file for this job");
	}
	r = MHD_create_response_from_fd((size_t)st.st_size, fd); /* closes fd */
	if (r && download_name) {
		char cd[300];

		snprintf(cd, sizeof(cd), "attachment; filename=\"%s\"", download_name);
		MHD_add_response_header(r, "Content-Disposition", cd);
	}
	return queue(c, MHD_HTTP_OK, r, ctype, csp);
}

/* ---- authentication ------------------------------------------------------------------ */

/* The session cookie's value: a digest of the token, so the browser never stores the
 * token itself. */
static void session_value(const char *token, char out[65])
{
	unsigned char d[SHA256_DIGEST_LENGTH];
	char buf[600];

	snprintf(buf, sizeof(buf), "tortrace-serve-session:%s", token);
	SHA256((const unsigned char *)buf, strlen(buf), d);
	for (size_t i = 0; i < sizeof(d); i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static bool is_authorized(struct tt_server *s, struct MHD_Connection *c)
{
	const char *h, *ck;
	char want[65];

	if (!s->token)
		return true;
	h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	if (h && strncmp(h, "Bearer ", 7) == 0 && tt_serve_token_equal(h + 7, s->token))
		return true;
	ck = MHD_lookup_connection_value(c, MHD_COOKIE_KIND, COOKIE_NAME);
	if (!ck)
		return false;
	session_value(s->token, want);
	return tt_serve_token_equal(ck, want);
}

static const struct tt_www_file *asset(const char *path)
{
	for (size_t i = 0; i < tt_www_n_files; i++)
		if (strcmp(tt_www_files[i].path, path) == 0)
			return &tt_www_files[i];
	return NULL;
}

static enum MHD_Result send_asset(struct MHD_Connection *c, const char *path)
{
	const struct tt_www_file *f = asset(path);

	if (!f)
		return send_error(c, MHD_HTTP_NOT_FOUND, "no such page");
	return queue(c, MHD_HTTP_OK,
	    MHD_create_response_from_buffer(f->len, (void *)f->data, MHD_RESPMEM_PERSISTENT),
	    f->content_type, NULL);
}

/* POST /login with token=... (application/x-www-form-urlencoded). */
static enum MHD_Result do_login(struct tt_server *s, struct MHD_Connection *c, struct req *q)
{
	struct MHD_Response *r;
	char *tok, *amp, cookie[200], want[65];

	tok = q->body ? strstr(q->body, "token=") : NULL;
	if (tok && tok != q->body && tok[-1] != '&')
		tok = NULL;
	if (tok) {
		tok += 6;
		if ((amp = strchr(tok, '&')))
			*amp = '\0';
		for (char *p = tok; *p; p++)
			if (*p == '+')
				*p = ' ';
		MHD_http_unescape(tok);
		/* A token read from a file may end with whitespace the form cannot carry. */
	}
	if (s->token && (!tok || !tt_serve_token_equal(tok, s->token))) {
		r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
		if (r)
			MHD_add_response_header(r, MHD_HTTP_HEADER_LOCATION, "/login#failed");
		return queue(c, MHD_HTTP_SEE_OTHER, r, NULL, NULL);
	}
	session_value(s->token ? s->token : "", want);
	snprintf(cookie, sizeof(cookie), "%s=%s; Path=/; HttpOnly; SameSite=Strict%s", COOKIE_NAME,
	    want, s->is_tls ? "; Secure" : "");
	r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
	if (r) {
		MHD_add_response_header(r, MHD_HTTP_HEADER_SET_COOKIE, cookie);
		MHD_add_response_header(r, MHD_HTTP_HEADER_LOCATION, "/");
	}
	return queue(c, MHD_HTTP_SEE_OTHER, r, NULL, NULL);
}

/* ---- uploads --------------------------------------------------------------------------- */

static void req_drop_part(struct req *q)
{
	if (q->fd >= 0)
		close(q->fd);
	q->fd = -1;
	if (q->part) {
		unlink(q->part);
		free(q->part);
		q->part = NULL;
	}
}

static void on_completed(
    void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode why)
{
	struct req *q = *con_cls;

	(void)cls;
	(void)c;
	if (!q)
		return;
	if (q->part && why != MHD_REQUEST_TERMINATED_COMPLETED_OK)
		tt_log(TT_LOG_INFO, "upload %s ended early (%d): %s removed", q->name, (int)why,
		    q->part);
	req_drop_part(q); /* accepted uploads were renamed away: nothing is left to remove */
	free(q->body);
	free(q);
	*con_cls = NULL;
}

/* First call of an upload: check what can be checked before the body is read, and open
 * the .part file. Returns MHD_YES to go on reading (q->is_started), or a queued answer. */
static enum MHD_Result upload_begin(
    struct tt_server *s, struct MHD_Connection *c, struct req *q, int kind)
{
	const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
	const char *name = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "name");
	char num[32];

	if (!name)
		name = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-File-Name");
	tt_serve_sanitize_name(name, q->name, sizeof(q->name));
	if (cl && strtoull(cl, NULL, 10) > s->opts->max_upload_bytes) {
		char msg[160];

		/* The parsed number, not the header's text: only valid UTF-8 goes into JSON. */
		snprintf(msg, sizeof(msg),
		    "the upload (%llu bytes) is larger than the limit of %" PRIu64
		    " bytes (--max-upload)",
		    strtoull(cl, NULL, 10), s->opts->max_upload_bytes);
		return send_error(c, MHD_HTTP_CONTENT_TOO_LARGE, msg);
	}
	if (kind == REQ_UPLOAD && atomic_load(&s->n_queued) >= s->opts->queue_max)
		return send_json_ex(c, MHD_HTTP_SERVICE_UNAVAILABLE,
		    json_pack("{s:s}", "error", "the job queue is full; try again shortly"),
		    MHD_HTTP_HEADER_RETRY_AFTER, RETRY_AFTER_S);
	snprintf(num, sizeof(num), "%" PRIu64 ".part", atomic_fetch_add(&s->next_upload, 1));
	q->part = tt_serve_join(s->uploads_dir, num);
	if (!q->part)
		return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	q->fd = open(q->part, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (q->fd < 0) {
		tt_log(TT_LOG_ERROR, "cannot create %s: %s", q->part, strerror(errno));
		free(q->part);
		q->part = NULL;
		return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot store the upload");
	}
	q->kind = kind;
	q->is_started = true;
	return MHD_YES;
}

/* A chunk of the body: to disk at once (never kept), size and format checked. */
static void upload_chunk(struct tt_server *s, struct req *q, const char *data, size_t n)
{
	if (q->is_too_big || q->is_bad_type || q->is_io_error)
		return; /* discarding the rest; the answer comes at the end */
	if (q->n_bytes + n > s->opts->max_upload_bytes) {
		q->is_too_big = true;
		req_drop_part(q);
		return;
	}
	if (q->kind == REQ_UPLOAD && q->n_head < sizeof(q->head)) {
		size_t k = sizeof(q->head) - q->n_head < n ? sizeof(q->head) - q->n_head : n;

		memcpy(q->head + q->n_head, data, k);
		q->n_head += k;
		if (q->n_head >= 4 && !(q->format = tt_serve_sniff(q->head, q->n_head))) {
			q->is_bad_type = true;
			req_drop_part(q);
			return;
		}
	}
	q->n_bytes += n;
	while (n > 0) {
		ssize_t w = write(q->fd, data, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			tt_log(TT_LOG_ERROR, "cannot write %s: %s", q->part, strerror(errno));
			q->is_io_error = true;
			req_drop_part(q);
			return;
		}
		data += w;
		n -= (size_t)w;
	}
}

static uint64_t now_unix_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The body is complete: a job, or the answer why not. */
static enum MHD_Result upload_end(struct tt_server *s, struct MHD_Connection *c, struct req *q)
{
	struct tt_job *job;
	char msg[300], idbuf[32], *inputs = NULL;
	int rc;

	if (q->is_too_big) {
		snprintf(msg, sizeof(msg),
		    "the upload is larger than the limit of %" PRIu64 " bytes (--max-upload)",
		    s->opts->max_upload_bytes);
		return send_error(c, MHD_HTTP_CONTENT_TOO_LARGE, msg);
	}
	if (q->is_io_error)
		return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot store the upload");
	if (q->is_bad_type || !q->format) {
		char hex[40] = "";

		for (size_t i = 0; i < q->n_head && i < 4; i++)
			snprintf(hex + strlen(hex), sizeof(hex) - strlen(hex), "%s%02x",
			    i ? " " : "", q->head[i]);
		req_drop_part(q);
		snprintf(msg, sizeof(msg),
		    "%s is not a capture: its content is not pcap, pcapng, gzip or zstd "
		    "(first bytes: %s)",
		    q->name, q->n_head ? hex : "none, the upload is empty");
		return send_error(c, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, msg);
	}
	if (close(q->fd) != 0) {
		q->fd = -1;
		req_drop_part(q);
		return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot store the upload");
	}
	q->fd = -1;
	if (!(job = calloc(1, sizeof(*job))))
		return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	/* A fresh folder for the job: never one that exists (a previous server's). */
	for (;;) {
		job->id = atomic_fetch_add(&s->next_id, 1);
		snprintf(idbuf, sizeof(idbuf), "%" PRIu64, job->id);
		free(job->dir);
		if (!(job->dir = tt_serve_join(s->jobs_dir, idbuf)))
			break;
		if (mkdir(job->dir, 0700) == 0)
			break;
		if (errno != EEXIST) {
			free(job->dir);
			job->dir = NULL;
			break;
		}
	}
	inputs = job->dir ? tt_serve_join(job->dir, "input") : NULL;
	if (!inputs || mkdir(inputs, 0700) < 0 || !(job->input = tt_serve_join(inputs, q->name)) ||
	    rename(q->part, job->input) < 0) {
		free(inputs);
		if (job->dir)
			tt_serve_rm_rf(job->dir);
		tt_job_free(job);
		return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot store the upload");
	}
	free(inputs);
	free(q->part); /* renamed: no longer ours to remove */
	q->part = NULL;
	snprintf(job->name, sizeof(job->name), "%s", q->name);
	snprintf(job->format, sizeof(job->format), "%s", q->format);
	job->size_bytes = q->n_bytes;
	job->created_unix_ns = now_unix_ns();
	atomic_init(&job->state, TT_JOB_QUEUED);
	atomic_init(&job->bytes_total, q->n_bytes);
	rc = tt_jobs_submit(s, job);
	if (rc < 0) {
		tt_serve_rm_rf(job->dir);
		tt_job_free(job);
		if (rc == -EAGAIN)
			return send_json_ex(c, MHD_HTTP_SERVICE_UNAVAILABLE,
			    json_pack("{s:s}", "error", "the job queue is full; try again shortly"),
			    MHD_HTTP_HEADER_RETRY_AFTER, RETRY_AFTER_S);
		return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	}
	tt_log(TT_LOG_INFO, "job %" PRIu64 ": %s (%s, %" PRIu64 " bytes) queued", job->id,
	    job->name, job->format, job->size_bytes);
	snprintf(msg, sizeof(msg), "/api/jobs/%" PRIu64, job->id);
	return send_json_ex(
	    c, MHD_HTTP_ACCEPTED, tt_job_json(s, job), MHD_HTTP_HEADER_LOCATION, msg);
}

/* ---- relays ----------------------------------------------------------------------------- */

static json_t *relays_json(struct tt_server *s)
{
	struct tt_relayset *rs;
	json_t *o;

	/* HTTP threads are not RCU readers otherwise: register for this one look. */
	rcu_register_thread();
	rs = tt_relaypub_get(&s->relays);
	rcu_unregister_thread();
	if (!rs)
		return json_pack("{s:b,s:I}", "loaded", 0, "reloads",
		    (json_int_t)atomic_load(&s->relays.n_reloads));
	o = json_pack("{s:b,s:s,s:s,s:I,s:I,s:I,s:I,s:I}", "loaded", 1, "path", rs->path, "digest",
	    rs->digest, "generation", (json_int_t)rs->generation, "relays",
	    (json_int_t)rs->n_relays, "documents", (json_int_t)rs->n_docs, "loaded_ns",
	    (json_int_t)rs->loaded_unix_ns, "reloads",
	    (json_int_t)atomic_load(&s->relays.n_reloads));
	tt_relayset_put(rs);
	return o;
}

static enum MHD_Result relays_load(struct tt_server *s, struct MHD_Connection *c, const char *path)
{
	char err[400];

	if (tt_relaypub_load(&s->relays, path, err, sizeof(err)) < 0) {
		tt_log(TT_LOG_ERROR, "relay reload: %s; the previous relay data stays", err);
		return send_error(c, MHD_HTTP_BAD_REQUEST, err);
	}
	tt_log(TT_LOG_INFO, "relay data reloaded from %s", path);
	return send_json(c, MHD_HTTP_OK, relays_json(s));
}

/* POST /api/relays: {"path": "..."} names relay data on the server; any other body is a
 * relay document, kept in DATA/relays. */
static enum MHD_Result relays_post_end(struct tt_server *s, struct MHD_Connection *c, struct req *q)
{
	if (q->kind == REQ_RELAYS_UPLOAD) {
		char name[200], *dst;
		enum MHD_Result ret;

		if (q->is_too_big)
			return send_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "the upload is too large");
		if (q->is_io_error || close(q->fd) != 0) {
			q->fd = -1;
			req_drop_part(q);
			return send_error(
			    c, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot store the upload");
		}
		q->fd = -1;
		snprintf(name, sizeof(name), "%" PRIu64 "-%s", atomic_fetch_add(&s->next_upload, 1),
		    q->name);
		if (!(dst = tt_serve_join(s->relays_dir, name)) || rename(q->part, dst) < 0) {
			free(dst);
			return send_error(
			    c, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot store the upload");
		}
		free(q->part);
		q->part = NULL;
		ret = relays_load(s, c, dst);
		free(dst);
		return ret;
	}
	{
		json_error_t jerr;
		json_t *o = q->body ? json_loads(q->body, 0, &jerr) : NULL;
		const char *path = json_string_value(json_object_get(o, "path"));
		enum MHD_Result ret;

		if (!path) {
			json_decref(o);
			return send_error(c, MHD_HTTP_BAD_REQUEST,
			    "send {\"path\": \"relay data on the server\"} as application/json, "
			    "or a relay document as the body");
		}
		ret = relays_load(s, c, path);
		json_decref(o);
		return ret;
	}
}

/* ---- flows ----------------------------------------------------------------------------- */

static int verdict_filter(const char *v)
{
	/* -1 any, -2 none of the verdicts, -3 candidates, -4 any verdict but none */
	if (!v || !*v || strcmp(v, "all") == 0)
		return -1;
	if (strcmp(v, "none") == 0)
		return -2;
	if (strcmp(v, "candidate") == 0)
		return -3;
	if (strcmp(v, "any") == 0 || strcmp(v, "tor-any") == 0)
		return -4;
	for (unsigned i = 1; i < TT_VERDICT_COUNT; i++)
		if (strcmp(v, tt_verdict_name(i)) == 0)
			return (int)i;
	return -5;
}

/* The record as export --jsonl prints it into *line (grown as needed); false without
 * memory. */
static bool render_flow(
    const struct tt_flows *it, const struct tt_flow_record *r, char **line, size_t *cap)
{
	size_t need = tt_flows_json(it, r, *line, *cap);

	if (need >= *cap) {
		char *bigger = realloc(*line, need + 1);

		if (!bigger)
			return false;
		*line = bigger;
		*cap = need + 1;
		tt_flows_json(it, r, *line, *cap);
	}
	return true;
}

static enum MHD_Result send_flows(
    struct tt_server *s, struct MHD_Connection *c, const struct tt_job *job)
{
	const char *host = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "host");
	const char *sub = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "q");
	const char *vs = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "verdict");
	const char *ms = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "min_score");
	const char *os = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "offset");
	const char *ls = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "limit");
	double min_score = ms ? strtod(ms, NULL) : 0;
	unsigned long long offset = os ? strtoull(os, NULL, 10) : 0;
	unsigned long long limit = ls ? strtoull(ls, NULL, 10) : 100;
	int vf = verdict_filter(vs), rc;
	char *path = tt_serve_join(job->dir, "flows.msgpack"), *mem = NULL, *out = NULL;
	size_t mem_len = 0, cap = 4096;
	struct tt_flows *it = NULL;
	const struct tt_flow_record *r;
	uint64_t total = 0, shown = 0;
	FILE *f;
	char *line = malloc(cap);
	struct MHD_Response *resp;

	(void)s;
	if (vf == -5) {
		free(path);
		free(line);
		return send_error(c, MHD_HTTP_BAD_REQUEST,
		    "verdict is one of all, any, none, candidate, tor, tor-bridge, tor-pt, "
		    "tor-dir, tor-exit-side, tor-snowflake, tor-meek, tor-webtunnel");
	}
	if (limit > FLOWS_LIMIT)
		limit = FLOWS_LIMIT;
	if (!path || !line || tt_flows_open(path, &it) < 0) {
		tt_flows_close(it);
		free(path);
		free(line);
		return send_error(c, MHD_HTTP_NOT_FOUND, "this job has no flows (yet)");
	}
	free(path);
	f = open_memstream(&mem, &mem_len);
	if (!f) {
		tt_flows_close(it);
		free(line);
		return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	}
	while ((rc = tt_flows_next(it, &r)) == 1) {
		char src[64], dst[64];
		bool is_rendered = false;

		if ((vf == -2 && r->verdict != TT_VERDICT_NONE) ||
		    (vf == -3 && r->candidate == TT_VERDICT_NONE) ||
		    (vf == -4 && r->verdict == TT_VERDICT_NONE) || (vf > 0 && r->verdict != vf))
			continue;
		if (min_score > 0 && r->score < min_score)
			continue;
		if (host) {
			tt_record_ip_str(r, false, src, sizeof(src));
			tt_record_ip_str(r, true, dst, sizeof(dst));
			if (strcmp(src, host) != 0 && strcmp(dst, host) != 0)
				continue;
		}
		/* The search looks through the record's whole text: addresses, ports, SNI,
		 * JA3/JA4, certificate names, evidence. */
		if (sub) {
			if (!render_flow(it, r, &line, &cap))
				break;
			is_rendered = true;
			if (!strstr(line, sub))
				continue;
		}
		total++;
		if (total <= offset || shown >= limit)
			continue;
		if (!is_rendered && !render_flow(it, r, &line, &cap))
			break;
		fprintf(f, "%s%s", shown ? "," : "", line);
		shown++;
	}
	fclose(f);
	if (rc < 0) {
		json_t *e = json_pack("{s:s}", "error", tt_flows_error(it));

		tt_flows_close(it);
		free(mem);
		free(line);
		return send_json(c, MHD_HTTP_INTERNAL_SERVER_ERROR, e);
	}
	tt_flows_close(it);
	free(line);
	if (asprintf(&out, "{\"total\":%" PRIu64 ",\"offset\":%llu,\"limit\":%llu,\"flows\":[%s]}",
		total, offset, limit, mem ? mem : "") < 0)
		out = NULL;
	free(mem);
	if (!out)
		return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	resp = MHD_create_response_from_buffer(strlen(out), out, MHD_RESPMEM_MUST_FREE);
	return queue(c, MHD_HTTP_OK, resp, "application/json", NULL);
}

/* ---- Server-Sent Events ------------------------------------------------------------------ */

static ssize_t sse_read(void *cls, uint64_t pos, char *out, size_t max)
{
	struct sse *e = cls;
	struct tt_server *s = e->s;
	int state;
	uint64_t bytes;
	json_t *o;
	char *js;

	(void)pos;
	if (e->off < e->len) {
		size_t n = e->len - e->off < max ? e->len - e->off : max;

		memcpy(out, e->buf + e->off, n);
		e->off += n;
		return (ssize_t)n;
	}
	if (e->is_final_sent || atomic_load(&s->is_stopping))
		return MHD_CONTENT_READER_END_OF_STREAM;
	if (e->n_events > 0) {
		/* Wait for the job to move, at most 15 s (then a comment keeps the stream
		 * open through proxies); one thread per connection, so waiting here holds up
		 * no one else. */
		struct timespec until;

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 15;
		pthread_mutex_lock(&s->lock);
		while (atomic_load(&e->job->state) == e->last_state &&
		       atomic_load(&e->job->bytes_done) == e->last_bytes &&
		       !atomic_load(&s->is_stopping))
			if (pthread_cond_timedwait(&s->changed, &s->lock, &until) == ETIMEDOUT)
				break;
		pthread_mutex_unlock(&s->lock);
		if (atomic_load(&s->is_stopping))
			return MHD_CONTENT_READER_END_OF_STREAM;
	}
	free(e->buf);
	e->buf = NULL;
	e->len = e->off = 0;
	state = atomic_load(&e->job->state);
	bytes = atomic_load(&e->job->bytes_done);
	if (e->n_events > 0 && state == e->last_state && bytes == e->last_bytes) {
		e->buf = strdup(": keep-alive\n\n");
	} else {
		o = tt_job_json(s, e->job);
		js = o ? json_dumps(o, JSON_COMPACT) : NULL;
		json_decref(o);
		e->is_final_sent = state >= TT_JOB_DONE;
		if (js && asprintf(&e->buf, "event: %s\ndata: %s\n\n",
			      e->is_final_sent ? "end" : "progress", js) < 0)
			e->buf = NULL;
		free(js);
		e->last_state = state;
		e->last_bytes = bytes;
		e->n_events++;
	}
	if (!e->buf)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	e->len = strlen(e->buf);
	return sse_read(cls, pos, out, max);
}

static void sse_free(void *cls)
{
	struct sse *e = cls;

	free(e->buf);
	free(e);
}

static enum MHD_Result send_events(
    struct tt_server *s, struct MHD_Connection *c, struct tt_job *job)
{
	struct sse *e = calloc(1, sizeof(*e));
	struct MHD_Response *r;

	if (!e)
		return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	e->s = s;
	e->job = job;
	e->last_state = -1;
	r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, sse_read, e, sse_free);
	if (!r) {
		free(e);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	return queue(c, MHD_HTTP_OK, r, "text/event-stream", NULL);
}

/* ---- history ----------------------------------------------------------------------------- */

static enum MHD_Result send_history(
    struct tt_server *s, struct MHD_Connection *c, const char *id_str)
{
	char *mem = NULL;
	size_t len = 0;
	FILE *f;
	int rc;
	struct MHD_Response *r;

	if (access(s->history_path, F_OK) != 0)
		return id_str ? send_error(c, MHD_HTTP_NOT_FOUND, "no such analysis")
			      : send_text(c, MHD_HTTP_OK, "application/json", "[]", 2);
	if (!(f = open_memstream(&mem, &len)))
		return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	if (id_str) {
		char *end;
		long long id = strtoll(id_str, &end, 10);

		rc = *end || id <= 0 ? -ENOENT : tt_history_show(s->history_path, id, true, f);
	} else {
		const char *host = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "host");

		rc = tt_history_list(s->history_path, 0, host, true, f);
	}
	fclose(f);
	if (rc < 0) {
		free(mem);
		return rc == -ENOENT ? send_error(c, MHD_HTTP_NOT_FOUND, "no such analysis")
				     : send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR,
					   "the history database cannot be read");
	}
	r = MHD_create_response_from_buffer(len, mem, MHD_RESPMEM_MUST_FREE);
	return queue(c, MHD_HTTP_OK, r, "application/json", NULL);
}

/* ---- routing ----------------------------------------------------------------------------- */

static enum MHD_Result route_job(
    struct tt_server *s, struct MHD_Connection *c, const char *method, const char *rest)
{
	char *end;
	unsigned long long id = strtoull(rest, &end, 10);
	struct tt_job *job = end != rest ? tt_jobs_find(s, id) : NULL;
	bool is_get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
	char *p;
	enum MHD_Result ret;
	char dl[200];

	if (!job)
		return send_error(c, MHD_HTTP_NOT_FOUND, "no such job");
	if (*end == '\0' && is_get)
		return send_json(c, MHD_HTTP_OK, tt_job_json(s, job));
	if (strcmp(end, "/events") == 0 && is_get)
		return send_events(s, c, job);
	if (strcmp(end, "/cancel") == 0 && strcmp(method, "POST") == 0) {
		atomic_store(&job->stop, true);
		tt_log(TT_LOG_INFO, "job %llu: cancel requested", id);
		return send_json(c, MHD_HTTP_ACCEPTED, tt_job_json(s, job));
	}
	if (strcmp(end, "/flows") == 0 && is_get)
		return send_flows(s, c, job);
	if (!is_get)
		return send_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed");
	if (strcmp(end, "/report.json") == 0 || strcmp(end, "/report.html") == 0 ||
	    strcmp(end, "/tor.pcap") == 0 || strcmp(end, "/flows.msgpack") == 0) {
		bool is_html = strcmp(end, "/report.html") == 0;
		const char *ctype = is_html                            ? "text/html; charset=utf-8"
				    : strcmp(end, "/report.json") == 0 ? "application/json"
								       : "application/octet-stream";

		if (atomic_load(&job->state) < TT_JOB_DONE)
			return send_error(c, MHD_HTTP_CONFLICT, "the job has not finished");
		snprintf(dl, sizeof(dl), "job%llu-%s", id, end + 1);
		if (!(p = tt_serve_join(job->dir, end + 1)))
			return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
		ret = send_file(c, p, ctype, is_html ? NULL : dl, is_html ? csp_report : NULL);
		free(p);
		return ret;
	}
	return send_error(c, MHD_HTTP_NOT_FOUND, "no such page");
}

static enum MHD_Result send_jobs(struct tt_server *s, struct MHD_Connection *c)
{
	json_t *arr = json_array();
	size_t n;
	struct tt_job **v;

	pthread_mutex_lock(&s->lock);
	n = s->n_jobs;
	v = malloc((n ? n : 1) * sizeof(*v));
	if (v && n) /* s->jobs is NULL while there are none */
		memcpy(v, s->jobs, n * sizeof(*v));
	pthread_mutex_unlock(&s->lock);
	if (!v) {
		json_decref(arr);
		return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	}
	for (size_t i = n; i-- > 0;) /* newest first */
		json_array_append_new(arr, tt_job_json(s, v[i]));
	free(v);
	return send_json(c, MHD_HTTP_OK, json_pack("{s:o}", "jobs", arr));
}

static enum MHD_Result send_status(struct tt_server *s, struct MHD_Connection *c)
{
	unsigned counts[TT_JOB_CANCELLED + 1] = {0};

	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->n_jobs; i++)
		counts[atomic_load(&s->jobs[i]->state)]++;
	pthread_mutex_unlock(&s->lock);
	return send_json(c, MHD_HTTP_OK,
	    json_pack("{s:s,s:{s:I,s:I,s:I,s:I,s:I},s:I,s:I,s:I,s:b,s:o}", "version", TT_VERSION,
		"jobs", "queued", (json_int_t)counts[TT_JOB_QUEUED], "running",
		(json_int_t)counts[TT_JOB_RUNNING], "done", (json_int_t)counts[TT_JOB_DONE],
		"failed", (json_int_t)counts[TT_JOB_FAILED], "cancelled",
		(json_int_t)counts[TT_JOB_CANCELLED], "queue_max", (json_int_t)s->opts->queue_max,
		"runners", (json_int_t)s->opts->n_jobs, "max_upload",
		(json_int_t)s->opts->max_upload_bytes, "token_required", s->token != NULL, "relays",
		relays_json(s)));
}

static bool wants_html(struct MHD_Connection *c)
{
	const char *a = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Accept");

	return a && strstr(a, "text/html");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *upload_data, size_t *upload_data_size,
    void **con_cls)
{
	struct tt_server *s = cls;
	struct req *q = *con_cls;
	bool is_get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
	bool is_post = strcmp(method, "POST") == 0;

	(void)version;
	if (!q) {
		/* First call: headers only. */
		if (!(q = calloc(1, sizeof(*q))))
			return MHD_NO;
		q->fd = -1;
		*con_cls = q;
		if (strcmp(url, "/login") == 0 && is_get)
			return send_asset(c, "/login.html");
		if (strcmp(url, "/app.css") == 0 && is_get) /* the login page's style */
			return send_asset(c, "/app.css");
		if (strcmp(url, "/login") == 0 && is_post) {
			q->kind = REQ_BODY;
			return MHD_YES;
		}
		if (!is_authorized(s, c)) {
			struct MHD_Response *r;

			if (is_get && wants_html(c)) {
				r = MHD_create_response_from_buffer(
				    0, NULL, MHD_RESPMEM_PERSISTENT);
				if (r)
					MHD_add_response_header(
					    r, MHD_HTTP_HEADER_LOCATION, "/login");
				return queue(c, MHD_HTTP_SEE_OTHER, r, NULL, NULL);
			}
			return send_json_ex(c, MHD_HTTP_UNAUTHORIZED,
			    json_pack("{s:s}", "error",
				"a token is required: Authorization: Bearer TOKEN, or log in at "
				"/login"),
			    MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"tortrace\"");
		}
		if (is_post && strcmp(url, "/api/jobs") == 0)
			return upload_begin(s, c, q, REQ_UPLOAD);
		if (is_post && strcmp(url, "/api/relays") == 0) {
			const char *ct = MHD_lookup_connection_value(
			    c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);

			if (ct && strncmp(ct, "application/json", 16) == 0) {
				q->kind = REQ_BODY;
				return MHD_YES;
			}
			return upload_begin(s, c, q, REQ_RELAYS_UPLOAD);
		}
		if (is_post) {
			q->kind = REQ_BODY; /* cancel and the like: the body is ignored */
			return MHD_YES;
		}
	} else if (*upload_data_size > 0) {
		if (q->kind == REQ_UPLOAD || q->kind == REQ_RELAYS_UPLOAD) {
			upload_chunk(s, q, upload_data, *upload_data_size);
		} else if (q->kind == REQ_BODY && q->n_body + *upload_data_size < BODY_MAX) {
			char *b = realloc(q->body, q->n_body + *upload_data_size + 1);

			if (!b)
				return MHD_NO;
			memcpy(b + q->n_body, upload_data, *upload_data_size);
			q->n_body += *upload_data_size;
			b[q->n_body] = '\0';
			q->body = b;
		}
		*upload_data_size = 0;
		return MHD_YES;
	}
	/* The request is complete (or has no body). */
	if (q->kind == REQ_UPLOAD)
		return upload_end(s, c, q);
	if (q->kind == REQ_RELAYS_UPLOAD || (is_post && strcmp(url, "/api/relays") == 0))
		return relays_post_end(s, c, q);
	if (is_post && strcmp(url, "/login") == 0)
		return do_login(s, c, q);
	if (strncmp(url, "/api/jobs/", 10) == 0)
		return route_job(s, c, method, url + 10);
	if (!is_get)
		return send_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed");
	if (strcmp(url, "/") == 0)
		return send_asset(c, "/index.html");
	if (strcmp(url, "/api/jobs") == 0)
		return send_jobs(s, c);
	if (strcmp(url, "/api/status") == 0)
		return send_status(s, c);
	if (strcmp(url, "/api/relays") == 0)
		return send_json(c, MHD_HTTP_OK, relays_json(s));
	if (strcmp(url, "/api/history") == 0)
		return send_history(s, c, NULL);
	if (strncmp(url, "/api/history/", 13) == 0)
		return send_history(s, c, url + 13);
	if (strncmp(url, "/api/", 5) != 0 && strcmp(url, "/index.html") != 0 &&
	    strcmp(url, "/login.html") != 0)
		return send_asset(c, url);
	return send_error(c, MHD_HTTP_NOT_FOUND, "no such page");
}

/* ---- start and stop ---------------------------------------------------------------------- */

static char *read_file(const char *path, size_t max)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t n;

	if (!f)
		return NULL;
	buf = malloc(max + 1);
	n = buf ? fread(buf, 1, max, f) : 0;
	fclose(f);
	if (buf)
		buf[n] = '\0';
	return buf;
}

/* "ADDR:PORT" or "[ADDR]:PORT" into ss; is_loopback says whether only this machine can
 * reach it. 0 or -EINVAL. */
static int parse_listen(
    const char *spec, struct sockaddr_storage *ss, socklen_t *len, bool *is_v6, bool *is_loopback)
{
	char host[128];
	const char *colon;
	char *end;
	unsigned long port;

	if (spec[0] == '[') {
		const char *rb = strchr(spec, ']');

		if (!rb || rb[1] != ':' || (size_t)(rb - spec - 1) >= sizeof(host))
			return -EINVAL;
		memcpy(host, spec + 1, (size_t)(rb - spec - 1));
		host[rb - spec - 1] = '\0';
		colon = rb + 1;
	} else {
		colon = strrchr(spec, ':');
		if (!colon || (size_t)(colon - spec) >= sizeof(host))
			return -EINVAL;
		memcpy(host, spec, (size_t)(colon - spec));
		host[colon - spec] = '\0';
	}
	port = strtoul(colon + 1, &end, 10);
	if (*end || end == colon + 1 || port > 65535)
		return -EINVAL;
	memset(ss, 0, sizeof(*ss));
	if (strchr(host, ':')) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

		if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1)
			return -EINVAL;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		*len = sizeof(*a);
		*is_v6 = true;
		*is_loopback = IN6_IS_ADDR_LOOPBACK(&a->sin6_addr);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;

		if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
			return -EINVAL;
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		*len = sizeof(*a);
		*is_v6 = false;
		*is_loopback = (ntohl(a->sin_addr.s_addr) >> 24) == 127;
	}
	return 0;
}

static void clean_uploads(const char *dir)
{
	/* .part files of a server that was killed mid-upload. */
	tt_serve_rm_rf(dir);
	tt_serve_mkdir_p(dir);
}

static int setup_dirs(struct tt_server *s, const struct tt_serve_opts *o)
{
	int rc;

	s->data_dir = strdup(o->data_dir);
	s->uploads_dir = tt_serve_join(o->data_dir, "uploads");
	s->jobs_dir = tt_serve_join(o->data_dir, "jobs");
	s->relays_dir = tt_serve_join(o->data_dir, "relays");
	s->history_path = tt_serve_join(o->data_dir, "history.sqlite");
	if (!s->data_dir || !s->uploads_dir || !s->jobs_dir || !s->relays_dir || !s->history_path)
		return -ENOMEM;
	if ((rc = tt_serve_mkdir_p(s->data_dir)) < 0 || (rc = tt_serve_mkdir_p(s->jobs_dir)) < 0 ||
	    (rc = tt_serve_mkdir_p(s->relays_dir)) < 0) {
		tt_log(TT_LOG_ERROR, "cannot create the data folder %s: %s", o->data_dir,
		    strerror(-rc));
		return rc;
	}
	clean_uploads(s->uploads_dir);
	return 0;
}

static void free_server(struct tt_server *s)
{
	free(s->data_dir);
	free(s->uploads_dir);
	free(s->jobs_dir);
	free(s->relays_dir);
	free(s->history_path);
	free(s->token);
}

int tt_serve_run(const struct tt_serve_opts *o)
{
	struct tt_server *s = calloc(1, sizeof(*s));
	struct sockaddr_storage ss;
	socklen_t sslen;
	bool is_v6 = false, is_loopback = false;
	char *cert = NULL, *key = NULL;
	struct MHD_Daemon *d = NULL;
	const union MHD_DaemonInfo *info;
	sigset_t sigs;
	unsigned flags;
	int status = TT_STATUS_USAGE, sig;

	if (!s)
		return TT_STATUS_USAGE;
	/* One malloc arena for the whole server. Every connection and every analysis runs on
	 * threads of its own, and glibc gives threads arenas of their own that keep the
	 * pages they freed: the server grew by about 2 KiB an upload, for good (4 arenas:
	 * the same), and by nothing with one (bench/serve_memory.py, 300 uploads: 2.25 ->
	 * -0.03 KiB an upload over the second half, at the same speed). */
	mallopt(M_ARENA_MAX, 1);
	s->opts = o;
	if (parse_listen(o->listen, &ss, &sslen, &is_v6, &is_loopback) < 0) {
		tt_log(TT_LOG_ERROR, "--listen %s: want ADDR:PORT (127.0.0.1:5001, [::1]:5001)",
		    o->listen);
		free(s);
		return TT_STATUS_USAGE;
	}
	if (o->token_file) {
		char *t = read_file(o->token_file, 4096);
		size_t n;

		if (!t) {
			tt_log(TT_LOG_ERROR, "cannot read --token-file %s: %s", o->token_file,
			    strerror(errno));
			goto out;
		}
		n = strcspn(t, "\r\n");
		t[n] = '\0';
		if (n < 16) {
			tt_log(TT_LOG_ERROR,
			    "--token-file %s: the token (first line) must be at "
			    "least 16 characters",
			    o->token_file);
			free(t);
			goto out;
		}
		s->token = t;
	}
	if (!is_loopback && !s->token) {
		tt_log(TT_LOG_ERROR,
		    "--listen %s is reachable from other machines: give --token-file (and "
		    "preferably --tls-cert/--tls-key), or listen on 127.0.0.1",
		    o->listen);
		goto out;
	}
	if (!o->tls_cert != !o->tls_key) {
		tt_log(TT_LOG_ERROR, "--tls-cert and --tls-key go together");
		goto out;
	}
	if (o->tls_cert) {
		cert = read_file(o->tls_cert, 1 << 20);
		key = read_file(o->tls_key, 1 << 20);
		if (!cert || !key) {
			tt_log(TT_LOG_ERROR, "cannot read %s: %s", !cert ? o->tls_cert : o->tls_key,
			    strerror(errno));
			goto out;
		}
		s->is_tls = true;
	}
	if (setup_dirs(s, o) < 0)
		goto out;
	tt_relaypub_init(&s->relays);
	if (tt_jobs_init(s) < 0)
		goto out_relays;
	atomic_init(&s->next_upload, 1);
	tt_jobs_load(s);
	if (o->relays_path) {
		char err[400];

		if (tt_relaypub_load(&s->relays, o->relays_path, err, sizeof(err)) < 0) {
			tt_log(TT_LOG_ERROR, "%s", err);
			goto out_jobs;
		}
	}
	/* Every thread started from here on inherits the mask: the signals reach only
	 * sigwait() below. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (tt_jobs_start(s) < 0) {
		tt_log(TT_LOG_ERROR, "cannot start the job runners");
		status = TT_STATUS_PARTIAL;
		goto out_runners;
	}
	flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
		MHD_USE_ERROR_LOG | (is_v6 ? MHD_USE_IPv6 : 0) | (cert ? MHD_USE_TLS : 0);
	if (cert)
		d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR,
		    (struct sockaddr *)&ss, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
		    MHD_OPTION_CONNECTION_LIMIT, 256u, MHD_OPTION_CONNECTION_TIMEOUT, 120u,
		    MHD_OPTION_HTTPS_MEM_KEY, key, MHD_OPTION_HTTPS_MEM_CERT, cert, MHD_OPTION_END);
	else
		d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR,
		    (struct sockaddr *)&ss, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
		    MHD_OPTION_CONNECTION_LIMIT, 256u, MHD_OPTION_CONNECTION_TIMEOUT, 120u,
		    MHD_OPTION_END);
	if (!d) {
		tt_log(TT_LOG_ERROR, "cannot listen on %s: %s", o->listen, strerror(errno));
		status = TT_STATUS_USAGE;
		goto out_runners;
	}
	info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	{
		char host[64];
		const char *colon =
		    o->listen[0] == '[' ? strchr(o->listen, ']') + 1 : strrchr(o->listen, ':');

		snprintf(host, sizeof(host), "%.*s", (int)(colon - o->listen), o->listen);
		fprintf(stderr, "tortrace serve: listening on %s://%s:%u/ (data %s%s)\n",
		    cert ? "https" : "http", host, info ? info->port : 0, s->data_dir,
		    s->token ? ", token required" : "");
		fflush(stderr);
	}
	status = TT_STATUS_OK;
	for (;;) {
		if (sigwait(&sigs, &sig) != 0)
			continue;
		if (sig != SIGHUP)
			break;
		if (!o->relays_path) {
			tt_log(TT_LOG_WARN, "SIGHUP: no --relays to reload");
		} else {
			char err[400];

			if (tt_relaypub_load(&s->relays, o->relays_path, err, sizeof(err)) < 0)
				tt_log(
				    TT_LOG_ERROR, "SIGHUP: %s; the previous relay data stays", err);
			else
				tt_log(TT_LOG_INFO, "SIGHUP: relay data reloaded from %s",
				    o->relays_path);
		}
	}
	tt_log(TT_LOG_INFO, "stopping");
	atomic_store(&s->is_stopping, true);
	pthread_mutex_lock(&s->lock);
	pthread_cond_broadcast(&s->changed);
	pthread_mutex_unlock(&s->lock);
	MHD_stop_daemon(d);
out_runners:
	tt_jobs_stop(s);
out_jobs:
	tt_jobs_fini(s);
out_relays:
	tt_relaypub_fini(&s->relays);
out:
	free_server(s);
	free(s);
	free(cert);
	free(key);
	return status;
}
