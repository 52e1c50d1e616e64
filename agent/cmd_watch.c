/* SPDX-License-Identifier: GPL-2.0-or-later */
/* cmd_watch.c - pcm-agent watch: the daemon loop (the logic is in watch.c) */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "commands.h"
#include "lock.h"
#include "log.h"
#include "output.h"
#include "plan.h"
#include "watch.h"

const char help_watch[] =
    "usage: pcm-agent watch [--once] [--dry-run] [--json]\n"
    "\n"
    "The daemon (pcm-agent.service).  Every poll_interval it reads this instance's\n"
    "scheduled maintenance events from the instance metadata service (and from\n"
    "EC2 DescribeInstanceStatus when the instance role allows it).  Each event is\n"
    "acted on once, by EventId, across restarts and reboots (STATE_DIR/events.json).\n"
    "For a new active event it:\n"
    "  - places the maintenance reservation (reservation_name) from NotBefore minus\n"
    "    event_margin (or prepare_lead, if longer, with auto_prepare): Slurm then\n"
    "    starts only jobs that end before it;\n"
    "  - lists the running jobs that would fail at the event (batch jobs that\n"
    "    cannot be requeued, interactive jobs; time limit past NotBefore);\n"
    "  - notifies: the log, wall(1) (notify_wall), RUN_DIR/motd, webhook_url\n"
    "    (webhook_template, webhook_header), and writes RUN_DIR/maintenance.json;\n"
    "  - with auto_prepare = yes, runs prepare-restart by itself prepare_lead before\n"
    "    NotBefore, in a process of its own: a reboot for instance-reboot and\n"
    "    system-reboot, a stop and start for the others; jobs that would fail do\n"
    "    not stop it (the event would end them anyway); the EventId is the\n"
    "    journal's trigger.\n"
    "A canceled or completed event undoes what was placed for it (the reservation\n"
    "if the daemon created it, maintenance.json, a notice).\n"
    "SIGHUP reloads the configuration (an invalid file is logged, the old one kept);\n"
    "SIGTERM stops the daemon.\n"
    "\n"
    "options:\n"
    "  --once      poll once and exit (tests, cron)\n"
    "  --dry-run   log what would be done; change nothing (not even events.json)\n"
    "  --json      print each poll's events and actions as one JSON line\n"
    "\n"
    "Only one watch acts at a time (STATE_DIR/watch.lock); --dry-run needs no lock.\n"
    "\n"
    "exit status: 0 stopped by SIGTERM (or --once: the poll worked); 1 no source\n"
    "of events could be read (--once) or the state file is unreadable; 2 usage;\n"
    "6 another pcm-agent watch is running.\n";

static volatile sig_atomic_t got_stop, got_hup, got_chld;

static void
on_signal(int sig)
{
	if (sig == SIGHUP)
		got_hup = 1;
	else if (sig == SIGCHLD)
		got_chld = 1;
	else
		got_stop = 1;
}

static int
state_dir_key(void)
{
	for (size_t i = 0; i < config_nkeys(); i++)
		if (strcmp(config_key_name(i), "state_dir") == 0)
			return (int)i;
	return -1;
}

/* Re-read the config file; on error keep the old config. */
static void
reload(struct pcm_ctx *ctx, struct watch *w)
{
	struct pcm_config nc;
	struct cfg_error err;
	int k = state_dir_key();

	if (config_init(&nc) < 0) {
		log_warnx("cannot reload the configuration: out of memory; keeping the old one");
		return;
	}
	if (config_read_file(&nc, ctx->config_path, ctx->config_explicit, &err) < 0 ||
	    (k >= 0 && ctx->cfg.src[k] == CFG_SRC_CMDLINE &&
	     config_set(&nc, "state_dir", ctx->cfg.state_dir, CFG_SRC_CMDLINE, "--state-dir",
	     &err) < 0) ||
	    config_discover(&nc, &err) < 0) {
		log_warnx("cannot reload the configuration: %s; keeping the old one", err.msg);
		config_free(&nc);
		return;
	}
	config_free(&ctx->cfg);
	ctx->cfg = nc;
	watch_reload(w);
	log_notice("configuration reloaded from %s (poll_interval %lds, event_margin %lds, "
	    "auto_prepare %s)", ctx->config_path, ctx->cfg.poll_interval, ctx->cfg.event_margin,
	    ctx->cfg.auto_prepare ? "yes" : "no");
}

/* What the daemon starts for auto_prepare: prepare-restart in a process of
 * its own, with the event as the trigger. */
static int
run_prepare(struct pcm_ctx *ctx, const char *event, const char *method)
{
	struct plan_opts o = { 0 };

	if (strcmp(method, "reboot") == 0)
		o.method = PLAN_METHOD_REBOOT;
	else if (strcmp(method, "stop-start") == 0)
		o.method = PLAN_METHOD_STOP_START;
	else
		return cmd_usage_error("watch", "--method %s: reboot or stop-start", method);
	if (strncmp(event, "instance-event-", 15) != 0)
		return cmd_usage_error("watch", "--prepare-event %s: not an EventId "
		    "(instance-event-...)", event);
	o.jobs = PLAN_JOBS_FORCE;
	o.yes = 1;
	o.trigger = event;
	log_notice("prepare-restart for event %s (%s), started by pcm-agent watch", event,
	    method);
	return plan_prepare(ctx, &o);
}

/*
 * One watcher at a time (a daemon and a cron --once would both act):
 * an flock on STATE_DIR/watch.lock holding our pid, dying with us, not
 * inherited by the prepare-restart we start.  The fd, or -1 (logged).
 */
static int
watch_lock(const char *state_dir, int *busy)
{
	char path[4096], pid[32] = "";
	int fd, rc;
	ssize_t n;

	*busy = 0;
	if ((rc = mkdir_p(state_dir, 0700)) < 0) {
		log_warnx("cannot create %s: %s (check state_dir)", state_dir, strerror(-rc));
		return -1;
	}
	snprintf(path, sizeof(path), "%s/watch.lock", state_dir);
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0) {
		log_warn("cannot open %s", path);
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if ((n = pread(fd, pid, sizeof(pid) - 1, 0)) > 0)
			pid[n] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		log_warnx("cannot watch: another pcm-agent watch (pid %s) is running (stop it, "
		    "or use --dry-run to look without acting)", pid[0] ? pid : "?");
		*busy = 1;
		close(fd);
		return -1;
	}
	n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)n, 0) != n)
		log_debug("cannot write our pid to %s", path);
	return fd;
}

static void
print_report(struct json_object *rep)
{
	fputs(json_object_to_json_string_ext(rep, JSON_C_TO_STRING_PLAIN), stdout);
	fputc('\n', stdout);
	fflush(stdout);
}

int
cmd_watch(struct pcm_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "once", no_argument, NULL, 'o' },
		{ "dry-run", no_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		/* internal: what the daemon runs for auto_prepare */
		{ "prepare-event", required_argument, NULL, 'P' },
		{ "method", required_argument, NULL, 'm' },
		{ NULL, 0, NULL, 0 },
	};
	struct watch_opts wo = { .stop = &got_stop, .config_path = NULL };
	const char *prep_event = NULL, *prep_method = NULL;
	struct sigaction sa = { .sa_handler = on_signal };
	struct watch *w = NULL;
	int ch, once = 0, ret = PCM_EXIT_OK, lockfd = -1, busy;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'o':
			once = 1;
			break;
		case 'd':
			wo.dry_run = 1;
			break;
		case 'j':
			ctx->json = 1;
			break;
		case 'P':
			prep_event = optarg;
			break;
		case 'm':
			prep_method = optarg;
			break;
		default:
			return cmd_usage_error("watch", "bad option");
		}
	}
	if (optind < argc)
		return cmd_usage_error("watch", "unexpected argument '%s'", argv[optind]);
	if ((prep_event != NULL) != (prep_method != NULL))
		return cmd_usage_error("watch", "--prepare-event and --method go together");
	if (prep_event != NULL)
		return run_prepare(ctx, prep_event, prep_method);
	if (ctx->config_explicit)
		wo.config_path = ctx->config_path;
	if (!wo.dry_run && (lockfd = watch_lock(ctx->cfg.state_dir, &busy)) < 0)
		return busy ? PCM_EXIT_LOCKED : PCM_EXIT_ERROR;

	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0;	/* no SA_RESTART: a signal cuts a sleep short */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGCHLD, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	if ((w = watch_new(ctx, &wo)) == NULL) {
		log_warnx("cannot start watching: out of memory");
		if (lockfd >= 0)
			close(lockfd);
		return PCM_EXIT_ERROR;
	}
	if (!once)
		log_notice("watching for scheduled maintenance events every %lds%s%s",
		    ctx->cfg.poll_interval, wo.dry_run ? " (dry run: changing nothing)" : "",
		    ctx->cfg.auto_prepare ? "; auto_prepare is on" : "");
	while (!got_stop) {
		struct json_object *rep = NULL;
		long next = 0;
		int rc = watch_poll(w, &rep, &next);

		if (ctx->json && rep != NULL)
			print_report(rep);
		json_object_put(rep);
		if (once) {
			ret = rc < 0 ? PCM_EXIT_ERROR : PCM_EXIT_OK;
			break;
		}
		/* sleep until the next poll (or an auto_prepare due sooner) */
		long wait_ms = ctx->cfg.poll_interval * 1000L;
		if (next > 0 && next * 1000L < wait_ms)
			wait_ms = next * 1000L;
		for (long slept = 0; slept < wait_ms && !got_stop && !got_hup; slept += 100) {
			struct timespec ts = { 0, 100000000L };
			nanosleep(&ts, NULL);
			if (got_chld) {
				got_chld = 0;
				watch_reap(w);
			}
		}
		if (got_hup) {
			got_hup = 0;
			reload(ctx, w);
		}
	}
	if (got_stop && !once)
		log_notice("stopping (signal)");
	watch_free(w);
	if (lockfd >= 0)
		close(lockfd);
	return ret;
}
