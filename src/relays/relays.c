/* The relay index: walking inputs, merging listings into validity intervals, the flat
 * image that is both the in-memory index and the cache file, and lookups.
 *
 * The image is one block: a header, then arrays of fixed-size records (files, relays,
 * intervals sorted by address, an open-addressing hash of addresses, string offsets)
 * and a string pool. A build assembles it on the heap; a cache load maps the file
 * read-only. Both go through attach(), which validates every offset and index, so a
 * lookup never needs a bounds check and a corrupt cache is refused rather than read. */
#include "relays.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <xxhash.h>

#include "core.h"

#define IMG_MAGIC           "TTRELAYS"
#define IMG_VERSION         2u
#define IMG_ENDIAN          0x01020304u
#define MAX_ERRORS_KEPT     10000
#define MAX_LOGGED_PER_FILE 3
#define MAX_DEPTH           64
#define HEAD_BYTES          4096
#define MAX_MEMBER_BYTES    (1ull << 30) /* one archive member (a consensus is ~3 MB) */
#define PROBE_MEMBERS       256          /* pass 1 looks this far into an archive ... */
#define PROBE_BYTES         (64u << 20)  /* ... and no further (decompressed bytes) */

/* ---- image records (cache file layout; change IMG_VERSION with any of them) ---------- */

/* One document: a plain file, a single compressed file, or one member of an archive. */
struct file_rec {
	uint64_t size_bytes, mtime_ns; /* the document's (a member's: from its tar header) */
	uint64_t va_ns, fu_ns, vu_ns;
	uint64_t n_routers, n_entries, n_bad_lines;
	uint8_t digest[16]; /* XXH128 canonical (big-endian) form, of the document's bytes */
	uint32_t path_off;  /* into the string pool: "PATH", or "ARCHIVE:MEMBER" */
	uint32_t src;       /* the source file it came from (src_rec) */
	uint32_t member;    /* ordinal among the archive's regular members; 0 for a file */
	uint8_t source;     /* enum tt_relays_source */
	uint8_t is_failed;
	uint8_t is_read;
	uint8_t pad;
};
_Static_assert(sizeof(struct file_rec) == 96, "file_rec layout");

/* How a source file holds its documents (detected from magic bytes, not the name). */
enum container {
	CONT_PLAIN = 0,  /* one document as it is */
	CONT_COMPRESSED, /* one document, compressed (.xz, .gz, .zst, .bz2) */
	CONT_ARCHIVE,    /* a tar archive, compressed or not: one document per member */
};

/* One regular file found under the paths: what the cache's freshness check compares. */
struct src_rec {
	uint64_t size_bytes, mtime_ns;
	uint32_t path_off;
	uint32_t n_skipped; /* archive members that are not relay documents */
	uint8_t container;  /* enum container */
	uint8_t pad[7];
};
_Static_assert(sizeof(struct src_rec) == 32, "src_rec layout");

struct relay_rec {
	uint8_t fp[20];
	char nickname[20];
};
_Static_assert(sizeof(struct relay_rec) == 40, "relay_rec layout");

struct ival_rec {
	uint8_t addr[16];
	uint64_t from_ns, to_ns;
	uint32_t relay; /* index into relays, or TT_RELAY_NONE */
	uint32_t flags;
	uint32_t first_doc, last_doc;
	uint16_t port;
	uint8_t ip_version;
	uint8_t kind;    /* enum tt_relay_addr_kind */
	uint8_t sources; /* 1 << enum tt_relays_source */
	uint8_t pad[3];
};
_Static_assert(sizeof(struct ival_rec) == 56, "ival_rec layout");

/* One address: the run ivals[first, first + count) shares it. count 0 = empty slot. */
struct slot_rec {
	uint32_t first, count;
};

enum {
	SECT_FILES = 0,
	SECT_SOURCES,
	SECT_RELAYS,
	SECT_IVALS,
	SECT_SLOTS,
	SECT_ROOTS,  /* uint32_t string offsets: the input paths (absolute) */
	SECT_ERRORS, /* uint32_t string offsets */
	SECT_STRINGS,
	SECT_COUNT,
};

static const size_t sect_elem[SECT_COUNT] = {
    sizeof(struct file_rec),
    sizeof(struct src_rec),
    sizeof(struct relay_rec),
    sizeof(struct ival_rec),
    sizeof(struct slot_rec),
    sizeof(uint32_t),
    sizeof(uint32_t),
    1,
};

struct img_hdr {
	char magic[8];
	uint32_t version, endian;
	uint32_t hdr_bytes, n_sections;
	uint64_t total_bytes;
	uint64_t checksum; /* XXH3-64 of the bytes after the header */
	uint64_t built_ns;
	uint64_t n_source_bytes;
	uint64_t earliest_ns, latest_ns;
	uint64_t n_errors_total;
	uint64_t n_addresses;
	uint8_t digest[16];
	struct {
		uint64_t off, count;
	} sect[SECT_COUNT];
};

struct tt_relays {
	uint8_t *img; /* heap block or read-only mapping */
	size_t img_len;
	bool is_mapped;
	bool is_from_cache;
	dev_t cache_dev; /* the cache file this came from (to leave it out of walks) */
	ino_t cache_ino;
	const struct img_hdr *hdr;
	const struct file_rec *files;
	const struct src_rec *srcs;
	const struct relay_rec *relays;
	const struct ival_rec *ivals;
	const struct slot_rec *slots;
	const uint32_t *roots, *errors;
	const char *strings;
	size_t n_files, n_srcs, n_relays, n_ivals, n_slots, n_roots, n_errors, n_strings;
	size_t max_probe; /* longest distance of an address from its home slot (attach) */
	char digest_hex[33];
};

/* ---- growable arrays and strings ------------------------------------------------------ */

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
	size_t c = *cap ? *cap : 64;
	void *np;

	if (need <= *cap)
		return 0;
	while (c < need)
		c *= 2;
	np = realloc(*p, c * elem);
	if (!np)
		return -ENOMEM;
	*p = np;
	*cap = c;
	return 0;
}

struct strpool {
	char *p;
	size_t n, cap;
};

/* Append s with its NUL; returns the offset, or UINT32_MAX on -ENOMEM / overflow. */
static uint32_t str_add(struct strpool *sp, const char *s)
{
	size_t len = strlen(s) + 1;
	uint32_t off = (uint32_t)sp->n;

	if (sp->n + len > UINT32_MAX || grow((void **)&sp->p, &sp->cap, sp->n + len, 1) < 0)
		return UINT32_MAX;
	memcpy(sp->p + sp->n, s, len);
	sp->n += len;
	return off;
}

static void hex_digest(const uint8_t d[16], char out[33])
{
	static const char hx[] = "0123456789abcdef";

	for (int i = 0; i < 16; i++) {
		out[2 * i] = hx[d[i] >> 4];
		out[2 * i + 1] = hx[d[i] & 15];
	}
	out[32] = '\0';
}

static uint64_t wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- walking inputs --------------------------------------------------------------------- */

struct walk_file {
	char *path;
	uint64_t size_bytes, mtime_ns;
};

struct walk {
	struct walk_file *f;
	size_t n, cap;
	dev_t skip_dev; /* a file to leave out (the cache), when skip_ino != 0 */
	ino_t skip_ino;
};

static void walk_free(struct walk *w)
{
	for (size_t i = 0; i < w->n; i++)
		free(w->f[i].path);
	free(w->f);
	memset(w, 0, sizeof(*w));
}

static int walk_add(struct walk *w, const char *path, const struct stat *st)
{
	char *p;

	if (w->skip_ino != 0 && st->st_dev == w->skip_dev && st->st_ino == w->skip_ino)
		return 0;
	if (grow((void **)&w->f, &w->cap, w->n + 1, sizeof(*w->f)) < 0)
		return -ENOMEM;
	p = strdup(path);
	if (!p)
		return -ENOMEM;
	w->f[w->n].path = p;
	w->f[w->n].size_bytes = (uint64_t)st->st_size;
	w->f[w->n].mtime_ns =
	    (uint64_t)st->st_mtim.tv_sec * 1000000000u + (uint64_t)st->st_mtim.tv_nsec;
	w->n++;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Folders are read in sorted order, so the walk (and the index) does not depend on the
 * order readdir() returns. Names starting with '.' are left out, and so are symlinks to
 * folders (no loops). Unreadable subfolders are logged and skipped. */
static int walk_dir(struct walk *w, const char *dir, int depth)
{
	DIR *d;
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;

	if (depth > MAX_DEPTH) {
		tt_log(TT_LOG_WARN, "%s: folders nested too deep, skipped", dir);
		return 0;
	}
	d = opendir(dir);
	if (!d) {
		tt_log(TT_LOG_WARN, "%s: %s, skipped", dir, strerror(errno));
		return 0;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (grow((void **)&names, &cap, n + 1, sizeof(*names)) < 0 ||
		    !(names[n] = strdup(de->d_name))) {
			rc = -ENOMEM;
			break;
		}
		n++;
	}
	closedir(d);
	if (rc == 0 && n > 1) /* qsort(NULL, 0) is undefined */
		qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 0; i < n && rc == 0; i++) {
		size_t len = strlen(dir) + strlen(names[i]) + 2;
		char *path = malloc(len);
		struct stat st;

		if (!path) {
			rc = -ENOMEM;
			break;
		}
		snprintf(
		    path, len, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", names[i]);
		if (lstat(path, &st) == 0) {
			if (S_ISDIR(st.st_mode))
				rc = walk_dir(w, path, depth + 1);
			else if ((S_ISLNK(st.st_mode) && stat(path, &st) == 0 &&
				     S_ISREG(st.st_mode)) ||
				 S_ISREG(st.st_mode))
				rc = walk_add(w, path, &st);
		}
		free(path);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

/* Walk each root (made absolute first); roots[i] receives the absolute path (malloc). */
static int walk_roots(struct walk *w, const char *const *paths, size_t n_paths, char **roots)
{
	for (size_t i = 0; i < n_paths; i++) {
		struct stat st;
		char *abs = realpath(paths[i], NULL);
		int rc;

		if (!abs || stat(abs, &st) < 0) {
			rc = -errno;
			free(abs);
			return rc;
		}
		roots[i] = abs;
		if (S_ISDIR(st.st_mode))
			rc = walk_dir(w, abs, 0);
		else if (S_ISREG(st.st_mode))
			rc = walk_add(w, abs, &st);
		else
			rc = -EINVAL;
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* ---- the builder ----------------------------------------------------------------------- */

struct builder {
	struct relay_rec *relays;
	size_t n_relays, cap_relays;
	uint64_t *relay_va; /* valid-after of the document that named each relay */
	size_t cap_relay_va;
	uint32_t *relay_ht; /* relay index + 1; 0 = empty */
	size_t relay_ht_mask;
	struct ival_rec *open; /* the current interval of each key */
	size_t n_open, cap_open;
	uint32_t *open_ht; /* open index + 1 */
	size_t open_ht_mask;
	struct ival_rec *closed;
	size_t n_closed, cap_closed;
	uint32_t *closed_key; /* the open slot of each closed interval's key */
	size_t cap_closed_key;
	size_t compact_at; /* merge the closed intervals when there are this many */
	struct file_rec *files;
	size_t n_files, cap_files;
	struct src_rec *srcs;
	size_t n_srcs;
	struct strpool strings;
	uint32_t *errors;
	size_t n_errors, cap_errors;
	uint64_t n_errors_total;
	/* the document being parsed */
	uint32_t doc;
	uint8_t doc_source;
	uint64_t doc_va; /* its valid-after (consensus), for the latest nickname */
	const char *doc_path;
	uint64_t doc_n_logged;
	uint8_t last_fp[20]; /* the relay of the previous entry */
	uint32_t last_relay;
	int rc; /* sticky -ENOMEM from a callback */
};

static uint64_t hash_bytes(const void *p, size_t n)
{
	return XXH3_64bits(p, n);
}

static int ht_init(uint32_t **ht, size_t *mask, size_t slots)
{
	*ht = calloc(slots, sizeof(**ht));
	if (!*ht)
		return -ENOMEM;
	*mask = slots - 1;
	return 0;
}

static int relay_intern(struct builder *b, const uint8_t fp[20], const char *nick, uint32_t *out)
{
	size_t h = (size_t)hash_bytes(fp, 20) & b->relay_ht_mask;

	for (;; h = (h + 1) & b->relay_ht_mask) {
		uint32_t v = b->relay_ht[h];

		if (v == 0)
			break;
		if (memcmp(b->relays[v - 1].fp, fp, 20) == 0) {
			/* The nickname of the latest document, whatever the order they come in
			 * (archive members need not be in time order). */
			if (nick[0] && b->doc_va >= b->relay_va[v - 1]) {
				memcpy(b->relays[v - 1].nickname, nick, 20);
				b->relay_va[v - 1] = b->doc_va;
			}
			*out = v - 1;
			return 0;
		}
	}
	if (grow((void **)&b->relays, &b->cap_relays, b->n_relays + 1, sizeof(*b->relays)) < 0 ||
	    grow((void **)&b->relay_va, &b->cap_relay_va, b->n_relays + 1, sizeof(*b->relay_va)) <
		0)
		return -ENOMEM;
	b->relay_va[b->n_relays] = b->doc_va;
	memcpy(b->relays[b->n_relays].fp, fp, 20);
	memcpy(b->relays[b->n_relays].nickname, nick, 20);
	b->relay_ht[h] = (uint32_t)++b->n_relays;
	*out = (uint32_t)(b->n_relays - 1);
	if (b->n_relays * 2 > b->relay_ht_mask) { /* keep the load under 1/2 */
		uint32_t *ht;
		size_t mask;

		if (ht_init(&ht, &mask, (b->relay_ht_mask + 1) * 2) < 0)
			return -ENOMEM;
		for (size_t i = 0; i < b->n_relays; i++) {
			size_t j = (size_t)hash_bytes(b->relays[i].fp, 20) & mask;

			while (ht[j])
				j = (j + 1) & mask;
			ht[j] = (uint32_t)i + 1;
		}
		free(b->relay_ht);
		b->relay_ht = ht;
		b->relay_ht_mask = mask;
	}
	return 0;
}

/* The merge key of an interval: relay, address, port and kind. */
struct ival_key {
	uint8_t addr[16];
	uint32_t relay;
	uint16_t port;
	uint8_t ip_version, kind;
};

static void key_of(const struct ival_rec *r, struct ival_key *k)
{
	memcpy(k->addr, r->addr, 16);
	k->relay = r->relay;
	k->port = r->port;
	k->ip_version = r->ip_version;
	k->kind = r->kind;
}

static bool same_key(const struct ival_rec *a, const struct ival_rec *b)
{
	return a->relay == b->relay && a->port == b->port && a->ip_version == b->ip_version &&
	       a->kind == b->kind && memcmp(a->addr, b->addr, 16) == 0;
}

static int open_rehash(struct builder *b)
{
	uint32_t *ht;
	size_t mask;

	if (ht_init(&ht, &mask, (b->open_ht_mask + 1) * 2) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < b->n_open; i++) {
		struct ival_key k;
		size_t j;

		key_of(&b->open[i], &k);
		j = (size_t)hash_bytes(&k, sizeof(k)) & mask;
		while (ht[j])
			j = (j + 1) & mask;
		ht[j] = (uint32_t)i + 1;
	}
	free(b->open_ht);
	b->open_ht = ht;
	b->open_ht_mask = mask;
	return 0;
}

static int cmp_ival(const void *pa, const void *pb);

/* Within one key: by time, then the documents (a fixed order for ties). */
static int cmp_ival_time(const void *pa, const void *pb)
{
	const struct ival_rec *a = pa, *b = pb;

	if (a->from_ns != b->from_ns)
		return a->from_ns < b->from_ns ? -1 : 1;
	if (a->to_ns != b->to_ns)
		return a->to_ns < b->to_ns ? -1 : 1;
	if (a->first_doc != b->first_doc)
		return a->first_doc < b->first_doc ? -1 : 1;
	return a->last_doc < b->last_doc ? -1 : a->last_doc > b->last_doc;
}

/* Group the closed intervals by key and join those of one key that overlap or touch. Each
 * closed interval carries the number of its key's open slot (closed_key), so grouping is
 * a counting sort (no comparisons; open slots are never removed before the end), and only
 * the few intervals of one key are sorted by time. The result is grouped by key, not in
 * address order: the build sorts the merged intervals once at the end. */
static int merge_closed(struct builder *b)
{
	size_t n = b->n_closed, n_keys = b->n_open, w = 0;
	struct ival_rec *t;
	uint32_t *tk;
	size_t *at;

	if (n == 0)
		return 0;
	t = malloc(n * sizeof(*t));
	tk = malloc(n * sizeof(*tk));
	at = calloc(n_keys + 1, sizeof(*at));
	if (!t || !tk || !at) {
		free(t);
		free(tk);
		free(at);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		at[b->closed_key[i] + 1]++;
	for (size_t k = 0; k < n_keys; k++)
		at[k + 1] += at[k];
	for (size_t i = 0; i < n; i++) {
		size_t j = at[b->closed_key[i]]++;

		t[j] = b->closed[i];
		tk[j] = b->closed_key[i];
	}
	for (size_t i = 0; i < n;) { /* each key's run, by time */
		size_t j = i + 1;

		while (j < n && tk[j] == tk[i])
			j++;
		if (j - i > 1)
			qsort(t + i, j - i, sizeof(*t), cmp_ival_time);
		i = j;
	}
	for (size_t i = 0; i < n; i++) {
		struct ival_rec *r = &t[i];

		if (w > 0 && b->closed_key[w - 1] == tk[i] &&
		    r->from_ns <= b->closed[w - 1].to_ns) {
			struct ival_rec *c = &b->closed[w - 1];

			if (r->to_ns > c->to_ns) {
				c->to_ns = r->to_ns;
				c->last_doc = r->last_doc;
			}
			c->flags |= r->flags;
			c->sources |= r->sources;
			continue;
		}
		b->closed[w] = *r;
		b->closed_key[w++] = tk[i];
	}
	b->n_closed = w;
	free(t);
	free(tk);
	free(at);
	return 0;
}

#define COMPACT_MIN (1u << 19) /* closed intervals (28 MiB) before the first merge */

/* Documents out of time order (archive members in the order tar stored them) close an
 * interval per listing and document; merging them whenever their number has doubled
 * keeps the memory near that of the merged result, in amortised linear time. key: the
 * number of the key's open slot. */
static int push_closed(struct builder *b, const struct ival_rec *r, uint32_t key)
{
	if (grow((void **)&b->closed, &b->cap_closed, b->n_closed + 1, sizeof(*b->closed)) < 0 ||
	    grow((void **)&b->closed_key, &b->cap_closed_key, b->n_closed + 1,
		sizeof(*b->closed_key)) < 0)
		return -ENOMEM;
	b->closed_key[b->n_closed] = key;
	b->closed[b->n_closed++] = *r;
	if (b->n_closed >= b->compact_at) {
		if (merge_closed(b) < 0)
			return -ENOMEM;
		b->compact_at = b->n_closed * 2 > COMPACT_MIN ? b->n_closed * 2 : COMPACT_MIN;
	}
	return 0;
}

/* Documents come in valid-after order, so the usual case is "the next hour of the same
 * listing": it extends the open interval. A gap closes it and opens a new one; a listing
 * that ends before the open interval starts (out of order input) is kept as its own
 * interval and merged by the final pass. */
static int add_interval(struct builder *b, const struct ival_rec *n)
{
	struct ival_key k;
	struct ival_rec *cur;
	size_t h;

	key_of(n, &k);
	h = (size_t)hash_bytes(&k, sizeof(k)) & b->open_ht_mask;
	for (;; h = (h + 1) & b->open_ht_mask) {
		uint32_t v = b->open_ht[h];

		if (v == 0)
			break;
		cur = &b->open[v - 1];
		if (!same_key(cur, n))
			continue;
		if (n->from_ns <= cur->to_ns && n->to_ns >= cur->from_ns) {
			if (n->from_ns < cur->from_ns) {
				cur->from_ns = n->from_ns;
				cur->first_doc = n->first_doc;
			}
			if (n->to_ns >= cur->to_ns) {
				cur->to_ns = n->to_ns;
				cur->last_doc = n->last_doc;
			}
			cur->flags |= n->flags;
			cur->sources |= n->sources;
			return 0;
		}
		if (n->from_ns > cur->to_ns) {
			if (push_closed(b, cur, v - 1) < 0)
				return -ENOMEM;
			*cur = *n;
			return 0;
		}
		return push_closed(b, n, v - 1);
	}
	if (grow((void **)&b->open, &b->cap_open, b->n_open + 1, sizeof(*b->open)) < 0)
		return -ENOMEM;
	b->open[b->n_open] = *n;
	b->open_ht[h] = (uint32_t)++b->n_open;
	if (b->n_open * 2 > b->open_ht_mask)
		return open_rehash(b);
	return 0;
}

static void on_entry(void *ctx, const struct tt_relays_entry *e)
{
	struct builder *b = ctx;
	struct ival_rec r;

	if (b->rc < 0)
		return;
	memset(&r, 0, sizeof(r));
	r.relay = TT_RELAY_NONE;
	/* A router's entries (ORPort, DirPort, a lines) come one after the other. */
	if (e->has_fp && b->last_relay != TT_RELAY_NONE && memcmp(b->last_fp, e->fp, 20) == 0) {
		r.relay = b->last_relay;
	} else if (e->has_fp) {
		if (relay_intern(b, e->fp, e->nickname, &r.relay) < 0) {
			b->rc = -ENOMEM;
			return;
		}
		memcpy(b->last_fp, e->fp, 20);
		b->last_relay = r.relay;
	}
	memcpy(r.addr, e->addr, 16);
	r.from_ns = e->from_ns;
	r.to_ns = e->to_ns;
	r.flags = e->flags;
	r.first_doc = r.last_doc = b->doc;
	r.port = e->port;
	r.ip_version = e->ip_version;
	r.kind = e->kind;
	r.sources = (uint8_t)(1u << b->doc_source);
	if (add_interval(b, &r) < 0)
		b->rc = -ENOMEM;
}

static void add_error(struct builder *b, const char *path, uint64_t line, const char *msg)
{
	char text[PATH_MAX + 256];
	uint32_t off;

	if (line)
		snprintf(text, sizeof(text), "%s:%llu: %s", path, (unsigned long long)line, msg);
	else
		snprintf(text, sizeof(text), "%s: %s", path, msg);
	b->n_errors_total++;
	if (b->doc_n_logged++ < MAX_LOGGED_PER_FILE)
		tt_log(TT_LOG_WARN, "%s", text);
	if (b->n_errors >= MAX_ERRORS_KEPT)
		return;
	off = str_add(&b->strings, text);
	if (off == UINT32_MAX ||
	    grow((void **)&b->errors, &b->cap_errors, b->n_errors + 1, sizeof(*b->errors)) < 0) {
		b->rc = -ENOMEM;
		return;
	}
	b->errors[b->n_errors++] = off;
}

static void on_error(void *ctx, uint64_t line, const char *msg)
{
	struct builder *b = ctx;

	add_error(b, b->doc_path, line, msg);
}

/* Open path for reading only if it is a regular file: -EINVAL for anything else. The walk
 * lists regular files only, but one can be replaced by a FIFO before it is read, and a
 * blocking open() of a FIFO waits for a writer forever; O_NONBLOCK makes that open return
 * at once (it does not change reads of a regular file), and fstat() then refuses it. */
static int open_regular(const char *path, struct stat *st)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY), rc;

	if (fd < 0)
		return -errno;
	if (fstat(fd, st) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	if (!S_ISREG(st->st_mode)) {
		close(fd);
		return S_ISDIR(st->st_mode) ? -EISDIR : -EINVAL;
	}
	return fd;
}

/* The message for a read_file() error (-EINVAL: not a regular file). */
static const char *read_error(ssize_t rc)
{
	return rc == -EINVAL ? "not a regular file" : strerror((int)-rc);
}

/* Read a whole file into *buf (grown as needed); returns its length or -errno. */
static ssize_t read_file(const char *path, char **buf, size_t *cap, size_t max)
{
	struct stat st;
	int fd = open_regular(path, &st);
	size_t n = 0;

	if (fd < 0)
		return fd;
	for (;;) {
		ssize_t got;

		if (n == max)
			break;
		if (n + 65536 > *cap) {
			size_t want = *cap ? *cap * 2 : 1u << 22;
			char *nb;

			while (want < n + 65536)
				want *= 2;
			nb = realloc(*buf, want);
			if (!nb) {
				close(fd);
				return -ENOMEM;
			}
			*buf = nb;
			*cap = want;
		}
		got = read(fd, *buf + n, (max - n) < (*cap - n) ? (max - n) : (*cap - n));
		if (got < 0) {
			int rc = -errno;

			if (rc == -EINTR)
				continue;
			close(fd);
			return rc;
		}
		if (got == 0)
			break;
		n += (size_t)got;
	}
	close(fd);
	return (ssize_t)n;
}

/* ---- sources: plain files, compressed files, archives ---------------------------------- */

/* What the first bytes of a file say about how it holds documents. Relay documents are
 * text, so none of these magic numbers can start one. */
static uint8_t sniff_container(const char *buf, size_t n)
{
	static const uint8_t xz[6] = {0xFD, '7', 'z', 'X', 'Z', 0x00};
	static const uint8_t zst[4] = {0x28, 0xB5, 0x2F, 0xFD};
	const uint8_t *p = (const uint8_t *)buf;

	if ((n >= 6 && memcmp(p, xz, 6) == 0) || (n >= 4 && memcmp(p, zst, 4) == 0) ||
	    (n >= 2 && p[0] == 0x1F && p[1] == 0x8B) ||
	    (n >= 4 && p[0] == 'B' && p[1] == 'Z' && p[2] == 'h' && p[3] >= '1' && p[3] <= '9'))
		return CONT_COMPRESSED; /* a tar inside is found when it is opened */
	if (n >= 262 && memcmp(p + 257, "ustar", 5) == 0)
		return CONT_ARCHIVE;
	return CONT_PLAIN;
}

/* An open archive (libarchive): tar, compressed or not, or one compressed document
 * (libarchive's "raw" format). Only the decompressors built into libarchive are enabled:
 * never an external program. One member's data is read at a time. */
struct arc {
	struct archive *a;
	int fd;
	bool is_raw; /* one compressed document, not a tar */
};

static void arc_close(struct arc *r)
{
	if (r->a)
		archive_read_free(r->a);
	if (r->fd >= 0)
		close(r->fd); /* archive_read_open_fd does not close it */
	r->a = NULL;
	r->fd = -1;
}

/* 0, or -errno with a message in why (static or r's error string, valid until close). */
static int arc_open(struct arc *r, const char *path, const char **why)
{
	struct stat st;

	memset(r, 0, sizeof(*r));
	r->fd = open_regular(path, &st);
	if (r->fd < 0) {
		int rc = r->fd;

		*why = read_error(rc);
		return rc;
	}
	r->a = archive_read_new();
	if (!r->a) {
		arc_close(r);
		*why = strerror(ENOMEM);
		return -ENOMEM;
	}
	archive_read_support_filter_bzip2(r->a);
	archive_read_support_filter_gzip(r->a);
	archive_read_support_filter_xz(r->a);
	archive_read_support_filter_zstd(r->a);
	archive_read_support_format_tar(r->a);
	archive_read_support_format_raw(r->a);
	if (archive_read_open_fd(r->a, r->fd, 1 << 16) != ARCHIVE_OK)
		return -EBADMSG; /* the caller reports it with arc_error() */
	return 0;
}

/* The next regular member: 1 and its name, 0 at the end, -EBADMSG when damaged. */
static int arc_next(struct arc *r, const char **name, struct archive_entry **out)
{
	for (;;) {
		struct archive_entry *e;
		int rc = archive_read_next_header(r->a, &e);

		if (rc == ARCHIVE_EOF)
			return 0;
		if (rc < ARCHIVE_WARN)
			return -EBADMSG;
		r->is_raw = archive_format(r->a) == ARCHIVE_FORMAT_RAW;
		if (!r->is_raw && archive_entry_filetype(e) != AE_IFREG)
			continue;
		*name = archive_entry_pathname(e) ? archive_entry_pathname(e) : "?";
		*out = e;
		return 1;
	}
}

/* Append the current member's data to (*buf)[*n..] until it ends or *n reaches max: 0 at
 * its end, 1 when stopped at max, -EBADMSG when damaged, -ENOMEM. */
static int arc_read(struct arc *r, char **buf, size_t *cap, size_t *n, size_t max)
{
	while (*n < max) {
		la_ssize_t got;

		if (*n + 65536 > *cap) {
			size_t want = *cap ? *cap * 2 : 1u << 22;
			char *nb;

			while (want < *n + 65536)
				want *= 2;
			nb = realloc(*buf, want);
			if (!nb)
				return -ENOMEM;
			*buf = nb;
			*cap = want;
		}
		got = archive_read_data(r->a, *buf + *n, (max - *n) < 65536 ? (max - *n) : 65536);
		if (got == 0)
			return 0;
		if (got < 0) {
			if (got == ARCHIVE_WARN || got == ARCHIVE_RETRY)
				continue;
			return -EBADMSG;
		}
		*n += (size_t)got;
	}
	return 1;
}

/* "NAME: damaged archive (libarchive's words) near byte N of the archive; ...". */
static void arc_error(
    struct builder *b, const char *doc_path, const struct arc *r, const char *what)
{
	char msg[512];
	const char *why = archive_error_string(r->a);
	int64_t at = archive_filter_bytes(r->a, -1);
	int n = snprintf(msg, sizeof(msg), "%s (%s)", what, why ? why : "no detail");

	if (at > 0 && n > 0 && (size_t)n < sizeof(msg))
		snprintf(msg + n, sizeof(msg) - (size_t)n, " near byte %lld of the archive",
		    (long long)at);
	n = (int)strlen(msg);
	snprintf(msg + n, sizeof(msg) - (size_t)n, "; the rest of it is not read");
	add_error(b, doc_path, 0, msg);
}

/* A new document record (zeroed); its index, or -ENOMEM. */
static int new_doc(
    struct builder *b, uint32_t src, uint32_t member, const char *path, uint32_t *out)
{
	struct file_rec *f;
	uint32_t off = str_add(&b->strings, path);

	if (off == UINT32_MAX ||
	    grow((void **)&b->files, &b->cap_files, b->n_files + 1, sizeof(*b->files)) < 0)
		return -ENOMEM;
	f = &b->files[b->n_files];
	memset(f, 0, sizeof(*f));
	f->path_off = off;
	f->src = src;
	f->member = member;
	*out = (uint32_t)b->n_files++;
	return 0;
}

/* A document that could not be read: its record, failed, and the error. */
static int failed_doc(
    struct builder *b, uint32_t src, uint32_t member, const char *path, const char *msg)
{
	uint32_t d;

	if (new_doc(b, src, member, path, &d) < 0)
		return -ENOMEM;
	b->files[d].is_failed = 1;
	if (member == 0) { /* the whole file */
		b->files[d].size_bytes = b->srcs[src].size_bytes;
		b->files[d].mtime_ns = b->srcs[src].mtime_ns;
	}
	b->doc_n_logged = 0;
	if (msg)
		add_error(b, path, 0, msg);
	return b->rc;
}

/* Parse one whole document (buf[0..n)) into the index as document d. */
static int parse_doc(struct builder *b, uint32_t d, const char *path, const char *buf, size_t n,
    uint8_t source, uint64_t va_ns, uint64_t *n_source_bytes)
{
	struct tt_relays_parse_ops ops = {on_entry, on_error};
	struct file_rec *f = &b->files[d];
	struct tt_relays_doc_stats st;
	XXH128_canonical_t c;

	b->doc = d;
	b->doc_path = path;
	b->doc_n_logged = 0;
	b->doc_source = source;
	b->doc_va = va_ns;
	XXH128_canonicalFromHash(&c, XXH3_128bits(buf, n));
	memcpy(f->digest, c.digest, 16);
	f->is_read = 1;
	/* The callbacks add intervals and errors, never documents: f stays valid. */
	if (tt_relays_parse(buf, n, &ops, b, &st) < 0)
		f->is_failed = 1;
	else
		*n_source_bytes += (uint64_t)n;
	if (b->rc < 0)
		return b->rc;
	f->source = (uint8_t)st.source;
	f->va_ns = st.valid_after_ns;
	f->fu_ns = st.fresh_until_ns;
	f->vu_ns = st.valid_until_ns;
	f->n_routers = st.n_routers;
	f->n_entries = st.n_entries;
	f->n_bad_lines = st.n_bad_lines;
	if (b->doc_n_logged > MAX_LOGGED_PER_FILE)
		tt_log(TT_LOG_WARN, "%s: %llu more bad lines not shown", path,
		    (unsigned long long)(b->doc_n_logged - MAX_LOGGED_PER_FILE));
	return 0;
}

/* "ARCHIVE:MEMBER" (or ARCHIVE alone for one compressed document) into name. */
static void member_name(
    char *name, size_t len, const char *path, const struct arc *r, const char *member)
{
	if (r->is_raw)
		snprintf(name, len, "%s", path);
	else
		snprintf(name, len, "%s:%s", path, member);
}

/* Pass 1 for an archive: the kind and valid-after of its first relay document, found
 * within PROBE_MEMBERS members and PROBE_BYTES (so only the start is decompressed). 1 and
 * *head when found; 0 when the archive holds none (its members are counted as skipped,
 * and a non-relay compressed document gets its record); 2 when the probe gave up; <0 on
 * -ENOMEM. A damaged or unreadable archive is recorded as failed and returns 0. */
static int probe_archive(struct builder *b, uint32_t src, const char *path, char **buf, size_t *cap,
    struct tt_relays_doc_head *head)
{
	struct arc r;
	const char *why, *member = NULL;
	struct archive_entry *e;
	uint32_t n_members = 0, n_skipped = 0;
	char name[PATH_MAX + 256];
	bool is_in_member = false;
	int rc = arc_open(&r, path, &why);

	if (rc < 0) {
		rc = failed_doc(b, src, 0, path, rc == -EBADMSG ? NULL : why);
		if (rc == 0 && r.a)
			arc_error(b, path, &r, "damaged archive");
		arc_close(&r);
		return rc < 0 ? rc : 0;
	}
	snprintf(name, sizeof(name), "%s", path); /* where damage is reported */
	while ((rc = arc_next(&r, &member, &e)) == 1) {
		size_t n = 0;

		n_members++;
		b->srcs[src].container = r.is_raw ? CONT_COMPRESSED : CONT_ARCHIVE;
		member_name(name, sizeof(name), path, &r, member);
		is_in_member = true;
		rc = arc_read(&r, buf, cap, &n, HEAD_BYTES);
		if (rc < 0)
			break;
		is_in_member = false;
		tt_relays_detect(*buf, n, head);
		if (head->source != TT_RELAYS_SRC_NONE) {
			arc_close(&r);
			return 1;
		}
		tt_log(TT_LOG_DEBUG, "%s: skipped (%s)", name, head->why_none);
		n_skipped++;
		if (r.is_raw) { /* one compressed file that is not a relay document */
			uint32_t d;

			rc = new_doc(b, src, 0, path, &d);
			arc_close(&r);
			return rc;
		}
		if (n_members >= PROBE_MEMBERS ||
		    (uint64_t)archive_filter_bytes(r.a, 0) > PROBE_BYTES) {
			arc_close(&r);
			return 2;
		}
		snprintf(name, sizeof(name), "%s (after member %u)", path, n_members);
	}
	b->srcs[src].n_skipped = n_skipped;
	if (rc == -EBADMSG) {
		rc = failed_doc(b, src, n_members + 1, is_in_member ? name : path, NULL);
		if (rc == 0)
			arc_error(b, name, &r, "damaged archive");
	}
	arc_close(&r);
	return rc < 0 ? rc : 0;
}

/* Pass 2 for an archive: every member in archive order, one at a time (the buffer holds
 * one member). A member that is not a relay document is skipped and counted; damage ends
 * the archive with an error naming the member and the byte, and what came before stays. */
static int read_archive(struct builder *b, uint32_t src, const char *path, char **buf, size_t *cap,
    uint64_t *n_source_bytes)
{
	struct arc r;
	const char *why, *member;
	struct archive_entry *e;
	uint32_t n_members = 0;
	char name[PATH_MAX + 256];
	int rc = arc_open(&r, path, &why);

	if (rc < 0) {
		rc = failed_doc(b, src, 0, path, rc == -EBADMSG ? NULL : why);
		if (rc == 0 && r.a)
			arc_error(b, path, &r, "damaged archive");
		arc_close(&r);
		return rc;
	}
	b->srcs[src].n_skipped = 0;
	while ((rc = arc_next(&r, &member, &e)) == 1) {
		struct tt_relays_doc_head head;
		size_t n = 0;
		uint32_t d;

		n_members++;
		member_name(name, sizeof(name), path, &r, member);
		rc = arc_read(&r, buf, cap, &n, HEAD_BYTES);
		if (rc >= 0) {
			tt_relays_detect(*buf, n, &head);
			if (head.source == TT_RELAYS_SRC_NONE) {
				tt_log(TT_LOG_DEBUG, "%s: skipped (%s)", name, head.why_none);
				if (r.is_raw) {
					rc = new_doc(b, src, 0, name, &d);
					break;
				}
				b->srcs[src].n_skipped++;
				continue;
			}
			if (rc == 1)
				rc = arc_read(&r, buf, cap, &n, MAX_MEMBER_BYTES);
		}
		if (rc == -ENOMEM)
			break;
		if (rc < 0) {
			rc = failed_doc(b, src, n_members, name, NULL);
			if (rc == 0)
				arc_error(b, name, &r, "damaged archive");
			break;
		}
		if (rc == 1) {
			rc = failed_doc(
			    b, src, n_members, name, "member larger than 1 GiB, skipped");
			if (rc < 0)
				break;
			continue;
		}
		rc = new_doc(b, src, r.is_raw ? 0 : n_members, name, &d);
		if (rc < 0)
			break;
		b->files[d].size_bytes = n;
		b->files[d].mtime_ns = r.is_raw ? b->srcs[src].mtime_ns
						: (uint64_t)archive_entry_mtime(e) * 1000000000u +
						      (uint64_t)archive_entry_mtime_nsec(e);
		rc = parse_doc(
		    b, d, name, *buf, n, (uint8_t)head.source, head.valid_after_ns, n_source_bytes);
		if (rc < 0)
			break;
	}
	if (rc == -EBADMSG) { /* between members */
		if (n_members == 0)
			snprintf(name, sizeof(name), "%s", path);
		else
			snprintf(name, sizeof(name), "%s (after member %u)", path, n_members);
		rc = failed_doc(b, src, n_members + 1, path, NULL);
		if (rc == 0)
			arc_error(b, name, &r, "damaged archive");
	}
	arc_close(&r);
	return rc < 0 ? rc : 0;
}

/* The build reads consensus documents in valid-after order, then exit lists, then plain
 * lists (struct order). A plain file's place comes from its head (pass 1). An archive is
 * read in one pass, members in the order the archive stores them, at the place of its
 * first relay document: decompressing it twice (once for the heads, once to parse), or
 * holding its output, would cost more than the order is worth. CollecTor's monthly
 * tarballs do not overlap in time, so they come in order of each other. Members out of
 * order within an archive (GNU tar stores a folder's entries in readdir order unless told
 * --sort=name) or two archives of one month (ns and microdesc) are what add_interval()
 * tolerates: the listings merge into the same intervals, the nickname is the latest
 * document's, and only the order of the error list and which of two same-time documents
 * an interval names can differ from reading them unpacked. The cost: every out-of-order
 * listing is a closed interval until merge_closed() joins them (a week of hourly
 * consensuses in shuffled order: 1.7x the CPU of the same week in order; bench/RESULTS.md). */
struct order {
	uint64_t key; /* valid-after for consensus documents */
	uint32_t doc; /* plain file: its record; archive: UINT32_MAX */
	uint32_t src; /* the source file */
	uint8_t source;
};

static int cmp_order(const void *pa, const void *pb)
{
	const struct order *a = pa, *b = pb;
	/* Consensus documents first by valid-after, then exit lists, then plain lists. */
	int ra =
	    a->source == TT_RELAYS_SRC_NS || a->source == TT_RELAYS_SRC_MICRODESC ? 0 : a->source;
	int rb =
	    b->source == TT_RELAYS_SRC_NS || b->source == TT_RELAYS_SRC_MICRODESC ? 0 : b->source;

	if (ra != rb)
		return ra < rb ? -1 : 1;
	if (a->key != b->key)
		return a->key < b->key ? -1 : 1;
	return a->src < b->src ? -1 : a->src > b->src;
}

static int cmp_ival(const void *pa, const void *pb)
{
	const struct ival_rec *a = pa, *b = pb;
	int c;

	if (a->ip_version != b->ip_version)
		return a->ip_version < b->ip_version ? -1 : 1;
	c = memcmp(a->addr, b->addr, 16);
	if (c)
		return c;
	if (a->port != b->port)
		return a->port < b->port ? -1 : 1;
	if (a->kind != b->kind)
		return a->kind < b->kind ? -1 : 1;
	if (a->relay != b->relay)
		return a->relay < b->relay ? -1 : 1;
	if (a->from_ns != b->from_ns)
		return a->from_ns < b->from_ns ? -1 : 1;
	if (a->to_ns != b->to_ns)
		return a->to_ns < b->to_ns ? -1 : 1;
	/* Ties (the ns and microdesc flavours of one hour) in a fixed order, so that which
	 * document an interval names does not depend on qsort. */
	if (a->first_doc != b->first_doc)
		return a->first_doc < b->first_doc ? -1 : 1;
	return a->last_doc < b->last_doc ? -1 : a->last_doc > b->last_doc;
}

static int cmp_digest(const void *a, const void *b)
{
	return memcmp(a, b, 16);
}

static uint64_t slot_hash(const uint8_t addr[16], uint8_t ver)
{
	uint8_t k[17];

	memcpy(k, addr, 16);
	k[16] = ver;
	return hash_bytes(k, sizeof(k));
}

static int attach(struct tt_relays *idx, uint8_t *img, size_t len);

/* Lay out the image: header, then each section 8-byte aligned. */
static int assemble(struct builder *b, char **roots, size_t n_roots, uint64_t n_source_bytes,
    struct tt_relays **out)
{
	struct img_hdr h;
	struct slot_rec *slots = NULL;
	uint32_t *root_offs = NULL;
	size_t n_addr = 0, n_slots = 16, at;
	const void *src[SECT_COUNT];
	uint8_t *img;
	uint8_t *digests = NULL;
	size_t n_dig = 0;
	struct tt_relays *idx;
	int rc = -ENOMEM;

	memset(&h, 0, sizeof(h));
	/* Addresses: runs of equal (version, address) in the sorted intervals. */
	for (size_t i = 0; i < b->n_closed; i++)
		if (i == 0 || b->closed[i].ip_version != b->closed[i - 1].ip_version ||
		    memcmp(b->closed[i].addr, b->closed[i - 1].addr, 16) != 0)
			n_addr++;
	while (n_slots < n_addr * 2)
		n_slots *= 2;
	slots = calloc(n_slots, sizeof(*slots));
	root_offs = calloc(n_roots ? n_roots : 1, sizeof(*root_offs));
	digests = malloc(b->n_files ? b->n_files * 16 : 1);
	if (!slots || !root_offs || !digests)
		goto out;
	for (size_t i = 0; i < b->n_closed;) {
		size_t j = i + 1, s;

		while (j < b->n_closed && b->closed[j].ip_version == b->closed[i].ip_version &&
		       memcmp(b->closed[j].addr, b->closed[i].addr, 16) == 0)
			j++;
		s = (size_t)slot_hash(b->closed[i].addr, b->closed[i].ip_version) & (n_slots - 1);
		while (slots[s].count)
			s = (s + 1) & (n_slots - 1);
		slots[s].first = (uint32_t)i;
		slots[s].count = (uint32_t)(j - i);
		i = j;
	}
	for (size_t i = 0; i < n_roots; i++) {
		root_offs[i] = str_add(&b->strings, roots[i]);
		if (root_offs[i] == UINT32_MAX)
			goto out;
	}
	if (str_add(&b->strings, "") == UINT32_MAX) /* the pool is never empty */
		goto out;
	/* The combined digest: over the sorted per-document digests. */
	for (size_t i = 0; i < b->n_files; i++)
		if (b->files[i].is_read && !b->files[i].is_failed)
			memcpy(digests + 16 * n_dig++, b->files[i].digest, 16);
	if (n_dig > 1)
		qsort(digests, n_dig, 16, cmp_digest);
	{
		XXH128_canonical_t c;

		XXH128_canonicalFromHash(&c, XXH3_128bits(digests, n_dig * 16));
		memcpy(h.digest, c.digest, 16);
	}
	h.earliest_ns = UINT64_MAX;
	for (size_t i = 0; i < b->n_files; i++) {
		const struct file_rec *f = &b->files[i];

		if (!f->is_read || f->is_failed || f->source == TT_RELAYS_SRC_IPLIST ||
		    f->va_ns == 0)
			continue;
		if (f->va_ns < h.earliest_ns)
			h.earliest_ns = f->va_ns;
		if (f->vu_ns > h.latest_ns)
			h.latest_ns = f->vu_ns;
	}
	if (h.earliest_ns == UINT64_MAX)
		h.earliest_ns = 0;

	memcpy(h.magic, IMG_MAGIC, 8);
	h.version = IMG_VERSION;
	h.endian = IMG_ENDIAN;
	h.hdr_bytes = sizeof(h);
	h.n_sections = SECT_COUNT;
	h.built_ns = wall_ns();
	h.n_source_bytes = n_source_bytes;
	h.n_errors_total = b->n_errors_total;
	h.n_addresses = n_addr;
	h.sect[SECT_FILES].count = b->n_files;
	h.sect[SECT_SOURCES].count = b->n_srcs;
	h.sect[SECT_RELAYS].count = b->n_relays;
	h.sect[SECT_IVALS].count = b->n_closed;
	h.sect[SECT_SLOTS].count = n_slots;
	h.sect[SECT_ROOTS].count = n_roots;
	h.sect[SECT_ERRORS].count = b->n_errors;
	h.sect[SECT_STRINGS].count = b->strings.n;
	src[SECT_FILES] = b->files;
	src[SECT_SOURCES] = b->srcs;
	src[SECT_RELAYS] = b->relays;
	src[SECT_IVALS] = b->closed;
	src[SECT_SLOTS] = slots;
	src[SECT_ROOTS] = root_offs;
	src[SECT_ERRORS] = b->errors;
	src[SECT_STRINGS] = b->strings.p;
	at = sizeof(h);
	for (int s = 0; s < SECT_COUNT; s++) {
		at = (at + 7) & ~(size_t)7;
		h.sect[s].off = at;
		at += h.sect[s].count * sect_elem[s];
	}
	h.total_bytes = (at + 7) & ~(size_t)7;
	img = calloc(1, h.total_bytes);
	if (!img)
		goto out;
	for (int s = 0; s < SECT_COUNT; s++)
		if (h.sect[s].count)
			memcpy(img + h.sect[s].off, src[s], h.sect[s].count * sect_elem[s]);
	h.checksum = XXH3_64bits(img + sizeof(h), h.total_bytes - sizeof(h));
	memcpy(img, &h, sizeof(h));
	idx = calloc(1, sizeof(*idx));
	if (!idx) {
		free(img);
		goto out;
	}
	rc = attach(idx, img, h.total_bytes);
	if (rc < 0) { /* a bug: the builder made an image its own checks refuse */
		tt_log(TT_LOG_ERROR, "relays: built index fails validation (%d)", rc);
		free(img);
		free(idx);
		goto out;
	}
	*out = idx;
out:
	free(slots);
	free(root_offs);
	free(digests);
	return rc;
}

static void builder_free(struct builder *b)
{
	free(b->relays);
	free(b->relay_va);
	free(b->srcs);
	free(b->relay_ht);
	free(b->open);
	free(b->open_ht);
	free(b->closed);
	free(b->closed_key);
	free(b->files);
	free(b->strings.p);
	free(b->errors);
}

/* Merge the intervals closed during the build with the open ones: group by key, sort by
 * time, and join those of one key that overlap or touch (merge_closed). */
static int finish_intervals(struct builder *b)
{
	int rc;

	b->compact_at = SIZE_MAX; /* one merge, at the end */
	for (size_t i = 0; i < b->n_open; i++)
		if (push_closed(b, &b->open[i], (uint32_t)i) < 0)
			return -ENOMEM;
	rc = merge_closed(b); /* needs n_open: the number of keys */
	b->n_open = 0;
	return rc;
}

struct doc_pos {
	uint32_t src, member, old;
};

static int cmp_doc_pos(const void *pa, const void *pb)
{
	const struct doc_pos *a = pa, *b = pb;

	if (a->src != b->src)
		return a->src < b->src ? -1 : 1;
	return a->member < b->member ? -1 : a->member > b->member;
}

/* Number the documents in walk order, an archive's members in archive order (they were
 * recorded in the order they were parsed), and renumber the intervals to match. */
static int renumber_docs(struct builder *b)
{
	struct doc_pos *pos = malloc((b->n_files ? b->n_files : 1) * sizeof(*pos));
	struct file_rec *nf = malloc((b->n_files ? b->n_files : 1) * sizeof(*nf));
	uint32_t *to = malloc((b->n_files ? b->n_files : 1) * sizeof(*to));

	if (!pos || !nf || !to) {
		free(pos);
		free(nf);
		free(to);
		return -ENOMEM;
	}
	for (size_t i = 0; i < b->n_files; i++)
		pos[i] = (struct doc_pos){b->files[i].src, b->files[i].member, (uint32_t)i};
	if (b->n_files > 1)
		qsort(pos, b->n_files, sizeof(*pos), cmp_doc_pos);
	for (size_t i = 0; i < b->n_files; i++) {
		to[pos[i].old] = (uint32_t)i;
		nf[i] = b->files[pos[i].old];
	}
	for (size_t i = 0; i < b->n_open; i++) {
		b->open[i].first_doc = to[b->open[i].first_doc];
		b->open[i].last_doc = to[b->open[i].last_doc];
	}
	for (size_t i = 0; i < b->n_closed; i++) {
		b->closed[i].first_doc = to[b->closed[i].first_doc];
		b->closed[i].last_doc = to[b->closed[i].last_doc];
	}
	free(b->files);
	b->files = nf;
	b->cap_files = b->n_files;
	free(pos);
	free(to);
	return 0;
}

static int cmp_relay_pos(const void *pa, const void *pb)
{
	const struct relay_rec *a = pa, *b = pb;

	return memcmp(a->fp, b->fp, 20);
}

/* Number the relays in fingerprint order, whatever order the documents came in (an
 * archive's members are read in archive order): the same documents give the same
 * numbers, packed or not. The relay hash table is not used after this. */
static int renumber_relays(struct builder *b)
{
	struct pos {
		struct relay_rec r;
		uint32_t old;
	} *pos = malloc((b->n_relays ? b->n_relays : 1) * sizeof(*pos));
	uint32_t *to = malloc((b->n_relays ? b->n_relays : 1) * sizeof(*to));

	if (!pos || !to) {
		free(pos);
		free(to);
		return -ENOMEM;
	}
	for (size_t i = 0; i < b->n_relays; i++) {
		pos[i].r = b->relays[i];
		pos[i].old = (uint32_t)i;
	}
	if (b->n_relays > 1) /* fingerprints are unique: the order is total */
		qsort(pos, b->n_relays, sizeof(*pos), cmp_relay_pos);
	for (size_t i = 0; i < b->n_relays; i++) {
		to[pos[i].old] = (uint32_t)i;
		b->relays[i] = pos[i].r;
	}
	for (size_t i = 0; i < b->n_open; i++)
		if (b->open[i].relay != TT_RELAY_NONE)
			b->open[i].relay = to[b->open[i].relay];
	for (size_t i = 0; i < b->n_closed; i++)
		if (b->closed[i].relay != TT_RELAY_NONE)
			b->closed[i].relay = to[b->closed[i].relay];
	free(pos);
	free(to);
	return 0;
}

static int build(const char *const *paths, size_t n_paths, dev_t skip_dev, ino_t skip_ino,
    struct tt_relays **out)
{
	struct builder b;
	struct walk w = {.skip_dev = skip_dev, .skip_ino = skip_ino};
	struct order *ord = NULL;
	char **roots = calloc(n_paths ? n_paths : 1, sizeof(char *));
	char *buf = NULL;
	size_t cap = 0, n_ord = 0;
	uint64_t n_source_bytes = 0;
	int rc;

	memset(&b, 0, sizeof(b));
	b.last_relay = TT_RELAY_NONE;
	b.compact_at = COMPACT_MIN;
	*out = NULL;
	if (!roots)
		return -ENOMEM;
	rc = walk_roots(&w, paths, n_paths, roots);
	if (rc < 0)
		goto out;
	rc = -ENOMEM;
	if (ht_init(&b.relay_ht, &b.relay_ht_mask, 1024) < 0 ||
	    ht_init(&b.open_ht, &b.open_ht_mask, 4096) < 0)
		goto out;
	b.srcs = calloc(w.n ? w.n : 1, sizeof(*b.srcs));
	ord = calloc(w.n ? w.n : 1, sizeof(*ord));
	if (!b.srcs || !ord)
		goto out;
	b.n_srcs = w.n;
	/* Pass 1: classify each file from its head, to read consensuses in time order. */
	for (size_t i = 0; i < w.n; i++) {
		struct src_rec *s = &b.srcs[i];
		struct tt_relays_doc_head head;
		const char *path = w.f[i].path;
		uint32_t d;
		ssize_t n;

		s->size_bytes = w.f[i].size_bytes;
		s->mtime_ns = w.f[i].mtime_ns;
		s->path_off = str_add(&b.strings, path);
		if (s->path_off == UINT32_MAX)
			goto out;
		n = read_file(path, &buf, &cap, HEAD_BYTES);
		if (n < 0) {
			if (failed_doc(&b, (uint32_t)i, 0, path, read_error(n)) < 0)
				goto out;
			continue;
		}
		s->container = sniff_container(buf, (size_t)n);
		if (s->container == CONT_PLAIN) {
			if (new_doc(&b, (uint32_t)i, 0, path, &d) < 0)
				goto out;
			b.files[d].size_bytes = s->size_bytes;
			b.files[d].mtime_ns = s->mtime_ns;
			tt_relays_detect(buf, (size_t)n, &head);
			b.files[d].source = (uint8_t)head.source;
			if (head.source == TT_RELAYS_SRC_NONE) {
				tt_log(TT_LOG_DEBUG, "%s: skipped (%s)", path, head.why_none);
				continue;
			}
			ord[n_ord].doc = d;
		} else {
			int got = probe_archive(&b, (uint32_t)i, path, &buf, &cap, &head);

			if (got < 0)
				goto out;
			if (got == 0) /* nothing to parse in it */
				continue;
			if (got == 2) { /* no relay document near the start: after the others */
				head.source = TT_RELAYS_SRC_NS;
				head.valid_after_ns = UINT64_MAX;
			}
			ord[n_ord].doc = UINT32_MAX;
		}
		ord[n_ord].key = head.valid_after_ns;
		ord[n_ord].src = (uint32_t)i;
		ord[n_ord].source = (uint8_t)head.source;
		n_ord++;
	}
	if (n_ord > 1)
		qsort(ord, n_ord, sizeof(*ord), cmp_order);
	/* Pass 2: parse in that order. */
	for (size_t k = 0; k < n_ord; k++) {
		const char *path = w.f[ord[k].src].path;
		uint32_t d = ord[k].doc;
		ssize_t n;

		if (d == UINT32_MAX) {
			rc = read_archive(&b, ord[k].src, path, &buf, &cap, &n_source_bytes);
			if (rc < 0)
				goto out;
			continue;
		}
		n = read_file(path, &buf, &cap, SIZE_MAX);
		if (n < 0) {
			b.doc_n_logged = 0;
			add_error(&b, path, 0, read_error(n));
			b.files[d].is_failed = 1;
			continue;
		}
		rc = parse_doc(
		    &b, d, path, buf, (size_t)n, ord[k].source, ord[k].key, &n_source_bytes);
		if (rc < 0)
			goto out;
	}
	if (b.rc < 0) {
		rc = b.rc;
		goto out;
	}
	/* Merge (grouped by key), renumber the merged intervals' documents and relays, and
	 * only then sort them in address order: relay and document numbers are sort keys. */
	rc = finish_intervals(&b);
	if (rc == 0)
		rc = renumber_docs(&b);
	if (rc == 0)
		rc = renumber_relays(&b);
	if (rc < 0)
		goto out;
	if (b.n_closed > 1)
		qsort(b.closed, b.n_closed, sizeof(*b.closed), cmp_ival);
	rc = assemble(&b, roots, n_paths, n_source_bytes, out);
out:
	free(buf);
	free(ord);
	for (size_t i = 0; i < n_paths; i++)
		free(roots[i]);
	free(roots);
	walk_free(&w);
	builder_free(&b);
	return rc;
}

int tt_relays_build(const char *const *paths, size_t n_paths, struct tt_relays **out)
{
	return build(paths, n_paths, 0, 0, out);
}

/* ---- attaching and validating an image ------------------------------------------------- */

static bool str_ok(const struct tt_relays *idx, uint32_t off)
{
	return off < idx->n_strings;
}

static bool same_addr(const struct ival_rec *a, const struct ival_rec *b)
{
	return a->ip_version == b->ip_version && memcmp(a->addr, b->addr, 16) == 0;
}

/* The address table, as tt_relays_lookup_range relies on it (and a tampered cache with a
 * recomputed checksum may break it: XXH3 is not a MAC):
 *   - the load is at most 1/2, so empty slots exist;
 *   - each occupied slot holds one whole run of intervals with one address (it starts and
 *     ends where the address changes), and every run has exactly one slot;
 *   - each address sits on its probe chain: every slot from its home slot to its own is
 *     occupied.
 * Sets idx->max_probe to the longest distance from a home slot, which bounds every probe
 * loop (a miss needs no more probes than that). n_runs: address runs in the intervals. */
static int check_slots(struct tt_relays *idx, size_t n_runs)
{
	size_t mask = idx->n_slots - 1, n_used = 0, start = 0, run = 0, max_probe = 0;
	uint8_t *seen;
	int rc = -EBADMSG;

	if (idx->n_slots / 2 < n_runs)
		return -EBADMSG;
	seen = calloc(idx->n_ivals / 8 + 1, 1); /* bit i: interval i starts a slot's run */
	if (!seen)
		return -ENOMEM;
	/* Start just after an empty slot, so that `run` counts the occupied slots that end
	 * at each slot without wrapping around. There is one: the load is at most 1/2. */
	while (start < idx->n_slots && idx->slots[start].count)
		start++;
	if (start == idx->n_slots)
		goto out;
	for (size_t k = 1; k <= idx->n_slots; k++) {
		size_t i = (start + k) & mask, home, dist;
		const struct slot_rec *sl = &idx->slots[i];
		const struct ival_rec *r;

		if (sl->count == 0) {
			run = 0;
			continue;
		}
		run++;
		if (sl->first >= idx->n_ivals || sl->count > idx->n_ivals - sl->first)
			goto out;
		r = &idx->ivals[sl->first];
		if ((sl->first > 0 && same_addr(r - 1, r)) || !same_addr(r, &r[sl->count - 1]) ||
		    (sl->first + sl->count < idx->n_ivals && same_addr(r, &r[sl->count])))
			goto out;
		if (seen[sl->first / 8] & (1u << (sl->first % 8)))
			goto out;
		seen[sl->first / 8] |= (uint8_t)(1u << (sl->first % 8));
		home = (size_t)slot_hash(r->addr, r->ip_version) & mask;
		dist = (i - home) & mask;
		if (dist >= run)
			goto out;
		if (dist > max_probe)
			max_probe = dist;
		n_used++;
	}
	if (n_used != n_runs || n_runs != idx->hdr->n_addresses)
		goto out;
	idx->max_probe = max_probe;
	rc = 0;
out:
	free(seen);
	return rc;
}

/* Validate an image and point idx into it. Every invariant a lookup or an accessor relies
 * on is checked here (offsets, indexes, string ends, sort order, the address table), so
 * that no byte pattern can make them read out of bounds or loop: -EBADMSG otherwise. */
static int attach(struct tt_relays *idx, uint8_t *img, size_t len)
{
	const struct img_hdr *h = (const void *)img;
	size_t n_runs = 0;
	int rc;

	if (len < sizeof(*h) || memcmp(h->magic, IMG_MAGIC, 8) != 0)
		return -EBADMSG;
	if (h->version != IMG_VERSION || h->endian != IMG_ENDIAN || h->hdr_bytes != sizeof(*h) ||
	    h->n_sections != SECT_COUNT || h->total_bytes != len)
		return -EBADMSG;
	if (XXH3_64bits(img + sizeof(*h), len - sizeof(*h)) != h->checksum)
		return -EBADMSG;
	for (int s = 0; s < SECT_COUNT; s++) {
		uint64_t off = h->sect[s].off, cnt = h->sect[s].count;

		if (off % 8 != 0 || off < sizeof(*h) || off > len ||
		    cnt > (len - off) / sect_elem[s])
			return -EBADMSG;
	}
	idx->img = img;
	idx->img_len = len;
	idx->hdr = h;
#define SECT(s) ((const void *)(img + h->sect[s].off))
	idx->files = SECT(SECT_FILES);
	idx->srcs = SECT(SECT_SOURCES);
	idx->relays = SECT(SECT_RELAYS);
	idx->ivals = SECT(SECT_IVALS);
	idx->slots = SECT(SECT_SLOTS);
	idx->roots = SECT(SECT_ROOTS);
	idx->errors = SECT(SECT_ERRORS);
	idx->strings = SECT(SECT_STRINGS);
#undef SECT
	idx->n_files = h->sect[SECT_FILES].count;
	idx->n_srcs = h->sect[SECT_SOURCES].count;
	idx->n_relays = h->sect[SECT_RELAYS].count;
	idx->n_ivals = h->sect[SECT_IVALS].count;
	idx->n_slots = h->sect[SECT_SLOTS].count;
	idx->n_roots = h->sect[SECT_ROOTS].count;
	idx->n_errors = h->sect[SECT_ERRORS].count;
	idx->n_strings = h->sect[SECT_STRINGS].count;
	/* Every string ends inside the pool: it is non-empty and ends with a NUL. */
	if (idx->n_strings == 0 || idx->strings[idx->n_strings - 1] != '\0')
		return -EBADMSG;
	if (idx->n_slots == 0 || (idx->n_slots & (idx->n_slots - 1)) != 0 ||
	    idx->n_ivals >= UINT32_MAX || idx->n_files >= UINT32_MAX)
		return -EBADMSG;
	for (size_t i = 0; i < idx->n_files; i++)
		if (!str_ok(idx, idx->files[i].path_off) ||
		    idx->files[i].source >= TT_RELAYS_SRC_COUNT || idx->files[i].src >= idx->n_srcs)
			return -EBADMSG;
	for (size_t i = 0; i < idx->n_srcs; i++)
		if (!str_ok(idx, idx->srcs[i].path_off) || idx->srcs[i].container > CONT_ARCHIVE)
			return -EBADMSG;
	for (size_t i = 0; i < idx->n_roots; i++)
		if (!str_ok(idx, idx->roots[i]))
			return -EBADMSG;
	for (size_t i = 0; i < idx->n_errors; i++)
		if (!str_ok(idx, idx->errors[i]))
			return -EBADMSG;
	for (size_t i = 0; i < idx->n_relays; i++)
		if (memchr(idx->relays[i].nickname, '\0', 20) == NULL)
			return -EBADMSG;
	for (size_t i = 0; i < idx->n_ivals; i++) {
		const struct ival_rec *r = &idx->ivals[i];

		static const uint8_t zero[12];

		if ((r->relay != TT_RELAY_NONE && r->relay >= idx->n_relays) ||
		    r->first_doc >= idx->n_files || r->last_doc >= idx->n_files ||
		    r->kind > TT_RELAY_ADDR_LISTED || (r->ip_version != 4 && r->ip_version != 6) ||
		    (r->ip_version == 4 && memcmp(r->addr + 4, zero, 12) != 0) ||
		    r->from_ns >= r->to_ns)
			return -EBADMSG;
		/* Sorted by address, so that each slot's run is contiguous. */
		if (i > 0 && cmp_ival(&idx->ivals[i - 1], r) > 0)
			return -EBADMSG;
		if (i == 0 || !same_addr(&idx->ivals[i - 1], r))
			n_runs++;
	}
	rc = check_slots(idx, n_runs);
	if (rc < 0)
		return rc;
	hex_digest(h->digest, idx->digest_hex);
	return 0;
}

void tt_relays_free(struct tt_relays *idx)
{
	if (!idx)
		return;
	if (idx->is_mapped)
		munmap(idx->img, idx->img_len);
	else
		free(idx->img);
	free(idx);
}

/* ---- cache file ---------------------------------------------------------------------- */

/* 0 when path is a regular file or does not exist; -EISDIR / -EINVAL when it is a
 * folder / anything else (a FIFO, a device, a socket), which the cache never replaces
 * or opens: opening a FIFO blocks until a writer comes. */
static int check_cache_path(const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (S_ISREG(st.st_mode))
		return 0;
	return S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
}

int tt_relays_save(const struct tt_relays *idx, const char *path)
{
	size_t len = strlen(path);
	char *tmp;
	const uint8_t *p = idx->img;
	size_t left = idx->img_len;
	int fd, rc = check_cache_path(path);

	if (rc < 0)
		return rc;
	tmp = malloc(len + 16);
	if (!tmp)
		return -ENOMEM;
	snprintf(tmp, len + 16, "%s.tmp.XXXXXX", path);
	fd = mkstemp(tmp);
	if (fd < 0) {
		rc = -errno;
		free(tmp);
		return rc;
	}
	while (left > 0) {
		ssize_t n = write(fd, p, left);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			break;
		}
		p += n;
		left -= (size_t)n;
	}
	if (rc == 0 && fchmod(fd, 0644) < 0)
		rc = -errno;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc < 0)
		unlink(tmp);
	free(tmp);
	return rc;
}

int tt_relays_load_mem(const void *buf, size_t len, struct tt_relays **out)
{
	struct tt_relays *idx;
	uint8_t *img;
	int rc;

	*out = NULL;
	if (len < sizeof(struct img_hdr))
		return -EBADMSG;
	img = malloc(len); /* aligned for the 8-byte fields, whatever buf's alignment */
	idx = calloc(1, sizeof(*idx));
	if (!img || !idx) {
		free(img);
		free(idx);
		return -ENOMEM;
	}
	memcpy(img, buf, len);
	rc = attach(idx, img, len);
	if (rc < 0) {
		free(img);
		free(idx);
		return rc;
	}
	idx->is_from_cache = true;
	*out = idx;
	return 0;
}

int tt_relays_load_cache(const char *path, struct tt_relays **out)
{
	int fd, rc;
	struct tt_relays *idx;
	struct stat st;
	void *map;

	*out = NULL;
	/* Refuse a FIFO or device before opening it, and open without blocking in case it
	 * was swapped in since: open_regular() checks the type again on the descriptor. */
	rc = check_cache_path(path);
	if (rc < 0)
		return rc;
	fd = open_regular(path, &st);
	if (fd < 0)
		return fd;
	if ((uint64_t)st.st_size < sizeof(struct img_hdr)) {
		rc = -EBADMSG;
		goto err_close;
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (map == MAP_FAILED) {
		rc = -errno;
		goto err_close;
	}
	close(fd); /* the mapping keeps the file alive */
	idx = calloc(1, sizeof(*idx));
	if (!idx) {
		rc = -ENOMEM;
		goto err_unmap;
	}
	rc = attach(idx, map, (size_t)st.st_size);
	if (rc < 0) {
		free(idx);
		goto err_unmap;
	}
	idx->is_mapped = true;
	idx->is_from_cache = true;
	idx->cache_dev = st.st_dev;
	idx->cache_ino = st.st_ino;
	*out = idx;
	return 0;
err_unmap:
	munmap(map, (size_t)st.st_size);
	return rc;
err_close:
	close(fd);
	return rc;
}

static int is_fresh(const struct tt_relays *idx, const char *const *paths, size_t n_paths,
    dev_t skip_dev, ino_t skip_ino)
{
	struct walk w = {.skip_dev = skip_dev, .skip_ino = skip_ino};
	char **roots = calloc(n_paths ? n_paths : 1, sizeof(char *));
	int rc;

	if (!roots)
		return -ENOMEM;
	rc = walk_roots(&w, paths, n_paths, roots);
	if (rc < 0)
		goto out;
	rc = 0;
	if (n_paths != idx->n_roots || w.n != idx->n_srcs)
		goto out;
	for (size_t i = 0; i < n_paths; i++)
		if (strcmp(roots[i], idx->strings + idx->roots[i]) != 0)
			goto out;
	for (size_t i = 0; i < w.n; i++) {
		const struct src_rec *f = &idx->srcs[i];

		if (f->size_bytes != w.f[i].size_bytes || f->mtime_ns != w.f[i].mtime_ns ||
		    strcmp(w.f[i].path, idx->strings + f->path_off) != 0)
			goto out;
	}
	rc = 1;
out:
	for (size_t i = 0; i < n_paths; i++)
		free(roots[i]);
	free(roots);
	walk_free(&w);
	return rc;
}

int tt_relays_is_fresh(const struct tt_relays *idx, const char *const *paths, size_t n_paths)
{
	return is_fresh(
	    idx, paths, n_paths, idx->cache_dev, idx->is_from_cache ? idx->cache_ino : 0);
}

/* The layout version a cache file's header names (0: not a cache file, or unreadable),
 * to tell a cache of another tortrace from a damaged one. */
static unsigned cache_layout(const char *path)
{
	struct img_hdr h;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	ssize_t n;

	if (fd < 0)
		return 0;
	n = read(fd, &h, sizeof(h));
	close(fd);
	if (n < (ssize_t)offsetof(struct img_hdr, endian) || memcmp(h.magic, IMG_MAGIC, 8) != 0)
		return 0;
	return h.version;
}

int tt_relays_open_paths(
    const char *const *paths, size_t n_paths, const char *cache_path, struct tt_relays **out)
{
	struct tt_relays *idx = NULL;
	struct stat st;
	dev_t dev = 0;
	ino_t ino = 0;
	unsigned v;
	int rc;

	*out = NULL;
	if (cache_path) {
		rc = check_cache_path(cache_path);
		if (rc < 0) {
			tt_log(TT_LOG_ERROR, "%s: the relay cache must be a regular file (%s)",
			    cache_path,
			    rc == -EISDIR ? "this is a folder"
					  : "this is a FIFO, device or socket");
			return rc;
		}
	}
	if (cache_path && stat(cache_path, &st) == 0) {
		dev = st.st_dev;
		ino = st.st_ino;
		rc = tt_relays_load_cache(cache_path, &idx);
		if (rc == 0) {
			rc = is_fresh(idx, paths, n_paths, dev, ino);
			if (rc == 1) {
				*out = idx;
				return 0;
			}
			if (rc < 0)
				tt_log(TT_LOG_WARN, "%s: cannot check its sources: %s", cache_path,
				    strerror(-rc));
			else
				tt_log(TT_LOG_INFO, "%s: sources changed, rebuilding", cache_path);
			tt_relays_free(idx);
		} else if (rc == -EBADMSG && (v = cache_layout(cache_path)) != 0 &&
			   v != IMG_VERSION) {
			tt_log(TT_LOG_WARN,
			    "%s: relay cache of layout v%u, this tortrace reads v%u (written by "
			    "another version); rebuilding it from the sources",
			    cache_path, v, IMG_VERSION);
		} else if (rc == -EBADMSG) {
			tt_log(TT_LOG_WARN,
			    "%s: corrupt relay cache (fails validation), ignored; rebuilding it "
			    "from the sources",
			    cache_path);
		} else {
			tt_log(TT_LOG_WARN,
			    "%s: cannot read relay cache (%s); rebuilding it from "
			    "the sources",
			    cache_path, strerror(-rc));
		}
	}
	rc = build(paths, n_paths, dev, ino, &idx);
	if (rc < 0)
		return rc;
	if (cache_path) {
		int src = tt_relays_save(idx, cache_path);

		if (src < 0)
			tt_log(
			    TT_LOG_WARN, "%s: cannot write cache: %s", cache_path, strerror(-src));
	}
	*out = idx;
	return 0;
}

int tt_relays_open(const char *path_or_dir, const char *cache_path, struct tt_relays **out)
{
	return tt_relays_open_paths(&path_or_dir, 1, cache_path, out);
}

/* ---- lookups ----------------------------------------------------------------------------- */

static uint64_t sat_sub(uint64_t a, uint64_t b)
{
	return a > b ? a - b : 0;
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

struct query {
	uint16_t port;
	bool is_any_time;
	uint64_t from_ns, to_ns;
	uint32_t port_relays[32]; /* relays that matched on the port (IP_ONLY suppression) */
	unsigned n_port_relays;
	bool is_port_relays_full;
};

static bool overlaps(const struct ival_rec *r, uint64_t from, uint64_t to)
{
	return r->from_ns < to && from < r->to_ns;
}

static bool overlaps_near(const struct query *q, const struct ival_rec *r)
{
	return overlaps(
	    r, sat_sub(q->from_ns, TT_RELAYS_DAY_NS), sat_add(q->to_ns, TT_RELAYS_DAY_NS));
}

/* The match kind of one interval for q, or -1. */
static int classify(const struct query *q, const struct ival_rec *r, bool suppress)
{
	bool is_in = q->is_any_time || overlaps(r, q->from_ns, q->to_ns);
	bool is_near = q->is_any_time || overlaps_near(q, r);

	switch (r->kind) {
	case TT_RELAY_ADDR_LISTED:
		return TT_RELAY_MATCH_LISTED_UNDATED;
	case TT_RELAY_ADDR_EXIT:
		return is_in ? TT_RELAY_MATCH_EXIT : -1;
	default:
		break;
	}
	if (q->port == 0 || q->port == r->port) {
		bool is_or = r->kind == TT_RELAY_ADDR_ORPORT;

		if (is_in)
			return is_or ? TT_RELAY_MATCH_ORPORT : TT_RELAY_MATCH_DIRPORT;
		if (is_near)
			return is_or ? TT_RELAY_MATCH_ORPORT_NEAR : TT_RELAY_MATCH_DIRPORT_NEAR;
		return -1;
	}
	if (!is_near)
		return -1;
	if (suppress && !q->is_port_relays_full)
		for (unsigned i = 0; i < q->n_port_relays; i++)
			if (q->port_relays[i] == r->relay)
				return -1;
	return TT_RELAY_MATCH_IP_ONLY;
}

static void fill_match(
    const struct tt_relays *idx, const struct ival_rec *r, int kind, struct tt_relay_match *m)
{
	static const char hx[] = "0123456789ABCDEF";

	memset(m, 0, sizeof(*m));
	m->from_ns = r->from_ns;
	m->to_ns = r->to_ns;
	m->flags = r->flags;
	m->relay = r->relay;
	m->first_doc = r->first_doc;
	m->last_doc = r->last_doc;
	m->port = r->port;
	m->kind = (uint8_t)kind;
	m->addr_kind = r->kind;
	m->sources = r->sources;
	m->ip_version = r->ip_version;
	memcpy(m->addr, r->addr, 16);
	if (r->relay != TT_RELAY_NONE) {
		const struct relay_rec *rel = &idx->relays[r->relay];

		for (int i = 0; i < 20; i++) {
			m->fingerprint[2 * i] = hx[rel->fp[i] >> 4];
			m->fingerprint[2 * i + 1] = hx[rel->fp[i] & 15];
		}
		memcpy(m->nickname, rel->nickname, 20);
	}
}

size_t tt_relays_lookup_range(const struct tt_relays *idx, const uint8_t addr[16],
    uint8_t ip_version, uint16_t port, uint64_t from_ns, uint64_t to_ns, struct tt_relay_match *out,
    size_t max)
{
	size_t mask = idx->n_slots - 1, s, n_left, n_kind[TT_RELAY_MATCH_COUNT] = {0};
	const struct slot_rec *slots = idx->slots;
	size_t at[TT_RELAY_MATCH_COUNT], total = 0;
	const struct ival_rec *run = NULL;
	struct query q;
	uint8_t key[17] = {0}; /* the address, then the version: what slot_hash hashes */
	uint32_t n_run = 0;

	/* Compare IPv4 addresses on their first 4 bytes only, whatever follows them. Two
	 * fixed-size copies: a variable-size memcpy is a library call. */
	if (ip_version == 4)
		memcpy(key, addr, 4);
	else
		memcpy(key, addr, 16);
	key[16] = ip_version;
	/* An address is at most max_probe slots past its home slot (checked by attach), so
	 * the probe ends there even if no empty slot came first. */
	s = (size_t)hash_bytes(key, sizeof(key)) & mask;
	for (n_left = idx->max_probe + 1; n_left > 0 && slots[s].count;
	     n_left--, s = (s + 1) & mask) {
		const struct ival_rec *r = &idx->ivals[slots[s].first];

		if (r->ip_version == ip_version && memcmp(r->addr, key, 16) == 0) {
			run = r;
			n_run = slots[s].count;
			break;
		}
	}
	if (!run)
		return 0;
	memset(&q, 0, sizeof(q));
	q.port = port;
	q.is_any_time = from_ns == 0 && to_ns == 0;
	q.from_ns = from_ns;
	q.to_ns = to_ns > from_ns ? to_ns : from_ns + 1;
	/* Pass 1: relays that match on the port (their other ports are not IP_ONLY). */
	if (port != 0)
		for (uint32_t i = 0; i < n_run; i++) {
			int k = classify(&q, &run[i], false);

			if (k < TT_RELAY_MATCH_ORPORT || k > TT_RELAY_MATCH_DIRPORT_NEAR)
				continue;
			if (q.n_port_relays == 32)
				q.is_port_relays_full = true;
			else
				q.port_relays[q.n_port_relays++] = run[i].relay;
		}
	/* Pass 2: count per kind; pass 3: place, strongest kind first. */
	for (uint32_t i = 0; i < n_run; i++) {
		int k = classify(&q, &run[i], true);

		if (k >= 0)
			n_kind[k]++;
	}
	for (int k = 0; k < TT_RELAY_MATCH_COUNT; k++) {
		at[k] = total;
		total += n_kind[k];
	}
	for (uint32_t i = 0; i < n_run; i++) {
		int k = classify(&q, &run[i], true);

		if (k >= 0 && at[k] < max)
			fill_match(idx, &run[i], k, &out[at[k]]);
		if (k >= 0)
			at[k]++;
	}
	return total;
}

size_t tt_relays_lookup(const struct tt_relays *idx, const uint8_t addr[16], uint8_t ip_version,
    uint16_t port, uint64_t t_ns, struct tt_relay_match *out, size_t max)
{
	return tt_relays_lookup_range(
	    idx, addr, ip_version, port, t_ns, t_ns ? t_ns + 1 : 0, out, max);
}

/* ---- accessors ------------------------------------------------------------------------ */

void tt_relays_get_info(const struct tt_relays *idx, struct tt_relays_info *out)
{
	memset(out, 0, sizeof(*out));
	out->n_files = idx->n_srcs;
	for (size_t i = 0; i < idx->n_srcs; i++) {
		out->n_skipped += idx->srcs[i].n_skipped;
		if (idx->srcs[i].container != CONT_PLAIN)
			out->n_archives++;
	}
	for (size_t i = 0; i < idx->n_files; i++) {
		const struct file_rec *f = &idx->files[i];

		if (f->is_failed)
			out->n_failed++;
		else if (f->source == TT_RELAYS_SRC_NONE)
			out->n_skipped++;
		else if (f->is_read) {
			out->n_docs++;
			out->n_docs_by_source[f->source]++;
		}
	}
	out->n_relays = idx->n_relays;
	out->n_intervals = idx->n_ivals;
	out->n_addresses = idx->hdr->n_addresses;
	out->n_errors = idx->hdr->n_errors_total;
	out->n_source_bytes = idx->hdr->n_source_bytes;
	out->earliest_ns = idx->hdr->earliest_ns;
	out->latest_ns = idx->hdr->latest_ns;
	out->built_ns = idx->hdr->built_ns;
	out->is_from_cache = idx->is_from_cache;
}

bool tt_relays_is_empty(const struct tt_relays *idx)
{
	return idx->n_ivals == 0;
}

static size_t append(char *buf, size_t len, size_t at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static size_t append(char *buf, size_t len, size_t at, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(at < len ? buf + at : NULL, at < len ? len - at : 0, fmt, ap);
	va_end(ap);
	return at + (n > 0 ? (size_t)n : 0);
}

size_t tt_relays_describe_empty(const struct tt_relays *idx, char *buf, size_t len)
{
	struct tt_relays_info in;
	uint64_t n_empty_docs;
	size_t at = 0;

	tt_relays_get_info(idx, &in);
	if (len > 0)
		buf[0] = '\0';
	if (in.n_files == 0)
		return append(buf, len, 0, "no files");
	at = append(buf, len, at, "%llu file%s", (unsigned long long)in.n_files,
	    in.n_files == 1 ? "" : "s");
	n_empty_docs = in.n_docs;
	if (n_empty_docs == 0 && in.n_failed == 0)
		return append(buf, len, at, ", none a consensus, exit list or IP list");
	if (n_empty_docs)
		at = append(buf, len, at, ", %llu document%s with no entries",
		    (unsigned long long)n_empty_docs, n_empty_docs == 1 ? "" : "s");
	if (in.n_failed)
		at = append(buf, len, at, ", %llu unreadable or unusable (see the errors)",
		    (unsigned long long)in.n_failed);
	if (in.n_skipped)
		at = append(
		    buf, len, at, ", %llu of no known kind", (unsigned long long)in.n_skipped);
	return at;
}

const char *tt_relays_digest(const struct tt_relays *idx)
{
	return idx->digest_hex;
}

size_t tt_relays_n_errors(const struct tt_relays *idx)
{
	return idx->n_errors;
}

const char *tt_relays_error(const struct tt_relays *idx, size_t i)
{
	return i < idx->n_errors ? idx->strings + idx->errors[i] : NULL;
}

size_t tt_relays_n_docs(const struct tt_relays *idx)
{
	return idx->n_files;
}

int tt_relays_doc(const struct tt_relays *idx, size_t i, struct tt_relays_doc *out)
{
	const struct file_rec *f;

	if (i >= idx->n_files)
		return -ERANGE;
	f = &idx->files[i];
	memset(out, 0, sizeof(*out));
	out->path = idx->strings + f->path_off;
	out->source = f->source;
	out->is_failed = f->is_failed;
	out->size_bytes = f->size_bytes;
	out->mtime_ns = f->mtime_ns;
	out->valid_after_ns = f->va_ns;
	out->fresh_until_ns = f->fu_ns;
	out->valid_until_ns = f->vu_ns;
	out->n_routers = f->n_routers;
	out->n_entries = f->n_entries;
	out->n_bad_lines = f->n_bad_lines;
	if (f->is_read)
		hex_digest(f->digest, out->digest);
	return 0;
}
