/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * exclude.c - what a save leaves out: rsync-style exclude patterns and
 * directory markers.
 *
 * Patterns (matched against the path relative to the saved root, bytes):
 *   - a leading '/' anchors the pattern at the saved root ("/tmp" is the
 *     top-level tmp only); without it the pattern matches at any depth;
 *   - a trailing '/' matches directories only ("cache/");
 *   - a pattern ending in "/" and "***" (rsync: the directory and what is in
 *     it) is the same as without that ending
 *   - a pattern with a '/' (other than a trailing one) or a "**" is matched
 *     against the whole path (unanchored: against every tail of it that
 *     starts after a '/'), otherwise against the last name only;
 *   - '*' matches any bytes but '/', "**" any bytes including '/', '?' one
 *     byte but '/', "[...]" one byte of a set ("[!...]", "[^...]": not of
 *     it; ranges a-z), '\' makes the next byte literal.
 * A directory that is excluded is not descended into.
 *
 * Markers: a directory holding a regular file `.pcm-agent-exclude`, or a
 * CACHEDIR.TAG that starts with the standard signature line, is not saved,
 * when the marker is owned by root or by the directory's owner: a user may
 * leave out what is theirs, not a shared directory (a marker in a sticky
 * world-writable /scratch/shared, or in /scratch itself, is ignored).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "priv.h"

#define CACHEDIR_SIG	"Signature: 8a477f597d28d172789f06886806bc55"

struct excl_pat {
	char	*glob;
	int	 anchored;	/* leading '/' */
	int	 dironly;	/* trailing '/' */
	int	 fullpath;	/* matched against the path, not the last name */
};

struct excl {
	struct excl_pat	*p;
	size_t		 n;
	int		 fullpath;	/* some pattern needs the path */
};

/* [set] at *pp (just past the '['): 1 when c is in it, 0 when not, -1
 * when the set is not closed (the '[' is then a literal); *pp past ']' */
static int
class_match(const unsigned char **pp, unsigned char c)
{
	const unsigned char *p = *pp;
	int neg = 0, in = 0, first = 1;

	if (*p == '!' || *p == '^') {
		neg = 1;
		p++;
	}
	for (; *p != '\0' && (*p != ']' || first); first = 0) {
		unsigned char lo = *p, hi;

		if (lo == '\\' && p[1] != '\0')
			lo = *++p;
		p++;
		hi = lo;
		if (*p == '-' && p[1] != ']' && p[1] != '\0') {
			hi = p[1];
			if (hi == '\\' && p[2] != '\0') {
				hi = p[2];
				p++;
			}
			p += 2;
		}
		if (c >= lo && c <= hi)
			in = 1;
	}
	if (*p != ']')
		return -1;
	*pp = p + 1;
	return in != neg;
}

static int
glob_match(const unsigned char *p, const unsigned char *s)
{
	for (;;) {
		switch (*p) {
		case '\0':
			return *s == '\0';
		case '*':
			if (p[1] == '*') {	/* "**": anything, '/' included */
				while (*p == '*')
					p++;
				if (*p == '\0')
					return 1;
				for (;; s++) {
					if (glob_match(p, s))
						return 1;
					if (*s == '\0')
						return 0;
				}
			}
			p++;
			for (;; s++) {
				if (glob_match(p, s))
					return 1;
				if (*s == '\0' || *s == '/')
					return 0;
			}
		case '?':
			if (*s == '\0' || *s == '/')
				return 0;
			p++;
			s++;
			break;
		case '[': {
			const unsigned char *q = p + 1;
			int r;

			if (*s == '\0' || *s == '/')
				return 0;
			if ((r = class_match(&q, *s)) >= 0) {
				if (r == 0)
					return 0;
				p = q;
				s++;
				break;
			}
			if (*s != '[')	/* not closed: a literal '[' */
				return 0;
			p++;
			s++;
			break;
		}
		case '\\':
			if (p[1] != '\0')
				p++;
			/* fall through */
		default:
			if (*p != *s)
				return 0;
			p++;
			s++;
			break;
		}
	}
}

int
excl_glob(const char *pattern, const char *s)
{
	return glob_match((const unsigned char *)pattern, (const unsigned char *)s);
}

static int
pat_parse(const char *src, struct excl_pat *p, char *err, size_t errlen)
{
	size_t len = strlen(src);
	char *g;

	memset(p, 0, sizeof(*p));
	if (len == 0) {
		snprintf(err, errlen, "an empty exclude pattern");
		return -EINVAL;
	}
	if ((g = strdup(src)) == NULL)
		return -ENOMEM;
	if (len >= 4 && strcmp(g + len - 4, "/***") == 0) {
		len -= 4;
		g[len] = '\0';
	}
	while (len > 0 && g[len - 1] == '/' && (len < 2 || g[len - 2] != '\\')) {
		p->dironly = 1;
		g[--len] = '\0';
	}
	if (g[0] == '/') {
		size_t k = 0;

		while (g[k] == '/')
			k++;
		memmove(g, g + k, len - k + 1);
		len -= k;
		p->anchored = 1;
	}
	if (len == 0) {
		snprintf(err, errlen, "exclude pattern '%s' names the saved root itself "
		    "(to save nothing, do not save)", src);
		free(g);
		return -EINVAL;
	}
	p->fullpath = p->anchored || strchr(g, '/') != NULL || strstr(g, "**") != NULL;
	p->glob = g;
	return 0;
}

int
excl_new(const char *const *pats, size_t n, struct excl **out, char *err, size_t errlen)
{
	struct excl *x;
	int rc;

	*out = NULL;
	if (n == 0)
		return 0;
	if ((x = calloc(1, sizeof(*x))) == NULL || (x->p = calloc(n, sizeof(*x->p))) == NULL) {
		free(x);
		return -ENOMEM;
	}
	for (; x->n < n; x->n++) {
		if ((rc = pat_parse(pats[x->n], &x->p[x->n], err, errlen)) < 0) {
			excl_free(x);
			return rc;
		}
		x->fullpath |= x->p[x->n].fullpath;
	}
	*out = x;
	return 0;
}

void
excl_free(struct excl *x)
{
	if (x == NULL)
		return;
	for (size_t i = 0; i < x->n; i++)
		free(x->p[i].glob);
	free(x->p);
	free(x);
}

int
stor_exclude_check(const char *pattern, char *err, size_t errlen)
{
	struct excl_pat p;
	int rc;

	if ((rc = pat_parse(pattern, &p, err, errlen)) == 0)
		free(p.glob);
	else if (rc == -ENOMEM)
		snprintf(err, errlen, "out of memory");
	return rc;
}

int
excl_match_path(const struct excl *x, const char *path, int is_dir)
{
	const char *name;

	if (x == NULL)
		return 0;
	name = strrchr(path, '/');
	name = name ? name + 1 : path;
	for (size_t i = 0; i < x->n; i++) {
		const struct excl_pat *p = &x->p[i];

		if (p->dironly && !is_dir)
			continue;
		if (!p->fullpath) {
			if (excl_glob(p->glob, name))
				return 1;
			continue;
		}
		if (excl_glob(p->glob, path))
			return 1;
		if (p->anchored)
			continue;
		for (const char *s = strchr(path, '/'); s != NULL; s = strchr(s + 1, '/'))
			if (excl_glob(p->glob, s + 1))
				return 1;
	}
	return 0;
}

int
excl_match(const struct excl *x, const struct manifest *mf, uint32_t parent, const char *name,
    int is_dir)
{
	size_t len, pos;
	char *path;
	int r;

	if (x == NULL)
		return 0;
	if (!x->fullpath || parent == 0)
		return excl_match_path(x, name, is_dir);
	len = strlen(name) + 1;
	for (uint32_t i = parent; i != 0; i = mf->e[i].parent)
		len += strlen(mf->e[i].name) + 1;
	if ((path = malloc(len)) == NULL)
		return -ENOMEM;
	pos = len - 1;
	path[pos] = '\0';
	pos -= strlen(name);
	memcpy(path + pos, name, strlen(name));
	for (uint32_t i = parent; i != 0; i = mf->e[i].parent) {
		size_t l = strlen(mf->e[i].name);

		path[--pos] = '/';
		pos -= l;
		memcpy(path + pos, mf->e[i].name, l);
	}
	r = excl_match_path(x, path, is_dir);
	free(path);
	return r;
}

const char *
excl_marker(int dirfd, const struct stat *dirst)
{
	struct stat st;
	char buf[sizeof(CACHEDIR_SIG) - 1];
	ino_t ino;
	int fd;

	if (fstatat(dirfd, ".pcm-agent-exclude", &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISREG(st.st_mode) && (st.st_uid == 0 || st.st_uid == dirst->st_uid))
		return ".pcm-agent-exclude";
	/* never opened unless it is a regular file (a device node named
	 * CACHEDIR.TAG is not opened by root), and the same file once open */
	if (fstatat(dirfd, "CACHEDIR.TAG", &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
		return NULL;
	ino = st.st_ino;
	if ((fd = safe_openat(dirfd, "CACHEDIR.TAG", O_RDONLY | O_NONBLOCK, 0, 0)) < 0)
		return NULL;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_ino == ino &&
	    (st.st_uid == 0 || st.st_uid == dirst->st_uid) &&
	    pread(fd, buf, sizeof(buf), 0) == (ssize_t)sizeof(buf) &&
	    memcmp(buf, CACHEDIR_SIG, sizeof(buf)) == 0) {
		close(fd);
		return "CACHEDIR.TAG";
	}
	close(fd);
	return NULL;
}

int
excl_count(int dirfd, uint64_t *entries, uint64_t *bytes, unsigned depth)
{
	struct dirent *de;
	DIR *d;
	int rc = 0;

	if (depth > 4096)
		return -ELOOP;
	if ((d = dir_stream(dirfd)) == NULL)
		return -errno;
	while ((de = readdir(d)) != NULL) {
		struct stat st;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;	/* vanished */
		(*entries)++;
		if (S_ISREG(st.st_mode))
			*bytes += (uint64_t)st.st_size;
		else if (S_ISDIR(st.st_mode)) {
			int sub = safe_openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY, 0, 1);

			if (sub < 0)
				continue;	/* a mount point, or gone */
			rc = excl_count(sub, entries, bytes, depth + 1);
			close(sub);
			if (rc < 0)
				break;
		}
	}
	closedir(d);
	return rc;
}

/* an excluded entry dirfd/name, with everything below it, counted into res */
static void
count_excluded(int dirfd, const char *name, const struct stat *st, struct stor_result *res)
{
	int fd;

	res->excluded++;
	if (S_ISREG(st->st_mode))
		res->bytes_excluded += (uint64_t)st->st_size;
	else if (S_ISDIR(st->st_mode) &&
	    (fd = safe_openat(dirfd, name, O_RDONLY | O_DIRECTORY, 0, 1)) >= 0) {
		excl_count(fd, &res->excluded, &res->bytes_excluded, 0);
		close(fd);
	}
}

int
excl_entry(const struct excl *x, const struct manifest *mf, uint32_t parent, int dirfd,
    const char *name, const struct stat *st, struct stor_result *res)
{
	int r = excl_match(x, mf, parent, name, S_ISDIR(st->st_mode));

	if (r <= 0)
		return r;
	count_excluded(dirfd, name, st, res);
	return 1;
}

const char *
excl_dir(int fd, const struct stat *st, struct stor_result *res)
{
	const char *mk = excl_marker(fd, st);

	if (mk != NULL) {
		res->excluded++;
		excl_count(fd, &res->excluded, &res->bytes_excluded, 0);
	}
	return mk;
}

static int
scan(int dirfd, const char *path, const struct excl *x, struct stor_result *res, unsigned depth)
{
	struct dirent *de;
	DIR *d;
	int rc = 0;

	if (depth > 4096)
		return -ELOOP;
	if ((d = dir_stream(dirfd)) == NULL)
		return -errno;
	while (rc == 0 && (de = readdir(d)) != NULL) {
		struct stat st;
		char *full;
		int sub;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (asprintf(&full, "%s%s%s", path, *path ? "/" : "", de->d_name) < 0) {
			rc = -ENOMEM;
			break;
		}
		if (excl_match_path(x, full, S_ISDIR(st.st_mode))) {
			count_excluded(dirfd, de->d_name, &st, res);
		} else if (S_ISDIR(st.st_mode) &&
		    (sub = safe_openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY, 0, 1)) >= 0) {
			if (fstat(sub, &st) == 0 && excl_dir(sub, &st, res) == NULL) {
				res->entries++;
				rc = scan(sub, full, x, res, depth + 1);
			}
			close(sub);
		} else {
			res->entries++;
			if (S_ISREG(st.st_mode))
				res->bytes += (uint64_t)st.st_size;
		}
		free(full);
	}
	closedir(d);
	return rc;
}

int
stor_exclude_scan(const char *source, const struct stor_opts *o, struct stor_result *res)
{
	static const struct stor_opts none;
	struct excl *x = NULL;
	int fd, rc;

	memset(res, 0, sizeof(*res));
	if (o == NULL)
		o = &none;
	if ((rc = excl_new(o->exclude, o->nexclude, &x, res->errmsg, sizeof(res->errmsg))) < 0)
		return rc;
	if ((fd = open(source, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		rc = -errno;
		snprintf(res->errmsg, sizeof(res->errmsg), "cannot open %s: %s", source,
		    strerror(errno));
		goto out;
	}
	if ((rc = scan(fd, "", x, res, 0)) < 0)
		snprintf(res->errmsg, sizeof(res->errmsg), "cannot read %s: %s", source,
		    strerror(-rc));
	close(fd);
out:
	excl_free(x);
	return rc;
}
