/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * list.c - what a save holds (stor_list: the entries of its manifest under
 * a path) and which saves a target holds (stor_list_saves).  Read only:
 * neither takes the save's lock (a manifest is replaced by a rename, so a
 * reader sees the old one or the new one, whole).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "priv.h"

/* the path of entry i below the saved root ("." for the root), malloc'd */
static char *
entry_path(const struct manifest *mf, size_t i)
{
	size_t len = 0, pos;	/* each name and a '/' after it, the last one a NUL */
	char *p;

	if (i == 0)
		return strdup(".");
	for (size_t j = i; j != 0; j = mf->e[j].parent)
		len += strlen(mf->e[j].name) + 1;
	if (len == 0 || (p = malloc(len)) == NULL)
		return NULL;
	pos = len - 1;
	p[pos] = '\0';
	for (size_t j = i; j != 0; j = mf->e[j].parent) {
		size_t l = strlen(mf->e[j].name);

		pos -= l;
		memcpy(p + pos, mf->e[j].name, l);
		if (pos > 0)
			p[--pos] = '/';
	}
	return p;
}

int
mf_find_path(const struct manifest *mf, const char *path, size_t *idx)
{
	char *copy, *save = NULL, *c;
	size_t i = 0;
	int rc = 0;

	*idx = 0;
	if ((copy = strdup(path ? path : "")) == NULL)
		return -ENOMEM;
	/* one name at a time from the root */
	for (c = strtok_r(copy, "/", &save); c != NULL; c = strtok_r(NULL, "/", &save)) {
		long j;

		if (strcmp(c, ".") == 0)
			continue;
		if (mf->e[i].type != MF_DIR || strcmp(c, "..") == 0 ||
		    (j = mf_lookup(mf, (uint32_t)i, c)) < 0) {
			rc = -ENOENT;
			break;
		}
		i = (size_t)j;
	}
	free(copy);
	if (rc == 0)
		*idx = i;
	return rc;
}

static int
emit(const struct manifest *mf, size_t i, unsigned depth, stor_ls_fn fn, void *arg)
{
	const struct mf_entry *e = &mf->e[i];
	struct stor_ls_entry le = { 0 };
	char *path, *link = NULL;
	int rc;

	if ((path = entry_path(mf, i)) == NULL)
		return -ENOMEM;
	le.type = (char)e->type;
	le.mode = e->mode;
	le.uid = e->uid;
	le.gid = e->gid;
	le.mtime_s = e->mtime_s;
	le.mtime_ns = e->mtime_ns;
	le.depth = depth;
	le.path = path;
	switch (e->type) {
	case MF_FILE:
		le.size = e->size;
		break;
	case MF_HARDLINK:
		if (e->link < mf->n) {
			le.size = mf->e[e->link].size;
			if ((link = entry_path(mf, e->link)) == NULL) {
				free(path);
				return -ENOMEM;
			}
			le.target = link;
		}
		break;
	case MF_SYMLINK:
		le.target = e->target;
		le.size = e->target ? strlen(e->target) : 0;
		break;
	case MF_CHR:
	case MF_BLK:
		le.rdev = e->rdev;
		break;
	}
	rc = fn(&le, arg);
	free(path);
	free(link);
	return rc;
}

int
stor_list(const char *savedir, const char *path, int recursive, stor_ls_fn fn, void *arg,
    char *errmsg, size_t errlen)
{
	struct manifest *mf = NULL;
	unsigned *depth = NULL;
	char err[256];
	size_t idx = 0;
	int fd, rc;

	if (errlen)
		errmsg[0] = '\0';
	if ((fd = open(savedir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		rc = -errno;
		snprintf(errmsg, errlen, "cannot open %s: %s", savedir, strerror(errno));
		return rc;
	}
	rc = mf_load(fd, &mf, err, sizeof(err));
	close(fd);
	if (rc < 0) {
		snprintf(errmsg, errlen, rc == -ENOENT ? "%s holds no save" :
		    "%s holds no complete save: %s", savedir, err);
		return rc;
	}
	if ((rc = mf_find_path(mf, path, &idx)) < 0) {
		if (rc == -ENOENT)
			snprintf(errmsg, errlen, "%s is not in the save", path);
		goto out;
	}
	if (mf->e[idx].type != MF_DIR) {
		rc = emit(mf, idx, 0, fn, arg);
		goto out;
	}
	/* pre-order: the subtree of idx is the run of entries after it whose
	 * parent is in it */
	if ((depth = calloc(mf->n, sizeof(*depth))) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	rc = 0;
	for (size_t j = idx + 1; j < mf->n && rc == 0; j++) {
		size_t p = mf->e[j].parent;

		if (p != idx && (p <= idx || p >= j || depth[p] == 0))
			break;
		depth[j] = p == idx ? 1 : depth[p] + 1;
		if (depth[j] == 1 || recursive)
			rc = emit(mf, j, depth[j], fn, arg);
	}
out:
	free(depth);
	mf_free(mf);
	return rc;
}

/* one save directory: its info, and when VERIFIED was written */
static int
one_save(const char *dir, stor_saves_fn fn, void *arg)
{
	struct stor_save_entry se = { .savedir = dir };
	struct stat vs, ms;
	char *p;
	int rc;

	if ((rc = stor_save_info(dir, &se.info)) < 0)
		return 0;	/* not a save directory */
	if (asprintf(&p, "%s/VERIFIED", dir) < 0)
		return -ENOMEM;
	if (lstat(p, &vs) == 0 && S_ISREG(vs.st_mode)) {
		se.verified = vs.st_mtime;
		free(p);
		if (asprintf(&p, "%s/MANIFEST", dir) < 0)
			return -ENOMEM;
		se.verified_current = lstat(p, &ms) == 0 &&
		    (vs.st_mtim.tv_sec > ms.st_mtim.tv_sec || (vs.st_mtim.tv_sec == ms.st_mtim.tv_sec &&
		    vs.st_mtim.tv_nsec >= ms.st_mtim.tv_nsec));
	}
	free(p);
	return fn(&se, arg);
}

static int
subdirs(const char *dir, char ***out, size_t *nout)
{
	struct dirent *de;
	char **v = NULL;
	size_t n = 0;
	DIR *d;

	*out = NULL;
	*nout = 0;
	if ((d = opendir(dir)) == NULL)
		return -errno;
	while ((de = readdir(d)) != NULL) {
		char **nv;

		if (de->d_name[0] == '.' || (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN))
			continue;
		if ((nv = realloc(v, (n + 1) * sizeof(*v))) == NULL ||
		    asprintf(&nv[n], "%s/%s", dir, de->d_name) < 0) {
			if (nv)
				v = nv;
			for (size_t i = 0; i < n; i++)
				free(v[i]);
			free(v);
			closedir(d);
			return -ENOMEM;
		}
		v = nv;
		n++;
	}
	closedir(d);
	for (size_t i = 1; i < n; i++)	/* sorted, for a stable listing */
		for (size_t j = i; j > 0 && strcmp(v[j - 1], v[j]) > 0; j--) {
			char *t = v[j];
			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	*out = v;
	*nout = n;
	return 0;
}

int
stor_list_saves(const char *dir, stor_saves_fn fn, void *arg, char *errmsg, size_t errlen)
{
	char *m = NULL, *top = NULL, **cl = NULL;
	size_t ncl = 0;
	struct stat st;
	int rc = 0;

	if (errlen)
		errmsg[0] = '\0';
	/* DIR a save directory itself */
	if (asprintf(&m, "%s/MANIFEST", dir) < 0)
		return -ENOMEM;
	if (lstat(m, &st) == 0) {
		free(m);
		return one_save(dir, fn, arg);
	}
	free(m);
	/* DIR a target (saves in DIR/pcm-agent/CLUSTER/INSTANCE) or DIR/pcm-agent */
	if (asprintf(&top, "%s/pcm-agent", dir) < 0)
		return -ENOMEM;
	if (stat(top, &st) < 0 || !S_ISDIR(st.st_mode)) {
		const char *base = strrchr(dir, '/');

		free(top);
		if ((top = strdup(dir)) == NULL)
			return -ENOMEM;
		if (strcmp(base ? base + 1 : dir, "pcm-agent") != 0) {
			snprintf(errmsg, errlen, "no saves under %s (no %s/pcm-agent)", dir, dir);
			free(top);
			return -ENOENT;
		}
	}
	if ((rc = subdirs(top, &cl, &ncl)) < 0) {
		snprintf(errmsg, errlen, "cannot list %s: %s", top, strerror(-rc));
		goto out;
	}
	for (size_t i = 0; i < ncl && rc == 0; i++) {
		char **in = NULL;
		size_t nin = 0;

		if (subdirs(cl[i], &in, &nin) < 0)
			continue;
		for (size_t j = 0; j < nin; j++) {
			if (rc == 0)
				rc = one_save(in[j], fn, arg);
			free(in[j]);
		}
		free(in);
	}
out:
	for (size_t i = 0; i < ncl; i++)
		free(cl[i]);
	free(cl);
	free(top);
	return rc;
}
