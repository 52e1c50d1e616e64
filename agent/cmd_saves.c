/* SPDX-License-Identifier: GPL-2.0-or-later */
/* cmd_saves.c - pcm-agent saves: every save under a target */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "cmd_storage.h"
#include "commands.h"
#include "log.h"
#include "output.h"

const char help_saves[] =
    "usage: pcm-agent saves [--from DIR] [--json]\n"
    "\n"
    "List every save under DIR (a target: its pcm-agent/CLUSTER/INSTANCE/\n"
    "directories; or one save directory): cluster, instance, when it was made,\n"
    "entries, bytes, whether it is complete (a manifest with a valid trailer)\n"
    "and a pre-stage save, and when it was last verified (\"current\" when that\n"
    "verify came after the save's manifest).\n"
    "\n"
    "options:\n"
    "  --from DIR   the target (default: target, or the first candidate)\n"
    "  --json       one JSON array of saves\n"
    "\n"
    "exit status: 0 listed (also when there is none: the text says so); 1 DIR\n"
    "cannot be read.\n";

struct saves_state {
	struct json_object	*arr;
	unsigned		 n;
};

static void
when(time_t t, char *buf, size_t len)
{
	struct tm tm;

	if (t == 0 || localtime_r(&t, &tm) == NULL || strftime(buf, len, "%Y-%m-%d %H:%M", &tm) == 0)
		snprintf(buf, len, "-");
}

static int
print_save(const struct stor_save_entry *e, void *arg)
{
	struct saves_state *st = arg;
	const struct stor_save_info *i = &e->info;
	char made[32], ver[32], b[32];

	st->n++;
	if (st->arr != NULL) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "savedir", json_object_new_string(e->savedir));
		json_object_object_add(o, "complete", json_object_new_boolean(i->complete));
		json_object_object_add(o, "cluster", json_object_new_string(i->cluster));
		json_object_object_add(o, "instance", json_object_new_string(i->instance));
		json_object_object_add(o, "source", json_object_new_string(i->source));
		json_object_object_add(o, "created", json_object_new_int64((int64_t)i->created));
		json_object_object_add(o, "prestage", json_object_new_boolean(i->prestage));
		json_object_object_add(o, "entries", json_object_new_int64((int64_t)i->entries));
		json_object_object_add(o, "files", json_object_new_int64((int64_t)i->files));
		json_object_object_add(o, "bytes", json_object_new_int64((int64_t)i->bytes));
		json_object_object_add(o, "verified", e->verified ?
		    json_object_new_int64((int64_t)e->verified) : NULL);
		json_object_object_add(o, "verified_current",
		    json_object_new_boolean(e->verified_current));
		json_object_array_add(st->arr, o);
		return 0;
	}
	if (st->n == 1)
		printf("%-16s %-20s %-16s %10s %10s  %-10s %s\n", "CLUSTER", "INSTANCE", "MADE",
		    "ENTRIES", "BYTES", "STATE", "VERIFIED");
	when(i->created, made, sizeof(made));
	when(e->verified, ver, sizeof(ver));
	printf("%-16s %-20s %-16s %10llu %10s  %-10s %s%s\n", i->cluster[0] ? i->cluster : "-",
	    i->instance[0] ? i->instance : "-", i->complete ? made : "-",
	    (unsigned long long)i->entries, output_bytes(i->bytes, b, sizeof(b)),
	    !i->complete ? "incomplete" : i->prestage ? "pre-stage" : "complete", ver,
	    e->verified == 0 ? "" : e->verified_current ? " (current)" : " (before the last save)");
	printf("  %s\n", e->savedir);
	return 0;
}

int
cmd_saves(struct pcm_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "from", required_argument, NULL, 'f' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	const char *from_arg = NULL;
	char *from = NULL, err[512];
	struct saves_state st = { 0 };
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			from_arg = optarg;
			break;
		case 'j':
			ctx->json = 1;
			break;
		default:
			return cmd_usage_error("saves", "bad option");
		}
	}
	if (optind < argc)
		return cmd_usage_error("saves", "unexpected argument '%s'", argv[optind]);
	if ((rc = storage_pick_target(ctx, from_arg, 0, &from)) != 0)
		goto out;
	if (ctx->json)
		st.arr = json_object_new_array();
	rc = stor_list_saves(from, print_save, &st, err, sizeof(err));
	if (rc < 0 && rc != -ENOENT) {
		log_warnx("cannot list the saves under %s: %s", from, err);
		rc = PCM_EXIT_ERROR;
		goto out;
	}
	if (st.arr != NULL)
		output_json(st.arr);
	else if (st.n == 0)
		printf("no saves under %s\n", from);
	rc = PCM_EXIT_OK;
out:
	if (st.arr != NULL)
		json_object_put(st.arr);
	free(from);
	return rc;
}
