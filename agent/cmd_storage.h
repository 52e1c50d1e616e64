/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cmd_storage.h - what the storage commands (targets, save, restore,
 * verify) share: choosing the target, naming the save, the lock, progress
 * on a terminal and the JSON summary.  The engine is storage/storage.h.
 */
#ifndef PCM_CMD_STORAGE_H
#define PCM_CMD_STORAGE_H

#include "pcm.h"
#include "storage.h"

/*
 * The target directory: `arg` if given, else cfg->target, else the first
 * candidate mount (cfg->mountinfo) with room for `need` bytes.  *out is
 * malloc'd.  Returns 0 or PCM_EXIT_ERROR after logging why.
 */
int storage_pick_target(struct pcm_ctx *ctx, const char *arg, uint64_t need, char **out);

/* SAVEDIR for target (identity from the config); malloc'd, NULL after logging. */
char *storage_savedir(struct pcm_ctx *ctx, const char *target);

/* The save to use under dir: dir itself when it holds a MANIFEST, else
 * stor_find_save() for this cluster and instance.  *out malloc'd; 0 or
 * PCM_EXIT_ERROR after logging. */
int storage_find_savedir(struct pcm_ctx *ctx, const char *dir, char **out);

/* The state-dir lock for `what`; 0, or PCM_EXIT_LOCKED / PCM_EXIT_ERROR after logging. */
struct pcm_lock;
int storage_lock(struct pcm_ctx *ctx, struct pcm_lock *lk, const char *what);
/* the same, trying again for up to wait_s seconds while another process
 * holds the lock */
int storage_lock_wait(struct pcm_ctx *ctx, struct pcm_lock *lk, const char *what, int wait_s);

/* Add an --exclude PATTERN to the config's list, checked first: 0,
 * -EINVAL (a bad pattern) or -ENOMEM, err saying why. */
int storage_add_exclude(struct pcm_ctx *ctx, const char *pattern, char *err, size_t errlen);

/* A name from a save as text: printable ASCII and valid UTF-8 kept, '\\'
 * doubled, \n \t and other control or non-UTF-8 bytes escaped (\xHH).
 * malloc'd (caller frees), NULL on ENOMEM.  (cmd_ls.c) */
char *storage_escape(const char *s);

/* Options with progress on stderr when it is a terminal (and not --json/-q). */
void storage_opts(struct pcm_ctx *ctx, struct stor_opts *o, const char *verb);
/* Clear the progress line. */
void storage_progress_done(void);

/* The result as JSON on stdout (ok: the operation succeeded). */
void storage_print_json(const char *op, int ok, const char *path1, const char *path2,
    const struct stor_result *r);
/* the same for a restore of selected paths (npaths 0: the whole save):
 * "paths" (the caller escapes them: storage_escape) and "links_split" */
void storage_print_json_paths(const char *op, int ok, const char *path1, const char *path2,
    const struct stor_result *r, const char *const *paths, size_t npaths);

#endif
