/* SPDX-License-Identifier: GPL-2.0-or-later */
/* status.c - the open operation for `pcm-agent status` (see plan_int.h) */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "aws/ec2.h"
#include "aws/fleet.h"
#include "aws/http.h"
#include "aws/imds.h"
#include "aws/ssm.h"
#include "aws/ssm_token.h"
#include "cmd_storage.h"
#include "identity.h"
#include "jobwait.h"
#include "journal.h"
#include "lock.h"
#include "log.h"
#include "maintfile.h"
#include "output.h"
#include "plan_int.h"
#include "sched/sched.h"
#include "storage.h"

struct json_object *
plan_status_json(const struct pcm_config *cfg, int *bad)
{
	struct journal *j = NULL;
	struct json_object *o;
	int rc = journal_load(cfg->state_dir, &j);

	if (rc == -ENOENT)
		return NULL;
	if (rc < 0) {
		char msg[512];

		snprintf(msg, sizeof(msg), "cannot read the journal %s/journal.json: %s",
		    cfg->state_dir, rc == -EBADMSG ? "it is corrupt" : strerror(-rc));
		log_warnx("%s", msg);
		*bad = 1;
		o = json_object_new_object();
		json_object_object_add(o, "error", json_object_new_string(msg));
		return o;
	}
	o = json_object_get(journal_json(j));
	journal_free(j);
	return o;
}

void
plan_status_print(struct json_object *o)
{
	struct json_object *steps, *v, *st, *data;
	const char *cur = NULL, *cur_state = NULL, *last_done = NULL;
	int ndone = 0, n = 0;

	if (o == NULL) {
		printf("%-12s none\n", "operation");
		return;
	}
	if (json_object_object_get_ex(o, "error", &v)) {
		printf("%-12s unreadable (%s)\n", "operation", json_object_get_string(v));
		return;
	}
	if (json_object_object_get_ex(o, "steps", &steps)) {
		/* the journal's own steps, in its order: every mode has its list */
		json_object_object_foreach(steps, name, sv) {
			const char *s;

			if (!json_object_object_get_ex(sv, "state", &st))
				continue;
			n++;
			s = json_object_get_string(st);
			if (strcmp(s, "done") == 0 || strcmp(s, "skipped") == 0) {
				ndone++;
				last_done = name;
			} else if (cur == NULL && strcmp(s, "pending") != 0) {
				cur = name;
				cur_state = s;
			}
		}
	}
	printf("%-12s %s (%s, phase %s): %d of %d steps done", "operation",
	    json_object_object_get_ex(o, "id", &v) ? json_object_get_string(v) : "?",
	    json_object_object_get_ex(o, "trigger", &v) ? json_object_get_string(v) : "?",
	    json_object_object_get_ex(o, "phase", &v) ? json_object_get_string(v) : "?",
	    ndone, n);
	if (cur != NULL)
		printf("; %s %s", cur, cur_state);
	else if (last_done != NULL)
		printf("; last: %s", last_done);
	printf("\n");
	/* a keep-fleet reboot: the budget the compute nodes have */
	if (json_object_object_get_ex(o, "data", &data) &&
	    json_object_object_get_ex(data, "mode", &v) &&
	    strcmp(json_object_get_string(v), "keep-fleet") == 0) {
		printf("%-12s reboot with the compute fleet and its jobs running; ", "keep-fleet");
		if (!json_object_object_get_ex(data, "kf_budget_s", &v))
			printf("budget not known yet");
		else if (json_object_get_int64(v) == 0)
			printf("no budget (computemgtd's actions are disabled)");
		else
			printf("budget %lld s (clustermgtd_timeout%s)",
			    (long long)json_object_get_int64(v),
			    json_object_object_get_ex(data, "kf_timeout_written", &st) ?
			    ", widened" : "");
		if (json_object_object_get_ex(data, "kf_estimate_s", &v))
			printf(", outage estimate %lld s", (long long)json_object_get_int64(v));
		if (json_object_object_get_ex(data, "kf_down_s", &v))
			printf(", down %lld s", (long long)json_object_get_int64(v));
		printf("\n");
	}
}
