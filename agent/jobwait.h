/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * jobwait.h - wait for Slurm jobs to end without polling Slurm.
 *
 * `pcm-agent hook epilog` (EpilogSlurmctld) calls jobwait_notify() with the
 * id of the job that just ended; `prepare-restart --wait-jobs` (and
 * `pcm-agent hook wait`) open a waiter and sleep in poll(2) until a
 * notification arrives, then ask Slurm once whether the jobs they wait for
 * are done.  Slurm is still asked at a slow interval, so that a missing or
 * broken hook costs time, never correctness.
 *
 * Mechanism: one FIFO per waiter, DIR/jobwait/<pid>.<n>.fifo.  A waiter
 * holds its FIFO open read-write, so it never sees end-of-file; the
 * notifier opens every FIFO in DIR/jobwait with O_WRONLY|O_NONBLOCK (ENXIO:
 * nobody reads it, skip) and writes "JOBID\n" without blocking (EAGAIN: the
 * pipe is full, the waiter has plenty to wake up for).  Several waiters
 * each get every notification.  A notification is only a wake-up: the
 * waiter always checks with Slurm, so a message from anyone else can cost
 * a check, never a wrong answer.
 *
 * Which DIR: EpilogSlurmctld runs as SlurmUser ("slurm" on ParallelCluster,
 * not root), and state_dir is 0700 root.  Pass cfg->run_dir
 * (/run/pcm-agent, 0755, already readable by every user for
 * maintenance.json): DIR/jobwait is created 0755.  Each FIFO is root's,
 * writable by SlurmUser's group only (0620), or by root only (0600) when
 * SlurmUser is root: any other user could otherwise wake the waiters at
 * will (each wake-up costs a Slurm query).
 */
#ifndef PCM_JOBWAIT_H
#define PCM_JOBWAIT_H

#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>

#define JOBWAIT_SUBDIR	"jobwait"

struct jobwait;

/*
 * Become a waiter: create DIR/jobwait (0755) if needed, remove the FIFOs of
 * waiters that no longer exist, create and open ours (0600: root only).  *out is freed with
 * jobwait_close().  0 or -errno.
 */
int jobwait_open(const char *dir, struct jobwait **out);
/* The same, with the FIFO writable by group writer_gid too (0620); -1: root
 * only (0600). */
int jobwait_open_for(const char *dir, gid_t writer_gid, struct jobwait **out);
/*
 * SlurmUser from slurm_conf (Slurm's default, root, if it says none) in
 * user, and in *gid its primary group, or -1 when it is root.  0, or
 * -ENOENT when there is no such user (*gid -1).
 */
int jobwait_slurm_user(const char *slurm_conf, char *user, size_t ulen, gid_t *gid);
/* Close and remove our FIFO; NULL-safe. */
void jobwait_close(struct jobwait *jw);
/* The FIFO's path (borrowed, valid until jobwait_close). */
const char *jobwait_fifo_path(const struct jobwait *jw);
/* The file descriptor to poll(2) for POLLIN in a caller's own loop. */
int jobwait_fd(const struct jobwait *jw);

/*
 * Wait up to timeout_ms (-1: forever, 0: do not wait) for notifications.
 * Reads every notification pending and returns how many arrived (> 0) with
 * the last job id in *jobid (0 when the message carried none); 0 on
 * timeout; -errno on error (-EINTR when a signal interrupted the wait).
 */
int jobwait_next(struct jobwait *jw, int timeout_ms, uint32_t *jobid);

/*
 * Is what we wait for done?  jobid: the job the epilog just reported, or 0
 * for a periodic check.  Returns 1 done, 0 not yet, < 0 an error that ends
 * the wait (returned by jobwait_until).
 */
typedef int (*jobwait_check_fn)(void *arg, uint32_t jobid);

struct jobwait_stats {
	unsigned	notifications;	/* wake-ups by the epilog */
	unsigned	checks;		/* calls to check */
	int		done_by_notify;	/* 1: the last check ran because of a notification */
	uint32_t	last_jobid;	/* the last job id a notification named */
};

/*
 * Call check once now, then after every notification and every
 * poll_interval_s seconds without one, until it returns 1 (0 is returned)
 * or < 0 (returned), or timeout_s seconds pass (-ETIMEDOUT; timeout_s <= 0:
 * no limit).  Notifications are coalesced: a burst of epilogs costs one
 * check, and checks are at least 200 ms apart.  stats may be NULL.
 * A signal whose handler runs (installed without SA_RESTART) ends the wait
 * with -EINTR: check your stop flag, and call again to go on waiting.
 */
int jobwait_until(struct jobwait *jw, jobwait_check_fn check, void *arg,
    int timeout_s, int poll_interval_s, struct jobwait_stats *stats);

/*
 * The notifier: tell every waiter in DIR/jobwait that jobid ended.  Never
 * blocks (non-blocking opens and writes, no locks) and returns at once when
 * nobody waits.  Returns how many waiters were told (0 when none, also when
 * DIR/jobwait does not exist), or -errno when DIR/jobwait cannot be read.
 */
int jobwait_notify(const char *dir, uint32_t jobid);

#endif
