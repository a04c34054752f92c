/* report.html: one self-contained page rendered from a report.json, so that its numbers are
 * report.json's by construction and any report can be rendered again (`tortrace report`).
 *
 * The page is static HTML readable with JavaScript off and printable (a print stylesheet);
 * charts are inline SVG; nothing is fetched (a Content-Security-Policy with default-src
 * 'none' makes sure of it: the one inline script and the style sheet are allowed by their
 * SHA-256). Every string from the report is HTML-escaped: file names, nicknames and the
 * command line come from untrusted inputs. Tables show their first rows only (the bounds
 * below) and say how many there are, so the file stays a few MB for any run.
 *
 * The output depends only on the report.json given: no clock, no environment. */
#include "aggregate.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "core.h"

/* Rows shown per table; report.json lists more and flows.msgpack has every flow. */
#define HTML_HOSTS_MAX    500
#define HTML_RELAYS_MAX   500
#define HTML_TOR_MAX      1000
#define HTML_CAND_MAX     200
#define HTML_FILES_MAX    1000
#define HTML_SETS_MAX     200
#define HTML_TIMELINE_MAX 100 /* hosts drawn in the timeline */
#define HTML_LEGEND_MAX   256 /* distinct evidence reasons explained in full */
#define HTML_HOST_RELAYS  5   /* relays named per host in the hosts table */

/* The chart's geometry, in SVG user units (the SVG scales to the page's width). */
#define CHART_W     1000.0
#define CHART_LABEL 170.0 /* left column: host addresses, y-axis labels */
#define CHART_RIGHT 40.0  /* room for the last time label */
#define ROW_H       18.0

static const char page_style[] =
    "body{font:14px/1.4 sans-serif;margin:1.5em;color:#111;max-width:1400px}"
    "h1{font-size:1.5em;margin:0 0 .2em}h2{font-size:1.2em;border-bottom:2px solid #345;"
    "margin-top:1.8em}h3{font-size:1em}"
    "table{border-collapse:collapse;margin:.5em 0;font-size:.9em}"
    "th,td{border:1px solid #bbb;padding:2px 5px;text-align:left;vertical-align:top}"
    "th{background:#e8edf2}td.n{text-align:right;white-space:nowrap}"
    "tbody tr:nth-child(even){background:#f6f8fa}"
    ".w{overflow-x:auto}.b{word-break:break-all}.m{font-family:monospace}"
    ".shown,.note{color:#444;font-size:.9em}"
    ".bad{background:#fde2e1;border:1px solid #c33;padding:.5em}"
    ".ok{background:#e3f4e1;border:1px solid #393;padding:.5em}"
    "ul.ev{margin:0;padding-left:1.1em}ul.ev li{margin:0}"
    "svg{max-width:100%;height:auto;font:11px sans-serif}"
    "svg .bar{fill:#2a6f97}svg .per{fill:#c0504d}svg .grid{stroke:#ccc}"
    "svg .ax{stroke:#333}"
    "input.filter{margin:.3em 0;padding:2px 4px;width:20em}"
    "dl.kv{display:grid;grid-template-columns:max-content auto;gap:2px 1em}"
    "dl.kv dt{font-weight:bold}dl.kv dd{margin:0}"
    "@media print{body{margin:0;font-size:10px;max-width:none}input.filter{display:none}"
    "section{break-before:page}section.first{break-before:auto}.w{overflow:visible}"
    "thead{display:table-header-group}tr{break-inside:avoid}svg{break-inside:avoid}"
    "td,th{word-break:break-word}}";

/* Table filtering; the page is complete without it. Inputs are hidden until this runs, and
 * any failure leaves the page as it was. */
static const char page_script[] =
    "(function(){try{var ins=document.querySelectorAll('input.filter');"
    "for(var i=0;i<ins.length;i++){(function(inp){"
    "var t=document.getElementById(inp.getAttribute('data-table'));"
    "if(!t||!t.tBodies.length)return;inp.hidden=false;"
    "inp.addEventListener('input',function(){try{var q=inp.value.toLowerCase();"
    "var rows=t.tBodies[0].rows;for(var k=0;k<rows.length;k++)"
    "rows[k].hidden=q!==''&&rows[k].textContent.toLowerCase().indexOf(q)<0;"
    "}catch(e){}});})(ins[i]);}}catch(e){}})();";

struct legend_item {
	const char *id, *reason; /* borrowed from the parsed report */
};

struct html {
	FILE *f;
	json_t *root;
	double cap_t0, cap_t1; /* the captures' span (0, 0: no packets) */
	double t0, t1;         /* the charts' span: the captures', widened to cover the data */
	struct legend_item legend[HTML_LEGEND_MAX];
	size_t n_legend;
	bool is_legend_full;
};

/* ---- small helpers ----------------------------------------------------------------------- */

static json_t *get(const json_t *o, const char *key)
{
	return json_is_object(o) ? json_object_get(o, key) : NULL;
}

/* A double as an integer, without undefined behaviour for values out of range (the
 * report may be any file given to `tortrace report`). */
static long long to_ll(double d)
{
	if (!(d > -9e18 && d < 9e18))
		return 0;
	return (long long)d;
}

static long long geti(const json_t *o, const char *key)
{
	json_t *v = get(o, key);

	if (json_is_integer(v))
		return json_integer_value(v);
	return json_is_real(v) ? to_ll(json_real_value(v)) : 0;
}

/* A plausible Unix time (1970 to about 5000): others are ignored by the charts. */
static bool is_time(double t)
{
	return t >= 0 && t < 1e11;
}

static double getd(const json_t *o, const char *key)
{
	return json_number_value(get(o, key)); /* 0 when missing */
}

static const char *gets(const json_t *o, const char *key)
{
	return json_string_value(get(o, key)); /* NULL when missing or null */
}

static void out(struct html *h, const char *s)
{
	fputs(s, h->f);
}

static void outf(struct html *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void outf(struct html *h, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(h->f, fmt, ap);
	va_end(ap);
}

/* Text or attribute value, escaped; NULL prints a dash. */
static void esc(struct html *h, const char *s)
{
	if (!s) {
		out(h, "\xe2\x80\x94"); /* — */
		return;
	}
	for (; *s; s++) {
		switch (*s) {
		case '&':
			out(h, "&amp;");
			break;
		case '<':
			out(h, "&lt;");
			break;
		case '>':
			out(h, "&gt;");
			break;
		case '"':
			out(h, "&quot;");
			break;
		case '\'':
			out(h, "&#39;");
			break;
		default:
			/* Control characters other than tab and newline are not allowed in
			 * HTML text: shown as U+FFFD (report.json's strings are valid UTF-8). */
			if ((unsigned char)*s < 0x20 && *s != '\t' && *s != '\n')
				out(h, "\xef\xbf\xbd");
			else
				fputc(*s, h->f);
		}
	}
}

/* An integer with thousands separators: 1,216,894. */
static const char *fmt_int(char buf[32], long long v)
{
	char tmp[32];
	unsigned long long u = v < 0 ? 0 - (unsigned long long)v : (unsigned long long)v;
	int n = snprintf(tmp, sizeof(tmp), "%llu", u), k = 0;

	if (v < 0)
		buf[k++] = '-';
	for (int i = 0; i < n; i++) {
		buf[k++] = tmp[i];
		if ((n - i - 1) % 3 == 0 && i < n - 1)
			buf[k++] = ',';
	}
	buf[k] = '\0';
	return buf;
}

static void out_int(struct html *h, long long v)
{
	char buf[32];

	out(h, fmt_int(buf, v));
}

/* A numeric cell: <td class="n" data-k="KEY">1,234</td>. */
static void td_int(struct html *h, const char *key, long long v)
{
	outf(h, "<td class=\"n\" data-k=\"%s\">", key);
	out_int(h, v);
	out(h, "</td>");
}

/* Unix seconds as 2026-11-26 14:21:07.175 (UTC). */
static const char *fmt_ts(char buf[48], double ts, bool with_ms)
{
	time_t s = is_time(ts) ? (time_t)floor(ts) : 0;
	struct tm tm;
	int ms = (int)((ts - floor(ts)) * 1000.0);

	if (!is_time(ts) || !gmtime_r(&s, &tm)) {
		snprintf(buf, 48, "?");
		return buf;
	}
	if (ms > 999)
		ms = 999;
	if (with_ms)
		snprintf(buf, 48, "%04d-%02d-%02d %02d:%02d:%02d.%03d", tm.tm_year + 1900,
		    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
	else
		snprintf(buf, 48, "%04d-%02d-%02d %02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1,
		    tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	return buf;
}

static void out_ts(struct html *h, const json_t *o, const char *key)
{
	char buf[48];
	json_t *v = get(o, key);

	if (!json_is_number(v)) {
		esc(h, NULL);
		return;
	}
	out(h, fmt_ts(buf, json_number_value(v), true));
}

/* A duration in words: 0.061 s, 41.3 s, 12 min 5 s, 3 h 02 min, 2 d 4 h. */
static const char *fmt_dur(char buf[48], double s)
{
	if (!(s >= 0 && s < 1e9))
		snprintf(buf, 48, "%g s", s);
	else if (s >= 60 && fmod(s, 3600) == 0)
		snprintf(buf, 48, "%d h", (int)(s / 3600));
	else if (s >= 60 && fmod(s, 60) == 0 && s < 3600)
		snprintf(buf, 48, "%d min", (int)(s / 60));
	else if (s < 10)
		snprintf(buf, 48, "%.3f s", s);
	else if (s < 60)
		snprintf(buf, 48, "%.1f s", s);
	else if (s < 3600)
		snprintf(buf, 48, "%d min %d s", (int)(s / 60), (int)fmod(s, 60));
	else if (s < 86400)
		snprintf(buf, 48, "%d h %02d min", (int)(s / 3600), (int)fmod(s / 60, 60));
	else
		snprintf(buf, 48, "%d d %d h", (int)(s / 86400), (int)fmod(s / 3600, 24));
	return buf;
}

/* The endpoint ip:port, with brackets for IPv6. */
static void out_endpoint(struct html *h, const char *ip, long long port)
{
	bool is_v6 = ip && strchr(ip, ':');

	if (is_v6)
		out(h, "[");
	esc(h, ip);
	if (is_v6)
		out(h, "]");
	outf(h, ":%lld", port);
}

/* "tor 3, tor-dir 1" from a {verdict: n} map, zeros and "none" left out. */
static void out_verdict_counts(struct html *h, const json_t *m, bool with_none)
{
	const char *k;
	json_t *v;
	bool is_first = true;

	json_object_foreach((json_t *)m, k, v)
	{
		if (!json_integer_value(v) || (!with_none && strcmp(k, "none") == 0) ||
		    strcmp(k, "total") == 0)
			continue;
		if (!is_first)
			out(h, ", ");
		esc(h, k);
		out(h, " ");
		out_int(h, json_integer_value(v));
		is_first = false;
	}
	if (is_first)
		out(h, "none");
}

/* "Showing N of M things" under a table, and where the rest are. */
static void out_shown(struct html *h, const char *id, size_t shown, long long listed,
    long long total, const char *what, const char *where)
{
	char a[32], b[32];

	outf(h, "<p class=\"shown\" id=\"%s-shown\" data-shown=\"%zu\" data-total=\"%lld\">", id,
	    shown, total);
	outf(h, "Showing %s of %s %s", fmt_int(a, (long long)shown), fmt_int(b, total), what);
	if ((long long)shown < total) {
		if (listed > (long long)shown)
			outf(h, "; report.json lists %s", fmt_int(a, listed));
		if (where)
			outf(h, "; %s", where);
	}
	out(h, ".</p>\n");
}

static void out_filter(struct html *h, const char *table)
{
	outf(h,
	    "<input class=\"filter\" type=\"search\" hidden placeholder=\"filter rows\" "
	    "aria-label=\"filter rows\" data-table=\"%s\">\n",
	    table);
}

/* ---- sections --------------------------------------------------------------------------- */

static void out_head(struct html *h)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned char script_hash[64], style_hash[64];
	unsigned md_len = 0;

	EVP_Digest(page_script, strlen(page_script), md, &md_len, EVP_sha256(), NULL);
	EVP_EncodeBlock(script_hash, md, (int)md_len);
	EVP_Digest(page_style, strlen(page_style), md, &md_len, EVP_sha256(), NULL);
	EVP_EncodeBlock(style_hash, md, (int)md_len);
	out(h, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
	/* Nothing may be fetched: no network, no other file. */
	outf(h,
	    "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
	    "style-src 'sha256-%s'; script-src 'sha256-%s'; img-src data:; "
	    "form-action 'none'; base-uri 'none'\">\n",
	    style_hash, script_hash);
	out(h, "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
	out(h, "<title>tortrace report");
	if (json_array_size(get(get(h->root, "options"), "paths")) > 0) {
		out(h, ": ");
		esc(h, json_string_value(json_array_get(get(get(h->root, "options"), "paths"), 0)));
		if (json_array_size(get(get(h->root, "options"), "paths")) > 1)
			out(h, " \xe2\x80\xa6");
	}
	outf(h, "</title>\n<style>%s</style>\n</head>\n<body>\n", page_style);
}

static void out_header(struct html *h)
{
	json_t *run = get(h->root, "run");
	json_t *tool = get(h->root, "tool");
	bool is_complete = json_is_true(get(h->root, "complete"));
	char buf[48];

	out(h, "<header>\n<h1>Tor use in packet captures: tortrace report</h1>\n");
	out(h, "<p id=\"tool\">");
	esc(h, gets(tool, "name"));
	out(h, " ");
	esc(h, gets(tool, "version"));
	out(h, ", run started ");
	esc(h, gets(run, "started_at"));
	outf(h, " (UTC), took %s", fmt_dur(buf, getd(run, "elapsed_s")));
	out(h, ". Times on this page are UTC. Schema ");
	esc(h, gets(h->root, "schema"));
	out(h, ".</p>\n");
	if (is_complete)
		out(h, "<p class=\"ok\" id=\"complete\" data-complete=\"true\">Complete: every "
		       "input was read and the outputs were written whole.</p>\n");
	else
		out(h,
		    "<p class=\"bad\" id=\"complete\" data-complete=\"false\"><b>Incomplete</b>: "
		    "the run was interrupted or an input could not be read to its end; the "
		    "files table says which.</p>\n");
	out(h, "<nav><p>Sections: <a href=\"#summary\">summary</a> \xc2\xb7 "
	       "<a href=\"#hosts\">hosts</a> \xc2\xb7 <a href=\"#timeline\">timeline</a> \xc2\xb7 "
	       "<a href=\"#activity\">bytes over time</a> \xc2\xb7 <a href=\"#relays\">relays</a> "
	       "\xc2\xb7 <a href=\"#tor-flows\">Tor flows</a> \xc2\xb7 "
	       "<a href=\"#candidates\">candidates</a> \xc2\xb7 <a href=\"#evidence\">evidence</a> "
	       "\xc2\xb7 <a href=\"#files\">files</a> \xc2\xb7 "
	       "<a href=\"#provenance\">provenance</a></p></nav>\n</header>\n");
}

static bool is_detection(const struct html *h)
{
	return json_is_true(get(get(h->root, "options"), "detection"));
}

static void sum_row(struct html *h, const char *key, const char *label, long long v)
{
	outf(h, "<tr data-k=\"%s\"><th>%s</th><td class=\"n\">", key, label);
	out_int(h, v);
	out(h, "</td></tr>\n");
}

static void out_summary(struct html *h)
{
	json_t *t = get(h->root, "totals");
	json_t *verdicts = get(t, "verdicts"), *cands = get(t, "candidates");
	json_t *opts = get(h->root, "options");
	json_t *rd = get(opts, "relay_data");
	const char *k;
	json_t *v;
	char a[48], b[48];

	out(h, "<section class=\"first\" id=\"summary\">\n<h2>Summary</h2>\n");
	if (is_detection(h)) {
		long long n_tor = geti(h->root, "tor_flows_total");

		out(h, "<p id=\"finding\">");
		if (n_tor > 0) {
			out_int(h, n_tor);
			out(h, n_tor == 1 ? " flow was" : " flows were");
			out(h, " found to be Tor, involving ");
			out_int(h, geti(h->root, "hosts_total"));
			out(h, " host(s) and ");
			out_int(h, geti(h->root, "relays_total"));
			out(h, " relay(s) or bridge(s)");
			if (h->cap_t1 > h->cap_t0)
				outf(h, ", in captures from %s to %s", fmt_ts(a, h->cap_t0, false),
				    fmt_ts(b, h->cap_t1, false));
			out(h, ".");
		} else {
			out(h, "No flow reached the threshold for a Tor verdict.");
		}
		if (geti(cands, "total") > 0) {
			out(h, " ");
			out_int(h, geti(cands, "total"));
			out(h,
			    " flow(s) are candidates: evidence points towards Tor but stays below "
			    "the threshold; they are listed apart and never counted as Tor.");
		}
		out(h, "</p>\n");
	} else {
		out(h, "<p id=\"finding\">Detection was off (<code>--no-detect</code>): flows "
		       "only, no verdicts.</p>\n");
	}
	out(h, "<table id=\"summary-table\">\n<tbody>\n");
	sum_row(h, "files", "Input files", geti(t, "files"));
	sum_row(h, "files_failed", "Files with an error", geti(t, "files_failed"));
	sum_row(h, "files_partial", "Files read in part", geti(t, "files_partial"));
	sum_row(h, "packets", "Packets", geti(t, "packets"));
	sum_row(h, "bytes", "Bytes (on the wire)", geti(t, "bytes"));
	sum_row(h, "flows", "Flows", geti(t, "flows"));
	sum_row(h, "flows_tcp", "TCP flows", geti(t, "flows_tcp"));
	sum_row(h, "flows_udp", "UDP flows", geti(t, "flows_udp"));
	if (is_detection(h)) {
		sum_row(h, "tor_flows_total", "Tor flows (any verdict but none)",
		    geti(h->root, "tor_flows_total"));
		json_object_foreach(verdicts, k, v)
		{
			out(h, "<tr data-k=\"verdict:");
			esc(h, k);
			out(h, "\"><th>&nbsp;&nbsp;verdict ");
			esc(h, k);
			out(h, "</th><td class=\"n\">");
			out_int(h, json_integer_value(v));
			out(h, "</td></tr>\n");
		}
		sum_row(
		    h, "candidates", "Candidate flows (below the threshold)", geti(cands, "total"));
		json_object_foreach(cands, k, v)
		{
			if (strcmp(k, "total") == 0)
				continue;
			out(h, "<tr data-k=\"candidate:");
			esc(h, k);
			out(h, "\"><th>&nbsp;&nbsp;candidates for ");
			esc(h, k);
			out(h, "</th><td class=\"n\">");
			out_int(h, json_integer_value(v));
			out(h, "</td></tr>\n");
		}
		sum_row(h, "hosts_total", "Hosts with Tor flows", geti(h->root, "hosts_total"));
		sum_row(h, "candidate_only_hosts", "Hosts with candidates only",
		    geti(h->root, "candidate_only_hosts"));
		sum_row(h, "relays_total", "Relays, bridges and exits seen",
		    geti(h->root, "relays_total"));
		outf(h,
		    "<tr data-k=\"min_score\"><th>Threshold (score a verdict needs)</th>"
		    "<td class=\"n\">%.2f</td></tr>\n",
		    getd(opts, "min_score"));
	}
	out(h, "<tr data-k=\"relay_data\"><th>Relay data</th><td>");
	if (!json_is_object(rd))
		out(h, "none given: a Tor handshake to an unlisted address is a bridge");
	else if (json_is_false(get(rd, "used")))
		out(h, "given but not used (see provenance)");
	else {
		out_int(h, geti(rd, "relays"));
		out(h, " relays, valid ");
		esc(h, gets(rd, "valid_from"));
		out(h, " to ");
		esc(h, gets(rd, "valid_until"));
	}
	out(h, "</td></tr>\n</tbody>\n</table>\n</section>\n");
}

static void out_hosts(struct html *h)
{
	json_t *hosts = get(h->root, "hosts");
	size_t n = json_array_size(hosts), shown = n < HTML_HOSTS_MAX ? n : HTML_HOSTS_MAX;
	char buf[48];

	out(h, "<section id=\"hosts\">\n<h2>Hosts</h2>\n");
	if (!is_detection(h)) {
		out(h, "<p>Detection was off.</p>\n</section>\n");
		return;
	}
	out(h, "<p class=\"note\">The near side of each finding: the host that opened Tor links "
	       "(client, or a relay when listed), a relay or bridge on a private address, or "
	       "the host reached from a Tor exit (exit-side). Most Tor flows first.</p>\n");
	out_filter(h, "hosts-table");
	out(h, "<div class=\"w\"><table id=\"hosts-table\">\n<thead><tr><th>Address</th>"
	       "<th>Roles</th><th>Tor flows</th><th>Bytes</th><th>Verdicts</th>"
	       "<th>Candidates</th><th>First</th><th>Last</th><th>Active</th>"
	       "<th>Relays used</th><th>Strongest flow</th></tr></thead>\n<tbody>\n");
	for (size_t i = 0; i < shown; i++) {
		json_t *e = json_array_get(hosts, i), *roles = get(e, "roles");
		json_t *relays = get(e, "relays"), *st = get(e, "strongest");
		size_t j;
		json_t *x;

		out(h, "<tr data-host=\"");
		esc(h, gets(e, "address"));
		out(h, "\"><td class=\"m\">");
		esc(h, gets(e, "address"));
		out(h, "</td><td>");
		json_array_foreach(roles, j, x)
		{
			if (j)
				out(h, ", ");
			esc(h, json_string_value(x));
		}
		out(h, "</td>");
		td_int(h, "tor_flows", geti(e, "tor_flows"));
		td_int(h, "tor_bytes", geti(e, "tor_bytes"));
		out(h, "<td>");
		out_verdict_counts(h, get(e, "verdicts"), false);
		out(h, "</td>");
		td_int(h, "candidates", geti(e, "candidates"));
		out(h, "<td>");
		out_ts(h, e, "first_ts");
		out(h, "</td><td>");
		out_ts(h, e, "last_ts");
		outf(h, "</td><td class=\"n\">%s</td>", fmt_dur(buf, getd(e, "active_s")));
		out(h, "<td><span data-k=\"relays_contacted\">");
		out_int(h, geti(e, "relays_contacted"));
		out(h, "</span>");
		json_array_foreach(relays, j, x)
		{
			if (j >= HTML_HOST_RELAYS) {
				out(h, ", \xe2\x80\xa6");
				break;
			}
			out(h, j ? ", " : ": ");
			esc(h, gets(x, "endpoint"));
			if (gets(x, "nickname")) {
				out(h, " (");
				esc(h, gets(x, "nickname"));
				out(h, ")");
			}
		}
		out(h, "</td><td>");
		if (json_is_object(st)) {
			size_t k;
			json_t *id;

			outf(h, "%.6f ", getd(st, "score"));
			esc(h, strcmp(gets(st, "verdict") ? gets(st, "verdict") : "none", "none")
				   ? gets(st, "verdict")
				   : gets(st, "candidate"));
			out(h, ": ");
			json_array_foreach(get(st, "evidence"), k, id)
			{
				if (k)
					out(h, " ");
				esc(h, json_string_value(id));
			}
			out(h, "<br><span class=\"m\">");
			esc(h, gets(st, "proto"));
			out(h, " ");
			out_endpoint(h, gets(st, "src_ip"), geti(st, "src_port"));
			out(h, " \xe2\x86\x92 ");
			out_endpoint(h, gets(st, "dst_ip"), geti(st, "dst_port"));
			out(h, "</span>");
		}
		out(h, "</td></tr>\n");
	}
	out(h, "</tbody>\n</table></div>\n");
	out_shown(h, "hosts", shown, (long long)n, geti(h->root, "hosts_total"), "hosts", NULL);
	out(h, "</section>\n");
}

static double x_of(const struct html *h, double ts)
{
	double plot = CHART_W - CHART_LABEL - CHART_RIGHT;

	return CHART_LABEL + (ts - h->t0) / (h->t1 - h->t0) * plot;
}

/* Tick marks for [t0, t1]: a round step giving at most 8 ticks. */
static void out_time_axis(struct html *h, double y_top, double y_axis)
{
	static const double steps[] = {0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900,
	    1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800, 2592000, 31536000};
	double span = h->t1 - h->t0, step = steps[0];
	int n_ticks = 0;
	char buf[48];

	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		step = steps[i];
		if (span / step <= 8)
			break;
	}
	outf(h, "<line class=\"ax\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n",
	    CHART_LABEL, y_axis, CHART_W - CHART_RIGHT, y_axis);
	for (double t = ceil(h->t0 / step) * step; t <= h->t1 + 1e-9 && n_ticks < 40;
	     t += step, n_ticks++) {
		double x = x_of(h, t);
		const char *label = fmt_ts(buf, t, step < 1);

		/* Within a day the date is said once, below the chart. */
		if (span < 86400)
			label += 11;
		outf(h,
		    "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
		    "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n",
		    x, y_top, x, y_axis + 4, x, y_axis + 16, label);
	}
}

static void out_timeline(struct html *h)
{
	json_t *hosts = get(h->root, "hosts");
	size_t n = json_array_size(hosts);
	size_t rows = n < HTML_TIMELINE_MAX ? n : HTML_TIMELINE_MAX;
	double height = 10 + (double)rows * ROW_H + 30;
	char a[48], b[48];

	out(h, "<section id=\"timeline\">\n<h2>Timeline of Tor activity per host</h2>\n");
	if (!rows) {
		out(h, "<p>No host had Tor flows.</p>\n</section>\n");
		return;
	}
	outf(h,
	    "<p class=\"note\">Each bar is an active period: the host's Tor flows, merged where "
	    "they overlap or lie within 300 s of each other; the captures span %s to "
	    "%s.</p>\n",
	    fmt_ts(a, h->cap_t0, false), fmt_ts(b, h->cap_t1, false));
	outf(h,
	    "<svg id=\"timeline-svg\" viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" height=\"%.0f\" "
	    "role=\"img\" aria-label=\"active periods per host\">\n",
	    CHART_W, height, CHART_W, height);
	out_time_axis(h, 10, 10 + (double)rows * ROW_H);
	for (size_t i = 0; i < rows; i++) {
		json_t *e = json_array_get(hosts, i), *per = get(e, "active_periods");
		double y = 10 + (double)i * ROW_H, x_end = -1, x_start = 0;
		size_t j;
		json_t *p;

		outf(h, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">", CHART_LABEL - 6,
		    y + ROW_H - 5);
		esc(h, gets(e, "address"));
		out(h, "</text>\n");
		/* Periods closer than a pixel are drawn as one bar, so a host with thousands
		 * of periods costs at most one rectangle per pixel. */
		json_array_foreach(per, j, p)
		{
			double p0 = json_number_value(json_array_get(p, 0));
			double p1 = json_number_value(json_array_get(p, 1));
			double x0 = x_of(h, p0), x1 = x_of(h, p1);

			if (!is_time(p0) || !is_time(p1) || p0 > p1)
				continue;

			if (x1 < x0 + 1)
				x1 = x0 + 1;
			if (x_end >= 0 && x0 <= x_end + 1) {
				if (x1 > x_end)
					x_end = x1;
				continue;
			}
			if (x_end >= 0)
				outf(h,
				    "<rect class=\"per\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
				    "height=\"%.1f\"/>\n",
				    x_start, y + 3, x_end - x_start, ROW_H - 6);
			x_start = x0;
			x_end = x1;
		}
		if (x_end >= 0)
			outf(h,
			    "<rect class=\"per\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
			    "height=\"%.1f\"/>\n",
			    x_start, y + 3, x_end - x_start, ROW_H - 6);
	}
	out(h, "</svg>\n");
	out_shown(h, "timeline", rows, (long long)n, geti(h->root, "hosts_total"),
	    "hosts in the timeline", "the hosts table lists more");
	out(h, "</section>\n");
}

static void out_activity(struct html *h)
{
	json_t *act = get(h->root, "activity"), *bars = get(act, "bars");
	double bar_s = getd(act, "bar_s"), max = 0, height = 220, plot_h = 180, y0 = 10;
	long long sum = 0;
	size_t i;
	json_t *bar;
	char buf[48], a[32];

	out(h, "<section id=\"activity\">\n<h2>Tor bytes over time</h2>\n");
	if (!json_array_size(bars) || !(bar_s > 0 && bar_s < 1e9)) {
		out(h, "<p>No Tor bytes.</p>\n</section>\n");
		return;
	}
	json_array_foreach(bars, i, bar)
	{
		long long v = to_ll(json_number_value(json_array_get(bar, 1)));

		if ((double)v > max)
			max = (double)v;
		if (v < 0 || __builtin_add_overflow(sum, v, &sum))
			sum = -1; /* not a report tortrace wrote */
	}
	outf(h,
	    "<p class=\"note\">Bytes of flows with a verdict, each flow's bytes spread evenly "
	    "over the minutes it lasted, in bars of %s. Highest bar: <span "
	    "id=\"activity-max\">%s</span> bytes; all bars: <span id=\"activity-sum\">",
	    fmt_dur(buf, bar_s), fmt_int(a, to_ll(max)));
	out_int(h, sum);
	out(h, "</span> bytes.</p>\n");
	outf(h,
	    "<svg id=\"activity-svg\" viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" height=\"%.0f\" "
	    "role=\"img\" aria-label=\"Tor bytes over time\">\n",
	    CHART_W, height, CHART_W, height);
	outf(h,
	    "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s B</text>"
	    "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">0</text>\n",
	    CHART_LABEL - 6, y0 + 10, fmt_int(a, to_ll(max)), CHART_LABEL - 6, y0 + plot_h);
	outf(h, "<line class=\"ax\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n",
	    CHART_LABEL, y0, CHART_LABEL, y0 + plot_h);
	out_time_axis(h, y0, y0 + plot_h);
	json_array_foreach(bars, i, bar)
	{
		double t = json_number_value(json_array_get(bar, 0));
		long long v = to_ll(json_number_value(json_array_get(bar, 1)));
		double x0 = x_of(h, t), x1 = x_of(h, t + bar_s);

		if (!is_time(t))
			continue;
		double bh = max > 0 ? (double)v / max * plot_h : 0;

		if (x1 - x0 > 2)
			x1 -= 1; /* a gap between bars */
		if (x1 < x0 + 1)
			x1 = x0 + 1;
		outf(h,
		    "<rect class=\"bar\" data-bytes=\"%lld\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
		    "height=\"%.1f\"><title>%s: %s bytes</title></rect>\n",
		    v, x0, y0 + plot_h - bh, x1 - x0, bh, fmt_ts(buf, t, false), fmt_int(a, v));
	}
	out(h, "</svg>\n</section>\n");
}

static void out_relays(struct html *h)
{
	json_t *relays = get(h->root, "relays");
	size_t n = json_array_size(relays), shown = n < HTML_RELAYS_MAX ? n : HTML_RELAYS_MAX;

	out(h, "<section id=\"relays\">\n<h2>Relays, bridges and exits</h2>\n");
	if (!is_detection(h)) {
		out(h, "<p>Detection was off.</p>\n</section>\n");
		return;
	}
	out(h, "<p class=\"note\">The far side of each finding, with what the relay data says "
	       "about it (nothing for a bridge). Most Tor flows first.</p>\n");
	out_filter(h, "relays-table");
	out(h, "<div class=\"w\"><table id=\"relays-table\">\n<thead><tr><th>Endpoint</th>"
	       "<th>Kind</th><th>Nickname</th><th>Fingerprint</th><th>Flags</th>"
	       "<th>Listing</th><th>Tor flows</th><th>Bytes</th><th>Verdicts</th>"
	       "<th>First</th><th>Last</th><th>Hosts</th></tr></thead>\n<tbody>\n");
	for (size_t i = 0; i < shown; i++) {
		json_t *e = json_array_get(relays, i), *l = get(e, "listing");
		json_t *port = get(e, "port"), *x;
		size_t j;

		out(h, "<tr data-relay=\"");
		if (json_is_integer(port))
			out_endpoint(h, gets(e, "address"), json_integer_value(port));
		else
			esc(h, gets(e, "address"));
		out(h, "\"><td class=\"m\">");
		if (json_is_integer(port))
			out_endpoint(h, gets(e, "address"), json_integer_value(port));
		else
			esc(h, gets(e, "address"));
		out(h, "</td><td>");
		esc(h, gets(e, "kind"));
		out(h, "</td><td>");
		esc(h, gets(l, "nickname"));
		out(h, "</td><td class=\"m b\">");
		esc(h, gets(l, "fingerprint"));
		out(h, "</td><td>");
		esc(h, gets(l, "flags"));
		out(h, "</td><td>");
		if (json_is_object(l)) {
			esc(h, gets(l, "match"));
			out(h, ", valid ");
			esc(h, gets(l, "valid_from"));
			out(h, " to ");
			esc(h, gets(l, "valid_until"));
		} else {
			out(h, "not listed");
		}
		out(h, "</td>");
		td_int(h, "tor_flows", geti(e, "tor_flows"));
		td_int(h, "tor_bytes", geti(e, "tor_bytes"));
		out(h, "<td>");
		out_verdict_counts(h, get(e, "verdicts"), false);
		out(h, "</td><td>");
		out_ts(h, e, "first_ts");
		out(h, "</td><td>");
		out_ts(h, e, "last_ts");
		out(h, "</td><td><span data-k=\"hosts_total\">");
		out_int(h, geti(e, "hosts_total"));
		out(h, "</span>");
		json_array_foreach(get(e, "hosts"), j, x)
		{
			if (j >= HTML_HOST_RELAYS) {
				out(h, ", \xe2\x80\xa6");
				break;
			}
			out(h, j ? ", " : ": ");
			esc(h, json_string_value(x));
		}
		out(h, "</td></tr>\n");
	}
	out(h, "</tbody>\n</table></div>\n");
	out_shown(h, "relays", shown, (long long)n, geti(h->root, "relays_total"),
	    "relays, bridges and exits", NULL);
	out(h, "</section>\n");
}

/* The part of a reason before "; checked": what the item means, without where it was
 * checked (that is in the evidence section, once per reason). */
static void out_short_reason(struct html *h, const char *reason)
{
	const char *cut = reason ? strstr(reason, "; checked") : NULL;
	char *s;

	if (!cut) {
		esc(h, reason);
		return;
	}
	s = strndup(reason, (size_t)(cut - reason));
	esc(h, s ? s : reason);
	free(s);
}

static void legend_add(struct html *h, const char *id, const char *reason)
{
	if (!id || !reason)
		return;
	for (size_t i = 0; i < h->n_legend; i++)
		if (strcmp(h->legend[i].id, id) == 0 && strcmp(h->legend[i].reason, reason) == 0)
			return;
	if (h->n_legend == HTML_LEGEND_MAX) {
		h->is_legend_full = true;
		return;
	}
	h->legend[h->n_legend].id = id;
	h->legend[h->n_legend].reason = reason;
	h->n_legend++;
}

static void out_flow_table(
    struct html *h, const char *id, const json_t *flows, size_t shown, bool is_candidates)
{
	out_filter(h, id);
	outf(h,
	    "<div class=\"w\"><table id=\"%s\">\n<thead><tr><th>#</th><th>Flow</th>"
	    "<th>Start</th><th>Duration</th><th>Packets</th><th>Bytes</th><th>%s</th>"
	    "<th>Score</th><th>Evidence (id, weight, what it means)</th><th>Relay</th>"
	    "<th>File</th></tr></thead>\n<tbody>\n",
	    id, is_candidates ? "Candidate for" : "Verdict");
	for (size_t i = 0; i < shown; i++) {
		json_t *f = json_array_get(flows, i), *relay = get(f, "relay"), *ev;
		char buf[48];
		size_t j;

		outf(h, "<tr><td class=\"n\">%zu</td><td class=\"m\">", i + 1);
		esc(h, gets(f, "proto"));
		out(h, " ");
		out_endpoint(h, gets(f, "src_ip"), geti(f, "src_port"));
		out(h, " \xe2\x86\x92 ");
		out_endpoint(h, gets(f, "dst_ip"), geti(f, "dst_port"));
		out(h, "</td><td>");
		out_ts(h, f, "first_ts");
		outf(h, "</td><td class=\"n\">%s</td>", fmt_dur(buf, getd(f, "duration_s")));
		td_int(h, "packets", geti(f, "packets"));
		td_int(h, "bytes", geti(f, "bytes"));
		out(h, "<td data-k=\"verdict\">");
		esc(h, gets(f, is_candidates ? "candidate" : "verdict"));
		outf(h, "</td><td class=\"n\" data-k=\"score\">%.6f</td><td><ul class=\"ev\">",
		    getd(f, "score"));
		json_array_foreach(get(f, "evidence"), j, ev)
		{
			out(h, "<li><b>");
			esc(h, gets(ev, "id"));
			outf(h, "</b> %+.2f ", getd(ev, "weight"));
			out_short_reason(h, gets(ev, "reason"));
			out(h, "</li>");
			legend_add(h, gets(ev, "id"), gets(ev, "reason"));
		}
		out(h, "</ul></td><td>");
		if (json_is_object(relay)) {
			esc(h, gets(relay, "nickname") ? gets(relay, "nickname") : "(unnamed)");
			out(h, ", ");
			esc(h, gets(relay, "endpoint"));
			out(h, " ");
			esc(h, gets(relay, "match"));
		} else {
			out(h, "not listed");
		}
		out(h, "</td><td class=\"b\">");
		esc(h, gets(f, "file"));
		out(h, "</td></tr>\n");
	}
	out(h, "</tbody>\n</table></div>\n");
}

static void out_tor_flows(struct html *h)
{
	json_t *flows = get(h->root, "tor_flows");
	size_t n = json_array_size(flows), shown = n < HTML_TOR_MAX ? n : HTML_TOR_MAX;

	out(h, "<section id=\"tor-flows\">\n<h2>Tor flows</h2>\n");
	if (!is_detection(h)) {
		out(h, "<p>Detection was off.</p>\n</section>\n");
		return;
	}
	out(h, "<p class=\"note\">Flows with a verdict other than none, in capture order, each "
	       "with the evidence behind its score. Weights are log likelihood ratios; score = "
	       "logistic(prior + evidence).</p>\n");
	if (shown)
		out_flow_table(h, "tor-flows-table", flows, shown, false);
	out_shown(h, "tor-flows", shown, (long long)n, geti(h->root, "tor_flows_total"),
	    "Tor flows", "every flow is in flows.msgpack (tortrace export --jsonl)");
	out(h, "</section>\n");
}

static void out_candidates(struct html *h)
{
	json_t *flows = get(h->root, "candidate_flows");
	size_t n = json_array_size(flows), shown = n < HTML_CAND_MAX ? n : HTML_CAND_MAX;

	out(h, "<section id=\"candidates\">\n<h2>Candidates (below the threshold)</h2>\n");
	if (!is_detection(h)) {
		out(h, "<p>Detection was off.</p>\n</section>\n");
		return;
	}
	outf(h,
	    "<p class=\"note\">Leads, not findings: evidence points towards Tor but the score "
	    "stays below the threshold (%.2f). Their verdict is none; they are not counted "
	    "above.</p>\n",
	    getd(get(h->root, "options"), "min_score"));
	if (shown)
		out_flow_table(h, "candidates-table", flows, shown, true);
	out_shown(h, "candidates", shown, (long long)n, geti(h->root, "candidate_flows_total"),
	    "candidate flows", "every flow is in flows.msgpack (tortrace export --jsonl)");
	out(h, "</section>\n");
}

static void out_legend(struct html *h)
{
	out(h, "<section id=\"evidence\">\n<h2>Evidence items, in full</h2>\n");
	if (!h->n_legend) {
		out(h, "<p>No evidence on this page.</p>\n</section>\n");
		return;
	}
	out(h, "<p class=\"note\">Each reason given for the flows above, with where it was "
	       "checked.</p>\n<table id=\"evidence-table\">\n<thead><tr><th>Item</th>"
	       "<th>Reason</th></tr></thead>\n<tbody>\n");
	for (size_t i = 0; i < h->n_legend; i++) {
		out(h, "<tr><td><b>");
		esc(h, h->legend[i].id);
		out(h, "</b></td><td>");
		esc(h, h->legend[i].reason);
		out(h, "</td></tr>\n");
	}
	out(h, "</tbody>\n</table>\n");
	if (h->is_legend_full)
		outf(h,
		    "<p class=\"shown\">The first %d distinct reasons are shown; report.json "
		    "has each flow's.</p>\n",
		    HTML_LEGEND_MAX);
	out(h, "</section>\n");
}

static void out_files(struct html *h)
{
	json_t *files = get(h->root, "files");
	size_t n = json_array_size(files), shown = n < HTML_FILES_MAX ? n : HTML_FILES_MAX;

	out(h, "<section id=\"files\">\n<h2>Input files</h2>\n");
	out_filter(h, "files-table");
	out(h, "<div class=\"w\"><table id=\"files-table\">\n<thead><tr><th>#</th><th>Path</th>"
	       "<th>Size</th><th>Format</th><th>SHA-256</th><th>Packets</th><th>Flows</th>"
	       "<th>Verdicts</th><th>Candidates</th><th>Confidence</th><th>Set</th>"
	       "<th>Capture span</th><th>Error</th></tr></thead>\n<tbody>\n");
	for (size_t i = 0; i < shown; i++) {
		json_t *e = json_array_get(files, i), *set = get(e, "set");

		outf(h, "<tr data-file=\"%zu\"><td class=\"n\">%zu</td><td class=\"b\">", i, i);
		esc(h, gets(e, "path"));
		out(h, "</td>");
		td_int(h, "size", geti(e, "size"));
		out(h, "<td>");
		esc(h, gets(e, "format"));
		if (gets(e, "compression") && strcmp(gets(e, "compression"), "none") != 0) {
			out(h, ", ");
			esc(h, gets(e, "compression"));
		}
		out(h, "</td><td class=\"m b\">");
		if (gets(e, "sha256"))
			esc(h, gets(e, "sha256"));
		else if (json_is_true(get(e, "changed_during_read")))
			out(h, "none: the file changed while it was read");
		else
			out(h, "not computed");
		out(h, "</td>");
		td_int(h, "packets", geti(e, "packets"));
		td_int(h, "flows", geti(e, "flows"));
		out(h, "<td>");
		out_verdict_counts(h, get(e, "verdicts"), false);
		out(h, "</td>");
		td_int(h, "candidates", geti(get(e, "candidates"), "total"));
		out(h, "<td>");
		if (json_is_integer(get(e, "confidence"))) {
			outf(h, "<b data-k=\"confidence\">%lld</b>/100: ", geti(e, "confidence"));
			esc(h, gets(e, "confidence_reason"));
		} else {
			esc(h, NULL);
		}
		out(h, "</td><td>");
		if (json_is_integer(set))
			outf(h, "set %lld; ", json_integer_value(set));
		esc(h, gets(e, "chain"));
		out(h, "</td><td>");
		out_ts(h, e, "first_ts");
		out(h, " to ");
		out_ts(h, e, "last_ts");
		out(h, "</td><td>");
		if (gets(e, "error"))
			esc(h, gets(e, "error"));
		if (json_is_true(get(e, "partial")))
			out(h, gets(e, "error") ? " (read in part)" : "read in part");
		if (!json_is_true(get(e, "read")))
			out(h, "not read (interrupted)");
		out(h, "</td></tr>\n");
	}
	out(h, "</tbody>\n</table></div>\n");
	out_shown(h, "files", shown, (long long)n, (long long)n, "files", "report.json lists all");
	out(h, "</section>\n");
}

static void kv(struct html *h, const char *key, const char *value)
{
	out(h, "<dt>");
	esc(h, key);
	out(h, "</dt><dd>");
	esc(h, value);
	out(h, "</dd>\n");
}

static void out_provenance(struct html *h)
{
	json_t *opts = get(h->root, "options"), *rd = get(opts, "relay_data");
	json_t *run = get(h->root, "run"), *sets = get(h->root, "sets"), *x;
	size_t n_sets = json_array_size(sets),
	       shown = n_sets < HTML_SETS_MAX ? n_sets : HTML_SETS_MAX;
	char buf[64];
	size_t i;

	out(h, "<section id=\"provenance\">\n<h2>Provenance</h2>\n<h3>Inputs and options</h3>\n"
	       "<dl class=\"kv\" id=\"options\">\n<dt>Paths as given</dt><dd>");
	json_array_foreach(get(opts, "paths"), i, x)
	{
		if (i)
			out(h, "<br>");
		out(h, "<span class=\"m b\">");
		esc(h, json_string_value(x));
		out(h, "</span>");
	}
	out(h, "</dd>\n");
	kv(h, "Filter (BPF)", gets(opts, "filter") ? gets(opts, "filter") : "none");
	snprintf(buf, sizeof(buf), "TCP %.0f s, UDP %.0f s (packet time)",
	    getd(opts, "tcp_timeout_s"), getd(opts, "udp_timeout_s"));
	kv(h, "Idle timeouts", buf);
	kv(h, "Detection", json_is_true(get(opts, "detection")) ? "on" : "off (--no-detect)");
	snprintf(buf, sizeof(buf), "%.2f", getd(opts, "min_score"));
	kv(h, "Threshold (min score)", buf);
	kv(h, "Capture sets",
	    json_is_false(get(opts, "chain")) ? "off (--no-chain)"
					      : "files that continue each "
						"other are one timeline");
	kv(h, "SHA-256 of inputs",
	    json_is_true(get(opts, "sha256")) ? "computed" : "not computed (--sha256 computes it)");
	if (json_array_size(get(opts, "without_evidence"))) {
		out(h, "<dt>Evidence left out (measurement run)</dt><dd>");
		json_array_foreach(get(opts, "without_evidence"), i, x)
		{
			if (i)
				out(h, ", ");
			esc(h, json_string_value(x));
		}
		out(h, "</dd>\n");
	}
	out(h, "</dl>\n<h3>Relay data</h3>\n<dl class=\"kv\" id=\"relay-data\">\n");
	if (!json_is_object(rd)) {
		kv(h, "Relay data", "none given");
	} else {
		kv(h, "Path", gets(rd, "path"));
		kv(h, "Used", json_is_false(get(rd, "used")) ? "no" : "yes");
		if (gets(rd, "reason"))
			kv(h, "Why not", gets(rd, "reason"));
		kv(h, "Digest (XXH3-128 of the sources)", gets(rd, "digest_xxh3_128"));
		if (json_is_number(get(rd, "documents"))) {
			snprintf(buf, sizeof(buf), "%lld documents, %lld relays, %lld errors",
			    geti(rd, "documents"), geti(rd, "relays"), geti(rd, "errors"));
			kv(h, "Holds", buf);
		}
		if (gets(rd, "valid_from")) {
			out(h, "<dt>Valid</dt><dd>");
			esc(h, gets(rd, "valid_from"));
			out(h, " to ");
			esc(h, gets(rd, "valid_until"));
			out(h, "</dd>\n");
		}
	}
	out(h, "</dl>\n<h3>Capture sets</h3>\n");
	if (n_sets) {
		out(h, "<div class=\"w\"><table id=\"sets-table\">\n<thead><tr><th>Set</th>"
		       "<th>Files</th><th>First file</th><th>Last file</th><th>Packets</th>"
		       "<th>Span</th></tr></thead>\n<tbody>\n");
		for (i = 0; i < shown; i++) {
			json_t *s = json_array_get(sets, i);

			outf(h, "<tr><td class=\"n\">%lld</td>", geti(s, "set"));
			td_int(h, "files", geti(s, "files"));
			out(h, "<td class=\"b\">");
			esc(h, gets(s, "first_path"));
			out(h, "</td><td class=\"b\">");
			esc(h, gets(s, "last_path"));
			out(h, "</td>");
			td_int(h, "packets", geti(s, "packets"));
			out(h, "<td>");
			out_ts(h, s, "first_ts");
			out(h, " to ");
			out_ts(h, s, "last_ts");
			out(h, "</td></tr>\n");
		}
		out(h, "</tbody>\n</table></div>\n");
		out_shown(h, "sets", shown, (long long)n_sets, (long long)n_sets, "capture sets",
		    "report.json lists all");
	} else {
		out(h, "<p>No file held packets.</p>\n");
	}
	out(h, "<h3>Run</h3>\n<dl class=\"kv\" id=\"run\">\n");
	kv(h, "Started", gets(run, "started_at"));
	snprintf(buf, sizeof(buf), "%.3f s (%.1f MB/s)", getd(run, "elapsed_s"),
	    getd(run, "throughput_mb_s"));
	kv(h, "Elapsed", buf);
	snprintf(buf, sizeof(buf), "%lld", geti(run, "workers"));
	kv(h, "Worker threads", buf);
	snprintf(
	    buf, sizeof(buf), "%.1f MiB", (double)geti(run, "peak_rss_anon_bytes") / 1048576.0);
	kv(h, "Peak anonymous memory", buf);
	out(h, "<dt>Command</dt><dd class=\"m b\">tortrace ");
	esc(h, gets(run, "command"));
	out(h, "</dd>\n</dl>\n<p class=\"note\">This page was rendered from report.json; "
	       "<code>tortrace report OUT</code> renders it again. The flows are in "
	       "flows.msgpack (<code>tortrace export --jsonl</code>).</p>\n</section>\n");
}

/* The captures' span from the sets (else the files), for the charts' time axes; widened
 * to cover every host's periods and activity bar, and to at least a second. */
static void find_span(struct html *h)
{
	double t0 = INFINITY, t1 = -INFINITY, bar_s = getd(get(h->root, "activity"), "bar_s");
	json_t *e, *p;
	size_t i, j;
	static const char *const lists[] = {"sets", "files"};

	for (size_t l = 0; l < 2 && !(t0 <= t1); l++)
		json_array_foreach(get(h->root, lists[l]), i, e)
		{
			if (is_time(getd(e, "first_ts")) && getd(e, "first_ts") < t0)
				t0 = getd(e, "first_ts");
			if (is_time(getd(e, "last_ts")) && getd(e, "last_ts") > t1)
				t1 = getd(e, "last_ts");
		}
	if (t0 <= t1) {
		h->cap_t0 = t0;
		h->cap_t1 = t1;
	}
	json_array_foreach(get(h->root, "hosts"), i, e)
	{
		json_array_foreach(get(e, "active_periods"), j, p)
		{
			double a = json_number_value(json_array_get(p, 0));
			double b = json_number_value(json_array_get(p, 1));

			if (is_time(a) && is_time(b) && a <= b) {
				t0 = fmin(t0, a);
				t1 = fmax(t1, b);
			}
		}
	}
	json_array_foreach(get(get(h->root, "activity"), "bars"), i, p)
	{
		double t = json_number_value(json_array_get(p, 0));

		if (is_time(t) && bar_s > 0 && bar_s < 1e9) {
			t0 = fmin(t0, t);
			t1 = fmax(t1, t + bar_s);
		}
	}
	if (!(t0 <= t1))
		t0 = t1 = 0;
	if (t1 - t0 < 1)
		t1 = t0 + 1;
	h->t0 = t0;
	h->t1 = t1;
}

/* The report, read whole and then parsed: json_load_file() reads a byte at a time
 * through getc(), which took longer than rendering the page. */
static json_t *load_json(const char *path, json_error_t *err)
{
	FILE *in = fopen(path, "rb");
	char *buf = NULL;
	size_t len = 0, cap = 0;
	json_t *root = NULL;

	if (!in)
		return json_load_file(path, JSON_REJECT_DUPLICATES, err); /* says why */
	for (;;) {
		size_t got;

		if (len == cap) {
			char *b = realloc(buf, cap = cap ? 2 * cap : 1u << 20);

			if (!b) {
				free(buf);
				fclose(in);
				return json_load_file(path, JSON_REJECT_DUPLICATES, err);
			}
			buf = b;
		}
		got = fread(buf + len, 1, cap - len, in);
		len += got;
		if (got == 0)
			break;
	}
	if (!ferror(in))
		root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, err);
	else
		root = json_load_file(path, JSON_REJECT_DUPLICATES, err);
	fclose(in);
	free(buf);
	return root;
}

int tt_report_html(const char *report_json_path, FILE *f)
{
	struct html *h;
	json_error_t err;
	const char *schema;
	int rc = 0;

	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->f = f;
	h->root = load_json(report_json_path, &err);
	if (!h->root) {
		tt_log(TT_LOG_ERROR, "cannot read %s: %s (line %d, column %d)", report_json_path,
		    err.text, err.line, err.column);
		free(h);
		return -EBADMSG;
	}
	schema = gets(h->root, "schema");
	if (!schema || strcmp(schema, "tortrace.report/1") != 0) {
		tt_log(TT_LOG_ERROR, "%s is not a tortrace report (schema %s)", report_json_path,
		    schema ? schema : "missing");
		rc = -EBADMSG;
		goto out_free;
	}
	find_span(h);
	out_head(h);
	out_header(h);
	out_summary(h);
	out_hosts(h);
	out_timeline(h);
	out_activity(h);
	out_relays(h);
	out_tor_flows(h);
	out_candidates(h);
	out_legend(h);
	out_files(h);
	out_provenance(h);
	outf(h, "<script>%s</script>\n</body>\n</html>\n", page_script);
	if (ferror(f))
		rc = -EIO;
out_free:
	json_decref(h->root);
	free(h);
	return rc;
}

int tt_report_html_write(const char *report_json_path, const char *html_path)
{
	FILE *f = fopen(html_path, "w");
	int rc;

	if (!f)
		return -errno;
	errno = 0;
	rc = tt_report_html(report_json_path, f);
	if (rc == -EIO && errno)
		rc = -errno;
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
