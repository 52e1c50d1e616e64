/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * lock.h - one pcm-agent operation at a time (prepare-restart, resume,
 * abort, save, restore): an flock on STATE_DIR/lock that dies with the
 * process, so a kill -9 never leaves a stale lock behind.
 */
#ifndef PCM_LOCK_H
#define PCM_LOCK_H

#include <sys/types.h>

struct pcm_lock {
	int	fd;
};

/*
 * Take the lock for operation `what` without waiting.  Creates state_dir
 * (0700) if needed and refuses an unsafe one (lock_check_state_dir).  Returns 0; -EWOULDBLOCK when another process holds it
 * (*holder_pid and holder_what, if not NULL, say who); other -errno.
 */
int lock_acquire(struct pcm_lock *lk, const char *state_dir, const char *what,
    pid_t *holder_pid, char *holder_what, size_t holder_len);
void lock_release(struct pcm_lock *lk);

/*
 * Is state_dir safe to keep a journal in: a directory (not a symlink) owned
 * by us, not writable by group or other, below directories no other user
 * can change?  0, or -EPERM (logged: what is wrong, what to do) or -errno.
 * lock_acquire() checks it every time.
 */
int lock_check_state_dir(const char *state_dir);

/* mkdir -p with mode for the missing parts; 0 or -errno. */
int mkdir_p(const char *path, mode_t mode);

#endif
