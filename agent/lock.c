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

int
lock_acquire(struct pcm_lock *lk, const char *state_dir, const char *what,
    pid_t *holder_pid, char *holder_what, size_t holder_len)
{
	char path[PATH_MAX];
	int fd, rc;

	lk->fd = -1;
	if ((rc = mkdir_p(state_dir, 0700)) < 0)
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
