/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * commands.h - every pcm-agent command: cmd_<name>() and its help text.
 *
 * Adding a command takes:
 *   1. agent/cmd_<name>.c with cmd_<name>() (returns an enum pcm_exit) and
 *      help_<name>[] (first line "usage: pcm-agent NAME ...", then a blank
 *      line, a description and the options),
 *   2. its two declarations here and one row in commands[] in agent/main.c,
 *   3. a section in man/pcm-agent.8 (tests/integration/0900-docs.sh checks),
 *   4. a test under tests/.
 */
#ifndef PCM_COMMANDS_H
#define PCM_COMMANDS_H

#include "pcm.h"

#define DECLARE_CMD(name) \
	int cmd_##name(struct pcm_ctx *, int, char **); \
	extern const char help_##name[]

DECLARE_CMD(abort);
DECLARE_CMD(check);
DECLARE_CMD(config);
DECLARE_CMD(events);
DECLARE_CMD(fleet);
DECLARE_CMD(hook);
DECLARE_CMD(jobs);
DECLARE_CMD(ls);
DECLARE_CMD(maintenance);
DECLARE_CMD(prepare_restart);
DECLARE_CMD(restart_head_node);
DECLARE_CMD(restore);
DECLARE_CMD(resume);
DECLARE_CMD(save);
DECLARE_CMD(saves);
DECLARE_CMD(status);
DECLARE_CMD(targets);
DECLARE_CMD(verify);
DECLARE_CMD(watch);

#endif
