/* Shards and their merge: `tortrace analyze --shard I/N` and `tortrace merge`.
 *
 * Design: a capture set (files that continue each other, one timeline: see the reader) is
 * never split between shards. Shard I owns a contiguous range of the expanded inputs,
 * balanced by bytes (tt_shard_range), and reads every set whose first file is in that
 * range, whole, past the end of the range if the set goes on; it skips the files of a set
 * begun in an earlier range (it reads their frame headers only, to learn where that set
 * ends). Every set is thus read by exactly one shard with the reader, workers and
 * aggregator of a single run, so its flows, their order in flows.msgpack and the per-file
 * results are a single run's, by construction, and the merge only has to concatenate the
 * parts' records in shard order and build report.json from them (the same accounting as
 * the aggregator: tt_aggregator_account). No flow state crosses a shard boundary, so
 * nothing of it has to be serialised or replayed, and the result is exact whatever the
 * flows, evictions or inspections. The price: a set larger than 1/N of the bytes makes its
 * shard longer than the others (one rotated set of the whole archive is one shard's work).
 *
 * A part is the shard's OUT: flows.msgpack (its records; the header lists every input, so
 * file ids are those of a single run), report.json (the shard's own view) and partial.bin,
 * written last, a msgpack map:
 *   type "tortrace.partial", version, layout [sizeof(struct tt_file_stats), record schema],
 *   shard [I, N], options {the options that change results, relay-data digest, sha256},
 *   inputs [[path, size]...] (all of them), complete, files [[file id, raw struct
 *   tt_file_stats (pointers zeroed), error or nil]...] (owned), and of its flows.msgpack:
 *   flows, flows_tcp, flows_udp, tor, candidates (the aggregator's counts), flows_bytes and
 *   flows_xxh3 (the whole file), flagged (the (offset, length) of every record with a
 *   verdict or a candidate among the records after the header, uint64 pairs).
 * The raw structs are fine because a merge refuses other versions and layouts. The merge
 * checks each flows.msgpack against its size and XXH3, copies its records as they are and
 * decodes only the flagged ones (the report lists them and the findings are made of them):
 * the other records only count, and their counts are in partial.bin, so the merge reads
 * them at the speed of a copy. */
#include "tortrace/tortrace.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <msgpack.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "core.h"
#include "aggregate.h"
#include "relays.h"
#include "lib.h"

#define PARTIAL_TYPE "tortrace.partial"

void tt_shard_range(
    const uint64_t *sizes, size_t n_files, unsigned index, unsigned count, size_t *lo, size_t *hi)
{
	__extension__ typedef unsigned __int128 u128;
	u128 total = 0, before = 0;
	size_t k;

	for (k = 0; k < n_files; k++)
		total += sizes[k];
	*lo = *hi = n_files;
	for (k = 0; k < n_files; k++) {
		/* The shard holding the middle of file k's bytes: non-decreasing in k. */
		u128 s = total ? (before * 2 + sizes[k]) * count / (total * 2)
			       : (u128)k * count / n_files;

		if (s >= count)
			s = count - 1;
		before += sizes[k];
		if (s == index && *lo == n_files)
			*lo = k;
		if (s > index) {
			*hi = k;
			break;
		}
	}
	if (*lo == n_files)
		*lo = *hi; /* empty: placed where it would be */
}

/* ---- writing a part ---------------------------------------------------------------- */

static int fwrite_cb(void *data, const char *buf, size_t len)
{
	/* An empty bin (a part without flagged records) comes with buf NULL. */
	return len == 0 || fwrite(buf, 1, len, data) == len ? 0 : -1;
}

static int pack_str(msgpack_packer *pk, const char *s)
{
	if (!s)
		return msgpack_pack_nil(pk);
	return msgpack_pack_str_with_body(pk, s, strlen(s));
}

static int pack_bool(msgpack_packer *pk, bool b)
{
	return b ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
}

/* The options that change results, as they must be equal in every part. */
static int pack_options(
    msgpack_packer *pk, const struct tt_config *cfg, const struct tt_relays *relays, bool is_hashed)
{
	int rc = msgpack_pack_map(pk, 12);

	rc |= pack_str(pk, "paths");
	rc |= msgpack_pack_array(pk, cfg->n_paths);
	for (size_t i = 0; i < cfg->n_paths; i++)
		rc |= pack_str(pk, cfg->paths[i]);
	rc |= pack_str(pk, "filter");
	rc |= pack_str(pk, cfg->bpf);
	rc |= pack_str(pk, "tcp_timeout_ns");
	rc |= msgpack_pack_uint64(pk, cfg->tcp_timeout_ns);
	rc |= pack_str(pk, "udp_timeout_ns");
	rc |= msgpack_pack_uint64(pk, cfg->udp_timeout_ns);
	rc |= pack_str(pk, "flow_memory_bytes");
	rc |= msgpack_pack_uint64(pk, cfg->flow_memory_bytes);
	rc |= pack_str(pk, "detection");
	rc |= pack_bool(pk, !cfg->is_no_detect);
	rc |= pack_str(pk, "chain");
	rc |= pack_bool(pk, !cfg->is_no_chain);
	rc |= pack_str(pk, "min_score");
	rc |= msgpack_pack_double(pk, cfg->min_score > 0 ? cfg->min_score : TT_MIN_SCORE_DEFAULT);
	rc |= pack_str(pk, "without_evidence");
	rc |= msgpack_pack_uint32(pk, cfg->evidence_off);
	rc |= pack_str(pk, "relays_path");
	rc |= pack_str(pk, cfg->relays_path);
	rc |= pack_str(pk, "relays_digest");
	rc |= pack_str(pk, relays ? tt_relays_digest(relays) : NULL);
	rc |= pack_str(pk, "sha256");
	rc |= pack_bool(pk, is_hashed);
	return rc;
}

/* Size and XXH3-64 of the file at path. 0 or -errno. */
static int file_digest(const char *path, uint64_t *size, uint64_t *digest)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;
	struct stat st;
	void *p;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) != 0) {
		rc = -errno;
	} else if (st.st_size == 0) {
		*size = 0;
		*digest = XXH3_64bits(NULL, 0);
	} else if ((p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0)) ==
		   MAP_FAILED) {
		rc = -errno;
	} else {
		madvise(p, (size_t)st.st_size, MADV_SEQUENTIAL);
		*size = (uint64_t)st.st_size;
		*digest = XXH3_64bits(p, (size_t)st.st_size);
		munmap(p, (size_t)st.st_size);
	}
	close(fd);
	return rc;
}

int tt_partial_write(const struct tt_config *cfg, const struct tt_file_stats *files,
    const uint64_t *mtimes, size_t n_files, const bool *is_owned, const struct tt_relays *relays,
    bool is_hashed, bool is_complete, const struct tt_aggregator *agg)
{
	char *final = tt_lib_join(cfg->out_dir, TT_PARTIAL_NAME);
	char *tmp = tt_lib_join(cfg->out_dir, TT_PARTIAL_NAME ".tmp");
	char *flows = tt_lib_join(cfg->out_dir, "flows.msgpack");
	uint64_t flows_bytes = 0, flows_xxh3 = 0;
	msgpack_packer pk;
	size_t n_owned = 0;
	FILE *f = NULL;
	int rc = 0;

	if (!final || !tmp || !flows) {
		rc = -ENOMEM;
		goto out;
	}
	rc = file_digest(flows, &flows_bytes, &flows_xxh3);
	if (rc < 0) {
		tt_log(TT_LOG_ERROR, "cannot read %s: %s", flows, strerror(-rc));
		goto out;
	}
	f = fopen(tmp, "wb");
	if (!f) {
		rc = -errno;
		goto out;
	}
	for (size_t i = 0; i < n_files; i++)
		n_owned += is_owned[i];
	msgpack_packer_init(&pk, f, fwrite_cb);
	rc |= msgpack_pack_map(&pk, 17);
	rc |= pack_str(&pk, "type");
	rc |= pack_str(&pk, PARTIAL_TYPE);
	rc |= pack_str(&pk, "version");
	rc |= pack_str(&pk, TT_VERSION);
	rc |= pack_str(&pk, "layout");
	rc |= msgpack_pack_array(&pk, 2);
	rc |= msgpack_pack_uint64(&pk, sizeof(struct tt_file_stats));
	rc |= msgpack_pack_uint32(&pk, TT_RECORD_SCHEMA);
	rc |= pack_str(&pk, "shard");
	rc |= msgpack_pack_array(&pk, 2);
	rc |= msgpack_pack_unsigned_int(&pk, cfg->shard_index);
	rc |= msgpack_pack_unsigned_int(&pk, cfg->shard_count);
	rc |= pack_str(&pk, "options");
	rc |= pack_options(&pk, cfg, relays, is_hashed);
	rc |= pack_str(&pk, "inputs");
	rc |= msgpack_pack_array(&pk, n_files);
	for (size_t i = 0; i < n_files; i++) {
		rc |= msgpack_pack_array(&pk, 2);
		rc |= pack_str(&pk, files[i].path);
		rc |= msgpack_pack_uint64(&pk, files[i].size_bytes);
	}
	rc |= pack_str(&pk, "mtimes");
	rc |= msgpack_pack_array(&pk, n_files);
	for (size_t i = 0; i < n_files; i++)
		rc |= msgpack_pack_uint64(&pk, mtimes[i]);
	rc |= pack_str(&pk, "complete");
	rc |= pack_bool(&pk, is_complete);
	rc |= pack_str(&pk, "flows");
	rc |= msgpack_pack_uint64(&pk, agg->n_flows);
	rc |= pack_str(&pk, "flows_tcp");
	rc |= msgpack_pack_uint64(&pk, agg->n_flows_tcp);
	rc |= pack_str(&pk, "flows_udp");
	rc |= msgpack_pack_uint64(&pk, agg->n_flows_udp);
	rc |= pack_str(&pk, "tor");
	rc |= msgpack_pack_uint64(&pk, agg->n_tor);
	rc |= pack_str(&pk, "candidates");
	rc |= msgpack_pack_uint64(&pk, agg->n_cand);
	rc |= pack_str(&pk, "flows_bytes");
	rc |= msgpack_pack_uint64(&pk, flows_bytes);
	rc |= pack_str(&pk, "flows_xxh3");
	rc |= msgpack_pack_uint64(&pk, flows_xxh3);
	rc |= pack_str(&pk, "flagged");
	rc |= msgpack_pack_bin_with_body(
	    &pk, agg->flagged, agg->n_flagged * 2 * sizeof(*agg->flagged));
	rc |= pack_str(&pk, "files");
	rc |= msgpack_pack_array(&pk, n_owned);
	for (size_t i = 0; i < n_files; i++) {
		struct tt_file_stats raw;

		if (!is_owned[i])
			continue;
		raw = files[i];
		raw.path = NULL;
		raw.error = NULL;
		rc |= msgpack_pack_array(&pk, 3);
		rc |= msgpack_pack_uint64(&pk, i);
		rc |= msgpack_pack_bin_with_body(&pk, &raw, sizeof(raw));
		rc |= pack_str(&pk, files[i].error);
	}
	rc = tt_lib_finish_file(f, rc ? -EIO : 0);
	if (rc == 0 && rename(tmp, final) != 0)
		rc = -errno;
	if (rc == 0)
		tt_lib_sync_dir(cfg->out_dir);
out:
	if (rc < 0) {
		tt_log(TT_LOG_ERROR, "cannot write %s: %s", final ? final : TT_PARTIAL_NAME,
		    strerror(-rc));
		if (tmp)
			unlink(tmp);
	}
	free(final);
	free(tmp);
	free(flows);
	return rc;
}

/* ---- reading parts ------------------------------------------------------------------ */

struct part {
	const char *dir;
	char *bytes; /* partial.bin */
	msgpack_unpacked u;
	bool has_u;
	unsigned index, count;
	const msgpack_object *options, *inputs, *files;
	bool is_complete;
	uint64_t n_flows, n_tcp, n_udp, n_tor, n_cand, flows_bytes, flows_xxh3;
	const uint64_t *flagged; /* n_flagged (offset, length) pairs (a copy: aligned) */
	uint64_t *flagged_copy;
	size_t n_flagged;
};

static const msgpack_object *get(const msgpack_object *map, const char *key)
{
	if (!map || map->type != MSGPACK_OBJECT_MAP)
		return NULL;
	for (uint32_t i = 0; i < map->via.map.size; i++) {
		const msgpack_object_kv *kv = &map->via.map.ptr[i];

		if (kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == strlen(key) &&
		    memcmp(kv->key.via.str.ptr, key, kv->key.via.str.size) == 0)
			return &kv->val;
	}
	return NULL;
}

static bool is_str(const msgpack_object *o, const char *s)
{
	return o && o->type == MSGPACK_OBJECT_STR && o->via.str.size == strlen(s) &&
	       memcmp(o->via.str.ptr, s, o->via.str.size) == 0;
}

/* A string object as a new C string (nil: NULL, *is_ok stays true). */
static char *dup_str(const msgpack_object *o, bool *is_ok)
{
	char *s;

	if (!o || o->type == MSGPACK_OBJECT_NIL)
		return NULL;
	if (o->type != MSGPACK_OBJECT_STR || !(s = strndup(o->via.str.ptr, o->via.str.size))) {
		*is_ok = false;
		return NULL;
	}
	return s;
}

static uint64_t get_u64(const msgpack_object *o)
{
	return o && o->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? o->via.u64 : UINT64_MAX;
}

/* Read dir/partial.bin into *p. 0, or -EBADMSG / -errno with a message naming the part, at
 * level lvl (a resumed run only notes why it redoes a part). */
static int part_load(struct part *p, const char *dir, enum tt_log_level lvl)
{
	char *path = tt_lib_join(dir, TT_PARTIAL_NAME);
	const msgpack_object *o, *layout, *shard;
	FILE *f;
	long len;
	size_t off = 0;
	int rc = -EBADMSG;

	memset(p, 0, sizeof(*p));
	p->dir = dir;
	if (!path)
		return -ENOMEM;
	f = fopen(path, "rb");
	if (!f) {
		rc = -errno;
		tt_log(lvl,
		    "%s: no partial result (%s: %s): not a folder of tortrace analyze --shard, or "
		    "that shard did not finish",
		    dir, path, strerror(errno));
		free(path);
		return rc;
	}
	if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0 &&
	    (p->bytes = malloc((size_t)len)) && fread(p->bytes, 1, (size_t)len, f) == (size_t)len) {
		msgpack_unpacked_init(&p->u);
		p->has_u = true;
		if (msgpack_unpack_next(&p->u, p->bytes, (size_t)len, &off) ==
			MSGPACK_UNPACK_SUCCESS &&
		    off == (size_t)len)
			rc = 0;
	}
	fclose(f);
	if (rc < 0) {
		tt_log(lvl, "%s: not a partial result of tortrace (unreadable at byte offset %zu)",
		    path, off);
		free(path);
		return rc;
	}
	o = &p->u.data;
	layout = get(o, "layout");
	shard = get(o, "shard");
	if (!is_str(get(o, "type"), PARTIAL_TYPE)) {
		tt_log(lvl, "%s: not a partial result of tortrace", path);
		rc = -EBADMSG;
	} else if (!is_str(get(o, "version"), TT_VERSION)) {
		const msgpack_object *v = get(o, "version");

		tt_log(lvl,
		    "%s: written by tortrace %.*s, this is %s: run every shard and "
		    "the merge with one version",
		    path, v && v->type == MSGPACK_OBJECT_STR ? (int)v->via.str.size : 1,
		    v && v->type == MSGPACK_OBJECT_STR ? v->via.str.ptr : "?", TT_VERSION);
		rc = -EBADMSG;
	} else if (!layout || layout->type != MSGPACK_OBJECT_ARRAY || layout->via.array.size != 2 ||
		   get_u64(&layout->via.array.ptr[0]) != sizeof(struct tt_file_stats) ||
		   get_u64(&layout->via.array.ptr[1]) != TT_RECORD_SCHEMA) {
		tt_log(lvl, "%s: written by another build of tortrace %s (layout differs)", path,
		    TT_VERSION);
		rc = -EBADMSG;
	} else if (!shard || shard->type != MSGPACK_OBJECT_ARRAY || shard->via.array.size != 2 ||
		   get_u64(&shard->via.array.ptr[1]) == 0 ||
		   get_u64(&shard->via.array.ptr[1]) > UINT32_MAX ||
		   get_u64(&shard->via.array.ptr[0]) >= get_u64(&shard->via.array.ptr[1]) ||
		   !(p->options = get(o, "options")) || !(p->inputs = get(o, "inputs")) ||
		   p->inputs->type != MSGPACK_OBJECT_ARRAY || !(p->files = get(o, "files")) ||
		   p->files->type != MSGPACK_OBJECT_ARRAY || !get(o, "complete") ||
		   get(o, "complete")->type != MSGPACK_OBJECT_BOOLEAN ||
		   get_u64(get(o, "flows")) == UINT64_MAX ||
		   get_u64(get(o, "flows_tcp")) == UINT64_MAX ||
		   get_u64(get(o, "flows_udp")) == UINT64_MAX ||
		   get_u64(get(o, "tor")) == UINT64_MAX ||
		   get_u64(get(o, "candidates")) == UINT64_MAX ||
		   get_u64(get(o, "flows_bytes")) == UINT64_MAX || !get(o, "flows_xxh3") ||
		   get(o, "flows_xxh3")->type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
		   !get(o, "flagged") || get(o, "flagged")->type != MSGPACK_OBJECT_BIN ||
		   get(o, "flagged")->via.bin.size % (2 * sizeof(uint64_t)) != 0) {
		tt_log(lvl, "%s: damaged partial result (a key is missing or wrong)", path);
		rc = -EBADMSG;
	} else {
		p->index = (unsigned)shard->via.array.ptr[0].via.u64;
		p->count = (unsigned)shard->via.array.ptr[1].via.u64;
		p->is_complete = get(o, "complete")->via.boolean;
		const msgpack_object *fl = get(o, "flagged");

		p->n_flows = get_u64(get(o, "flows"));
		p->n_tcp = get_u64(get(o, "flows_tcp"));
		p->n_udp = get_u64(get(o, "flows_udp"));
		p->n_tor = get_u64(get(o, "tor"));
		p->n_cand = get_u64(get(o, "candidates"));
		p->flows_bytes = get_u64(get(o, "flows_bytes"));
		p->flows_xxh3 = get(o, "flows_xxh3")->via.u64;
		p->n_flagged = fl->via.bin.size / (2 * sizeof(uint64_t));
		/* The bin's bytes need not be aligned for uint64_t. */
		if (p->n_flagged) {
			p->flagged_copy = malloc(fl->via.bin.size);
			if (!p->flagged_copy) {
				free(path);
				return -ENOMEM;
			}
			memcpy(p->flagged_copy, fl->via.bin.ptr, fl->via.bin.size);
		}
		p->flagged = p->flagged_copy;
	}
	free(path);
	return rc;
}

static void part_free(struct part *p)
{
	if (p->has_u)
		msgpack_unpacked_destroy(&p->u);
	free(p->bytes);
	free(p->flagged_copy);
}

/* The first key of a's options whose value differs in b, or NULL when they are equal. */
static const char *options_differ(
    const msgpack_object *a, const msgpack_object *b, char *key, size_t len)
{
	if (a->type != MSGPACK_OBJECT_MAP || b->type != MSGPACK_OBJECT_MAP)
		return "options";
	for (uint32_t i = 0; i < a->via.map.size; i++) {
		const msgpack_object_kv *kv = &a->via.map.ptr[i];
		const msgpack_object *v;

		if (kv->key.type != MSGPACK_OBJECT_STR)
			return "options";
		snprintf(key, len, "%.*s", (int)kv->key.via.str.size, kv->key.via.str.ptr);
		v = get(b, key);
		if (!v || !msgpack_object_equal(kv->val, *v))
			return key;
	}
	return a->via.map.size == b->via.map.size ? NULL : "options";
}

/* ---- resuming a part ---------------------------------------------------------------- */

/* The files whose bytes part p's result depends on: those it read, the file before the
 * first of them (whether that file's set goes on decides where p's sets begin) and every
 * file of its range (it reads their frame headers to learn where a set begun earlier
 * ends). [*lo, *hi). */
static void part_depends(
    const struct part *p, const uint64_t *sizes, size_t n, size_t *lo, size_t *hi)
{
	const msgpack_object *fl = p->files;

	tt_shard_range(sizes, n, p->index, p->count, lo, hi);
	for (uint32_t j = 0; j < fl->via.array.size; j++) {
		const msgpack_object *e = &fl->via.array.ptr[j];
		uint64_t id = e->type == MSGPACK_OBJECT_ARRAY && e->via.array.size == 3
				  ? get_u64(&e->via.array.ptr[0])
				  : UINT64_MAX;

		if (id >= n)
			continue;
		if (id < *lo)
			*lo = id;
		if (id + 1 > *hi)
			*hi = id + 1;
	}
	if (*lo > 0)
		--*lo;
}

bool tt_partial_is_current(const char *dir, const struct tt_config *cfg, char *const *paths,
    const uint64_t *sizes, const uint64_t *mtimes, size_t n, const struct tt_relays *relays,
    bool is_hashed, char *why, size_t why_len, bool *has_failures)
{
	struct part p;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_unpacked now;
	const msgpack_object *mt;
	char *flows = tt_lib_join(dir, "flows.msgpack");
	uint64_t size, digest;
	size_t lo, hi, off = 0;
	bool is_current = false;
	int rc = 0;

	snprintf(why, why_len, "out of memory");
	msgpack_sbuffer_init(&sb);
	msgpack_unpacked_init(&now);
	if (!flows || part_load(&p, dir, TT_LOG_DEBUG) < 0) {
		if (flows)
			snprintf(why, why_len, "no complete partial result");
		free(flows);
		msgpack_unpacked_destroy(&now);
		return false;
	}
	/* This run's options and inputs, packed as tt_partial_write() does. */
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	rc |= msgpack_pack_array(&pk, 2);
	rc |= pack_options(&pk, cfg, relays, is_hashed);
	rc |= msgpack_pack_array(&pk, n);
	for (size_t i = 0; i < n; i++) {
		rc |= msgpack_pack_array(&pk, 2);
		rc |= pack_str(&pk, paths[i]);
		rc |= msgpack_pack_uint64(&pk, sizes[i]);
	}
	mt = get(&p.u.data, "mtimes");
	if (rc != 0 || msgpack_unpack_next(&now, sb.data, sb.size, &off) != MSGPACK_UNPACK_SUCCESS)
		goto out;
	if (!p.is_complete)
		snprintf(why, why_len, "it was interrupted or failed");
	else if (p.index != cfg->shard_index || p.count != cfg->shard_count)
		snprintf(why, why_len, "it is part %u/%u", p.index, p.count);
	else if (!msgpack_object_equal(*p.options, now.data.via.array.ptr[0]))
		snprintf(why, why_len, "other options or relay data");
	else if (!msgpack_object_equal(*p.inputs, now.data.via.array.ptr[1]))
		snprintf(why, why_len, "the inputs or their sizes changed");
	else if (!mt || mt->type != MSGPACK_OBJECT_ARRAY || mt->via.array.size != n)
		snprintf(why, why_len, "no modification times recorded");
	else if (file_digest(flows, &size, &digest) < 0 || size != p.flows_bytes ||
		 digest != p.flows_xxh3)
		snprintf(why, why_len, "its flows.msgpack is missing or damaged");
	else {
		part_depends(&p, sizes, n, &lo, &hi);
		is_current = true;
		/* An input that failed in it (its error is the third item of its entry). */
		for (uint32_t j = 0; has_failures && j < p.files->via.array.size; j++) {
			const msgpack_object *e = &p.files->via.array.ptr[j];

			if (e->type == MSGPACK_OBJECT_ARRAY && e->via.array.size == 3 &&
			    e->via.array.ptr[2].type != MSGPACK_OBJECT_NIL)
				*has_failures = true;
		}
		for (size_t i = lo; i < hi && is_current; i++)
			if (get_u64(&mt->via.array.ptr[i]) != mtimes[i]) {
				snprintf(why, why_len, "%s was modified", paths[i]);
				is_current = false;
			}
	}
out:
	part_free(&p);
	msgpack_unpacked_destroy(&now);
	msgpack_sbuffer_destroy(&sb);
	free(flows);
	return is_current;
}

/* ---- the merge ---------------------------------------------------------------------- */

struct merge {
	struct part *parts; /* by shard index once checked */
	size_t n_parts;
	char **paths; /* the expanded inputs */
	size_t n_files;
	struct tt_file_stats *files;
	char **opt_paths; /* options.paths, as the shards were given them */
	size_t n_opt_paths;
	char *bpf, *relays_path_rec, *relays_digest;
	struct tt_relays *relays;
	struct tt_aggregator agg;
	struct tt_config cfg;
	bool is_hashed;
};

/* Check that the parts are the N shards of one run: same N, each index once, equal
 * options and inputs. Orders m->parts by shard index. 0 or -EINVAL with a message. */
static int check_parts(struct merge *m)
{
	unsigned n = m->parts[0].count;
	struct part *byidx;
	char key[64];

	for (size_t i = 0; i < m->n_parts; i++) {
		const struct part *p = &m->parts[i];
		const char *what;

		if (p->count != n) {
			tt_log(TT_LOG_ERROR,
			    "%s is shard %u/%u, but %s is shard %u/%u: parts of "
			    "different runs",
			    p->dir, p->index, p->count, m->parts[0].dir, m->parts[0].index, n);
			return -EINVAL;
		}
		if ((what = options_differ(m->parts[0].options, p->options, key, sizeof(key)))) {
			tt_log(TT_LOG_ERROR,
			    "%s was made with other options than %s (%s differs): parts of "
			    "different runs",
			    p->dir, m->parts[0].dir, what);
			return -EINVAL;
		}
		if (!msgpack_object_equal(*m->parts[0].inputs, *p->inputs)) {
			tt_log(TT_LOG_ERROR,
			    "%s read other inputs than %s (the files or their sizes differ): parts "
			    "of different runs, or the inputs changed between them",
			    p->dir, m->parts[0].dir);
			return -EINVAL;
		}
	}
	byidx = calloc(n, sizeof(*byidx));
	if (!byidx)
		return -ENOMEM;
	for (size_t i = 0; i < m->n_parts; i++) {
		struct part *p = &m->parts[i];

		if (byidx[p->index].dir) {
			tt_log(TT_LOG_ERROR, "duplicate shard %u/%u: %s and %s", p->index, n,
			    byidx[p->index].dir, p->dir);
			free(byidx);
			return -EINVAL;
		}
		byidx[p->index] = *p;
	}
	for (unsigned i = 0; i < n; i++)
		if (!byidx[i].dir) {
			tt_log(TT_LOG_ERROR, "missing shard %u/%u: the merge needs all %u parts", i,
			    n, n);
			free(byidx);
			return -EINVAL;
		}
	free(m->parts); /* its unpacked data moved to byidx */
	m->parts = byidx;
	m->n_parts = n;
	return 0;
}

/* The inputs and options of part 0 into m; the per-file results of every part into
 * m->files, each file from the one part that read it. 0 or -EINVAL / -ENOMEM. */
static int take_files(struct merge *m)
{
	const msgpack_object *in = m->parts[0].inputs, *o = m->parts[0].options, *v;
	size_t *owner;
	bool is_ok = true;

	m->n_files = in->via.array.size;
	m->paths = calloc(m->n_files + 1, sizeof(*m->paths));
	m->files = calloc(m->n_files + 1, sizeof(*m->files));
	owner = calloc(m->n_files + 1, sizeof(*owner));
	if (!m->paths || !m->files || !owner) {
		free(owner);
		return -ENOMEM;
	}
	for (size_t i = 0; i < m->n_files; i++) {
		const msgpack_object *e = &in->via.array.ptr[i];

		if (e->type != MSGPACK_OBJECT_ARRAY || e->via.array.size != 2 ||
		    !(m->paths[i] = dup_str(&e->via.array.ptr[0], &is_ok))) {
			tt_log(TT_LOG_ERROR, "%s: damaged partial result (input %zu)",
			    m->parts[0].dir, i);
			free(owner);
			return -EBADMSG;
		}
		owner[i] = SIZE_MAX;
	}
	for (size_t k = 0; k < m->n_parts; k++) {
		const msgpack_object *fl = m->parts[k].files;

		for (uint32_t j = 0; j < fl->via.array.size; j++) {
			const msgpack_object *e = &fl->via.array.ptr[j], *raw;
			uint64_t id;
			struct tt_file_stats *fs;

			if (e->type != MSGPACK_OBJECT_ARRAY || e->via.array.size != 3 ||
			    (id = get_u64(&e->via.array.ptr[0])) >= m->n_files ||
			    (raw = &e->via.array.ptr[1])->type != MSGPACK_OBJECT_BIN ||
			    raw->via.bin.size != sizeof(struct tt_file_stats)) {
				tt_log(TT_LOG_ERROR, "%s: damaged partial result (file entry %u)",
				    m->parts[k].dir, j);
				free(owner);
				return -EBADMSG;
			}
			if (owner[id] != SIZE_MAX) {
				tt_log(TT_LOG_ERROR,
				    "file %" PRIu64 " (%s) was read by both %s and %s: the parts "
				    "do not divide the inputs",
				    id, m->paths[id], m->parts[owner[id]].dir, m->parts[k].dir);
				free(owner);
				return -EINVAL;
			}
			owner[id] = k;
			fs = &m->files[id];
			memcpy(fs, raw->via.bin.ptr, sizeof(*fs));
			fs->path = NULL;
			fs->error = dup_str(&e->via.array.ptr[2], &is_ok);
		}
	}
	for (size_t i = 0; i < m->n_files; i++) {
		m->files[i].path = strdup(m->paths[i]);
		if (!m->files[i].path)
			is_ok = false;
		if (owner[i] == SIZE_MAX) {
			tt_log(TT_LOG_ERROR,
			    "file %zu (%s) was read by no shard: the inputs changed between the "
			    "shards' runs (a file's first packets decide which shard reads it)",
			    i, m->paths[i]);
			free(owner);
			return -EINVAL;
		}
	}
	free(owner);
	v = get(o, "paths");
	if (!v || v->type != MSGPACK_OBJECT_ARRAY)
		return -EBADMSG;
	m->n_opt_paths = v->via.array.size;
	m->opt_paths = calloc(m->n_opt_paths + 1, sizeof(*m->opt_paths));
	if (!m->opt_paths)
		return -ENOMEM;
	for (size_t i = 0; i < m->n_opt_paths; i++)
		m->opt_paths[i] = dup_str(&v->via.array.ptr[i], &is_ok);
	m->bpf = dup_str(get(o, "filter"), &is_ok);
	m->relays_path_rec = dup_str(get(o, "relays_path"), &is_ok);
	m->relays_digest = dup_str(get(o, "relays_digest"), &is_ok);
	tt_config_defaults(&m->cfg);
	m->cfg.paths = (const char *const *)m->opt_paths;
	m->cfg.n_paths = m->n_opt_paths;
	m->cfg.bpf = m->bpf;
	m->cfg.tcp_timeout_ns = get_u64(get(o, "tcp_timeout_ns"));
	m->cfg.udp_timeout_ns = get_u64(get(o, "udp_timeout_ns"));
	m->cfg.flow_memory_bytes = get_u64(get(o, "flow_memory_bytes"));
	v = get(o, "detection");
	m->cfg.is_no_detect = v && v->type == MSGPACK_OBJECT_BOOLEAN && !v->via.boolean;
	v = get(o, "chain");
	m->cfg.is_no_chain = v && v->type == MSGPACK_OBJECT_BOOLEAN && !v->via.boolean;
	v = get(o, "min_score");
	m->cfg.min_score = v && v->type == MSGPACK_OBJECT_FLOAT64 ? v->via.f64 : 0;
	m->cfg.evidence_off = (uint32_t)get_u64(get(o, "without_evidence"));
	m->cfg.relays_path = m->relays_path_rec;
	v = get(o, "sha256");
	m->is_hashed = v && v->type == MSGPACK_OBJECT_BOOLEAN && v->via.boolean;
	return is_ok ? 0 : -ENOMEM;
}

/* The relay data the shards used (path: given to the merge, else theirs), checked by its
 * digest. 0 or -EINVAL with a message. */
static int load_relays(struct merge *m, const char *path, const char *cache)
{
	const char *digest;
	int rc;

	if (!path)
		path = m->relays_path_rec;
	if (!path && !m->relays_digest)
		return 0;
	if (!path) {
		tt_log(TT_LOG_ERROR,
		    "the shards used relay data (digest %s), but no path is "
		    "recorded: give it with --relays",
		    m->relays_digest);
		return -EINVAL;
	}
	rc = tt_relays_open(path, cache, &m->relays);
	if (rc < 0) {
		tt_log(TT_LOG_ERROR, "cannot load relay data %s: %s", path, strerror(-rc));
		return -EINVAL;
	}
	if (tt_relays_is_empty(m->relays)) { /* as tt_analyze(): used: false */
		tt_relays_free(m->relays);
		m->relays = NULL;
	}
	digest = m->relays ? tt_relays_digest(m->relays) : NULL;
	if ((digest == NULL) != (m->relays_digest == NULL) ||
	    (digest && strcmp(digest, m->relays_digest) != 0)) {
		tt_log(TT_LOG_ERROR,
		    "relay data %s has digest %s, but the shards used %s: other relay data than "
		    "theirs",
		    path, digest ? digest : "(none)",
		    m->relays_digest ? m->relays_digest : "(none)");
		return -EINVAL;
	}
	return 0;
}

/* Copy part p's records (after its flows.msgpack header, which must be the merge's own:
 * header, header_len) to out, and count its flagged records into m->agg. The file must be
 * the one the shard wrote (size and XXH3 of partial.bin). 0, or -EBADMSG / -errno with a
 * message naming the file (and the byte offset of a bad record). */
static int copy_records(
    struct merge *m, const struct part *p, const char *header, size_t header_len, FILE *out)
{
	char *path = tt_lib_join(p->dir, "flows.msgpack");
	int fd, rc = 0;
	struct stat st;
	const uint8_t *base = NULL, *recs;
	size_t len = 0, n_recs;
	uint64_t n_tor = m->agg.n_tor, n_cand = m->agg.n_cand, digest;
	msgpack_unpacked u;

	if (!path)
		return -ENOMEM;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0) {
		rc = -errno;
		tt_log(TT_LOG_ERROR, "cannot read %s: %s", path, strerror(errno));
		goto out;
	}
	len = (size_t)st.st_size;
	if ((uint64_t)len != p->flows_bytes || len < header_len ||
	    (base = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0)) == MAP_FAILED) {
		base = NULL;
		rc = -EBADMSG;
		tt_log(TT_LOG_ERROR,
		    "%s: %zu bytes, but the shard wrote %" PRIu64 " (its partial.bin): changed or "
		    "damaged since",
		    path, len, p->flows_bytes);
		goto out;
	}
	madvise((void *)base, len, MADV_SEQUENTIAL);
	if ((digest = XXH3_64bits(base, len)) != p->flows_xxh3) {
		rc = -EBADMSG;
		tt_log(TT_LOG_ERROR,
		    "%s: XXH3 %016" PRIx64 ", but the shard wrote %016" PRIx64
		    " (its partial.bin): changed or damaged since",
		    path, digest, p->flows_xxh3);
		goto out;
	}
	if (memcmp(base, header, header_len) != 0) {
		rc = -EBADMSG;
		tt_log(TT_LOG_ERROR,
		    "%s: its header (at byte offset 0) is not that of this run's inputs", path);
		goto out;
	}
	recs = base + header_len;
	n_recs = len - header_len;
	msgpack_unpacked_init(&u);
	for (size_t k = 0; k < p->n_flagged; k++) {
		uint64_t at = p->flagged[2 * k], n = p->flagged[2 * k + 1];
		struct tt_flow_record rec;
		struct tt_flow_tls tls;
		struct tt_flow_relay relay;
		struct tt_rec_ref ref = {0};
		size_t off = 0;

		if (at > n_recs || n > n_recs - at ||
		    msgpack_unpack_next(&u, (const char *)recs + at, (size_t)n, &off) !=
			MSGPACK_UNPACK_SUCCESS ||
		    off != n || tt_record_unpack(&u.data, &rec, &tls, &relay) < 0 ||
		    (rec.verdict == TT_VERDICT_NONE && rec.candidate == TT_VERDICT_NONE)) {
			tt_log(TT_LOG_ERROR,
			    "%s: bad flagged flow record at byte offset %" PRIu64
			    " (entry %zu of its partial.bin)",
			    path, header_len + at, k);
			rc = -EBADMSG;
			break;
		}
		ref.data = recs + at;
		ref.len = (uint32_t)n;
		ref.proto = rec.proto;
		ref.verdict = rec.verdict & 15u;
		ref.candidate = rec.candidate & 15u;
		if ((rc = tt_aggregator_account(&m->agg, &ref)) < 0) {
			tt_log(TT_LOG_ERROR, "out of memory");
			break;
		}
	}
	msgpack_unpacked_destroy(&u);
	if (rc == 0 && (m->agg.n_tor - n_tor != p->n_tor || m->agg.n_cand - n_cand != p->n_cand)) {
		tt_log(TT_LOG_ERROR,
		    "%s: its flagged records hold %" PRIu64 " Tor flows and %" PRIu64
		    " candidates, its partial.bin says %" PRIu64 " and %" PRIu64,
		    path, m->agg.n_tor - n_tor, m->agg.n_cand - n_cand, p->n_tor, p->n_cand);
		rc = -EBADMSG;
	}
	if (rc == 0 && fwrite(recs, 1, n_recs, out) != n_recs)
		rc = errno ? -errno : -EIO;
out:
	if (base)
		munmap((void *)base, len);
	if (fd >= 0)
		close(fd);
	free(path);
	return rc;
}

/* Write the outputs from the checked parts. An enum tt_status. */
static int merge_write(struct merge *m, const char *out_dir, bool is_no_html,
    const char *command_line, uint64_t t0, uint64_t started_unix_ns, struct tt_run_info *run_out)
{
	char *flows_tmp = tt_lib_join(out_dir, "flows.msgpack.tmp");
	char *flows_final = tt_lib_join(out_dir, "flows.msgpack");
	char *report_tmp = tt_lib_join(out_dir, "report.json.tmp");
	char *report_final = tt_lib_join(out_dir, "report.json");
	char *html_tmp = tt_lib_join(out_dir, "report.html.tmp");
	char *html_final = tt_lib_join(out_dir, "report.html");
	char *header = NULL;
	size_t header_len = 0;
	FILE *hf, *out = NULL;
	struct tt_run_info run = {0};
	bool has_failures = false;
	int rc = -ENOMEM, status = TT_STATUS_USAGE;

	if (!flows_tmp || !flows_final || !report_tmp || !report_final || !html_tmp || !html_final)
		goto out;
	hf = open_memstream(&header, &header_len);
	if (!hf)
		goto out;
	rc = tt_flows_write_header(hf, m->paths, m->n_files);
	if (fclose(hf) != 0 || rc < 0)
		goto out;
	if ((rc = tt_lib_mkdir_p(out_dir)) < 0) {
		tt_log(TT_LOG_ERROR, "cannot create %s: %s", out_dir, strerror(-rc));
		goto out;
	}
	out = fopen(flows_tmp, "wb");
	if (!out) {
		rc = -errno;
		tt_log(TT_LOG_ERROR, "cannot write %s: %s", flows_tmp, strerror(errno));
		goto out;
	}
	if (fwrite(header, 1, header_len, out) != header_len)
		rc = errno ? -errno : -EIO;
	for (size_t k = 0; rc == 0 && k < m->n_parts; k++)
		rc = copy_records(m, &m->parts[k], header, header_len, out);
	/* tt_aggregator_account() counted the flagged records only: the totals are the
	 * parts' own counts. */
	m->agg.n_flows = m->agg.n_flows_tcp = m->agg.n_flows_udp = 0;
	for (size_t k = 0; k < m->n_parts; k++) {
		m->agg.n_flows += m->parts[k].n_flows;
		m->agg.n_flows_tcp += m->parts[k].n_tcp;
		m->agg.n_flows_udp += m->parts[k].n_udp;
	}
	rc = tt_lib_finish_file(out, rc);
	out = NULL;
	if (rc < 0)
		goto out;
	run.started_unix_ns = started_unix_ns;
	run.is_complete = true;
	for (size_t k = 0; k < m->n_parts; k++)
		run.is_complete &= m->parts[k].is_complete;
	run.relays = m->relays;
	run.is_hashed = m->is_hashed;
	m->cfg.command_line = command_line;
	run.elapsed_ns = tt_now_ns() - t0;
	run.peak_rss_anon_bytes = tt_rss_anon_bytes();
	if (m->agg.findings && (rc = tt_findings_set_flows(m->agg.findings, flows_tmp)) < 0)
		goto out;
	hf = fopen(report_tmp, "w");
	if (!hf) {
		rc = -errno;
		goto out;
	}
	errno = 0;
	rc = tt_report_write(hf, &m->cfg, m->files, m->n_files, &m->agg, &run);
	if (rc < 0 && errno)
		rc = -errno;
	rc = tt_lib_finish_file(hf, rc);
	if (rc == 0 && !is_no_html)
		rc = tt_report_html_write(report_tmp, html_tmp);
	if (rc == 0)
		rc = tt_lib_commit_outputs(flows_tmp, flows_final, report_tmp, report_final,
		    is_no_html ? NULL : html_tmp, html_final);
	if (rc < 0)
		goto out;
	tt_lib_sync_dir(out_dir);
	for (size_t i = 0; i < m->n_files; i++)
		if (m->files[i].error || !m->files[i].is_read)
			has_failures = true;
	status = has_failures || !run.is_complete ? TT_STATUS_PARTIAL : TT_STATUS_OK;
	*run_out = run;
out:
	if (rc < 0) {
		if (rc != -EBADMSG && rc != -EINVAL)
			tt_log(TT_LOG_ERROR, "cannot write the merge into %s: %s", out_dir,
			    strerror(-rc));
		if (out)
			fclose(out);
		if (flows_tmp)
			unlink(flows_tmp);
		if (report_tmp)
			unlink(report_tmp);
		if (html_tmp)
			unlink(html_tmp);
	}
	free(header);
	free(flows_tmp);
	free(flows_final);
	free(report_tmp);
	free(report_final);
	free(html_tmp);
	free(html_final);
	return status;
}

int tt_merge(const char *const *parts, size_t n_parts, const char *out_dir, bool is_no_html,
    const char *relays_path, const char *relays_cache, const char *command_line)
{
	return tt_lib_merge(
	    parts, n_parts, out_dir, is_no_html, relays_path, relays_cache, command_line, NULL, 0);
}

int tt_lib_merge(const char *const *parts, size_t n_parts, const char *out_dir, bool is_no_html,
    const char *relays_path, const char *relays_cache, const char *command_line,
    const struct tt_config *run_cfg, uint64_t t0)
{
	struct merge m = {0};
	struct tt_run_info run = {0};
	struct timespec wall;
	int status = TT_STATUS_USAGE, rc = 0;

	clock_gettime(CLOCK_REALTIME, &wall);
	if (t0) /* the run began before the merge: report its start and its whole time */
		wall.tv_sec -= (time_t)((tt_now_ns() - t0) / 1000000000u);
	else
		t0 = tt_now_ns();
	if (n_parts == 0) {
		tt_log(TT_LOG_ERROR, "merge needs the folders of the shards");
		return TT_STATUS_USAGE;
	}
	m.parts = calloc(n_parts, sizeof(*m.parts));
	if (!m.parts)
		return TT_STATUS_USAGE;
	m.n_parts = n_parts;
	for (size_t i = 0; i < n_parts && rc == 0; i++)
		rc = part_load(&m.parts[i], parts[i], TT_LOG_ERROR);
	if (rc == 0)
		rc = check_parts(&m);
	if (rc == 0)
		rc = take_files(&m);
	if (rc == 0)
		rc = load_relays(&m, relays_path, relays_cache);
	if (rc == 0 && !m.cfg.is_no_detect &&
	    !(m.agg.findings = tt_findings_new(m.relays, m.n_files)))
		rc = -ENOMEM;
	if (rc == -ENOMEM)
		tt_log(TT_LOG_ERROR, "out of memory");
	m.agg.cfg = &m.cfg;
	m.agg.files = m.files;
	m.agg.n_files = m.n_files;
	if (rc == 0)
		status = merge_write(&m, out_dir, is_no_html, command_line, t0,
		    (uint64_t)wall.tv_sec * 1000000000u + (uint64_t)wall.tv_nsec, &run);
	if (status != TT_STATUS_USAGE && run_cfg && run_cfg->history_path)
		tt_lib_record_history(
		    run_cfg, m.relays, m.files, m.n_files, &m.agg, &run, status, false);
	if (status != TT_STATUS_USAGE && run_cfg && m.agg.findings &&
	    (run_cfg->on_host || run_cfg->on_relay) &&
	    tt_findings_each(
		m.agg.findings, run_cfg->on_host, run_cfg->on_relay, run_cfg->findings_ctx) < 0)
		tt_log(TT_LOG_ERROR, "out of memory: the findings were not all passed on");
	if (status != TT_STATUS_USAGE)
		tt_log(TT_LOG_INFO, "merged %zu parts: %zu files, %" PRIu64 " flows into %s",
		    m.n_parts, m.n_files, m.agg.n_flows, out_dir);
	for (size_t i = 0; i < m.n_parts; i++)
		part_free(&m.parts[i]);
	free(m.parts);
	for (size_t i = 0; m.files && i < m.n_files; i++) {
		free(m.files[i].path);
		free(m.files[i].error);
	}
	free(m.files);
	for (size_t i = 0; m.paths && i < m.n_files; i++)
		free(m.paths[i]);
	free(m.paths);
	for (size_t i = 0; m.opt_paths && i < m.n_opt_paths; i++)
		free(m.opt_paths[i]);
	free(m.opt_paths);
	free(m.bpf);
	free(m.relays_path_rec);
	free(m.relays_digest);
	free(m.agg.tor_buf);
	free(m.agg.cand_buf);
	tt_findings_free(m.agg.findings);
	tt_relays_free(m.relays);
	return status;
}
