/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * priv.h - internals shared by the storage engine's files (not installed,
 * not for callers outside storage/ except the unit tests and the fuzzer).
 */
#ifndef PCM_STORAGE_PRIV_H
#define PCM_STORAGE_PRIV_H

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "storage.h"

/* ------------------------------------------------------------------ */
/* Manifest (manifest.c)                                               */

enum mf_type {
	MF_DIR = 'd',
	MF_FILE = 'f',
	MF_HARDLINK = 'h',	/* another name of an earlier 'f' (link = its index) */
	MF_SYMLINK = 'l',
	MF_FIFO = 'p',
	MF_CHR = 'c',
	MF_BLK = 'b',
};

#define MF_F_CHANGED	0x1	/* changed while it was read: the next save copies it again */
#define MF_F_HASH2	0x2	/* hash is the version 2 checksum (holes not hashed: copy.c) */

struct mf_xattr {
	char	*name;		/* NUL-terminated */
	void	*value;
	size_t	 len;
};

struct mf_entry {			/* 112 bytes: 200k files fit in 64 MiB, twice */
	char		*name;		/* bytes, NUL-terminated (names hold no NUL); "." for entry 0 */
	struct mf_xattr	*xattrs;
	union {				/* by type: */
		char	*target;	/* MF_SYMLINK: its target, malloc'd */
		uint64_t rdev;		/* MF_CHR, MF_BLK */
		uint64_t off;		/* packed MF_FILE: where its data starts in object obj */
		uint32_t link;		/* MF_HARDLINK: index of the 'f' entry */
	};
	int64_t		 mtime_s, ctime_s;
	uint64_t	 size;
	uint64_t	 ino;		/* source inode (incremental check) */
	uint64_t	 obj;		/* object id, 0 = none (empty file) */
	unsigned char	 hash[16];	/* XXH3-128 of the data, canonical (big-endian) */
	uint32_t	 parent;	/* index of the directory holding it (0 for entry 0) */
	uint32_t	 uid, gid;
	uint32_t	 mtime_ns, ctime_ns;
	uint16_t	 mode;		/* permission bits, 07777 */
	uint16_t	 nxattrs;
	uint16_t	 wflags;	/* working flags of save/restore, not stored */
	uint8_t		 type;		/* enum mf_type */
	uint8_t		 flags;		/* MF_F_* */
	uint8_t		 packed;	/* small file stored in a pack (OBJ written ID@OFF) */
};

struct manifest {
	struct mf_entry	*e;
	size_t		 n, cap;
	uint64_t	 next_obj;	/* first object id not yet used */
	uint64_t	 gen;		/* generation: +1 per save (delta logs carry it) */
	int64_t		 created;
	int		 prestage;
	char		*source, *cluster, *instance;
	/* lookup by (parent, name), built on demand by mf_index() */
	uint32_t	*htab;
	size_t		 hsize;
	/* the entries' names live in chunks here, not in a malloc each */
	struct mf_chunk	*names;
};

struct manifest *mf_new(void);
void mf_free(struct manifest *mf);
/* Append an entry; the manifest takes ownership of e's name (copied into
 * its name chunks and freed), target and xattrs.
 * Returns the new index, or -ENOMEM (then it frees them). */
long mf_add(struct manifest *mf, struct mf_entry *e);
/* Room for n entries in all (a hint: avoids growing). 0 or -ENOMEM. */
int mf_reserve(struct manifest *mf, size_t n);
void mf_entry_clear(struct mf_entry *e);

/* Write the manifest text to fp (entries with wflags & MF_W_DROP are
 * left out and the indexes renumbered).  0 or -errno. */
#define MF_W_DROP	0x8000
int mf_write(struct manifest *mf, FILE *fp);

/* Write SAVEDIR/MANIFEST.tmp and fsync it (0 or -errno); then mf_commit()
 * renames it to MANIFEST and fsyncs the directory. */
int mf_write_tmp(int savefd, struct manifest *mf);
int mf_commit(int savefd);

/*
 * Parse a manifest.  Checks everything: the header, every field, that a
 * parent is an earlier directory on the current path (pre-order), that a
 * hardlink names an earlier file, that names are single components, and
 * the trailer (entry count and checksum of the text).  On error returns
 * -EBADMSG (or -ENOMEM / -errno) with a message "line N: why" in err.
 * *out is owned by the caller (mf_free).
 */
int mf_read(FILE *fp, struct manifest **out, char *err, size_t errlen);
int mf_read_buf(const void *buf, size_t len, struct manifest **out, char *err, size_t errlen);
/* Read SAVEDIR/MANIFEST relative to a directory fd. -ENOENT if none. */
int mf_load(int savefd, struct manifest **out, char *err, size_t errlen);

/*
 * The previous save's MANIFEST beside a save's walk, without holding it in
 * memory (2M entries are 240 MiB).  mf_stream_open reads and checks all of
 * it as mf_load does (pass 1), giving every entry to visit (which returns
 * 0, or <0 to stop with that error), then reads it again one entry at a
 * time as mf_stream_find asks (pass 2).  The walk asks for the children of
 * a directory in the order the save writes them (strcmp of the names, in
 * pre-order), so the stream only moves forward: mf_stream_find(dir, depth,
 * name) returns the child `name` of old directory `dir` (at depth `depth`,
 * the root 0) and its index, or NULL; the entry is valid until the next
 * call (its xattrs may be taken).  A manifest whose siblings are not in
 * that order (mf_stream_sorted 0: not written by pcm-agent) finds nothing.
 */
struct mf_stream;
int mf_stream_open(int savefd, int (*visit)(const struct mf_entry *e, void *arg), void *arg,
    struct mf_stream **out, char *err, size_t errlen);
const struct manifest *mf_stream_meta(const struct mf_stream *st);
size_t mf_stream_count(const struct mf_stream *st);	/* entries, the root included */
size_t mf_stream_matched(const struct mf_stream *st);	/* entries mf_stream_find returned */
int mf_stream_sorted(const struct mf_stream *st);
struct mf_entry *mf_stream_find(struct mf_stream *st, uint32_t dir, unsigned depth,
    const char *name, size_t *idx);
void mf_stream_close(struct mf_stream *st);

/* Build the (parent, name) index; then mf_lookup. */
int mf_index(struct manifest *mf);
/* Index of the child `name` of directory `parent`, or -1. */
long mf_lookup(const struct manifest *mf, uint32_t parent, const char *name);

/* The entry at path ('/'-separated names below the saved root; a leading
 * '/', "." components and repeated slashes are ignored; NULL, "" or "/"
 * is the root, entry 0; ".." is never in a save) into *idx.  0, -ENOENT,
 * -ENOMEM.  (list.c: what `ls` and `restore --path` look up) */
int mf_find_path(const struct manifest *mf, const char *path, size_t *idx);

/* "dir/sub/name" of entry i into buf (truncated with "..."); returns buf. */
const char *mf_path(const struct manifest *mf, size_t i, char *buf, size_t len);

/* ------------------------------------------------------------------ */
/* Safe file system access (walk.c)                                    */

/* openat2(dirfd, name, flags, RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|
 * RESOLVE_NO_MAGICLINKS [|RESOLVE_NO_XDEV]) with O_NOFOLLOW|O_CLOEXEC,
 * falling back to openat() with O_NOFOLLOW when the kernel lacks openat2.
 * Returns an fd or -errno. */
int safe_openat(int dirfd, const char *name, int flags, mode_t mode, int noxdev);
/* A directory stream of dirfd itself (a new open file description, so
 * dirfd's own offset is untouched).  NULL with errno set. */
DIR *dir_stream(int dirfd);
/* Open directory entry i of mf beneath rootfd, one component at a time. */
int safe_open_entry_dir(int rootfd, const struct manifest *mf, size_t i);

/* a stack of open directories following the manifest's pre-order */
struct dirstack {
	struct { uint32_t idx; int fd; } *v;
	size_t n, cap;
};
/* Make the top of the stack directory entry `dir`, opening what is
 * missing beneath rootfd (v[0] must be entry 0).  on_pop is called for
 * each directory left (restore applies its metadata then).  fd or -errno. */
int dirstack_goto(struct dirstack *ds, const struct manifest *mf, uint32_t dir,
    void (*on_pop)(uint32_t idx, int fd, void *arg), void *arg);
void dirstack_clear(struct dirstack *ds,
    void (*on_pop)(uint32_t idx, int fd, void *arg), void *arg);

/* Raise RLIMIT_NOFILE to its hard limit (deep trees, many workers). */
void raise_nofile(void);

/* ------------------------------------------------------------------ */
/* Data and metadata (copy.c)                                          */

struct copy_stats {
	uint64_t	bytes;		/* logical bytes hashed */
	uint64_t	written;	/* bytes written */
};

/*
 * Copy src to dst keeping holes (SEEK_DATA/SEEK_HOLE), computing the
 * content checksum (version 2, holes skipped; CD_HASH1: version 1) into hash.  dst may be -1 (hash only).
 * Stops at `size` bytes (the size seen when the copy started) and leaves
 * dst with exactly that size.  `progress` (may be NULL) is added to as
 * bytes pass.  0 or -errno; *werr = 1 when the error was on dst.
 */
int copy_data(int src, int dst, uint64_t size, int maybe_sparse, unsigned char hash[16],
    uint64_t *progress, int *werr);

/* the content checksum, version 1 or 2 (copy.c); feed offsets increase */
#ifndef XXH_STATIC_LINKING_ONLY
#define XXH_STATIC_LINKING_ONLY
#endif
#include <xxhash.h>
struct chash {
	XXH3_state_t	 st;
	uint64_t	 pos, blk;
	unsigned char	*buf;		/* the thread's block buffer */
	size_t		 hi;		/* bytes of it set */
	int		 v2, have, oom;
};
void chash_init(struct chash *h, int v2);
void chash_feed(struct chash *h, uint64_t off, const void *data, size_t n);
void chash_zeros(struct chash *h, uint64_t n);
int chash_final(struct chash *h, uint64_t size, unsigned char out[16]);

struct sigw;
/*
 * The general form: size bytes from src at soff to dst at doff.
 * CD_WHOLE: dst is the whole file (ends with exactly size bytes; O_DIRECT
 * for large files); CD_SPARSE: keep src's holes (soff 0 only).
 */
#define CD_WHOLE	0x1
#define CD_SPARSE	0x2
#define CD_HASH1	0x4	/* the version 1 checksum (holes hashed as zeros) */
/* CD_HASH1 for an entry whose checksum is of version 1 */
#define CD_HASHV(e)	(((e)->flags & MF_F_HASH2) ? 0 : CD_HASH1)
int copy_range(int src, uint64_t soff, int dst, uint64_t doff, uint64_t size, int flags,
    unsigned char hash[16], uint64_t *progress, int *werr, struct sigw *sw);
/* copy_data, also feeding the logical content to a signature (sw may be NULL) */
int copy_data_sig(int src, int dst, uint64_t size, int maybe_sparse, unsigned char hash[16],
    uint64_t *progress, int *werr, struct sigw *sw);

/* ------------------------------------------------------------------ */
/* librsync deltas (delta.c) */

/* a librsync signature computed as data passes (NULL-safe feed/free) */
struct sigw *sigw_new(void);
void sigw_feed(struct sigw *w, const void *data, size_t len);
/* finish; write dirfd/name headed by the content's hash; 0 or -errno */
int sigw_write(struct sigw *w, int dirfd, const char *name, const unsigned char hash[16]);
void sigw_free(struct sigw *w);

/*
 * The file src (size bytes) replaces object dirfd/ID whose content has
 * oldhash: write the redo log dirfd/ID.log (generation gen) and the new
 * signature ID.sig.new.  -ENOENT when there is no usable signature,
 * -E2BIG when the delta would write more than half the file, -EPROTO
 * when librsync's delta makes no sense: copy it whole instead.  newhash: the new content's XXH3-128; *written:
 * bytes of the log.  *werr = 1 when the error was on the target.
 */
int delta_update(int src, uint64_t size, int dirfd, uint64_t id, uint64_t gen,
    const unsigned char oldhash[16], unsigned char newhash[16], uint64_t *progress,
    uint64_t *written, int *werr);
/* If SAVEDIR/DELTAS exists: apply every log of generation gen, drop the
 * others, sync, remove DELTAS.  0 or -errno; *applied counts the logs. */
int delta_recover(int savefd, const int objfd[256], uint64_t gen, int *applied);
/* The same for the logs of objects ids[n] only (the save that wrote them
 * knows them): no scan of objects/.  0 or -errno. */
int delta_apply_ids(int savefd, const int objfd[256], const uint64_t *ids, size_t n, uint64_t gen,
    int *applied);

/* On a read-only target: if dirfd/ID.log is a log of generation gen, a
 * private copy of object ID with the log applied (an unlinked file in
 * tmpdirfd, or in /var/tmp when tmpdirfd < 0), at offset 0; -ENOENT when
 * there is no such log; other -errno.  The target is only read. */
int delta_overlay(int dirfd, uint64_t id, uint64_t gen, int tmpdirfd);

/* Read the user/trusted/security/system.posix_acl xattrs of fd (or of
 * path when fd < 0) into e.  0 or -errno (-ENOTSUP is not an error: none). */
int xattrs_get(int fd, const char *path, struct mf_entry *e);
/* Set them; fd, or path when fd < 0.  0 or the first -errno. */
int xattrs_set(int fd, const char *path, const struct mf_entry *e);

/* hex of a 16-byte hash into 33 bytes */
void hash_hex(const unsigned char h[16], char out[33]);

/* object path "objects/XX/ID" for id, into buf */
void obj_path(uint64_t id, char *buf, size_t len);

/* ------------------------------------------------------------------ */
/* Work queue (copy.c): N threads running fn(job, arg)                  */

struct wq;
struct wq *wq_new(int nthreads, void (*fn)(void *job, void *arg), void *arg);
/* Queue a job (blocks while the queue is full). */
void wq_push(struct wq *q, void *job);
/* Wait for every job, stop the threads, free.  NULL-safe. */
void wq_finish(struct wq *q);
int workers_auto(int fd, int saving);

/* progress thread: calls opts->progress every 0.5 s with *p */
struct progress_thread;
struct progress_thread *progress_start(const struct stor_opts *o, struct stor_progress *p);
void progress_stop(struct progress_thread *t);
double now_mono(void);

/* "msg" into res->errmsg; returns rc */
int seterr(struct stor_result *res, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* mkdir -p (missing parts get mode); 0 or -errno */
int stor_mkdir_p(const char *path, mode_t mode);
/* "4.2 GiB" into buf */
const char *fmt_bytes(uint64_t n, char *buf, size_t len);

/* diagnostics through stor_set_logger() */
void slog(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define slog_warn(...)		slog(0, __VA_ARGS__)
#define slog_notice(...)	slog(1, __VA_ARGS__)
#define slog_info(...)		slog(2, __VA_ARGS__)

/* flock SAVEDIR/lock: the fd holding it, -EBUSY, -EROFS (read-only target) */
int savedir_lock(int savefd);

/* ------------------------------------------------------------------ */
/* SAVEDIR/VERIFIED (verified.c): what a verify found good              */

struct stat;
struct vobj {			/* an object as it was when verified */
	uint64_t	id, ino, size;
	int64_t		mt_s, ct_s;
	uint32_t	mt_ns, ct_ns;
};
struct vent {			/* an entry's data checked against an object */
	uint64_t	obj, off, size;
	unsigned char	hash[16];
};
struct vset {
	struct vobj	*o;
	struct vent	*e;
	size_t		 no, ocap, ne, ecap;
	uint64_t	 gen;	/* the manifest generation it was written for */
};
/* Load SAVEDIR/VERIFIED into v (zeroed first).  0 (no file: an empty
 * set), -EBADMSG (damaged: v is empty), other -errno.  vset_free(). */
int vset_load(int savefd, struct vset *v);
void vset_free(struct vset *v);
/* Record an object's stat / an entry checked against it.  0 or -ENOMEM. */
int vset_add_obj(struct vset *v, uint64_t id, const struct stat *st);
int vset_add_ent(struct vset *v, const struct mf_entry *e);
/* Was e verified against its object, which still has the stat st? (v loaded) */
int vset_has(const struct vset *v, const struct mf_entry *e, const struct stat *st);
/* Write SAVEDIR/VERIFIED (tmp, fsync, rename, fsync dir).  0 or -errno. */
int vset_write(int savefd, struct vset *v, uint64_t gen);

/* ------------------------------------------------------------------ */
/* Excludes (exclude.c)                                                */

struct excl;
struct stat;
/* Compile patterns (rsync-style, see exclude.c).  *out NULL when n is 0.
 * 0, -EINVAL (err names the pattern), -ENOMEM.  excl_free(NULL) is a no-op. */
int excl_new(const char *const *pats, size_t n, struct excl **out, char *err, size_t errlen);
void excl_free(struct excl *x);
/* one glob against one string: 1 matches, 0 not */
int excl_glob(const char *pattern, const char *s);
/* path relative to the saved root ("a/b/c"): 1 excluded, 0 not */
int excl_match_path(const struct excl *x, const char *path, int is_dir);
/* the same for name in manifest directory parent; -ENOMEM */
int excl_match(const struct excl *x, const struct manifest *mf, uint32_t parent, const char *name,
    int is_dir);
/* the marker that excludes the open directory fd (".pcm-agent-exclude",
 * "CACHEDIR.TAG", owned by root or the directory's owner), or NULL */
const char *excl_marker(int dirfd, const struct stat *dirst);
/* count the entries and bytes below the open directory dirfd (not
 * crossing mount points) */
int excl_count(int dirfd, uint64_t *entries, uint64_t *bytes, unsigned depth);
/* the save's walk: is name (in dirfd, manifest directory parent, stat st)
 * excluded by a pattern?  1 (counted into res->excluded, bytes_excluded,
 * a directory with its content), 0, or -ENOMEM */
int excl_entry(const struct excl *x, const struct manifest *mf, uint32_t parent, int dirfd,
    const char *name, const struct stat *st, struct stor_result *res);
/* is the open directory fd (stat st) marked?  The marker's name (the
 * directory and its content counted into res), or NULL */
const char *excl_dir(int fd, const struct stat *st, struct stor_result *res);

#endif
