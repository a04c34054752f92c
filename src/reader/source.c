/* Byte sources for the capture parsers.
 *
 * A plain file is mapped in windows of 64 MiB (each a chunk, zero copy): page tables and
 * address space stay small for files of any size, and each window is unmapped by the
 * last worker done with it while the rest is read. Compressed files and files that
 * cannot be mapped (pipes) are streamed into chunks of a few MiB: a record that would
 * cross the end of a chunk is moved into the next one, and the old chunk goes back to
 * the caller through the release callback, so packet descriptors can keep pointing into
 * it until every worker has passed the release marker. Nothing is unpacked to disk.
 */
#include "reader.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>
#include <zstd.h>

#define CHUNK_BYTES      (4u << 20)
#define IN_BYTES         (1u << 20)
#define WINDOW_BYTES     (64u << 20)
#define SCRATCH_BYTES    (256u << 10)
/* Input for the first call of a zstd frame: ZSTD_FRAMEHEADERSIZE_PREFIX, what
 * ZSTD_initDStream() recommends; the decoder then says what it needs next. */
#define ZSTD_FRAME_START 5

/* The offset of the fault: the end of what was produced so far. */
static void note_fault(struct tt_source *s)
{
	s->err_off = s->off + (uint64_t)(s->end - s->p);
	s->err_raw_off = s->n_raw_bytes - (s->in_len - s->in_pos);
}

static int fail(struct tt_source *s, int rc, const char *what)
{
	snprintf(s->err, sizeof(s->err), "%s", what);
	note_fault(s);
	return rc;
}

static int sys_fail(struct tt_source *s, int err, const char *what)
{
	snprintf(s->err, sizeof(s->err), "%s: %s", what, strerror(err));
	note_fault(s);
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

static int map_window(struct tt_source *s, uint64_t off, size_t need);
static ssize_t produce(struct tt_source *s, uint8_t *dst, size_t room);

int tt_source_open(struct tt_source *s, const char *path, tt_release_fn release, void *ctx)
{
	struct stat st;
	int rc;

	memset(s, 0, sizeof(*s));
	s->release = release;
	s->release_ctx = ctx;
	/* "-" is standard input: a pipe is streamed, a redirected file is mapped. */
	s->fd = strcmp(path, "-") == 0 ? fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 0)
				       : open(path, O_RDONLY | O_CLOEXEC);
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
		s->is_pollable = true;
	}
	if (s->comp == TT_COMP_NONE) {
		s->file_size = (uint64_t)st.st_size;
		rc = map_window(s, 0, 0);
		if (rc == 0)
			return 0;
		if (rc == -ENOMEM && s->err[0])
			goto err_close;
		s->comp = TT_COMP_PLAIN; /* cannot be mapped: fall back to reading */
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

int tt_source_open_compressed(struct tt_source *s, const char *path)
{
	struct stat st;
	int comp, rc, fd;

	memset(s, 0, sizeof(*s));
	s->fd = -1;
	/* Only a regular file is opened: opening a FIFO would let its writer start writing to
	 * a reader that then goes away (EPIPE), and would wait for a writer without
	 * O_NONBLOCK, kept in case the path is swapped for one after stat(). */
	if (strcmp(path, "-") == 0 || stat(path, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_size == 0)
		return 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return 0;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size == 0 ||
	    detect(fd, &comp) < 0 || comp == TT_COMP_NONE) {
		close(fd);
		return 0;
	}
	fcntl(fd, F_SETFL, 0); /* regular files ignore O_NONBLOCK; cleared all the same */
	s->fd = fd;
	s->comp = comp;
	rc = open_decoder(s);
	if (rc < 0) {
		tt_source_close(s);
		return rc;
	}
	return 1;
}

ssize_t tt_source_produce(struct tt_source *s, uint8_t *dst, size_t room)
{
	ssize_t n = produce(s, dst, room);

	if (n > 0)
		s->off += (uint64_t)n; /* p == end: off counts what was produced */
	return n;
}

void tt_source_open_ahead(struct tt_source *s, struct tt_ahead_job *job, int fd, int comp,
    tt_release_fn release, void *ctx)
{
	memset(s, 0, sizeof(*s));
	s->release = release;
	s->release_ctx = ctx;
	s->fd = fd;
	s->comp = comp;
	s->ahead = job;
}

void tt_source_populate(struct tt_source *s)
{
	const size_t step = 2u << 20;
	size_t len =
	    (size_t)(s->end - s->populated) < step ? (size_t)(s->end - s->populated) : step;

#ifdef MADV_POPULATE_READ
	/* Offsets into the mapping stay page-aligned: the mapping starts on a page. */
	if (madvise((void *)s->populated, len, MADV_POPULATE_READ) == 0) {
		s->populated += len;
		return;
	}
#endif
	s->populated = s->end; /* an older kernel: page faults will do */
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
	s->populated = s->end; /* not a mapping */
	s->prefetched = s->end;
	s->is_eof = true;
	s->n_raw_bytes = len;
	return 0;
}

/* Map the window of the file that starts at the page holding file offset off and holds
 * at least need bytes from off on (when the file has them); p then points at off. The
 * previous window goes back through the release callback. */
static int map_window(struct tt_source *s, uint64_t off, size_t need)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE), start = off / page * page;
	size_t len =
	    WINDOW_BYTES > need + (off - start) ? WINDOW_BYTES : need + (size_t)(off - start);
	struct tt_chunk *c;
	void *base;

	if (start + len > s->file_size)
		len = (size_t)(s->file_size - start);
	base = mmap(NULL, len, PROT_READ, MAP_PRIVATE, s->fd, (off_t)start);
	if (base == MAP_FAILED)
		return -errno;
	madvise(base, len, MADV_SEQUENTIAL);
	c = tt_chunk_wrap_mmap(base, len);
	if (!c) {
		munmap(base, len);
		return fail(s, -ENOMEM, "out of memory");
	}
	if (s->chunk)
		s->release(s->release_ctx, s->chunk);
	s->chunk = c;
	s->p = c->base + (off - start);
	s->end = c->base + len;
	s->populated = s->p;
	s->prefetched = s->p;
	s->is_eof = start + len == s->file_size;
	s->n_raw_bytes = start + len;
	return 0;
}

/* Wait until a pipe has data (or its end), in slices of 100 ms, so that a stop request
 * is seen even when the writer sends nothing: the signal handler may restart read(). */
static int wait_readable(struct tt_source *s)
{
	for (;;) {
		struct pollfd pfd = {.fd = s->fd, .events = POLLIN};
		int n;

		if (atomic_load_explicit(s->stop, memory_order_relaxed))
			return fail(s, -EINTR, "interrupted");
		n = poll(&pfd, 1, 100);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return sys_fail(s, errno, "poll");
	}
}

/* A decoder error after some output: that output is returned first, and the error is
 * held back until the parser asks for bytes past it. */
static ssize_t defer(struct tt_source *s, ssize_t produced, const char *kind, const char *why)
{
	if (produced > 0) {
		s->pending_rc = -EBADMSG;
		snprintf(s->pending_err, sizeof(s->pending_err), "corrupt %s data (%s)", kind, why);
		return produced;
	}
	snprintf(s->err, sizeof(s->err), "corrupt %s data (%s)", kind, why);
	return -EBADMSG;
}

/* Read compressed or plain bytes into [dst, dst + room); returns bytes produced,
 * 0 at the clean end of input, or -errno (-EBADMSG: corrupt, or a compressed stream that
 * ends inside a gzip member or zstd frame, i.e. without its end marker and trailer). */
static ssize_t produce(struct tt_source *s, uint8_t *dst, size_t room)
{
	if (s->ahead)
		return tt_ahead_take(s->ahead, s, dst, room);
	if (s->pending_rc) {
		snprintf(s->err, sizeof(s->err), "%s", s->pending_err);
		return s->pending_rc;
	}
	for (;;) {
		ssize_t n;
		bool is_at_end;

		if (s->comp == TT_COMP_PLAIN) {
			if (s->is_pollable && s->stop) {
				int rc = wait_readable(s);

				if (rc < 0)
					return rc;
			}
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
		is_at_end = s->in_pos == s->in_len;
		if (is_at_end && !s->is_mid_frame)
			return 0; /* the input ends between members/frames: complete */
		/* At the end of the input inside a frame the decoder is still called with no
		 * input: it may hold output that did not fit last time. */
		if (s->comp == TT_COMP_GZIP) {
			z_stream *z = s->dec;
			size_t avail = s->in_len - s->in_pos;
			int zr;

			z->next_in = s->in + s->in_pos;
			z->avail_in = (uInt)avail;
			z->next_out = dst;
			z->avail_out = (uInt)room;
			zr = inflate(z, Z_NO_FLUSH);
			s->in_pos = s->in_len - z->avail_in;
			n = (ssize_t)(room - z->avail_out);
			if (zr == Z_STREAM_END) {
				inflateReset(z); /* concatenated gzip members */
				s->is_mid_frame = false;
			} else if (zr == Z_OK || zr == Z_BUF_ERROR) {
				if (avail != z->avail_in)
					s->is_mid_frame = true;
			} else {
				note_fault(s);
				s->err_off += (uint64_t)n;
				return defer(s, n, "gzip", z->msg ? z->msg : "bad data");
			}
		} else {
			/* On an error zstd leaves in.pos and out.pos where they were, so
			 * what the failing call decoded is lost: feed it one unit at a time
			 * (its hint: a block, or the checksum), so that a bad checksum costs
			 * nothing and a corrupt block only itself. */
			size_t avail = s->in_len - s->in_pos,
			       step = s->zstd_hint ? s->zstd_hint : ZSTD_FRAME_START;
			ZSTD_inBuffer in = {
			    s->in, s->in_pos + (avail < step ? avail : step), s->in_pos};
			ZSTD_outBuffer out = {dst, room, 0};
			size_t zr = ZSTD_decompressStream(s->dec, &out, &in);

			s->in_pos = in.pos;
			n = (ssize_t)out.pos;
			if (ZSTD_isError(zr)) {
				note_fault(s);
				s->err_off += (uint64_t)n;
				return defer(s, n, "zstd", ZSTD_getErrorName(zr));
			}
			/* 0: a frame is complete and flushed */
			s->is_mid_frame = zr != 0;
			s->zstd_hint = zr;
		}
		if (n > 0)
			return n;
		if (is_at_end) {
			note_fault(s);
			return fail(s, -EBADMSG,
			    s->comp == TT_COMP_GZIP
				? "gzip stream cut short: it ends inside a member, without the "
				  "end-of-stream block or the CRC/length trailer"
				: "zstd stream cut short: it ends inside a frame, without the "
				  "frame end or checksum");
		}
	}
}

int tt_source_need_slow(struct tt_source *s, size_t n)
{
	size_t have = (size_t)(s->end - s->p);

	if (s->comp == TT_COMP_NONE) {
		int rc;

		if (s->is_eof)
			return 1;
		rc = map_window(s, s->off, n);
		if (rc < 0)
			return rc == -ENOMEM ? rc : sys_fail(s, -rc, "cannot map");
		return (size_t)(s->end - s->p) >= n ? 0 : 1;
	}
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

int tt_source_discard(struct tt_source *s, uint64_t n)
{
	while (n) {
		size_t have = (size_t)(s->end - s->p);
		int rc;

		if (have >= n) {
			tt_source_skip(s, (size_t)n);
			return 0;
		}
		tt_source_skip(s, have);
		n -= have;
		if (s->comp == TT_COMP_NONE) {
			/* Map the window that holds the end of the skip. */
			if (s->off + n >= s->file_size) {
				bool is_short = s->off + n > s->file_size;

				s->off = s->file_size; /* p stays at the end of the last window */
				s->is_eof = true;
				return is_short ? 1 : 0;
			}
			rc = map_window(s, s->off + n, 0);
			if (rc < 0)
				return rc == -ENOMEM ? rc : sys_fail(s, -rc, "cannot map");
			s->off += n;
			return 0;
		}
		/* Streamed: decode into a scratch buffer, never more than is skipped, and
		 * drop it (new chunks would stay allocated until the workers release
		 * them). */
		if (!s->scratch) {
			s->scratch = malloc(SCRATCH_BYTES);
			if (!s->scratch)
				return fail(s, -ENOMEM, "out of memory");
		}
		while (n) {
			ssize_t got =
			    produce(s, s->scratch, n < SCRATCH_BYTES ? (size_t)n : SCRATCH_BYTES);

			if (got < 0)
				return (int)got;
			if (got == 0)
				return 1;
			s->off += (uint64_t)got;
			n -= (uint64_t)got;
		}
	}
	return 0;
}

bool tt_source_shrank(struct tt_source *s, uint64_t *now_bytes)
{
	struct stat st;

	if (s->comp != TT_COMP_NONE || s->fd < 0 || fstat(s->fd, &st) < 0)
		return false;
	*now_bytes = (uint64_t)st.st_size;
	return (uint64_t)st.st_size < s->file_size;
}

void tt_source_close(struct tt_source *s)
{
	if (s->chunk)
		s->release(s->release_ctx, s->chunk);
	s->chunk = NULL;
	if (s->ahead) {
		/* The job owns the file descriptor. */
		tt_ahead_release(s->ahead);
		s->ahead = NULL;
		s->fd = -1;
	}
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
	free(s->scratch);
	s->scratch = NULL;
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
}
