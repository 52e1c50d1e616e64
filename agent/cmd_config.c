/* SPDX-License-Identifier: GPL-2.0-or-later */
/* cmd_config.c - pcm-agent config check */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "commands.h"
#include "output.h"

const char help_config[] =
    "usage: pcm-agent config check [--json]\n"
    "\n"
    "Read the config file (-c FILE, default " PCM_DEFAULT_CONFIG "), run\n"
    "discovery (/etc/parallelcluster/cfnconfig, SLURM_CONF, ...) and print the\n"
    "effective configuration with where each value came from, or the first\n"
    "error with its file, line and key (exit 1).\n"
    "\n"
    "options:\n"
    "  --json   print the configuration as JSON\n";

int
cmd_config(struct pcm_ctx *ctx, int argc, char **argv)
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
			return cmd_usage_error("config", "bad option");
		}
	}
	if (optind >= argc)
		return cmd_usage_error("config", "missing subcommand (check)");
	if (strcmp(argv[optind], "check") != 0)
		return cmd_usage_error("config", "unknown subcommand '%s'", argv[optind]);
	if (optind + 1 < argc)
		return cmd_usage_error("config", "unexpected argument '%s'", argv[optind + 1]);

	/* main() loaded and validated the configuration before we got here */
	if (ctx->json) {
		struct json_object *o = config_to_json(&ctx->cfg);
		output_json(o);
		json_object_put(o);
	} else {
		config_print(&ctx->cfg, stdout);
	}
	return PCM_EXIT_OK;
}
