/* SPDX-License-Identifier: GPL-2.0-or-later */
/* cmd_abort.c - pcm-agent abort (agent/plan/) */
#include <getopt.h>
#include <stdio.h>

#include "commands.h"
#include "plan.h"

const char help_abort[] =
    "usage: pcm-agent abort [--json]\n"
    "\n"
    "Undo what prepare-restart has done so far: delete the maintenance\n"
    "reservation and, if prepare-restart stopped the compute fleet, start it\n"
    "again and wait for RUNNING.  The save is kept.  A restart already\n"
    "requested cannot be cancelled (abort says so).  The journal is closed\n"
    "(STATE_DIR/history/<id>.json).\n"
    "\n"
    "exit status: 0 aborted, or nothing to abort; 1 failed (the message says\n"
    "why; run abort again); 4 the fleet did not reach RUNNING in time; 6 another\n"
    "pcm-agent operation holds the lock.\n";

int
cmd_abort(struct pcm_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'j':
			ctx->json = 1;
			break;
		default:
			return cmd_usage_error("abort", "bad option");
		}
	}
	if (optind < argc)
		return cmd_usage_error("abort", "unexpected argument '%s'", argv[optind]);
	return plan_abort(ctx);
}
