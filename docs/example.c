/* A program on libtortrace (pkg-config tortrace): analyse captures, print the hosts that
 * used Tor as the findings arrive, then read the flow records back and print those with a
 * verdict. Built and run by the tests (tests/meson.build: api_example).
 *
 *   cc example.c $(pkg-config --cflags --libs tortrace) -o example
 *   ./example OUT CAPTURE... */
#include <stdio.h>
#include <stdlib.h>

#include <tortrace/tortrace.h>

static void on_progress(const struct tt_progress *p, void *ctx)
{
	(void)ctx;
	if (p->is_final)
		fprintf(stderr, "read %llu of %llu bytes\n", (unsigned long long)p->bytes_done,
		    (unsigned long long)p->bytes_total);
}

static void on_host(const struct tt_host_finding *h, void *ctx)
{
	++*(unsigned *)ctx;
	printf("host %s: %llu Tor flows, %llu bytes, %zu relays, best score %.4f (%s)\n",
	    h->address, (unsigned long long)h->tor_flows, (unsigned long long)h->tor_bytes,
	    h->n_relays, h->best_score, tt_verdict_name(h->best_verdict));
}

int main(int argc, char **argv)
{
	struct tt_config cfg;
	struct tt_flows *flows;
	const struct tt_flow_record *r;
	char path[4096], src[46], dst[46];
	unsigned n_hosts = 0;
	int status, rc;

	if (argc < 3) {
		fprintf(stderr, "usage: %s OUT CAPTURE...\n", argv[0]);
		return 2;
	}
	tt_config_defaults(&cfg);
	cfg.out_dir = argv[1];
	cfg.paths = (const char *const *)argv + 2;
	cfg.n_paths = (size_t)argc - 2;
	cfg.is_quiet = true;
	cfg.progress = on_progress;
	cfg.on_host = on_host;
	cfg.findings_ctx = &n_hosts;
	status = tt_analyze(&cfg); /* 0 all read, 1 some input failed, 2 nothing done */
	if (status == TT_STATUS_USAGE)
		return 2;
	printf("%u hosts\n", n_hosts);

	snprintf(path, sizeof(path), "%s/flows.msgpack", argv[1]);
	rc = tt_flows_open(path, &flows); /* 0, or an error tt_flows_error() explains */
	while (rc >= 0 && (rc = tt_flows_next(flows, &r)) > 0) {
		if (r->verdict == TT_VERDICT_NONE)
			continue;
		tt_record_ip_str(r, false, src, sizeof(src));
		tt_record_ip_str(r, true, dst, sizeof(dst));
		printf("flow %s:%u -> %s:%u %s %.4f in %s\n", src, r->src_port, dst, r->dst_port,
		    tt_verdict_name(r->verdict), (double)r->score,
		    tt_flows_file(flows, r->file_id));
	}
	if (rc < 0)
		fprintf(stderr, "%s\n", flows ? tt_flows_error(flows) : "out of memory");
	tt_flows_close(flows);
	return rc < 0 ? 1 : status;
}
