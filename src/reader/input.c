/* Turning the command line's paths into the ordered list of files to read. */
#define _GNU_SOURCE /* strverscmp */
#include "reader.h"

#include <dirent.h>
#include <errno.h>
#include <glob.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct list {
	char **v;
	size_t n, cap;
};

/* The (st_dev, st_ino) pairs already expanded: a directory reached again through a
 * symlink (a loop, or two links to one place) is not walked again, and a file reached
 * through two links is read once. Open addressing, grown at half full. */
struct seen {
	struct seen_id {
		dev_t dev;
		ino_t ino;
	} * v;
	size_t n, cap;
};

static size_t seen_slot(const struct seen *s, dev_t dev, ino_t ino)
{
	uint64_t h =
	    ((uint64_t)dev * 0x9e3779b97f4a7c15ull) ^ ((uint64_t)ino * 0xc2b2ae3d27d4eb4full);
	size_t i = (size_t)(h ^ (h >> 29)) & (s->cap - 1);

	while (s->v[i].ino != 0 && (s->v[i].dev != dev || s->v[i].ino != ino))
		i = (i + 1) & (s->cap - 1);
	return i;
}

/* 1 when st was seen before, 0 when it is new (now remembered), or -ENOMEM. */
static int seen_add(struct seen *s, const struct stat *st)
{
	size_t i;

	if (st->st_ino == 0)
		return 0; /* not a real inode number: cannot tell, never dedupe */
	if (2 * (s->n + 1) > s->cap) {
		struct seen old = *s;

		s->cap = old.cap ? 2 * old.cap : 64;
		s->v = calloc(s->cap, sizeof(*s->v));
		if (!s->v) {
			*s = old;
			return -ENOMEM;
		}
		for (size_t j = 0; j < old.cap; j++)
			if (old.v[j].ino != 0)
				s->v[seen_slot(s, old.v[j].dev, old.v[j].ino)] = old.v[j];
		free(old.v);
	}
	i = seen_slot(s, st->st_dev, st->st_ino);
	if (s->v[i].ino != 0)
		return 1;
	s->v[i] = (struct seen_id){st->st_dev, st->st_ino};
	s->n++;
	return 0;
}

static int push(struct list *l, const char *path)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 16;
		char **v = realloc(l->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n] = strdup(path);
	if (!l->v[l->n])
		return -ENOMEM;
	l->n++;
	return 0;
}

/* Natural name order: digits compare as numbers, so the files of a rotated capture
 * (tcpdump -C writes cap, cap1, ..., cap10; appliances number them likewise) come in the
 * order they were written, cap2 before cap10. */
static int cmp_names(const void *a, const void *b)
{
	return strverscmp(*(char *const *)a, *(char *const *)b);
}

/* Add every regular file below dir, in name order, depth first; directories and files
 * already in *seen are skipped. */
static int walk(struct list *l, struct seen *seen, const char *dir, int depth)
{
	struct list names = {0};
	struct dirent *e;
	DIR *d;
	int rc = 0;

	if (depth > 64)
		return 0; /* a symlink loop, or absurd nesting */
	d = opendir(dir);
	if (!d)
		return push(l, dir); /* unreadable: the reader reports why */
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		rc = push(&names, e->d_name);
		if (rc < 0)
			break;
	}
	closedir(d);
	if (rc == 0 && names.n)
		qsort(names.v, names.n, sizeof(*names.v), cmp_names);
	for (size_t i = 0; rc == 0 && i < names.n; i++) {
		size_t len = strlen(dir) + strlen(names.v[i]) + 2;
		char *path = malloc(len);
		struct stat st;

		if (!path) {
			rc = -ENOMEM;
			break;
		}
		snprintf(
		    path, len, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", names.v[i]);
		if (stat(path, &st) != 0) {
			rc = push(l, path); /* dangling links are reported */
		} else if (S_ISDIR(st.st_mode) || S_ISREG(st.st_mode)) {
			rc = seen_add(seen, &st);
			if (rc == 0)
				rc = S_ISDIR(st.st_mode) ? walk(l, seen, path, depth + 1)
							 : push(l, path);
			else if (rc == 1)
				rc = 0; /* reached before, through another link: once is enough */
		}                       /* sockets, fifos and devices inside folders are skipped */
		free(path);
	}
	tt_inputs_free(names.v, names.n);
	return rc;
}

int tt_inputs_expand(const char *const *paths, size_t n, char ***out, size_t *n_out)
{
	struct list l = {0};
	struct seen seen = {0};
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < n; i++) {
		struct stat st;

		if (stat(paths[i], &st) == 0) {
			/* A path named on the command line is read as given (twice if named
			 * twice); it is remembered so that a folder walk does not add it again. */
			rc = seen_add(&seen, &st);
			if (rc >= 0 && S_ISDIR(st.st_mode))
				rc = rc == 0 ? walk(&l, &seen, paths[i], 0) : 0;
			else if (rc >= 0)
				rc = push(&l, paths[i]);
		} else if (strpbrk(paths[i], "*?[")) {
			glob_t g;
			int gr = glob(paths[i], GLOB_NOSORT, NULL, &g);

			if (gr == 0) {
				qsort(g.gl_pathv, g.gl_pathc, sizeof(*g.gl_pathv), cmp_names);
				for (size_t j = 0; rc == 0 && j < g.gl_pathc; j++) {
					if (stat(g.gl_pathv[j], &st) != 0) {
						rc = push(&l, g.gl_pathv[j]);
					} else {
						rc = seen_add(&seen, &st);
						if (rc >= 0 && S_ISDIR(st.st_mode))
							rc = rc == 0
								 ? walk(&l, &seen, g.gl_pathv[j], 0)
								 : 0;
						else if (rc >= 0)
							rc = push(&l, g.gl_pathv[j]);
					}
				}
			} else {
				rc = push(&l, paths[i]); /* matches nothing: reported as missing */
			}
			globfree(&g);
		} else {
			rc = push(&l, paths[i]);
		}
	}
	free(seen.v);
	if (rc < 0) {
		tt_inputs_free(l.v, l.n);
		return rc;
	}
	*out = l.v;
	*n_out = l.n;
	return 0;
}

void tt_inputs_free(char **paths, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
}
