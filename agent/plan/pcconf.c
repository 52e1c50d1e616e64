/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pcconf.c - one key of ParallelCluster's daemon configs (Python
 * ConfigParser files: "[section]" and "key = value" lines), read and
 * rewritten in place: every other line is kept as it is, the file is
 * replaced atomically (temp file in the same directory, fsync, rename) with
 * its owner and mode.  The file must be a regular file (no symlink) owned by
 * root and writable by nobody else: whoever can write it decides what
 * clustermgtd and computemgtd do, pcm-agent does not take its word.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plan_int.h"

static int
read_all(const char *path, char **out, struct stat *st)
{
	FILE *fp;
	char *buf = NULL;
	size_t len = 0;
	int fd, rc = 0;

	*out = NULL;
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return -errno;
	if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode)) {
		close(fd);
		return -EINVAL;
	}
	if (st->st_uid != 0 || (st->st_mode & 022) != 0) {
		close(fd);
		return -EPERM;
	}
	if ((fp = fdopen(fd, "r")) == NULL) {
		close(fd);
		return -errno;
	}
	{
		FILE *mem = open_memstream(&buf, &len);
		char line[4096];

		if (mem == NULL) {
			fclose(fp);
			return -ENOMEM;
		}
		while (fgets(line, sizeof(line), fp) != NULL)
			fputs(line, mem);
		if (ferror(fp))
			rc = -EIO;
		fclose(mem);
	}
	fclose(fp);
	if (rc < 0) {
		free(buf);
		return rc;
	}
	*out = buf;
	return 0;
}

static char *
trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

/*
 * Find key in section of text: its line's [start, end) offsets, and where
 * the section ends (to append a missing key).  Returns 1 found, 0 not found
 * (*sec_end = -1 when the section is missing).
 */
static int
find_key(const char *text, const char *section, const char *key, size_t *start, size_t *end,
    long *sec_end, char *val, size_t vlen)
{
	const char *p = text;
	int in = 0;

	*sec_end = -1;
	while (*p != '\0') {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) + 1 : strlen(p);
		char line[4096], *t;

		snprintf(line, sizeof(line), "%.*s", (int)(n < sizeof(line) ? n : sizeof(line) - 1), p);
		t = trim(line);
		if (*t == '[') {
			char *c = strchr(t, ']');

			if (c != NULL)
				*c = '\0';
			in = strcmp(trim(t + 1), section) == 0;
		} else if (in && *t != '#' && *t != ';' && *t != '\0') {
			char *eq = strpbrk(t, "=:");

			if (eq != NULL) {
				*eq = '\0';
				if (strcmp(trim(t), key) == 0) {
					*start = (size_t)(p - text);
					*end = *start + n;
					snprintf(val, vlen, "%s", trim(eq + 1));
					return 1;
				}
			}
		}
		p += n;
		if (in)
			*sec_end = (long)(p - text);
	}
	return 0;
}

int
pcconf_get(const char *path, const char *section, const char *key, char *val, size_t vlen)
{
	struct stat st;
	size_t s, e;
	long se;
	char *text;
	int rc;

	if ((rc = read_all(path, &text, &st)) < 0)
		return rc;
	rc = find_key(text, section, key, &s, &e, &se, val, vlen);
	free(text);
	return rc;
}

int
pcconf_set(const char *path, const char *section, const char *key, const char *val)
{
	struct stat st;
	char tmp[4200], old[256], *text = NULL;
	size_t s = 0, e = 0;
	long se;
	FILE *fp = NULL;
	int fd = -1, rc, found;

	if ((rc = read_all(path, &text, &st)) < 0)
		return rc;
	found = find_key(text, section, key, &s, &e, &se, old, sizeof(old));
	snprintf(tmp, sizeof(tmp), "%s.pcm-agent.tmp", path);
	unlink(tmp);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    st.st_mode & 07777)) < 0) {
		rc = -errno;
		goto out;
	}
	if (fchown(fd, st.st_uid, st.st_gid) < 0 || fchmod(fd, st.st_mode & 07777) < 0) {
		rc = -errno;
		goto out;
	}
	if ((fp = fdopen(fd, "w")) == NULL) {
		rc = -errno;
		goto out;
	}
	fd = -1;
	if (found) {
		fwrite(text, 1, s, fp);
		if (val != NULL)
			fprintf(fp, "%s = %s\n", key, val);
		fputs(text + e, fp);
	} else if (val == NULL) {
		fputs(text, fp);
	} else if (se >= 0) {
		fwrite(text, 1, (size_t)se, fp);
		if (se > 0 && text[se - 1] != '\n')
			fputc('\n', fp);
		fprintf(fp, "%s = %s\n", key, val);
		fputs(text + se, fp);
	} else {
		fputs(text, fp);
		if (text[0] != '\0' && text[strlen(text) - 1] != '\n')
			fputc('\n', fp);
		fprintf(fp, "[%s]\n%s = %s\n", section, key, val);
	}
	if (fflush(fp) != 0 || fsync(fileno(fp)) < 0) {
		rc = -errno;
		goto out;
	}
	if (fclose(fp) != 0) {
		fp = NULL;
		rc = -errno;
		goto out;
	}
	fp = NULL;
	if (rename(tmp, path) < 0) {
		rc = -errno;
		goto out;
	}
	rc = 0;
out:
	if (fp != NULL)
		fclose(fp);
	if (fd >= 0)
		close(fd);
	if (rc < 0)
		unlink(tmp);
	free(text);
	return rc;
}
