/* SPDX-License-Identifier: GPL-2.0-or-later */
/* lock.c - see lock.h */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lock.h"
#include "log.h"

int
mkdir_p(const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1; ; p++) {
		if (*p == '/' || *p == '\0') {
			char c = *p;
			*p = '\0';
			if (mkdir(buf, mode) < 0 && errno != EEXIST)
				return -errno;
			*p = c;
			if (c == '\0')
				break;
		}
	}
	struct stat st;
	if (stat(path, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	return 0;
}

/*
 * state_dir holds the journal that `resume` acts on as root at boot, the
 * lock and the watch daemon's events: a user who can write to it (or to a
 * directory above it, to swap it) can plant a journal or hold the lock.  So
 * it must be ours (root's), a real directory, not writable by group or
 * other, and every directory above it root's (or ours) and not writable by
 * others unless sticky (/tmp).  Not fixed silently: whoever could write there
 * may have left something; the message says what to check and how to fix.
 */
int
lock_check_state_dir(const char *state_dir)
{
	char buf[PATH_MAX];
	struct stat st;
	size_t len = strlen(state_dir);
	int fd;

	if ((fd = open(state_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		int e = errno;
		if (e == ELOOP || e == ENOTDIR)
			log_warnx("state_dir %s is not a directory (a symbolic link?): pcm-agent "
			    "keeps its journal there and acts on it as root; make it a directory, "
			    "mode 0700, owner root", state_dir);
		return -e;
	}
	if (fstat(fd, &st) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	close(fd);
	if (st.st_uid != geteuid()) {
		log_warnx("state_dir %s is owned by uid %lu, not by uid %lu: its owner could plant a "
		    "journal that pcm-agent acts on as root; check what is in it, then "
		    "chown root:root %s; chmod 0700 %s", state_dir, (unsigned long)st.st_uid,
		    (unsigned long)geteuid(), state_dir, state_dir);
		return -EPERM;
	}
	if ((st.st_mode & S_IWOTH) || ((st.st_mode & S_IWGRP) && st.st_gid != 0)) {
		log_warnx("state_dir %s is writable by other users (mode %04o): anyone could plant "
		    "a journal that pcm-agent acts on as root; check what is in it, then "
		    "chmod 0700 %s", state_dir, (unsigned)(st.st_mode & 07777), state_dir);
		return -EPERM;
	}
	if (len == 0 || len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, state_dir, len + 1);
	for (char *slash = strrchr(buf, '/'); slash != NULL; slash = strrchr(buf, '/')) {
		if (slash == buf)
			slash[1] = '\0';	/* "/" itself, last */
		else
			*slash = '\0';
		if (stat(buf, &st) < 0)
			return -errno;
		if ((st.st_uid != 0 && st.st_uid != geteuid()) ||
		    (!(st.st_mode & S_ISVTX) && ((st.st_mode & S_IWOTH) ||
		    ((st.st_mode & S_IWGRP) && st.st_gid != 0)))) {
			log_warnx("state_dir %s is below %s, which other users can change (owner "
			    "uid %lu, mode %04o): they could swap the state directory; use a "
			    "state_dir under directories owned by root", state_dir, buf,
			    (unsigned long)st.st_uid, (unsigned)(st.st_mode & 07777));
			return -EPERM;
		}
		if (slash == buf)
			break;
	}
	return 0;
}

int
lock_acquire(struct pcm_lock *lk, const char *state_dir, const char *what,
    pid_t *holder_pid, char *holder_what, size_t holder_len)
{
	char path[PATH_MAX];
	int fd, rc;

	lk->fd = -1;
	if ((rc = mkdir_p(state_dir, 0700)) < 0 || (rc = lock_check_state_dir(state_dir)) < 0)
		return rc;
	if (snprintf(path, sizeof(path), "%s/lock", state_dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0)
		return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		rc = -errno;
		if (rc == -EWOULDBLOCK && (holder_pid || holder_what)) {
			char buf[256] = "";
			ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
			long pid = 0;
			char w[128] = "";
			if (n > 0) {
				buf[n] = '\0';
				sscanf(buf, "%ld %127s", &pid, w);
			}
			if (holder_pid)
				*holder_pid = (pid_t)pid;
			if (holder_what && holder_len)
				snprintf(holder_what, holder_len, "%s", w);
		}
		close(fd);
		return rc;
	}
	char buf[256];
	int n = snprintf(buf, sizeof(buf), "%ld %s\n", (long)getpid(), what);
	if (ftruncate(fd, 0) == 0 && pwrite(fd, buf, (size_t)n, 0) == n)
		lk->fd = fd;
	else {
		rc = -errno;
		close(fd);
		return rc;
	}
	return 0;
}

void
lock_release(struct pcm_lock *lk)
{
	if (lk == NULL || lk->fd < 0)
		return;
	/* leave the file: unlinking would race with a waiter's open */
	close(lk->fd);
	lk->fd = -1;
}
