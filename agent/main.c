/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * main.c - pcm-agent: parse the global options, load the configuration,
 * run one command from the table.  All logic lives in libpcmagent.a.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "log.h"
#include "pcm.h"
#include "sched/sched.h"

#define NEED_CONFIG	0x1	/* load config + discovery before the command */

struct pcm_command {
	const char	*name;
	pcm_cmd_fn	 fn;
	unsigned	 flags;
	const char	*help;		/* help_<name>: usage line, blank, text */
	const char	*summary;	/* one line for `pcm-agent --help` */
};

/* The command table; see commands.h for what adding a command takes. */
static const struct pcm_command commands[] = {
	{ "abort", cmd_abort, NEED_CONFIG, help_abort,
	  "undo a prepare-restart (reservation, fleet stop); keep the save" },
	{ "check", cmd_check, NEED_CONFIG, help_check,
	  "check the AWS permissions the restart method needs (EC2 DryRun)" },
	{ "config", cmd_config, NEED_CONFIG, help_config,
	  "check the configuration and print the effective values" },
	{ "events", cmd_events, NEED_CONFIG, help_events,
	  "scheduled maintenance events of this instance (IMDS and EC2)" },
	{ "fleet", cmd_fleet, NEED_CONFIG, help_fleet,
	  "show, stop or start the compute fleet (like pcluster update-compute-fleet)" },
	/* no NEED_CONFIG: a Slurm hook must not fail on a broken config file */
	{ "hook", cmd_hook, 0, help_hook,
	  "Slurm PrologSlurmctld/EpilogSlurmctld entry points; wait for jobs" },
	{ "jobs", cmd_jobs, NEED_CONFIG, help_jobs,
	  "list Slurm jobs and what a fleet stop would do to each" },
	{ "ls", cmd_ls, NEED_CONFIG, help_ls,
	  "list what a save holds, like ls -l / tar -tv" },
	{ "maintenance", cmd_maintenance, NEED_CONFIG, help_maintenance,
	  "start, end or show the Slurm maintenance reservation" },
	{ "prepare-restart", cmd_prepare_restart, NEED_CONFIG, help_prepare_restart,
	  "take the cluster safely to \"head node ready to restart\", journaled" },
	{ "restart-head-node", cmd_restart_head_node, NEED_CONFIG, help_restart_head_node,
	  "off-box: stop and start a cluster's head node, wait until it is ok" },
	{ "restore", cmd_restore, NEED_CONFIG, help_restore,
	  "restore a save onto the ephemeral volume, checking every file" },
	{ "resume", cmd_resume, NEED_CONFIG, help_resume,
	  "at boot: restore the ephemeral volume, start the fleet, end the maintenance" },
	{ "save", cmd_save, NEED_CONFIG, help_save,
	  "save the ephemeral volume (/scratch) to the target, incrementally" },
	{ "saves", cmd_saves, NEED_CONFIG, help_saves,
	  "list every save under a target: when, how big, complete, verified" },
	{ "status", cmd_status, NEED_CONFIG, help_status,
	  "cluster, Slurm, jobs and maintenance at a glance" },
	{ "targets", cmd_targets, NEED_CONFIG, help_targets,
	  "list where a save of the ephemeral volume can go (EFS, FSx, EBS)" },
	{ "verify", cmd_verify, NEED_CONFIG, help_verify,
	  "re-read a save and check every file against its manifest" },
	{ "watch", cmd_watch, NEED_CONFIG, help_watch,
	  "the daemon: scheduled EC2 events -> reservation, notices, auto prepare" },
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static const char exit_codes_text[] =
    "exit status:\n"
    "  0  success\n"
    "  1  error (the message says what failed and why)\n"
    "  2  usage error (unknown command or option)\n"
    "  3  blocked: running jobs would fail (--no-requeue or interactive)\n"
    "  4  timed out waiting (jobs, compute fleet, instance)\n"
    "  5  an AWS permission is missing (see `pcm-agent check`)\n"
    "  6  another pcm-agent operation holds the lock (or, for maintenance start|end,\n"
    "     is in progress)\n";

static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: pcm-agent [-c FILE] [--state-dir DIR] [--json] [-v|-q] COMMAND [ARGS]\n"
	    "       pcm-agent help COMMAND | --help | --version\n"
	    "\n"
	    "Prepare an AWS ParallelCluster head node for a reboot or stop/start\n"
	    "without losing jobs or /scratch, and bring the cluster back after boot.\n"
	    "\n"
	    "global options:\n"
	    "  -c, --config FILE    config file (default " PCM_DEFAULT_CONFIG ")\n"
	    "      --state-dir DIR  state directory (journal, lock; default /var/lib/pcm-agent)\n"
	    "      --json           machine-readable output on stdout\n"
	    "  -v, --verbose        more detail (repeat for more)\n"
	    "  -q, --quiet          warnings and errors only\n"
	    "  -h, --help           this help; `pcm-agent help COMMAND` for one command\n"
	    "  -V, --version        print the version and the Slurm release built for\n"
	    "\n"
	    "commands:\n");
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(fp, "  %-18s %s\n", commands[i].name, commands[i].summary);
	fprintf(fp, "  %-18s %s\n", "help", "show the help of a command");
	fprintf(fp, "\n%s", exit_codes_text);
}

static const struct pcm_command *
find_command(const char *name)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

int
cmd_usage_error(const char *cmd, const char *fmt, ...)
{
	const struct pcm_command *c = find_command(cmd);
	va_list ap;

	fprintf(stderr, "pcm-agent %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (c != NULL)
		fprintf(stderr, "%.*s\n", (int)strcspn(c->help, "\n"), c->help);
	fprintf(stderr, "Try 'pcm-agent help %s' for more.\n", cmd);
	return PCM_EXIT_USAGE;
}

static int
help_command(const char *name)
{
	const struct pcm_command *c = find_command(name);

	if (strcmp(name, "help") == 0) {
		printf("usage: pcm-agent help COMMAND\n\nShow the help of COMMAND.\n\n");
		usage(stdout);
		return PCM_EXIT_OK;
	}
	if (c == NULL) {
		fprintf(stderr, "pcm-agent: unknown command '%s'\n", name);
		usage(stderr);
		return PCM_EXIT_USAGE;
	}
	fputs(c->help, stdout);
	return PCM_EXIT_OK;
}

/* "--help" among a command's arguments (before any "--") */
static int
wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			return 0;
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return 1;
	}
	return 0;
}

static int
load_config(struct pcm_ctx *ctx, const char *state_dir)
{
	struct cfg_error err;

	if (config_init(&ctx->cfg) < 0) {
		log_warnx("cannot initialise the configuration: out of memory");
		return -1;
	}
	if (config_read_file(&ctx->cfg, ctx->config_path, ctx->config_explicit, &err) < 0 ||
	    (state_dir != NULL &&
	     config_set(&ctx->cfg, "state_dir", state_dir, CFG_SRC_CMDLINE, "--state-dir", &err) < 0) ||
	    config_discover(&ctx->cfg, &err) < 0) {
		log_warnx("%s", err.msg);
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "state-dir", required_argument, NULL, 'S' },
		{ "json", no_argument, NULL, 'j' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct pcm_ctx ctx = { .config_path = PCM_DEFAULT_CONFIG };
	const char *state_dir = NULL;
	const struct pcm_command *cmd;
	int ch, rc;

	const char *env_conf = getenv("PCM_AGENT_CONFIG");
	if (env_conf != NULL && *env_conf != '\0') {
		ctx.config_path = env_conf;
		ctx.config_explicit = 1;
	}
	/* "+": stop at the command name; the command parses the rest */
	while ((ch = getopt_long(argc, argv, "+c:jvqhV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			ctx.config_path = optarg;
			ctx.config_explicit = 1;
			break;
		case 'S':
			state_dir = optarg;
			break;
		case 'j':
			ctx.json = 1;
			break;
		case 'v':
			ctx.verbose++;
			break;
		case 'q':
			ctx.verbose = -1;
			break;
		case 'h':
			usage(stdout);
			return PCM_EXIT_OK;
		case 'V':
			printf("pcm-agent %s (built for Slurm %s)\n", PCM_VERSION,
			    sched_built_version());
			return PCM_EXIT_OK;
		default:
			usage(stderr);
			return PCM_EXIT_USAGE;
		}
	}
	argc -= optind;
	argv += optind;
	log_init("pcm-agent", LOG_DEST_AUTO, ctx.verbose);

	if (argc == 0) {
		usage(stderr);
		return PCM_EXIT_USAGE;
	}
	if (strcmp(argv[0], "help") == 0) {
		if (argc < 2) {
			usage(stdout);
			return PCM_EXIT_OK;
		}
		return help_command(argv[1]);
	}
	if ((cmd = find_command(argv[0])) == NULL) {
		fprintf(stderr, "pcm-agent: unknown command '%s'\n\n", argv[0]);
		usage(stderr);
		return PCM_EXIT_USAGE;
	}
	if (wants_help(argc, argv))
		return help_command(cmd->name);

	if ((cmd->flags & NEED_CONFIG) && load_config(&ctx, state_dir) < 0)
		return PCM_EXIT_ERROR;
	optind = 0;	/* glibc: restart getopt for the command's own options */
	rc = cmd->fn(&ctx, argc, argv);
	config_free(&ctx.cfg);
	return rc;
}
