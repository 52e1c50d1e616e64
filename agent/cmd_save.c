/* SPDX-License-Identifier: GPL-2.0-or-later */
/* cmd_save.c - pcm-agent save: the ephemeral volume to the target */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "cmd_storage.h"
#include "commands.h"
#include "identity.h"
#include "lock.h"
#include "log.h"
#include "output.h"

const char help_save[] =
    "usage: pcm-agent save [--source DIR] [--target DIR] [--exclude PATTERN]...\n"
    "           [--pre-stage] [--json]\n"
    "\n"
    "Save DIR (default: ephemeral_dir, /scratch) to TARGET/pcm-agent/<cluster>/\n"
    "<instance-id>/, TARGET being --target, `target` from the config, or the\n"
    "first mount `pcm-agent targets` offers.  Everything rsync -aHAX --sparse\n"
    "--numeric-ids keeps is kept (sockets are skipped with a notice), every file\n"
    "is checksummed (XXH3-128) into a manifest that is written last: a save\n"
    "without its manifest is not a save, and the previous save stays complete\n"
    "until the new one is.  A later save copies only what changed.\n"
    "Symlinks are never followed, in the source or the target.  What matches an\n"
    "exclude pattern (config `exclude`, --exclude), and a directory holding\n"
    "`.pcm-agent-exclude` or a CACHEDIR.TAG, is left out (and dropped from the\n"
    "save if an earlier save held it); the summary says how much.\n"
    "\n"
    "options:\n"
    "  --source DIR   the directory to save (default: ephemeral_dir)\n"
    "  --target DIR   where to save (the save goes below DIR/pcm-agent/)\n"
    "  --exclude PATTERN  leave out what matches (rsync-style: a leading / anchors\n"
    "                 at DIR, a trailing / matches directories only, * does not\n"
    "                 cross /, ** does); may repeat, adds to the config's\n"
    "  --pre-stage    a save while jobs still write: files that change under it\n"
    "                 are recorded and copied again by the next save\n"
    "  --json         print the summary as JSON\n"
    "\n"
    "exit status: 0 saved; 1 failed (the message says why; the previous save is\n"
    "intact), or saved but files changed while they were read (without\n"
    "--pre-stage); 6 another pcm-agent operation holds the lock.\n";

int
cmd_save(struct pcm_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "source", required_argument, NULL, 's' },
		{ "target", required_argument, NULL, 't' },
		{ "pre-stage", no_argument, NULL, 'p' },
		{ "exclude", required_argument, NULL, 'x' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	const char *source = NULL, *target_arg = NULL;
	char *target = NULL, *savedir = NULL, *cluster = NULL, *inst = NULL;
	char b1[32], b2[32], b3[32], err[256];
	struct pcm_lock lk = { .fd = -1 };
	struct stor_result res;
	struct stor_opts o;
	struct statvfs sv;
	uint64_t need = 0;
	int ch, rc, prestage = 0;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 's':
			source = optarg;
			break;
		case 't':
			target_arg = optarg;
			break;
		case 'p':
			prestage = 1;
			break;
		case 'x':
			if (storage_add_exclude(ctx, optarg, err, sizeof(err)) < 0)
				return cmd_usage_error("save", "--exclude: %s", err);
			break;
		case 'j':
			ctx->json = 1;
			break;
		default:
			return cmd_usage_error("save", "bad option");
		}
	}
	if (optind < argc)
		return cmd_usage_error("save", "unexpected argument '%s'", argv[optind]);
	if (source == NULL)
		source = ctx->cfg.ephemeral_dir;
	if ((rc = storage_lock(ctx, &lk, "save")) != 0)
		return rc;
	if (statvfs(source, &sv) == 0)
		need = (uint64_t)(sv.f_blocks - sv.f_bfree) * sv.f_frsize;
	if ((rc = storage_pick_target(ctx, target_arg, need, &target)) != 0)
		goto out;
	if ((savedir = storage_savedir(ctx, target)) == NULL) {
		rc = PCM_EXIT_ERROR;
		goto out;
	}
	cluster = identity_cluster_name(&ctx->cfg);
	inst = identity_instance_id(&ctx->cfg);
	storage_opts(ctx, &o, "saving");
	o.prestage = prestage;
	o.cluster = cluster;
	o.instance = inst;
	log_info("saving %s to %s", source, savedir);
	rc = stor_save(source, savedir, &o, &res);
	storage_progress_done();
	if (rc < 0) {
		log_warnx("cannot save %s: %s", source, res.errmsg);
		if (ctx->json)
			storage_print_json("save", 0, savedir, source, &res);
		rc = PCM_EXIT_ERROR;
		goto out;
	}
	if (ctx->json) {
		storage_print_json("save", res.changed == 0 || prestage, savedir, source, &res);
	} else {
		char b4[32];
		printf("saved %s to %s: %llu entries, %llu files, %s; copied %llu files (%s, %llu by "
		    "delta) in %.1f s (%s/s), %s written, %llu unchanged, %llu removed%s\n", source,
		    savedir, (unsigned long long)res.entries, (unsigned long long)res.files,
		    output_bytes(res.bytes, b1, sizeof(b1)), (unsigned long long)res.files_copied,
		    output_bytes(res.bytes_copied, b2, sizeof(b2)), (unsigned long long)res.files_delta,
		    res.seconds,
		    output_bytes(res.seconds > 0 ? (unsigned long long)(res.bytes_copied / res.seconds) : 0,
		    b3, sizeof(b3)), output_bytes(res.bytes_written, b4, sizeof(b4)),
		    (unsigned long long)res.files_reused,
		    (unsigned long long)res.removed, prestage ? " (pre-stage)" : "");
		if (res.excluded > 0)
			printf("excluded %llu entries (%s): not in the save\n",
			    (unsigned long long)res.excluded, output_bytes(res.bytes_excluded, b1,
			    sizeof(b1)));
	}
	if (res.vanished > 0)
		log_notice("%llu entries vanished during the save (named above)",
		    (unsigned long long)res.vanished);
	rc = PCM_EXIT_OK;
	if (res.changed > 0) {
		if (prestage) {
			log_info("%llu files changed while they were read: the next save copies them",
			    (unsigned long long)res.changed);
		} else {
			log_warnx("the save is complete, but %llu files changed while they were read "
			    "(named above): run save again when nothing writes to %s",
			    (unsigned long long)res.changed, source);
			rc = PCM_EXIT_ERROR;
		}
	}
out:
	lock_release(&lk);
	free(target);
	free(savedir);
	free(cluster);
	free(inst);
	return rc;
}
