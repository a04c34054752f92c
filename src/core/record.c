/* msgpack codec of struct tt_flow_record (the schema is described in record.h). */
#include "tortrace/record.h"

#include "../core/core.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

static const char *const app_names[TT_APP_COUNT] = {
    [TT_APP_NONE] = "none",
    [TT_APP_UNKNOWN] = "unknown",
    [TT_APP_TLS] = "tls",
    [TT_APP_HTTP] = "http",
    [TT_APP_TOR_DIR] = "tor-dir",
    [TT_APP_SSH] = "ssh",
    [TT_APP_DNS] = "dns",
};
static const char *const end_names[] = {"eof", "idle", "reuse", "stop", "evict"};

const char *tt_app_name(unsigned app)
{
	return app < TT_APP_COUNT ? app_names[app] : "unknown";
}

const char *tt_end_name(unsigned end)
{
	return end < sizeof(end_names) / sizeof(end_names[0]) ? end_names[end] : "eof";
}

static int lookup(const char *const *names, unsigned n, const char *s, size_t len)
{
	for (unsigned i = 0; i < n; i++)
		if (strlen(names[i]) == len && memcmp(names[i], s, len) == 0)
			return (int)i;
	return -1;
}

/* The encoder writes the fixed schema straight into a buffer: one bounds-free pass of
 * at most TT_RECORD_MAX_BYTES, instead of some forty msgpack-c callbacks per record (it
 * was the worker's largest cost when a file with 350k flows ends). Integers take their
 * shortest form, as msgpack-c writes them; tests decode the output with msgpack-c. */
struct enc {
	uint8_t *p;
};

static void put_u8(struct enc *e, uint8_t v)
{
	*e->p++ = v;
}

static void put_be(struct enc *e, uint64_t v, int bytes)
{
	for (int i = bytes - 1; i >= 0; i--)
		*e->p++ = (uint8_t)(v >> (8 * i));
}

static void put_uint(struct enc *e, uint64_t v)
{
	if (v < 128) {
		put_u8(e, (uint8_t)v);
	} else if (v <= 0xff) {
		put_u8(e, 0xcc);
		put_be(e, v, 1);
	} else if (v <= 0xffff) {
		put_u8(e, 0xcd);
		put_be(e, v, 2);
	} else if (v <= 0xffffffffu) {
		put_u8(e, 0xce);
		put_be(e, v, 4);
	} else {
		put_u8(e, 0xcf);
		put_be(e, v, 8);
	}
}

static void put_str(struct enc *e, const char *s, size_t n) /* n < 32 */
{
	put_u8(e, (uint8_t)(0xa0 | n));
	memcpy(e->p, s, n);
	e->p += n;
}

#define put_key(e, k) put_str((e), (k), sizeof(k) - 1)

static void put_name(struct enc *e, const char *s)
{
	put_str(e, s, strlen(s));
}

static void put_pair(struct enc *e, uint64_t a, uint64_t b)
{
	put_u8(e, 0x92);
	put_uint(e, a);
	put_uint(e, b);
}

static void put_bin(struct enc *e, const uint8_t *b, size_t n) /* n < 256 */
{
	put_u8(e, 0xc4);
	put_u8(e, (uint8_t)n);
	memcpy(e->p, b, n);
	e->p += n;
}

/* A string of any length below 256 (the tls strings are bounded by their arrays). */
static void put_text(struct enc *e, const char *s)
{
	size_t n = strlen(s);

	if (n < 32) {
		put_str(e, s, n);
		return;
	}
	put_u8(e, 0xd9);
	put_u8(e, (uint8_t)n);
	memcpy(e->p, s, n);
	e->p += n;
}

static void put_bool(struct enc *e, bool v)
{
	put_u8(e, v ? 0xc3 : 0xc2);
}

static void put_tls(struct enc *e, const struct tt_flow_tls *t)
{
	put_u8(e, 0xde); /* map 16 */
	put_be(e, 19, 2);
	put_key(e, "version");
	put_uint(e, t->version);
	put_key(e, "cipher");
	put_uint(e, t->cipher);
	put_key(e, "ch_traits");
	put_uint(e, t->ch_traits);
	put_key(e, "cert_traits");
	put_uint(e, t->cert_traits);
	put_key(e, "records");
	put_uint(e, t->n_records);
	put_key(e, "cell_app");
	put_pair(e, t->cell_app[0], t->cell_app[1]);
	put_key(e, "cell_exact");
	put_pair(e, t->cell_exact[0], t->cell_exact[1]);
	put_key(e, "has_ch");
	put_bool(e, t->has_ch);
	put_key(e, "has_sh");
	put_bool(e, t->has_sh);
	put_key(e, "has_cert");
	put_bool(e, t->has_cert);
	put_key(e, "versions");
	put_bool(e, t->is_versions);
	put_key(e, "bundle");
	put_bool(e, t->is_bundle);
	put_key(e, "d1");
	put_bool(e, t->is_d1);
	put_key(e, "d2");
	put_bool(e, t->is_d2);
	put_key(e, "sni");
	put_text(e, t->sni);
	put_key(e, "ja3");
	put_text(e, t->ja3);
	put_key(e, "ja4");
	put_text(e, t->ja4);
	put_key(e, "cert_subject");
	put_text(e, t->cert_subject);
	put_key(e, "cert_issuer");
	put_text(e, t->cert_issuer);
}

static void put_relay(struct enc *e, const struct tt_flow_relay *rl)
{
	put_u8(e, 0x88); /* fixmap 8 */
	put_key(e, "fp");
	put_text(e, rl->fingerprint);
	put_key(e, "nick");
	put_text(e, rl->nickname);
	put_key(e, "flags");
	put_uint(e, rl->flags);
	put_key(e, "port");
	put_uint(e, rl->port);
	put_key(e, "kind");
	put_uint(e, rl->kind);
	put_key(e, "src");
	put_bool(e, rl->is_src);
	put_key(e, "from_ns");
	put_uint(e, rl->from_ns);
	put_key(e, "to_ns");
	put_uint(e, rl->to_ns);
}

size_t tt_record_encode(const struct tt_flow_record *r, uint8_t *buf)
{
	struct enc e = {buf};
	size_t alen = r->ip_version == 6 ? 16 : 4;

	put_u8(&e, 0xde); /* map 16 */
	put_be(&e, 20u + (r->tls != NULL) + (r->relay != NULL), 2);
	put_key(&e, "file");
	put_uint(&e, r->file_id);
	put_key(&e, "proto");
	put_uint(&e, r->proto);
	put_key(&e, "ipv");
	put_uint(&e, r->ip_version);
	put_key(&e, "src");
	put_bin(&e, r->src_ip, alen);
	put_key(&e, "sport");
	put_uint(&e, r->src_port);
	put_key(&e, "dst");
	put_bin(&e, r->dst_ip, alen);
	put_key(&e, "dport");
	put_uint(&e, r->dst_port);
	put_key(&e, "first_ns");
	put_uint(&e, r->first_ts_ns);
	put_key(&e, "last_ns");
	put_uint(&e, r->last_ts_ns);
	put_key(&e, "pkts");
	put_pair(&e, r->pkts[0], r->pkts[1]);
	put_key(&e, "bytes");
	put_pair(&e, r->bytes[0], r->bytes[1]);
	put_key(&e, "payload");
	put_pair(&e, r->payload_bytes[0], r->payload_bytes[1]);
	put_key(&e, "tcp_flags");
	put_pair(&e, r->tcp_flags[0], r->tcp_flags[1]);
	put_key(&e, "app");
	put_u8(&e, 0x92);
	put_name(&e, tt_app_name(r->app[0]));
	put_name(&e, tt_app_name(r->app[1]));
	put_key(&e, "end");
	put_name(&e, tt_end_name(r->end));
	put_key(&e, "flags");
	put_uint(&e, r->flags);
	put_key(&e, "frags");
	put_uint(&e, r->n_frags);
	if (r->tls) {
		put_key(&e, "tls");
		put_tls(&e, r->tls);
	}
	put_key(&e, "verdict");
	put_name(&e, tt_verdict_name(r->verdict));
	put_key(&e, "score");
	put_u8(&e, 0xca); /* float 32 */
	{
		uint32_t bits;

		memcpy(&bits, &r->score, 4);
		put_be(&e, bits, 4);
	}
	put_key(&e, "evidence");
	put_uint(&e, r->evidence);
	if (r->relay) {
		put_key(&e, "relay");
		put_relay(&e, r->relay);
	}
	TT_BUG_ON((size_t)(e.p - buf) > TT_RECORD_MAX_BYTES);
	return (size_t)(e.p - buf);
}

int tt_record_pack(msgpack_packer *pk, const struct tt_flow_record *r)
{
	uint8_t buf[TT_RECORD_MAX_BYTES];
	size_t n = tt_record_encode(r, buf);

	return pk->callback(pk->data, (const char *)buf, n) == 0 ? 0 : -ENOMEM;
}

static bool key_is(const msgpack_object *k, const char *s)
{
	size_t n = strlen(s);

	return k->type == MSGPACK_OBJECT_STR && k->via.str.size == n &&
	       memcmp(k->via.str.ptr, s, n) == 0;
}

static bool get_u64(const msgpack_object *v, uint64_t *out)
{
	if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		return false;
	*out = v->via.u64;
	return true;
}

static bool get_pair(const msgpack_object *v, uint64_t out[2])
{
	return v->type == MSGPACK_OBJECT_ARRAY && v->via.array.size == 2 &&
	       get_u64(&v->via.array.ptr[0], &out[0]) && get_u64(&v->via.array.ptr[1], &out[1]);
}

static bool get_ip(const msgpack_object *v, uint8_t out[16])
{
	if (v->type != MSGPACK_OBJECT_BIN || (v->via.bin.size != 4 && v->via.bin.size != 16))
		return false;
	memset(out, 0, 16);
	memcpy(out, v->via.bin.ptr, v->via.bin.size);
	return true;
}

static bool get_name(const msgpack_object *v, const char *const *names, unsigned n, uint8_t *out)
{
	int i;

	if (v->type != MSGPACK_OBJECT_STR)
		return false;
	i = lookup(names, n, v->via.str.ptr, v->via.str.size);
	*out = (uint8_t)(i < 0 ? 1 : i); /* an unknown name reads as "unknown"/"idle" */
	return true;
}

static bool get_text(const msgpack_object *v, char *out, size_t size)
{
	size_t n;

	if (v->type != MSGPACK_OBJECT_STR)
		return false;
	n = v->via.str.size < size - 1 ? v->via.str.size : size - 1;
	if (n) /* an empty string may come with a NULL pointer */
		memcpy(out, v->via.str.ptr, n);
	out[n] = '\0';
	return true;
}

static bool get_bool(const msgpack_object *v, bool *out)
{
	if (v->type != MSGPACK_OBJECT_BOOLEAN)
		return false;
	*out = v->via.boolean;
	return true;
}

static bool get_tls(const msgpack_object *obj, struct tt_flow_tls *t)
{
	uint64_t u = 0, pair[2] = {0, 0};

	if (obj->type != MSGPACK_OBJECT_MAP)
		return false;
	for (uint32_t i = 0; i < obj->via.map.size; i++) {
		const msgpack_object *k = &obj->via.map.ptr[i].key;
		const msgpack_object *v = &obj->via.map.ptr[i].val;
		bool ok = true;

		if (key_is(k, "version")) {
			ok = get_u64(v, &u);
			t->version = (uint16_t)u;
		} else if (key_is(k, "cipher")) {
			ok = get_u64(v, &u);
			t->cipher = (uint16_t)u;
		} else if (key_is(k, "ch_traits")) {
			ok = get_u64(v, &u);
			t->ch_traits = (uint32_t)u;
		} else if (key_is(k, "cert_traits")) {
			ok = get_u64(v, &u);
			t->cert_traits = (uint32_t)u;
		} else if (key_is(k, "records")) {
			ok = get_u64(v, &u);
			t->n_records = (uint8_t)u;
		} else if (key_is(k, "cell_app") || key_is(k, "cell_exact")) {
			uint8_t *d = key_is(k, "cell_app") ? t->cell_app : t->cell_exact;

			ok = get_pair(v, pair);
			d[0] = (uint8_t)pair[0];
			d[1] = (uint8_t)pair[1];
		} else if (key_is(k, "has_ch")) {
			ok = get_bool(v, &t->has_ch);
		} else if (key_is(k, "has_sh")) {
			ok = get_bool(v, &t->has_sh);
		} else if (key_is(k, "has_cert")) {
			ok = get_bool(v, &t->has_cert);
		} else if (key_is(k, "versions")) {
			ok = get_bool(v, &t->is_versions);
		} else if (key_is(k, "bundle")) {
			ok = get_bool(v, &t->is_bundle);
		} else if (key_is(k, "d1")) {
			ok = get_bool(v, &t->is_d1);
		} else if (key_is(k, "d2")) {
			ok = get_bool(v, &t->is_d2);
		} else if (key_is(k, "sni")) {
			ok = get_text(v, t->sni, sizeof(t->sni));
		} else if (key_is(k, "ja3")) {
			ok = get_text(v, t->ja3, sizeof(t->ja3));
		} else if (key_is(k, "ja4")) {
			ok = get_text(v, t->ja4, sizeof(t->ja4));
		} else if (key_is(k, "cert_subject")) {
			ok = get_text(v, t->cert_subject, sizeof(t->cert_subject));
		} else if (key_is(k, "cert_issuer")) {
			ok = get_text(v, t->cert_issuer, sizeof(t->cert_issuer));
		}
		if (!ok)
			return false;
	}
	return true;
}

static bool get_relay(const msgpack_object *obj, struct tt_flow_relay *rl)
{
	uint64_t u = 0;
	bool b = false;

	if (obj->type != MSGPACK_OBJECT_MAP)
		return false;
	for (uint32_t i = 0; i < obj->via.map.size; i++) {
		const msgpack_object *k = &obj->via.map.ptr[i].key;
		const msgpack_object *v = &obj->via.map.ptr[i].val;
		bool ok = true;

		if (key_is(k, "fp")) {
			ok = get_text(v, rl->fingerprint, sizeof(rl->fingerprint));
		} else if (key_is(k, "nick")) {
			ok = get_text(v, rl->nickname, sizeof(rl->nickname));
		} else if (key_is(k, "flags")) {
			ok = get_u64(v, &u);
			rl->flags = (uint32_t)u;
		} else if (key_is(k, "port")) {
			ok = get_u64(v, &u);
			rl->port = (uint16_t)u;
		} else if (key_is(k, "kind")) {
			ok = get_u64(v, &u);
			rl->kind = (uint8_t)u;
		} else if (key_is(k, "src")) {
			ok = get_bool(v, &b);
			rl->is_src = b;
		} else if (key_is(k, "from_ns")) {
			ok = get_u64(v, &rl->from_ns);
		} else if (key_is(k, "to_ns")) {
			ok = get_u64(v, &rl->to_ns);
		}
		if (!ok)
			return false;
	}
	return true;
}

int tt_record_unpack(const msgpack_object *obj, struct tt_flow_record *r, struct tt_flow_tls *tls,
    struct tt_flow_relay *relay)
{
	unsigned seen = 0;
	uint64_t u = 0, pair[2] = {0, 0};

	if (obj->type != MSGPACK_OBJECT_MAP)
		return -EBADMSG;
	memset(r, 0, sizeof(*r));
	for (uint32_t i = 0; i < obj->via.map.size; i++) {
		const msgpack_object *k = &obj->via.map.ptr[i].key;
		const msgpack_object *v = &obj->via.map.ptr[i].val;
		bool ok = true;

		if (key_is(k, "file")) {
			ok = get_u64(v, &u);
			r->file_id = (uint32_t)u;
			seen |= 1;
		} else if (key_is(k, "proto")) {
			ok = get_u64(v, &u);
			r->proto = (uint8_t)u;
			seen |= 2;
		} else if (key_is(k, "ipv")) {
			ok = get_u64(v, &u) && (u == 4 || u == 6);
			r->ip_version = (uint8_t)u;
			seen |= 4;
		} else if (key_is(k, "src")) {
			ok = get_ip(v, r->src_ip);
			seen |= 8;
		} else if (key_is(k, "dst")) {
			ok = get_ip(v, r->dst_ip);
			seen |= 16;
		} else if (key_is(k, "sport")) {
			ok = get_u64(v, &u);
			r->src_port = (uint16_t)u;
		} else if (key_is(k, "dport")) {
			ok = get_u64(v, &u);
			r->dst_port = (uint16_t)u;
		} else if (key_is(k, "first_ns")) {
			ok = get_u64(v, &r->first_ts_ns);
		} else if (key_is(k, "last_ns")) {
			ok = get_u64(v, &r->last_ts_ns);
		} else if (key_is(k, "pkts")) {
			ok = get_pair(v, r->pkts);
		} else if (key_is(k, "bytes")) {
			ok = get_pair(v, r->bytes);
		} else if (key_is(k, "payload")) {
			ok = get_pair(v, r->payload_bytes);
		} else if (key_is(k, "tcp_flags")) {
			ok = get_pair(v, pair);
			r->tcp_flags[0] = (uint8_t)pair[0];
			r->tcp_flags[1] = (uint8_t)pair[1];
		} else if (key_is(k, "app")) {
			ok = v->type == MSGPACK_OBJECT_ARRAY && v->via.array.size == 2 &&
			     get_name(&v->via.array.ptr[0], app_names, TT_APP_COUNT, &r->app[0]) &&
			     get_name(&v->via.array.ptr[1], app_names, TT_APP_COUNT, &r->app[1]);
		} else if (key_is(k, "end")) {
			ok = get_name(v, end_names, 5, &r->end);
		} else if (key_is(k, "flags")) {
			ok = get_u64(v, &u);
			r->flags = (uint32_t)u;
		} else if (key_is(k, "frags")) {
			ok = get_u64(v, &r->n_frags);
		} else if (key_is(k, "verdict")) {
			ok = v->type == MSGPACK_OBJECT_STR;
			for (unsigned n = 0; ok && n < TT_VERDICT_COUNT; n++)
				if (v->via.str.size == strlen(tt_verdict_name(n)) &&
				    memcmp(v->via.str.ptr, tt_verdict_name(n), v->via.str.size) ==
					0)
					r->verdict = (uint8_t)n;
		} else if (key_is(k, "score")) {
			ok = v->type == MSGPACK_OBJECT_FLOAT32 || v->type == MSGPACK_OBJECT_FLOAT64;
			r->score = (float)v->via.f64;
		} else if (key_is(k, "evidence")) {
			ok = get_u64(v, &u);
			r->evidence = (uint32_t)u;
		} else if (key_is(k, "relay") && relay) {
			memset(relay, 0, sizeof(*relay));
			ok = get_relay(v, relay);
			r->relay = relay;
		} else if (key_is(k, "tls") && tls) {
			memset(tls, 0, sizeof(*tls));
			ok = get_tls(v, tls);
			r->tls = tls;
		}
		if (!ok)
			return -EBADMSG;
	}
	return seen == 31 ? 0 : -EBADMSG;
}

/* The order of records within a file: first timestamp, protocol, 5-tuple, last
 * timestamp. */
static int key_cmp(const struct tt_rec_ref *x, const struct tt_rec_ref *y)
{
	int c;

	if (x->first_ts_ns != y->first_ts_ns)
		return x->first_ts_ns < y->first_ts_ns ? -1 : 1;
	if (x->proto != y->proto)
		return x->proto < y->proto ? -1 : 1;
	if ((c = memcmp(x->src_ip, y->src_ip, 16)) != 0)
		return c;
	if ((c = memcmp(x->dst_ip, y->dst_ip, 16)) != 0)
		return c;
	if (x->src_port != y->src_port)
		return x->src_port < y->src_port ? -1 : 1;
	if (x->dst_port != y->dst_port)
		return x->dst_port < y->dst_port ? -1 : 1;
	if (x->last_ts_ns != y->last_ts_ns)
		return x->last_ts_ns < y->last_ts_ns ? -1 : 1;
	return 0;
}

static void ref_of(const struct tt_flow_record *r, struct tt_rec_ref *ref)
{
	memset(ref, 0, sizeof(*ref));
	ref->first_ts_ns = r->first_ts_ns;
	ref->last_ts_ns = r->last_ts_ns;
	memcpy(ref->src_ip, r->src_ip, 16);
	memcpy(ref->dst_ip, r->dst_ip, 16);
	ref->src_port = r->src_port;
	ref->dst_port = r->dst_port;
	ref->proto = r->proto;
}

int tt_record_cmp(const void *a, const void *b)
{
	const struct tt_flow_record *x = a, *y = b;
	struct tt_rec_ref rx, ry;

	if (x->file_id != y->file_id)
		return x->file_id < y->file_id ? -1 : 1;
	ref_of(x, &rx);
	ref_of(y, &ry);
	return key_cmp(&rx, &ry);
}

int tt_rec_ref_cmp(const void *a, const void *b)
{
	const struct tt_rec_ref *x = a, *y = b;
	int c = key_cmp(x, y);

	if (c != 0)
		return c;
	/* Equal keys (never seen in practice): the bytes decide, so the order is total. */
	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	return memcmp(x->data, y->data, x->len);
}

void tt_record_ip_str(const struct tt_flow_record *r, bool is_dst, char *buf, size_t len)
{
	const uint8_t *ip = is_dst ? r->dst_ip : r->src_ip;

	if (!inet_ntop(r->ip_version == 6 ? AF_INET6 : AF_INET, ip, buf, (socklen_t)len))
		snprintf(buf, len, "?");
}
