/* msgpack codec of struct tt_flow_record (the schema is described in record.h). */
#include "tortrace/record.h"

#include "core.h"

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
static const char *const init_names[TT_INIT_COUNT] = {
    [TT_INIT_FIRST_PACKET] = "first-packet",
    [TT_INIT_SYN] = "syn",
    [TT_INIT_GUESSED_RELAY] = "guessed-relay",
    [TT_INIT_GUESSED_PORT] = "guessed-port",
};

const char *tt_app_name(unsigned app)
{
	return app < TT_APP_COUNT ? app_names[app] : "unknown";
}

const char *tt_end_name(unsigned end)
{
	return end < sizeof(end_names) / sizeof(end_names[0]) ? end_names[end] : "eof";
}

const char *tt_initiator_name(unsigned initiator)
{
	return initiator < TT_INIT_COUNT ? init_names[initiator] : "first-packet";
}

const char *tt_proto_name(unsigned proto)
{
	return proto == 6 ? "tcp" : proto == 17 ? "udp" : "ip";
}

const char *tt_tls_version_name(unsigned version)
{
	switch (version) {
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
		return version ? "other" : "";
	}
}

static int lookup(const char *const *names, unsigned n, const char *s, size_t len)
{
	for (unsigned i = 0; i < n; i++)
		if (strlen(names[i]) == len && memcmp(names[i], s, len) == 0)
			return (int)i;
	return -1;
}

/* ---- encoder ------------------------------------------------------------------------
 * The encoder writes the fixed schema straight into a buffer: one bounds-free pass of at
 * most TT_RECORD_MAX_BYTES (computed from the schema table), instead of some forty
 * msgpack-c callbacks per record (it was the worker's largest cost when a file with 350k
 * flows ends). The table's F rows expand into a straight line of put_* calls, one per key,
 * with the key's length and the members' sizes known at compile time. Integers take their
 * shortest form, as msgpack-c writes them; tests decode the output with msgpack-c. */
struct enc {
	uint8_t *p;
};

static inline void put_u8(struct enc *e, uint8_t v)
{
	*e->p++ = v;
}

static inline void put_be16(struct enc *e, uint16_t v)
{
	e->p[0] = (uint8_t)(v >> 8);
	e->p[1] = (uint8_t)v;
	e->p += 2;
}

static inline void put_be32(struct enc *e, uint32_t v)
{
	v = __builtin_bswap32(v);
	memcpy(e->p, &v, 4);
	e->p += 4;
}

static inline void put_be64(struct enc *e, uint64_t v)
{
	v = __builtin_bswap64(v);
	memcpy(e->p, &v, 8);
	e->p += 8;
}

static inline void put_uint(struct enc *e, uint64_t v)
{
	if (v < 128) {
		put_u8(e, (uint8_t)v);
	} else if (v <= 0xff) {
		put_u8(e, 0xcc);
		put_u8(e, (uint8_t)v);
	} else if (v <= 0xffff) {
		put_u8(e, 0xcd);
		put_be16(e, (uint16_t)v);
	} else if (v <= 0xffffffffu) {
		put_u8(e, 0xce);
		put_be32(e, (uint32_t)v);
	} else {
		put_u8(e, 0xcf);
		put_be64(e, v);
	}
}

static inline void put_str(struct enc *e, const char *s, size_t n) /* n < 32 */
{
	put_u8(e, (uint8_t)(0xa0 | n));
	memcpy(e->p, s, n);
	e->p += n;
}

/* A key: a string literal, so its length is a constant. */
#define put_key(e, k) put_str((e), (k), sizeof(k) - 1)

static inline void put_name(struct enc *e, const char *s) /* names are < 32 bytes */
{
	put_str(e, s, strlen(s));
}

static inline void put_map(struct enc *e, unsigned n)
{
	if (n < 16) {
		put_u8(e, (uint8_t)(0x80 | n));
	} else {
		put_u8(e, 0xde);
		put_be16(e, (uint16_t)n);
	}
}

/* A string of a char array: fixstr or str8 (the arrays are shorter than 256 bytes). */
static inline void put_text(struct enc *e, const char *s, size_t size)
{
	size_t n = strnlen(s, size - 1);

	if (n < 32) {
		put_str(e, s, n);
		return;
	}
	put_u8(e, 0xd9);
	put_u8(e, (uint8_t)n);
	memcpy(e->p, s, n);
	e->p += n;
}

static inline void put_f32(struct enc *e, float f)
{
	uint32_t bits;

	memcpy(&bits, &f, 4);
	put_u8(e, 0xca);
	put_be32(e, bits);
}

/* How each kind is written; b is the struct the member belongs to. */
#define ENC_UINT(e, b, m) put_uint(e, m)
#define ENC_NZ(e, b, m)   put_uint(e, m)
#define ENC_IPV(e, b, m)  put_uint(e, m)
#define ENC_IP(e, b, m)                                                                            \
	do {                                                                                       \
		size_t n_ = (b)->ip_version == 6 ? 16 : 4;                                         \
		put_u8(e, 0xc4);                                                                   \
		put_u8(e, (uint8_t)n_);                                                            \
		memcpy((e)->p, m, n_);                                                             \
		(e)->p += n_;                                                                      \
	} while (0)
#define ENC_PAIR(e, b, m)                                                                          \
	do {                                                                                       \
		put_u8(e, 0x92);                                                                   \
		put_uint(e, (m)[0]);                                                               \
		put_uint(e, (m)[1]);                                                               \
	} while (0)
#define ENC_APP2(e, b, m)                                                                          \
	do {                                                                                       \
		put_u8(e, 0x92);                                                                   \
		put_name(e, tt_app_name((m)[0]));                                                  \
		put_name(e, tt_app_name((m)[1]));                                                  \
	} while (0)
#define ENC_END(e, b, m)     put_name(e, tt_end_name(m))
#define ENC_INIT(e, b, m)    put_name(e, tt_initiator_name(m))
#define ENC_VERDICT(e, b, m) put_name(e, tt_verdict_name(m))
#define ENC_F32(e, b, m)     put_f32(e, m)
#define ENC_BOOL(e, b, m)    put_u8(e, (m) ? 0xc3 : 0xc2)
#define ENC_TEXT(e, b, m)    put_text(e, m, sizeof(m))
#define ENC_TLS(e, b, m)     put_tls(e, m)
#define ENC_RELAY(e, b, m)   put_relay(e, m)

/* A map's optional keys (TLS, RELAY) are written only when the member is not NULL. */
#define PRESENT_UINT(m)    1
#define PRESENT_NZ(m)      ((m) != 0)
#define PRESENT_IPV(m)     1
#define PRESENT_IP(m)      1
#define PRESENT_PAIR(m)    1
#define PRESENT_APP2(m)    1
#define PRESENT_END(m)     1
#define PRESENT_INIT(m)    1
#define PRESENT_VERDICT(m) 1
#define PRESENT_F32(m)     1
#define PRESENT_BOOL(m)    1
#define PRESENT_TEXT(m)    1
#define PRESENT_TLS(m)     ((m) != NULL)
#define PRESENT_RELAY(m)   ((m) != NULL)

#define NO_ROW(...)
#define COUNT_KEY(b, key, kind, member, need) +(unsigned)PRESENT_##kind((b)->member)
#define ENC_KEY(e, b, key, kind, member, need)                                                     \
	if (PRESENT_##kind((b)->member)) {                                                         \
		put_key(e, #key);                                                                  \
		ENC_##kind(e, b, (b)->member);                                                     \
	}

static void put_tls(struct enc *e, const struct tt_flow_tls *t)
{
#define TLS_COUNT(...) COUNT_KEY(t, __VA_ARGS__)
#define TLS_ENC(...)   ENC_KEY(e, t, __VA_ARGS__)
	put_map(e, 0 TT_TLS_ROWS(TLS_COUNT, NO_ROW));
	TT_TLS_ROWS(TLS_ENC, NO_ROW)
}

static void put_relay(struct enc *e, const struct tt_flow_relay *rl)
{
#define RELAY_COUNT(...) COUNT_KEY(rl, __VA_ARGS__)
#define RELAY_ENC(...)   ENC_KEY(e, rl, __VA_ARGS__)
	put_map(e, 0 TT_RELAY_ROWS(RELAY_COUNT, NO_ROW));
	TT_RELAY_ROWS(RELAY_ENC, NO_ROW)
}

size_t tt_record_encode(const struct tt_flow_record *r, uint8_t *buf)
{
	struct enc e = {buf};

#define REC_COUNT(...) COUNT_KEY(r, __VA_ARGS__)
#define REC_ENC(...)   ENC_KEY(&e, r, __VA_ARGS__)
	put_map(&e, 0 TT_RECORD_ROWS(REC_COUNT, NO_ROW));
	TT_RECORD_ROWS(REC_ENC, NO_ROW)
	TT_BUG_ON((size_t)(e.p - buf) > TT_RECORD_MAX_BYTES);
	return (size_t)(e.p - buf);
}

int tt_record_pack(msgpack_packer *pk, const struct tt_flow_record *r)
{
	uint8_t buf[TT_RECORD_MAX_BYTES];
	size_t n = tt_record_encode(r, buf);

	return pk->callback(pk->data, (const char *)buf, n) == 0 ? 0 : -ENOMEM;
}

/* ---- decoders -----------------------------------------------------------------------
 * Each map's keys are looked up in a table generated from its F rows (key_find), and a
 * switch generated from the same rows decodes the value into its member. Unknown keys
 * (and keys that are not strings) are skipped, so other schema versions read. */
struct key_ent {
	const char *name;
	uint8_t len;
};

#define KEY_ENT(key, ...) {#key, (uint8_t)(sizeof(#key) - 1)},
static const struct key_ent rec_keys[] = {TT_RECORD_ROWS(KEY_ENT, NO_ROW)};
static const struct key_ent tls_keys[] = {TT_TLS_ROWS(KEY_ENT, NO_ROW)};
static const struct key_ent relay_keys[] = {TT_RELAY_ROWS(KEY_ENT, NO_ROW)};

#define REC_IDX(key, ...)   REC_K_##key,
#define TLS_IDX(key, ...)   TLS_K_##key,
#define RELAY_IDX(key, ...) RELAY_K_##key,
enum { TT_RECORD_ROWS(REC_IDX, NO_ROW) };
enum { TT_TLS_ROWS(TLS_IDX, NO_ROW) };
enum { TT_RELAY_ROWS(RELAY_IDX, NO_ROW) };

#define REQ_BIT_REQ(i)                   (1u << (i))
#define REQ_BIT_OPT(i)                   0u
#define REC_REQ(key, kind, member, need) | REQ_BIT_##need(REC_K_##key)
static const uint32_t rec_required = 0 TT_RECORD_ROWS(REC_REQ, NO_ROW);

/* The index of key k in tab, or -1. Maps this encoder wrote list their keys in table
 * order, so the key after the previous one (hint) is tried first. */
static int key_find(const struct key_ent *tab, unsigned n, unsigned hint, const msgpack_object *k)
{
	if (k->type != MSGPACK_OBJECT_STR)
		return -1;
	if (hint < n && tab[hint].len == k->via.str.size &&
	    memcmp(tab[hint].name, k->via.str.ptr, tab[hint].len) == 0)
		return (int)hint;
	for (unsigned i = 0; i < n; i++)
		if (tab[i].len == k->via.str.size &&
		    memcmp(tab[i].name, k->via.str.ptr, tab[i].len) == 0)
			return (int)i;
	return -1;
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

static bool get_app2(const msgpack_object *v, uint8_t out[2])
{
	return v->type == MSGPACK_OBJECT_ARRAY && v->via.array.size == 2 &&
	       get_name(&v->via.array.ptr[0], app_names, TT_APP_COUNT, &out[0]) &&
	       get_name(&v->via.array.ptr[1], app_names, TT_APP_COUNT, &out[1]);
}

/* An unknown verdict name leaves the verdict as it was (none). */
static bool get_verdict(const msgpack_object *v, uint8_t *out)
{
	if (v->type != MSGPACK_OBJECT_STR)
		return false;
	for (unsigned n = 0; n < TT_VERDICT_COUNT; n++) {
		const char *name = tt_verdict_name(n);

		if (v->via.str.size == strlen(name) &&
		    memcmp(v->via.str.ptr, name, v->via.str.size) == 0)
			*out = (uint8_t)n;
	}
	return true;
}

static bool get_f32(const msgpack_object *v, float *out)
{
	if (v->type != MSGPACK_OBJECT_FLOAT32 && v->type != MSGPACK_OBJECT_FLOAT64)
		return false;
	*out = (float)v->via.f64;
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

/* Store a decoded integer into a member of any unsigned type (truncating, as the C
 * conversion does). */
static void set_u8(uint8_t *d, uint64_t v)
{
	*d = (uint8_t)v;
}
static void set_u16(uint16_t *d, uint64_t v)
{
	*d = (uint16_t)v;
}
static void set_u32(uint32_t *d, uint64_t v)
{
	*d = (uint32_t)v;
}
static void set_u64(uint64_t *d, uint64_t v)
{
	*d = v;
}
#define SET_UINT(m, v)                                                                             \
	_Generic((m), uint8_t                                                                      \
		 : set_u8, uint16_t                                                                \
		 : set_u16, uint32_t                                                               \
		 : set_u32, uint64_t                                                               \
		 : set_u64)(&(m), (v))
static void set_b(bool *d, bool v)
{
	*d = v;
}
#define SET_BOOL(m, v) _Generic((m), bool : set_b, uint8_t : set_u8)(&(m), (v))

/* How each kind is read: sets ok, and the member on success. */
#define DEC_UINT(m)                                                                                \
	if ((ok = get_u64(v, &u)))                                                                 \
	SET_UINT(m, u)
#define DEC_NZ(m) DEC_UINT(m)
#define DEC_IPV(m)                                                                                 \
	if ((ok = get_u64(v, &u) && (u == 4 || u == 6)))                                           \
	SET_UINT(m, u)
#define DEC_IP(m) ok = get_ip(v, m)
#define DEC_PAIR(m)                                                                                \
	if ((ok = get_pair(v, pair))) {                                                            \
		SET_UINT((m)[0], pair[0]);                                                         \
		SET_UINT((m)[1], pair[1]);                                                         \
	}
#define DEC_APP2(m)    ok = get_app2(v, m)
#define DEC_END(m)     ok = get_name(v, end_names, sizeof(end_names) / sizeof(end_names[0]), &(m))
#define DEC_INIT(m)    ok = get_name(v, init_names, TT_INIT_COUNT, &(m))
#define DEC_VERDICT(m) ok = get_verdict(v, &(m))
#define DEC_F32(m)     ok = get_f32(v, &(m))
#define DEC_BOOL(m)                                                                                \
	if ((ok = get_bool(v, &b)))                                                                \
	SET_BOOL(m, b)
#define DEC_TEXT(m) ok = get_text(v, m, sizeof(m))
/* A nested map is decoded only when the caller gave room for it; else it is skipped. */
#define DEC_TLS(m)                                                                                 \
	if (tls) {                                                                                 \
		memset(tls, 0, sizeof(*tls));                                                      \
		ok = get_tls(v, tls, why, why_len);                                                \
		(m) = tls;                                                                         \
	}
#define DEC_RELAY(m)                                                                               \
	if (relay) {                                                                               \
		memset(relay, 0, sizeof(*relay));                                                  \
		ok = get_relay(v, relay, why, why_len);                                            \
		(m) = relay;                                                                       \
	}

#define DEC_CASE(prefix, b, key, kind, member, need)                                               \
	case prefix##key:                                                                          \
		DEC_##kind((b)->member);                                                           \
		break;

/* What a value of each kind should have been, for error messages. */
#define EXPECT_UINT                "an unsigned integer"
#define EXPECT_NZ                  "an unsigned integer"
#define EXPECT_IPV                 "4 or 6"
#define EXPECT_IP                  "a bin of 4 or 16 bytes"
#define EXPECT_PAIR                "an array of 2 unsigned integers"
#define EXPECT_APP2                "an array of 2 strings"
#define EXPECT_END                 "a string"
#define EXPECT_INIT                "a string"
#define EXPECT_VERDICT             "a string"
#define EXPECT_F32                 "a float"
#define EXPECT_BOOL                "a boolean"
#define EXPECT_TEXT                "a string"
#define EXPECT_TLS                 "a map"
#define EXPECT_RELAY               "a map"
#define EXPECT_ENT(key, kind, ...) EXPECT_##kind,
static const char *const rec_expect[] = {TT_RECORD_ROWS(EXPECT_ENT, NO_ROW)};
static const char *const tls_expect[] = {TT_TLS_ROWS(EXPECT_ENT, NO_ROW)};
static const char *const relay_expect[] = {TT_RELAY_ROWS(EXPECT_ENT, NO_ROW)};

static const char *type_name(const msgpack_object *v)
{
	switch (v->type) {
	case MSGPACK_OBJECT_NIL:
		return "nil";
	case MSGPACK_OBJECT_BOOLEAN:
		return "a boolean";
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		return "an unsigned integer";
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		return "a negative integer";
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		return "a float";
	case MSGPACK_OBJECT_STR:
		return "a string";
	case MSGPACK_OBJECT_ARRAY:
		return "an array";
	case MSGPACK_OBJECT_MAP:
		return "a map";
	case MSGPACK_OBJECT_BIN:
		return "a bin";
	default:
		return "an extension";
	}
}

/* Say why the value v of key pre+tab[idx] was refused, unless a nested map already did. */
static void why_type(char *why, size_t len, const char *pre, const struct key_ent *tab,
    const char *const *expect, int idx, const msgpack_object *v)
{
	if (!why || why[0])
		return;
	snprintf(why, len, "key \"%s%s\" is %s, expected %s", pre, tab[idx].name, type_name(v),
	    expect[idx]);
}

/* Decode the map obj with the keys tab into the struct b: the loop every map shares. Sets
 * seen to the bits of the keys found; returns false on a value of the wrong type, with the
 * reason in why (if not NULL). */
#define DECODE_MAP(obj, tab, expect, pre, b, ROWS, CASE, seen)                                     \
	do {                                                                                       \
		unsigned hint_ = 0;                                                                \
		if ((obj)->type != MSGPACK_OBJECT_MAP) {                                           \
			if (why && !why[0])                                                        \
				snprintf(why, why_len, "%s is %s, not a map",                      \
				    pre[0] ? pre : "the record", type_name(obj));                  \
			return false;                                                              \
		}                                                                                  \
		for (uint32_t i_ = 0; i_ < (obj)->via.map.size; i_++) {                            \
			const msgpack_object *v = &(obj)->via.map.ptr[i_].val;                     \
			int idx_ = key_find(tab, sizeof(tab) / sizeof(tab[0]), hint_,              \
			    &(obj)->via.map.ptr[i_].key);                                          \
			bool ok = true;                                                            \
			if (idx_ < 0)                                                              \
				continue;                                                          \
			hint_ = (unsigned)idx_ + 1;                                                \
			(seen) |= 1u << idx_;                                                      \
			switch (idx_) {                                                            \
				ROWS(CASE, NO_ROW)                                                 \
			}                                                                          \
			if (!ok) {                                                                 \
				why_type(why, why_len, pre, tab, expect, idx_, v);                 \
				return false;                                                      \
			}                                                                          \
		}                                                                                  \
	} while (0)

static bool get_tls(const msgpack_object *obj, struct tt_flow_tls *t, char *why, size_t why_len)
{
	uint64_t u = 0, pair[2] = {0, 0};
	bool b = false;
	uint32_t seen = 0;

#define TLS_CASE(...) DEC_CASE(TLS_K_, t, __VA_ARGS__)
	DECODE_MAP(obj, tls_keys, tls_expect, "tls.", t, TT_TLS_ROWS, TLS_CASE, seen);
	(void)u, (void)pair, (void)b;
	return true;
}

static bool get_relay(
    const msgpack_object *obj, struct tt_flow_relay *rl, char *why, size_t why_len)
{
	uint64_t u = 0, pair[2] = {0, 0};
	bool b = false;
	uint32_t seen = 0;

#define RELAY_CASE(...) DEC_CASE(RELAY_K_, rl, __VA_ARGS__)
	DECODE_MAP(obj, relay_keys, relay_expect, "relay.", rl, TT_RELAY_ROWS, RELAY_CASE, seen);
	(void)u, (void)pair, (void)b;
	return true;
}

static bool get_record(const msgpack_object *obj, struct tt_flow_record *r, struct tt_flow_tls *tls,
    struct tt_flow_relay *relay, uint32_t *seen, char *why, size_t why_len)
{
	uint64_t u = 0, pair[2] = {0, 0};
	bool b = false;

#define REC_CASE(...) DEC_CASE(REC_K_, r, __VA_ARGS__)
	DECODE_MAP(obj, rec_keys, rec_expect, "", r, TT_RECORD_ROWS, REC_CASE, *seen);
	(void)u, (void)pair, (void)b;
	return true;
}

int tt_record_unpack_why(const msgpack_object *obj, struct tt_flow_record *r,
    struct tt_flow_tls *tls, struct tt_flow_relay *relay, char *why, size_t why_len)
{
	uint32_t seen = 0, missing;

	if (why && why_len)
		why[0] = '\0';
	else
		why = NULL;
	memset(r, 0, sizeof(*r));
	if (!get_record(obj, r, tls, relay, &seen, why, why_len))
		return -EBADMSG;
	missing = rec_required & ~seen;
	if (missing) {
		if (why)
			snprintf(
			    why, why_len, "no key \"%s\"", rec_keys[__builtin_ctz(missing)].name);
		return -EBADMSG;
	}
	/* Records written before capture sets have no "last_file": their flows ended in the
	 * file where they started. */
	if (r->last_file_id < r->file_id)
		r->last_file_id = r->file_id;
	return 0;
}

int tt_record_unpack(const msgpack_object *obj, struct tt_flow_record *r, struct tt_flow_tls *tls,
    struct tt_flow_relay *relay)
{
	return tt_record_unpack_why(obj, r, tls, relay, NULL, 0);
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

/* ---- the skimmer ----------------------------------------------------------------------
 * msgpack-c allocates a container's elements before it reads them (5 bytes can ask for
 * 64 GiB) and cannot say where a buffer ends short. The skimmer walks one object first,
 * allocating nothing, and finds where it ends, or what is wrong and at which byte: a
 * string longer than its key allows, a byte that is no msgpack type, nesting deeper than
 * msgpack-c accepts, or the end of the data. */
#define STRMAX_UINT(m)    0
#define STRMAX_NZ(m)      0
#define STRMAX_IPV(m)     0
#define STRMAX_IP(m)      sizeof(m)
#define STRMAX_PAIR(m)    0
#define STRMAX_APP2(m)    0
#define STRMAX_END(m)     (TT_SCHEMA_NAME_MAX - 1)
#define STRMAX_INIT(m)    (TT_SCHEMA_NAME_MAX - 1)
#define STRMAX_VERDICT(m) (TT_SCHEMA_NAME_MAX - 1)
#define STRMAX_F32(m)     0
#define STRMAX_BOOL(m)    0
#define STRMAX_TEXT(m)    (sizeof(m) - 1)
#define STRMAX_TLS(m)     0
#define STRMAX_RELAY(m)   0
#define SUB_UINT          0
#define SUB_NZ            0
#define SUB_IPV           0
#define SUB_IP            0
#define SUB_PAIR          0
#define SUB_APP2          0
#define SUB_END           0
#define SUB_INIT          0
#define SUB_VERDICT       0
#define SUB_F32           0
#define SUB_BOOL          0
#define SUB_TEXT          0
#define SUB_TLS           2
#define SUB_RELAY         3

struct skim_key {
	uint32_t str_max; /* the longest string or bin the key's value may be (0: none) */
	uint8_t sub;      /* the value is a map of this schema (2 tls, 3 relay), or 0 */
};
#define SKIM_ENT(type, key, kind, member, need)                                                    \
	{(uint32_t)STRMAX_##kind(((type *)0)->member), SUB_##kind},
#define SKIM_REC(...)   SKIM_ENT(struct tt_flow_record, __VA_ARGS__)
#define SKIM_TLS(...)   SKIM_ENT(struct tt_flow_tls, __VA_ARGS__)
#define SKIM_RELAY(...) SKIM_ENT(struct tt_flow_relay, __VA_ARGS__)
static const struct skim_key rec_skim[] = {TT_RECORD_ROWS(SKIM_REC, NO_ROW)};
static const struct skim_key tls_skim[] = {TT_TLS_ROWS(SKIM_TLS, NO_ROW)};
static const struct skim_key relay_skim[] = {TT_RELAY_ROWS(SKIM_RELAY, NO_ROW)};

static const struct {
	const struct key_ent *keys;
	const struct skim_key *skim;
	unsigned n;
	const char *prefix;
} skim_maps[4] = {
    [1] = {rec_keys, rec_skim, TT_RECORD_N_KEYS, ""},
    [2] = {tls_keys, tls_skim, TT_TLS_N_KEYS, "tls."},
    [3] = {relay_keys, relay_skim, TT_RELAY_N_KEYS, "relay."},
};

enum { SKIM_MAX_DEPTH = 24 }; /* msgpack-c refuses more than 32 */

struct skim {
	const uint8_t *p;
	size_t n, pos;
	struct tt_skim_fault *f;
	const char *key; /* the schema key whose value is being read, or NULL */
	const char *prefix;
};

static int skim_fail(struct skim *s, int kind, size_t off)
{
	s->f->kind = kind;
	s->f->off = off;
	if (s->key)
		snprintf(s->f->key, sizeof(s->f->key), "%s%s", s->prefix, s->key);
	return kind == TT_SKIM_TRUNCATED ? -EAGAIN : -EBADMSG;
}

static uint64_t skim_be(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

static int skim_value(struct skim *s, unsigned depth, unsigned map, uint64_t str_max);

/* The byte lengths of the length fields of types 0xc0..0xdf (str/bin/ext/array/map),
 * and the payload sizes of the fixed-size ones. */
static int skim_value(struct skim *s, unsigned depth, unsigned map, uint64_t str_max)
{
	size_t start = s->pos;
	uint8_t c;
	uint64_t len = 0, count = 0;
	bool is_map = false;
	unsigned lenlen = 0;

	if (s->pos >= s->n)
		return skim_fail(s, TT_SKIM_TRUNCATED, s->pos);
	c = s->p[s->pos++];
	if (c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3)
		return 0;
	if (c == 0xc1)
		return skim_fail(s, TT_SKIM_BAD_BYTE, start);
	if ((c & 0xf0) == 0x80 || (c & 0xf0) == 0x90) {
		count = c & 0x0f;
		is_map = (c & 0xf0) == 0x80;
		goto container;
	}
	if ((c & 0xe0) == 0xa0) {
		len = c & 0x1f;
		goto string;
	}
	switch (c) {
	case 0xc4: /* bin 8/16/32 */
	case 0xd9: /* str 8/16/32 */
		lenlen = 1;
		break;
	case 0xc5:
	case 0xda:
		lenlen = 2;
		break;
	case 0xc6:
	case 0xdb:
		lenlen = 4;
		break;
	case 0xc7: /* ext 8/16/32: length, type, data */
	case 0xc8:
	case 0xc9: {
		unsigned ll = c == 0xc7 ? 1u : c == 0xc8 ? 2u : 4u;

		if (s->n - s->pos < ll + 1)
			return skim_fail(s, TT_SKIM_TRUNCATED, start);
		len = skim_be(s->p + s->pos, ll) + 1;
		s->pos += ll;
		goto data;
	}
	case 0xcc:
	case 0xd0:
	case 0xd4: /* fixext 1: type + 1 */
		len = c == 0xd4 ? 2 : 1;
		goto data;
	case 0xcd:
	case 0xd1:
	case 0xd5:
		len = c == 0xd5 ? 3 : 2;
		goto data;
	case 0xca:
	case 0xce:
	case 0xd2:
		len = 4;
		goto data;
	case 0xd6:
		len = 5;
		goto data;
	case 0xcb:
	case 0xcf:
	case 0xd3:
		len = 8;
		goto data;
	case 0xd7:
		len = 9;
		goto data;
	case 0xd8:
		len = 17;
		goto data;
	case 0xdc: /* array 16/32 */
	case 0xdd:
	case 0xde: /* map 16/32 */
	case 0xdf: {
		unsigned ll = c == 0xdc || c == 0xde ? 2u : 4u;

		if (s->n - s->pos < ll)
			return skim_fail(s, TT_SKIM_TRUNCATED, start);
		count = skim_be(s->p + s->pos, ll);
		s->pos += ll;
		is_map = c >= 0xde;
		goto container;
	}
	default:
		return skim_fail(s, TT_SKIM_BAD_BYTE, start);
	}
	/* str or bin with a length field */
	if (s->n - s->pos < lenlen)
		return skim_fail(s, TT_SKIM_TRUNCATED, start);
	len = skim_be(s->p + s->pos, lenlen);
	s->pos += lenlen;
string:
	if (len > str_max) {
		s->f->n = len;
		s->f->max = str_max;
		return skim_fail(s, TT_SKIM_OVERSIZE, start);
	}
data:
	if (s->n - s->pos < len)
		return skim_fail(s, TT_SKIM_TRUNCATED, start);
	s->pos += len;
	return 0;
container:
	if (depth >= SKIM_MAX_DEPTH)
		return skim_fail(s, TT_SKIM_TOO_DEEP, start);
	for (uint64_t i = 0; i < count; i++) {
		const char *saved_key = s->key, *saved_prefix = s->prefix;
		uint64_t max = UINT32_MAX;
		unsigned sub = 0;
		int rc;

		if (is_map) {
			size_t kpos = s->pos;

			if ((rc = skim_value(s, depth + 1, 0, UINT32_MAX)) < 0)
				return rc;
			if (map) {
				msgpack_object k = {.type = MSGPACK_OBJECT_STR};
				int idx;

				/* The key was skimmed whole: any str form. */
				if ((s->p[kpos] & 0xe0) == 0xa0) {
					k.via.str.size = s->p[kpos] & 0x1f;
					k.via.str.ptr = (const char *)s->p + kpos + 1;
				} else if (s->p[kpos] >= 0xd9 && s->p[kpos] <= 0xdb) {
					unsigned ll = 1u << (s->p[kpos] - 0xd9); /* 1, 2, 4 */

					k.via.str.size = (uint32_t)skim_be(s->p + kpos + 1, ll);
					k.via.str.ptr = (const char *)s->p + kpos + 1 + ll;
				} else {
					k.type = MSGPACK_OBJECT_NIL;
				}
				idx = key_find(skim_maps[map].keys, skim_maps[map].n, 0, &k);
				if (idx >= 0) {
					s->key = skim_maps[map].keys[idx].name;
					s->prefix = skim_maps[map].prefix;
					sub = skim_maps[map].skim[idx].sub;
					if (skim_maps[map].skim[idx].str_max)
						max = skim_maps[map].skim[idx].str_max;
				}
			}
		}
		rc = skim_value(s, depth + 1, sub, max);
		if (rc < 0)
			return rc;
		s->key = saved_key;
		s->prefix = saved_prefix;
	}
	return 0;
}

int tt_record_skim(const uint8_t *p, size_t n, bool is_record, size_t *end, struct tt_skim_fault *f)
{
	struct skim s = {.p = p, .n = n, .f = f, .prefix = ""};
	int rc;

	memset(f, 0, sizeof(*f));
	rc = skim_value(&s, 0, is_record ? 1 : 0, UINT32_MAX);
	if (rc == 0)
		*end = s.pos;
	return rc;
}
