/* SPDX-License-Identifier: GPL-2.0-or-later */
/* cmd_ls.c - pcm-agent ls: the content of a save, like ls -l / tar -tv */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <time.h>

#include <json-c/json.h>

#include "cmd_storage.h"
#include "commands.h"
#include "log.h"
#include "output.h"

const char help_ls[] =
    "usage: pcm-agent ls [--from DIR] [-R] [--json] [PATH]\n"
    "\n"
    "List what the save of this head node under DIR holds at PATH (relative to\n"
    "the saved directory; default: its top), like `ls -l` or `tar -tv`: type and\n"
    "mode, owner (numeric, as saved), size, modification time, name, and the\n"
    "target of a symlink (`-> T`) or the first name of a hard link (`link to\n"
    "N`).  DIR is found as by `restore --from` (a target, or a save directory).\n"
    "Names are printed escaped: a backslash, control bytes and bytes that are\n"
    "not UTF-8 as \\\\, \\n, \\t, \\xHH (the same in --json).\n"
    "\n"
    "options:\n"
    "  --from DIR        where the save is (default: target, or the first candidate)\n"
    "  -R, --recursive   everything below PATH, not only its entries\n"
    "  --json            one JSON array of entries\n"
    "\n"
    "exit status: 0 listed; 1 no save, or PATH is not in it.\n";

/* name bytes -> text: printable ASCII and valid UTF-8 as they are, the
 * backslash doubled, control bytes and invalid UTF-8 as escapes; malloc'd */
char *
storage_escape(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len = strlen(s), o = 0;
	char *out = malloc(len * 4 + 1);

	if (out == NULL)
		return NULL;
	while (*p) {
		size_t n = utf8_char(p);

		if (n > 0) {	/* a whole, minimal multibyte character */
			memcpy(out + o, p, n);
			o += n;
			p += n;
			continue;
		}
		if (*p == '\\') {
			out[o++] = '\\';
			out[o++] = '\\';
		} else if (*p == '\n') {
			out[o++] = '\\';
			out[o++] = 'n';
		} else if (*p == '\t') {
			out[o++] = '\\';
			out[o++] = 't';
		} else if (*p < 0x20 || *p >= 0x7f) {
			o += (size_t)sprintf(out + o, "\\x%02x", *p);
		} else {
			out[o++] = (char)*p;
		}
		p++;
	}
	out[o] = '\0';
	return out;
}

static void
mode_string(char type, unsigned mode, char out[11])
{
	static const char rwx[] = "rwxrwxrwx";

	out[0] = type == 'f' || type == 'h' ? '-' : type;
	for (int i = 0; i < 9; i++)
		out[1 + i] = (mode & (0400u >> i)) ? rwx[i] : '-';
	if (mode & 04000)
		out[3] = (mode & 0100) ? 's' : 'S';
	if (mode & 02000)
		out[6] = (mode & 0010) ? 's' : 'S';
	if (mode & 01000)
		out[9] = (mode & 0001) ? 't' : 'T';
	out[10] = '\0';
}

struct ls_state {
	struct json_object	*arr;	/* --json */
	int			 failed;
};

static int
print_entry(const struct stor_ls_entry *e, void *arg)
{
	struct ls_state *st = arg;
	char mode[11], when[32], size[48];
	char *path = storage_escape(e->path), *target = e->target ? storage_escape(e->target) : NULL;
	time_t t = (time_t)e->mtime_s;
	struct tm tm;

	if (path == NULL || (e->target && target == NULL)) {
		free(path);
		free(target);
		st->failed = 1;
		return -1;
	}
	mode_string(e->type, e->mode, mode);
	if (st->arr != NULL) {
		struct json_object *o = json_object_new_object();
		char ty[2] = { e->type, '\0' };

		json_object_object_add(o, "path", json_object_new_string(path));
		json_object_object_add(o, "type", json_object_new_string(ty));
		json_object_object_add(o, "mode", json_object_new_string(mode));
		json_object_object_add(o, "uid", json_object_new_int64(e->uid));
		json_object_object_add(o, "gid", json_object_new_int64(e->gid));
		json_object_object_add(o, "size", json_object_new_int64((int64_t)e->size));
		json_object_object_add(o, "mtime", json_object_new_double((double)e->mtime_s +
		    e->mtime_ns / 1e9));
		if (e->type == 'l')
			json_object_object_add(o, "target", json_object_new_string(target));
		if (e->type == 'h' && target)
			json_object_object_add(o, "link_to", json_object_new_string(target));
		if (e->type == 'c' || e->type == 'b') {
			json_object_object_add(o, "major", json_object_new_int64(major(e->rdev)));
			json_object_object_add(o, "minor", json_object_new_int64(minor(e->rdev)));
		}
		json_object_array_add(st->arr, o);
	} else {
		if (localtime_r(&t, &tm) == NULL || strftime(when, sizeof(when), "%Y-%m-%d %H:%M",
		    &tm) == 0)
			snprintf(when, sizeof(when), "%lld", (long long)e->mtime_s);
		if (e->type == 'c' || e->type == 'b')
			snprintf(size, sizeof(size), "%u,%u", major(e->rdev), minor(e->rdev));
		else
			snprintf(size, sizeof(size), "%llu", (unsigned long long)e->size);
		printf("%s %u/%u %10s %s %s%s%s\n", mode, (unsigned)e->uid, (unsigned)e->gid, size,
		    when, path, e->type == 'l' ? " -> " : e->type == 'h' ? " link to " : "",
		    target && (e->type == 'l' || e->type == 'h') ? target : "");
	}
	free(path);
	free(target);
	return 0;
}

int
cmd_ls(struct pcm_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "from", required_argument, NULL, 'f' },
		{ "recursive", no_argument, NULL, 'R' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	const char *from_arg = NULL, *path = NULL;
	char *from = NULL, *savedir = NULL, err[512];
	struct ls_state st = { 0 };
	int ch, rc, recursive = 0;

	while ((ch = getopt_long(argc, argv, "R", opts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			from_arg = optarg;
			break;
		case 'R':
			recursive = 1;
			break;
		case 'j':
			ctx->json = 1;
			break;
		default:
			return cmd_usage_error("ls", "bad option");
		}
	}
	if (optind < argc)
		path = argv[optind++];
	if (optind < argc)
		return cmd_usage_error("ls", "unexpected argument '%s'", argv[optind]);
	if ((rc = storage_pick_target(ctx, from_arg, 0, &from)) != 0 ||
	    (rc = storage_find_savedir(ctx, from, &savedir)) != 0)
		goto out;
	if (ctx->json)
		st.arr = json_object_new_array();
	rc = stor_list(savedir, path, recursive, print_entry, &st, err, sizeof(err));
	if (rc < 0 || st.failed) {
		log_warnx("cannot list %s: %s", savedir, st.failed ? "out of memory" : err);
		rc = PCM_EXIT_ERROR;
		goto out;
	}
	if (st.arr != NULL)
		output_json(st.arr);
	rc = PCM_EXIT_OK;
out:
	if (st.arr != NULL)
		json_object_put(st.arr);
	free(from);
	free(savedir);
	return rc;
}
