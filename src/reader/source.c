/* Byte sources for the capture parsers.
 *
 * A plain file is mapped whole (one chunk, zero copy). Compressed files and files that
 * cannot be mapped (pipes) are streamed into chunks of a few MiB: a record that would
 * cross the end of a chunk is moved into the next one, and the old chunk goes back to
 * the caller through the release callback, so packet descriptors can keep pointing into
 * it until every worker has passed the release marker. Nothing is unpacked to disk.
 */
#include "reader.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>
#include <zstd.h>

#define CHUNK_BYTES (4u << 20)
#define IN_BYTES    (1u << 20)

static int fail(struct tt_source *s, int rc, const char *what)
{
	snprintf(s->err, sizeof(s->err), "%s", what);
	return rc;
}

static int sys_fail(struct tt_source *s, int err, const char *what)
{
	snprintf(s->err, sizeof(s->err), "%s: %s", what, strerror(err));
	return -err;
}

static int detect(int fd, int *comp)
{
	uint8_t m[4] = {0};
	ssize_t n = pread(fd, m, sizeof(m), 0);

	if (n < 0)
		return -errno;
	if (n >= 2 && m[0] == 0x1f && m[1] == 0x8b)
		*comp = TT_COMP_GZIP;
	else if (n >= 4 && m[0] == 0x28 && m[1] == 0xb5 && m[2] == 0x2f && m[3] == 0xfd)
		*comp = TT_COMP_ZSTD;
	else
		*comp = TT_COMP_NONE;
	return 0;
}

static int open_decoder(struct tt_source *s)
{
	if (s->comp == TT_COMP_GZIP) {
		z_stream *z = calloc(1, sizeof(*z));

		if (!z)
			return -ENOMEM;
		/* 15 + 32: a zlib or gzip header, detected automatically. */
		if (inflateInit2(z, 15 + 32) != Z_OK) {
			free(z);
			return -ENOMEM;
		}
		s->dec = z;
	} else if (s->comp == TT_COMP_ZSTD) {
		s->dec = ZSTD_createDStream();
		if (!s->dec)
			return -ENOMEM;
		ZSTD_initDStream(s->dec);
	}
	if (s->comp != TT_COMP_PLAIN) {
		s->in = malloc(IN_BYTES);
		if (!s->in)
			return -ENOMEM;
	}
	return 0;
}

int tt_source_open(struct tt_source *s, const char *path, tt_release_fn release, void *ctx)
{
	struct stat st;
	int rc;

	memset(s, 0, sizeof(*s));
	s->release = release;
	s->release_ctx = ctx;
	s->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (s->fd < 0)
		return sys_fail(s, errno, "cannot open");
	if (fstat(s->fd, &st) < 0) {
		rc = sys_fail(s, errno, "cannot stat");
		goto err_close;
	}
	if (S_ISDIR(st.st_mode)) {
		rc = fail(s, -EISDIR, "is a directory");
		goto err_close;
	}
	if (S_ISREG(st.st_mode)) {
		rc = detect(s->fd, &s->comp);
		if (rc < 0) {
			rc = sys_fail(s, -rc, "cannot read");
			goto err_close;
		}
		if (st.st_size == 0) {
			rc = fail(s, -EBADMSG, "empty file");
			goto err_close;
		}
	} else {
		s->comp = TT_COMP_PLAIN; /* a pipe or device: no mapping, no peeking */
	}
	if (s->comp == TT_COMP_NONE) {
		void *base = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, s->fd, 0);

		if (base == MAP_FAILED) {
			s->comp = TT_COMP_PLAIN; /* fall back to reading */
		} else {
			madvise(base, (size_t)st.st_size, MADV_SEQUENTIAL);
			s->chunk = tt_chunk_wrap_mmap(base, (size_t)st.st_size);
			if (!s->chunk) {
				munmap(base, (size_t)st.st_size);
				rc = fail(s, -ENOMEM, "out of memory");
				goto err_close;
			}
			s->p = s->chunk->base;
			s->end = s->p + s->chunk->len;
			s->is_eof = true;
			s->n_raw_bytes = s->chunk->len;
			close(s->fd);
			s->fd = -1;
			return 0;
		}
	}
	rc = open_decoder(s);
	if (rc < 0) {
		fail(s, rc, "out of memory");
		goto err_dec;
	}
	return 0;
err_dec:
	tt_source_close(s);
	return rc;
err_close:
	close(s->fd);
	s->fd = -1;
	return rc;
}

int tt_source_open_mem(
    struct tt_source *s, const uint8_t *data, size_t len, tt_release_fn release, void *ctx)
{
	memset(s, 0, sizeof(*s));
	s->release = release;
	s->release_ctx = ctx;
	s->fd = -1;
	s->comp = TT_COMP_NONE;
	s->chunk = tt_chunk_wrap_borrowed(data, len);
	if (!s->chunk)
		return fail(s, -ENOMEM, "out of memory");
	s->p = data;
	s->end = data + len;
	s->is_eof = true;
	s->n_raw_bytes = len;
	return 0;
}

/* Read compressed or plain bytes into [dst, dst + room); returns bytes produced,
 * 0 at end of input, or -errno. */
static ssize_t produce(struct tt_source *s, uint8_t *dst, size_t room)
{
	for (;;) {
		ssize_t n;

		if (s->comp == TT_COMP_PLAIN) {
			n = read(s->fd, dst, room);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return sys_fail(s, errno, "read error");
			s->n_raw_bytes += (uint64_t)n;
			return n;
		}
		if (s->in_pos == s->in_len && !s->is_eof) {
			n = read(s->fd, s->in, IN_BYTES);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return sys_fail(s, errno, "read error");
			s->n_raw_bytes += (uint64_t)n;
			s->in_len = (size_t)n;
			s->in_pos = 0;
			if (n == 0)
				s->is_eof = true;
		}
		if (s->comp == TT_COMP_GZIP) {
			z_stream *z = s->dec;
			int zr;

			if (s->in_pos == s->in_len)
				return 0; /* input exhausted: a gzip member without its end */
			z->next_in = s->in + s->in_pos;
			z->avail_in = (uInt)(s->in_len - s->in_pos);
			z->next_out = dst;
			z->avail_out = (uInt)room;
			zr = inflate(z, Z_NO_FLUSH);
			s->in_pos = s->in_len - z->avail_in;
			if (zr == Z_STREAM_END)
				inflateReset(z); /* concatenated gzip members */
			else if (zr != Z_OK && zr != Z_BUF_ERROR)
				return fail(s, -EBADMSG, z->msg ? z->msg : "corrupt gzip data");
			n = (ssize_t)(room - z->avail_out);
		} else {
			ZSTD_inBuffer in = {s->in, s->in_len, s->in_pos};
			ZSTD_outBuffer out = {dst, room, 0};
			size_t zr;

			if (s->in_pos == s->in_len)
				return 0;
			zr = ZSTD_decompressStream(s->dec, &out, &in);
			s->in_pos = in.pos;
			if (ZSTD_isError(zr))
				return fail(s, -EBADMSG, ZSTD_getErrorName(zr));
			n = (ssize_t)out.pos;
		}
		if (n > 0)
			return n;
	}
}

int tt_source_need(struct tt_source *s, size_t n)
{
	size_t have = (size_t)(s->end - s->p);

	if (have >= n)
		return 0;
	if (s->comp == TT_COMP_NONE)
		return 1;
	/* Streamed: make room for n bytes after p, in this chunk or a new one. */
	if (!s->chunk || (size_t)(s->chunk->base + s->chunk->len - s->p) < n) {
		size_t len = n > CHUNK_BYTES / 2 ? 2 * n : CHUNK_BYTES;
		struct tt_chunk *c = tt_chunk_new(len);

		if (!c)
			return fail(s, -ENOMEM, "out of memory");
		if (have)
			memcpy(c->base, s->p, have);
		if (s->chunk)
			s->release(s->release_ctx, s->chunk);
		s->chunk = c;
		s->p = c->base;
		s->end = c->base + have;
	}
	while ((size_t)(s->end - s->p) < n) {
		uint8_t *lim = s->chunk->base + s->chunk->len;
		ssize_t got = produce(s, (uint8_t *)s->end, (size_t)(lim - s->end));

		if (got < 0)
			return (int)got;
		if (got == 0)
			return 1;
		s->end += got;
	}
	return 0;
}

void tt_source_close(struct tt_source *s)
{
	if (s->chunk)
		s->release(s->release_ctx, s->chunk);
	s->chunk = NULL;
	if (s->dec) {
		if (s->comp == TT_COMP_GZIP) {
			inflateEnd(s->dec);
			free(s->dec);
		} else {
			ZSTD_freeDStream(s->dec);
		}
		s->dec = NULL;
	}
	free(s->in);
	s->in = NULL;
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
}
