/* Mid-stream TLS measurement: what the inspector sees of a TCP flow whose start is not in
 * the capture. Reads one capture with the project's reader (tt_source_open,
 * tt_capture_open/next, tt_decode), groups TCP packets by flow, drops each flow's start
 * (its first S seconds or first P packets; nothing with --as-is, for files already cut
 * with `editcap -A`), feeds the rest into a mid-stream tt_tls_flow per flow (no SYN is
 * ever passed), and prints one tab-separated line per flow with payload left:
 *
 *   cli_ip cli_port srv_ip srv_port pkts bytes_c bytes_s recs_c recs_s sync_c sync_s
 *   ovh_c fit_c app_c ovh_s fit_s app_s best_dir fired syn start burst_c burst_s d4 lens
 *
 * recs_*: application-data records read (each direction's first TT_TLS_FOLLOW_RECS after
 * the resync, headers only); fired: D3; burst_*: records in cell-aligned bursts; d4: D4;
 * lens: with --lens, "c:l1,l2,...;s:l1,..." (the record lengths, for bench scripts),
 * else "-".
 * sync_*: the resync offset, or "pending" (no boundary settled yet), "nosync" (the full
 * buffer held none), "-" (no payload). The server is the endpoint with the lower port
 * (the lower address on a tie): the SYN that would tell is dropped. syn: a SYN was in
 * the capture (cut or not); start: the flow's first payload, cut or not, looks like
 * "tls" (a record header), "ssh", "http", "other", "short" (< 3 bytes) -- for the
 * script's ground truth, never for the inspector.
 *
 * usage: bench_midstream [--skip-s S | --skip-pkts P | --as-is] [--lens] FILE
 * Exit status 0, or 1 when the file cannot be read. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/reader/reader.h"
#include "../src/workers/tls.h"

struct ms_key {
	uint8_t ip_version;
	uint8_t addr[2][16]; /* [0] server, [1] client */
	uint16_t port[2];
};

struct ms_flow {
	struct ms_key key;
	bool is_used;
	uint64_t first_ns;
	uint64_t n_pkts_seen, n_pkts_kept;
	uint64_t n_bytes[2]; /* payload kept, [0] client -> server */
	bool has_syn;        /* a SYN was seen (before or after the cut) */
	uint8_t start[4];    /* the first 4 payload bytes of the flow, cut or not */
	uint8_t n_start;
	struct tt_tls_flow *tls;
};

enum {
	TABLE_CAP = 1u << 16,
};

static struct ms_flow table[TABLE_CAP];
static unsigned n_flows;
static bool print_lens;

static void release(void *ctx, struct tt_chunk *c)
{
	(void)ctx;
	tt_chunk_put(c);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t key_hash(const struct ms_key *k)
{
	const uint8_t *p = (const uint8_t *)k;
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < sizeof(*k); i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

/* The flow of a packet from src:sport to dst:dport; *is_server says whether it travels
 * server -> client. NULL when the table is full. */
static struct ms_flow *flow_of(const struct tt_decoded *d, bool *is_server)
{
	unsigned alen = d->ip_version == 4 ? 4 : 16;
	struct ms_key k;
	uint64_t h;

	memset(&k, 0, sizeof(k));
	k.ip_version = d->ip_version;
	/* Canonical order: the lower port is the server; equal ports: the lower address. */
	if (d->dport < d->sport || (d->dport == d->sport && memcmp(d->dst, d->src, alen) <= 0)) {
		memcpy(k.addr[0], d->dst, alen);
		memcpy(k.addr[1], d->src, alen);
		k.port[0] = d->dport;
		k.port[1] = d->sport;
		*is_server = false;
	} else {
		memcpy(k.addr[0], d->src, alen);
		memcpy(k.addr[1], d->dst, alen);
		k.port[0] = d->sport;
		k.port[1] = d->dport;
		*is_server = true;
	}
	h = key_hash(&k);
	for (unsigned i = 0; i < TABLE_CAP; i++) {
		struct ms_flow *f = &table[(h + i) & (TABLE_CAP - 1)];

		if (!f->is_used) {
			if (n_flows >= TABLE_CAP / 2)
				return NULL;
			f->is_used = true;
			f->key = k;
			n_flows++;
			return f;
		}
		if (memcmp(&f->key, &k, sizeof(k)) == 0)
			return f;
	}
	return NULL;
}

static const char *addr_str(const struct ms_key *k, unsigned i, char *buf, size_t n)
{
	return inet_ntop(k->ip_version == 4 ? AF_INET : AF_INET6, k->addr[i], buf, (socklen_t)n);
}

static void sync_str(const struct tt_tls_stream *s, uint64_t n_bytes, char *buf, size_t n)
{
	if (n_bytes == 0)
		snprintf(buf, n, "-");
	else if (s->flags & TT_TLS_STREAM_SYNCED)
		snprintf(buf, n, "%u", s->sync_off);
	else if (s->flags & TT_TLS_STREAM_NOT_TLS)
		snprintf(buf, n, "nosync");
	else
		snprintf(buf, n, "pending");
}

/* What the flow's first payload (before any cut) looks like. */
static const char *start_kind(const struct ms_flow *f)
{
	const uint8_t *p = f->start;

	if (f->n_start < 3)
		return f->n_start ? "short" : "none";
	if (p[0] >= 20 && p[0] <= 24 && p[1] == 3 && p[2] <= 4)
		return "tls";
	if (f->n_start >= 4 && memcmp(p, "SSH-", 4) == 0)
		return "ssh";
	if (f->n_start >= 4 &&
	    (memcmp(p, "GET ", 4) == 0 || memcmp(p, "POST", 4) == 0 || memcmp(p, "HTTP", 4) == 0 ||
		memcmp(p, "HEAD", 4) == 0 || memcmp(p, "PUT ", 4) == 0))
		return "http";
	return "other";
}

static void print_flow(const struct ms_flow *f)
{
	char a[2][INET6_ADDRSTRLEN], sync[2][16];
	struct tt_tls_midstream_stats st;
	const uint16_t *lens[2];
	unsigned recs[2];

	if (!f->tls)
		return;
	for (unsigned d = 0; d < 2; d++) {
		lens[d] = f->tls->app_lens[d];
		recs[d] = f->tls->n_app[d];
	}
	tt_tls_midstream_score_lens(lens, recs, &st);
	for (unsigned d = 0; d < 2; d++)
		sync_str(&f->tls->st[d], f->n_bytes[d], sync[d], sizeof(sync[d]));
	printf("%s\t%u\t%s\t%u\t%llu\t%llu\t%llu\t%u\t%u\t%s\t%s\t%u\t%u\t%u\t%u\t%u\t%u\t%d\t%d\t%"
	       "d\t%s\t%u\t%u\t%d\t",
	    addr_str(&f->key, 1, a[1], sizeof(a[1])), f->key.port[1],
	    addr_str(&f->key, 0, a[0], sizeof(a[0])), f->key.port[0],
	    (unsigned long long)f->n_pkts_kept, (unsigned long long)f->n_bytes[0],
	    (unsigned long long)f->n_bytes[1], recs[0], recs[1], sync[0], sync[1],
	    st.dir[0].overhead, st.dir[0].n_fit, st.dir[0].n_app, st.dir[1].overhead,
	    st.dir[1].n_fit, st.dir[1].n_app, st.best_dir, tt_tls_midstream_is_tor_like(&st),
	    f->has_syn, start_kind(f), st.dir[0].n_burst, st.dir[1].n_burst, st.is_bursts);
	if (!print_lens) {
		printf("-\n");
		return;
	}
	for (unsigned d = 0; d < 2; d++) {
		printf("%s", d ? ";s:" : "c:");
		for (unsigned i = 0; i < recs[d]; i++)
			printf("%s%u", i ? "," : "", lens[d][i]);
	}
	printf("\n");
}

static void usage(void)
{
	fprintf(stderr,
	    "usage: bench_midstream [--skip-s S | --skip-pkts P | --as-is] [--lens] FILE\n");
}

int main(int argc, char **argv)
{
	double skip_s = 0;
	unsigned long skip_pkts = 0;
	const char *path = NULL;
	struct tt_source src;
	struct tt_capture cap;
	struct tt_frame fr;
	int rc;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--skip-s") == 0 && i + 1 < argc)
			skip_s = strtod(argv[++i], NULL);
		else if (strcmp(argv[i], "--skip-pkts") == 0 && i + 1 < argc)
			skip_pkts = strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--lens") == 0)
			print_lens = true;
		else if (strcmp(argv[i], "--as-is") == 0)
			skip_s = 0, skip_pkts = 0;
		else if (argv[i][0] != '-' && !path)
			path = argv[i];
		else {
			usage();
			return 1;
		}
	}
	if (!path) {
		usage();
		return 1;
	}
	rc = tt_source_open(&src, path, release, NULL);
	if (rc < 0) {
		fprintf(stderr, "%s: %s\n", path, src.err);
		return 1;
	}
	rc = tt_capture_open(&cap, &src);
	if (rc < 0) {
		fprintf(stderr, "%s: %s\n", path, cap.err);
		tt_source_close(&src);
		return 1;
	}
	while (tt_capture_next(&cap, &src, &fr) == 1) {
		struct tt_decoded d;
		const uint8_t *tcp;
		uint32_t l4, hl, plen;
		struct ms_flow *f;
		bool is_server;

		if (tt_decode(fr.linktype, fr.data, fr.caplen, &d) != TT_DEC_FLOW || d.proto != 6)
			continue;
		if (d.l4_off + 20u > d.l3_caplen)
			continue;
		tcp = d.l3 + d.l4_off;
		hl = (uint32_t)(tcp[12] >> 4) * 4;
		l4 = d.l4_len < d.l3_caplen - d.l4_off ? d.l4_len : d.l3_caplen - d.l4_off;
		if (hl < 20 || hl > l4)
			continue;
		plen = l4 - hl;
		f = flow_of(&d, &is_server);
		if (!f)
			continue;
		if (f->n_pkts_seen++ == 0)
			f->first_ns = fr.ts_ns;
		if (tcp[13] & 0x02)
			f->has_syn = true;
		if (f->n_start == 0 && plen > 0) {
			f->n_start = (uint8_t)(plen < 4 ? plen : 4);
			memcpy(f->start, tcp + hl, f->n_start);
		}
		if (f->n_pkts_seen <= skip_pkts)
			continue;
		if (skip_s > 0 && (double)(fr.ts_ns - f->first_ns) < skip_s * 1e9)
			continue;
		f->n_pkts_kept++;
		if (plen == 0)
			continue;
		if (!f->tls) {
			f->tls = malloc(sizeof(*f->tls));
			if (!f->tls) {
				fprintf(stderr, "out of memory\n");
				return 1;
			}
			tt_tls_flow_init_midstream(f->tls);
		}
		f->n_bytes[is_server] += plen;
		/* Never is_syn: the point is a flow whose start is missing. */
		tt_tls_flow_add(f->tls, is_server, be32(tcp + 4), tcp + hl, plen, false);
	}
	printf("#cli_ip\tcli_port\tsrv_ip\tsrv_port\tpkts\tbytes_c\tbytes_s\trecs_c\trecs_s\t"
	       "sync_c\tsync_s\tovh_c\tfit_c\tapp_c\tovh_s\tfit_s\tapp_s\tbest_"
	       "dir\tfired\tsyn\tstart\tburst_c\tburst_s\td4\tlens\n");
	for (unsigned i = 0; i < TABLE_CAP; i++) {
		if (table[i].is_used)
			print_flow(&table[i]);
		free(table[i].tls);
	}
	tt_capture_close(&cap);
	tt_source_close(&src);
	return 0;
}
