/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * spank_pcm.c - tell users at sbatch/salloc/srun time that a head-node
 * maintenance is scheduled or under way; see spank_pcm(8) and README.md.
 *
 * In plugstack.conf:
 *   optional /usr/lib/x86_64-linux-gnu/slurm-wlm/spank_pcm.so [file=PATH]
 *
 * Allocator (sbatch, salloc) and local (srun) contexts: after the options
 * are parsed, stat() the maintenance state (default
 * /run/pcm-agent/maintenance.json, written by pcm-agent).  No file - the
 * normal case - costs that one stat() and nothing else.  Otherwise print
 * one notice (unless --pcm-ack-maintenance, or srun inside a job that
 * already got the notice at submission), and put PCM_MAINTENANCE_NOT_BEFORE
 * (seconds since the epoch) into the job's environment: into the submitting process's
 * environment (sbatch --export=ALL, the default, and srun pass it on) and
 * into the job control environment (SPANK_PCM_MAINTENANCE_NOT_BEFORE in
 * the prolog/epilog).  Remote context (slurmstepd): when the job's
 * environment lacks it (--export=NONE) but the job control environment
 * has it, copy it over.
 *
 * Rules (Slurm's): never block, never exit, never fail a submission.  Every
 * callback returns ESPANK_SUCCESS, whatever goes wrong in here; our own
 * errors are reported with slurm_error() and the submission goes on.
 */
#include <stdint.h>	/* spank.h needs it first */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <slurm/spank.h>

#include "pcm_notice.h"

SPANK_PLUGIN(pcm, 1);

#define DEFAULT_FILE	"/run/pcm-agent/maintenance.json"
#define MAX_FILE	65536
/* a job control variable NAME reaches the job as SLURM_SPANK_NAME */
#define CTL_ENV		"SLURM_SPANK_" PCM_NOTICE_ENV

static char state_file[4096] = DEFAULT_FILE;
static int acked;

static int
ack_cb(int val, const char *optarg, int remote)
{
	(void)val;
	(void)optarg;
	(void)remote;
	acked = 1;
	return ESPANK_SUCCESS;
}

/* registered from slurm_spank_init(): sbatch 22.05 ignored an exported
 * spank_options table here, spank_option_register() works everywhere */
static struct spank_option pcm_options[] = {
	{ PCM_NOTICE_ACK_OPT, NULL,
	  "I know about the planned head-node maintenance: do not print the notice (pcm-agent)",
	  0, 0, ack_cb },
	SPANK_OPTIONS_TABLE_END
};

/* plugstack.conf arguments: file=PATH */
static void
parse_args(int ac, char **av)
{
	for (int i = 0; i < ac; i++) {
		if (strncmp(av[i], "file=", 5) == 0 && av[i][5] == '/' &&
		    strlen(av[i] + 5) < sizeof(state_file))
			snprintf(state_file, sizeof(state_file), "%s", av[i] + 5);
		else
			slurm_error("spank_pcm: ignoring plugstack.conf argument '%s' "
			    "(expected file=/absolute/path)", av[i]);
	}
}

int
slurm_spank_init(spank_t sp, int ac, char **av)
{
	spank_context_t ctx = spank_context();

	parse_args(ac, av);
	if (spank_option_register(sp, &pcm_options[0]) != ESPANK_SUCCESS &&
	    (ctx == S_CTX_ALLOCATOR || ctx == S_CTX_LOCAL))
		slurm_error("spank_pcm: cannot register --" PCM_NOTICE_ACK_OPT);
	return ESPANK_SUCCESS;
}

/* --- the small JSON of maintenance.json (agent/maintfile.h) --- */

struct state {
	char	phase[32];
	char	code[128];
	char	event_id[128];
	char	reservation[128];
	char	message[1024];
	long long not_before, not_after, window_start;
};

static const char *
jstr(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (o != NULL && json_object_object_get_ex(o, key, &v) &&
	    json_object_is_type(v, json_type_string))
		return json_object_get_string(v);
	return NULL;
}

/* key_epoch, else key as "YYYY-MM-DDTHH:MM:SSZ"; 0 when absent/invalid */
static long long
jtime(struct json_object *o, const char *key)
{
	struct json_object *v;
	char k[64];
	const char *s;

	if (o == NULL)
		return 0;
	snprintf(k, sizeof(k), "%s_epoch", key);
	if (json_object_object_get_ex(o, k, &v) && json_object_is_type(v, json_type_int))
		return (long long)json_object_get_int64(v);
	if ((s = jstr(o, key)) != NULL && *s) {
		struct tm tm = { 0 };
		const char *end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
		if (end != NULL && strcmp(end, "Z") == 0)
			return (long long)timegm(&tm);
	}
	return 0;
}

static void
copy(char *dst, size_t len, const char *src)
{
	snprintf(dst, len, "%s", src ? src : "");
}

/* a name we print as is: letters, digits, - _ . : */
static int
plain(const char *s)
{
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || strchr("-_.:", *s)))
			return 0;
	return 1;
}

/* 0, or -1 with why filled */
static int
read_state(int fd, struct state *st, char *why, size_t whylen)
{
	struct json_object *o = NULL, *ev, *win;
	struct stat sb;
	char *buf = NULL;
	size_t got = 0;
	int rc = -1;

	if (fstat(fd, &sb) < 0) {
		snprintf(why, whylen, "%s", strerror(errno));
		goto out;
	}
	if (!S_ISREG(sb.st_mode) || sb.st_size > MAX_FILE) {
		snprintf(why, whylen, "not a regular file of at most %d bytes", MAX_FILE);
		goto out;
	}
	if ((buf = malloc((size_t)sb.st_size + 1)) == NULL) {
		snprintf(why, whylen, "out of memory");
		goto out;
	}
	while (got < (size_t)sb.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)sb.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(why, whylen, "%s", strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	if ((o = json_tokener_parse(buf)) == NULL || !json_object_is_type(o, json_type_object)) {
		snprintf(why, whylen, "not a JSON object");
		goto out;
	}
	if (!json_object_object_get_ex(o, "event", &ev) || !json_object_is_type(ev, json_type_object))
		ev = NULL;
	if (!json_object_object_get_ex(o, "window", &win) ||
	    !json_object_is_type(win, json_type_object))
		win = NULL;
	copy(st->phase, sizeof(st->phase), jstr(o, "phase"));
	copy(st->code, sizeof(st->code), jstr(ev, "code"));
	copy(st->event_id, sizeof(st->event_id), jstr(ev, "event_id"));
	copy(st->reservation, sizeof(st->reservation), jstr(o, "reservation"));
	copy(st->message, sizeof(st->message), jstr(o, "message"));
	st->not_before = jtime(ev, "not_before");
	st->not_after = jtime(ev, "not_after");
	st->window_start = jtime(win, "start");
	if (strcmp(st->phase, "scheduled") != 0 && strcmp(st->phase, "preparing") != 0 &&
	    strcmp(st->phase, "under-way") != 0 && strcmp(st->phase, "resuming") != 0) {
		snprintf(why, whylen, "unknown phase '%.40s'", st->phase);
		goto out;
	}
	if (st->not_before <= 0) {
		snprintf(why, whylen, "no event.not_before");
		goto out;
	}
	if (!plain(st->code) || !plain(st->event_id) || !plain(st->reservation)) {
		snprintf(why, whylen, "event code, event id or reservation is not a plain name");
		goto out;
	}
	rc = 0;
out:
	json_object_put(o);
	free(buf);
	return rc;
}

static void
print_notice(const struct state *st)
{
	struct pcm_notice n = {
		.phase = st->phase,
		.code = st->code,
		.event_id = st->event_id,
		.not_before = st->not_before,
		.not_after = st->not_after,
		.window_start = st->window_start,
		.reservation = st->reservation,
		.message = st->message,
	};
	char *text = pcm_notice_format(&n, (long long)time(NULL), "");
	char *line, *save = NULL;

	if (text == NULL) {
		slurm_error("spank_pcm: a head-node maintenance is planned (%s at %s), "
		    "but the notice could not be formatted: out of memory", st->code, st->phase);
		return;
	}
	/* one log call a line: Slurm prefixes each ("sbatch: ...") */
	for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save))
		slurm_spank_log("%s", line);
	slurm_spank_log("Hide this notice with --" PCM_NOTICE_ACK_OPT ".");
	free(text);
}

/* srun inside a job that already exists: the submission told the user */
static int
inside_job(void)
{
	return getenv("SLURM_JOB_ID") != NULL || getenv("SLURM_JOBID") != NULL;
}

int
slurm_spank_init_post_opt(spank_t sp, int ac, char **av)
{
	spank_context_t ctx = spank_context();
	struct state st;
	char why[256], val[32];
	struct stat sb;
	int fd;

	(void)ac;
	(void)av;
	if (ctx != S_CTX_ALLOCATOR && ctx != S_CTX_LOCAL)
		return ESPANK_SUCCESS;

	/* the normal case: no maintenance, one stat() */
	if (stat(state_file, &sb) < 0) {
		if (errno != ENOENT && errno != ENOTDIR)
			slurm_error("spank_pcm: cannot read %s: %s (the job is submitted anyway; "
			    "tell the administrator)", state_file, strerror(errno));
		/* a value inherited from an older submission is stale now */
		unsetenv(PCM_NOTICE_ENV);
		return ESPANK_SUCCESS;
	}

	memset(&st, 0, sizeof(st));
	/* O_NONBLOCK: a FIFO planted there must not hang sbatch */
	fd = open(state_file, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		if (errno != ENOENT)	/* removed since the stat: no maintenance */
			slurm_error("spank_pcm: cannot read %s: %s (the job is submitted anyway; "
			    "tell the administrator)", state_file, strerror(errno));
		unsetenv(PCM_NOTICE_ENV);
		return ESPANK_SUCCESS;
	}
	if (read_state(fd, &st, why, sizeof(why)) < 0) {
		close(fd);
		slurm_error("spank_pcm: ignoring the maintenance state %s: %s (the job is "
		    "submitted anyway; tell the administrator)", state_file, why);
		unsetenv(PCM_NOTICE_ENV);
		return ESPANK_SUCCESS;
	}
	close(fd);

	if (strcmp(st.phase, "resuming") == 0) {
		/* over for the jobs submitted now: no checkpoint deadline */
		unsetenv(PCM_NOTICE_ENV);
	} else {
		snprintf(val, sizeof(val), "%lld", st.not_before);
		if (setenv(PCM_NOTICE_ENV, val, 1) < 0)
			slurm_error("spank_pcm: cannot set %s: %s", PCM_NOTICE_ENV, strerror(errno));
		/* the prolog/epilog see SPANK_PCM_MAINTENANCE_NOT_BEFORE, the job
		 * SLURM_SPANK_...: slurm_spank_user_init copies it back when
		 * --export=NONE dropped ours */
		(void)spank_job_control_setenv(sp, PCM_NOTICE_ENV, val, 1);
	}
	if (acked)
		slurm_verbose("spank_pcm: maintenance notice hidden by --" PCM_NOTICE_ACK_OPT);
	else if (ctx == S_CTX_LOCAL && inside_job())
		slurm_verbose("spank_pcm: srun inside job %s: no maintenance notice",
		    getenv("SLURM_JOB_ID") ? getenv("SLURM_JOB_ID") : getenv("SLURM_JOBID"));
	else
		print_notice(&st);
	return ESPANK_SUCCESS;
}

/* slurmstepd: give the job the deadline when its environment lacks it */
int
slurm_spank_user_init(spank_t sp, int ac, char **av)
{
	char val[64], cur[64];

	(void)ac;
	(void)av;
	if (spank_context() != S_CTX_REMOTE)
		return ESPANK_SUCCESS;
	if (spank_getenv(sp, PCM_NOTICE_ENV, cur, sizeof(cur)) == ESPANK_SUCCESS)
		return ESPANK_SUCCESS;
	if (spank_getenv(sp, CTL_ENV, val, sizeof(val)) != ESPANK_SUCCESS)
		return ESPANK_SUCCESS;
	if (spank_setenv(sp, PCM_NOTICE_ENV, val, 1) != ESPANK_SUCCESS)
		slurm_error("spank_pcm: cannot set %s in the job's environment", PCM_NOTICE_ENV);
	return ESPANK_SUCCESS;
}
