/* SPDX-License-Identifier: GPL-2.0-or-later */
/* cmd_verify.c - pcm-agent verify: re-read a save and check it */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_storage.h"
#include "commands.h"
#include "log.h"
#include "output.h"

const char help_verify[] =
    "usage: pcm-agent verify [--target DIR] [--incremental] [--json]\n"
    "\n"
    "Re-read every file of the save of this head node under DIR (the directory\n"
    "`save --target` was given; default as for save) and check it against the\n"
    "checksums of its manifest.  DIR may also be a save directory itself.\n"
    "\n"
    "options:\n"
    "  --target DIR    where the save is\n"
    "  --incremental   re-read only what the last verify did not (as the final\n"
    "                  save of prepare-restart); for the rest check that the\n"
    "                  object is unchanged since and its size fits\n"
    "  --json          print the summary as JSON\n"
    "\n"
    "exit status: 0 verified; 1 no complete save, or files that do not match\n"
    "(each named).\n";

int
cmd_verify(struct pcm_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "target", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "incremental", no_argument, NULL, 'i' },
		{ NULL, 0, NULL, 0 },
	};
	const char *target_arg = NULL;
	char *target = NULL, *savedir = NULL, b1[32];
	struct stor_result res;
	struct stor_opts o;
	int ch, rc, incr = 0;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 't':
			target_arg = optarg;
			break;
		case 'j':
			ctx->json = 1;
			break;
		case 'i':
			incr = 1;
			break;
		default:
			return cmd_usage_error("verify", "bad option");
		}
	}
	if (optind < argc)
		return cmd_usage_error("verify", "unexpected argument '%s'", argv[optind]);
	if ((rc = storage_pick_target(ctx, target_arg, 0, &target)) != 0 ||
	    (rc = storage_find_savedir(ctx, target, &savedir)) != 0)
		goto out;
	storage_opts(ctx, &o, "verifying");
	rc = incr ? stor_verify_incremental(savedir, &o, &res) : stor_verify(savedir, &o, &res);
	storage_progress_done();
	if (ctx->json)
		storage_print_json("verify", rc == 0, savedir, NULL, &res);
	if (rc < 0) {
		log_warnx("verify failed: %s", res.errmsg);
		rc = PCM_EXIT_ERROR;
		goto out;
	}
	if (!ctx->json && incr)
		printf("verified %s: %llu entries, %llu files, %s, %llu files re-read, %llu "
		    "unchanged since the last verify (%.1f s)\n", savedir,
		    (unsigned long long)res.entries, (unsigned long long)res.files,
		    output_bytes(res.bytes, b1, sizeof(b1)), (unsigned long long)res.files_reread,
		    (unsigned long long)res.files_known, res.seconds);
	else if (!ctx->json)
		printf("verified %s: %llu entries, %llu files, %s, every checksum matches (%.1f s)\n",
		    savedir, (unsigned long long)res.entries, (unsigned long long)res.files,
		    output_bytes(res.bytes, b1, sizeof(b1)), res.seconds);
	rc = PCM_EXIT_OK;
out:
	free(target);
	free(savedir);
	return rc;
}
