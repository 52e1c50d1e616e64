/* SPDX-License-Identifier: GPL-2.0-or-later */
/* jobwait.c - see jobwait.h */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pwd.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "jobwait.h"
#include "lock.h"

#define JOBWAIT_MIN_CHECK_MS	200
#define JOBWAIT_DEFAULT_POLL_S	30

struct jobwait {
	int	fd;		/* the FIFO, read-write, non-blocking */
	int	dfd;		/* DIR/jobwait */
	char	name[64];	/* <pid>.<n>.fifo */
	char	path[PATH_MAX + 64];
};

static unsigned jobwait_seq;

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "<pid>.<n>.fifo" -> pid, or 0 if the name is not one of ours */
static pid_t
fifo_owner(const char *name)
{
	char *end;
	unsigned long pid, seq;

	if (name[0] < '1' || name[0] > '9')
		return 0;
	pid = strtoul(name, &end, 10);
	if (*end != '.')
		return 0;
	seq = strtoul(end + 1, &end, 10);
	(void)seq;
	if (strcmp(end, ".fifo") != 0 || pid > INT32_MAX)
		return 0;
	return (pid_t)pid;
}

/* remove the FIFOs of waiters that are gone (killed before jobwait_close) */
static void
remove_stale(int dfd)
{
	int fd = dup(dfd);
	DIR *d;
	struct dirent *de;

	if (fd < 0)
		return;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		pid_t pid = fifo_owner(de->d_name);
		if (pid <= 0 || pid == getpid())
			continue;
		if (kill(pid, 0) < 0 && errno == ESRCH)
			(void)unlinkat(dfd, de->d_name, 0);
	}
	closedir(d);
}

int
jobwait_slurm_user(const char *slurm_conf, char *user, size_t ulen, gid_t *gid)
{
	char line[1024];
	FILE *fp;
	struct passwd *pw;

	*gid = (gid_t)-1;
	snprintf(user, ulen, "root");	/* Slurm's default SlurmUser */
	if (slurm_conf != NULL && (fp = fopen(slurm_conf, "re")) != NULL) {
		while (fgets(line, sizeof(line), fp) != NULL) {
			char *p = line + strspn(line, " \t");
			size_t n;
			if (strncasecmp(p, "SlurmUser", 9) != 0)
				continue;
			p += 9 + strspn(p + 9, " \t");
			if (*p != '=')
				continue;
			p++;
			p += strspn(p, " \t");
			n = strcspn(p, " \t#\r\n");
			if (n > 0 && n < ulen) {
				memcpy(user, p, n);
				user[n] = '\0';
			}
		}
		fclose(fp);
	}
	if ((pw = getpwnam(user)) == NULL)
		return -ENOENT;
	if (pw->pw_uid != 0)
		*gid = pw->pw_gid;
	return 0;
}

int
jobwait_open(const char *dir, struct jobwait **out)
{
	return jobwait_open_for(dir, (gid_t)-1, out);
}

int
jobwait_open_for(const char *dir, gid_t writer_gid, struct jobwait **out)
{
	struct jobwait *jw;
	char sub[PATH_MAX];
	struct stat st;
	int rc;

	*out = NULL;
	if (snprintf(sub, sizeof(sub), "%s/%s", dir, JOBWAIT_SUBDIR) >= (int)sizeof(sub))
		return -ENAMETOOLONG;
	if ((jw = calloc(1, sizeof(*jw))) == NULL)
		return -ENOMEM;
	jw->fd = jw->dfd = -1;
	if ((rc = mkdir_p(dir, 0755)) < 0)
		goto out;
	if (mkdir(sub, 0755) < 0 && errno != EEXIST) {
		rc = -errno;
		goto out;
	}
	/* no symlink, and nobody but us (or root) may own it */
	if ((jw->dfd = open(sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		rc = -errno;
		goto out;
	}
	if (fstat(jw->dfd, &st) < 0) {
		rc = -errno;
		goto out;
	}
	if (st.st_uid != geteuid() && st.st_uid != 0) {
		rc = -EPERM;
		goto out;
	}
	/* the notifier (SlurmUser) must reach it whatever the umask said */
	if ((st.st_mode & 0777) != 0755 && st.st_uid == geteuid() && fchmod(jw->dfd, 0755) < 0) {
		rc = -errno;
		goto out;
	}
	remove_stale(jw->dfd);

	snprintf(jw->name, sizeof(jw->name), "%ld.%u.fifo", (long)getpid(),
	    __atomic_fetch_add(&jobwait_seq, 1, __ATOMIC_RELAXED));
	(void)unlinkat(jw->dfd, jw->name, 0);
	if (mkfifoat(jw->dfd, jw->name, 0600) < 0) {
		rc = -errno;
		goto out;
	}
	/* read-write: the FIFO always has a writer, so poll never reports
	 * a hang-up after a notifier closed its end */
	jw->fd = openat(jw->dfd, jw->name, O_RDWR | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
	if (jw->fd < 0) {
		rc = -errno;
		(void)unlinkat(jw->dfd, jw->name, 0);
		goto out;
	}
	/*
	 * Who may write: a write wakes the waiter (it then asks Slurm, and a
	 * flood keeps it busy), so not every user.  The hook that writes runs
	 * as SlurmUser ("slurm" on ParallelCluster, root on a plain install):
	 * root-owned, group SlurmUser's primary group, 0620; 0600 when
	 * SlurmUser is root (writer_gid -1).  Ownership first, then the mode.
	 */
	if (fstat(jw->fd, &st) < 0 ||
	    (writer_gid != (gid_t)-1 && fchown(jw->fd, (uid_t)-1, writer_gid) < 0) ||
	    fchmod(jw->fd, writer_gid != (gid_t)-1 ? 0620 : 0600) < 0) {
		rc = -errno;
		(void)unlinkat(jw->dfd, jw->name, 0);
		goto out;
	}
	if (!S_ISFIFO(st.st_mode)) {
		rc = -EINVAL;
		(void)unlinkat(jw->dfd, jw->name, 0);
		goto out;
	}
	snprintf(jw->path, sizeof(jw->path), "%s/%s", sub, jw->name);
	*out = jw;
	jw = NULL;
	rc = 0;
out:
	if (jw != NULL) {
		if (jw->fd >= 0)
			close(jw->fd);
		if (jw->dfd >= 0)
			close(jw->dfd);
		free(jw);
	}
	return rc;
}

void
jobwait_close(struct jobwait *jw)
{
	if (jw == NULL)
		return;
	(void)unlinkat(jw->dfd, jw->name, 0);
	close(jw->fd);
	close(jw->dfd);
	free(jw);
}

const char *
jobwait_fifo_path(const struct jobwait *jw)
{
	return jw->path;
}

int
jobwait_fd(const struct jobwait *jw)
{
	return jw->fd;
}

/* read everything pending; count lines, remember the last job id */
static int
drain(struct jobwait *jw, uint32_t *jobid)
{
	char buf[4096];
	int count = 0;
	ssize_t n;

	for (;;) {
		n = read(jw->fd, buf, sizeof(buf));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			return -errno;
		}
		if (n == 0)
			break;
		/* messages are "JOBID\n", written whole (< PIPE_BUF) */
		char *p = buf, *end = buf + n;
		while (p < end) {
			char *nl = memchr(p, '\n', (size_t)(end - p));
			if (nl == NULL)
				nl = end;
			uint32_t id = 0;
			int ok = nl > p && nl - p <= 10;
			for (char *q = p; ok && q < nl; q++) {
				if (*q < '0' || *q > '9')
					ok = 0;
				else
					id = id * 10 + (uint32_t)(*q - '0');
			}
			count++;
			*jobid = ok ? id : 0;
			p = nl + 1;
		}
	}
	return count;
}

int
jobwait_next(struct jobwait *jw, int timeout_ms, uint32_t *jobid)
{
	struct pollfd pfd = { .fd = jw->fd, .events = POLLIN };
	int rc;

	*jobid = 0;
	rc = poll(&pfd, 1, timeout_ms);
	if (rc < 0)
		return -errno;
	if (rc == 0)
		return 0;
	if (pfd.revents & (POLLERR | POLLNVAL))
		return -EIO;
	return drain(jw, jobid);
}

int
jobwait_until(struct jobwait *jw, jobwait_check_fn check, void *arg, int timeout_s,
    int poll_interval_s, struct jobwait_stats *stats)
{
	struct jobwait_stats local;
	int64_t start = now_ms(), deadline, next_poll, last_check;
	int r;

	if (stats == NULL)
		stats = &local;
	memset(stats, 0, sizeof(*stats));
	if (poll_interval_s <= 0)
		poll_interval_s = JOBWAIT_DEFAULT_POLL_S;
	deadline = timeout_s > 0 ? start + (int64_t)timeout_s * 1000 : INT64_MAX;

	stats->checks++;
	if ((r = check(arg, 0)) != 0)
		return r < 0 ? r : 0;
	last_check = now_ms();
	next_poll = last_check + (int64_t)poll_interval_s * 1000;

	for (;;) {
		int64_t now = now_ms();
		int64_t until = next_poll < deadline ? next_poll : deadline;
		int64_t wait = until > now ? until - now : 0;
		uint32_t id = 0;
		int n;

		if (wait > INT32_MAX)
			wait = INT32_MAX;
		n = jobwait_next(jw, (int)wait, &id);
		if (n < 0)
			return n;
		now = now_ms();
		if (n > 0) {
			stats->notifications += (unsigned)n;
			if (id != 0)
				stats->last_jobid = id;
			/* a burst of epilogs: one check, not one each */
			if (now - last_check < JOBWAIT_MIN_CHECK_MS) {
				struct timespec ts = { 0, (long)(JOBWAIT_MIN_CHECK_MS -
				    (now - last_check)) * 1000000L };
				nanosleep(&ts, NULL);
				uint32_t more = 0;
				int m = jobwait_next(jw, 0, &more);
				if (m > 0) {
					stats->notifications += (unsigned)m;
					if (more != 0)
						stats->last_jobid = more;
				}
			}
			stats->checks++;
			stats->done_by_notify = 1;
			r = check(arg, stats->last_jobid);
		} else if (now >= deadline) {
			/* one last look before giving up */
			stats->checks++;
			stats->done_by_notify = 0;
			r = check(arg, 0);
			if (r == 0)
				return -ETIMEDOUT;
		} else if (now >= next_poll) {
			stats->checks++;
			stats->done_by_notify = 0;
			r = check(arg, 0);
		} else {
			continue;
		}
		if (r != 0)
			return r < 0 ? r : 0;
		last_check = now_ms();
		if (n == 0)
			next_poll = last_check + (int64_t)poll_interval_s * 1000;
	}
}

int
jobwait_notify(const char *dir, uint32_t jobid)
{
	char sub[PATH_MAX], msg[16];
	struct sigaction ign = { .sa_handler = SIG_IGN }, old;
	struct dirent *de;
	DIR *d;
	int dfd, told = 0, len;

	if (snprintf(sub, sizeof(sub), "%s/%s", dir, JOBWAIT_SUBDIR) >= (int)sizeof(sub))
		return -ENAMETOOLONG;
	if ((dfd = open(sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return errno == ENOENT ? 0 : -errno;
	if ((d = fdopendir(dfd)) == NULL) {
		int rc = -errno;
		close(dfd);
		return rc;
	}
	len = snprintf(msg, sizeof(msg), "%" PRIu32 "\n", jobid);
	/* a waiter that goes away between our open and write: EPIPE, not death */
	sigemptyset(&ign.sa_mask);
	sigaction(SIGPIPE, &ign, &old);
	while ((de = readdir(d)) != NULL) {
		struct stat st;
		int fd;

		if (fifo_owner(de->d_name) <= 0)
			continue;
		if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISFIFO(st.st_mode))
			continue;
		/* ENXIO: nobody holds it open for reading; skip it */
		fd = openat(dfd, de->d_name, O_WRONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC |
		    O_NOCTTY);
		if (fd < 0)
			continue;
		if (fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode)) {
			/* EAGAIN: the pipe is full, the waiter has wake-ups to read */
			if (write(fd, msg, (size_t)len) == len || errno == EAGAIN)
				told++;
		}
		close(fd);
	}
	sigaction(SIGPIPE, &old, NULL);
	closedir(d);
	return told;
}
