/* report.json: provenance, totals and per-file results. Everything outside the "run"
 * object depends only on the inputs and options, never on timing or -j. The schema is
 * documented in docs/report-schema.md. */
#include "aggregate.h"

#include <errno.h>
#include <stdlib.h>

#include "tortrace/tortrace.h"
#include "relays.h"

/* Defined here to avoid a dependency on the reader's header for three names. */
static const char *const format_names[] = {"pcap", "pcap-ns", "pcapng"};
static const char *const comp_names[] = {"none", "none", "gzip", "zstd"};

/* f's counters; protos, when not NULL, replaces f's protocol table (the totals keep
 * all 256 protocols). */
static void counters(struct tt_json *j, const struct tt_file_stats *f, const uint64_t *protos)
{
	tt_json_kv_u64(j, "ipv4", f->n_ipv4);
	tt_json_kv_u64(j, "ipv6", f->n_ipv6);
	tt_json_kv_u64(j, "tcp_packets", f->n_tcp);
	tt_json_kv_u64(j, "udp_packets", f->n_udp);
	tt_json_kv_u64(j, "tunnelled", f->n_tunnelled);
	tt_json_kv_u64(j, "non_ip", f->n_non_ip);
	tt_json_kv_u64(j, "truncated", f->n_truncated);
	tt_json_kv_u64(j, "fragments", f->n_frags);
	tt_json_kv_u64(j, "fragments_unattributed", f->n_frags_orphan);
	tt_json_kv_u64(j, "filtered_out", f->n_filtered);
	tt_json_kv_u64(j, "link_not_decoded", f->n_bad_link);
	tt_json_key(j, "other_ip_protocols");
	tt_json_obj(j);
	for (int p = 0; p < 256; p++) { /* in protocol order */
		uint64_t n = 0;
		char k[8];

		if (protos)
			n = protos[p];
		for (uint8_t i = 0; !protos && i < f->ip_protos.n; i++)
			if (f->ip_protos.proto[i] == p)
				n = f->ip_protos.count[i];
		if (!n)
			continue;
		snprintf(k, sizeof(k), "%d", p);
		tt_json_kv_u64(j, k, n);
	}
	if (!protos && f->ip_protos.n_other)
		tt_json_kv_u64(j, "other", f->ip_protos.n_other);
	tt_json_obj_end(j);
}

/* Sum f's counters into *s (a file entry used as the totals). */
static void add(struct tt_file_stats *s, const struct tt_file_stats *f)
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
	s->n_flows_evicted += f->n_flows_evicted;
	s->n_tls_evicted += f->n_tls_evicted;
}

/* Flows by verdict (every verdict listed, so a zero is visible). */
static void verdicts(struct tt_json *j, const uint64_t n[TT_VERDICT_COUNT])
{
	tt_json_key(j, "verdicts");
	tt_json_obj(j);
	for (unsigned v = 0; v < TT_VERDICT_COUNT; v++)
		tt_json_kv_u64(j, tt_verdict_name(v), n[v]);
	tt_json_obj_end(j);
}

/* Candidates by the verdict they are candidates for: flows with positive evidence whose
 * score stayed below the threshold. Never part of the verdicts above. */
static void candidates(struct tt_json *j, const uint64_t n[TT_VERDICT_COUNT])
{
	uint64_t total = 0;

	for (unsigned v = 1; v < TT_VERDICT_COUNT; v++)
		total += n[v];
	tt_json_key(j, "candidates");
	tt_json_obj(j);
	tt_json_kv_u64(j, "total", total);
	for (unsigned v = 1; v < TT_VERDICT_COUNT; v++)
		if (v != TT_VERDICT_TOR_EXIT_SIDE) /* a fact, never a candidate */
			tt_json_kv_u64(j, tt_verdict_name(v), n[v]);
	tt_json_obj_end(j);
}

/* Provenance of the relay data the verdicts rest on. */
static void relay_data(struct tt_json *j, const struct tt_config *cfg, const struct tt_relays *r)
{
	struct tt_relays_info info;
	char from[40], to[40];

	tt_json_key(j, "relay_data");
	if (!r && cfg->relays_path) { /* given, but analyze found no entries in it */
		tt_json_obj(j);
		tt_json_kv_str(j, "path", cfg->relays_path);
		tt_json_key(j, "used");
		tt_json_bool(j, false);
		tt_json_kv_str(j, "reason", "no relay entries");
		tt_json_obj_end(j);
		return;
	}
	if (!r) {
		tt_json_null(j);
		return;
	}
	tt_relays_get_info(r, &info);
	tt_fmt_time(info.earliest_ns, from, sizeof(from));
	tt_fmt_time(info.latest_ns, to, sizeof(to));
	tt_json_obj(j);
	tt_json_kv_str(j, "path", cfg->relays_path);
	tt_json_key(j, "used");
	tt_json_bool(j, true);
	tt_json_kv_str(j, "digest_xxh3_128", tt_relays_digest(r));
	tt_json_kv_u64(j, "documents", info.n_docs);
	tt_json_kv_u64(j, "relays", info.n_relays);
	tt_json_kv_u64(j, "errors", info.n_errors);
	tt_json_kv_str(j, "valid_from", from);
	tt_json_kv_str(j, "valid_until", to);
	tt_json_obj_end(j);
}

/* The flows with a verdict other than none, each with its evidence explained. */
static void flow_list(struct tt_json *j, const char *key, const uint8_t *buf, size_t len,
    const struct tt_file_stats *files, size_t n_files)
{
	msgpack_unpacked u;
	size_t off = 0;

	tt_json_key(j, key);
	tt_json_arr(j);
	msgpack_unpacked_init(&u);
	while (buf &&
	       msgpack_unpack_next(&u, (const char *)buf, len, &off) == MSGPACK_UNPACK_SUCCESS) {
		struct tt_flow_record r;
		struct tt_flow_tls tls;
		struct tt_flow_relay relay;

		if (tt_record_unpack(&u.data, &r, &tls, &relay) == 0)
			tt_flow_json(j, &r, r.file_id < n_files ? files[r.file_id].path : "",
			    r.last_file_id < n_files ? files[r.last_file_id].path : "");
	}
	msgpack_unpacked_destroy(&u);
	tt_json_arr_end(j);
}

/* The flows with a verdict other than none, then the candidates (the first
 * TT_REPORT_TOR_MAX, TT_REPORT_CAND_MAX), each with its evidence explained. */
static void tor_flows(struct tt_json *j, const struct tt_aggregator *agg,
    const struct tt_file_stats *files, size_t n_files)
{
	tt_json_kv_u64(j, "tor_flows_total", agg->n_tor);
	flow_list(j, "tor_flows", agg->tor_buf, agg->tor_len, files, n_files);
	tt_json_kv_u64(j, "candidate_flows_total", agg->n_cand);
	flow_list(j, "candidate_flows", agg->cand_buf, agg->cand_len, files, n_files);
}

/* Seconds for a chain reason: 0.8 s, 12 s, 4000 s. */
static void fmt_secs(char *buf, size_t len, uint64_t ns)
{
	double s = (double)ns / 1e9;

	if (ns % 1000000000u == 0)
		snprintf(buf, len, "%llu s", (unsigned long long)(ns / 1000000000u));
	else
		snprintf(buf, len, "%.*f s", s < 10 ? 3 : 1, s);
}

/* Why the file was or was not read as the continuation of the previous file with packets
 * (NULL for the first file). */
static void chain_reason(const struct tt_file_stats *f, uint64_t timeout_ns, char *buf, size_t len)
{
	char a[40], b[40];

	fmt_secs(a, sizeof(a), f->chain_ns);
	switch (f->chain) {
	case TT_CHAIN_YES:
		snprintf(buf, len, "chained: starts %s after the previous file ends", a);
		break;
	case TT_CHAIN_DISABLED:
		snprintf(buf, len, "not chained: --no-chain");
		break;
	case TT_CHAIN_LINKTYPE:
		snprintf(buf, len, "not chained: link type differs (%u, previous file %u)",
		    f->chain_linktype[0], f->chain_linktype[1]);
		break;
	case TT_CHAIN_OVERLAP:
		snprintf(buf, len, "not chained: overlaps the previous file by %s", a);
		break;
	case TT_CHAIN_GAP:
		fmt_secs(b, sizeof(b), timeout_ns);
		snprintf(buf, len, "not chained: gap %s > tcp timeout %s", a, b);
		break;
	case TT_CHAIN_NO_PACKETS:
		snprintf(buf, len, "not chained: no packets (does not break a chain)");
		break;
	default:
		snprintf(buf, len, "first file with packets: starts a set");
		break;
	}
}

/* The sets of files read as one timeline: the files with packets, grouped by set. */
static void sets(struct tt_json *j, const struct tt_file_stats *files, size_t n_files)
{
	tt_json_key(j, "sets");
	tt_json_arr(j);
	for (size_t i = 0; i < n_files; i++) {
		size_t last = i, n = 0;
		uint64_t pkts = 0;

		if (files[i].set_id != i)
			continue;
		for (size_t k = i; k < n_files; k++) {
			if (files[k].set_id == TT_NO_SET)
				continue;
			if (files[k].set_id != i)
				break;
			last = k;
			n++;
			pkts += files[k].n_pkts;
		}
		tt_json_obj(j);
		tt_json_kv_u64(j, "set", i);
		tt_json_kv_u64(j, "first_file", i);
		tt_json_kv_u64(j, "last_file", last);
		tt_json_kv_u64(j, "files", n);
		tt_json_kv_str(j, "first_path", files[i].path);
		tt_json_kv_str(j, "last_path", files[last].path);
		tt_json_kv_u64(j, "packets", pkts);
		tt_json_key(j, "first_ts");
		tt_json_ts(j, files[i].first_ts_ns);
		tt_json_key(j, "last_ts");
		tt_json_ts(j, files[last].last_ts_ns);
		tt_json_obj_end(j);
	}
	tt_json_arr_end(j);
}

static void file_entry(struct tt_json *j, const struct tt_file_stats *f, size_t id,
    const struct tt_config *cfg, const struct tt_findings *findings)
{
	char when[40], why[256];
	unsigned confidence;

	tt_json_obj(j);
	tt_json_kv_str(j, "path", f->path);
	tt_json_kv_u64(j, "size", f->size_bytes);
	tt_json_kv_str(j, "sha256", f->sha256[0] ? f->sha256 : NULL);
	tt_json_kv_str(
	    j, "format", f->format >= 0 && f->format <= 2 ? format_names[f->format] : NULL);
	tt_json_kv_str(j, "compression", comp_names[f->comp & 3]);
	tt_json_key(j, "linktypes");
	tt_json_arr(j);
	for (uint32_t i = 0; i < f->n_linktypes; i++)
		tt_json_u64(j, f->linktypes[i]);
	tt_json_arr_end(j);
	tt_json_kv_u64(j, "packets", f->n_pkts);
	tt_json_kv_u64(j, "bytes", f->n_bytes);
	tt_json_kv_u64(j, "captured_bytes", f->n_cap_bytes);
	tt_json_kv_u64(j, "flows", f->n_flows);
	tt_json_kv_u64(j, "flows_tcp", f->n_flows_tcp);
	tt_json_kv_u64(j, "flows_udp", f->n_flows_udp);
	verdicts(j, f->n_verdict);
	candidates(j, f->n_candidate);
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
	tt_json_kv_str(j, "error", f->error);
	tt_json_key(j, "partial");
	tt_json_bool(j, f->is_partial);
	tt_json_key(j, "read");
	tt_json_bool(j, f->is_read);
	tt_json_kv_u64(j, "caplen_over_snaplen", f->n_caplen_over_snaplen);
	counters(j, f, NULL);
	tt_json_key(j, "changed_during_read");
	tt_json_bool(j, f->is_changed);
	tt_json_kv_u64(j, "tls_inspections_evicted", f->n_tls_evicted);
	tt_json_kv_u64(j, "flows_evicted", f->n_flows_evicted);
	tt_json_key(j, "set");
	if (f->set_id == TT_NO_SET)
		tt_json_null(j);
	else
		tt_json_u64(j, f->set_id);
	chain_reason(f, cfg->tcp_timeout_ns, why, sizeof(why));
	tt_json_kv_str(j, "chain", why);
	if (findings) {
		tt_findings_file_confidence(findings, id, f->n_flows,
		    cfg->min_score > 0 ? cfg->min_score : TT_MIN_SCORE_DEFAULT, &confidence, why,
		    sizeof(why));
		tt_json_kv_u64(j, "confidence", confidence);
		tt_json_kv_str(j, "confidence_reason", why);
	}
	tt_json_obj_end(j);
}

int tt_report_write(FILE *f, const struct tt_config *cfg, const struct tt_file_stats *files,
    size_t n_files, const struct tt_aggregator *agg, const struct tt_run_info *run)
{
	struct tt_file_stats *all = calloc(1, sizeof(*all));
	uint64_t protos[256] = {0}; /* a file past TT_MAX_IP_PROTOS counts them as "other" */
	uint64_t n_failed = 0, n_partial = 0, n_not_read = 0,
		 verdict_totals[TT_VERDICT_COUNT] = {0};
	uint64_t cand_totals[TT_VERDICT_COUNT] = {0};
	struct tt_json j;
	char when[40];

	if (!all)
		return -ENOMEM;
	for (size_t i = 0; i < n_files; i++) {
		add(all, &files[i]);
		for (uint8_t k = 0; k < files[i].ip_protos.n; k++)
			protos[files[i].ip_protos.proto[k]] += files[i].ip_protos.count[k];
		n_failed += files[i].error != NULL;
		n_partial += files[i].is_partial;
		n_not_read += !files[i].is_read;
		for (int v = 0; v < TT_VERDICT_COUNT; v++) {
			verdict_totals[v] += files[i].n_verdict[v];
			cand_totals[v] += files[i].n_candidate[v];
		}
	}
	tt_json_init(&j, f, true);
	tt_json_obj(&j);
	tt_json_kv_str(&j, "schema", "tortrace.report/1");
	tt_json_key(&j, "tool");
	tt_json_obj(&j);
	tt_json_kv_str(&j, "name", "tortrace");
	tt_json_kv_str(&j, "version", TT_VERSION);
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
	tt_json_kv_str(&j, "filter", cfg->bpf);
	tt_json_key(&j, "tcp_timeout_s");
	tt_json_num(&j, (double)cfg->tcp_timeout_ns / 1e9, 3);
	tt_json_key(&j, "udp_timeout_s");
	tt_json_num(&j, (double)cfg->udp_timeout_ns / 1e9, 3);
	tt_json_key(&j, "sha256");
	tt_json_bool(&j, run->is_hashed);
	tt_json_key(&j, "detection");
	tt_json_bool(&j, !cfg->is_no_detect);
	tt_json_key(&j, "chain");
	tt_json_bool(&j, !cfg->is_no_chain);
	tt_json_key(&j, "min_score");
	tt_json_num(&j, cfg->min_score > 0 ? cfg->min_score : TT_MIN_SCORE_DEFAULT, 3);
	/* Only when asked: the carve runs after this report is written (its result is on
	 * stderr and in the exit status), so the report says just that it was requested. */
	if (cfg->write_pcap)
		tt_json_kv_str(&j, "write_pcap", cfg->write_pcap);
	if (cfg->evidence_off) { /* a measurement run: say which items were left out */
		unsigned n_items;
		const struct tt_evidence_item *items = tt_evidence_table(&n_items);

		tt_json_key(&j, "without_evidence");
		tt_json_arr(&j);
		for (unsigned i = 0; i < n_items; i++)
			if (cfg->evidence_off & (1u << i))
				tt_json_str(&j, items[i].id);
		tt_json_arr_end(&j);
	}
	relay_data(&j, cfg, run->relays);
	tt_json_obj_end(&j);

	tt_json_key(&j, "totals");
	tt_json_obj(&j);
	tt_json_kv_u64(&j, "files", n_files);
	tt_json_kv_u64(&j, "files_failed", n_failed);
	tt_json_kv_u64(&j, "files_partial", n_partial);
	tt_json_kv_u64(&j, "files_not_read", n_not_read);
	tt_json_kv_u64(&j, "packets", all->n_pkts);
	tt_json_kv_u64(&j, "bytes", all->n_bytes);
	tt_json_kv_u64(&j, "captured_bytes", all->n_cap_bytes);
	tt_json_kv_u64(&j, "flows", agg->n_flows);
	tt_json_kv_u64(&j, "flows_tcp", agg->n_flows_tcp);
	tt_json_kv_u64(&j, "flows_udp", agg->n_flows_udp);
	verdicts(&j, verdict_totals);
	candidates(&j, cand_totals);
	counters(&j, all, protos);
	tt_json_kv_u64(&j, "tls_inspections_evicted", all->n_tls_evicted);
	tt_json_kv_u64(&j, "flows_evicted", all->n_flows_evicted);
	tt_json_obj_end(&j);

	if (agg->findings) { /* none with --no-detect */
		int rc = tt_findings_write(&j, agg->findings);

		if (rc < 0) {
			free(all);
			return rc;
		}
	}
	tor_flows(&j, agg, files, n_files);

	sets(&j, files, n_files);

	tt_json_key(&j, "files");
	tt_json_arr(&j);
	for (size_t i = 0; i < n_files; i++)
		file_entry(&j, &files[i], i, cfg, agg->findings);
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
	    &j, run->elapsed_ns ? (double)all->n_cap_bytes * 1e3 / (double)run->elapsed_ns : 0, 1);
	tt_json_kv_u64(&j, "workers", run->n_workers);
	tt_json_kv_u64(&j, "peak_rss_anon_bytes", run->peak_rss_anon_bytes);
	tt_json_kv_str(&j, "command", cfg->command_line);
	tt_json_key(&j, "per_worker");
	tt_json_arr(&j);
	for (unsigned w = 0; w < run->n_workers; w++) {
		tt_json_obj(&j);
		tt_json_kv_u64(&j, "packets", run->worker_pkts[w]);
		tt_json_kv_u64(&j, "max_flows", run->worker_max_flows[w]);
		tt_json_obj_end(&j);
	}
	tt_json_arr_end(&j);
	tt_json_obj_end(&j);
	tt_json_obj_end(&j);
	fputc('\n', f);
	free(all);
	return ferror(f) ? -EIO : 0;
}
