/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * journal.h - the prepare-restart journal.
 *
 * One JSON document, STATE_DIR/journal.json, on the root volume (it survives
 * a stop/start).  Every change is written to a temp file, fsynced, renamed
 * over the old one and the directory fsynced, so after a crash the journal is
 * either the old or the new version, never a mix.  A copy can be written
 * next to the save on the target.  When the operation ends, the journal moves
 * to STATE_DIR/history/<id>.json and the next prepare-restart starts afresh.
 *
 * Layout:
 *   { "version": 1, "id": "20261126T010203Z-1234", "trigger": "manual" | EventId,
 *     "created": ISO-8601, "updated": ISO-8601, "phase": "prepare"|"resume"|"aborted"|"done",
 *     "steps": { "<name>": { "state": "pending|running|done|failed|skipped",
 *                            "started": ISO, "ended": ISO, "detail": "..." } },
 *     "data": { "<key>": <any JSON> } }
 */
#ifndef PCM_JOURNAL_H
#define PCM_JOURNAL_H

#include <time.h>

struct json_object;
struct journal;

enum step_state {
	STEP_PENDING,
	STEP_RUNNING,	/* started, not known to have ended: a crash in the middle */
	STEP_DONE,
	STEP_FAILED,
	STEP_SKIPPED,
};

const char *step_state_name(enum step_state s);

/*
 * Start a new journal in state_dir (created 0700 if missing) with the given
 * step names (in order) all pending.  Fails with -EEXIST if a journal is open
 * there.  *out is owned by the caller: journal_free().
 */
int journal_create(const char *state_dir, const char *trigger,
    const char *const *steps, struct journal **out);

/* Load the open journal; -ENOENT when there is none, -EBADMSG when corrupt. */
int journal_load(const char *state_dir, struct journal **out);

void journal_free(struct journal *j);

/* Borrowed strings, valid until the journal changes or is freed. */
const char *journal_id(const struct journal *j);
const char *journal_trigger(const struct journal *j);
const char *journal_phase(const struct journal *j);
const char *journal_path(const struct journal *j);

enum step_state journal_step(const struct journal *j, const char *step);
const char *journal_step_detail(const struct journal *j, const char *step);
/* Record a step's new state (timestamps kept) and write the journal. 0 or -errno. */
int journal_step_set(struct journal *j, const char *step, enum step_state st,
    const char *detail);
int journal_set_phase(struct journal *j, const char *phase);

/* Data: takes ownership of val (json-c reference), writes the journal. */
int journal_data_set(struct journal *j, const char *key, struct json_object *val);
/* Borrowed reference or NULL. */
struct json_object *journal_data(const struct journal *j, const char *key);
const char *journal_data_str(const struct journal *j, const char *key);

/* The whole document, borrowed (for status and --json). */
struct json_object *journal_json(const struct journal *j);

/* Write a copy to dir/journal.json (atomic, fsynced).  0 or -errno. */
int journal_copy_to(const struct journal *j, const char *dir);

/* End the operation: set the phase, move the journal to history/<id>.json. */
int journal_close(struct journal *j, const char *final_phase);

/* Atomic replace of path with the JSON text of obj (temp, fsync, rename,
 * fsync dir).  Shared with other state files.  0 or -errno. */
int json_write_atomic(const char *path, struct json_object *obj, int mode);

#endif
