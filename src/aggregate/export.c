/* `tortrace export`: flows.msgpack → JSON lines or CSV, one flow a line. */
#include "aggregate.h"

#include "../relays/relays.h"

#include <errno.h>
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

static int read_header(const msgpack_object *o, struct header *h)
{
	bool is_flows = false;

	if (o->type != MSGPACK_OBJECT_MAP)
		return -EBADMSG;
	for (uint32_t i = 0; i < o->via.map.size; i++) {
		const msgpack_object *k = &o->via.map.ptr[i].key, *v = &o->via.map.ptr[i].val;

		if (k->type != MSGPACK_OBJECT_STR)
			continue;
		if (k->via.str.size == 4 && memcmp(k->via.str.ptr, "type", 4) == 0)
			is_flows = v->type == MSGPACK_OBJECT_STR && v->via.str.size == 14 &&
				   memcmp(v->via.str.ptr, "tortrace.flows", 14) == 0;
		if (k->via.str.size == 5 && memcmp(k->via.str.ptr, "files", 5) == 0 &&
		    v->type == MSGPACK_OBJECT_ARRAY) {
			h->files = calloc(v->via.array.size + 1, sizeof(*h->files));
			if (!h->files)
				return -ENOMEM;
			for (uint32_t n = 0; n < v->via.array.size; n++) {
				const msgpack_object *s = &v->via.array.ptr[n];

				if (s->type != MSGPACK_OBJECT_STR)
					return -EBADMSG;
				h->files[n] = strndup(s->via.str.ptr, s->via.str.size);
				if (!h->files[n])
					return -ENOMEM;
				h->n_files = n + 1;
			}
		}
	}
	return is_flows ? 0 : -EBADMSG;
}

static const char *proto_name(uint8_t p)
{
	return p == 6 ? "tcp" : p == 17 ? "udp" : "ip";
}

static const char *const csv_header =
    "file,proto,src_ip,src_port,dst_ip,dst_port,first_ts,last_ts,duration_s,packets,bytes,"
    "pkts_fwd,pkts_rev,bytes_fwd,bytes_rev,payload_fwd,payload_rev,tcp_flags_fwd,"
    "tcp_flags_rev,app_fwd,app_rev,end,syn_seen,truncated,fragments,tls_version,sni,ja3,ja4,"
    "verdict,score,evidence,relay_fingerprint,relay_nickname\n";

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

static const char *tls_version_name(uint16_t v)
{
	switch (v) {
	case 0x0300:
		return "ssl3";
	case 0x0301:
		return "tls1.0";
	case 0x0302:
		return "tls1.1";
	case 0x0303:
		return "tls1.2";
	case 0x0304:
		return "tls1.3";
	default:
		return v ? "other" : "";
	}
}

static void tls_json(struct tt_json *j, const struct tt_flow_tls *t)
{
	tt_json_key(j, "tls");
	tt_json_obj(j);
	tt_json_kv_str(j, "version", tls_version_name(t->version));
	tt_json_kv_u64(j, "cipher", t->cipher);
	tt_json_kv_str(j, "sni", t->sni);
	tt_json_kv_str(j, "ja3", t->ja3);
	tt_json_kv_str(j, "ja4", t->ja4);
	tt_json_kv_u64(j, "ch_traits", t->ch_traits);
	tt_json_kv_u64(j, "cert_traits", t->cert_traits);
	tt_json_kv_str(j, "cert_subject", t->cert_subject);
	tt_json_kv_str(j, "cert_issuer", t->cert_issuer);
	tt_json_kv_u64(j, "records", t->n_records);
	tt_json_key(j, "cell_exact");
	tt_json_arr(j);
	tt_json_u64(j, t->cell_exact[0]);
	tt_json_u64(j, t->cell_exact[1]);
	tt_json_arr_end(j);
	tt_json_key(j, "cell_app");
	tt_json_arr(j);
	tt_json_u64(j, t->cell_app[0]);
	tt_json_u64(j, t->cell_app[1]);
	tt_json_arr_end(j);
	tt_json_key(j, "versions_cell");
	tt_json_bool(j, t->is_versions);
	tt_json_key(j, "relay_bundle");
	tt_json_bool(j, t->is_bundle);
	tt_json_key(j, "framing_d1");
	tt_json_bool(j, t->is_d1);
	tt_json_key(j, "framing_d2");
	tt_json_bool(j, t->is_d2);
	tt_json_obj_end(j);
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

/* Each item of evidence explained in one line, with the relay's identity where one
 * matched. */
static void evidence_json(struct tt_json *j, const struct tt_flow_record *r)
{
	unsigned n;
	const struct tt_evidence_item *t = tt_evidence_table(&n);

	tt_json_key(j, "evidence");
	tt_json_arr(j);
	for (unsigned i = 0; i < n; i++) {
		if (!(r->evidence & (1u << i)))
			continue;
		tt_json_obj(j);
		tt_json_kv_str(j, "id", t[i].id);
		tt_json_key(j, "weight");
		tt_json_num(j, t[i].weight, 1);
		tt_json_kv_str(j, "reason", t[i].reason);
		tt_json_obj_end(j);
	}
	tt_json_arr_end(j);
	if (r->relay) {
		char from[40], to[40], flags[200];

		tt_fmt_time(r->relay->from_ns, from, sizeof(from));
		tt_fmt_time(r->relay->to_ns, to, sizeof(to));
		tt_json_key(j, "relay");
		tt_json_obj(j);
		tt_json_kv_str(j, "fingerprint", r->relay->fingerprint);
		tt_json_kv_str(j, "nickname", r->relay->nickname);
		tt_json_kv_str(j, "endpoint", r->relay->is_src ? "initiator" : "responder");
		tt_json_kv_u64(j, "port", r->relay->port);
		tt_relay_flags_format(r->relay->flags, flags, sizeof(flags));
		tt_json_kv_str(j, "flags", flags);
		tt_json_kv_str(j, "match", tt_relay_match_kind_name(r->relay->kind));
		tt_json_kv_str(j, "valid_from", from);
		tt_json_kv_str(j, "valid_until", to);
		tt_json_obj_end(j);
	}
}

static void print_flow(
    const struct tt_flow_record *r, const struct header *h, int format, FILE *out)
{
	char src[48], dst[48];
	const char *file = r->file_id < h->n_files ? h->files[r->file_id] : "";
	uint64_t dur = r->last_ts_ns - r->first_ts_ns;

	tt_record_ip_str(r, false, src, sizeof(src));
	tt_record_ip_str(r, true, dst, sizeof(dst));
	if (format == TT_EXPORT_CSV) {
		csv_field(out, file);
		fprintf(out,
		    ",%s,%s,%u,%s,%u,%" PRIu64 ".%06" PRIu64 ",%" PRIu64 ".%06" PRIu64 ",%" PRIu64
		    ".%06" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64
		    ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%u,%u,%s,%s,%s,%d,%d,%" PRIu64 ",",
		    proto_name(r->proto), src, r->src_port, dst, r->dst_port,
		    r->first_ts_ns / 1000000000u, r->first_ts_ns % 1000000000u / 1000u,
		    r->last_ts_ns / 1000000000u, r->last_ts_ns % 1000000000u / 1000u,
		    dur / 1000000000u, dur % 1000000000u / 1000u, r->pkts[0] + r->pkts[1],
		    r->bytes[0] + r->bytes[1], r->pkts[0], r->pkts[1], r->bytes[0], r->bytes[1],
		    r->payload_bytes[0], r->payload_bytes[1], r->tcp_flags[0], r->tcp_flags[1],
		    tt_app_name(r->app[0]), tt_app_name(r->app[1]), tt_end_name(r->end),
		    !!(r->flags & TT_FLOW_SYN_SEEN), !!(r->flags & TT_FLOW_TRUNCATED), r->n_frags);
		if (r->tls) {
			fprintf(out, "%s,", tls_version_name(r->tls->version));
			csv_field(out, r->tls->sni);
			fprintf(out, ",%s,%s", r->tls->ja3, r->tls->ja4);
		} else {
			fputs(",,,", out);
		}
		fprintf(out, ",%s,%.6f,", tt_verdict_name(r->verdict), (double)r->score);
		evidence_ids(out, r->evidence);
		fprintf(out, ",%s,%s\n", r->relay ? r->relay->fingerprint : "",
		    r->relay ? r->relay->nickname : "");
		return;
	}
	{
		struct tt_json j;

		tt_json_init(&j, out, false);
		tt_flow_json(&j, r, file);
		fputc('\n', out);
	}
}

void tt_flow_json(struct tt_json *j, const struct tt_flow_record *r, const char *file)
{
	char src[48], dst[48];
	uint64_t dur = r->last_ts_ns - r->first_ts_ns;

	tt_record_ip_str(r, false, src, sizeof(src));
	tt_record_ip_str(r, true, dst, sizeof(dst));
	tt_json_obj(j);
	tt_json_kv_str(j, "file", file);
	tt_json_kv_str(j, "proto", proto_name(r->proto));
	tt_json_kv_str(j, "src_ip", src);
	tt_json_kv_u64(j, "src_port", r->src_port);
	tt_json_kv_str(j, "dst_ip", dst);
	tt_json_kv_u64(j, "dst_port", r->dst_port);
	tt_json_key(j, "first_ts");
	tt_json_ts(j, r->first_ts_ns);
	tt_json_key(j, "last_ts");
	tt_json_ts(j, r->last_ts_ns);
	tt_json_key(j, "duration_s");
	tt_json_ts(j, dur);
	tt_json_kv_u64(j, "packets", r->pkts[0] + r->pkts[1]);
	tt_json_kv_u64(j, "bytes", r->bytes[0] + r->bytes[1]);
	tt_json_kv_u64(j, "pkts_fwd", r->pkts[0]);
	tt_json_kv_u64(j, "pkts_rev", r->pkts[1]);
	tt_json_kv_u64(j, "bytes_fwd", r->bytes[0]);
	tt_json_kv_u64(j, "bytes_rev", r->bytes[1]);
	tt_json_kv_u64(j, "payload_fwd", r->payload_bytes[0]);
	tt_json_kv_u64(j, "payload_rev", r->payload_bytes[1]);
	tt_json_kv_u64(j, "tcp_flags_fwd", r->tcp_flags[0]);
	tt_json_kv_u64(j, "tcp_flags_rev", r->tcp_flags[1]);
	tt_json_kv_str(j, "app_fwd", tt_app_name(r->app[0]));
	tt_json_kv_str(j, "app_rev", tt_app_name(r->app[1]));
	tt_json_kv_str(j, "end", tt_end_name(r->end));
	tt_json_key(j, "syn_seen");
	tt_json_bool(j, r->flags & TT_FLOW_SYN_SEEN);
	tt_json_key(j, "truncated");
	tt_json_bool(j, r->flags & TT_FLOW_TRUNCATED);
	tt_json_kv_u64(j, "fragments", r->n_frags);
	if (r->flags & TT_FLOW_TLS_EVICTED) { /* only then, so other flows read as before */
		tt_json_key(j, "tls_evicted");
		tt_json_bool(j, true);
	}
	if (r->tls)
		tls_json(j, r->tls);
	tt_json_kv_str(j, "verdict", tt_verdict_name(r->verdict));
	tt_json_key(j, "score");
	tt_json_num(j, (double)r->score, 6);
	evidence_json(j, r);
	tt_json_obj_end(j);
}

int tt_export(const char *path, int format, FILE *out)
{
	msgpack_unpacker up;
	msgpack_unpacked u;
	struct header h = {0};
	uint64_t n_obj = 0;
	FILE *in = fopen(path, "rb");
	int rc = 0;

	if (!in) {
		rc = -errno;
		tt_log(TT_LOG_ERROR, "%s: cannot open: %s", path, strerror(errno));
		return rc;
	}
	if (!msgpack_unpacker_init(&up, 1 << 16)) {
		fclose(in);
		return -ENOMEM;
	}
	msgpack_unpacked_init(&u);
	if (format == TT_EXPORT_CSV)
		fputs(csv_header, out);
	for (;;) {
		msgpack_unpack_return ur = msgpack_unpacker_next(&up, &u);

		if (ur == MSGPACK_UNPACK_SUCCESS) {
			struct tt_flow_record r;
			struct tt_flow_tls tls;
			struct tt_flow_relay relay;

			if (n_obj++ == 0) {
				rc = read_header(&u.data, &h);
				if (rc < 0) {
					tt_log(TT_LOG_ERROR, "%s: not a tortrace flows file", path);
					break;
				}
				continue;
			}
			if (tt_record_unpack(&u.data, &r, &tls, &relay) < 0) {
				rc = -EBADMSG;
				tt_log(TT_LOG_ERROR, "%s: record %" PRIu64 " is not a flow record",
				    path, n_obj - 1);
				break;
			}
			print_flow(&r, &h, format, out);
			continue;
		}
		if (ur != MSGPACK_UNPACK_CONTINUE) {
			rc = -EBADMSG;
			tt_log(TT_LOG_ERROR, "%s: corrupt msgpack after record %" PRIu64, path,
			    n_obj ? n_obj - 1 : 0);
			break;
		}
		if (!msgpack_unpacker_reserve_buffer(&up, 1 << 16)) {
			rc = -ENOMEM;
			break;
		}
		size_t got = fread(msgpack_unpacker_buffer(&up), 1, 1 << 16, in);

		if (got == 0) {
			if (ferror(in)) {
				rc = -EIO;
				tt_log(TT_LOG_ERROR, "%s: read error", path);
			} else if (msgpack_unpacker_message_size(&up) > 0 || n_obj == 0) {
				rc = -EBADMSG;
				tt_log(TT_LOG_ERROR, "%s: %s after record %" PRIu64, path,
				    n_obj ? "truncated" : "empty, not a tortrace flows file",
				    n_obj ? n_obj - 1 : 0);
			}
			break;
		}
		msgpack_unpacker_buffer_consumed(&up, got);
	}
	msgpack_unpacked_destroy(&u);
	msgpack_unpacker_destroy(&up);
	free_header(&h);
	fclose(in);
	return rc;
}
