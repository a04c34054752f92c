/* The flow record schema, described once.
 *
 * Three tables, one per msgpack map (the record, its "tls" map and its "relay" map). Each
 * is an X-macro over two kinds of rows, listed in one order:
 *
 *   F(key, kind, member, need)   a key of the msgpack map, in the order the encoder writes
 *                                it. kind says how the member is encoded and decoded
 *                                (src/core/record.c) and how long it can be encoded
 *                                (TT_SCHEMA_MAX_<kind> below); need is REQ when a map
 *                                without the key is not a record, OPT otherwise.
 *   C(name, where, render, expr) a column of `tortrace export`, in output order: where is
 *                                CSV, JSON or BOTH, render says how expr is printed
 *                                (src/aggregate/export.c), and expr is evaluated with r
 *                                (the record), x (struct tt_export_row: file, last_file, src, dst,
 *                                dur), t (the tls map) or rl (the relay map) in scope.
 *
 * The encoder, the decoder (tt_record_unpack), the CSV header and rows, the JSON lines
 * and TT_RECORD_MAX_BYTES are all generated from these rows. The key order, the
 * column order and the renderings are part of the file formats: changing them changes
 * the bytes of flows.msgpack or of export's output (TT_RECORD_SCHEMA).
 *
 * Kinds: UINT an unsigned integer (shortest form); NZ the same, written only when not 0;
 * IPV the IP version (4 or 6); IP an address as bin 4/16 (by ip_version); PAIR a [fwd,
 * rev] array of unsigned integers; APP2 a [fwd, rev] array of tt_app names; END a
 * tt_flow_end name; INIT a tt_flow_initiator name; VERDICT a tt_verdict name; F32 a float
 * 32; BOOL true/false; TEXT a NUL-terminated char array as a string; TLS / RELAY the
 * nested map, present when the member is not NULL.
 */
#ifndef TT_RECORD_SCHEMA_H
#define TT_RECORD_SCHEMA_H

#include <stddef.h>

#include "tortrace/record.h"

/* clang-format off */
#define TT_RECORD_ROWS(F, C)                                                                      \
	F(file, UINT, file_id, REQ)                                                                \
	C(file, BOTH, STR, x->file)                                                                \
	F(last_file, UINT, last_file_id, OPT)                                                      \
	F(proto, UINT, proto, REQ)                                                                 \
	C(proto, BOTH, STR, tt_proto_name(r->proto))                                               \
	F(ipv, IPV, ip_version, REQ)                                                               \
	F(src, IP, src_ip, REQ)                                                                    \
	C(src_ip, BOTH, STR, x->src)                                                               \
	F(sport, UINT, src_port, OPT)                                                              \
	C(src_port, BOTH, U64, r->src_port)                                                        \
	F(dst, IP, dst_ip, REQ)                                                                    \
	C(dst_ip, BOTH, STR, x->dst)                                                               \
	F(dport, UINT, dst_port, OPT)                                                              \
	C(dst_port, BOTH, U64, r->dst_port)                                                        \
	F(first_ns, UINT, first_ts_ns, OPT)                                                        \
	C(first_ts, BOTH, TS, r->first_ts_ns)                                                      \
	F(last_ns, UINT, last_ts_ns, OPT)                                                          \
	C(last_ts, BOTH, TS, r->last_ts_ns)                                                        \
	C(duration_s, BOTH, TS, x->dur)                                                            \
	F(pkts, PAIR, pkts, OPT)                                                                   \
	C(packets, BOTH, U64, r->pkts[0] + r->pkts[1])                                             \
	C(bytes, BOTH, U64, r->bytes[0] + r->bytes[1])                                             \
	C(pkts_fwd, BOTH, U64, r->pkts[0])                                                         \
	C(pkts_rev, BOTH, U64, r->pkts[1])                                                         \
	F(bytes, PAIR, bytes, OPT)                                                                 \
	C(bytes_fwd, BOTH, U64, r->bytes[0])                                                       \
	C(bytes_rev, BOTH, U64, r->bytes[1])                                                       \
	F(payload, PAIR, payload_bytes, OPT)                                                       \
	C(payload_fwd, BOTH, U64, r->payload_bytes[0])                                             \
	C(payload_rev, BOTH, U64, r->payload_bytes[1])                                             \
	F(tcp_flags, PAIR, tcp_flags, OPT)                                                         \
	C(tcp_flags_fwd, BOTH, U64, r->tcp_flags[0])                                               \
	C(tcp_flags_rev, BOTH, U64, r->tcp_flags[1])                                               \
	F(app, APP2, app, OPT)                                                                     \
	C(app_fwd, BOTH, STR, tt_app_name(r->app[0]))                                              \
	C(app_rev, BOTH, STR, tt_app_name(r->app[1]))                                              \
	F(end, END, end, OPT)                                                                      \
	C(end, BOTH, STR, tt_end_name(r->end))                                                     \
	F(flags, UINT, flags, OPT)                                                                 \
	C(syn_seen, BOTH, BOOL, r->flags & TT_FLOW_SYN_SEEN)                                       \
	F(initiator, INIT, initiator, OPT)                                                         \
	C(initiator, BOTH, STR, tt_initiator_name(r->initiator))                                   \
	C(truncated, BOTH, BOOL, r->flags & TT_FLOW_TRUNCATED)                                     \
	F(frags, UINT, n_frags, OPT)                                                               \
	C(fragments, BOTH, U64, r->n_frags)                                                        \
	C(tls_evicted, BOTH, BOOL, r->flags & TT_FLOW_TLS_EVICTED)                                 \
	F(tls, TLS, tls, OPT)                                                                      \
	C(tls, JSON, TLS, r->tls)                                                                  \
	C(tls_version, CSV, STR, r->tls ? tt_tls_version_name(r->tls->version) : "")               \
	C(sni, CSV, STR, r->tls ? r->tls->sni : "")                                                \
	C(ja3, CSV, STR, r->tls ? r->tls->ja3 : "")                                                \
	C(ja4, CSV, STR, r->tls ? r->tls->ja4 : "")                                                \
	F(verdict, VERDICT, verdict, OPT)                                                          \
	C(verdict, BOTH, STR, tt_verdict_name(r->verdict))                                         \
	F(candidate, VERDICT, candidate, OPT)                                                      \
	C(candidate, BOTH, STR, tt_verdict_name(r->candidate))                                     \
	F(score, F32, score, OPT)                                                                  \
	C(score, BOTH, SCORE, r->score)                                                            \
	F(evidence, UINT, evidence, OPT)                                                           \
	C(evidence, BOTH, EVIDENCE, r->evidence)                                                   \
	F(webrtc, NZ, webrtc, OPT)                                                                 \
	F(dtls_app, NZ, dtls_app, OPT)                                                             \
	F(rtp, NZ, rtp, OPT)                                                                       \
	F(ice, NZ, ice, OPT)                                                                       \
	F(up_big, NZ, up_big, OPT)                                                                 \
	F(up_quantum, NZ, up_quantum, OPT)                                                         \
	C(webrtc, JSON, WEBRTC, r)                                                                 \
	F(relay, RELAY, relay, OPT)                                                                \
	C(relay, JSON, RELAY, r->relay)                                                            \
	C(relay_fingerprint, CSV, STR, r->relay ? r->relay->fingerprint : "")                      \
	C(relay_nickname, CSV, STR, r->relay ? r->relay->nickname : "")                            \
	C(last_file, BOTH, STR, x->last_file)

/* The "tls" map (struct tt_flow_tls); export prints it as a JSON object only. */
#define TT_TLS_ROWS(F, C)                                                                         \
	F(version, UINT, version, OPT)                                                             \
	F(cipher, UINT, cipher, OPT)                                                               \
	F(ch_traits, UINT, ch_traits, OPT)                                                         \
	F(cert_traits, UINT, cert_traits, OPT)                                                     \
	F(records, UINT, n_records, OPT)                                                           \
	F(cell_app, PAIR, cell_app, OPT)                                                           \
	F(cell_exact, PAIR, cell_exact, OPT)                                                       \
	F(has_ch, BOOL, has_ch, OPT)                                                               \
	F(has_sh, BOOL, has_sh, OPT)                                                               \
	F(has_cert, BOOL, has_cert, OPT)                                                           \
	F(versions, BOOL, is_versions, OPT)                                                        \
	F(bundle, BOOL, is_bundle, OPT)                                                            \
	F(d1, BOOL, is_d1, OPT)                                                                    \
	F(d2, BOOL, is_d2, OPT)                                                                    \
	F(midstream, BOOL, is_midstream, OPT)                                                      \
	F(ms_app, PAIR, ms_app, OPT)                                                               \
	F(ms_fit, PAIR, ms_fit, OPT)                                                               \
	F(d3, BOOL, is_d3, OPT)                                                                    \
	F(ms_burst, PAIR, ms_burst, OPT)                                                           \
	F(d4, BOOL, is_d4, OPT)                                                                    \
	F(sni, TEXT, sni, OPT)                                                                     \
	F(ja3, TEXT, ja3, OPT)                                                                     \
	F(ja4, TEXT, ja4, OPT)                                                                     \
	F(cert_subject, TEXT, cert_subject, OPT)                                                   \
	F(cert_issuer, TEXT, cert_issuer, OPT)                                                     \
	F(nest_app, NZ, nest_app, OPT)                                                             \
	F(nest_fit, NZ, nest_fit, OPT)                                                             \
	F(nest_hello, NZ, is_nest_hello, OPT)                                                      \
	F(poll_backoff, NZ, poll_backoff, OPT)                                                     \
	F(poll_mode, NZ, poll_mode, OPT)                                                           \
	F(poll_bodies, NZ, poll_bodies, OPT)                                                       \
	F(poll_cell, NZ, poll_cell, OPT)                                                           \
	C(version, JSON, STR, tt_tls_version_name(t->version))                                     \
	C(cipher, JSON, U64, t->cipher)                                                            \
	C(sni, JSON, STR, t->sni)                                                                  \
	C(ja3, JSON, STR, t->ja3)                                                                  \
	C(ja4, JSON, STR, t->ja4)                                                                  \
	C(ch_traits, JSON, U64, t->ch_traits)                                                      \
	C(cert_traits, JSON, U64, t->cert_traits)                                                  \
	C(cert_subject, JSON, STR, t->cert_subject)                                                \
	C(cert_issuer, JSON, STR, t->cert_issuer)                                                  \
	C(records, JSON, U64, t->n_records)                                                        \
	C(cell_exact, JSON, PAIR, t->cell_exact)                                                   \
	C(cell_app, JSON, PAIR, t->cell_app)                                                       \
	C(versions_cell, JSON, BOOL, t->is_versions)                                               \
	C(relay_bundle, JSON, BOOL, t->is_bundle)                                                  \
	C(framing_d1, JSON, BOOL, t->is_d1)                                                        \
	C(framing_d2, JSON, BOOL, t->is_d2)                                                        \
	C(midstream, JSON, BOOL, t->is_midstream)                                                  \
	C(midstream_app, JSON, PAIR, t->ms_app)                                                    \
	C(midstream_fit, JSON, PAIR, t->ms_fit)                                                    \
	C(framing_d3, JSON, BOOL, t->is_d3)                                                        \
	C(midstream_burst, JSON, PAIR, t->ms_burst)                                                \
	C(framing_d4, JSON, BOOL, t->is_d4)                                                        \
	C(nested_app, JSON, U64, t->nest_app)                                                      \
	C(nested_fit, JSON, U64, t->nest_fit)                                                      \
	C(nested_hello, JSON, BOOL, t->is_nest_hello)                                              \
	C(poll_backoff, JSON, U64, t->poll_backoff)                                                \
	C(poll_mode, JSON, U64, t->poll_mode)                                                      \
	C(poll_bodies, JSON, U64, t->poll_bodies)                                                  \
	C(poll_cell, JSON, U64, t->poll_cell)

/* The "relay" map (struct tt_flow_relay); export prints it as a JSON object only. */
#define TT_RELAY_ROWS(F, C)                                                                       \
	F(fp, TEXT, fingerprint, OPT)                                                              \
	F(nick, TEXT, nickname, OPT)                                                               \
	F(flags, UINT, flags, OPT)                                                                 \
	F(port, UINT, port, OPT)                                                                   \
	F(kind, UINT, kind, OPT)                                                                   \
	F(src, BOOL, is_src, OPT)                                                                  \
	F(from_ns, UINT, from_ns, OPT)                                                             \
	F(to_ns, UINT, to_ns, OPT)                                                                 \
	C(fingerprint, JSON, STR, rl->fingerprint)                                                 \
	C(nickname, JSON, STR, rl->nickname)                                                       \
	C(endpoint, JSON, STR, rl->is_src ? "initiator" : "responder")                             \
	C(port, JSON, U64, rl->port)                                                               \
	C(flags, JSON, RELAY_FLAGS, rl->flags)                                                     \
	C(match, JSON, STR, tt_relay_match_kind_name(rl->kind))                                    \
	C(valid_from, JSON, TIME, rl->from_ns)                                                     \
	C(valid_until, JSON, TIME, rl->to_ns)
/* clang-format on */

/* ---- the worst-case encoded size, from the tables ----------------------------------
 * Every key is a fixstr (1 + its length: sizeof of its literal). Names (tt_app_name,
 * tt_end_name, tt_verdict_name) are fixstr too, so at most 1 + 31 bytes; the unit test
 * checks every name fits. */
#define TT_SCHEMA_NAME_MAX    32u
#define TT_SCHEMA_UINT_MAX(m) (1u + sizeof(m)) /* 0xcc..0xcf + big-endian bytes */
#define TT_SCHEMA_TEXT_MAX(m)                                                                      \
	((sizeof(m) - 1 < 32 ? 1u : 2u) + sizeof(m) - 1) /* fixstr or str8, NUL not sent */
#define TT_SCHEMA_MAP_HDR(n) ((n) < 16 ? 1u : 3u)        /* fixmap or map16 */

#define TT_SCHEMA_MAX_UINT(m)    TT_SCHEMA_UINT_MAX(m)
#define TT_SCHEMA_MAX_IPV(m)     TT_SCHEMA_UINT_MAX(m)
#define TT_SCHEMA_MAX_NZ(m)      TT_SCHEMA_UINT_MAX(m)
#define TT_SCHEMA_MAX_IP(m)      (2u + sizeof(m)) /* bin8 */
#define TT_SCHEMA_MAX_PAIR(m)    (1u + 2u * TT_SCHEMA_UINT_MAX((m)[0]))
#define TT_SCHEMA_MAX_APP2(m)    (1u + 2u * TT_SCHEMA_NAME_MAX)
#define TT_SCHEMA_MAX_END(m)     TT_SCHEMA_NAME_MAX
#define TT_SCHEMA_MAX_INIT(m)    TT_SCHEMA_NAME_MAX
#define TT_SCHEMA_MAX_VERDICT(m) TT_SCHEMA_NAME_MAX
#define TT_SCHEMA_MAX_F32(m)     5u
#define TT_SCHEMA_MAX_BOOL(m)    1u
#define TT_SCHEMA_MAX_TEXT(m)    TT_SCHEMA_TEXT_MAX(m)
#define TT_SCHEMA_MAX_TLS(m)     TT_TLS_MAX_BYTES
#define TT_SCHEMA_MAX_RELAY(m)   TT_RELAY_MAX_BYTES

#define TT_SCHEMA_NONE(...)
#define TT_SCHEMA_ONE(...) +1u
#define TT_SCHEMA_ROW_MAX(type, key, kind, member, need)                                           \
	+sizeof(#key) + TT_SCHEMA_MAX_##kind(((type *)0)->member)
#define TT_SCHEMA_REC_MAX(...)   TT_SCHEMA_ROW_MAX(struct tt_flow_record, __VA_ARGS__)
#define TT_SCHEMA_TLS_MAX(...)   TT_SCHEMA_ROW_MAX(struct tt_flow_tls, __VA_ARGS__)
#define TT_SCHEMA_RELAY_MAX(...) TT_SCHEMA_ROW_MAX(struct tt_flow_relay, __VA_ARGS__)

enum {
	TT_RECORD_N_KEYS = 0 TT_RECORD_ROWS(TT_SCHEMA_ONE, TT_SCHEMA_NONE),
	TT_TLS_N_KEYS = 0 TT_TLS_ROWS(TT_SCHEMA_ONE, TT_SCHEMA_NONE),
	TT_RELAY_N_KEYS = 0 TT_RELAY_ROWS(TT_SCHEMA_ONE, TT_SCHEMA_NONE),
	/* The most bytes the encoder writes for a tls map, a relay map and a record. */
	TT_TLS_MAX_BYTES =
	    TT_SCHEMA_MAP_HDR(TT_TLS_N_KEYS) TT_TLS_ROWS(TT_SCHEMA_TLS_MAX, TT_SCHEMA_NONE),
	TT_RELAY_MAX_BYTES =
	    TT_SCHEMA_MAP_HDR(TT_RELAY_N_KEYS) TT_RELAY_ROWS(TT_SCHEMA_RELAY_MAX, TT_SCHEMA_NONE),
	TT_RECORD_MAX_BYTES =
	    TT_SCHEMA_MAP_HDR(TT_RECORD_N_KEYS) TT_RECORD_ROWS(TT_SCHEMA_REC_MAX, TT_SCHEMA_NONE),
};

/* Keys are fixstr; every map's field bits fit a uint32_t. */
#define TT_SCHEMA_KEY_OK(key, ...) _Static_assert(sizeof(#key) <= 32, "key " #key " too long");
TT_RECORD_ROWS(TT_SCHEMA_KEY_OK, TT_SCHEMA_NONE)
TT_TLS_ROWS(TT_SCHEMA_KEY_OK, TT_SCHEMA_NONE)
TT_RELAY_ROWS(TT_SCHEMA_KEY_OK, TT_SCHEMA_NONE)
_Static_assert(TT_RECORD_N_KEYS <= 32 && TT_TLS_N_KEYS <= 32 && TT_RELAY_N_KEYS <= 32,
    "a map's key bits must fit a uint32_t");

#endif /* TT_RECORD_SCHEMA_H */
