/* libFuzzer harness for relay data in archives: the input is written to a file and the
 * index is built from it, as `--relays FILE` does, so compressed files (xz, gz, bz2, zstd)
 * and tar archives go through libarchive and the member handling (damage, skipped and
 * oversized members, ARCHIVE:MEMBER names). The build must succeed (damage is reported in
 * the error list, never returned) and the index must hold together: every document it
 * lists is readable and every error string is bounded. Built with -Dfuzz=true and clang;
 * seeds in tests/fuzz/seeds/relays_archive/ (small archives of the sample's documents). */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../src/relays/relays.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[64]; /* one file, rewritten for each input */

static void write_input(const uint8_t *data, size_t size)
{
	int fd;

	if (!path[0]) {
		char dir[] = "/tmp/fuzz-relays-archive-XXXXXX";

		if (!mkdtemp(dir))
			abort();
		snprintf(path, sizeof(path), "%s/input", dir);
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		abort();
	while (size > 0) {
		ssize_t n = write(fd, data, size);

		if (n <= 0)
			abort();
		data += n;
		size -= (size_t)n;
	}
	close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = path;
	struct tt_relays *idx = NULL;
	struct tt_relays_info in;
	struct tt_relay_match m[4];
	static const uint8_t v4[16] = {192, 0, 2, 1};

	write_input(data, size);
	if (tt_relays_build(&p, 1, &idx) != 0) /* only -ENOMEM may fail, and it does not here */
		abort();
	tt_relays_get_info(idx, &in);
	if (in.n_files != 1 || in.n_docs + in.n_failed > tt_relays_n_docs(idx))
		abort();
	for (size_t i = 0; i < tt_relays_n_docs(idx); i++) {
		struct tt_relays_doc d;

		if (tt_relays_doc(idx, i, &d) != 0 || strncmp(d.path, path, strlen(path)) != 0)
			abort();
	}
	for (size_t i = 0; i < tt_relays_n_errors(idx); i++)
		if (strlen(tt_relays_error(idx, i)) > 8192)
			abort();
	tt_relays_lookup(idx, v4, 4, 0, 0, m, 4);
	tt_relays_free(idx);
	return 0;
}
