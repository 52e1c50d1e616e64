/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * walk.c - file system access that cannot be steered outside a tree.
 *
 * Every open is one name relative to an open directory, with
 * RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS (openat2)
 * and O_NOFOLLOW, so neither a planted symlink nor one swapped in for a
 * directory while we work makes root read or write outside the tree.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "priv.h"

#ifndef SYS_openat2
#define SYS_openat2 437
#endif

static atomic_int no_openat2;

DIR *
dir_stream(int dirfd)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC), e;
	DIR *d;

	if (fd < 0)
		return NULL;
	if ((d = fdopendir(fd)) == NULL) {
		e = errno;
		close(fd);
		errno = e;
	}
	return d;
}

int
safe_openat(int dirfd, const char *name, int flags, mode_t mode, int noxdev)
{
	int fd;

	flags |= O_NOFOLLOW | O_CLOEXEC;
	if (!atomic_load_explicit(&no_openat2, memory_order_relaxed)) {
		struct open_how how = {
			.flags = (uint64_t)flags,
			.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0,
			.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS |
			    (noxdev ? RESOLVE_NO_XDEV : 0),
		};
		fd = (int)syscall(SYS_openat2, dirfd, name, &how, sizeof(how));
		if (fd >= 0)
			return fd;
		if (errno != ENOSYS)
			return -errno;
		atomic_store(&no_openat2, 1);
	}
	/* old kernel: a single component with O_NOFOLLOW is just as safe */
	if (strchr(name, '/') != NULL || strcmp(name, "..") == 0)
		return -EXDEV;
	fd = openat(dirfd, name, flags, mode);
	return fd >= 0 ? fd : -errno;
}

int
safe_open_entry_dir(int rootfd, const struct manifest *mf, size_t i)
{
	size_t *chain = NULL, n = 0;
	int fd = -1, rc;

	if (i >= mf->n || mf->e[i].type != MF_DIR)
		return -ENOTDIR;
	for (size_t j = i; j != 0; j = mf->e[j].parent)
		n++;
	if ((chain = malloc((n + 1) * sizeof(*chain))) == NULL)
		return -ENOMEM;
	n = 0;
	for (size_t j = i; j != 0; j = mf->e[j].parent)
		chain[n++] = j;
	if ((fd = dup(rootfd)) < 0) {
		rc = -errno;
		goto out;
	}
	while (n > 0) {
		int nfd = safe_openat(fd, mf->e[chain[--n]].name, O_RDONLY | O_DIRECTORY, 0, 0);
		close(fd);
		fd = -1;
		if (nfd < 0) {
			rc = nfd;
			goto out;
		}
		fd = nfd;
	}
	rc = fd;
	fd = -1;
out:
	if (fd >= 0)
		close(fd);
	free(chain);
	return rc;
}

static int
ds_push(struct dirstack *ds, uint32_t idx, int fd)
{
	if (ds->n == ds->cap) {
		size_t nc = ds->cap ? ds->cap * 2 : 64;
		void *nv = realloc(ds->v, nc * sizeof(ds->v[0]));
		if (nv == NULL)
			return -ENOMEM;
		ds->v = nv;
		ds->cap = nc;
	}
	ds->v[ds->n].idx = idx;
	ds->v[ds->n].fd = fd;
	ds->n++;
	return 0;
}

int
dirstack_goto(struct dirstack *ds, const struct manifest *mf, uint32_t dir,
    void (*on_pop)(uint32_t idx, int fd, void *arg), void *arg)
{
	uint32_t *chain = NULL, j = dir;
	size_t n = 0, cap = 0, k;
	int rc;

	if (ds->n == 0)
		return -EINVAL;
	if (ds->v[ds->n - 1].idx == dir)
		return ds->v[ds->n - 1].fd;
	/* the deepest ancestor-or-self of dir that is on the stack */
	for (;;) {
		for (k = ds->n; k > 0 && ds->v[k - 1].idx != j; k--)
			;
		if (k > 0)
			break;
		if (j == 0) {
			rc = -EINVAL;	/* entry 0 is always v[0] */
			goto out;
		}
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 32;
			uint32_t *nv = realloc(chain, nc * sizeof(*nv));
			if (nv == NULL) {
				rc = -ENOMEM;
				goto out;
			}
			chain = nv;
			cap = nc;
		}
		chain[n++] = j;
		j = mf->e[j].parent;
	}
	while (ds->n > k) {
		ds->n--;
		if (on_pop)
			on_pop(ds->v[ds->n].idx, ds->v[ds->n].fd, arg);
		else
			close(ds->v[ds->n].fd);
	}
	while (n > 0) {
		uint32_t c = chain[--n];
		int fd = safe_openat(ds->v[ds->n - 1].fd, mf->e[c].name, O_RDONLY | O_DIRECTORY, 0, 0);
		if (fd < 0) {
			rc = fd;
			goto out;
		}
		if (ds_push(ds, c, fd) < 0) {
			close(fd);
			rc = -ENOMEM;
			goto out;
		}
	}
	rc = ds->v[ds->n - 1].fd;
out:
	free(chain);
	return rc;
}

void
dirstack_clear(struct dirstack *ds, void (*on_pop)(uint32_t idx, int fd, void *arg), void *arg)
{
	while (ds->n > 0) {
		ds->n--;
		if (on_pop)
			on_pop(ds->v[ds->n].idx, ds->v[ds->n].fd, arg);
		else
			close(ds->v[ds->n].fd);
	}
	free(ds->v);
	ds->v = NULL;
	ds->cap = 0;
}

void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/*
 * Fault injection for the crash tests: PCM_TEST_CRASH_AT=<point>:<n>
 * raises SIGKILL at the n-th passage of <point>; PCM_TEST_STOP_AT=<point>
 * raises SIGSTOP at its first passage.  Points:
 *   save-checked     after the walk and the free-space check
 *   save-object      after an object's data is written (workers)
 *   save-synced      after syncfs, before the manifest is written
 *   save-manifest    after MANIFEST.tmp is written and fsynced, before rename
 *   save-renamed     after the rename, before old objects are removed
 *   save-gc          after each removal of an unreferenced object
 *   delta-record     after each range of a delta log is written to its object
 *   delta-applied    after a whole log is applied, before it is removed
 *   restore-entry    after each entry is created
 *   restore-file     after a file's data is written (workers)
 *   restore-dirmeta  after a directory's metadata is applied
 */
void
stor_crashpoint(const char *point)
{
	static atomic_long count;
	static const char *env;
	static size_t plen;
	static long at;
	static atomic_int init;

	if (atomic_load(&init) == 0) {
		const char *e = getenv("PCM_TEST_CRASH_AT"), *colon;
		if (e != NULL && (colon = strrchr(e, ':')) != NULL) {
			env = e;
			plen = (size_t)(colon - e);
			at = strtol(colon + 1, NULL, 10);
		}
		atomic_store(&init, 1);
	}
	{
		/* PCM_TEST_STOP_AT=<point>: SIGSTOP at its first passage, so a
		 * test can change the world (fill the target) and SIGCONT */
		static atomic_int stopped;
		const char *st = getenv("PCM_TEST_STOP_AT");
		if (st != NULL && strcmp(st, point) == 0 && atomic_exchange(&stopped, 1) == 0)
			raise(SIGSTOP);
	}
	if (env == NULL || strlen(point) != plen || strncmp(point, env, plen) != 0)
		return;
	if (atomic_fetch_add(&count, 1) + 1 == at)
		raise(SIGKILL);
}
