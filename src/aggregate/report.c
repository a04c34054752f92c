/* report.json: provenance, totals and per-file results. Everything outside the "run"
 * object depends only on the inputs and options, never on timing or -j. The schema is
 * documented in docs/report-schema.md. */
#include "aggregate.h"

#include <errno.h>
#include <stdlib.h>

#include "tortrace/tortrace.h"

/* Defined here to avoid a dependency on the reader's header for three names. */
static const char *const format_names[] = {"pcap", "pcap-ns", "pcapng"};
static const char *const comp_names[] = {"none", "none", "gzip", "zstd"};

struct sums {
	uint64_t n_pkts, n_bytes, n_cap_bytes, n_ipv4, n_ipv6, n_non_ip, n_truncated;
	uint64_t n_bad_link, n_tcp, n_udp, n_frags, n_frags_orphan, n_filtered, n_tunnelled;
	uint64_t n_failed, n_partial, n_not_read;
	uint64_t n_ip_proto[256];
};

static void counters(struct tt_json *j, const struct tt_file_stats *f)
{
	tt_json_key(j, "ipv4");
	tt_json_u64(j, f->n_ipv4);
	tt_json_key(j, "ipv6");
	tt_json_u64(j, f->n_ipv6);
	tt_json_key(j, "tcp_packets");
	tt_json_u64(j, f->n_tcp);
	tt_json_key(j, "udp_packets");
	tt_json_u64(j, f->n_udp);
	tt_json_key(j, "tunnelled");
	tt_json_u64(j, f->n_tunnelled);
	tt_json_key(j, "non_ip");
	tt_json_u64(j, f->n_non_ip);
	tt_json_key(j, "truncated");
	tt_json_u64(j, f->n_truncated);
	tt_json_key(j, "fragments");
	tt_json_u64(j, f->n_frags);
	tt_json_key(j, "fragments_unattributed");
	tt_json_u64(j, f->n_frags_orphan);
	tt_json_key(j, "filtered_out");
	tt_json_u64(j, f->n_filtered);
	tt_json_key(j, "link_not_decoded");
	tt_json_u64(j, f->n_bad_link);
	tt_json_key(j, "other_ip_protocols");
	tt_json_obj(j);
	for (int p = 0; p < 256; p++) {
		char k[8];

		if (!f->n_ip_proto[p])
			continue;
		snprintf(k, sizeof(k), "%d", p);
		tt_json_key(j, k);
		tt_json_u64(j, f->n_ip_proto[p]);
	}
	tt_json_obj_end(j);
}

static void add(struct sums *s, const struct tt_file_stats *f)
{
	s->n_pkts += f->n_pkts;
	s->n_bytes += f->n_bytes;
	s->n_cap_bytes += f->n_cap_bytes;
	s->n_ipv4 += f->n_ipv4;
	s->n_ipv6 += f->n_ipv6;
	s->n_non_ip += f->n_non_ip;
	s->n_truncated += f->n_truncated;
	s->n_bad_link += f->n_bad_link;
	s->n_tcp += f->n_tcp;
	s->n_udp += f->n_udp;
	s->n_tunnelled += f->n_tunnelled;
	s->n_frags += f->n_frags;
	s->n_frags_orphan += f->n_frags_orphan;
	s->n_filtered += f->n_filtered;
	s->n_failed += f->error != NULL;
	s->n_partial += f->is_partial;
	s->n_not_read += !f->is_read;
	for (int p = 0; p < 256; p++)
		s->n_ip_proto[p] += f->n_ip_proto[p];
}

static void file_entry(struct tt_json *j, const struct tt_file_stats *f)
{
	char when[40];

	tt_json_obj(j);
	tt_json_key(j, "path");
	tt_json_str(j, f->path);
	tt_json_key(j, "size");
	tt_json_u64(j, f->size_bytes);
	tt_json_key(j, "format");
	tt_json_str(j, f->format >= 0 && f->format <= 2 ? format_names[f->format] : NULL);
	tt_json_key(j, "compression");
	tt_json_str(j, comp_names[f->comp & 3]);
	tt_json_key(j, "linktypes");
	tt_json_arr(j);
	for (uint32_t i = 0; i < f->n_linktypes; i++)
		tt_json_u64(j, f->linktypes[i]);
	tt_json_arr_end(j);
	tt_json_key(j, "packets");
	tt_json_u64(j, f->n_pkts);
	tt_json_key(j, "bytes");
	tt_json_u64(j, f->n_bytes);
	tt_json_key(j, "captured_bytes");
	tt_json_u64(j, f->n_cap_bytes);
	tt_json_key(j, "flows");
	tt_json_u64(j, f->n_flows);
	tt_json_key(j, "flows_tcp");
	tt_json_u64(j, f->n_flows_tcp);
	tt_json_key(j, "flows_udp");
	tt_json_u64(j, f->n_flows_udp);
	tt_json_key(j, "first_ts");
	if (f->n_pkts) {
		tt_json_ts(j, f->first_ts_ns);
		tt_json_key(j, "last_ts");
		tt_json_ts(j, f->last_ts_ns);
		tt_json_key(j, "first_time");
		tt_fmt_time(f->first_ts_ns, when, sizeof(when));
		tt_json_str(j, when);
		tt_json_key(j, "last_time");
		tt_fmt_time(f->last_ts_ns, when, sizeof(when));
		tt_json_str(j, when);
	} else {
		tt_json_null(j);
		tt_json_key(j, "last_ts");
		tt_json_null(j);
		tt_json_key(j, "first_time");
		tt_json_null(j);
		tt_json_key(j, "last_time");
		tt_json_null(j);
	}
	tt_json_key(j, "error");
	tt_json_str(j, f->error);
	tt_json_key(j, "partial");
	tt_json_bool(j, f->is_partial);
	tt_json_key(j, "read");
	tt_json_bool(j, f->is_read);
	tt_json_key(j, "caplen_over_snaplen");
	tt_json_u64(j, f->n_caplen_over_snaplen);
	counters(j, f);
	tt_json_obj_end(j);
}

int tt_report_write(FILE *f, const struct tt_config *cfg, const struct tt_file_stats *files,
    size_t n_files, const struct tt_aggregator *agg, const struct tt_run_info *run)
{
	struct sums *s = calloc(1, sizeof(*s));
	struct tt_file_stats all = {0};
	struct tt_json j;
	char when[40];

	if (!s)
		return -ENOMEM;
	for (size_t i = 0; i < n_files; i++)
		add(s, &files[i]);
	tt_json_init(&j, f, true);
	tt_json_obj(&j);
	tt_json_key(&j, "schema");
	tt_json_str(&j, "tortrace.report/1");
	tt_json_key(&j, "tool");
	tt_json_obj(&j);
	tt_json_key(&j, "name");
	tt_json_str(&j, "tortrace");
	tt_json_key(&j, "version");
	tt_json_str(&j, TT_VERSION);
	tt_json_obj_end(&j);
	tt_json_key(&j, "complete");
	tt_json_bool(&j, run->is_complete);
	tt_json_key(&j, "options");
	tt_json_obj(&j);
	tt_json_key(&j, "paths");
	tt_json_arr(&j);
	for (size_t i = 0; i < cfg->n_paths; i++)
		tt_json_str(&j, cfg->paths[i]);
	tt_json_arr_end(&j);
	tt_json_key(&j, "filter");
	tt_json_str(&j, cfg->bpf);
	tt_json_key(&j, "tcp_timeout_s");
	tt_json_num(&j, (double)cfg->tcp_timeout_ns / 1e9, 3);
	tt_json_key(&j, "udp_timeout_s");
	tt_json_num(&j, (double)cfg->udp_timeout_ns / 1e9, 3);
	tt_json_obj_end(&j);

	tt_json_key(&j, "totals");
	tt_json_obj(&j);
	tt_json_key(&j, "files");
	tt_json_u64(&j, n_files);
	tt_json_key(&j, "files_failed");
	tt_json_u64(&j, s->n_failed);
	tt_json_key(&j, "files_partial");
	tt_json_u64(&j, s->n_partial);
	tt_json_key(&j, "files_not_read");
	tt_json_u64(&j, s->n_not_read);
	tt_json_key(&j, "packets");
	tt_json_u64(&j, s->n_pkts);
	tt_json_key(&j, "bytes");
	tt_json_u64(&j, s->n_bytes);
	tt_json_key(&j, "captured_bytes");
	tt_json_u64(&j, s->n_cap_bytes);
	tt_json_key(&j, "flows");
	tt_json_u64(&j, agg->n_flows);
	tt_json_key(&j, "flows_tcp");
	tt_json_u64(&j, agg->n_flows_tcp);
	tt_json_key(&j, "flows_udp");
	tt_json_u64(&j, agg->n_flows_udp);
	all.n_ipv4 = s->n_ipv4;
	all.n_ipv6 = s->n_ipv6;
	all.n_tcp = s->n_tcp;
	all.n_udp = s->n_udp;
	all.n_tunnelled = s->n_tunnelled;
	all.n_non_ip = s->n_non_ip;
	all.n_truncated = s->n_truncated;
	all.n_frags = s->n_frags;
	all.n_frags_orphan = s->n_frags_orphan;
	all.n_filtered = s->n_filtered;
	all.n_bad_link = s->n_bad_link;
	memcpy(all.n_ip_proto, s->n_ip_proto, sizeof(all.n_ip_proto));
	counters(&j, &all);
	tt_json_obj_end(&j);

	tt_json_key(&j, "files");
	tt_json_arr(&j);
	for (size_t i = 0; i < n_files; i++)
		file_entry(&j, &files[i]);
	tt_json_arr_end(&j);

	/* Timing and machine-dependent facts: the only part that differs between runs. */
	tt_json_key(&j, "run");
	tt_json_obj(&j);
	tt_json_key(&j, "started_at");
	tt_fmt_time(run->started_unix_ns, when, sizeof(when));
	tt_json_str(&j, when);
	tt_json_key(&j, "elapsed_s");
	tt_json_num(&j, (double)run->elapsed_ns / 1e9, 3);
	tt_json_key(&j, "throughput_mb_s");
	tt_json_num(
	    &j, run->elapsed_ns ? (double)s->n_cap_bytes * 1e3 / (double)run->elapsed_ns : 0, 1);
	tt_json_key(&j, "workers");
	tt_json_u64(&j, run->n_workers);
	tt_json_key(&j, "peak_rss_anon_bytes");
	tt_json_u64(&j, run->peak_rss_anon_bytes);
	tt_json_key(&j, "command");
	tt_json_str(&j, cfg->command_line);
	tt_json_key(&j, "per_worker");
	tt_json_arr(&j);
	for (unsigned w = 0; w < run->n_workers; w++) {
		tt_json_obj(&j);
		tt_json_key(&j, "packets");
		tt_json_u64(&j, run->worker_pkts[w]);
		tt_json_key(&j, "max_flows");
		tt_json_u64(&j, run->worker_max_flows[w]);
		tt_json_obj_end(&j);
	}
	tt_json_arr_end(&j);
	tt_json_obj_end(&j);
	tt_json_obj_end(&j);
	fputc('\n', f);
	free(s);
	return ferror(f) ? -EIO : 0;
}
