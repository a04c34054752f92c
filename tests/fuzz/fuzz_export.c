/* libFuzzer harness for the flows-file reader of `tortrace export`: any bytes are read as
 * a flows.msgpack file (tt_export_stream over fmemopen), printed as CSV and as JSON lines
 * to /dev/null. Built with -Dfuzz=true and clang. Seeds: tests/fuzz/seeds/export/ (the
 * first records, and one TLS and one relay-matched record, of the flows.msgpack that
 * `analyze -j1` writes for samples/tornet-default-s1 and corpus tornet/ and peers/ndpi
 * TLS captures), plus any flows.msgpack. Set TT_FUZZ_VERBOSE=1 to see export's errors. */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "../../src/aggregate/aggregate.h"
#include "../../src/core/core.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static FILE *devnull;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!devnull) {
		devnull = fopen("/dev/null", "w");
		if (!devnull)
			abort();
		tt_log_set_level(getenv("TT_FUZZ_VERBOSE") ? TT_LOG_ERROR : -1);
	}
	for (int format = TT_EXPORT_JSONL; format <= TT_EXPORT_CSV; format++) {
		/* fmemopen refuses a size of 0; an empty file is one byte opened and
		 * read as nothing. */
		FILE *in =
		    fmemopen((void *)(size ? data : (const uint8_t *)""), size ? size : 1, "rb");

		if (!in)
			abort();
		if (size == 0)
			(void)fgetc(in);
		(void)tt_export_stream(in, "fuzz", format, devnull);
		fclose(in);
	}
	return 0;
}
