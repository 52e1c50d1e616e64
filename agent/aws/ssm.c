/* SPDX-License-Identifier: GPL-2.0-or-later */
/* aws/ssm.c - see ssm.h */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "aws/ssm.h"
#include "aws/ssm_token.h"
#include "log.h"

static int
call_json(struct aws *a, const char *op, struct json_object *req, struct aws_buf *out,
    struct aws_error *err)
{
	const char *body = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);

	if (body == NULL)
		return aws_seterr(err, AWS_E_NOMEM, 0, "NoMemory", "out of memory");
	return aws_call(a, AWS_SVC_SSM, op, body, out, err);
}

static struct json_object *
one(const char *v)
{
	struct json_object *l = json_object_new_array();

	json_object_array_add(l, json_object_new_string(v));
	return l;
}

static struct json_object *
parse_obj(const char *json, size_t len)
{
	struct json_tokener *tok;
	struct json_object *o;

	if (json == NULL || len == 0 || len > INT32_MAX || (tok = json_tokener_new()) == NULL)
		return NULL;
	o = json_tokener_parse_ex(tok, json, (int)len);
	json_tokener_free(tok);
	if (o && !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		o = NULL;
	}
	return o;
}

int
ssm_restart_instance(struct aws *a, const char *instance_id, const char *assume_role,
    char **execution_id, struct aws_error *err)
{
	char token[40];
	int rc;

	*execution_id = NULL;
	/* one token for all the retries of this call: a retry after a lost
	 * answer must not start a second restart (ssm_token.h) */
	if (ssm_client_token_new(token, sizeof(token)) < 0)
		return aws_seterr(err, AWS_E_NOMEM, 0, "NoRandom",
		    "cannot make a ClientToken: no random bytes");
	rc = ssm_restart_instance_token(a, instance_id, assume_role, token, execution_id, err);
	if (rc == AWS_OK)
		log_info("ssm: %s started for %s: execution %s", SSM_RESTART_DOCUMENT,
		    instance_id, *execution_id);
	return rc;
}

int
ssm_parse_execution(const char *json, size_t len, struct ssm_execution *out,
    struct aws_error *err)
{
	static const char *const final[] = { "Success", "TimedOut", "Cancelled", "Failed",
		"CompletedWithSuccess", "CompletedWithFailure", "Rejected", "Exited", NULL };
	struct json_object *o = parse_obj(json, len), *ex, *v;
	int rc = AWS_OK;

	memset(out, 0, sizeof(*out));
	if (o == NULL || !json_object_object_get_ex(o, "AutomationExecution", &ex) ||
	    !json_object_is_type(ex, json_type_object) ||
	    !json_object_object_get_ex(ex, "AutomationExecutionStatus", &v) ||
	    !json_object_is_type(v, json_type_string)) {
		rc = aws_seterr(err, AWS_E_PARSE, 200, "ParseError",
		    "GetAutomationExecution: no AutomationExecutionStatus in the answer");
		goto out;
	}
	snprintf(out->status, sizeof(out->status), "%s", json_object_get_string(v));
	if (json_object_object_get_ex(ex, "FailureMessage", &v) && json_object_is_type(v, json_type_string))
		snprintf(out->failure, sizeof(out->failure), "%s", json_object_get_string(v));
	for (size_t i = 0; final[i]; i++)
		if (strcmp(out->status, final[i]) == 0)
			out->done = 1;
	out->success = strcmp(out->status, "Success") == 0 ||
	    strcmp(out->status, "CompletedWithSuccess") == 0;
out:
	json_object_put(o);
	return rc;
}

int
ssm_get_execution(struct aws *a, const char *execution_id, struct ssm_execution *out,
    struct aws_error *err)
{
	struct json_object *req = json_object_new_object();
	struct aws_buf b = { 0 };
	int rc;

	memset(out, 0, sizeof(*out));
	json_object_object_add(req, "AutomationExecutionId", json_object_new_string(execution_id));
	rc = call_json(a, "GetAutomationExecution", req, &b, err);
	json_object_put(req);
	if (rc == AWS_OK)
		rc = ssm_parse_execution(b.data, b.len, out, err);
	aws_buf_free(&b);
	return rc;
}

int
ssm_check_permissions(struct aws *a, const char **denied_action, struct aws_error *err)
{
	struct json_object *req = json_object_new_object(), *params = json_object_new_object();
	struct aws_buf b = { 0 };
	int rc;

	if (denied_action)
		*denied_action = NULL;
	/* a parameter AWS-RestartEC2Instance does not have: rejected after IAM */
	json_object_object_add(req, "DocumentName", json_object_new_string(SSM_RESTART_DOCUMENT));
	json_object_object_add(params, "PcmAgentPermissionProbe", one("x"));
	json_object_object_add(req, "Parameters", params);
	rc = call_json(a, "StartAutomationExecution", req, &b, err);
	json_object_put(req);
	aws_buf_free(&b);
	if (rc == AWS_OK) {
		/* the service accepted a bogus parameter: we cannot tell; say so */
		return aws_seterr(err, AWS_E_SERVICE, 200, "UnexpectedSuccess",
		    "StartAutomationExecution accepted a bogus parameter; cannot probe permissions");
	}
	if (rc == AWS_E_DENIED) {
		if (denied_action)
			*denied_action = "ssm:StartAutomationExecution";
		return rc;
	}
	if (rc != AWS_E_SERVICE || !err || (strcmp(err->code, "InvalidAutomationExecutionParametersException") != 0 &&
	    strcmp(err->code, "ValidationException") != 0))
		return rc;

	req = json_object_new_object();
	json_object_object_add(req, "AutomationExecutionId",
	    json_object_new_string("00000000-0000-0000-0000-000000000000"));
	rc = call_json(a, "GetAutomationExecution", req, &b, err);
	json_object_put(req);
	aws_buf_free(&b);
	if (rc == AWS_E_DENIED) {
		if (denied_action)
			*denied_action = "ssm:GetAutomationExecution";
		return rc;
	}
	if (rc == AWS_OK || rc == AWS_E_NOTFOUND ||
	    (rc == AWS_E_SERVICE && err && strcmp(err->code, "AutomationExecutionNotFoundException") == 0)) {
		if (err)
			memset(err, 0, sizeof(*err));
		return AWS_OK;
	}
	return rc;
}
