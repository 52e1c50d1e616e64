/* SPDX-License-Identifier: GPL-2.0-or-later */
/* cmd_check.c - pcm-agent check: every AWS permission the restart method needs */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "aws/ec2.h"
#include "aws/fleet.h"
#include "aws/http.h"
#include "aws/imds.h"
#include "aws/ssm.h"
#include "commands.h"
#include "log.h"
#include "output.h"

const char help_check[] =
    "usage: pcm-agent check [--restart-method M] [--instance-id ID] [--cluster-name N]\n"
    "                 [--region R] [--json]\n"
    "\n"
    "Check, without changing anything, that this machine's AWS credentials allow\n"
    "every call the configured restart method needs: EC2 actions with DryRun\n"
    "(412 DryRunOperation = allowed, 403 UnauthorizedOperation = missing), the\n"
    "compute-fleet item with a GetItem and a write whose condition never holds,\n"
    "SSM Automation with a request the service rejects after its IAM check.\n"
    "Prints one line per action and, when something is missing, the exact IAM\n"
    "policy statements to attach to the head node role\n"
    "(HeadNode/Iam/AdditionalIamPolicies; the full policy is\n"
    "packaging/iam/pcm-agent-policy.json).\n"
    "\n"
    "  always:      dynamodb:GetItem, dynamodb:UpdateItem (PutItem before 3.2),\n"
    "               ec2:DescribeInstances, ec2:DescribeInstanceStatus\n"
    "  reboot:      ec2:RebootInstances\n"
    "  stop-start:  ssm:StartAutomationExecution, ssm:GetAutomationExecution, and\n"
    "               ec2:StopInstances + ec2:StartInstances when no ssm_assume_role\n"
    "               (iam:PassRole on ssm_assume_role cannot be probed: listed)\n"
    "\n"
    "options:\n"
    "  --restart-method M  none, reboot or stop-start (default restart_method)\n"
    "  --instance-id ID    the head node (default: this instance, from IMDS)\n"
    "  --cluster-name N    the cluster (default cluster_name)\n"
    "  --region R          AWS region (default region, AWS_REGION, IMDS)\n"
    "  --json              print the results as JSON\n"
    "\n"
    "exit status: 0 everything allowed, 5 a permission is missing, 1 a check\n"
    "could not be made (the message says why).\n";

enum res { RES_ALLOWED, RES_MISSING, RES_ERROR, RES_UNCHECKED };

struct perm {
	const char	*action;
	char		 resource[256];
	enum res	 res;
	char		 detail[640];
};

struct checks {
	struct perm	 v[16];
	size_t		 n;
};

static struct perm *
add(struct checks *c, const char *action, const char *resource)
{
	struct perm *p = &c->v[c->n++];

	p->action = action;
	snprintf(p->resource, sizeof(p->resource), "%s", resource);
	p->res = RES_UNCHECKED;
	p->detail[0] = '\0';
	return p;
}

static void
record(struct perm *p, int rc, const struct aws_error *err)
{
	if (rc == AWS_OK) {
		p->res = RES_ALLOWED;
		return;
	}
	p->res = rc == AWS_E_DENIED ? RES_MISSING : RES_ERROR;
	snprintf(p->detail, sizeof(p->detail), "%s", err->message);
}

static const char *
res_str(enum res r)
{
	switch (r) {
	case RES_ALLOWED: return "allowed";
	case RES_MISSING: return "MISSING";
	case RES_ERROR: return "error";
	case RES_UNCHECKED: return "not checked";
	}
	return "?";
}

/* {"Version": ..., "Statement": [one per missing action, grouped by resource]} */
static struct json_object *
policy_for(const struct checks *c, enum res which)
{
	struct json_object *pol = json_object_new_object(), *st = json_object_new_array();
	int done[16] = { 0 };

	json_object_object_add(pol, "Version", json_object_new_string("2012-10-17"));
	for (size_t i = 0; i < c->n; i++) {
		struct json_object *s, *acts;

		if (done[i] || c->v[i].res != which)
			continue;
		s = json_object_new_object();
		acts = json_object_new_array();
		for (size_t j = i; j < c->n; j++)
			if (!done[j] && c->v[j].res == which &&
			    strcmp(c->v[j].resource, c->v[i].resource) == 0) {
				json_object_array_add(acts, json_object_new_string(c->v[j].action));
				done[j] = 1;
			}
		json_object_object_add(s, "Effect", json_object_new_string("Allow"));
		json_object_object_add(s, "Action", acts);
		json_object_object_add(s, "Resource", json_object_new_string(c->v[i].resource));
		json_object_array_add(st, s);
	}
	json_object_object_add(pol, "Statement", st);
	return pol;
}

int
cmd_check(struct pcm_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "restart-method", required_argument, NULL, 'm' },
		{ "instance-id", required_argument, NULL, 'i' },
		{ "cluster-name", required_argument, NULL, 'n' },
		{ "region", required_argument, NULL, 'r' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	const char *method = ctx->cfg.restart_method ? ctx->cfg.restart_method : "none";
	const char *cluster = ctx->cfg.cluster_name, *region = ctx->cfg.region, *reg;
	const char *role = ctx->cfg.ssm_assume_role;
	struct checks c = { .n = 0 };
	struct aws_error err = { 0 };
	struct aws_opts ao = { 0 };
	struct aws *a = NULL;
	struct fleet_item it = { 0 };
	char *id = NULL, *table = NULL, *id_opt = NULL, res[256];
	int cluster_opt = 0;
	int ch, rc, ret = PCM_EXIT_ERROR, missing = 0, errors = 0;
	struct perm *p;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'm':
			method = optarg;
			break;
		case 'i':
			id_opt = optarg;
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
			return cmd_usage_error("check", "bad option");
		}
	}
	if (optind < argc)
		return cmd_usage_error("check", "unexpected argument '%s'", argv[optind]);
	if (strcmp(method, "none") != 0 && strcmp(method, "reboot") != 0 &&
	    strcmp(method, "stop-start") != 0)
		return cmd_usage_error("check", "--restart-method '%s' is not none, reboot or "
		    "stop-start", method);

	ao.region = region;
	if ((a = aws_new(&ao)) == NULL) {
		log_warnx("cannot set up AWS access: out of memory");
		goto out;
	}
	if ((reg = aws_region(a, &err)) == NULL) {
		log_warnx("%s", err.message);
		goto out;
	}
	if (id_opt != NULL) {
		id = strdup(id_opt);
	} else if (imds_instance_id(aws_imds(a), &id, &err) != AWS_OK) {
		log_warnx("cannot find this instance's id: %s (give --instance-id)", err.message);
		goto out;
	}
	if (id == NULL)
		goto out;
	table = fleet_table_name(cluster_opt ? NULL : ctx->cfg.fleet_table, cluster);

	/* the compute fleet item */
	snprintf(res, sizeof(res), "arn:aws:dynamodb:%s:*:table/%s", reg,
	    table ? table : "parallelcluster-*");
	p = add(&c, "dynamodb:GetItem", res);
	if (table == NULL) {
		p->res = RES_ERROR;
		snprintf(p->detail, sizeof(p->detail), "no cluster name (set cluster_name or "
		    "give --cluster-name)");
	} else {
		rc = fleet_get(a, table, &it, &err);
		record(p, rc, &err);
		p = add(&c, it.legacy ? "dynamodb:PutItem" : "dynamodb:UpdateItem", res);
		if (rc == AWS_OK || rc == AWS_E_DENIED) {
			rc = fleet_check_write(a, table, it.legacy, &err);
			record(p, rc, &err);
		} else {
			snprintf(p->detail, sizeof(p->detail), "not probed: GetItem failed");
		}
	}

	/* describe: no resource-level permissions */
	p = add(&c, "ec2:DescribeInstances", "*");
	rc = ec2_describe_instances(a, NULL, 0, NULL, 0, 1, NULL, &err);
	record(p, rc, &err);
	p = add(&c, "ec2:DescribeInstanceStatus", "*");
	rc = ec2_describe_instance_status(a, id, 1, NULL, &err);
	record(p, rc, &err);

	snprintf(res, sizeof(res), "arn:aws:ec2:%s:*:instance/%s", reg, id);
	if (strcmp(method, "reboot") == 0) {
		p = add(&c, "ec2:RebootInstances", res);
		rc = ec2_reboot_instance(a, id, 1, &err);
		record(p, rc, &err);
	} else if (strcmp(method, "stop-start") == 0) {
		const char *denied = NULL;
		struct perm *ps, *pg;

		snprintf(res, sizeof(res), "arn:aws:ssm:%s:*:automation-definition/%s:*", reg,
		    SSM_RESTART_DOCUMENT);
		ps = add(&c, "ssm:StartAutomationExecution", res);
		snprintf(res, sizeof(res), "arn:aws:ssm:%s:*:automation-execution/*", reg);
		pg = add(&c, "ssm:GetAutomationExecution", res);
		rc = ssm_check_permissions(a, &denied, &err);
		if (rc == AWS_E_DENIED && denied && strcmp(denied, "ssm:GetAutomationExecution") == 0) {
			ps->res = RES_ALLOWED;
			record(pg, rc, &err);
		} else if (rc == AWS_E_DENIED) {
			record(ps, rc, &err);
			snprintf(pg->detail, sizeof(pg->detail), "not probed: StartAutomationExecution denied");
		} else {
			record(ps, rc, &err);
			record(pg, rc, &err);
		}
		snprintf(res, sizeof(res), "arn:aws:ec2:%s:*:instance/%s", reg, id);
		if (role == NULL || *role == '\0') {
			/* the automation runs with the caller's permissions */
			p = add(&c, "ec2:StopInstances", res);
			rc = ec2_stop_instance(a, id, 0, 1, &err);
			record(p, rc, &err);
			p = add(&c, "ec2:StartInstances", res);
			rc = ec2_start_instance(a, id, 1, &err);
			record(p, rc, &err);
		} else {
			p = add(&c, "iam:PassRole", role);
			snprintf(p->detail, sizeof(p->detail), "cannot be probed; the role itself "
			    "needs ec2:StopInstances, ec2:StartInstances, ec2:DescribeInstanceStatus");
		}
	}

	for (size_t i = 0; i < c.n; i++) {
		missing += c.v[i].res == RES_MISSING;
		errors += c.v[i].res == RES_ERROR;
	}
	if (ctx->json) {
		struct json_object *o = json_object_new_object(), *arr = json_object_new_array();
		for (size_t i = 0; i < c.n; i++) {
			struct json_object *e = json_object_new_object();
			json_object_object_add(e, "action", json_object_new_string(c.v[i].action));
			json_object_object_add(e, "resource", json_object_new_string(c.v[i].resource));
			json_object_object_add(e, "result", json_object_new_string(res_str(c.v[i].res)));
			json_object_object_add(e, "detail", json_object_new_string(c.v[i].detail));
			json_object_array_add(arr, e);
		}
		json_object_object_add(o, "restart_method", json_object_new_string(method));
		json_object_object_add(o, "region", json_object_new_string(reg));
		json_object_object_add(o, "instance_id", json_object_new_string(id));
		json_object_object_add(o, "table", table ? json_object_new_string(table) : NULL);
		json_object_object_add(o, "ok", json_object_new_boolean(missing == 0 && errors == 0));
		json_object_object_add(o, "checks", arr);
		if (missing)
			json_object_object_add(o, "policy_to_attach", policy_for(&c, RES_MISSING));
		output_json(o);
		json_object_put(o);
	} else {
		static const char *const hdr[] = { "ACTION", "RESULT", "DETAIL" };
		struct table *t = table_new(3, hdr);

		printf("AWS permissions for restart_method = %s (region %s, instance %s, table %s):\n",
		    method, reg, id, table ? table : "-");
		for (size_t i = 0; t && i < c.n; i++) {
			const char *cells[3] = { c.v[i].action, res_str(c.v[i].res),
				c.v[i].detail[0] ? c.v[i].detail : NULL };
			table_add(t, cells);
		}
		if (t)
			table_print(t, stdout);
		table_free(t);
		if (missing) {
			struct json_object *pol = policy_for(&c, RES_MISSING);
			printf("\n%d permission%s missing: attach this policy to the head node's role "
			    "(HeadNode/Iam/AdditionalIamPolicies), or the whole of "
			    "packaging/iam/pcm-agent-policy.json:\n%s\n", missing, missing > 1 ? "s" : "",
			    json_object_to_json_string_ext(pol, JSON_C_TO_STRING_PRETTY |
			    JSON_C_TO_STRING_NOSLASHESCAPE));
			json_object_put(pol);
		} else if (errors == 0) {
			printf("\nall permissions present\n");
		}
	}
	if (missing)
		log_warnx("%d AWS permission%s missing for restart_method = %s", missing,
		    missing > 1 ? "s" : "", method);
	if (errors)
		log_warnx("%d check%s could not be made (see DETAIL)", errors, errors > 1 ? "s" : "");
	ret = missing ? PCM_EXIT_PERMISSION : errors ? PCM_EXIT_ERROR : PCM_EXIT_OK;
out:
	aws_free(a);
	free(id);
	free(table);
	return ret;
}
