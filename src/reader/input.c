/* Turning the command line's paths into the ordered list of files to read. */
#include "reader.h"

#include <dirent.h>
#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct list {
	char **v;
	size_t n, cap;
};

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

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Add every regular file below dir, in name order, depth first. */
static int walk(struct list *l, const char *dir, int depth)
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
		if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
			rc = walk(l, path, depth + 1);
		else if (stat(path, &st) != 0 || S_ISREG(st.st_mode))
			rc = push(l, path); /* dangling links are reported, sockets skipped */
		free(path);
	}
	tt_inputs_free(names.v, names.n);
	return rc;
}

int tt_inputs_expand(const char *const *paths, size_t n, char ***out, size_t *n_out)
{
	struct list l = {0};
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < n; i++) {
		struct stat st;

		if (stat(paths[i], &st) == 0) {
			rc = S_ISDIR(st.st_mode) ? walk(&l, paths[i], 0) : push(&l, paths[i]);
		} else if (strpbrk(paths[i], "*?[")) {
			glob_t g;
			int gr = glob(paths[i], 0, NULL, &g);

			if (gr == 0) {
				for (size_t j = 0; rc == 0 && j < g.gl_pathc; j++) {
					if (stat(g.gl_pathv[j], &st) == 0 && S_ISDIR(st.st_mode))
						rc = walk(&l, g.gl_pathv[j], 0);
					else
						rc = push(&l, g.gl_pathv[j]);
				}
			} else {
				rc = push(&l, paths[i]); /* matches nothing: reported as missing */
			}
			globfree(&g);
		} else {
			rc = push(&l, paths[i]);
		}
	}
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
