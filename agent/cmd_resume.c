/* SPDX-License-Identifier: GPL-2.0-or-later */
/* cmd_resume.c - pcm-agent resume (the steps are in agent/plan/) */
#include <getopt.h>
#include <stdio.h>

#include "commands.h"
#include "plan.h"

const char help_resume[] =
    "usage: pcm-agent resume [--force] [--json]\n"
    "\n"
    "Bring the cluster back after prepare-restart; run at every boot by\n"
    "pcm-agent-resume.service (with no operation in progress it exits 0 at\n"
    "once).  Steps, recorded in the journal:\n"
    "  restore      if the ephemeral volume lacks the save's content, restore it\n"
    "               and check every checksum; if it still holds it (a reboot),\n"
    "               verify it in place and copy nothing\n"
    "  health       slurmctld answers, partitions present, nodes stuck powering\n"
    "               up or down reset, a PROTECTED compute fleet reported\n"
    "  fleet_start  START_REQUESTED and wait for RUNNING, only if prepare-restart\n"
    "               stopped the fleet (a fleet stopped by the admin stays stopped)\n"
    "  unreserve    delete the maintenance reservation, close the journal\n"
    "A summary goes to the log and, with notify_wall, to logged-in users.\n"
    "\n"
    "options:\n"
    "  --force   resume even though the restart requested has not happened yet\n"
    "            (same boot)\n"
    "  --json    print the result as JSON\n"
    "\n"
    "exit status: 0 resumed, or nothing to resume; 1 a step failed (run resume\n"
    "again); 4 the fleet did not reach RUNNING in time; 5 an AWS permission is\n"
    "missing; 6 another pcm-agent operation holds the lock.\n";

int
cmd_resume(struct pcm_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "force", no_argument, NULL, 'f' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	struct plan_resume_opts o = { 0 };
	int ch;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			o.force = 1;
			break;
		case 'j':
			ctx->json = 1;
			break;
		default:
			return cmd_usage_error("resume", "bad option");
		}
	}
	if (optind < argc)
		return cmd_usage_error("resume", "unexpected argument '%s'", argv[optind]);
	return plan_resume(ctx, &o);
}
