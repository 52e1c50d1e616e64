/* SPDX-License-Identifier: GPL-2.0-or-later */
/* cmd_maintenance.c - pcm-agent maintenance start|end|status: the Slurm
 * maintenance reservation that keeps new jobs from starting */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "commands.h"
#include "journal.h"
#include "lock.h"
#include "log.h"
#include "output.h"
#include "sched/sched.h"

const char help_maintenance[] =
    "usage: pcm-agent maintenance start [--at TIME] [--duration D] [--force] |\n"
    "                             end [--force] | status [--json]\n"
    "\n"
    "The maintenance reservation (config key reservation_name, default\n"
    "pcm-maintenance): a Slurm reservation with the MAINT and IGNORE_JOBS flags\n"
    "over all nodes, for root only.  Running jobs keep running; a pending job\n"
    "whose time limit would overlap it does not start (\"Reserved for\n"
    "maintenance\"), shorter ones still do.\n"
    "\n"
    "  start   create it; if it already exists, change nothing and say so\n"
    "  end     delete it; nothing to do if there is none\n"
    "  status  show it, or that there is none\n"
    "\n"
    "options:\n"
    "  --at TIME      when it begins: now (default), +30m (from now, any\n"
    "                 duration), or ISO-8601 2026-12-01T03:00:00Z (UTC) /\n"
    "                 2026-12-01T03:00 (local time)\n"
    "  --duration D   how long: 90m, 2h, 1d, 1h30m (default: maintenance_duration)\n"
    "  --force        start or end it even while an operation (prepare-restart,\n"
    "                 resume) is in progress: the reservation is that operation's\n"
    "  --json         machine-readable output\n"
    "\n"
    "start and end take the lock in state_dir and refuse while an operation's\n"
    "journal is open (ending the reservation then lets jobs start that the fleet\n"
    "stop kills): finish the operation, `pcm-agent abort` it, or use --force.\n"
    "\n"
    "Exit status: 0, 1 when Slurm cannot be reached or refuses, 2 on bad usage,\n"
    "6 when another operation holds the lock or is in progress.\n";

/* "now", "+DURATION", ISO-8601 with Z (UTC) or without (local time). */
static int
parse_at(const char *s, time_t now, time_t *out)
{
	static const char *const local_fmts[] = { "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M",
		"%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M" };
	struct tm tm;
	const char *end;
	long d;

	if (strcmp(s, "now") == 0) {
		*out = now;
		return 0;
	}
	if (s[0] == '+') {
		if (parse_duration(s + 1, &d) < 0)
			return -1;
		*out = now + d;
		return 0;
	}
	memset(&tm, 0, sizeof(tm));
	if ((end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm)) != NULL && *end == '\0') {
		*out = timegm(&tm);
		return 0;
	}
	for (size_t i = 0; i < sizeof(local_fmts) / sizeof(local_fmts[0]); i++) {
		memset(&tm, 0, sizeof(tm));
		if ((end = strptime(s, local_fmts[i], &tm)) != NULL && *end == '\0') {
			tm.tm_isdst = -1;
			*out = mktime(&tm);
			return 0;
		}
	}
	return -1;
}

static void
print_resv(const struct sched_resv *r)
{
	char a[32], b[32], d[32];

	printf("maintenance reservation %s: %s to %s (%s), nodes %s, users %s, flags%s%s\n",
	    r->name, output_iso8601(r->start_time, a, sizeof(a)),
	    output_iso8601(r->end_time, b, sizeof(b)),
	    format_duration((long)(r->end_time - r->start_time), d, sizeof(d)),
	    r->nodes ? r->nodes : "-", r->users ? r->users : "-",
	    r->maint ? " MAINT" : "", r->ignore_jobs ? " IGNORE_JOBS" : "");
}

static int
do_status(struct pcm_ctx *ctx, struct sched *s, const char *name)
{
	struct sched_resv *r = NULL;
	int rc = sched_resv_get(s, name, &r);

	if (rc < 0 && rc != -ENOENT) {
		log_warnx("%s", sched_strerror(s));
		return PCM_EXIT_ERROR;
	}
	if (ctx->json) {
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "name", json_object_new_string(name));
		json_object_object_add(o, "reservation", r ? sched_resv_to_json(r) : NULL);
		output_json(o);
		json_object_put(o);
	} else if (r != NULL) {
		print_resv(r);
	} else {
		printf("no maintenance reservation %s\n", name);
	}
	sched_resv_free(r);
	return PCM_EXIT_OK;
}

static int
do_start(struct pcm_ctx *ctx, struct sched *s, const char *name, time_t at, long dur)
{
	struct sched_resv *r = NULL;
	int created = 0, rc;

	if (sched_maint_start(s, name, at, dur, &created) < 0) {
		log_warnx("%s", sched_strerror(s));
		return PCM_EXIT_ERROR;
	}
	rc = sched_resv_get(s, name, &r);
	if (rc < 0) {
		log_warnx("cannot read back reservation %s: %s", name, sched_strerror(s));
		return PCM_EXIT_ERROR;
	}
	if (!r->maint || !r->ignore_jobs)
		log_warnx("reservation %s exists but is not a maintenance reservation "
		    "(flags MAINT, IGNORE_JOBS missing); left as it is", name);
	if (ctx->json) {
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "created", json_object_new_boolean(created));
		json_object_object_add(o, "reservation", sched_resv_to_json(r));
		output_json(o);
		json_object_put(o);
	} else {
		if (created)
			printf("created ");
		print_resv(r);
		if (!created)
			printf("already there: nothing changed\n");
	}
	if (created)
		log_debug("created maintenance reservation %s", name);
	sched_resv_free(r);
	return PCM_EXIT_OK;
}

static int
do_end(struct pcm_ctx *ctx, struct sched *s, const char *name)
{
	int deleted = 0;

	if (sched_maint_end(s, name, &deleted) < 0) {
		log_warnx("%s", sched_strerror(s));
		return PCM_EXIT_ERROR;
	}
	if (ctx->json) {
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "name", json_object_new_string(name));
		json_object_object_add(o, "deleted", json_object_new_boolean(deleted));
		output_json(o);
		json_object_put(o);
	} else if (deleted) {
		printf("deleted maintenance reservation %s\n", name);
	} else {
		printf("no maintenance reservation %s: nothing to do\n", name);
	}
	if (deleted)
		log_debug("deleted maintenance reservation %s", name);
	return PCM_EXIT_OK;
}

/*
 * start and end change what a prepare-restart or resume relies on: the
 * reservation is what keeps jobs from starting that the fleet stop would
 * kill.  So they take the state-dir lock (never while an operation runs)
 * and, unless forced, refuse while an operation's journal is open (one that
 * stopped at the job gate and is to be run again holds no lock).
 */
static int
take_lock(struct pcm_ctx *ctx, struct pcm_lock *lk, const char *sub, int force)
{
	const char *verb = strcmp(sub, "start") == 0 ? "start the maintenance reservation" :
	    "end the maintenance reservation";
	char lockname[32], holder[64] = "";
	struct journal *j = NULL;
	pid_t pid = 0;
	int rc;

	snprintf(lockname, sizeof(lockname), "maintenance-%s", sub);
	rc = lock_acquire(lk, ctx->cfg.state_dir, lockname, &pid, holder, sizeof(holder));
	if (rc == -EWOULDBLOCK) {
		log_warnx("cannot %s: pcm-agent %s (pid %ld) is running and holds the lock "
		    "%s/lock (wait for it to finish, or stop it and run `pcm-agent abort`)",
		    verb, holder[0] ? holder : "?", (long)pid, ctx->cfg.state_dir);
		return PCM_EXIT_LOCKED;
	}
	if (rc < 0) {
		log_warnx("cannot take the lock in %s: %s", ctx->cfg.state_dir, strerror(-rc));
		return PCM_EXIT_ERROR;
	}
	rc = journal_load(ctx->cfg.state_dir, &j);
	if (rc == -ENOENT)
		return 0;
	if (force) {
		log_warnx("--force: going on to %s while operation %s is open: its reservation "
		    "is changed under it", verb, rc == 0 ? journal_id(j) : "(unreadable journal)");
		journal_free(j);
		return 0;
	}
	if (rc == 0)
		log_warnx("cannot %s: operation %s (%s, phase %s) is in progress and the "
		    "reservation is its own (finish it, or undo it with `pcm-agent abort`; "
		    "--force to do it anyway)", verb, journal_id(j), journal_trigger(j),
		    journal_phase(j));
	else
		log_warnx("cannot %s: the journal in %s cannot be read (%s): an operation may "
		    "be in progress (look with `pcm-agent status`; --force to do it anyway)",
		    verb, ctx->cfg.state_dir, rc == -EBADMSG ? "corrupt" : strerror(-rc));
	journal_free(j);
	lock_release(lk);
	return PCM_EXIT_LOCKED;
}

int
cmd_maintenance(struct pcm_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "at", required_argument, NULL, 'a' },
		{ "duration", required_argument, NULL, 'd' },
		{ "force", no_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	const char *at_arg = NULL, *dur_arg = NULL, *sub;
	const char *name = ctx->cfg.reservation_name;
	long dur = ctx->cfg.maintenance_duration;
	time_t at = time(NULL);
	struct pcm_lock lk = { .fd = -1 };
	struct sched *s = NULL;
	char err[1024];
	int ch, rc, force = 0;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'j':
			ctx->json = 1;
			break;
		case 'a':
			at_arg = optarg;
			break;
		case 'd':
			dur_arg = optarg;
			break;
		case 'f':
			force = 1;
			break;
		default:
			return cmd_usage_error("maintenance", "bad option");
		}
	}
	if (optind >= argc)
		return cmd_usage_error("maintenance", "missing subcommand (start, end, status)");
	sub = argv[optind];
	if (strcmp(sub, "start") != 0 && strcmp(sub, "end") != 0 && strcmp(sub, "status") != 0)
		return cmd_usage_error("maintenance", "unknown subcommand '%s'", sub);
	if (optind + 1 < argc)
		return cmd_usage_error("maintenance", "unexpected argument '%s'", argv[optind + 1]);
	if ((at_arg != NULL || dur_arg != NULL) && strcmp(sub, "start") != 0)
		return cmd_usage_error("maintenance", "--at and --duration go with start only");
	if (force && strcmp(sub, "status") == 0)
		return cmd_usage_error("maintenance", "--force goes with start and end only");
	if (at_arg != NULL && parse_at(at_arg, at, &at) < 0)
		return cmd_usage_error("maintenance", "--at '%s': not a time (now, +30m, "
		    "2026-12-01T03:00:00Z or 2026-12-01T03:00)", at_arg);
	if (dur_arg != NULL && (parse_duration(dur_arg, &dur) < 0 || dur < 60))
		return cmd_usage_error("maintenance", "--duration '%s': not a duration of at "
		    "least a minute (90m, 2h, 1d, 1h30m)", dur_arg);
	if (name == NULL || *name == '\0') {
		log_warnx("no reservation name (set reservation_name in the config)");
		return PCM_EXIT_ERROR;
	}
	if (at < time(NULL) - 60) {
		char b[32];
		log_warnx("cannot start maintenance at %s: that is in the past (use now or a "
		    "later time)", output_iso8601(at, b, sizeof(b)));
		return PCM_EXIT_USAGE;
	}

	if (strcmp(sub, "status") != 0 &&
	    (rc = take_lock(ctx, &lk, sub, force)) != 0)
		return rc;
	if (sched_open(&ctx->cfg, &s, err, sizeof(err)) < 0) {
		log_warnx("%s", err);
		rc = PCM_EXIT_ERROR;
		goto out;
	}
	if (strcmp(sub, "start") == 0)
		rc = do_start(ctx, s, name, at, dur);
	else if (strcmp(sub, "end") == 0)
		rc = do_end(ctx, s, name);
	else
		rc = do_status(ctx, s, name);
	sched_close(s);
out:
	lock_release(&lk);
	return rc;
}
