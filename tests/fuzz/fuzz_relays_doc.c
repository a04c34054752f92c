/* libFuzzer harness for the relay-document parsers: any bytes are classified with
 * tt_relays_detect (head only, as the index builder does, then the whole input) and
 * parsed with tt_relays_parse. Every entry the parser reports is checked against its
 * contract. Built with -Dfuzz=true and clang. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/relays/relays.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct ctx {
	uint64_t n_entries, n_errors;
};

static void on_entry(void *p, const struct tt_relays_entry *e)
{
	struct ctx *c = p;
	static const uint8_t zero[12];

	/* The index relies on these: abort (a crash for libFuzzer) when one is broken. */
	if ((e->ip_version != 4 && e->ip_version != 6) || e->kind > TT_RELAY_ADDR_LISTED ||
	    e->from_ns >= e->to_ns || memchr(e->nickname, '\0', sizeof(e->nickname)) == NULL ||
	    (e->ip_version == 4 && memcmp(e->addr + 4, zero, 12) != 0))
		abort();
	c->n_entries++;
}

static void on_error(void *p, uint64_t line, const char *msg)
{
	struct ctx *c = p;

	if (!msg || strlen(msg) > 4096)
		abort();
	(void)line;
	c->n_errors++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tt_relays_parse_ops ops = {on_entry, on_error};
	struct tt_relays_doc_head head;
	struct tt_relays_doc_stats st;
	struct ctx c = {0, 0};
	/* A private copy without a terminating NUL, so that ASan sees a read past the end. */
	char *buf = malloc(size ? size : 1);

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	tt_relays_detect(buf, size < 4096 ? size : 4096, &head);
	tt_relays_detect(buf, size, &head);
	if (tt_relays_parse(buf, size, &ops, &c, &st) == 0 && st.n_entries != c.n_entries)
		abort();
	free(buf);
	return 0;
}
