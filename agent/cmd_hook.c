/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cmd_hook.c - pcm-agent hook prolog | epilog | wait
 *
 * prolog and epilog are Slurm's PrologSlurmctld / EpilogSlurmctld (through
 * the wrappers in packaging/hooks/).  They run for every job, as
 * SlurmUser, inside slurmctld's job start and end: fast (no network, no
 * Slurm RPC), and they ALWAYS exit 0 - a PrologSlurmctld that fails holds
 * or requeues the job, and a broken or absent agent must never do that.
 * Every problem goes to the log (syslog) and nowhere else.  They do not
 * need the config file: a missing or broken one is logged and the
 * built-in defaults are used.
 *
 * wait is for administrators and tests: wait until jobs have ended, woken
 * by the epilog (agent/jobwait.h), asking Slurm only at --poll intervals
 * when no epilog comes.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include "commands.h"
#include "jobwait.h"
#include "log.h"
#include "maintfile.h"
#include "output.h"
#include "sched/sched.h"

const char help_hook[] =
    "usage: pcm-agent hook prolog | epilog\n"
    "       pcm-agent hook wait [--timeout DURATION] [--poll DURATION] JOBID...\n"
    "\n"
    "prolog and epilog are Slurm's PrologSlurmctld and EpilogSlurmctld entry\n"
    "points, run by slurmctld (through /usr/libexec/pcm-agent/prolog-slurmctld\n"
    "and epilog-slurmctld) with SLURM_JOB_ID in the environment.  They are fast\n"
    "(no network) and always exit 0: a missing or broken configuration, or any\n"
    "error, is logged and never fails a job.\n"
    "  epilog  wakes every `prepare-restart --wait-jobs` and `hook wait`\n"
    "          waiting for jobs (a FIFO per waiter in RUN_DIR/jobwait/).\n"
    "  prolog  logs a job that starts while a head-node maintenance is under\n"
    "          way (RUN_DIR/maintenance.json).\n"
    "\n"
    "wait blocks until every JOBID has ended (or is unknown to Slurm), woken by\n"
    "the epilog within a second of a job's end, and asks Slurm itself every\n"
    "--poll interval in case no epilog hook is installed.\n"
    "\n"
    "options (wait):\n"
    "  --timeout DURATION  give up after DURATION (default: wait_jobs_timeout);\n"
    "                      exit 4\n"
    "  --poll DURATION     ask Slurm at least this often (default 30s)\n"
    "  --json              print the result as JSON\n"
    "\n"
    "exit status: prolog and epilog 0, always; wait 0 when the jobs ended,\n"
    "4 on timeout, 1 when Slurm cannot be asked, 2 on a usage error.\n";

/*
 * The configuration, best effort: a hook must work with no config file and
 * with a broken one (logged, then the built-in defaults).
 */
static void
hook_config(struct pcm_ctx *ctx, const char *what)
{
	struct cfg_error err;

	if (config_init(&ctx->cfg) < 0) {
		log_warnx("hook %s: cannot initialise the configuration: out of memory", what);
		return;
	}
	/* the config is root's (0640: it may hold webhook credentials) and the
	 * hooks run as SlurmUser: not being let in is the normal case, not
	 * something to log for every job */
	if (geteuid() != 0 && access(ctx->config_path, R_OK) < 0 && errno == EACCES) {
		log_debug("hook %s: %s is not readable by uid %lu: using the built-in defaults",
		    what, ctx->config_path, (unsigned long)geteuid());
		return;
	}
	config_warn_exposure(0);	/* once per job would flood the log */
	if (config_read_file(&ctx->cfg, ctx->config_path, 0, &err) < 0) {
		log_warnx("hook %s: ignoring the configuration: %s (using the built-in "
		    "defaults; fix it and check with `pcm-agent config check`)", what, err.msg);
		config_free(&ctx->cfg);
		if (config_init(&ctx->cfg) < 0)
			log_warnx("hook %s: cannot initialise the configuration: out of memory",
			    what);
	}
}

/* SLURM_JOB_ID as a number; 0 when absent or not a job id */
static uint32_t
env_jobid(const char *what)
{
	const char *s = getenv("SLURM_JOB_ID");
	char *end;
	unsigned long v;

	if (s == NULL || *s == '\0') {
		log_warnx("hook %s: SLURM_JOB_ID is not set (run it as Slurm's %s)", what,
		    strcmp(what, "prolog") == 0 ? "PrologSlurmctld" : "EpilogSlurmctld");
		return 0;
	}
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v == 0 || v > UINT32_MAX) {
		log_warnx("hook %s: SLURM_JOB_ID '%.32s' is not a job id", what, s);
		return 0;
	}
	return (uint32_t)v;
}

static const char *
env_or(const char *name, const char *dflt)
{
	const char *s = getenv(name);
	return s != NULL && *s != '\0' ? s : dflt;
}

static int
hook_epilog(struct pcm_ctx *ctx)
{
	const char *run_dir;
	uint32_t jobid;
	int n;

	hook_config(ctx, "epilog");
	run_dir = ctx->cfg.run_dir ? ctx->cfg.run_dir : "/run/pcm-agent";
	jobid = env_jobid("epilog");
	/* a job id we could not read still wakes the waiters: they ask Slurm */
	n = jobwait_notify(run_dir, jobid);
	if (n < 0)
		log_warnx("hook epilog: cannot wake the waiters in %s/%s: %s (they fall back "
		    "to asking Slurm at their poll interval)", run_dir, JOBWAIT_SUBDIR,
		    strerror(-n));
	else
		log_debug("hook epilog: job %" PRIu32 " ended (exit %s, %s): %d waiter%s woken",
		    jobid, env_or("SLURM_JOB_EXIT_CODE2", "?"),
		    env_or("SLURM_SCRIPT_CONTEXT", "no context"), n, n == 1 ? "" : "s");
	return PCM_EXIT_OK;
}

static int
hook_prolog(struct pcm_ctx *ctx)
{
	struct maintfile *m = NULL;
	struct maintfile_error err;
	const char *run_dir;
	uint32_t jobid;
	time_t now = time(NULL);
	char when[32];
	int rc;

	hook_config(ctx, "prolog");
	run_dir = ctx->cfg.run_dir ? ctx->cfg.run_dir : "/run/pcm-agent";
	jobid = env_jobid("prolog");
	rc = maintfile_read(run_dir, &m, &err);
	if (rc == -ENOENT)
		return PCM_EXIT_OK;		/* no maintenance: the normal case */
	if (rc < 0) {
		log_warnx("hook prolog: %s", err.msg);
		return PCM_EXIT_OK;
	}
	output_iso8601(m->not_before, when, sizeof(when));
	if (m->phase == MAINT_PHASE_PREPARING || m->phase == MAINT_PHASE_UNDER_WAY)
		log_notice("job %" PRIu32 " of %s starts while the head-node maintenance %s "
		    "(%s, not before %s) is %s; it may be killed when the head node goes down",
		    jobid, env_or("SLURM_JOB_USER", "unknown user"), m->code,
		    m->event_id ? m->event_id : "no event id", when,
		    maintfile_phase_name(m->phase));
	else if (m->phase == MAINT_PHASE_SCHEDULED && m->window_start > 0 && now >= m->window_start)
		log_notice("job %" PRIu32 " of %s starts inside the maintenance window of %s "
		    "(not before %s): check that reservation %s exists", jobid,
		    env_or("SLURM_JOB_USER", "unknown user"), m->code, when,
		    m->reservation ? m->reservation : "(none)");
	else
		log_debug("hook prolog: job %" PRIu32 " starts; maintenance %s %s", jobid,
		    m->code, maintfile_phase_name(m->phase));
	maintfile_free(m);
	return PCM_EXIT_OK;
}

/* --- hook wait --- */

struct waitjobs {
	struct sched	*sched;
	uint32_t	*ids;
	size_t		 n;
	size_t		 left;		/* ids[0 .. left-1] have not ended yet */
	uint32_t	 pending;	/* one job not done yet, for the message */
};

/*
 * 1 when job id has ended (finished or completing) or Slurm no longer knows
 * it, 0 while it runs, waits or is being requeued, -errno when Slurm cannot
 * be asked (the message in sched_strerror()).
 */
static int
job_done(struct waitjobs *w, uint32_t id)
{
	struct sched_job *j = NULL;
	int rc = sched_job_get(w->sched, id, &j);

	if (rc == -ENOENT)
		return 1;	/* purged: long over */
	if (rc < 0)
		return rc;
	rc = j->outcome == SCHED_OUTCOME_NONE;
	sched_job_free(j);
	return rc;
}

static int
wait_check(void *arg, uint32_t jobid)
{
	struct waitjobs *w = arg;

	(void)jobid;	/* any epilog: look at every job still awaited */
	while (w->left > 0) {
		int r = job_done(w, w->ids[w->left - 1]);
		if (r < 0)
			return -ECOMM;	/* not -ETIMEDOUT: that is the wait's own timeout */
		if (r == 0) {
			w->pending = w->ids[w->left - 1];
			return 0;
		}
		w->left--;	/* ended: never asked about again */
	}
	return 1;
}

static volatile sig_atomic_t wait_stop;

static void
on_signal(int sig)
{
	(void)sig;
	wait_stop = 1;
}

static int
hook_wait(struct pcm_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "timeout", required_argument, NULL, 't' },
		{ "poll", required_argument, NULL, 'p' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	struct waitjobs w = { 0 };
	struct jobwait *jw = NULL;
	struct jobwait_stats st = { 0 };
	struct cfg_error cerr;
	struct timespec t0, t1;
	long timeout = -1, poll_s = 30;
	int ch, rc, ret = PCM_EXIT_ERROR;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 't':
			if (parse_duration(optarg, &timeout) < 0 || timeout <= 0)
				return cmd_usage_error("hook", "--timeout: '%s' is not a duration "
				    "(90, 90s, 15m, 2h)", optarg);
			break;
		case 'p':
			if (parse_duration(optarg, &poll_s) < 0 || poll_s <= 0)
				return cmd_usage_error("hook", "--poll: '%s' is not a duration "
				    "(90, 90s, 15m, 2h)", optarg);
			break;
		case 'j':
			ctx->json = 1;
			break;
		default:
			return cmd_usage_error("hook", "bad option");
		}
	}
	if (optind >= argc)
		return cmd_usage_error("hook", "wait: missing JOBID");
	if ((w.ids = calloc((size_t)(argc - optind), sizeof(*w.ids))) == NULL) {
		log_warnx("cannot wait for jobs: out of memory");
		return PCM_EXIT_ERROR;
	}
	for (int i = optind; i < argc; i++) {
		char *end;
		unsigned long v;
		errno = 0;
		v = strtoul(argv[i], &end, 10);
		if (errno != 0 || *end != '\0' || v == 0 || v > UINT32_MAX || argv[i][0] == '-') {
			free(w.ids);
			return cmd_usage_error("hook", "wait: '%s' is not a job id", argv[i]);
		}
		w.ids[w.n++] = (uint32_t)v;
	}
	w.left = w.n;

	/* wait is an admin command: the configuration must be right */
	if (config_init(&ctx->cfg) < 0 ||
	    config_read_file(&ctx->cfg, ctx->config_path, ctx->config_explicit, &cerr) < 0 ||
	    config_discover(&ctx->cfg, &cerr) < 0) {
		log_warnx("%s", cerr.msg);
		goto out;
	}
	if (timeout < 0)
		timeout = ctx->cfg.wait_jobs_timeout;
	char errbuf[512];
	if ((rc = sched_open(&ctx->cfg, &w.sched, errbuf, sizeof(errbuf))) < 0) {
		log_warnx("cannot wait for jobs: %s", errbuf);
		goto out;
	}

	/* the waiter first, then the first look: no epilog can fall in between */
	char su[64];
	gid_t sg;
	if (jobwait_slurm_user(ctx->cfg.slurm_conf, su, sizeof(su), &sg) < 0)
		log_notice("SlurmUser %s is not a user here: the epilog cannot wake us, Slurm "
		    "is asked every %lds", su, poll_s);
	if ((rc = jobwait_open_for(ctx->cfg.run_dir, sg, &jw)) < 0) {
		log_warnx("cannot wait for epilog notifications in %s/%s: %s (check run_dir)",
		    ctx->cfg.run_dir, JOBWAIT_SUBDIR, strerror(-rc));
		goto out;
	}
	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = jobwait_until(jw, wait_check, &w, (int)(timeout > INT32_MAX ? INT32_MAX : timeout),
	    (int)(poll_s > INT32_MAX ? INT32_MAX : poll_s), &st);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	const char *how = st.checks <= 1 ? "already ended" :
	    st.done_by_notify ? "epilog" : "poll";

	if (rc == 0) {
		ret = PCM_EXIT_OK;
		if (ctx->json) {
			struct json_object *o = json_object_new_object();
			struct json_object *a = json_object_new_array();
			for (size_t i = 0; i < w.n; i++)
				json_object_array_add(a, json_object_new_int64(w.ids[i]));
			json_object_object_add(o, "jobs", a);
			json_object_object_add(o, "done", json_object_new_boolean(1));
			json_object_object_add(o, "woken_by", json_object_new_string(how));
			json_object_object_add(o, "last_jobid", json_object_new_int64(st.last_jobid));
			json_object_object_add(o, "notifications",
			    json_object_new_int64(st.notifications));
			json_object_object_add(o, "checks", json_object_new_int64(st.checks));
			json_object_object_add(o, "seconds", json_object_new_double(secs));
			output_json(o);
			json_object_put(o);
		} else if (st.checks <= 1) {
			printf("jobs ended: all %zu had already ended\n", w.n);
		} else if (st.done_by_notify) {
			printf("jobs ended: woken by the epilog of job %" PRIu32 " after %.3f s "
			    "(%u notification%s, %u check%s of Slurm)\n", st.last_jobid, secs,
			    st.notifications, st.notifications == 1 ? "" : "s",
			    st.checks, st.checks == 1 ? "" : "s");
		} else {
			printf("jobs ended: found by a poll of Slurm after %.3f s (%u notification%s, "
			    "%u check%s of Slurm)\n", secs, st.notifications,
			    st.notifications == 1 ? "" : "s", st.checks, st.checks == 1 ? "" : "s");
		}
	} else if (rc == -ETIMEDOUT) {
		log_warnx("timed out after %lds waiting for job %" PRIu32 " (and any after it) "
		    "(raise --timeout, or check that EpilogSlurmctld runs pcm-agent hook epilog)",
		    timeout, w.pending);
		ret = PCM_EXIT_TIMEOUT;
	} else if (rc == -EINTR && wait_stop) {
		log_warnx("stopped by a signal while waiting for job %" PRIu32, w.pending);
	} else if (rc == -ECOMM) {
		log_warnx("cannot wait for jobs: %s", sched_strerror(w.sched));
	} else {
		log_warnx("cannot wait for jobs: %s", strerror(-rc));
	}
out:
	jobwait_close(jw);
	sched_close(w.sched);
	free(w.ids);
	return ret;
}

int
cmd_hook(struct pcm_ctx *ctx, int argc, char **argv)
{
	const char *sub;

	if (argc < 2)
		return cmd_usage_error("hook", "missing subcommand (prolog, epilog or wait)");
	sub = argv[1];
	if (strcmp(sub, "epilog") == 0 || strcmp(sub, "prolog") == 0) {
		/* Slurm gives no arguments; anything else is logged, never fatal */
		if (argc > 2)
			log_warnx("hook %s: ignoring unexpected argument '%.64s'", sub, argv[2]);
		return sub[0] == 'e' ? hook_epilog(ctx) : hook_prolog(ctx);
	}
	if (strcmp(sub, "wait") == 0)
		return hook_wait(ctx, argc - 1, argv + 1);
	return cmd_usage_error("hook", "unknown subcommand '%s' (prolog, epilog or wait)", sub);
}
