/* Recompute the checksum of a tortrace relay cache in place, as anyone who edits one can
 * (XXH3 is not a MAC): tests/cli/test_relays_cli.py uses it to make a cache whose
 * structure is broken but whose checksum is right. usage: cache_rehash FILE
 * The checksum is the XXH3-64 of the bytes after the 232-byte header, at offset 32. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#define HDR_BYTES    232
#define CHECKSUM_OFF 32

int main(int argc, char **argv)
{
	FILE *f;
	long n;
	uint8_t *b;
	uint64_t h;

	if (argc != 2 || !(f = fopen(argv[1], "r+b"))) {
		fprintf(stderr, "usage: cache_rehash FILE\n");
		return 2;
	}
	if (fseek(f, 0, SEEK_END) < 0 || (n = ftell(f)) < HDR_BYTES) {
		fprintf(stderr, "%s: too short\n", argv[1]);
		return 1;
	}
	rewind(f);
	b = malloc((size_t)n);
	if (!b || fread(b, 1, (size_t)n, f) != (size_t)n)
		return 1;
	h = XXH3_64bits(b + HDR_BYTES, (size_t)n - HDR_BYTES);
	memcpy(b + CHECKSUM_OFF, &h, 8);
	rewind(f);
	if (fwrite(b, 1, (size_t)n, f) != (size_t)n || fclose(f) != 0)
		return 1;
	free(b);
	return 0;
}
