/* SPDX-License-Identifier: GPL-2.0-or-later */
/* cmd_prepare_restart.c - pcm-agent prepare-restart (the steps are in agent/plan/) */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cmd_storage.h"
#include "commands.h"
#include "plan.h"

const char help_prepare_restart[] =
    "usage: pcm-agent prepare-restart [--reboot [--keep-fleet] | --stop-start |\n"
    "           --no-restart] [--wait-jobs[=TIMEOUT] | --force] [--no-save]\n"
    "           [--target DIR] [--exclude PATTERN]... [--patch] [--dry-run]\n"
    "           [--yes] [--json]\n"
    "\n"
    "Take the cluster to \"head node ready to go down\" with nothing lost, in\n"
    "steps recorded in the journal (STATE_DIR/journal.json) before and after\n"
    "each one:\n"
    "  preflight    identity, Slurm, compute fleet item, permissions of the\n"
    "               restart method (EC2 DryRun), ephemeral volume, target, space\n"
    "  prestage     save of the ephemeral volume while jobs still run\n"
    "  reservation  Slurm maintenance reservation on all nodes: no new job starts\n"
    "  jobgate      requeueable jobs will be requeued; jobs that would fail\n"
    "               (--no-requeue, interactive) stop the command (exit 3)\n"
    "  fleet_stop   compute fleet STOP_REQUESTED, wait for STOPPED\n"
    "  final_save   incremental save, verified against its manifest\n"
    "  patch        with --patch: the OS update (dnf/yum --security, apt-get\n"
    "               upgrade, or patch_command); no restart if it fails, none\n"
    "               either without --reboot/--stop-start when no reboot is needed\n"
    "  restart      the restart request (after a confirmation on a terminal)\n"
    "Run it again after any interruption: it continues at the first step not\n"
    "done and never stops the fleet or requests the restart twice.\n"
    "`pcm-agent resume` (at boot) undoes it; `pcm-agent abort` undoes it now.\n"
    "With --keep-fleet (a reboot only) the compute fleet and its jobs keep running:\n"
    "  preflight, kf_budget (computemgtd's clustermgtd_timeout against the outage\n"
    "  estimate; widened and waited for when short), reservation, kf_clustermgtd\n"
    "  (disable_all_cluster_management), kf_record (jobs, nodes), kf_budget_wait,\n"
    "  kf_slurmctld (stopped: it saves its state), restart.\n"
    "\n"
    "options:\n"
    "  --reboot            EC2 RebootInstances of this instance (keeps the volume)\n"
    "  --stop-start        SSM AWS-RestartEC2Instance: stop, then start (new hardware)\n"
    "  --no-restart        request nothing: print the command to run\n"
    "                      (default: restart_method of the config)\n"
    "  --keep-fleet        with --reboot: no fleet stop, jobs keep running across\n"
    "                      the reboot (default: keep_fleet of the config)\n"
    "  --wait-jobs[=T]     wait for the jobs that would fail to end (default\n"
    "                      timeout: wait_jobs_timeout; exit 4 when it passes)\n"
    "  --force             go on: jobs that would fail fail, each named in the log\n"
    "  --no-save           do not save the ephemeral volume\n"
    "  --target DIR        where to save (default: target, or the first candidate)\n"
    "  --exclude PATTERN   leave out of the saves what matches (as save --exclude;\n"
    "                      adds to the config's `exclude`; a re-run after an\n"
    "                      interruption keeps those of the first run); may repeat\n"
    "  --patch             update the OS packages before the restart (patch = yes)\n"
    "  --dry-run           preflight only: print what each step would do, what the\n"
    "                      saves would leave out (excludes), and which jobs would\n"
    "                      be requeued or fail; change nothing\n"
    "  --yes               no confirmation before the restart request\n"
    "  --json              print the result (or the plan) as JSON\n"
    "\n"
    "exit status: 0 done (or planned); 1 a step failed (the message says which and\n"
    "why); 2 usage; 3 running jobs would fail (listed); 4 timed out (jobs, fleet);\n"
    "5 an AWS permission is missing; 6 another pcm-agent operation holds the lock.\n";

int
cmd_prepare_restart(struct pcm_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "reboot", no_argument, NULL, 'r' },
		{ "stop-start", no_argument, NULL, 's' },
		{ "no-restart", no_argument, NULL, 'n' },
		{ "keep-fleet", no_argument, NULL, 'k' },
		{ "wait-jobs", optional_argument, NULL, 'w' },
		{ "force", no_argument, NULL, 'f' },
		{ "no-save", no_argument, NULL, 'N' },
		{ "target", required_argument, NULL, 't' },
		{ "patch", no_argument, NULL, 'P' },
		{ "dry-run", no_argument, NULL, 'd' },
		{ "exclude", required_argument, NULL, 'x' },
		{ "yes", no_argument, NULL, 'y' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	struct plan_opts o = { 0 };
	char err[256];
	int ch, nmethod = 0, njobs = 0;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'r':
			o.method = PLAN_METHOD_REBOOT;
			nmethod++;
			break;
		case 's':
			o.method = PLAN_METHOD_STOP_START;
			nmethod++;
			break;
		case 'n':
			o.method = PLAN_METHOD_NONE;
			nmethod++;
			break;
		case 'k':
			o.keep_fleet = 1;
			break;
		case 'w':
			o.jobs = PLAN_JOBS_WAIT;
			njobs++;
			if (optarg != NULL && (parse_duration(optarg, &o.wait_timeout) < 0 ||
			    o.wait_timeout <= 0))
				return cmd_usage_error("prepare-restart", "--wait-jobs=%s: not a "
				    "duration (e.g. 30m, 2h)", optarg);
			break;
		case 'f':
			o.jobs = PLAN_JOBS_FORCE;
			njobs++;
			break;
		case 'N':
			o.no_save = 1;
			break;
		case 't':
			o.target = optarg;
			break;
		case 'P':
			o.patch = 1;
			break;
		case 'd':
			o.dry_run = 1;
			break;
		case 'x':
			if (storage_add_exclude(ctx, optarg, err, sizeof(err)) < 0)
				return cmd_usage_error("prepare-restart", "--exclude: %s", err);
			break;
		case 'y':
			o.yes = 1;
			break;
		case 'j':
			ctx->json = 1;
			break;
		default:
			return cmd_usage_error("prepare-restart", "bad option");
		}
	}
	if (optind < argc)
		return cmd_usage_error("prepare-restart", "unexpected argument '%s'", argv[optind]);
	if (nmethod > 1)
		return cmd_usage_error("prepare-restart", "--reboot, --stop-start and --no-restart "
		    "exclude each other");
	if (o.keep_fleet && o.method != PLAN_METHOD_REBOOT)
		return cmd_usage_error("prepare-restart", "--keep-fleet needs --reboot");
	if (o.keep_fleet && (njobs > 0 || o.no_save || o.target != NULL))
		return cmd_usage_error("prepare-restart", "--keep-fleet stops no job and saves "
		    "nothing: --wait-jobs, --force, --no-save and --target make no sense with it");
	if (njobs > 1)
		return cmd_usage_error("prepare-restart", "--wait-jobs and --force exclude each other");
	if (o.no_save && o.target != NULL)
		return cmd_usage_error("prepare-restart", "--target makes no sense with --no-save");
	return plan_prepare(ctx, &o);
}
