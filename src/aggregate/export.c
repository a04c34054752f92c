/* `tortrace export`: flows.msgpack → JSON lines or CSV, one flow a line. */
#include "aggregate.h"

#include "relays.h"
#include "tortrace/tortrace.h"

#include <errno.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

struct header {
	char **files;
	size_t n_files;
};

static void free_header(struct header *h)
{
	for (size_t i = 0; i < h->n_files; i++)
		free(h->files[i]);
	free(h->files);
	memset(h, 0, sizeof(*h));
}

/* Read the header map; on -EBADMSG why says what is wrong with it. */
static int read_header(
    const msgpack_object *o, uint8_t byte0, struct header *h, char *why, size_t why_len)
{
	bool is_flows = false;

	if (o->type != MSGPACK_OBJECT_MAP) {
		snprintf(why, why_len,
		    "not a tortrace flows file (byte 0: 0x%02x is not a msgpack map)", byte0);
		return -EBADMSG;
	}
	for (uint32_t i = 0; i < o->via.map.size; i++) {
		const msgpack_object *k = &o->via.map.ptr[i].key, *v = &o->via.map.ptr[i].val;

		if (k->type != MSGPACK_OBJECT_STR)
			continue;
		if (k->via.str.size == 4 && memcmp(k->via.str.ptr, "type", 4) == 0)
			is_flows = v->type == MSGPACK_OBJECT_STR && v->via.str.size == 14 &&
				   memcmp(v->via.str.ptr, "tortrace.flows", 14) == 0;
		if (k->via.str.size == 6 && memcmp(k->via.str.ptr, "schema", 6) == 0) {
			if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
				snprintf(why, why_len, "header key \"schema\" is not a number");
				return -EBADMSG;
			}
			if (v->via.u64 > TT_RECORD_SCHEMA) {
				snprintf(why, why_len,
				    "header schema %" PRIu64 " is newer than this tortrace (%d)",
				    v->via.u64, TT_RECORD_SCHEMA);
				return -EBADMSG;
			}
		}
		if (k->via.str.size == 5 && memcmp(k->via.str.ptr, "files", 5) == 0) {
			if (v->type != MSGPACK_OBJECT_ARRAY) {
				snprintf(why, why_len, "header key \"files\" is not an array");
				return -EBADMSG;
			}
			free_header(h);
			h->files = calloc(v->via.array.size + 1, sizeof(*h->files));
			if (!h->files)
				return -ENOMEM;
			for (uint32_t n = 0; n < v->via.array.size; n++) {
				const msgpack_object *s = &v->via.array.ptr[n];

				if (s->type != MSGPACK_OBJECT_STR) {
					snprintf(why, why_len,
					    "header key \"files\": item %" PRIu32
					    " is not a string",
					    n);
					return -EBADMSG;
				}
				h->files[n] = strndup(s->via.str.ptr, s->via.str.size);
				if (!h->files[n])
					return -ENOMEM;
				h->n_files = n + 1;
			}
		}
	}
	if (!is_flows) {
		snprintf(why, why_len,
		    "not a tortrace flows file (byte 0: a map without \"type\": "
		    "\"tortrace.flows\")");
		return -EBADMSG;
	}
	return 0;
}

/* ---- columns -----------------------------------------------------------------------
 * The CSV header, CSV rows and JSON objects are all generated from the C rows of the
 * schema table (include/tortrace/record_schema.h). A row's expr is evaluated with r (the
 * record), x (what is computed once per row), t (the tls map) or rl (the relay map) in
 * scope; its render says how it is printed in each format. */
struct tt_export_row {
	const char *file, *last_file; /* paths of the record's first and last file */
	char src[48], dst[48];
	uint64_t dur; /* last_ts_ns - first_ts_ns */
};

static void csv_field(FILE *out, const char *s)
{
	if (!strpbrk(s, ",\"\n\r")) {
		fputs(s, out);
		return;
	}
	fputc('"', out);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', out);
		fputc(*s, out);
	}
	fputc('"', out);
}

static void csv_ts(FILE *out, uint64_t ns)
{
	fprintf(out, "%" PRIu64 ".%06" PRIu64, ns / 1000000000u, ns % 1000000000u / 1000u);
}

static void evidence_ids(FILE *out, uint32_t ev)
{
	unsigned n;
	const struct tt_evidence_item *t = tt_evidence_table(&n);
	bool first = true;

	for (unsigned i = 0; i < n; i++) {
		if (!(ev & (1u << i)))
			continue;
		fprintf(out, "%s%s", first ? "" : ";", t[i].id);
		first = false;
	}
}

/* Each item of evidence explained in one line. */
static void evidence_json(struct tt_json *j, const char *key, uint32_t ev)
{
	unsigned n;
	const struct tt_evidence_item *t = tt_evidence_table(&n);

	tt_json_key(j, key);
	tt_json_arr(j);
	for (unsigned i = 0; i < n; i++) {
		if (!(ev & (1u << i)))
			continue;
		tt_json_obj(j);
		tt_json_kv_str(j, "id", t[i].id);
		tt_json_key(j, "weight");
		tt_json_num(j, t[i].weight, 1);
		tt_json_kv_str(j, "reason", t[i].reason);
		tt_json_obj_end(j);
	}
	tt_json_arr_end(j);
}

static void json_time(struct tt_json *j, const char *key, uint64_t ns)
{
	char buf[40];

	tt_fmt_time(ns, buf, sizeof(buf));
	tt_json_kv_str(j, key, buf);
}

static void json_relay_flags(struct tt_json *j, const char *key, uint32_t flags)
{
	char buf[200];

	tt_relay_flags_format(flags, buf, sizeof(buf));
	tt_json_kv_str(j, key, buf);
}

#define NO_ROW(...)

/* How each render prints in CSV and in JSON. */
#define CSV_STR(out, v)      csv_field(out, v)
#define CSV_U64(out, v)      fprintf(out, "%" PRIu64, (uint64_t)(v))
#define CSV_TS(out, v)       csv_ts(out, v)
#define CSV_BOOL(out, v)     fputc((v) ? '1' : '0', out)
#define CSV_SCORE(out, v)    fprintf(out, "%.6f", (double)(v))
#define CSV_EVIDENCE(out, v) evidence_ids(out, v)

#define JSON_STR(j, k, v) tt_json_kv_str(j, k, v)
#define JSON_U64(j, k, v) tt_json_kv_u64(j, k, v)
#define JSON_TS(j, k, v)                                                                           \
	do {                                                                                       \
		tt_json_key(j, k);                                                                 \
		tt_json_ts(j, v);                                                                  \
	} while (0)
#define JSON_BOOL(j, k, v)                                                                         \
	do {                                                                                       \
		tt_json_key(j, k);                                                                 \
		tt_json_bool(j, v);                                                                \
	} while (0)
#define JSON_SCORE(j, k, v)                                                                        \
	do {                                                                                       \
		tt_json_key(j, k);                                                                 \
		tt_json_num(j, (double)(v), 6);                                                    \
	} while (0)
#define JSON_PAIR(j, k, v)                                                                         \
	do {                                                                                       \
		tt_json_key(j, k);                                                                 \
		tt_json_arr(j);                                                                    \
		tt_json_u64(j, (v)[0]);                                                            \
		tt_json_u64(j, (v)[1]);                                                            \
		tt_json_arr_end(j);                                                                \
	} while (0)
#define JSON_EVIDENCE(j, k, v)    evidence_json(j, k, v)
#define JSON_TIME(j, k, v)        json_time(j, k, v)
#define JSON_RELAY_FLAGS(j, k, v) json_relay_flags(j, k, v)
#define JSON_TLS(j, k, v)         tls_json(j, k, v)
#define JSON_WEBRTC(j, k, v)      webrtc_json(j, k, v)
#define JSON_RELAY(j, k, v)       relay_json(j, k, v)

/* A row in each format: CSV rows are comma-separated, JSON rows are keys. */
#define CSV_IN_BOTH(render, expr) CSV_IN_CSV(render, expr)
#define CSV_IN_CSV(render, expr)                                                                   \
	if (n_cols++)                                                                              \
		fputc(',', out);                                                                   \
	CSV_##render(out, expr);
#define CSV_IN_JSON(render, expr)
#define CSV_COL(name, where, render, expr) CSV_IN_##where(render, expr)

#define JSON_IN_BOTH(name, render, expr) JSON_##render(j, #name, expr);
#define JSON_IN_JSON(name, render, expr) JSON_##render(j, #name, expr);
#define JSON_IN_CSV(name, render, expr)
#define JSON_COL(name, where, render, expr) JSON_IN_##where(name, render, expr)

#define CSV_NAME_IN_BOTH(name) #name,
#define CSV_NAME_IN_CSV(name)  #name,
#define CSV_NAME_IN_JSON(name)
#define CSV_NAME(name, where, render, expr) CSV_NAME_IN_##where(name)

static const char *const csv_columns[] = {TT_RECORD_ROWS(NO_ROW, CSV_NAME)};

static void tls_json(struct tt_json *j, const char *key, const struct tt_flow_tls *t)
{
	if (!t)
		return;
	tt_json_key(j, key);
	tt_json_obj(j);
	TT_TLS_ROWS(NO_ROW, JSON_COL)
	tt_json_obj_end(j);
}

/* What the UDP inspector saw (UDP flows with STUN or DTLS only; absent otherwise). */
static void webrtc_json(struct tt_json *j, const char *key, const struct tt_flow_record *r)
{
	static const struct {
		uint32_t bit;
		const char *name;
	} facts[] = {
	    {TT_WRTC_STUN, "stun"},
	    {TT_WRTC_STUN_BARE, "stun_bare"},
	    {TT_WRTC_STUN_REPLY, "stun_reply"},
	    {TT_WRTC_ICE, "ice"},
	    {TT_WRTC_DTLS, "dtls"},
	    {TT_WRTC_CH_FWD, "client_hello_fwd"},
	    {TT_WRTC_CH_REV, "client_hello_rev"},
	    {TT_WRTC_SH_FWD, "server_hello_fwd"},
	    {TT_WRTC_SH_REV, "server_hello_rev"},
	    {TT_WRTC_PION_CH, "pion_client_hello"},
	    {TT_WRTC_PION_SH, "pion_server_hello"},
	};
	char hex[9];

	if (!r->webrtc)
		return;
	tt_json_key(j, key);
	tt_json_obj(j);
	for (size_t i = 0; i < sizeof(facts) / sizeof(facts[0]); i++) {
		tt_json_key(j, facts[i].name);
		tt_json_bool(j, (r->webrtc & facts[i].bit) != 0);
	}
	tt_json_key(j, "dtls_app");
	tt_json_u64(j, r->dtls_app);
	tt_json_key(j, "rtp");
	tt_json_u64(j, r->rtp);
	tt_json_key(j, "up_big");
	tt_json_u64(j, r->up_big);
	tt_json_key(j, "up_quantum");
	tt_json_u64(j, r->up_quantum);
	snprintf(hex, sizeof(hex), "%08x", (unsigned)r->ice);
	tt_json_key(j, "ice_id");
	tt_json_str(j, r->ice ? hex : "");
	tt_json_obj_end(j);
}

static void relay_json(struct tt_json *j, const char *key, const struct tt_flow_relay *rl)
{
	if (!rl)
		return;
	tt_json_key(j, key);
	tt_json_obj(j);
	TT_RELAY_ROWS(NO_ROW, JSON_COL)
	tt_json_obj_end(j);
}

static void row_init(struct tt_export_row *x, const struct tt_flow_record *r, const char *file,
    const char *last_file)
{
	x->file = file;
	x->last_file = last_file;
	tt_record_ip_str(r, false, x->src, sizeof(x->src));
	tt_record_ip_str(r, true, x->dst, sizeof(x->dst));
	x->dur = r->last_ts_ns - r->first_ts_ns;
}

static void csv_header(FILE *out)
{
	for (size_t i = 0; i < sizeof(csv_columns) / sizeof(csv_columns[0]); i++)
		fprintf(out, "%s%s", i ? "," : "", csv_columns[i]);
	fputc('\n', out);
}

static void csv_row(
    const struct tt_flow_record *r, const char *file, const char *last_file, FILE *out)
{
	struct tt_export_row row, *x = &row;
	unsigned n_cols = 0;

	row_init(x, r, file, last_file);
	TT_RECORD_ROWS(NO_ROW, CSV_COL)
	fputc('\n', out);
}

void tt_flow_json(
    struct tt_json *j, const struct tt_flow_record *r, const char *file, const char *last_file)
{
	struct tt_export_row row, *x = &row;

	row_init(x, r, file, last_file);
	tt_json_obj(j);
	TT_RECORD_ROWS(NO_ROW, JSON_COL)
	tt_json_obj_end(j);
}

static void print_flow(
    const struct tt_flow_record *r, const struct header *h, int format, FILE *out)
{
	const char *file = r->file_id < h->n_files ? h->files[r->file_id] : "";
	const char *last = r->last_file_id < h->n_files ? h->files[r->last_file_id] : "";

	if (format == TT_EXPORT_CSV) {
		csv_row(r, file, last, out);
	} else {
		struct tt_json j;

		tt_json_init(&j, out, false);
		tt_flow_json(&j, r, file, last);
		fputc('\n', out);
	}
}

/* ---- the reader -----------------------------------------------------------------------
 * Objects are read from a sliding buffer. Each is first walked by tt_record_skim, which
 * finds its end (or what is wrong with it, and where) without allocating, and only then
 * decoded by msgpack-c, so a few bytes cannot make msgpack-c allocate gigabytes. */
enum {
	READ_CHUNK = 1 << 16,
	MAX_RECORD_BYTES = 1 << 16,  /* far above TT_RECORD_MAX_BYTES; other schemas may add keys */
	MAX_HEADER_BYTES = 64 << 20, /* the header lists every input path */
};

struct reader {
	FILE *in;
	const char *name;
	uint8_t *buf;
	size_t cap, len, pos; /* buf[pos, len) is unread */
	uint64_t base;        /* file offset of buf[0] */
	bool is_eof;
};

/* Read more, keeping buf[pos, len). Returns 0, or -errno. */
static int fill(struct reader *rd)
{
	size_t got;

	if (rd->pos > 0) {
		memmove(rd->buf, rd->buf + rd->pos, rd->len - rd->pos);
		rd->base += rd->pos;
		rd->len -= rd->pos;
		rd->pos = 0;
	}
	if (rd->cap - rd->len < READ_CHUNK) {
		size_t cap = rd->cap ? rd->cap * 2 : 2 * READ_CHUNK;
		uint8_t *b = realloc(rd->buf, cap);

		if (!b)
			return -ENOMEM;
		rd->buf = b;
		rd->cap = cap;
	}
	got = fread(rd->buf + rd->len, 1, rd->cap - rd->len, rd->in);
	rd->len += got;
	if (got == 0) {
		if (ferror(rd->in))
			return errno ? -errno : -EIO;
		rd->is_eof = true;
	}
	return 0;
}

/* The iterator of include/tortrace/tortrace.h over one flows file. */
struct tt_flows {
	struct reader rd;
	struct header h;
	msgpack_unpacked u;
	uint64_t n_obj; /* objects read, the header included */
	struct tt_flow_record r;
	struct tt_flow_tls tls;
	struct tt_flow_relay relay;
	bool is_own; /* rd.in was opened here */
	int rc;      /* sticky: the first error, or 1 at the end */
	char *name;
	char error[384];
};

static void set_error(struct tt_flows *it, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void set_error(struct tt_flows *it, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(it->error, sizeof(it->error), "%s: ", it->name);

	va_start(ap, fmt);
	if (n > 0 && (size_t)n < sizeof(it->error))
		vsnprintf(it->error + n, sizeof(it->error) - (size_t)n, fmt, ap);
	va_end(ap);
}

static void report_skim(struct tt_flows *it, const struct tt_skim_fault *f, uint64_t start,
    uint64_t n_rec, bool is_too_large)
{
	const struct reader *rd = &it->rd;
	char what[48], key[64] = "";
	uint64_t at = start + f->off;

	if (n_rec)
		snprintf(what, sizeof(what), "record %" PRIu64, n_rec);
	else
		snprintf(what, sizeof(what), "the header");
	if (f->key[0])
		snprintf(key, sizeof(key), ", in key \"%s\"", f->key);
	switch (f->kind) {
	case TT_SKIM_OVERSIZE:
		set_error(it,
		    "string of %" PRIu64 " bytes in key \"%s\" at byte offset %" PRIu64
		    " exceeds the schema (at most %" PRIu64 "; %s)",
		    f->n, f->key, at, f->max, what);
		break;
	case TT_SKIM_BAD_BYTE:
		if (!n_rec && f->off == 0)
			set_error(it, "not a tortrace flows file (byte 0: 0x%02x is not msgpack)",
			    rd->buf[rd->pos + f->off]);
		else
			set_error(it,
			    "byte 0x%02x at byte offset %" PRIu64 " is not msgpack (%s%s)",
			    rd->buf[rd->pos + f->off], at, what, key);
		break;
	case TT_SKIM_TOO_DEEP:
		set_error(it, "containers nested too deep at byte offset %" PRIu64 " (%s%s)", at,
		    what, key);
		break;
	default:
		if (is_too_large)
			set_error(it, "%s at byte offset %" PRIu64 " is larger than %d bytes", what,
			    start, n_rec ? MAX_RECORD_BYTES : MAX_HEADER_BYTES);
		else if (n_rec)
			set_error(it,
			    "truncated record at byte offset %" PRIu64 " (record %" PRIu64
			    "): the file ends at byte %" PRIu64 "%s",
			    start, n_rec, rd->base + rd->len, key);
		else
			set_error(it,
			    "truncated header: the file ends at byte %" PRIu64
			    ", not a whole tortrace flows file",
			    rd->base + rd->len);
	}
}

/* Read the next object: 1 and its start offset, 0 at the end, or -errno / -EBADMSG with
 * it->error set. */
static int next_object(struct tt_flows *it, uint64_t *start)
{
	struct reader *rd = &it->rd;
	int rc;

	for (;;) {
		struct tt_skim_fault f;
		size_t end = 0, off = 0, lim, avail;

		*start = rd->base + rd->pos;
		if (rd->pos == rd->len && !rd->is_eof && (rc = fill(rd)) < 0) {
			set_error(it, "read error at byte offset %" PRIu64 ": %s",
			    rd->base + rd->len, strerror(-rc));
			return rc;
		}
		if (rd->pos == rd->len) {
			if (it->n_obj == 0) {
				set_error(it, "empty file, not a tortrace flows file");
				return -EBADMSG;
			}
			return 0;
		}
		/* An object is at most lim bytes, wherever the buffer happens to end. */
		lim = it->n_obj ? MAX_RECORD_BYTES : MAX_HEADER_BYTES;
		avail = rd->len - rd->pos < lim ? rd->len - rd->pos : lim;
		rc = tt_record_skim(rd->buf + rd->pos, avail, it->n_obj > 0, &end, &f);
		if (rc == -EAGAIN && !rd->is_eof && avail < lim) {
			if ((rc = fill(rd)) < 0) {
				set_error(it, "read error at byte offset %" PRIu64 ": %s",
				    rd->base + rd->len, strerror(-rc));
				return rc;
			}
			continue;
		}
		if (rc < 0) {
			report_skim(it, &f, *start, it->n_obj, avail == lim);
			return -EBADMSG;
		}
		if (msgpack_unpack_next(&it->u, (const char *)rd->buf + rd->pos, end, &off) !=
			MSGPACK_UNPACK_SUCCESS ||
		    off != end) {
			set_error(
			    it, "msgpack-c cannot read the object at byte offset %" PRIu64, *start);
			return -EBADMSG;
		}
		rd->pos += end;
		it->n_obj++;
		return 1;
	}
}

static struct tt_flows *flows_new(FILE *in, const char *name, bool is_own)
{
	struct tt_flows *it = calloc(1, sizeof(*it));

	if (!it || !(it->name = strdup(name))) {
		free(it);
		return NULL;
	}
	it->rd.in = in;
	it->rd.name = it->name;
	it->is_own = is_own;
	msgpack_unpacked_init(&it->u);
	return it;
}

/* Read the header; 0 or a negative errno with it->error set (sticky). */
static int flows_start(struct tt_flows *it)
{
	uint64_t start;
	char why[160];
	int rc = next_object(it, &start);

	if (rc == 0) { /* cannot happen: an empty file is an error */
		rc = -EBADMSG;
	} else if (rc > 0) {
		rc = read_header(&it->u.data, it->rd.buf[0], &it->h, why, sizeof(why));
		if (rc == -EBADMSG)
			set_error(it, "%s", why);
		else if (rc < 0)
			set_error(it, "%s", strerror(-rc));
	}
	return it->rc = rc < 0 ? rc : 0;
}

int tt_flows_open(const char *path, struct tt_flows **out)
{
	struct stat st;
	FILE *in = fopen(path, "rb");
	struct tt_flows *it;
	int err = errno;

	*out = it = flows_new(in, path, true);
	if (!it) {
		if (in)
			fclose(in);
		return -ENOMEM;
	}
	if (!in) {
		set_error(it, "cannot open: %s", strerror(err));
		return it->rc = -err;
	}
	if (fstat(fileno(in), &st) == 0 && S_ISDIR(st.st_mode)) {
		set_error(it, "is a directory, not a tortrace flows file");
		return it->rc = -EISDIR;
	}
	return flows_start(it);
}

int tt_flows_next(struct tt_flows *it, const struct tt_flow_record **r)
{
	uint64_t start;
	char why[160];
	int rc;

	*r = NULL;
	if (it->rc)
		return it->rc < 0 ? it->rc : 0;
	rc = next_object(it, &start);
	if (rc <= 0) {
		it->rc = rc < 0 ? rc : 1;
		return rc;
	}
	if (tt_record_unpack_why(&it->u.data, &it->r, &it->tls, &it->relay, why, sizeof(why)) < 0) {
		set_error(it,
		    "record %" PRIu64 " at byte offset %" PRIu64 " is not a flow record: %s",
		    it->n_obj - 1, start, why);
		return it->rc = -EBADMSG;
	}
	*r = &it->r;
	return 1;
}

const char *tt_flows_error(const struct tt_flows *it)
{
	return it && it->rc < 0 ? it->error : NULL;
}

size_t tt_flows_n_files(const struct tt_flows *it)
{
	return it ? it->h.n_files : 0;
}

const char *tt_flows_file(const struct tt_flows *it, uint32_t file_id)
{
	return it && file_id < it->h.n_files ? it->h.files[file_id] : NULL;
}

size_t tt_flows_json(
    const struct tt_flows *it, const struct tt_flow_record *r, char *buf, size_t len)
{
	const char *file = tt_flows_file(it, r->file_id),
		   *last = tt_flows_file(it, r->last_file_id);
	char *mem = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&mem, &n);
	struct tt_json j;

	if (!f)
		return 0;
	tt_json_init(&j, f, false);
	tt_flow_json(&j, r, file ? file : "", last ? last : "");
	fclose(f);
	if (len > 0) {
		size_t k = n < len - 1 ? n : len - 1;

		memcpy(buf, mem, k);
		buf[k] = 0;
	}
	free(mem);
	return n;
}

void tt_flows_close(struct tt_flows *it)
{
	if (!it)
		return;
	msgpack_unpacked_destroy(&it->u);
	free_header(&it->h);
	free(it->rd.buf);
	if (it->is_own && it->rd.in)
		fclose(it->rd.in);
	free(it->name);
	free(it);
}

int tt_export_stream(FILE *in, const char *name, int format, FILE *out)
{
	struct tt_flows *it = flows_new(in, name, false);
	const struct tt_flow_record *r;
	int rc;

	if (!it) {
		tt_log(TT_LOG_ERROR, "%s: out of memory", name);
		return -ENOMEM;
	}
	if (format == TT_EXPORT_CSV)
		csv_header(out);
	if ((rc = flows_start(it)) == 0)
		while ((rc = tt_flows_next(it, &r)) > 0)
			print_flow(r, &it->h, format, out);
	if (rc < 0)
		tt_log(TT_LOG_ERROR, "%s", it->error);
	tt_flows_close(it);
	return rc < 0 ? rc : 0;
}

int tt_export(const char *path, int format, FILE *out)
{
	struct tt_flows *it = NULL;
	const struct tt_flow_record *r;
	int rc = tt_flows_open(path, &it);

	if (!it) {
		tt_log(TT_LOG_ERROR, "%s: out of memory", path);
		return -ENOMEM;
	}
	if (rc == 0 && format == TT_EXPORT_CSV)
		csv_header(out);
	if (rc == 0)
		while ((rc = tt_flows_next(it, &r)) > 0)
			print_flow(r, &it->h, format, out);
	if (rc < 0)
		tt_log(TT_LOG_ERROR, "%s", it->error);
	tt_flows_close(it);
	return rc < 0 ? rc : 0;
}
