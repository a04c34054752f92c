/* The SHA-256 of every input file, for the report's provenance. A thread of its own reads
 * the files again (from the page cache, usually) while the pipeline runs, so that the
 * reader's single pass is not slowed by hashing; OpenSSL's SHA-256 uses the CPU's SHA
 * instructions (1.8 GB/s here). */
#include "reader.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "tortrace/tortrace.h"

#define BUF_BYTES (1u << 20)

static int hash_file(const char *path, uint8_t *buf, char out[65], const atomic_bool *stop)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char md[32];
	unsigned int md_len = 0;
	int fd, rc = 0;

	if (!ctx)
		return -ENOMEM;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		EVP_MD_CTX_free(ctx);
		return -errno;
	}
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		rc = -EINVAL;
	while (rc == 0) {
		ssize_t n = read(fd, buf, BUF_BYTES);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			rc = -errno;
		else if (n == 0)
			break;
		else if (EVP_DigestUpdate(ctx, buf, (size_t)n) != 1)
			rc = -EINVAL;
		if (stop && atomic_load_explicit(stop, memory_order_relaxed))
			rc = -EINTR;
	}
	if (rc == 0 && EVP_DigestFinal_ex(ctx, md, &md_len) == 1 && md_len == 32)
		for (unsigned i = 0; i < 32; i++)
			snprintf(out + 2 * i, 3, "%02x", md[i]);
	close(fd);
	EVP_MD_CTX_free(ctx);
	return rc;
}

void *tt_hasher_main(void *arg)
{
	struct tt_hasher *h = arg;
	uint8_t *buf = malloc(BUF_BYTES);

	if (!buf)
		return NULL;
	for (size_t i = 0; i < h->n_files; i++) {
		struct tt_file_stats *fs = &h->files[i];

		/* Standard input cannot be read twice: it has no digest. */
		if (strcmp(fs->path, "-") == 0)
			continue;
		if (hash_file(fs->path, buf, fs->sha256, h->cfg->stop) == -EINTR)
			break;
	}
	free(buf);
	return NULL;
}
