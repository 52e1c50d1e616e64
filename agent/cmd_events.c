/* SPDX-License-Identifier: GPL-2.0-or-later */
/* cmd_events.c - pcm-agent events: scheduled maintenance from IMDS and EC2 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "aws/ec2.h"
#include "aws/http.h"
#include "aws/imds.h"
#include "commands.h"
#include "log.h"
#include "output.h"

const char help_events[] =
    "usage: pcm-agent events [--region R] [--json]\n"
    "\n"
    "List the scheduled maintenance events of this instance: from the instance\n"
    "metadata service (events/maintenance/scheduled: Code, EventId, State,\n"
    "NotBefore, NotAfter, NotBeforeDeadline) and from EC2 DescribeInstanceStatus.\n"
    "Runs on the head node (needs IMDS for the instance id).\n"
    "\n"
    "options:\n"
    "  --region R   AWS region (default region, AWS_REGION, IMDS)\n"
    "  --json       print the events as JSON\n"
    "\n"
    "exit status: 0 listed (possibly none), 1 a source could not be read (the\n"
    "others are still printed), 5 permission missing for EC2.\n";

static struct json_object *
jtime(time_t t)
{
	char buf[32];

	return t > 0 ? json_object_new_string(output_iso8601(t, buf, sizeof(buf))) : NULL;
}

static void
add_row(struct table *t, struct json_object *arr, const char *source, const char *code,
    const char *id, const char *state, time_t nb, time_t na, time_t dl, const char *desc)
{
	char b1[32], b2[32], b3[32];
	const char *cells[8] = { source, code, id, state,
		nb > 0 ? output_iso8601(nb, b1, sizeof(b1)) : NULL,
		na > 0 ? output_iso8601(na, b2, sizeof(b2)) : NULL,
		dl > 0 ? output_iso8601(dl, b3, sizeof(b3)) : NULL, desc };
	struct json_object *o = json_object_new_object();

	table_add(t, cells);
	json_object_object_add(o, "source", json_object_new_string(source));
	json_object_object_add(o, "code", json_object_new_string(code ? code : ""));
	json_object_object_add(o, "event_id", json_object_new_string(id ? id : ""));
	json_object_object_add(o, "state", state ? json_object_new_string(state) : NULL);
	json_object_object_add(o, "not_before", jtime(nb));
	json_object_object_add(o, "not_after", jtime(na));
	json_object_object_add(o, "not_before_deadline", jtime(dl));
	json_object_object_add(o, "description", json_object_new_string(desc ? desc : ""));
	json_object_array_add(arr, o);
}

int
cmd_events(struct pcm_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "region", required_argument, NULL, 'r' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const hdr[] = { "SOURCE", "CODE", "EVENT", "STATE", "NOT-BEFORE",
		"NOT-AFTER", "DEADLINE", "DESCRIPTION" };
	const char *region = ctx->cfg.region;
	struct aws_error err = { 0 };
	struct imds_events iev = { 0 };
	struct ec2_statuses st = { 0 };
	struct json_object *arr = json_object_new_array();
	struct table *t = table_new(8, hdr);
	struct aws_opts ao = { 0 };
	struct aws *a = NULL;
	char *id = NULL;
	int ch, rc, ret = PCM_EXIT_OK;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'r':
			region = optarg;
			break;
		case 'j':
			ctx->json = 1;
			break;
		default:
			ret = cmd_usage_error("events", "bad option");
			goto out;
		}
	}
	if (optind < argc) {
		ret = cmd_usage_error("events", "unexpected argument '%s'", argv[optind]);
		goto out;
	}
	ao.region = region;
	if (t == NULL || arr == NULL || (a = aws_new(&ao)) == NULL) {
		log_warnx("cannot list events: out of memory");
		ret = PCM_EXIT_ERROR;
		goto out;
	}
	if ((rc = imds_instance_id(aws_imds(a), &id, &err)) != AWS_OK) {
		log_warnx("cannot find this instance's id: %s", err.message);
		ret = PCM_EXIT_ERROR;
		goto out;
	}
	if ((rc = imds_scheduled_events(aws_imds(a), &iev, &err)) != AWS_OK) {
		log_warnx("cannot read the scheduled events from IMDS: %s", err.message);
		ret = PCM_EXIT_ERROR;
	}
	for (size_t i = 0; i < iev.n; i++) {
		const struct imds_event *e = &iev.v[i];
		add_row(t, arr, "imds", e->code, e->event_id, e->state_str, e->not_before,
		    e->not_after, e->not_before_deadline, e->description);
	}
	if ((rc = ec2_describe_instance_status(a, id, 0, &st, &err)) != AWS_OK) {
		log_warnx("cannot read the scheduled events of %s from EC2: %s%s", id, err.message,
		    aws_hint(rc));
		if (ret == PCM_EXIT_OK)
			ret = aws_rc_exit(rc);
	}
	for (size_t i = 0; i < st.n; i++)
		for (size_t j = 0; j < st.v[i].nevents; j++) {
			const struct ec2_event *e = &st.v[i].events[j];
			add_row(t, arr, "ec2", e->code, e->id, NULL, e->not_before, e->not_after,
			    e->not_before_deadline, e->description);
		}
	if (ctx->json) {
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "instance_id", json_object_new_string(id));
		json_object_object_add(o, "events", json_object_get(arr));
		output_json(o);
		json_object_put(o);
	} else if (json_object_array_length(arr) == 0) {
		printf("no scheduled events for %s\n", id);
	} else {
		printf("scheduled events for %s:\n", id);
		table_print(t, stdout);
	}
out:
	imds_events_free(&iev);
	ec2_statuses_free(&st);
	json_object_put(arr);
	table_free(t);
	aws_free(a);
	free(id);
	return ret;
}
