/* SPDX-License-Identifier: GPL-2.0-or-later */
/* cmd_restart_head_node.c - pcm-agent restart-head-node: the off-box stop/start */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "aws/ec2.h"
#include "aws/fleet.h"
#include "aws/http.h"
#include "aws/imds.h"
#include "commands.h"
#include "log.h"
#include "output.h"

const char help_restart_head_node[] =
    "usage: pcm-agent restart-head-node --cluster-name N [--region R] [--timeout T]\n"
    "                 [--force] [--json]\n"
    "\n"
    "Stop and start a cluster's head node from another machine (an instance\n"
    "cannot start itself after a stop).  The head node is found by its tags\n"
    "parallelcluster:cluster-name=N and parallelcluster:node-type=HeadNode; then:\n"
    "EC2 StopInstances, wait stopped, StartInstances, wait running and both status\n"
    "checks ok.  The compute fleet must not be RUNNING (compute nodes shut down\n"
    "when the head node is gone too long): stop it first with `pcm-agent fleet\n"
    "stop --wait` or `pcm-agent prepare-restart` on the head node.  A stop/start\n"
    "blanks the instance store (/scratch): save it first (prepare-restart does).\n"
    "Needs no config file; uses the AWS credentials of this machine.\n"
    "\n"
    "options:\n"
    "  --cluster-name N   the cluster (required; default cluster_name)\n"
    "  --region R         AWS region (default region, AWS_REGION, AWS_DEFAULT_REGION)\n"
    "  --timeout T        each wait (stopped, running, status ok): default 15m\n"
    "  --force            go on although the fleet is RUNNING or its status unreadable\n"
    "  --json             print the result as JSON\n"
    "\n"
    "exit status: 0 restarted, 1 error, 4 timed out, 5 permission missing.\n";

static void
progress(const char *id, const char *what, long elapsed, void *arg)
{
	char *last = arg;

	if (strcmp(last, what) == 0)
		return;
	snprintf(last, 128, "%s", what);
	log_info("%s: %s (%lds)", id, what, elapsed);
}

/* Are we on instance id?  Off EC2 the metadata service does not answer:
 * then we are not (IMDS fails within about two seconds). */
static int
running_on(struct aws *a, const char *id)
{
	struct aws_error err = { 0 };
	char *self = NULL;
	int same;

	if (imds_instance_id(aws_imds(a), &self, &err) != AWS_OK) {
		log_debug("not on an EC2 instance (or no IMDS): %s", err.message);
		return 0;
	}
	same = strcmp(self, id) == 0;
	free(self);
	return same;
}

/* 0 ok to go on, else an exit status */
static int
check_fleet(struct aws *a, const char *cluster, const char *fleet_table, int force)
{
	struct aws_error err = { 0 };
	struct fleet_item it;
	char *table = fleet_table_name(fleet_table, cluster);
	int rc;

	if (table == NULL)
		return PCM_EXIT_ERROR;
	rc = fleet_get(a, table, &it, &err);
	if (rc != AWS_OK) {
		if (force) {
			log_notice("cannot read the compute fleet status (%s); going on (--force)",
			    err.message);
			free(table);
			return 0;
		}
		log_warnx("cannot read the compute fleet status: %s (use --force to restart "
		    "the head node anyway)", err.message);
		free(table);
		return aws_rc_exit(rc);
	}
	free(table);
	if (it.status == FLEET_STOPPED)
		return 0;
	if (force) {
		log_notice("the compute fleet is %s; restarting the head node anyway (--force)",
		    it.status_str);
		return 0;
	}
	log_warnx("cannot restart the head node of %s: the compute fleet is %s, not STOPPED "
	    "(run `pcm-agent fleet stop --wait` or prepare-restart first, or use --force)",
	    cluster, it.status_str);
	return PCM_EXIT_ERROR;
}

int
cmd_restart_head_node(struct pcm_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "cluster-name", required_argument, NULL, 'n' },
		{ "region", required_argument, NULL, 'r' },
		{ "timeout", required_argument, NULL, 't' },
		{ "force", no_argument, NULL, 'f' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cluster = ctx->cfg.cluster_name, *region = ctx->cfg.region;
	long timeout = 900;
	int cluster_opt = 0;
	int ch, rc, force = 0, ret = PCM_EXIT_ERROR;
	struct aws_error err = { 0 };
	struct ec2_instances l = { 0 };
	struct ec2_filter f[2];
	struct aws_opts ao = { 0 };
	struct aws *a = NULL;
	const struct ec2_instance *head = NULL;
	char last[128] = "";
	char *id = NULL;
	long long t0 = aws_now_ms();

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'n':
			cluster = optarg;
			cluster_opt = 1;	/* then fleet_table is parallelcluster-N */
			break;
		case 'r':
			region = optarg;
			break;
		case 't':
			if (parse_duration(optarg, &timeout) < 0 || timeout <= 0)
				return cmd_usage_error("restart-head-node", "--timeout '%s' is not a "
				    "duration (e.g. 90s, 15m)", optarg);
			break;
		case 'f':
			force = 1;
			break;
		case 'j':
			ctx->json = 1;
			break;
		default:
			return cmd_usage_error("restart-head-node", "bad option");
		}
	}
	if (optind < argc)
		return cmd_usage_error("restart-head-node", "unexpected argument '%s'", argv[optind]);
	if (cluster == NULL || *cluster == '\0')
		return cmd_usage_error("restart-head-node", "--cluster-name is required");

	ao.region = region;
	if ((a = aws_new(&ao)) == NULL) {
		log_warnx("cannot set up AWS access: out of memory");
		goto out;
	}
	f[0] = (struct ec2_filter){ "tag:parallelcluster:cluster-name", cluster };
	f[1] = (struct ec2_filter){ "tag:parallelcluster:node-type", "HeadNode" };
	/* terminated instances keep their tags for a while: skipped below */
	if ((rc = ec2_describe_instances(a, NULL, 0, f, 2, 0, &l, &err)) != AWS_OK) {
		log_warnx("cannot find the head node of %s: %s%s", cluster, err.message,
		    aws_hint(rc));
		ret = aws_rc_exit(rc);
		goto out;
	}
	for (size_t i = 0; i < l.n; i++) {
		if (strcmp(l.v[i].state, "terminated") == 0 || strcmp(l.v[i].state, "shutting-down") == 0)
			continue;
		if (head != NULL) {
			log_warnx("cannot restart the head node of %s: two instances are tagged as "
			    "its head node (%s, %s)", cluster, head->id, l.v[i].id);
			goto out;
		}
		head = &l.v[i];
	}
	if (head == NULL) {
		log_warnx("cannot find the head node of %s: no instance tagged "
		    "parallelcluster:cluster-name=%s, parallelcluster:node-type=HeadNode in %s "
		    "(wrong --cluster-name or --region?)", cluster, cluster, aws_region(a, NULL));
		goto out;
	}
	if ((id = strdup(head->id)) == NULL)
		goto out;
	log_info("head node of %s: %s (%s, %s)", cluster, id, head->type, head->state);
	if (running_on(a, id)) {
		log_warnx("cannot restart the head node %s from itself: it would stop and never "
		    "start again (run this from another machine, or use prepare-restart "
		    "--stop-start on the head node, which has SSM do it)", id);
		goto out;
	}
	if (head->instance_store == 1)
		log_notice("%s (%s) has %ld GB of instance store: a stop/start blanks it "
		    "(/scratch); make sure it was saved (prepare-restart)", id, head->type,
		    head->instance_store_gb);
	if ((ret = check_fleet(a, cluster, cluster_opt ? NULL : ctx->cfg.fleet_table, force)) != 0)
		goto out;
	ret = PCM_EXIT_ERROR;

	if (strcmp(head->state, "stopped") != 0) {
		if ((rc = ec2_stop_instance(a, id, 0, 0, &err)) != AWS_OK) {
			log_warnx("cannot stop instance %s: %s%s", id, err.message, aws_hint(rc));
			ret = aws_rc_exit(rc);
			goto out;
		}
		if ((rc = ec2_wait_state(a, id, "stopped", timeout, aws_poll_ms(), progress, last,
		    &err)) != AWS_OK) {
			log_warnx("%s%s", err.message, aws_hint(rc));
			ret = aws_rc_exit(rc);
			goto out;
		}
	} else {
		log_info("%s is already stopped", id);
	}
	if ((rc = ec2_start_instance(a, id, 0, &err)) != AWS_OK) {
		log_warnx("cannot start instance %s: %s%s", id, err.message, aws_hint(rc));
		ret = aws_rc_exit(rc);
		goto out;
	}
	if ((rc = ec2_wait_state(a, id, "running", timeout, aws_poll_ms(), progress, last,
	    &err)) != AWS_OK ||
	    (rc = ec2_wait_status_ok(a, id, timeout, aws_poll_ms(), progress, last, &err)) != AWS_OK) {
		log_warnx("%s%s", err.message, aws_hint(rc));
		ret = aws_rc_exit(rc);
		goto out;
	}
	if (ctx->json) {
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "cluster", json_object_new_string(cluster));
		json_object_object_add(o, "instance_id", json_object_new_string(id));
		json_object_object_add(o, "state", json_object_new_string("running"));
		json_object_object_add(o, "seconds",
		    json_object_new_int64((aws_now_ms() - t0) / 1000));
		output_json(o);
		json_object_put(o);
	} else {
		printf("head node %s of %s restarted: running, status checks ok\n", id, cluster);
	}
	ret = PCM_EXIT_OK;
out:
	ec2_instances_free(&l);
	aws_free(a);
	free(id);
	return ret;
}
