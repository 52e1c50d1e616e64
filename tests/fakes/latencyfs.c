/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * latencyfs - a network-filesystem stand-in for the tests and the bench: a
 * multithreaded libfuse3 passthrough that delays every operation.
 *
 *   latencyfs [--delay-us=N] [--mib-us=N] [--counts=FILE] [--pidfile=FILE]
 *             [--xattrs] [--writeback] [-o fuse-options] SOURCE MOUNTPOINT
 *
 * SOURCE may be MOUNTPOINT itself (it is opened before the mount covers it).
 * Every metadata operation (lookup, getattr, create, open, mkdir, unlink,
 * rename, fsync, readdir, setattr, xattrs, ...) sleeps --delay-us (default
 * 1000: one EFS-like round trip).  Reads and writes also sleep that, and
 * move their bytes through one shared link of --mib-us microseconds per MiB
 * (default 0: no cap; 2000 = 500 MiB/s), a throughput cap over all threads.
 * --writeback turns on the kernel's write-back cache (writes are sent in
 * large requests at close, fsync or memory pressure, as an NFS client
 * does); without it every write(2) is a round trip.
 * Like EFS it has no xattrs unless --xattrs (without, the kernel asks once,
 * not for security.capability on every write).  The high-level API has no
 * lookup: the kernel's lookups arrive (and are counted) as getattr.
 * Operations are counted by kind; the counts go to --counts FILE (default
 * stderr) on SIGUSR1 and at exit, as "kind count" lines and a "total" line.
 * It runs in the foreground: stop it with fusermount3 -u or SIGTERM.
 * A test fake, run as root by the tests only: it follows no rule of the
 * agent's own code about hostile trees.
 */
#define FUSE_USE_VERSION 35
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

enum op {
	OP_GETATTR, OP_READLINK, OP_MKNOD, OP_MKDIR, OP_UNLINK, OP_RMDIR, OP_SYMLINK,
	OP_RENAME, OP_LINK, OP_CHMOD, OP_CHOWN, OP_TRUNCATE, OP_OPEN, OP_READ, OP_WRITE,
	OP_STATFS, OP_FLUSH, OP_RELEASE, OP_FSYNC, OP_SETXATTR, OP_GETXATTR, OP_LISTXATTR,
	OP_REMOVEXATTR, OP_OPENDIR, OP_READDIR, OP_RELEASEDIR, OP_FSYNCDIR, OP_ACCESS,
	OP_CREATE, OP_UTIMENS, OP_FALLOCATE, OP_LSEEK, OP_COPY_FILE_RANGE, OP_N
};
static const char *const op_names[OP_N] = {
	"getattr", "readlink", "mknod", "mkdir", "unlink", "rmdir", "symlink",
	"rename", "link", "chmod", "chown", "truncate", "open", "read", "write",
	"statfs", "flush", "release", "fsync", "setxattr", "getxattr", "listxattr",
	"removexattr", "opendir", "readdir", "releasedir", "fsyncdir", "access",
	"create", "utimens", "fallocate", "lseek", "copy_file_range",
};

static atomic_ullong counts[OP_N];
static atomic_ullong bytes_read, bytes_written;
static long delay_us = 1000, mib_us;
static const char *counts_path;
static int basefd = -1, writeback;
/* the shared link: when it is next free (CLOCK_MONOTONIC ns) */
static pthread_mutex_t link_mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned long long link_free_ns;

static unsigned long long
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec;
}

static void
sleep_until(unsigned long long t)
{
	struct timespec ts = { .tv_sec = (time_t)(t / 1000000000ull),
	    .tv_nsec = (long)(t % 1000000000ull) };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

/* one round trip */
static void
op(enum op k)
{
	atomic_fetch_add(&counts[k], 1);
	if (delay_us > 0)
		sleep_until(now_ns() + (unsigned long long)delay_us * 1000ull);
}

/* bytes through the shared link: wait for its slot */
static void
transfer(size_t n)
{
	unsigned long long cost, now, end;

	if (mib_us <= 0 || n == 0)
		return;
	cost = (unsigned long long)n * (unsigned long long)mib_us * 1000ull / (1024 * 1024);
	pthread_mutex_lock(&link_mu);
	now = now_ns();
	if (link_free_ns < now)
		link_free_ns = now;
	link_free_ns += cost;
	end = link_free_ns;
	pthread_mutex_unlock(&link_mu);
	sleep_until(end);
}

static void
write_counts(void)
{
	unsigned long long total = 0;
	FILE *f = stderr;
	char tmp[PATH_MAX];
	int i;

	if (counts_path) {
		snprintf(tmp, sizeof(tmp), "%s.tmp", counts_path);
		if ((f = fopen(tmp, "w")) == NULL) {
			fprintf(stderr, "latencyfs: cannot write %s: %s\n", tmp, strerror(errno));
			return;
		}
	}
	for (i = 0; i < OP_N; i++) {
		unsigned long long c = atomic_load(&counts[i]);

		total += c;
		if (c)
			fprintf(f, "%s %llu\n", op_names[i], c);
	}
	fprintf(f, "total %llu\nbytes_read %llu\nbytes_written %llu\n", total,
	    (unsigned long long)atomic_load(&bytes_read),
	    (unsigned long long)atomic_load(&bytes_written));
	if (counts_path) {
		fclose(f);
		if (rename(tmp, counts_path) != 0)
			fprintf(stderr, "latencyfs: cannot rename %s: %s\n", tmp, strerror(errno));
	} else {
		fflush(f);
	}
}

static void *
usr1_thread(void *arg)
{
	sigset_t *set = arg;
	int sig;

	for (;;)
		if (sigwait(set, &sig) == 0 && sig == SIGUSR1)
			write_counts();
	return NULL;
}

/* the path relative to SOURCE */
static const char *
rel(const char *path)
{
	while (*path == '/')
		path++;
	return *path ? path : ".";
}

#define RET(x) return (x) < 0 ? -errno : 0

static void *
lfs_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	/* --writeback: the kernel caches writes and sends them in large
	 * requests at close/fsync, as an NFS client does */
	if (writeback && (conn->capable & FUSE_CAP_WRITEBACK_CACHE))
		conn->want |= FUSE_CAP_WRITEBACK_CACHE;
	cfg->use_ino = 1;	/* inode numbers pass through (hard links, incremental saves) */
	cfg->nullpath_ok = 1;
	return NULL;
}

static int
lfs_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	op(OP_GETATTR);
	if (fi)
		RET(fstat((int)fi->fh, st));
	RET(fstatat(basefd, rel(path), st, AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH));
}

static int
lfs_access(const char *path, int mask)
{
	op(OP_ACCESS);
	RET(faccessat(basefd, rel(path), mask, AT_SYMLINK_NOFOLLOW));
}

static int
lfs_readlink(const char *path, char *buf, size_t size)
{
	ssize_t n;

	op(OP_READLINK);
	if ((n = readlinkat(basefd, rel(path), buf, size - 1)) < 0)
		return -errno;
	buf[n] = '\0';
	return 0;
}

struct dh {
	DIR *d;
};

static int
lfs_opendir(const char *path, struct fuse_file_info *fi)
{
	struct dh *h;
	int fd;

	op(OP_OPENDIR);
	if ((fd = openat(basefd, rel(path), O_RDONLY | O_DIRECTORY | O_NOFOLLOW)) < 0)
		return -errno;
	if ((h = calloc(1, sizeof(*h))) == NULL || (h->d = fdopendir(fd)) == NULL) {
		int e = h ? errno : ENOMEM;

		free(h);
		close(fd);
		return -e;
	}
	fi->fh = (uint64_t)(uintptr_t)h;
	return 0;
}

static int
lfs_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t off,
    struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	struct dh *h = (struct dh *)(uintptr_t)fi->fh;
	struct dirent *e;

	(void)path;
	(void)off;
	(void)flags;
	op(OP_READDIR);
	/* whole directory in one call (offset 0 to the filler): the kernel
	 * asks again only if the buffer filled */
	rewinddir(h->d);
	errno = 0;
	while ((e = readdir(h->d)) != NULL) {
		struct stat st = { .st_ino = e->d_ino, .st_mode = (mode_t)DTTOIF(e->d_type) };

		if (filler(buf, e->d_name, &st, 0, 0))
			break;
	}
	return errno ? -errno : 0;
}

static int
lfs_releasedir(const char *path, struct fuse_file_info *fi)
{
	struct dh *h = (struct dh *)(uintptr_t)fi->fh;

	(void)path;
	op(OP_RELEASEDIR);
	closedir(h->d);
	free(h);
	return 0;
}

static int
lfs_fsyncdir(const char *path, int datasync, struct fuse_file_info *fi)
{
	struct dh *h = (struct dh *)(uintptr_t)fi->fh;

	(void)path;
	op(OP_FSYNCDIR);
	RET(datasync ? fdatasync(dirfd(h->d)) : fsync(dirfd(h->d)));
}

static int
lfs_mknod(const char *path, mode_t mode, dev_t rdev)
{
	op(OP_MKNOD);
	RET(mknodat(basefd, rel(path), mode, rdev));
}

static int
lfs_mkdir(const char *path, mode_t mode)
{
	op(OP_MKDIR);
	RET(mkdirat(basefd, rel(path), mode));
}

static int
lfs_unlink(const char *path)
{
	op(OP_UNLINK);
	RET(unlinkat(basefd, rel(path), 0));
}

static int
lfs_rmdir(const char *path)
{
	op(OP_RMDIR);
	RET(unlinkat(basefd, rel(path), AT_REMOVEDIR));
}

static int
lfs_symlink(const char *target, const char *path)
{
	op(OP_SYMLINK);
	RET(symlinkat(target, basefd, rel(path)));
}

static int
lfs_rename(const char *from, const char *to, unsigned int flags)
{
	op(OP_RENAME);
	RET(renameat2(basefd, rel(from), basefd, rel(to), flags));
}

static int
lfs_link(const char *from, const char *to)
{
	op(OP_LINK);
	RET(linkat(basefd, rel(from), basefd, rel(to), 0));
}

static int
lfs_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	op(OP_CHMOD);
	if (fi)
		RET(fchmod((int)fi->fh, mode));
	RET(fchmodat(basefd, rel(path), mode, 0));
}

static int
lfs_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
	op(OP_CHOWN);
	if (fi)
		RET(fchown((int)fi->fh, uid, gid));
	RET(fchownat(basefd, rel(path), uid, gid, AT_SYMLINK_NOFOLLOW));
}

static int
lfs_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	int fd, rc;

	op(OP_TRUNCATE);
	if (fi)
		RET(ftruncate((int)fi->fh, size));
	if ((fd = openat(basefd, rel(path), O_WRONLY | O_NOFOLLOW)) < 0)
		return -errno;
	rc = ftruncate(fd, size) < 0 ? -errno : 0;
	close(fd);
	return rc;
}

static int
lfs_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi)
{
	op(OP_UTIMENS);
	if (fi)
		RET(futimens((int)fi->fh, tv));
	RET(utimensat(basefd, rel(path), tv, AT_SYMLINK_NOFOLLOW));
}

static int
lfs_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	int fd;

	op(OP_CREATE);
	if ((fd = openat(basefd, rel(path), (fi->flags & ~O_DIRECT) | O_CREAT | O_NOFOLLOW,
	    mode)) < 0)
		return -errno;
	fi->fh = (uint64_t)fd;
	return 0;
}

static int
lfs_open(const char *path, struct fuse_file_info *fi)
{
	int fd;

	op(OP_OPEN);
	/* O_DIRECT would need aligned buffers through FUSE: the kernel side
	 * keeps its semantics (fi->direct_io), the backing file is buffered */
	if ((fd = openat(basefd, rel(path), (fi->flags & ~O_DIRECT) | O_NOFOLLOW)) < 0)
		return -errno;
	fi->fh = (uint64_t)fd;
	return 0;
}

static int
lfs_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	ssize_t n;

	(void)path;
	op(OP_READ);
	if ((n = pread((int)fi->fh, buf, size, off)) < 0)
		return -errno;
	atomic_fetch_add(&bytes_read, (unsigned long long)n);
	transfer((size_t)n);
	return (int)n;
}

static int
lfs_write(const char *path, const char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	ssize_t n;

	(void)path;
	op(OP_WRITE);
	transfer(size);
	if ((n = pwrite((int)fi->fh, buf, size, off)) < 0)
		return -errno;
	atomic_fetch_add(&bytes_written, (unsigned long long)n);
	return (int)n;
}

static int
lfs_statfs(const char *path, struct statvfs *sv)
{
	(void)path;
	op(OP_STATFS);
	RET(fstatvfs(basefd, sv));
}

static int
lfs_flush(const char *path, struct fuse_file_info *fi)
{
	(void)path;
	(void)fi;
	op(OP_FLUSH);
	return 0;
}

static int
lfs_release(const char *path, struct fuse_file_info *fi)
{
	(void)path;
	atomic_fetch_add(&counts[OP_RELEASE], 1);	/* asynchronous: no round trip waited on */
	close((int)fi->fh);
	return 0;
}

static int
lfs_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	(void)path;
	op(OP_FSYNC);
	RET(datasync ? fdatasync((int)fi->fh) : fsync((int)fi->fh));
}

static int
lfs_fallocate(const char *path, int mode, off_t off, off_t len, struct fuse_file_info *fi)
{
	(void)path;
	op(OP_FALLOCATE);
	RET(fallocate((int)fi->fh, mode, off, len));
}

static off_t
lfs_lseek(const char *path, off_t off, int whence, struct fuse_file_info *fi)
{
	off_t r;

	(void)path;
	op(OP_LSEEK);
	r = lseek((int)fi->fh, off, whence);
	return r < 0 ? -errno : r;
}

static ssize_t
lfs_copy_file_range(const char *pin, struct fuse_file_info *fin, off_t oin, const char *pout,
    struct fuse_file_info *fout, off_t oout, size_t len, int flags)
{
	ssize_t n;

	(void)pin;
	(void)pout;
	op(OP_COPY_FILE_RANGE);
	n = copy_file_range((int)fin->fh, &oin, (int)fout->fh, &oout, len, (unsigned)flags);
	return n < 0 ? -errno : n;
}

/* xattrs by path: through /proc/self/fd of an O_PATH|O_NOFOLLOW fd, with
 * the calls that follow a link (the magic link leads to the inode itself,
 * a symlink's too; the l* calls would act on the /proc link and fail) */
static int
xpath(const char *path, char *buf, size_t size, int *fd)
{
	if ((*fd = openat(basefd, rel(path), O_PATH | O_NOFOLLOW)) < 0)
		return -errno;
	snprintf(buf, size, "/proc/self/fd/%d", *fd);
	return 0;
}

static int
lfs_setxattr(const char *path, const char *name, const char *value, size_t size, int flags)
{
	char p[64];
	int fd, rc;

	op(OP_SETXATTR);
	if ((rc = xpath(path, p, sizeof(p), &fd)) < 0)
		return rc;
	rc = setxattr(p, name, value, size, flags) < 0 ? -errno : 0;
	close(fd);
	return rc;
}

static int
lfs_getxattr(const char *path, const char *name, char *value, size_t size)
{
	char p[64];
	ssize_t n;
	int fd, rc;

	op(OP_GETXATTR);
	if ((rc = xpath(path, p, sizeof(p), &fd)) < 0)
		return rc;
	n = getxattr(p, name, value, size);
	rc = n < 0 ? -errno : (int)n;
	close(fd);
	return rc;
}

static int
lfs_listxattr(const char *path, char *list, size_t size)
{
	char p[64];
	ssize_t n;
	int fd, rc;

	op(OP_LISTXATTR);
	if ((rc = xpath(path, p, sizeof(p), &fd)) < 0)
		return rc;
	n = listxattr(p, list, size);
	rc = n < 0 ? -errno : (int)n;
	close(fd);
	return rc;
}

static int
lfs_removexattr(const char *path, const char *name)
{
	char p[64];
	int fd, rc;

	op(OP_REMOVEXATTR);
	if ((rc = xpath(path, p, sizeof(p), &fd)) < 0)
		return rc;
	rc = removexattr(p, name) < 0 ? -errno : 0;
	close(fd);
	return rc;
}

static struct fuse_operations lfs_ops = {
	.init = lfs_init,
	.getattr = lfs_getattr,
	.access = lfs_access,
	.readlink = lfs_readlink,
	.opendir = lfs_opendir,
	.readdir = lfs_readdir,
	.releasedir = lfs_releasedir,
	.fsyncdir = lfs_fsyncdir,
	.mknod = lfs_mknod,
	.mkdir = lfs_mkdir,
	.unlink = lfs_unlink,
	.rmdir = lfs_rmdir,
	.symlink = lfs_symlink,
	.rename = lfs_rename,
	.link = lfs_link,
	.chmod = lfs_chmod,
	.chown = lfs_chown,
	.truncate = lfs_truncate,
	.utimens = lfs_utimens,
	.create = lfs_create,
	.open = lfs_open,
	.read = lfs_read,
	.write = lfs_write,
	.statfs = lfs_statfs,
	.flush = lfs_flush,
	.release = lfs_release,
	.fsync = lfs_fsync,
	.fallocate = lfs_fallocate,
	.lseek = lfs_lseek,
	.copy_file_range = lfs_copy_file_range,
};

static int
usage(void)
{
	fprintf(stderr, "usage: latencyfs [--delay-us=N] [--mib-us=N] [--counts=FILE] "
	    "[--pidfile=FILE] [--xattrs] [--writeback] [-o opt,...] SOURCE MOUNTPOINT\n");
	return 2;
}

static int
num(const char *s, long *out)
{
	char *end;

	errno = 0;
	*out = strtol(s, &end, 10);
	return errno || *end || end == s || *out < 0 ? -1 : 0;
}

int
main(int argc, char **argv)
{
	char **fargv = calloc((size_t)argc + 8, sizeof(char *));
	const char *source = NULL, *pidfile = NULL;
	pthread_t th;
	sigset_t set;
	int i, fargc = 0, rc;

	if (fargv == NULL)
		return 1;
	fargv[fargc++] = argv[0];
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strncmp(a, "--delay-us=", 11) == 0) {
			if (num(a + 11, &delay_us))
				return usage();
		} else if (strncmp(a, "--mib-us=", 9) == 0) {
			if (num(a + 9, &mib_us))
				return usage();
		} else if (strncmp(a, "--counts=", 9) == 0) {
			counts_path = a + 9;
		} else if (strcmp(a, "--writeback") == 0) {
			writeback = 1;
		} else if (strcmp(a, "--xattrs") == 0) {
			lfs_ops.setxattr = lfs_setxattr;
			lfs_ops.getxattr = lfs_getxattr;
			lfs_ops.listxattr = lfs_listxattr;
			lfs_ops.removexattr = lfs_removexattr;
		} else if (strncmp(a, "--pidfile=", 10) == 0) {
			pidfile = a + 10;
		} else if (strcmp(a, "-o") == 0 && i + 1 < argc) {
			fargv[fargc++] = argv[i++];
			fargv[fargc++] = argv[i];
		} else if (a[0] == '-') {
			return usage();
		} else if (source == NULL) {
			source = a;
		} else {
			fargv[fargc++] = argv[i];	/* the mount point */
		}
	}
	if (source == NULL || fargc < 2 || fargv[fargc - 1][0] == '-')
		return usage();
	/* opened before the mount, so SOURCE may be MOUNTPOINT */
	if ((basefd = open(source, O_RDONLY | O_DIRECTORY)) < 0) {
		fprintf(stderr, "latencyfs: cannot open %s: %s\n", source, strerror(errno));
		return 1;
	}
	fargv[fargc++] = "-f";	/* foreground: the pid the test stops is ours */
	/* a save runs up to 32 workers: let as many requests wait at once */
	fargv[fargc++] = "-o";
	fargv[fargc++] = "max_threads=128,max_idle_threads=128,fsname=latencyfs,subtype=latencyfs";
	if (pidfile) {
		FILE *f = fopen(pidfile, "w");

		if (f == NULL) {
			fprintf(stderr, "latencyfs: cannot write %s: %s\n", pidfile, strerror(errno));
			return 1;
		}
		fprintf(f, "%ld\n", (long)getpid());
		fclose(f);
	}
	/* SIGUSR1 goes to one thread, created before fuse's */
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (pthread_create(&th, NULL, usr1_thread, &set) != 0)
		return 1;
	rc = fuse_main(fargc, fargv, &lfs_ops, NULL);
	write_counts();
	return rc;
}
