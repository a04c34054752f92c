/* `tortrace diagnose FILE... [--json]`: explain a capture without a full report.
 *
 * Each capture gets two passes. The header pass reads it with the reader's capture API
 * (format, compression, link types, snap lengths, time span, packets cut by the snap
 * length, the protocol mix from tt_decode, and the first bad record with its byte
 * offset). The engine pass runs the real tt_analyze() on the file alone into a temporary
 * folder and reads its flows.msgpack (flows, TLS hellos and versions, mid-stream links,
 * hellos cut by the snap length — TT_FLOW_HELLO_CUT, set by the worker —, verdicts and
 * candidates), so the diagnosis never disagrees with what `analyze` would find. With
 * --relays, the relay data's documents are laid against the capture's time span.
 *
 * The findings are the plain answer to "why no Tor here?": an ordered list of
 * {code, sentence} built from those numbers by findings(). Command-line code: it writes
 * to stdout (the result) and stderr (errors). */
#include "cli.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tortrace/tortrace.h"
#include "tortrace/record.h"
#include "core.h"
#include "reader.h"
#include "relays.h"
#include "aggregate.h"

#define NS_PER_S     1000000000ull
#define MAX_TUNNELS  4
#define MAX_SNAPLENS 8
#define MAX_FINDINGS 16
#define N_VERSIONS   6 /* ssl3, tls1.0 .. tls1.3, other */

static const uint16_t version_codes[N_VERSIONS - 1] = {0x0300, 0x0301, 0x0302, 0x0303, 0x0304};

struct finding {
	const char *code;
	char text[400];
};

/* Everything known about one input; filled by header_pass(), engine_pass() and
 * relay_cover(), read by findings() and the printers. */
struct diag {
	const char *path;
	/* header pass */
	bool is_opened;   /* source and capture header could be read */
	bool has_error;   /* unreadable, or a bad record before the end */
	char error[480];  /* "... at byte offset N" */
	uint64_t err_off; /* with has_error */
	int format, comp;
	uint32_t linktypes[TT_MAX_LINKTYPES];
	uint64_t lt_pkts[TT_MAX_LINKTYPES];
	uint32_t n_linktypes;
	uint32_t snaplens[MAX_SNAPLENS], n_snaplens;
	uint32_t max_caplen;
	uint64_t first_ns, last_ns;
	uint64_t n_pkts, n_bytes, n_cap_bytes, n_cut, n_over_snaplen;
	uint64_t n_ipv4, n_ipv6, n_non_ip, n_hdr_truncated, n_bad_link;
	uint64_t n_tcp, n_udp, n_frags, n_other_ip;
	uint64_t n_tunnelled; /* packets inside a UDP tunnel (also counted as the outer) */
	uint64_t ip_protos[256];
	uint64_t n_tcp_payload;      /* TCP packets with payload on the wire */
	uint64_t n_tcp_payload_none; /* ... of which no payload byte was captured */
	uint64_t n_tcp_payload_cut;  /* ... of which some, not all, was captured */
	/* engine pass */
	bool has_engine; /* flows.msgpack was read */
	int engine_status;
	uint64_t n_flows, n_flows_tcp, n_flows_udp;
	uint64_t n_tcp_data;      /* TCP flows with payload */
	uint64_t n_tcp_handshake; /* ... whose SYN or SYN-ACK was captured */
	uint64_t n_tcp_midstream; /* ... begun before the capture (neither captured) */
	uint64_t apps[TT_APP_COUNT];
	uint64_t n_tls, n_tls_hello, n_tls_complete, n_tls_midstream, n_hello_cut;
	uint64_t versions[N_VERSIONS];
	uint64_t verdicts[TT_VERDICT_COUNT], candidates[TT_VERDICT_COUNT];
	uint64_t n_tor, n_cand, n_relay_matches;
	/* relay coverage */
	const char *coverage; /* "full", "partial", "near", "none", "undated", "unknown" */
	uint64_t covered_ns, gap_ns;
	bool is_gap_before; /* "none"/"near": the relay data ends before the capture starts */
	struct finding findings[MAX_FINDINGS];
	unsigned n_findings;
};

/* The relay data of the run, loaded once. */
struct relay_data {
	const char *path, *cache;
	struct tt_relays *idx;
	bool is_empty;
	char why_empty[256];
	uint64_t earliest_ns, latest_ns;
	uint64_t (*iv)[2]; /* merged dated validity intervals, sorted */
	size_t n_iv;
	bool has_undated;
};

/* ---- small helpers -------------------------------------------------------------------- */

static void fmt_time(uint64_t ns, char *buf, size_t len)
{
	time_t sec = (time_t)(ns / NS_PER_S);
	struct tm tm;
	char day[32];

	gmtime_r(&sec, &tm);
	strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%s.%03uZ", day, (unsigned)(ns % NS_PER_S / 1000000));
}

/* A duration for a sentence: "49.7 s", "3.2 h", "12.5 days". */
static void fmt_dur(uint64_t ns, char *buf, size_t len)
{
	double s = (double)ns / 1e9;

	if (s < 120)
		snprintf(buf, len, "%.1f s", s);
	else if (s < 7200)
		snprintf(buf, len, "%.1f min", s / 60);
	else if (s < 3 * 86400)
		snprintf(buf, len, "%.1f h", s / 3600);
	else
		snprintf(buf, len, "%.1f days", s / 86400);
}

static const char *comp_name(int comp)
{
	return comp == TT_COMP_GZIP ? "gzip" : comp == TT_COMP_ZSTD ? "zstd" : "none";
}

static const char *version_name(unsigned i)
{
	return i < N_VERSIONS - 1 ? tt_tls_version_name(version_codes[i]) : "other";
}

static void add_finding(struct diag *d, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void add_finding(struct diag *d, const char *code, const char *fmt, ...)
{
	va_list ap;
	struct finding *f;

	if (d->n_findings >= MAX_FINDINGS)
		return;
	f = &d->findings[d->n_findings++];
	f->code = code;
	va_start(ap, fmt);
	vsnprintf(f->text, sizeof(f->text), fmt, ap);
	va_end(ap);
}

/* "tor 3, tor-dir 1" from counts by enum tt_verdict (none left out). */
static void verdict_list(const uint64_t *v, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (unsigned i = 1; i < TT_VERDICT_COUNT && n < len; i++)
		if (v[i])
			n += (size_t)snprintf(buf + n, len - n, "%s%s %" PRIu64, n ? ", " : "",
			    tt_verdict_name(i), v[i]);
}

/* ---- header pass -------------------------------------------------------------------------- */

static void release(void *ctx, struct tt_chunk *c)
{
	(void)ctx;
	tt_chunk_put(c);
}

static void set_error(
    struct diag *d, const char *msg, uint64_t off, const struct tt_source *s, bool is_source_err)
{
	d->has_error = true;
	d->err_off = off;
	if (is_source_err && s->comp > TT_COMP_PLAIN)
		snprintf(d->error, sizeof(d->error),
		    "%s at byte offset %" PRIu64
		    " of the decompressed data (compressed offset %" PRIu64 ")",
		    msg, off, s->err_raw_off);
	else
		snprintf(d->error, sizeof(d->error), "%s at byte offset %" PRIu64 "%s", msg, off,
		    s->comp > TT_COMP_PLAIN ? " of the decompressed data" : "");
}

/* A decoded TCP packet: does it carry payload on the wire, and was it kept? */
static void note_tcp_payload(struct diag *d, const struct tt_decoded *dec)
{
	uint32_t hdr, pay_wire, cap_l4;

	if (dec->proto != 6 || dec->l3_caplen < (uint32_t)dec->l4_off + 13)
		return;
	hdr = (uint32_t)(dec->l3[dec->l4_off + 12] >> 4) * 4;
	pay_wire = dec->l4_len > hdr ? dec->l4_len - hdr : 0;
	cap_l4 = dec->l3_caplen - dec->l4_off;
	if (pay_wire == 0)
		return;
	d->n_tcp_payload++;
	if (cap_l4 <= hdr)
		d->n_tcp_payload_none++;
	else if (cap_l4 - hdr < pay_wire)
		d->n_tcp_payload_cut++;
}

static void note_frame(struct diag *d, const struct tt_frame *f)
{
	struct tt_decoded dec;
	uint32_t i;
	int rc;

	d->n_pkts++;
	d->n_bytes += f->wirelen;
	d->n_cap_bytes += f->caplen;
	if (f->caplen < f->wirelen)
		d->n_cut++;
	if (f->caplen > d->max_caplen)
		d->max_caplen = f->caplen;
	if (d->n_pkts == 1 || f->ts_ns < d->first_ns)
		d->first_ns = f->ts_ns;
	if (f->ts_ns > d->last_ns)
		d->last_ns = f->ts_ns;
	for (i = 0; i < d->n_linktypes && d->linktypes[i] != f->linktype; i++)
		;
	if (i == d->n_linktypes && i < TT_MAX_LINKTYPES)
		d->linktypes[d->n_linktypes++] = f->linktype;
	if (i < d->n_linktypes)
		d->lt_pkts[i]++;
	rc = tt_decode(f->linktype, f->data, f->caplen, &dec);
	if (rc == TT_DEC_FLOW || rc == TT_DEC_FRAG || rc == TT_DEC_OTHER_IP) {
		if (dec.ip_version == 6)
			d->n_ipv6++;
		else
			d->n_ipv4++;
	}
	switch (rc) {
	case TT_DEC_FLOW:
		if (dec.proto == 17)
			d->n_udp++;
		else if (dec.proto == 6)
			d->n_tcp++;
		note_tcp_payload(d, &dec);
		/* UDP tunnels: the packet counts once, as the outer protocol (as in analyze's
		 * report); a TCP packet inside is checked for its payload like any other. */
		for (int depth = 0; rc == TT_DEC_FLOW && dec.proto == 17 && depth < MAX_TUNNELS;
		     depth++) {
			rc = tt_decode_tunnel(&dec, &dec);
			if (rc < 0)
				break;
			d->n_tunnelled++;
			if (rc == TT_DEC_FLOW)
				note_tcp_payload(d, &dec);
		}
		break;
	case TT_DEC_FRAG:
		d->n_frags++;
		break;
	case TT_DEC_OTHER_IP:
		d->n_other_ip++;
		d->ip_protos[dec.proto]++;
		break;
	case TT_DEC_NON_IP:
		d->n_non_ip++;
		break;
	case TT_DEC_TRUNCATED:
		d->n_hdr_truncated++;
		break;
	default:
		d->n_bad_link++;
		break;
	}
}

static void header_pass(struct diag *d, const atomic_bool *stop)
{
	struct tt_source s;
	struct tt_capture cap;
	struct tt_frame f;
	struct stat st;
	int rc;

	memset(&cap, 0, sizeof(cap));
	d->format = -1;
	/* Both passes read the file: a pipe or a device would give the second nothing. */
	if (stat(d->path, &st) == 0 && !S_ISREG(st.st_mode)) {
		d->has_error = true;
		snprintf(d->error, sizeof(d->error),
		    "not a regular file (diagnose reads each file twice)");
		return;
	}
	rc = tt_source_open(&s, d->path, release, NULL);
	if (rc < 0) {
		d->has_error = true;
		snprintf(d->error, sizeof(d->error), "%s", s.err[0] ? s.err : strerror(-rc));
		return;
	}
	d->comp = s.comp;
	rc = tt_capture_open(&cap, &s);
	if (rc < 0) {
		set_error(d, cap.err, cap.err_off, &s, cap.is_source_err);
		goto out;
	}
	d->is_opened = true;
	d->format = cap.format;
	while ((rc = tt_capture_next(&cap, &s, &f)) == 1) {
		note_frame(d, &f);
		if ((d->n_pkts & 4095) == 0 && stop && atomic_load(stop))
			break;
	}
	if (rc < 0)
		set_error(d, cap.err, cap.err_off, &s, cap.is_source_err);
	d->n_over_snaplen = cap.n_caplen_over_snaplen;
	/* Snap lengths of the file header or of the pcapng IDBs seen (0 there: no limit). */
	for (uint32_t i = 0; i < cap.n_ifaces; i++) {
		uint32_t k;

		for (k = 0; k < d->n_snaplens && d->snaplens[k] != cap.ifaces[i].snaplen; k++)
			;
		if (k == d->n_snaplens && k < MAX_SNAPLENS)
			d->snaplens[d->n_snaplens++] = cap.ifaces[i].snaplen;
	}
out:
	tt_capture_close(&cap);
	tt_source_close(&s);
}

/* ---- engine pass -------------------------------------------------------------------------- */

static const char *file_of(const struct tt_flows *it, uint32_t id)
{
	const char *p = tt_flows_file(it, id);

	return p ? p : "";
}

static int on_flow(void *ctx, const struct tt_flow_record *r, const char *file, const char *last)
{
	struct diag *d = ctx;
	const struct tt_flow_tls *t = r->tls;
	bool is_tls;

	(void)file;
	(void)last;
	d->n_flows++;
	if (r->proto == 6) {
		d->n_flows_tcp++;
		if (r->payload_bytes[0] + r->payload_bytes[1] > 0) {
			d->n_tcp_data++;
			if (r->initiator == TT_INIT_SYN)
				d->n_tcp_handshake++;
			else
				d->n_tcp_midstream++;
		}
	} else if (r->proto == 17) {
		d->n_flows_udp++;
	}
	d->apps[r->app[0] != TT_APP_NONE ? r->app[0] : r->app[1]]++;
	is_tls = r->app[0] == TT_APP_TLS || r->app[1] == TT_APP_TLS ||
		 (t && t->is_midstream && t->ms_app[0] + t->ms_app[1] > 0);
	if (is_tls) {
		d->n_tls++;
		if (r->flags & TT_FLOW_HELLO_CUT)
			d->n_hello_cut++;
	}
	if (t) {
		d->n_tls_hello += t->has_ch;
		d->n_tls_complete += t->has_ch && t->has_sh;
		d->n_tls_midstream += is_tls && t->is_midstream;
		if (t->has_sh) {
			unsigned i;

			for (i = 0; i < N_VERSIONS - 1 && version_codes[i] != t->version; i++)
				;
			d->versions[i]++;
		}
	}
	if (r->verdict < TT_VERDICT_COUNT && r->verdict != TT_VERDICT_NONE) {
		d->verdicts[r->verdict]++;
		d->n_tor++;
	}
	if (r->candidate < TT_VERDICT_COUNT && r->candidate != TT_VERDICT_NONE) {
		d->candidates[r->candidate]++;
		d->n_cand++;
	}
	d->n_relay_matches += r->relay != NULL;
	return 0;
}

/* Remove the temporary OUT folder and whatever tt_analyze() left in it. */
static void remove_dir(const char *dir)
{
	DIR *dh = opendir(dir);
	struct dirent *e;
	char p[4096 + 256 + 2];

	if (dh) {
		while ((e = readdir(dh)) != NULL) {
			if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
				continue;
			snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
			unlink(p);
		}
		closedir(dh);
	}
	rmdir(dir);
}

/* Run tt_analyze() on the file alone into a fresh folder under $TMPDIR, read its flows,
 * remove the folder. The engine's own messages are silenced: the header pass already
 * names the file's fault and its offset. */
static void engine_pass(
    struct diag *d, const struct relay_data *rd, int log_level, const atomic_bool *stop)
{
	const char *tmp = getenv("TMPDIR");
	char dir[4096], flows[4096 + 16];
	struct tt_config cfg;
	const char *paths[1] = {d->path};
	int rc;

	snprintf(dir, sizeof(dir), "%s/tortrace-diagnose.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		fprintf(stderr, "tortrace: diagnose: cannot create a folder in %s: %s\n",
		    tmp && *tmp ? tmp : "/tmp", strerror(errno));
		return;
	}
	tt_config_defaults(&cfg);
	cfg.paths = paths;
	cfg.n_paths = 1;
	cfg.out_dir = dir;
	cfg.relays_path = rd->idx && !rd->is_empty ? rd->path : NULL;
	cfg.relays_cache = cfg.relays_path ? rd->cache : NULL;
	cfg.is_quiet = true;
	cfg.is_no_chain = true;
	cfg.hash_mode = -1;
	cfg.stop = stop;
	tt_log_set_level(-1);
	d->engine_status = tt_analyze(&cfg);
	tt_log_set_level(log_level);
	snprintf(flows, sizeof(flows), "%s/flows.msgpack", dir);
	if (access(flows, F_OK) == 0) {
		struct tt_flows *it = NULL;
		const struct tt_flow_record *r;

		rc = tt_flows_open(flows, &it);
		if (it && rc == 0)
			while ((rc = tt_flows_next(it, &r)) > 0 &&
			       (rc = on_flow(d, r, file_of(it, r->file_id),
				    file_of(it, r->last_file_id))) == 0)
				;
		tt_flows_close(it);
		d->has_engine = rc == 0;
	}
	remove_dir(dir);
}

/* ---- relay data ------------------------------------------------------------------------- */

static int cmp_iv(const void *a, const void *b)
{
	const uint64_t *x = a, *y = b;

	return x[0] < y[0] ? -1 : x[0] > y[0];
}

/* Load the relay data and merge its documents' validity into sorted intervals (exit
 * lists: 24 h before the first scan to 48 h after the last, as lookups match them).
 * Returns 0 or -errno with a message. */
static int relays_load(struct relay_data *rd)
{
	struct tt_relays_info in;
	size_t n = 0, n_docs;
	int rc = tt_relays_open(rd->path, rd->cache, &rd->idx);

	if (rc < 0) {
		fprintf(stderr, "tortrace: diagnose: cannot load relay data %s: %s\n", rd->path,
		    strerror(-rc));
		return rc;
	}
	tt_relays_get_info(rd->idx, &in);
	rd->earliest_ns = in.earliest_ns;
	rd->latest_ns = in.latest_ns;
	rd->is_empty = tt_relays_is_empty(rd->idx);
	if (rd->is_empty)
		tt_relays_describe_empty(rd->idx, rd->why_empty, sizeof(rd->why_empty));
	n_docs = tt_relays_n_docs(rd->idx);
	rd->iv = calloc(n_docs ? n_docs : 1, sizeof(*rd->iv));
	if (!rd->iv)
		return -ENOMEM;
	for (size_t i = 0; i < n_docs; i++) {
		struct tt_relays_doc doc;
		uint64_t from, to;

		if (tt_relays_doc(rd->idx, i, &doc) < 0 || doc.is_failed ||
		    doc.source == TT_RELAYS_SRC_NONE || doc.n_entries == 0)
			continue;
		if (doc.source == TT_RELAYS_SRC_IPLIST) {
			rd->has_undated = true;
			continue;
		}
		from = doc.valid_after_ns;
		to = doc.valid_until_ns > from ? doc.valid_until_ns : from;
		if (doc.source == TT_RELAYS_SRC_EXITLIST) {
			from = from > TT_RELAYS_DAY_NS ? from - TT_RELAYS_DAY_NS : 0;
			to += 2 * TT_RELAYS_DAY_NS;
		}
		if (from == 0 && to == 0)
			continue;
		rd->iv[n][0] = from;
		rd->iv[n][1] = to;
		n++;
	}
	qsort(rd->iv, n, sizeof(*rd->iv), cmp_iv);
	rd->n_iv = 0;
	for (size_t i = 0; i < n; i++) {
		if (rd->n_iv && rd->iv[i][0] <= rd->iv[rd->n_iv - 1][1]) {
			if (rd->iv[i][1] > rd->iv[rd->n_iv - 1][1])
				rd->iv[rd->n_iv - 1][1] = rd->iv[i][1];
		} else {
			rd->iv[rd->n_iv][0] = rd->iv[i][0];
			rd->iv[rd->n_iv][1] = rd->iv[i][1];
			rd->n_iv++;
		}
	}
	return 0;
}

/* How the relay data's validity covers [first_ns, last_ns] (a single instant when equal). */
static void relay_cover(struct diag *d, const struct relay_data *rd)
{
	uint64_t t0 = d->first_ns, t1 = d->last_ns, best = UINT64_MAX;

	if (!rd->idx) {
		d->coverage = NULL;
		return;
	}
	if (d->n_pkts == 0) {
		d->coverage = "unknown";
		return;
	}
	if (rd->n_iv == 0) {
		d->coverage = rd->has_undated ? "undated" : "none";
		return;
	}
	for (size_t i = 0; i < rd->n_iv; i++) {
		uint64_t a = rd->iv[i][0] > t0 ? rd->iv[i][0] : t0;
		uint64_t b = rd->iv[i][1] < t1 ? rd->iv[i][1] : t1;

		if (t0 == t1 && rd->iv[i][0] <= t0 && t0 <= rd->iv[i][1])
			d->covered_ns = 1;
		else if (b > a)
			d->covered_ns += b - a;
		if (rd->iv[i][1] < t0 && t0 - rd->iv[i][1] < best) {
			best = t0 - rd->iv[i][1];
			d->is_gap_before = true;
		} else if (rd->iv[i][0] > t1 && rd->iv[i][0] - t1 < best) {
			best = rd->iv[i][0] - t1;
			d->is_gap_before = false;
		}
	}
	if (d->covered_ns > 0) {
		d->coverage = t0 == t1 || d->covered_ns >= t1 - t0 ? "full" : "partial";
		return;
	}
	d->gap_ns = best;
	d->coverage = best <= TT_RELAYS_DAY_NS ? "near" : "none";
}

/* ---- findings ----------------------------------------------------------------------------- */

/* Most TCP payload was cut by the snap length (90 % of the packets that carry payload kept
 * none or only part of it): too little to recognise a protocol. */
static bool is_payload_cut(const struct diag *d)
{
	uint64_t n = d->n_tcp_payload_none + d->n_tcp_payload_cut;

	return d->n_tcp_payload > 0 && n * 10 >= d->n_tcp_payload * 9;
}

static void findings(struct diag *d, const struct relay_data *rd)
{
	char a[128], b[128], c[64];
	uint64_t n_ip = d->n_ipv4 + d->n_ipv6;

	if (!d->is_opened) {
		add_finding(d, "unreadable", "cannot read this file as a capture: %s", d->error);
		return;
	}
	if (d->n_tor) {
		char more[160] = "";

		verdict_list(d->verdicts, a, sizeof(a));
		if (d->n_cand) {
			verdict_list(d->candidates, b, sizeof(b));
			snprintf(more, sizeof(more), "; %" PRIu64 " more %s candidate%s (%s)",
			    d->n_cand, d->n_cand == 1 ? "is a" : "are", d->n_cand == 1 ? "" : "s",
			    b);
		}
		add_finding(d, "tor-found",
		    "%" PRIu64 " flow%s %s Tor (%s)%s: `tortrace analyze` lists %s with the "
		    "evidence",
		    d->n_tor, d->n_tor == 1 ? "" : "s", d->n_tor == 1 ? "is" : "are", a, more,
		    d->n_tor + d->n_cand == 1 ? "it" : "them");
	}
	if (d->has_error)
		add_finding(d, "truncated-file",
		    "the file is damaged or cut short: %s; the %" PRIu64
		    " packets before it were diagnosed, anything after it is lost",
		    d->error, d->n_pkts);
	if (d->n_pkts == 0) {
		add_finding(d, "no-packets", "the capture holds no packets");
		return;
	}
	if (n_ip == 0) {
		if (d->n_bad_link)
			add_finding(d, "no-ip",
			    "no IP packets: link type %s (%" PRIu32 ") is not decoded, so none of "
			    "the %" PRIu64 " packets can be read",
			    tt_linktype_name(d->linktypes[0]), d->linktypes[0], d->n_pkts);
		else
			add_finding(d, "no-ip",
			    "no IP packets among %" PRIu64 " (%" PRIu64 " non-IP, %" PRIu64
			    " with headers cut): Tor runs over IP, there is nothing to look at",
			    d->n_pkts, d->n_non_ip, d->n_hdr_truncated);
		return;
	}
	if (d->n_tcp == 0 && d->n_flows_tcp == 0) {
		add_finding(d, "no-tcp",
		    "no TCP among %" PRIu64 " IP packets (UDP %" PRIu64 ", other %" PRIu64
		    "): Tor's links, bridges and pluggable transports run over TCP",
		    n_ip, d->n_udp, d->n_other_ip + d->n_frags);
	} else if (d->n_tls == 0 && is_payload_cut(d)) {
		add_finding(d, "snaplen-cuts-handshakes",
		    "snaplen %" PRIu32 " leaves too little TCP payload to recognise TLS (%" PRIu64
		    " of %" PRIu64 " packets with payload kept none of it, %" PRIu64
		    " part of it): fingerprints and cell framing cannot be read; only relay data "
		    "can match flows",
		    d->max_caplen, d->n_tcp_payload_none, d->n_tcp_payload, d->n_tcp_payload_cut);
	} else if (d->n_hello_cut) {
		uint64_t n_hs = d->n_hello_cut + d->n_tls_complete;

		add_finding(d, "snaplen-cuts-handshakes",
		    "snaplen %" PRIu32 " cuts %s TLS hello (%" PRIu64 " of %" PRIu64
		    " TLS flows' hellos cut, %" PRIu64 " of %" PRIu64
		    " handshakes complete): fingerprints and certificates cannot be read; "
		    "framing and relay data still can",
		    d->max_caplen, d->n_hello_cut == d->n_tls ? "every" : "some", d->n_hello_cut,
		    d->n_tls, d->n_tls_complete, n_hs > d->n_tls ? d->n_tls : n_hs);
	}
	if (d->n_tcp && d->n_tcp_data && d->n_tls == 0 && !is_payload_cut(d)) {
		size_t n = 0;

		a[0] = '\0';
		for (unsigned i = TT_APP_UNKNOWN; i < TT_APP_COUNT && n < sizeof(a); i++)
			if (d->apps[i])
				n += (size_t)snprintf(a + n, sizeof(a) - n, "%s%s %" PRIu64,
				    n ? ", " : "", tt_app_name(i), d->apps[i]);
		add_finding(d, "no-tls",
		    "no TLS in %" PRIu64 " TCP flows with payload (first payloads: %s): Tor's "
		    "links are TLS, so only a relay address or a pluggable-transport shape "
		    "could show Tor here",
		    d->n_tcp_data, a[0] ? a : "none");
	}
	if (d->n_tcp_data && d->n_tcp_handshake == 0)
		add_finding(d, "midstream-only",
		    "every one of the %" PRIu64 " TCP connections with data began before the "
		    "capture (no SYN or SYN-ACK captured; %" PRIu64 " TLS links followed from "
		    "the middle, %" PRIu64 " ClientHellos read): %s",
		    d->n_tcp_data, d->n_tls_midstream, d->n_tls_hello,
		    d->n_tls_hello ? "handshakes are partly missing; mid-stream cell framing "
				     "(D3/D4) and relay data still apply"
				   : "no TLS handshake can be read, only mid-stream cell "
				     "framing (D3/D4) and relay data apply");
	if (d->n_tor == 0 && d->n_cand) {
		verdict_list(d->candidates, a, sizeof(a));
		add_finding(d, "candidates-only",
		    "no flow reaches a verdict, %" PRIu64 " %s candidate%s (%s): evidence below "
		    "the threshold; `tortrace analyze` lists %s",
		    d->n_cand, d->n_cand == 1 ? "is a" : "are", d->n_cand == 1 ? "" : "s", a,
		    d->n_cand == 1 ? "it" : "them");
	}
	if (d->n_tor == 0 && d->n_cand == 0 && d->n_tls_complete > 0 && d->n_hello_cut == 0 &&
	    !d->has_error)
		add_finding(d, "no-tor-evidence",
		    "%" PRIu64 " TLS flows with %" PRIu64 " complete handshakes were read and none "
		    "looks like Tor",
		    d->n_tls, d->n_tls_complete);
	if (!rd->idx) {
		add_finding(d, "no-relay-data",
		    "no relay data given (--relays): addresses cannot be matched against the "
		    "relays listed at the capture's date; only handshakes, framing and transport "
		    "shapes count");
	} else if (rd->is_empty) {
		add_finding(d, "no-relay-data",
		    "relay data %s holds no relay entries (%s): addresses cannot be matched",
		    rd->path, rd->why_empty);
	} else if (d->coverage && strcmp(d->coverage, "none") == 0) {
		fmt_dur(d->gap_ns, a, sizeof(a));
		fmt_time(rd->earliest_ns, b, sizeof(b));
		fmt_time(rd->latest_ns, c, sizeof(c));
		add_finding(d, "relay-data-misses-dates",
		    "relay data (%s .. %s) %s %s %s the capture: relays listed then cannot be "
		    "matched; use consensuses of the capture's date",
		    b, c, d->is_gap_before ? "ends" : "starts", a,
		    d->is_gap_before ? "before" : "after");
	} else if (d->coverage && strcmp(d->coverage, "near") == 0) {
		fmt_dur(d->gap_ns, a, sizeof(a));
		add_finding(d, "relay-data-misses-dates",
		    "relay data %s %s %s the capture: only orport-near matches (within a day, "
		    "weaker) are possible",
		    d->is_gap_before ? "ends" : "starts", a, d->is_gap_before ? "before" : "after");
	} else if (d->coverage && strcmp(d->coverage, "partial") == 0) {
		fmt_dur(d->covered_ns, a, sizeof(a));
		fmt_dur(d->last_ns - d->first_ns, b, sizeof(b));
		add_finding(d, "relay-data-partly-covers",
		    "relay data covers %s of the capture's %s: outside it only orport-near "
		    "matches (within a day, weaker) are possible",
		    a, b);
	}
	if (!d->has_engine)
		add_finding(d, "engine-failed",
		    "the analysis engine produced no flows for this file (status %d)",
		    d->engine_status);
	if (d->n_findings == 0)
		add_finding(d, "no-tor-evidence", "nothing in the %" PRIu64 " flows looks like Tor",
		    d->n_flows);
}

/* ---- output -------------------------------------------------------------------------------- */

#define KEY "%-12s "

static void print_text(const struct diag *d, const struct relay_data *rd, bool is_first)
{
	char a[64], b[64];

	if (!is_first)
		putchar('\n');
	printf(KEY "%s\n", "file:", d->path);
	if (d->is_opened) {
		printf(KEY "%s%s%s\n", "format:", tt_format_name(d->format),
		    d->comp > TT_COMP_PLAIN ? ", " : "",
		    d->comp > TT_COMP_PLAIN ? comp_name(d->comp) : "");
		printf(KEY, "link types:");
		for (uint32_t i = 0; i < d->n_linktypes; i++)
			printf("%s%s (%" PRIu32 ") %" PRIu64 " packets", i ? ", " : "",
			    tt_linktype_name(d->linktypes[i]), d->linktypes[i], d->lt_pkts[i]);
		printf("%s\n", d->n_linktypes ? "" : "-");
		printf(KEY, "snaplen:");
		for (uint32_t i = 0; i < d->n_snaplens; i++)
			printf("%s%" PRIu32 "%s", i ? ", " : "", d->snaplens[i],
			    d->snaplens[i] ? "" : " (no limit)");
		printf("%s (file header); largest packet kept %" PRIu32 " bytes; %" PRIu64
		       " of %" PRIu64 " packets shorter than on the wire%s\n",
		    d->n_snaplens ? "" : "-", d->max_caplen, d->n_cut, d->n_pkts,
		    d->n_hello_cut ? ", TLS hellos among them" : "");
	}
	if (d->has_error)
		printf(KEY "%s\n", "error:", d->error);
	if (!d->is_opened)
		goto findings;
	if (d->n_pkts) {
		fmt_time(d->first_ns, a, sizeof(a));
		fmt_time(d->last_ns, b, sizeof(b));
		printf(KEY "%s .. %s (%.3f s)\n", "time span:", a, b,
		    (double)(d->last_ns - d->first_ns) / 1e9);
	}
	printf(KEY "%" PRIu64 " (%" PRIu64 " bytes on the wire, %" PRIu64 " captured)\n",
	    "packets:", d->n_pkts, d->n_bytes, d->n_cap_bytes);
	printf(KEY "IPv4 %" PRIu64 ", IPv6 %" PRIu64 ", non-IP %" PRIu64 "; TCP %" PRIu64
		   ", UDP %" PRIu64 ", other IP %" PRIu64 ", fragments %" PRIu64 "\n",
	    "protocols:", d->n_ipv4, d->n_ipv6, d->n_non_ip, d->n_tcp, d->n_udp, d->n_other_ip,
	    d->n_frags);
	if (d->has_engine) {
		printf(KEY "%" PRIu64 " (TCP %" PRIu64 ": %" PRIu64 " with data, %" PRIu64
			   " from their handshake, %" PRIu64 " mid-stream; UDP %" PRIu64 ")\n",
		    "flows:", d->n_flows, d->n_flows_tcp, d->n_tcp_data, d->n_tcp_handshake,
		    d->n_tcp_midstream, d->n_flows_udp);
		printf(KEY "%" PRIu64 " flows, %" PRIu64 " ClientHellos read, %" PRIu64
			   " hellos cut, %" PRIu64 " complete handshakes, %" PRIu64 " mid-stream",
		    "TLS:", d->n_tls, d->n_tls_hello, d->n_hello_cut, d->n_tls_complete,
		    d->n_tls_midstream);
		for (unsigned i = 0; i < N_VERSIONS; i++)
			if (d->versions[i])
				printf("; %s %" PRIu64, version_name(i), d->versions[i]);
		putchar('\n');
		verdict_list(d->verdicts, a, sizeof(a));
		verdict_list(d->candidates, b, sizeof(b));
		printf(KEY "%s; candidates: %s; relay matches %" PRIu64 "\n",
		    "verdicts:", a[0] ? a : "no Tor", b[0] ? b : "none", d->n_relay_matches);
	}
	if (rd->idx && !rd->is_empty) {
		fmt_time(rd->earliest_ns, a, sizeof(a));
		fmt_time(rd->latest_ns, b, sizeof(b));
		printf(KEY "%s .. %s; covers the capture ", "relay data:", a, b);
		if (!d->coverage || strcmp(d->coverage, "unknown") == 0) {
			printf("-\n");
		} else if (strcmp(d->coverage, "full") == 0) {
			printf("fully\n");
		} else if (strcmp(d->coverage, "partial") == 0) {
			fmt_dur(d->covered_ns, a, sizeof(a));
			fmt_dur(d->last_ns - d->first_ns, b, sizeof(b));
			printf("partly (%s of %s)\n", a, b);
		} else if (strcmp(d->coverage, "undated") == 0) {
			printf("undated (plain address lists match at any time)\n");
		} else {
			fmt_dur(d->gap_ns, a, sizeof(a));
			printf("not at all (%s %s %s it%s)\n", d->is_gap_before ? "ends" : "starts",
			    a, d->is_gap_before ? "before" : "after",
			    strcmp(d->coverage, "near") == 0 ? ", near matches only" : "");
		}
	}
findings:
	printf("findings:\n");
	for (unsigned i = 0; i < d->n_findings; i++)
		printf("  %-24s %s\n", d->findings[i].code, d->findings[i].text);
}

static void json_time(struct tt_json *j, const char *key, uint64_t ns, bool is_set)
{
	char t[64];

	tt_json_key(j, key);
	if (!is_set) {
		tt_json_null(j);
		return;
	}
	fmt_time(ns, t, sizeof(t));
	tt_json_str(j, t);
}

static void json_counts(struct tt_json *j, const char *key, const uint64_t *v)
{
	tt_json_key(j, key);
	tt_json_obj(j);
	for (unsigned i = 1; i < TT_VERDICT_COUNT; i++)
		tt_json_kv_u64(j, tt_verdict_name(i), v[i]);
	tt_json_obj_end(j);
}

static void print_json(struct tt_json *j, const struct diag *d, const struct relay_data *rd)
{
	tt_json_obj(j);
	tt_json_kv_str(j, "path", d->path);
	tt_json_key(j, "readable");
	tt_json_bool(j, d->is_opened);
	tt_json_key(j, "error");
	tt_json_str(j, d->has_error ? d->error : NULL);
	tt_json_key(j, "error_offset");
	if (d->has_error && d->is_opened)
		tt_json_u64(j, d->err_off);
	else
		tt_json_null(j);
	tt_json_kv_str(j, "format", d->is_opened ? tt_format_name(d->format) : NULL);
	tt_json_kv_str(j, "compression", d->is_opened ? comp_name(d->comp) : NULL);
	tt_json_key(j, "linktypes");
	tt_json_arr(j);
	for (uint32_t i = 0; i < d->n_linktypes; i++) {
		tt_json_obj(j);
		tt_json_kv_u64(j, "linktype", d->linktypes[i]);
		tt_json_kv_str(j, "name", tt_linktype_name(d->linktypes[i]));
		tt_json_kv_u64(j, "packets", d->lt_pkts[i]);
		tt_json_obj_end(j);
	}
	tt_json_arr_end(j);
	tt_json_key(j, "snaplens");
	tt_json_arr(j);
	for (uint32_t i = 0; i < d->n_snaplens; i++)
		tt_json_u64(j, d->snaplens[i]);
	tt_json_arr_end(j);
	tt_json_kv_u64(j, "max_caplen", d->max_caplen);
	tt_json_kv_u64(j, "packets", d->n_pkts);
	tt_json_kv_u64(j, "bytes", d->n_bytes);
	tt_json_kv_u64(j, "captured_bytes", d->n_cap_bytes);
	tt_json_kv_u64(j, "packets_cut", d->n_cut);
	tt_json_kv_u64(j, "caplen_over_snaplen", d->n_over_snaplen);
	json_time(j, "first_time", d->first_ns, d->n_pkts > 0);
	json_time(j, "last_time", d->last_ns, d->n_pkts > 0);
	tt_json_key(j, "first_ts");
	if (d->n_pkts)
		tt_json_ts(j, d->first_ns);
	else
		tt_json_null(j);
	tt_json_key(j, "last_ts");
	if (d->n_pkts)
		tt_json_ts(j, d->last_ns);
	else
		tt_json_null(j);
	tt_json_key(j, "duration_s");
	tt_json_num(j, (double)(d->last_ns - d->first_ns) / 1e9, 6);
	tt_json_key(j, "protocols");
	tt_json_obj(j);
	tt_json_kv_u64(j, "ipv4", d->n_ipv4);
	tt_json_kv_u64(j, "ipv6", d->n_ipv6);
	tt_json_kv_u64(j, "non_ip", d->n_non_ip);
	tt_json_kv_u64(j, "tcp", d->n_tcp);
	tt_json_kv_u64(j, "udp", d->n_udp);
	tt_json_kv_u64(j, "other_ip", d->n_other_ip);
	tt_json_kv_u64(j, "fragments", d->n_frags);
	tt_json_kv_u64(j, "tunnelled", d->n_tunnelled);
	tt_json_kv_u64(j, "headers_truncated", d->n_hdr_truncated);
	tt_json_kv_u64(j, "link_not_decoded", d->n_bad_link);
	tt_json_kv_u64(j, "tcp_payload_packets", d->n_tcp_payload);
	tt_json_kv_u64(j, "tcp_payload_cut", d->n_tcp_payload_cut);
	tt_json_kv_u64(j, "tcp_payload_missing", d->n_tcp_payload_none);
	tt_json_key(j, "other_ip_protocols");
	tt_json_obj(j);
	for (unsigned p = 0; p < 256; p++)
		if (d->ip_protos[p]) {
			char k[8];

			snprintf(k, sizeof(k), "%u", p);
			tt_json_kv_u64(j, k, d->ip_protos[p]);
		}
	tt_json_obj_end(j);
	tt_json_obj_end(j);
	tt_json_key(j, "engine");
	if (!d->has_engine) {
		tt_json_null(j);
	} else {
		tt_json_obj(j);
		tt_json_kv_u64(j, "status", (uint64_t)d->engine_status);
		tt_json_kv_u64(j, "flows", d->n_flows);
		tt_json_kv_u64(j, "flows_tcp", d->n_flows_tcp);
		tt_json_kv_u64(j, "flows_udp", d->n_flows_udp);
		tt_json_kv_u64(j, "tcp_with_data", d->n_tcp_data);
		tt_json_kv_u64(j, "tcp_from_handshake", d->n_tcp_handshake);
		tt_json_kv_u64(j, "tcp_midstream", d->n_tcp_midstream);
		tt_json_key(j, "first_payloads");
		tt_json_obj(j);
		for (unsigned i = TT_APP_UNKNOWN; i < TT_APP_COUNT; i++)
			tt_json_kv_u64(j, tt_app_name(i), d->apps[i]);
		tt_json_obj_end(j);
		tt_json_key(j, "tls");
		tt_json_obj(j);
		tt_json_kv_u64(j, "flows", d->n_tls);
		tt_json_kv_u64(j, "client_hellos", d->n_tls_hello);
		tt_json_kv_u64(j, "hellos_cut", d->n_hello_cut);
		tt_json_kv_u64(j, "handshakes_complete", d->n_tls_complete);
		tt_json_kv_u64(j, "midstream", d->n_tls_midstream);
		tt_json_key(j, "versions");
		tt_json_obj(j);
		for (unsigned i = 0; i < N_VERSIONS; i++)
			if (d->versions[i])
				tt_json_kv_u64(j, version_name(i), d->versions[i]);
		tt_json_obj_end(j);
		tt_json_obj_end(j);
		json_counts(j, "verdicts", d->verdicts);
		json_counts(j, "candidates", d->candidates);
		tt_json_kv_u64(j, "relay_matches", d->n_relay_matches);
		tt_json_obj_end(j);
	}
	tt_json_key(j, "relay_data");
	if (!rd->idx) {
		tt_json_null(j);
	} else {
		tt_json_obj(j);
		tt_json_kv_str(j, "path", rd->path);
		tt_json_key(j, "has_entries");
		tt_json_bool(j, !rd->is_empty);
		json_time(j, "valid_from", rd->earliest_ns, rd->earliest_ns != 0);
		json_time(j, "valid_until", rd->latest_ns, rd->latest_ns != 0);
		tt_json_kv_str(j, "coverage", rd->is_empty ? "none" : d->coverage);
		tt_json_key(j, "covered_s");
		tt_json_num(j, (double)d->covered_ns / 1e9, 3);
		tt_json_key(j, "gap_s");
		tt_json_num(j, (double)d->gap_ns / 1e9, 3);
		tt_json_kv_str(
		    j, "gap", d->gap_ns ? (d->is_gap_before ? "before" : "after") : NULL);
		tt_json_obj_end(j);
	}
	tt_json_kv_str(j, "answer", d->n_findings ? d->findings[0].code : "no-tor-evidence");
	tt_json_key(j, "findings");
	tt_json_arr(j);
	for (unsigned i = 0; i < d->n_findings; i++) {
		tt_json_obj(j);
		tt_json_kv_str(j, "code", d->findings[i].code);
		tt_json_kv_str(j, "text", d->findings[i].text);
		tt_json_obj_end(j);
	}
	tt_json_arr_end(j);
	tt_json_obj_end(j);
}

/* ---- the command ---------------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fputs("usage: tortrace diagnose [--json] [--relays PATH [--relays-cache FILE]] PATH...\n"
	      "\n"
	      "Explain each capture without a full report: format, link types, snap length\n"
	      "(and whether it cuts TLS hellos), damage, time span, packets, protocol mix, TLS\n"
	      "versions, whether the relay data covers the capture's dates, and an ordered\n"
	      "list of findings that answer \"why no Tor here?\" (tor-found, candidates-only,\n"
	      "truncated-file, no-ip, no-tcp, no-tls, snaplen-cuts-handshakes, midstream-only,\n"
	      "no-relay-data, relay-data-misses-dates, relay-data-partly-covers, ...).\n"
	      "PATH: files, folders (walked recursively) and globs, as for analyze; each file\n"
	      "is diagnosed alone.\n"
	      "  --json               one JSON document: an array with an object per file\n"
	      "  --relays PATH        relay data (as for analyze): used for detection and\n"
	      "                       checked against each capture's time span\n"
	      "  --relays-cache FILE  compiled relay index, as for analyze\n"
	      "Exit status: 0 every file was diagnosed, 1 some file is unreadable or damaged\n"
	      "(named with the byte offset; the others are still diagnosed) or the run was\n"
	      "interrupted (Ctrl-C: the temporary folder is removed), 2 usage error.\n",
	    f);
}

int tt_diagnose_cli(int argc, char **argv, const atomic_bool *stop)
{
	enum { OPT_JSON = 256, OPT_RELAYS, OPT_RELAYS_CACHE };
	static const struct option opts[] = {
	    {"json", no_argument, NULL, OPT_JSON},
	    {"relays", required_argument, NULL, OPT_RELAYS},
	    {"relays-cache", required_argument, NULL, OPT_RELAYS_CACHE},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct relay_data rd = {0};
	struct tt_json j;
	char **paths = NULL;
	size_t n_paths = 0;
	bool is_json = false, has_failed = false;
	int c, status = TT_STATUS_USAGE, log_level = TT_LOG_ERROR;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_JSON:
			is_json = true;
			break;
		case OPT_RELAYS:
			rd.path = optarg;
			break;
		case OPT_RELAYS_CACHE:
			rd.cache = optarg;
			break;
		case 'h':
			usage(stdout);
			return TT_STATUS_OK;
		default:
			usage(stderr);
			return TT_STATUS_USAGE;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "tortrace: diagnose needs at least one PATH\n");
		usage(stderr);
		return TT_STATUS_USAGE;
	}
	for (int i = optind; i < argc; i++)
		if (strcmp(argv[i], "-") == 0) {
			/* Both passes read the file: a pipe cannot be read twice. */
			fprintf(stderr, "tortrace: diagnose reads files, not standard input (-): "
					"save the capture to a file first\n");
			return TT_STATUS_USAGE;
		}
	if (rd.cache && !rd.path) {
		fprintf(stderr, "tortrace: diagnose: --relays-cache needs --relays\n");
		return TT_STATUS_USAGE;
	}
	tt_log_set_level(log_level);
	if (rd.path && relays_load(&rd) < 0)
		goto out;
	if (tt_inputs_expand((const char *const *)&argv[optind], (size_t)(argc - optind), &paths,
		&n_paths) < 0) {
		fprintf(stderr, "tortrace: diagnose: out of memory\n");
		goto out;
	}
	if (n_paths == 0) {
		fprintf(stderr, "tortrace: diagnose: no input files\n");
		goto out;
	}
	if (is_json) {
		tt_json_init(&j, stdout, true);
		tt_json_arr(&j);
	}
	for (size_t i = 0; i < n_paths; i++) {
		struct diag *d = calloc(1, sizeof(*d));

		if (!d) {
			fprintf(stderr, "tortrace: diagnose: out of memory\n");
			has_failed = true;
			break;
		}
		d->path = paths[i];
		header_pass(d, stop);
		if (d->is_opened)
			engine_pass(d, &rd, log_level, stop);
		if (stop && atomic_load(stop)) {
			fprintf(
			    stderr, "tortrace: diagnose: interrupted while reading %s\n", d->path);
			free(d);
			has_failed = true;
			break;
		}
		relay_cover(d, &rd);
		findings(d, &rd);
		if (d->has_error) {
			fprintf(stderr, "tortrace: diagnose: %s: %s\n", d->path, d->error);
			has_failed = true;
		}
		if (is_json)
			print_json(&j, d, &rd);
		else
			print_text(d, &rd, i == 0);
		free(d);
	}
	if (is_json) {
		tt_json_arr_end(&j);
		putchar('\n');
	}
	fflush(stdout);
	status = has_failed ? TT_STATUS_PARTIAL : TT_STATUS_OK;
out:
	tt_inputs_free(paths, n_paths);
	tt_relays_free(rd.idx);
	free(rd.iv);
	return status;
}
