/* `tortrace export`: flows.msgpack → JSON lines or CSV, one flow a line. */
#include "aggregate.h"

#include "relays.h"

#include <errno.h>
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

struct print_ctx {
	int format; /* enum tt_export_format */
	FILE *out;
};

static int print_flow(void *ctx, const struct tt_flow_record *r, const char *file, const char *last)
{
	const struct print_ctx *pc = ctx;

	if (pc->format == TT_EXPORT_CSV) {
		csv_row(r, file, last, pc->out);
	} else {
		struct tt_json j;

		tt_json_init(&j, pc->out, false);
		tt_flow_json(&j, r, file, last);
		fputc('\n', pc->out);
	}
	return 0;
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

static void report_skim(const struct reader *rd, const struct tt_skim_fault *f, uint64_t start,
    uint64_t n_rec, bool is_too_large)
{
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
		tt_log(TT_LOG_ERROR,
		    "%s: string of %" PRIu64 " bytes in key \"%s\" at byte offset %" PRIu64
		    " exceeds the schema (at most %" PRIu64 "; %s)",
		    rd->name, f->n, f->key, at, f->max, what);
		break;
	case TT_SKIM_BAD_BYTE:
		if (!n_rec && f->off == 0)
			tt_log(TT_LOG_ERROR,
			    "%s: not a tortrace flows file (byte 0: 0x%02x is not msgpack)",
			    rd->name, rd->buf[rd->pos + f->off]);
		else
			tt_log(TT_LOG_ERROR,
			    "%s: byte 0x%02x at byte offset %" PRIu64 " is not msgpack (%s%s)",
			    rd->name, rd->buf[rd->pos + f->off], at, what, key);
		break;
	case TT_SKIM_TOO_DEEP:
		tt_log(TT_LOG_ERROR,
		    "%s: containers nested too deep at byte offset %" PRIu64 " (%s%s)", rd->name,
		    at, what, key);
		break;
	default:
		if (is_too_large)
			tt_log(TT_LOG_ERROR,
			    "%s: %s at byte offset %" PRIu64 " is larger than %d bytes", rd->name,
			    what, start, n_rec ? MAX_RECORD_BYTES : MAX_HEADER_BYTES);
		else if (n_rec)
			tt_log(TT_LOG_ERROR,
			    "%s: truncated record at byte offset %" PRIu64 " (record %" PRIu64
			    "): the file ends at byte %" PRIu64 "%s",
			    rd->name, start, n_rec, rd->base + rd->len, key);
		else
			tt_log(TT_LOG_ERROR,
			    "%s: truncated header: the file ends at byte %" PRIu64
			    ", not a whole tortrace flows file",
			    rd->name, rd->base + rd->len);
	}
}

int tt_flows_read_stream(FILE *in, const char *name, tt_flows_fn fn, void *ctx)
{
	struct reader rd = {.in = in, .name = name};
	struct header h = {0};
	msgpack_unpacked u;
	uint64_t n_obj = 0;
	int rc = 0;

	msgpack_unpacked_init(&u);
	for (;;) {
		struct tt_skim_fault f;
		uint64_t start = rd.base + rd.pos;
		size_t end = 0, off = 0, lim, avail;
		char why[160];

		if (rd.pos == rd.len && !rd.is_eof && (rc = fill(&rd)) < 0) {
			tt_log(TT_LOG_ERROR, "%s: read error at byte offset %" PRIu64 ": %s", name,
			    rd.base + rd.len, strerror(-rc));
			break;
		}
		if (rd.pos == rd.len) {
			if (n_obj == 0) {
				rc = -EBADMSG;
				tt_log(TT_LOG_ERROR, "%s: empty file, not a tortrace flows file",
				    name);
			}
			break;
		}
		/* An object is at most lim bytes, wherever the buffer happens to end. */
		lim = n_obj ? MAX_RECORD_BYTES : MAX_HEADER_BYTES;
		avail = rd.len - rd.pos < lim ? rd.len - rd.pos : lim;
		rc = tt_record_skim(rd.buf + rd.pos, avail, n_obj > 0, &end, &f);
		if (rc == -EAGAIN && !rd.is_eof && avail < lim) {
			if ((rc = fill(&rd)) < 0) {
				tt_log(TT_LOG_ERROR,
				    "%s: read error at byte offset %" PRIu64 ": %s", name,
				    rd.base + rd.len, strerror(-rc));
				break;
			}
			continue;
		}
		if (rc < 0) {
			report_skim(&rd, &f, start, n_obj, avail == lim);
			rc = -EBADMSG;
			break;
		}
		if (msgpack_unpack_next(&u, (const char *)rd.buf + rd.pos, end, &off) !=
			MSGPACK_UNPACK_SUCCESS ||
		    off != end) {
			rc = -EBADMSG;
			tt_log(TT_LOG_ERROR,
			    "%s: msgpack-c cannot read the object at byte offset %" PRIu64, name,
			    start);
			break;
		}
		if (n_obj++ == 0) {
			rd.pos += end;
			rc = read_header(&u.data, rd.buf[0], &h, why, sizeof(why));
			if (rc < 0) {
				if (rc == -EBADMSG)
					tt_log(TT_LOG_ERROR, "%s: %s", name, why);
				break;
			}
			continue;
		}
		rd.pos += end;
		{
			struct tt_flow_record r;
			struct tt_flow_tls tls;
			struct tt_flow_relay relay;

			if (tt_record_unpack_why(&u.data, &r, &tls, &relay, why, sizeof(why)) < 0) {
				rc = -EBADMSG;
				tt_log(TT_LOG_ERROR,
				    "%s: record %" PRIu64 " at byte offset %" PRIu64
				    " is not a flow record: %s",
				    name, n_obj - 1, start, why);
				break;
			}
			rc = fn(ctx, &r, r.file_id < h.n_files ? h.files[r.file_id] : "",
			    r.last_file_id < h.n_files ? h.files[r.last_file_id] : "");
			if (rc < 0)
				break;
		}
	}
	msgpack_unpacked_destroy(&u);
	free_header(&h);
	free(rd.buf);
	return rc;
}

int tt_export_stream(FILE *in, const char *name, int format, FILE *out)
{
	struct print_ctx pc = {.format = format, .out = out};

	if (format == TT_EXPORT_CSV)
		csv_header(out);
	return tt_flows_read_stream(in, name, print_flow, &pc);
}

/* Open a flows file for reading: 0 and *in, or -errno with a message. */
static int open_flows(const char *path, FILE **in)
{
	struct stat st;
	int rc;

	*in = fopen(path, "rb");
	if (!*in) {
		rc = -errno;
		tt_log(TT_LOG_ERROR, "%s: cannot open: %s", path, strerror(errno));
		return rc;
	}
	if (fstat(fileno(*in), &st) == 0 && S_ISDIR(st.st_mode)) {
		tt_log(TT_LOG_ERROR, "%s: is a directory, not a tortrace flows file", path);
		fclose(*in);
		*in = NULL;
		return -EISDIR;
	}
	return 0;
}

int tt_flows_read(const char *path, tt_flows_fn fn, void *ctx)
{
	FILE *in;
	int rc = open_flows(path, &in);

	if (rc < 0)
		return rc;
	rc = tt_flows_read_stream(in, path, fn, ctx);
	fclose(in);
	return rc;
}

int tt_export(const char *path, int format, FILE *out)
{
	FILE *in;
	int rc = open_flows(path, &in);

	if (rc < 0)
		return rc;
	rc = tt_export_stream(in, path, format, out);
	fclose(in);
	return rc;
}
