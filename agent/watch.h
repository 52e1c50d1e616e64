/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * watch.h - the watch daemon's logic: EC2 scheduled events -> maintenance
 * reservation, triage, notices, maintenance.json and, with auto_prepare,
 * prepare-restart ahead of the event.  One poll is one call, watch_poll(),
 * so that the daemon loop (cmd_watch.c) and the tests drive the same code.
 *
 * Bookkeeping: STATE_DIR/events.json (0600, replaced atomically) keeps every
 * event seen, by EventId, with what was done about it.  An event is acted
 * on once: a daemon restart or a reboot finds it there and does not plan,
 * notify or prepare again.
 *
 *   {"version":1,"events":{"instance-event-0abc":{
 *      "code":"system-reboot","state":"active","description":"...",
 *      "source":"imds","not_before":1795662000,"not_after":1795669200,
 *      "status":"planned","first_seen":..., "updated":...,
 *      "reservation":"pcm-maintenance","resv_created":true,"resv_start":...,"resv_end":...,
 *      "notified":true,"prepare_started":0,"prepare_pid":0,"prepare_rc":null,
 *      "prepare_method":"reboot"}}}
 *
 * The state machine of one event (watch_decide() is its pure core):
 *
 *   (new, active, known code)  -> PLAN:  status planned
 *   (new, canceled/completed)  -> IGNORE: status ignored (nothing done)
 *   planned, reservation not placed yet (Slurm was down) -> PLAN again
 *   planned, NotBefore moved   -> REPLAN (reservation moved, notices)
 *   planned|preparing, canceled  -> UNDO: status canceled
 *   planned|preparing, completed -> UNDO: status completed
 *   planned, no longer listed: before NotBefore -> UNDO (canceled);
 *                              after NotBefore  -> UNDO (completed)
 *   planned, auto_prepare, now >= NotBefore - prepare_lead -> PREPARE:
 *           status preparing (recorded before the command starts)
 *   ignored|canceled|completed|preparing -> nothing more (a canceled
 *           event that comes back active is planned again)
 *
 * UNDO removes what PLAN placed: the reservation if the daemon created it,
 * maintenance.json and the MOTD snippet if they are about this event, and
 * sends a "canceled" notice.  While a prepare-restart journal is open, the
 * reservation and maintenance.json belong to it and are left alone.
 */
#ifndef PCM_WATCH_H
#define PCM_WATCH_H

#include <signal.h>
#include <sys/types.h>
#include <time.h>

#include "pcm.h"

#define WATCH_EVENTS_FILE	"events.json"

enum watch_status {
	WATCH_ST_NEW,		/* seen, nothing done yet (not stored) */
	WATCH_ST_IGNORED,	/* first seen canceled/completed or not a head-node event */
	WATCH_ST_PLANNED,	/* reservation, triage, notices done */
	WATCH_ST_PREPARING,	/* auto_prepare started prepare-restart */
	WATCH_ST_CANCELED,	/* canceled (or vanished before NotBefore): undone */
	WATCH_ST_COMPLETED,	/* completed (or vanished after NotBefore) */
};

/* "new" "ignored" "planned" "preparing" "canceled" "completed" (static) */
const char *watch_status_name(enum watch_status s);
int watch_status_parse(const char *s, enum watch_status *out);	/* 0 or -EINVAL */

/* One event as a source (IMDS, EC2) lists it; strings borrowed. */
struct watch_seen {
	const char	*id;
	const char	*code;
	const char	*description;
	const char	*state;		/* "active", "canceled", "completed" */
	const char	*source;	/* "imds", "ec2" */
	time_t		 not_before;
	time_t		 not_after;
};

/* One tracked event; strings owned by the state. */
struct watch_event {
	char		*id;
	char		*code;
	char		*description;
	char		*state;
	char		*source;
	time_t		 not_before;
	time_t		 not_after;
	enum watch_status status;
	time_t		 first_seen;
	time_t		 updated;
	char		*reservation;	/* name, when placed */
	int		 resv_created;	/* 1: we created it, we remove it */
	time_t		 resv_start;
	time_t		 resv_end;
	int		 notified;
	time_t		 prepare_started;
	pid_t		 prepare_pid;
	int		 prepare_rc;	/* -1: not known (running, or lost) */
	char		*prepare_method;
};

struct watch_state {
	struct watch_event *v;
	size_t		 n;
};

/* STATE_DIR/events.json; a missing file gives an empty state.  *out freed
 * with watch_state_free().  0, -EBADMSG (not our JSON: the message says
 * which file, in errbuf), -ENOMEM, -errno. */
int watch_state_load(const char *state_dir, struct watch_state **out, char *errbuf,
    size_t errlen);
/* Atomic write (temp, fsync, rename, fsync dir), 0600; 0 or -errno. */
int watch_state_save(const char *state_dir, const struct watch_state *st);
void watch_state_free(struct watch_state *st);
/* The event with this id (borrowed) or NULL. */
struct watch_event *watch_state_find(struct watch_state *st, const char *id);

/* Is code an event that takes the head node down?  instance-reboot,
 * system-reboot, system-maintenance, instance-retirement, instance-stop. */
int watch_code_known(const char *code);
/* The restart method an event needs: "reboot" for instance-reboot and
 * system-reboot, "stop-start" for the others (static). */
const char *watch_code_method(const char *code);

enum watch_action {
	WATCH_ACT_NONE,
	WATCH_ACT_IGNORE,	/* record, do nothing */
	WATCH_ACT_PLAN,		/* reservation, triage, notices, maintenance.json */
	WATCH_ACT_REPLAN,	/* NotBefore moved: move the reservation, notify */
	WATCH_ACT_UNDO_CANCELED,
	WATCH_ACT_UNDO_COMPLETED,
	WATCH_ACT_PREPARE,	/* start prepare-restart */
};
const char *watch_action_name(enum watch_action a);	/* static */

struct watch_params {
	long	event_margin;	/* s */
	long	prepare_lead;	/* s */
	int	auto_prepare;
};

/*
 * The pure decision for one event: t is the tracked record (NULL when
 * never seen), seen what a source lists now (NULL when the event is no
 * longer listed by a complete answer).  No I/O.
 */
enum watch_action watch_decide(const struct watch_event *t, const struct watch_seen *seen,
    time_t now, const struct watch_params *p);

/* Whether a tracked event that no source lists in this poll is gone:
 * only when the source it was last seen from answered (an EC2 error says
 * nothing about an event only EC2 lists).  source NULL (an old record):
 * IMDS.  imds_ok, ec2_ok: that source answered this poll. */
int watch_unlisted_gone(const char *source, int imds_ok, int ec2_ok);

/* When the maintenance reservation of an event starts: NotBefore minus
 * event_margin, but never before now. */
time_t watch_resv_start(time_t not_before, long margin, time_t now);

/* The daemon. */
struct watch;

struct watch_opts {
	int	dry_run;	/* log what would be done, change nothing */
	volatile sig_atomic_t *stop;	/* set by SIGTERM: cut waits short */
	const char *self;	/* this program, for auto_prepare (NULL: /proc/self/exe) */
	const char *config_path;	/* passed to prepare-restart with -c; may be NULL */
};

/* A new daemon on ctx's config (borrowed: the caller keeps ctx alive and
 * calls watch_reload() when it replaced ctx->cfg).  NULL when out of memory. */
struct watch *watch_new(struct pcm_ctx *ctx, const struct watch_opts *o);
void watch_free(struct watch *w);
/* The config changed: forget the sources' one-time notes (EC2 denied). */
void watch_reload(struct watch *w);

/*
 * One poll: read the events, act, reap a finished prepare-restart, save
 * the state.  *report (may be NULL) gets a new JSON object owned by the
 * caller: {"time":..., "sources":{...}, "events":[{"id","code","state",
 * "status","action"}], "actions":[...], "dry_run":bool}.
 * *next_s (may be NULL) gets how soon the next poll is needed (an
 * auto_prepare due before the next poll_interval), or 0 for "no hurry".
 * Returns 0, or -errno when no source could be read or the state could
 * not be saved (the message was logged; the next poll tries again).
 */
struct json_object;
int watch_poll(struct watch *w, struct json_object **report, long *next_s);

/* A child ended (SIGCHLD): record how the prepare-restart it ran ended
 * in events.json.  0 or -errno (logged). */
int watch_reap(struct watch *w);

#endif
