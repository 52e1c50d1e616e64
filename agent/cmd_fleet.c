/* SPDX-License-Identifier: GPL-2.0-or-later */
/* cmd_fleet.c - pcm-agent fleet status|stop|start */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "aws/fleet.h"
#include "aws/http.h"
#include "commands.h"
#include "log.h"
#include "output.h"

const char help_fleet[] =
    "usage: pcm-agent fleet status|stop|start [--wait] [--timeout T] [--cluster-name N]\n"
    "                 [--region R] [--json]\n"
    "\n"
    "Show, stop or start the ParallelCluster compute fleet, like\n"
    "`pcluster update-compute-fleet`: the status lives in the DynamoDB table\n"
    "parallelcluster-<cluster> (fleet_table), item COMPUTE_FLEET.  stop writes\n"
    "STOP_REQUESTED (only from RUNNING), start writes START_REQUESTED (only from\n"
    "STOPPED), each conditional on the status just read; clusterstatusmgtd on the\n"
    "head node then moves the fleet to STOPPED / RUNNING.  A fleet already stopping\n"
    "or stopped (starting or running) is left alone; a request against a transition\n"
    "in progress or a PROTECTED fleet is refused; a concurrent change is reported,\n"
    "never overwritten.\n"
    "\n"
    "options:\n"
    "  --wait              wait for STOPPED / RUNNING, printing each status change\n"
    "  --timeout T         how long --wait waits (default fleet_timeout, 15m)\n"
    "  --cluster-name N    the cluster (default cluster_name, from cfnconfig)\n"
    "  --region R          AWS region (default region, AWS_REGION, IMDS)\n"
    "  --json              print the status as JSON\n"
    "\n"
    "exit status: 0 done, 1 error or refused, 4 timed out, 5 permission missing.\n"
    "PCM_AWS_POLL_MS sets the polling interval of --wait (default 5000).\n";

struct progress {
	enum fleet_status last;
	int	 quiet;
};

static void
fleet_progress(const struct fleet_item *now, long elapsed, void *arg)
{
	struct progress *p = arg;

	if (now->status == p->last)
		return;
	p->last = now->status;
	if (!p->quiet)
		log_info("compute fleet: %s (%lds)", now->status_str, elapsed);
}

static struct json_object *
item_json(const char *cluster, const char *table, const struct fleet_item *it)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "cluster", cluster ? json_object_new_string(cluster) : NULL);
	json_object_object_add(o, "table", json_object_new_string(table));
	json_object_object_add(o, "status", json_object_new_string(it->status_str));
	json_object_object_add(o, "last_updated", json_object_new_string(it->last_updated));
	json_object_object_add(o, "format", json_object_new_string(it->legacy ? "legacy" : "3.2+"));
	return o;
}

int
cmd_fleet(struct pcm_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "wait", no_argument, NULL, 'w' },
		{ "timeout", required_argument, NULL, 't' },
		{ "cluster-name", required_argument, NULL, 'n' },
		{ "region", required_argument, NULL, 'r' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cluster = ctx->cfg.cluster_name, *region = ctx->cfg.region, *sub;
	long timeout = ctx->cfg.fleet_timeout;
	int cluster_opt = 0;
	int ch, wait = 0, rc, ret = PCM_EXIT_ERROR;
	struct aws_error err = { 0 };
	struct fleet_item before = { 0 }, last = { 0 };
	enum fleet_outcome outcome = FLEET_ALREADY;
	enum fleet_action action = FLEET_STOP;
	struct aws_opts ao = { 0 };
	struct aws *a = NULL;
	char *table = NULL;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'w':
			wait = 1;
			break;
		case 't':
			if (parse_duration(optarg, &timeout) < 0 || timeout <= 0)
				return cmd_usage_error("fleet", "--timeout '%s' is not a duration "
				    "(e.g. 90s, 15m)", optarg);
			break;
		case 'n':
			cluster = optarg;
			cluster_opt = 1;	/* then fleet_table is parallelcluster-N */
			break;
		case 'r':
			region = optarg;
			break;
		case 'j':
			ctx->json = 1;
			break;
		default:
			return cmd_usage_error("fleet", "bad option");
		}
	}
	if (optind >= argc)
		return cmd_usage_error("fleet", "missing subcommand (status, stop or start)");
	sub = argv[optind];
	if (strcmp(sub, "status") != 0 && strcmp(sub, "stop") != 0 && strcmp(sub, "start") != 0)
		return cmd_usage_error("fleet", "unknown subcommand '%s'", sub);
	if (optind + 1 < argc)
		return cmd_usage_error("fleet", "unexpected argument '%s'", argv[optind + 1]);
	if (strcmp(sub, "status") == 0 && wait)
		return cmd_usage_error("fleet", "--wait goes with stop or start");
	action = strcmp(sub, "start") == 0 ? FLEET_START : FLEET_STOP;

	if ((table = fleet_table_name(cluster_opt ? NULL : ctx->cfg.fleet_table, cluster)) == NULL) {
		log_warnx("cannot find the compute fleet table: no cluster name (set cluster_name "
		    "or fleet_table in the config, or give --cluster-name)");
		goto out;
	}
	ao.region = region;
	if ((a = aws_new(&ao)) == NULL) {
		log_warnx("cannot set up AWS access: out of memory");
		goto out;
	}

	if (strcmp(sub, "status") == 0) {
		if ((rc = fleet_get(a, table, &last, &err)) != AWS_OK) {
			log_warnx("cannot read the compute fleet status: %s%s", err.message,
			    aws_hint(rc));
			ret = aws_rc_exit(rc);
			goto out;
		}
		if (ctx->json) {
			struct json_object *o = item_json(cluster, table, &last);
			output_json(o);
			json_object_put(o);
		} else {
			printf("compute fleet: %s\n", last.status_str);
			printf("  table:        %s (%s format)\n", table, last.legacy ? "pre-3.2" : "3.2+");
			printf("  last update:  %s\n", last.last_updated[0] ? last.last_updated : "-");
		}
		ret = PCM_EXIT_OK;
		goto out;
	}

	rc = fleet_request(a, table, action, &before, &outcome, &err);
	if (rc != AWS_OK) {
		log_warnx("%s%s%s", rc == AWS_E_REFUSED || rc == AWS_E_CONFLICT ? "" :
		    action == FLEET_STOP ? "cannot stop the compute fleet: " :
		    "cannot start the compute fleet: ", err.message, aws_hint(rc));
		ret = aws_rc_exit(rc);
		goto out;
	}
	/* a write is logged by fleet_request() */
	if (outcome != FLEET_WROTE)
		log_info("compute fleet: already %s, nothing to request", before.status_str);
	last = before;
	last.status = outcome == FLEET_WROTE ? (action == FLEET_STOP ? FLEET_STOP_REQUESTED :
	    FLEET_START_REQUESTED) : before.status;
	snprintf(last.status_str, sizeof(last.status_str), "%s", fleet_status_str(last.status));
	if (wait) {
		struct progress p = { last.status, 0 };
		rc = fleet_wait(a, table, action, timeout, aws_poll_ms(), fleet_progress, &p,
		    &last, &err);
		if (rc != AWS_OK) {
			log_warnx("%s%s", err.message, aws_hint(rc));
			ret = aws_rc_exit(rc);
			goto out;
		}
	}
	if (ctx->json) {
		struct json_object *o = item_json(cluster, table, &last);
		json_object_object_add(o, "previous", json_object_new_string(before.status_str));
		json_object_object_add(o, "requested", json_object_new_boolean(outcome == FLEET_WROTE));
		output_json(o);
		json_object_put(o);
	} else {
		printf("compute fleet: %s\n", last.status_str);
	}
	ret = PCM_EXIT_OK;
out:
	aws_free(a);
	free(table);
	return ret;
}
