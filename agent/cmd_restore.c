/* SPDX-License-Identifier: GPL-2.0-or-later */
/* cmd_restore.c - pcm-agent restore: a save back onto the ephemeral volume */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd_storage.h"
#include "commands.h"
#include "identity.h"
#include "lock.h"
#include "log.h"
#include "output.h"

const char help_restore[] =
    "usage: pcm-agent restore [--from DIR] [--to DIR] [--path PATH]... [--json]\n"
    "\n"
    "Restore the save of this head node from DIR (the directory `save --target`\n"
    "was given; default: `target` from the config or the first mount\n"
    "`pcm-agent targets` offers) into --to (default: ephemeral_dir, /scratch).\n"
    "The save of this instance is used, else the only save of this cluster under\n"
    "DIR (a stop/start changes the instance id).  DIR may also be a save\n"
    "directory itself (one holding MANIFEST).  Every file is checked against its\n"
    "checksum as it is written; entries of the destination that are not in the\n"
    "save are left alone.  Nothing in the destination is followed or written\n"
    "into: every file is a new inode, every directory is root-only until its\n"
    "content is in place, and an entry in the way that is not root's or its\n"
    "saved owner's (or a non-empty directory where a file belongs) is moved\n"
    "aside to DEST/.pcm-agent-quarantine/<id>/ (named in the summary).  After\n"
    "an interruption, run it again: it finishes the job.\n"
    "\n"
    "With --path, only PATH is restored: a file, or a directory with everything\n"
    "below it, and the directories above it (with their saved owner, mode and\n"
    "times), with the same safety and checksums.  PATH is relative to the saved\n"
    "directory (a leading / is its top, as for `pcm-agent ls`).  Nothing but the\n"
    "paths and the directories above them is looked at, and nothing is removed\n"
    "(not even inside them: an entry of the destination that is not in the save\n"
    "stays; one in the way of a saved entry, a directory above them included, is\n"
    "replaced or moved aside as above).  While it runs, the directories above the\n"
    "paths are root-only, as every directory restore writes into.  A hard link\n"
    "whose other names are all outside the paths is restored as a file of its\n"
    "own (counted in the summary).  A PATH that is not in the save is an error\n"
    "(exit 1) and nothing is restored.\n"
    "\n"
    "options:\n"
    "  --from DIR    where the save is (the save's target)\n"
    "  --to DIR      where to restore (default: ephemeral_dir)\n"
    "  --path PATH   restore only PATH (may repeat: their union)\n"
    "  --json        print the summary as JSON\n"
    "\n"
    "exit status: 0 restored and verified; 1 failed, a PATH is not in the save,\n"
    "or a file did not match its checksum (named); 2 bad usage; 6 another\n"
    "pcm-agent operation holds the lock.\n";

int
storage_find_savedir(struct pcm_ctx *ctx, const char *dir, char **out)
{
	char *cluster = NULL, *inst = NULL, *m = NULL, err[512];
	int rc;

	*out = NULL;
	if (asprintf(&m, "%s/MANIFEST", dir) >= 0 && access(m, F_OK) == 0) {
		free(m);
		*out = strdup(dir);
		return *out ? 0 : PCM_EXIT_ERROR;
	}
	free(m);
	cluster = identity_cluster_name(&ctx->cfg);
	inst = identity_instance_id(&ctx->cfg);
	if (cluster == NULL || inst == NULL) {
		rc = PCM_EXIT_ERROR;
		goto out;
	}
	if ((rc = stor_find_save(dir, cluster, inst, out, err, sizeof(err))) < 0) {
		log_warnx("cannot find the save: %s", err);
		rc = PCM_EXIT_ERROR;
		goto out;
	}
	rc = 0;
out:
	free(cluster);
	free(inst);
	return rc;
}

int
cmd_restore(struct pcm_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "from", required_argument, NULL, 'f' },
		{ "to", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "path", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	const char *from_arg = NULL, *to = NULL, **paths = NULL;
	size_t npaths = 0;
	char *from = NULL, *savedir = NULL, b1[32], b2[32];
	struct pcm_lock lk = { .fd = -1 };
	struct stor_result res;
	struct stor_opts o;
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			from_arg = optarg;
			break;
		case 't':
			to = optarg;
			break;
		case 'j':
			ctx->json = 1;
			break;
		case 'p': {
			const char **nv;

			if (optarg[0] == '\0') {
				free(paths);
				return cmd_usage_error("restore", "--path: an empty path (use / for "
				    "the whole save)");
			}
			if ((nv = realloc(paths, (npaths + 1) * sizeof(*nv))) == NULL) {
				free(paths);
				log_warnx("out of memory");
				return PCM_EXIT_ERROR;
			}
			paths = nv;
			paths[npaths++] = optarg;
			break;
		}
		default:
			free(paths);
			return cmd_usage_error("restore", "bad option");
		}
	}
	if (optind < argc) {
		free(paths);
		return cmd_usage_error("restore", "unexpected argument '%s'", argv[optind]);
	}
	if (to == NULL)
		to = ctx->cfg.ephemeral_dir;
	if ((rc = storage_lock(ctx, &lk, "restore")) != 0)
		return rc;
	if ((rc = storage_pick_target(ctx, from_arg, 0, &from)) != 0 ||
	    (rc = storage_find_savedir(ctx, from, &savedir)) != 0)
		goto out;
	storage_opts(ctx, &o, "restoring");
	o.paths = paths;
	o.npaths = npaths;
	log_info("restoring %s%s into %s", savedir, npaths ? " (selected paths)" : "", to);
	rc = stor_restore(savedir, to, &o, &res);
	storage_progress_done();
	if (ctx->json) {
		char **esc = npaths ? calloc(npaths, sizeof(*esc)) : NULL;

		for (size_t i = 0; esc != NULL && i < npaths; i++)
			if ((esc[i] = storage_escape(paths[i])) == NULL)
				break;
		storage_print_json_paths("restore", rc == 0, savedir, to, &res,
		    (const char *const *)esc, esc ? npaths : 0);
		for (size_t i = 0; esc != NULL && i < npaths; i++)
			free(esc[i]);
		free(esc);
	}
	if (rc < 0) {
		log_warnx("cannot restore into %s: %s", to, res.errmsg);
		rc = PCM_EXIT_ERROR;
		goto out;
	}
	if (!ctx->json)
		printf("restored %s%s into %s: %llu entries, %llu files, %s, all checksums verified, "
		    "in %.1f s (%s/s)\n", savedir, npaths ? " (the selected paths)" : "", to,
		    (unsigned long long)res.entries,
		    (unsigned long long)res.files, output_bytes(res.bytes, b1, sizeof(b1)),
		    res.seconds, output_bytes(res.seconds > 0 ?
		    (unsigned long long)(res.bytes / res.seconds) : 0, b2, sizeof(b2)));
	if (!ctx->json && res.quarantined > 0)
		printf("moved aside %llu entries that were in the way to %s\n",
		    (unsigned long long)res.quarantined, res.quarantine);
	if (!ctx->json && res.meta_failed > 0)
		printf("%llu entries restored without all their metadata (owner, mode, xattrs or "
		    "times: named above; does %s take them?)\n",
		    (unsigned long long)res.meta_failed, to);
	if (!ctx->json && res.links_split > 0)
		printf("restored %llu hard links as separate files: their other names are "
		    "outside the selected paths\n", (unsigned long long)res.links_split);
	rc = PCM_EXIT_OK;
out:
	free(paths);
	lock_release(&lk);
	free(from);
	free(savedir);
	return rc;
}
