/* The SHA-256 of every input file, for the report's provenance. A thread of its own reads
 * the files again (from the page cache, usually) while the pipeline runs, so that the
 * reader's single pass is not slowed by hashing; OpenSSL's SHA-256 uses the CPU's SHA
 * instructions (1.8 GB/s here). */
#include "reader.h"

#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "tortrace/tortrace.h"

#define BUF_BYTES (1u << 20)

void tt_file_id_of(int fd, struct tt_file_id *id)
{
	struct stat st;

	memset(id, 0, sizeof(*id));
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return;
	id->dev = (uint64_t)st.st_dev;
	id->ino = (uint64_t)st.st_ino;
	id->size = (uint64_t)st.st_size;
	id->mtime_ns = (uint64_t)st.st_mtim.tv_sec * 1000000000u + (uint64_t)st.st_mtim.tv_nsec;
	id->is_set = true;
}

static bool same_file(const struct tt_file_id *a, const struct tt_file_id *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtime_ns == b->mtime_ns;
}

void tt_files_check_changed(struct tt_file_stats *files, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct tt_file_stats *fs = &files[i];
		const struct tt_file_id *ids[4] = {
		    &fs->id_read[0], &fs->id_read[1], &fs->id_hash[0], &fs->id_hash[1]};
		static const char *const when[4] = {"the reader opened it", "the reader finished",
		    "the hasher opened it", "the hasher finished"};
		int first = -1, other = -1;
		char msg[300];

		for (int k = 0; k < 4 && other < 0; k++) {
			if (!ids[k]->is_set)
				continue;
			if (first < 0)
				first = k;
			else if (!same_file(ids[first], ids[k]))
				other = k;
		}
		if (other < 0)
			continue;
		fs->is_changed = true;
		if (ids[first]->dev != ids[other]->dev || ids[first]->ino != ids[other]->ino)
			snprintf(msg, sizeof(msg),
			    "file replaced while being read (another file when %s)", when[other]);
		else if (ids[first]->size != ids[other]->size)
			snprintf(msg, sizeof(msg),
			    "file changed while being read (%" PRIu64 " bytes when %s, %" PRIu64
			    " when %s)",
			    ids[first]->size, when[first], ids[other]->size, when[other]);
		else
			snprintf(msg, sizeof(msg),
			    "file changed while being read (modified between when %s and when %s)",
			    when[first], when[other]);
		if (fs->sha256[0])
			strncat(msg, ": its SHA-256 is not of the bytes analysed and is left out",
			    sizeof(msg) - strlen(msg) - 1);
		fs->sha256[0] = '\0';
		tt_log(TT_LOG_WARN, "%s: %s", fs->path, msg);
		if (!fs->error)
			fs->error = strdup(msg);
	}
}

static int hash_file(struct tt_file_stats *fs, uint8_t *buf, const atomic_bool *stop)
{
	const char *path = fs->path;
	char *out = fs->sha256;
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
	tt_file_id_of(fd, &fs->id_hash[0]);
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
	tt_file_id_of(fd, &fs->id_hash[1]);
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
		if (hash_file(fs, buf, h->cfg->stop) == -EINTR)
			break;
	}
	free(buf);
	return NULL;
}
