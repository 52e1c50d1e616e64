/* SPDX-License-Identifier: GPL-2.0-or-later */
/* cmd_targets.c - pcm-agent targets: where a save of the ephemeral volume can go */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "cmd_storage.h"
#include "commands.h"
#include "log.h"
#include "output.h"

const char help_targets[] =
    "usage: pcm-agent targets [--json]\n"
    "\n"
    "List the mounts that could hold a save of the ephemeral volume\n"
    "(ephemeral_dir, default /scratch), read from `mountinfo` (default\n"
    "/proc/self/mountinfo): EFS, FSx for Lustre, FSx for OpenZFS/ONTAP (nfs),\n"
    "EBS.  The ephemeral volume itself, instance store, tmpfs and the root\n"
    "volume (unless allow_root_target = yes) are listed with the reason they\n"
    "are refused.  FITS compares the free space with what the ephemeral\n"
    "volume holds.  `target = PATH` in the config chooses one; otherwise\n"
    "save uses the first that fits (marked *).\n"
    "\n"
    "options:\n"
    "  --json   print the list as JSON\n"
    "\n"
    "exit status: 0, or 1 when the mounts cannot be read.\n";

int
cmd_targets(struct pcm_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const hdr[] = { "", "MOUNT", "TYPE", "FSTYPE", "SOURCE", "FREE",
	    "FITS", "NOTE" };
	struct stor_mounts *m = NULL;
	const struct stor_mount *pick;
	struct table *t = NULL;
	uint64_t need = 0;
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'j':
			ctx->json = 1;
			break;
		default:
			return cmd_usage_error("targets", "bad option");
		}
	}
	if (optind < argc)
		return cmd_usage_error("targets", "unexpected argument '%s'", argv[optind]);
	if ((rc = stor_mounts_load(ctx->cfg.mountinfo, ctx->cfg.ephemeral_dir,
	    (int)ctx->cfg.allow_root_target, NULL, &m)) < 0) {
		log_warnx("cannot read the mounts from %s: %s", ctx->cfg.mountinfo, strerror(-rc));
		return PCM_EXIT_ERROR;
	}
	if (m->ephemeral != NULL && m->ephemeral->have_space)
		need = m->ephemeral->used;
	pick = stor_mounts_pick(m, need);
	if (ctx->json) {
		struct json_object *o = json_object_new_object(), *a = json_object_new_array();
		json_object_object_add(o, "ephemeral_dir",
		    json_object_new_string(ctx->cfg.ephemeral_dir));
		json_object_object_add(o, "ephemeral_mounted",
		    json_object_new_boolean(m->ephemeral != NULL));
		json_object_object_add(o, "needed", json_object_new_int64((int64_t)need));
		json_object_object_add(o, "chosen", ctx->cfg.target ?
		    json_object_new_string(ctx->cfg.target) :
		    pick ? json_object_new_string(pick->target) : NULL);
		for (size_t i = 0; i < m->n; i++) {
			const struct stor_mount *mt = &m->v[i];
			struct json_object *x = json_object_new_object();
			json_object_object_add(x, "mount", json_object_new_string(mt->target));
			json_object_object_add(x, "type", json_object_new_string(stor_fskind_name(mt->kind)));
			json_object_object_add(x, "fstype", json_object_new_string(mt->fstype));
			json_object_object_add(x, "source", json_object_new_string(mt->source));
			json_object_object_add(x, "candidate", json_object_new_boolean(mt->candidate));
			json_object_object_add(x, "ephemeral", json_object_new_boolean(mt->is_ephemeral));
			json_object_object_add(x, "reason", mt->reason ?
			    json_object_new_string(mt->reason) : NULL);
			json_object_object_add(x, "free", mt->have_space ?
			    json_object_new_int64((int64_t)mt->free) : NULL);
			json_object_object_add(x, "size", mt->have_space ?
			    json_object_new_int64((int64_t)mt->size) : NULL);
			json_object_object_add(x, "fits", mt->have_space ?
			    json_object_new_boolean(mt->free >= need) : NULL);
			json_object_array_add(a, x);
		}
		json_object_object_add(o, "targets", a);
		output_json(o);
		json_object_put(o);
	} else {
		char b[32];
		if ((t = table_new(8, hdr)) == NULL) {
			stor_mounts_free(m);
			return PCM_EXIT_ERROR;
		}
		for (size_t i = 0; i < m->n; i++) {
			const struct stor_mount *mt = &m->v[i];
			const char *cells[8] = {
				mt == pick && !ctx->cfg.target ? "*" : "",
				mt->target, stor_fskind_name(mt->kind), mt->fstype, mt->source,
				mt->have_space ? output_bytes(mt->free, b, sizeof(b)) : "?",
				!mt->candidate ? "-" : !mt->have_space ? "?" :
				    mt->free >= need ? "yes" : "no",
				mt->is_ephemeral ? "ephemeral volume" : mt->reason ? mt->reason : "",
			};
			table_add(t, cells);
		}
		table_print(t, stdout);
		table_free(t);
		if (m->ephemeral == NULL)
			printf("\n%s is not a mount of its own here\n", ctx->cfg.ephemeral_dir);
		else
			printf("\nephemeral volume %s holds %s\n", m->ephemeral->target,
			    output_bytes(need, b, sizeof(b)));
		if (ctx->cfg.target)
			printf("target (from the config): %s\n", ctx->cfg.target);
		else if (pick)
			printf("save would go to: %s\n", pick->target);
		else
			printf("no usable target: set target = PATH in the config\n");
	}
	stor_mounts_free(m);
	return PCM_EXIT_OK;
}
