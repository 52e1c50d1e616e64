/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * storage.h - the storage engine of pcm-agent: find where to save the
 * ephemeral volume, save it, verify the save, restore it.
 *
 * A library: it knows nothing of AWS or Slurm, never exits, never prints
 * on stdout.  Diagnostics about single files (vanished, changed, skipped
 * socket) go through log.h as notices; a failure comes back as -errno
 * with a one-line message in stor_result.errmsg.
 *
 * Layout of a save directory (SAVEDIR = TARGET/pcm-agent/<cluster>/<instance>):
 *   SAVEDIR/MANIFEST        the complete save: every entry with its metadata
 *                           and XXH3-128 checksum, ended by a trailer line
 *                           with the entry count and the checksum of the
 *                           manifest itself.  Written last, fsynced, and put
 *                           in place by rename(): a save is complete exactly
 *                           when MANIFEST exists and its trailer checks out.
 *   SAVEDIR/objects/XX/ID   file data: a large file one object (sparse like
 *                           the source), small files packed many to an
 *                           object; a new save writes new objects and never
 *                           touches the ones the previous MANIFEST refers to
 *                           (but for deltas, redo-logged), so a crash at any
 *                           point leaves the old or the new save complete.
 *                           A save removes by id the objects it replaced;
 *                           after a crashed one (SAVING) the next run scans.
 *                           The format in full: storage/FORMAT.md.
 *   SAVEDIR/lock            flock: one save/restore/verify of SAVEDIR at a time
 *   SAVEDIR/VERIFIED        what the last successful verify re-read (objects
 *                           with their stat, entries with their checksum)
 * Owners, modes, times, xattrs and ACLs live in the manifest, so any target
 * filesystem (EFS has no xattrs) holds an exact save.
 */
#ifndef PCM_STORAGE_H
#define PCM_STORAGE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* ------------------------------------------------------------------ */
/* Mounts: the ephemeral volume and the save targets (libmount)        */

enum stor_fskind {
	STOR_FS_OTHER = 0,	/* a local filesystem we do not classify */
	STOR_FS_EFS,		/* efs, or nfs4 from fs-....efs.... / efs-utils TLS */
	STOR_FS_LUSTRE,		/* FSx for Lustre */
	STOR_FS_NFS,		/* nfs: FSx for OpenZFS / ONTAP, or another NFS server */
	STOR_FS_EBS,		/* ext4/xfs/btrfs on a block device that is not instance store */
	STOR_FS_INSTANCE,	/* a local fs on instance store (not a target) */
	STOR_FS_TMPFS,		/* tmpfs / ramfs (never a target) */
};

struct stor_mount {
	char		*target;	/* mount point */
	char		*source;	/* device or server:/export */
	char		*fstype;
	enum stor_fskind kind;
	int		 is_ephemeral;	/* the mount holding ephemeral_dir */
	int		 is_root;	/* "/" or on the root device */
	int		 candidate;	/* usable as a save target */
	const char	*reason;	/* why not a candidate (static string), or NULL */
	int		 have_space;	/* free/size below are valid (statvfs worked) */
	uint64_t	 size;		/* bytes */
	uint64_t	 free;		/* bytes available to root */
	uint64_t	 used;		/* bytes in use (for the ephemeral volume) */
};

struct stor_mounts {
	struct stor_mount *v;
	size_t		   n;
	struct stor_mount *ephemeral;	/* points into v, or NULL if not a mount */
};

/*
 * Parse a mountinfo file (/proc/self/mountinfo or a test fixture) and
 * classify every mount.  ephemeral_dir is the configured ephemeral dir;
 * allow_root makes the root volume a candidate.  sysfs is where to read
 * block device models (NULL: /sys; a test passes a fake tree).
 * Fills free space with statvfs when the mount point exists.
 * *out is owned by the caller: stor_mounts_free().  0 or -errno.
 */
int stor_mounts_load(const char *mountinfo, const char *ephemeral_dir, int allow_root,
    const char *sysfs, struct stor_mounts **out);
void stor_mounts_free(struct stor_mounts *m);
/* The first candidate with at least `need` bytes free (need 0: any), or NULL. */
const struct stor_mount *stor_mounts_pick(const struct stor_mounts *m, uint64_t need);
/* "efs", "fsx-lustre", "nfs", "ebs", "instance-store", "tmpfs", "other" */
const char *stor_fskind_name(enum stor_fskind k);

/* ------------------------------------------------------------------ */
/* Save, restore, verify                                               */

struct stor_progress {
	uint64_t	bytes_done, bytes_total;
	uint64_t	files_done, files_total;
	double		elapsed;	/* seconds */
};
/* Called from a progress thread about twice a second while work runs. */
typedef void (*stor_progress_fn)(const struct stor_progress *p, void *arg);

struct stor_opts {
	int		 workers;	/* copy threads; 0 = automatic */
	int		 prestage;	/* save while jobs still write: changes are expected */
	uint64_t	 delta_min_size;/* changed files this large get librsync deltas; 0: never */
	const char	*cluster;	/* recorded in the manifest */
	const char	*instance;	/* recorded in the manifest */
	stor_progress_fn progress;
	void		*progress_arg;
	const char	*op_id;		/* restore: names its quarantine (NULL: from the time) */
	const char *const *exclude;	/* save: rsync-style patterns (stor_exclude_check) */
	size_t		 nexclude;
	const char *const *paths;	/* restore: only these subtrees (below the saved */
	size_t		 npaths;	/* root, as stor_list takes them); 0: everything */
};

struct stor_result {
	uint64_t	entries;	/* entries in the manifest */
	uint64_t	files;		/* regular files (inodes) */
	uint64_t	bytes;		/* logical bytes of the regular files */
	uint64_t	files_copied;	/* save: copied; restore: written */
	uint64_t	bytes_copied;
	uint64_t	files_reused;	/* save: unchanged since the previous save */
	uint64_t	files_delta;	/* save: large files updated with a librsync delta */
	uint64_t	bytes_written;	/* save: bytes written to the target (objects, logs) */
	uint64_t	removed;	/* save: entries of the previous save now gone */
	uint64_t	changed;	/* files that changed while being read */
	uint64_t	vanished;	/* entries gone between the walk and the copy */
	uint64_t	skipped;	/* sockets, mount points */
	uint64_t	bad;		/* verify/restore: entries that did not check out */
	uint64_t	files_reread;	/* verify: files whose data was re-read (bytes_copied: their bytes) */
	uint64_t	files_known;	/* incremental verify: verified earlier, only stat'ed */
	uint64_t	quarantined;	/* restore: entries in the way moved aside */
	double		seconds;
	char		errmsg[512];	/* why it failed, when it did */
	char		quarantine[512];/* restore: where they went (DEST/.pcm-agent-quarantine/ID) */
	uint64_t	excluded;	/* save: entries left out (patterns, markers), */
	uint64_t	bytes_excluded;	/* with everything below them; their bytes */
	uint64_t	links_split;	/* restore with paths: hard links whose file is
					 * outside them, restored as a file of their own */
	uint64_t	meta_failed;	/* restore: entries whose owner, mode, xattrs or
					 * times could not all be set (each named in a
					 * warning; the data is restored and verified) */
};

/*
 * Save the tree at `source` into `savedir` (created 0700 if missing).
 * Incremental when savedir holds a complete save.  Returns 0 when a new
 * complete manifest is in place (res->changed tells whether files changed
 * under it), -ENOSPC when the target is too small (errmsg names it and the
 * space needed; the previous save is intact), -EBUSY when another process
 * works on savedir, other -errno.
 */
int stor_save(const char *source, const char *savedir, const struct stor_opts *opts,
    struct stor_result *res);

/* a restore's quarantine, DEST/STOR_QUARANTINE/<op_id>/: root's, never saved
 * nor restored */
#define STOR_QUARANTINE ".pcm-agent-quarantine"

/*
 * Restore the complete save in `savedir` into `dest` (created if missing),
 * checking every object's checksum as it is written.  Entries of dest not
 * in the save are left alone.  Running it again after a crash finishes the
 * job.  dest is hostile (storage/README.md, "Safety as root"): every file
 * is a new inode named once complete, every directory is root 0700 until
 * its children are done, and what is in the way and not root's or the
 * saved owner's is moved into dest/.pcm-agent-quarantine/<opts->op_id>/
 * (res->quarantine, res->quarantined), each named in a warning.  0,
 * -EBADMSG when an object does not match the manifest (res->bad counts
 * them, each named in a warning), -ENOENT when there is no complete save,
 * other -errno.
 *
 * With opts->paths (npaths > 0), only those subtrees (a file, or a
 * directory and everything below it; the union when they overlap) and the
 * directories above them are restored, with the same safety and checks;
 * the directories above get their saved owner, mode and times as in a
 * full restore.  Nothing else in dest is looked at (res->entries, files,
 * bytes count the selection).  A hard link whose file is outside the
 * selection gets a copy of its data (the first such name; other selected
 * names of that file are linked to it): res->links_split.  A path that is
 * not in the save: -ENOENT (errmsg names it) before dest is touched.  A
 * path "/" (or "") is the full restore.
 */
int stor_restore(const char *savedir, const char *dest, const struct stor_opts *opts,
    struct stor_result *res);

/* Re-read every object of the save and check it against the manifest.
 * 0 = verified; -EBADMSG (res->bad, each named in a warning); -ENOENT.
 * On success it records what it checked in SAVEDIR/VERIFIED (not on a
 * read-only target) for stor_verify_incremental.  It never reads VERIFIED. */
int stor_verify(const char *savedir, const struct stor_opts *opts, struct stor_result *res);

/*
 * The same, but an entry that an earlier verify re-read and found good
 * (listed in SAVEDIR/VERIFIED with its object, offset, size and checksum)
 * and whose object still has the inode, size, mtime and ctime it had then
 * is only checked by fstat (it exists, its size fits), not re-read.  New
 * objects, objects updated in place by a delta and replaced objects are
 * re-read.  The manifest trailer is checked as always.  Without a valid
 * VERIFIED it re-reads everything.  What it cannot find: silent damage
 * (bit rot) to the data of an old object since it was verified; stor_verify
 * does.  res->files_reread / bytes_copied: re-read; res->files_known:
 * only stat'ed.  Same return values as stor_verify.
 */
int stor_verify_incremental(const char *savedir, const struct stor_opts *opts,
    struct stor_result *res);

struct stor_save_info {
	int		complete;	/* a MANIFEST with a valid trailer exists */
	int		prestage;	/* it was a --pre-stage save */
	time_t		created;
	uint64_t	entries, files, bytes;
	char		source[256];	/* the directory it was saved from */
	char		cluster[128];
	char		instance[128];
};
/* What save, if any, savedir holds (reads and checks the manifest only;
 * stor_verify re-reads the data).  0 (info->complete says) or -errno. */
int stor_save_info(const char *savedir, struct stor_save_info *info);

/*
 * Does `dir` already hold the content of the save (the reboot case: the
 * instance store survived)?  Compares every entry's type, size, mtime,
 * mode, owner, link target; with deep != 0 also the data checksums.
 * Returns 1 (it does), 0 (it does not: res->bad counts the differences),
 * or -errno.
 */
int stor_dir_matches(const char *savedir, const char *dir, int deep, struct stor_result *res);

/*
 * SAVEDIR for a target: "<target>/pcm-agent/<cluster>/<instance>".
 * Returns a malloc'd string (caller frees) or NULL if a name is unusable
 * (empty, ".", "..", or contains '/').
 */
char *stor_savedir(const char *target, const char *cluster, const char *instance);

/*
 * The save to restore from under `target` for this cluster: the one of
 * `instance` if it holds a complete save, else the only complete save of
 * the cluster (a replaced head node has a new instance id).  *out is malloc'd.
 * 0; -ENOENT (none); -EEXIST (several: errmsg lists them).
 */
int stor_find_save(const char *target, const char *cluster, const char *instance,
    char **out, char *errmsg, size_t errlen);

/*
 * Diagnostics about single entries (level: 0 warning, 1 notice, 2 info).
 * Default: "pcm-agent: warning: MSG" on stderr.  The agent routes them to
 * its log (log.h).  Set before any other call; not thread-safe to change.
 */
void stor_set_logger(void (*fn)(int level, const char *msg));

/* Test hook: PCM_TEST_CRASH_AT=<point>:<n> raises SIGKILL at the n-th
 * passage of the named point (see crash.c for the points). */
void stor_crashpoint(const char *point);

/*
 * Excludes.  stor_exclude_check: is `pattern` a usable exclude pattern?
 * 0, or -EINVAL with err saying why.  Patterns are rsync's: a leading /
 * anchors at the saved root, a trailing / matches directories only, * does
 * not cross /, ** does.  A directory holding `.pcm-agent-exclude` or a
 * CACHEDIR.TAG with the standard signature (owned by root or the
 * directory's owner) is not saved either.
 */
int stor_exclude_check(const char *pattern, char *err, size_t errlen);
/* What a save of source with opts->exclude would leave out, without
 * saving: res->excluded, bytes_excluded (and res->entries, bytes: what it
 * would keep).  0 or -errno (res->errmsg). */
int stor_exclude_scan(const char *source, const struct stor_opts *opts, struct stor_result *res);

/* ------------------------------------------------------------------ */
/* Listing (list.c): read only, no lock                                */

struct stor_ls_entry {
	const char	*path;		/* bytes, below the saved root ("a/b") */
	const char	*target;	/* symlink: its target; hard link: the path of its first name */
	uint64_t	 size;		/* file, hard link: bytes; symlink: target length */
	uint64_t	 rdev;		/* character, block device */
	int64_t		 mtime_s;
	uint32_t	 mtime_ns, uid, gid;
	unsigned	 mode;		/* permission bits, 07777 */
	unsigned	 depth;		/* 1: directly below the listed directory */
	char		 type;		/* d f h l p c b (as in the manifest) */
};
/* Called per entry; a non-zero return stops the listing and is returned. */
typedef int (*stor_ls_fn)(const struct stor_ls_entry *e, void *arg);

/*
 * The entries of the save in savedir at `path` (relative to the saved
 * root, '/'-separated bytes; NULL, "" or "/" the root): a directory's
 * entries (all below it with recursive != 0) in manifest order (pre-order,
 * names sorted bytewise), or the one entry a file is.  0, -ENOENT (no save,
 * or path not in it: errmsg says), -EBADMSG (no complete save), other
 * -errno, or fn's return.
 */
int stor_list(const char *savedir, const char *path, int recursive, stor_ls_fn fn, void *arg,
    char *errmsg, size_t errlen);

struct stor_save_entry {
	const char		*savedir;
	struct stor_save_info	 info;
	time_t			 verified;	/* VERIFIED written (0: never verified) */
	int			 verified_current; /* ... after the current MANIFEST */
};
typedef int (*stor_saves_fn)(const struct stor_save_entry *e, void *arg);

/*
 * Every save under dir: a target (dir/pcm-agent/CLUSTER/INSTANCE/), its
 * pcm-agent/ directory, or one save directory itself; sorted by path.
 * 0, -ENOENT (none: errmsg), other -errno, or fn's return.
 */
int stor_list_saves(const char *dir, stor_saves_fn fn, void *arg, char *errmsg, size_t errlen);

#endif
