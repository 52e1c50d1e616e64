/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pcm.h - what every command shares: exit codes and the run context.
 */
#ifndef PCM_H
#define PCM_H

#include "config.h"

#define PCM_VERSION "0.1.0"

/* Exit status of pcm-agent; documented in --help and pcm-agent(8). */
enum pcm_exit {
	PCM_EXIT_OK = 0,
	PCM_EXIT_ERROR = 1,	/* something failed; the message says what */
	PCM_EXIT_USAGE = 2,	/* bad command line or unknown command */
	PCM_EXIT_BLOCKED = 3,	/* running jobs would fail (--no-requeue, interactive) */
	PCM_EXIT_TIMEOUT = 4,	/* timed out waiting (jobs, fleet, instance) */
	PCM_EXIT_PERMISSION = 5,/* an AWS permission is missing */
	PCM_EXIT_LOCKED = 6,	/* another pcm-agent operation holds the lock */
};

struct pcm_ctx {
	struct pcm_config cfg;
	const char	*config_path;	/* -c FILE, or the default */
	int		 config_explicit;	/* -c given: the file must exist */
	int		 json;		/* --json: machine-readable stdout */
	int		 verbose;	/* -1 quiet, 0 normal, 1+ debug */
};

/* A command: parses its own options, returns an enum pcm_exit. */
typedef int (*pcm_cmd_fn)(struct pcm_ctx *ctx, int argc, char **argv);

/* Shared option handling for commands: prints "pcm-agent CMD: ..." and the
 * command's usage line to stderr; returns PCM_EXIT_USAGE. */
int cmd_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
