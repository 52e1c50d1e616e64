/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * maintfile.h - the maintenance state other programs read:
 * RUN_DIR/maintenance.json (RUN_DIR = cfg->run_dir, /run/pcm-agent).
 *
 * Written by `pcm-agent watch` (and prepare-restart / resume as the
 * maintenance moves on), read by the SPANK plugin in every sbatch, srun and
 * salloc, by `pcm-agent hook prolog`, and by anyone's scripts.  The file
 * exists only while a maintenance is planned or under way: no file means
 * no maintenance (the SPANK plugin then does one stat() and nothing else).
 *
 * Replaced atomically (temp file, fsync, rename, fsync of the directory):
 * a reader sees the old file or the new one, never a mix.  RUN_DIR is
 * created 0755 and the file is 0644: every user's sbatch reads it.
 *
 * The format (version 1; readers ignore keys they do not know):
 *   {
 *     "version": 1,
 *     "phase": "scheduled",            scheduled|preparing|under-way|resuming
 *     "event": {
 *       "code": "system-reboot",
 *       "event_id": "instance-event-0123456789abcdef0",
 *       "not_before": "2026-11-26T03:00:00Z", "not_before_epoch": 1795662000,
 *       "not_after": "2026-11-26T05:00:00Z",  "not_after_epoch": 1795669200
 *     },
 *     "window": {                        no new job starts in it
 *       "start": "2026-11-26T02:45:00Z", "start_epoch": 1795661100,
 *       "end": "2026-11-26T05:00:00Z",   "end_epoch": 1795669200
 *     },
 *     "reservation": "pcm-maintenance",
 *     "message": "free text from the administrator",
 *     "updated": "2026-11-26T00:10:00Z", "updated_epoch": 1795651800
 *   }
 * The *_epoch members are authoritative; the ISO-8601 strings are for
 * people.  Unknown times are 0 / "" (not_after, window end, ...).
 */
#ifndef PCM_MAINTFILE_H
#define PCM_MAINTFILE_H

#include <stddef.h>
#include <time.h>

#define MAINTFILE_NAME		"maintenance.json"
#define MAINTFILE_MOTD_NAME	"motd"
#define MAINTFILE_VERSION	1

enum maint_phase {
	MAINT_PHASE_SCHEDULED,	/* an event is known; reservation planned */
	MAINT_PHASE_PREPARING,	/* prepare-restart is running */
	MAINT_PHASE_UNDER_WAY,	/* the head node is going down / is down */
	MAINT_PHASE_RESUMING,	/* resume is bringing the cluster back */
};

struct maintfile {
	enum maint_phase phase;
	char	*code;		/* event code, "system-reboot"; required */
	char	*event_id;	/* "instance-event-..."; may be NULL (manual maintenance) */
	time_t	 not_before;	/* required, > 0 */
	time_t	 not_after;	/* 0 = unknown */
	time_t	 window_start;	/* 0 = unknown (not_before is used) */
	time_t	 window_end;	/* 0 = unknown */
	char	*reservation;	/* Slurm reservation name; may be NULL */
	char	*message;	/* may be NULL */
	time_t	 updated;	/* set by maintfile_write() */
};

/* Error text: "cannot X: why (what to do)". */
struct maintfile_error {
	char	msg[512];
};

/* A zeroed struct (phase scheduled); NULL when out of memory.  Strings set
 * in it afterwards must be malloc'd: maintfile_free() frees them. */
struct maintfile *maintfile_new(void);
/* Frees m and its strings; NULL-safe. */
void maintfile_free(struct maintfile *m);
/* Sets *field (one of m's strings) to a malloc'd copy of s (NULL clears);
 * 0 or -ENOMEM. */
int maintfile_set_str(char **field, const char *s);

/* "scheduled", "preparing", "under-way", "resuming". */
const char *maintfile_phase_name(enum maint_phase p);
/* 0, or -EINVAL for an unknown name. */
int maintfile_phase_parse(const char *s, enum maint_phase *out);

/* RUN_DIR/maintenance.json into buf; 0 or -ENAMETOOLONG. */
int maintfile_path(const char *run_dir, char *buf, size_t len);

/*
 * Check m (code present and a plain name, not_before > 0, not_after not
 * before not_before, ...).  0 or -EINVAL with err filled.
 */
int maintfile_validate(const struct maintfile *m, struct maintfile_error *err);

/*
 * The JSON form above; a new object owned by the caller
 * (json_object_put), NULL when out of memory.  `updated` is written as
 * m->updated.
 */
struct json_object;
struct json_object *maintfile_to_json(const struct maintfile *m);
/*
 * Parse obj (borrowed, not freed).  *out is a new struct the caller frees
 * with maintfile_free().  0, or -EINVAL / -ENOMEM with err filled (name is
 * used in the message).
 */
int maintfile_from_json(struct json_object *obj, const char *name,
    struct maintfile **out, struct maintfile_error *err);

/*
 * Write RUN_DIR/maintenance.json atomically (creates RUN_DIR 0755).
 * Sets m->updated to the current time.  0 or -errno with err filled.
 */
int maintfile_write(const char *run_dir, struct maintfile *m, struct maintfile_error *err);

/*
 * Read RUN_DIR/maintenance.json.  *out is a new struct the caller frees
 * with maintfile_free().  Returns 0; -ENOENT when there is no file (no
 * maintenance: not an error, err is still filled); -EINVAL for a file that
 * is not valid maintenance JSON; other -errno.  err says which file and
 * what to do.
 */
int maintfile_read(const char *run_dir, struct maintfile **out, struct maintfile_error *err);
/* The same for a file path (the SPANK plugin's file= argument, tests). */
int maintfile_read_path(const char *path, struct maintfile **out, struct maintfile_error *err);

/*
 * No maintenance any more: remove RUN_DIR/maintenance.json and
 * RUN_DIR/motd.  0 (also when they were not there) or -errno, err filled.
 */
int maintfile_remove(const char *run_dir, struct maintfile_error *err);

/*
 * The MOTD snippet: the user notice (slurm-plugin/pcm_notice.h, the same
 * text sbatch prints) into RUN_DIR/motd, atomically, 0644.  Link it from
 * /etc/motd.d/ or print it from /etc/profile.d/.  0 or -errno, err filled.
 */
int maintfile_write_motd(const char *run_dir, const struct maintfile *m,
    struct maintfile_error *err);
/* The notice text for m; malloc'd, the caller frees; NULL when out of
 * memory.  now = 0 gives a text without "(in 2h05m)" (it does not go stale). */
char *maintfile_notice(const struct maintfile *m, time_t now, const char *prefix);

/* Write buf to dir/name atomically (temp file, fsync, rename, fsync dir),
 * mode mode.  0 or -errno. */
int maintfile_atomic_write(const char *dir, const char *name, const char *buf,
    size_t len, int mode);

#endif
