/* SPDX-License-Identifier: GPL-2.0-or-later */
/* aws/ssm_token.c - see ssm_token.h */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <json-c/json.h>

#include "aws/ssm.h"
#include "aws/ssm_token.h"

int
ssm_client_token_new(char *buf, size_t len)
{
	unsigned char r[16];

	if (len < 37)
		return -ENOSPC;
	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		return -EIO;
	r[6] = (unsigned char)((r[6] & 0x0f) | 0x40);	/* version 4 */
	r[8] = (unsigned char)((r[8] & 0x3f) | 0x80);	/* RFC 4122 variant */
	snprintf(buf, len, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
	    r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13],
	    r[14], r[15]);
	return 0;
}

static struct json_object *
one(const char *s)
{
	struct json_object *a = json_object_new_array();

	json_object_array_add(a, json_object_new_string(s));
	return a;
}

int
ssm_restart_instance_token(struct aws *a, const char *instance_id, const char *assume_role,
    const char *token, char **execution_id, struct aws_error *err)
{
	struct json_object *req = json_object_new_object(), *params = json_object_new_object();
	struct json_object *o = NULL, *v;
	struct aws_buf b = { 0 };
	int rc;

	*execution_id = NULL;
	json_object_object_add(req, "ClientToken", json_object_new_string(token));
	json_object_object_add(req, "DocumentName", json_object_new_string(SSM_RESTART_DOCUMENT));
	json_object_object_add(params, "InstanceId", one(instance_id));
	if (assume_role != NULL && *assume_role != '\0')
		json_object_object_add(params, "AutomationAssumeRole", one(assume_role));
	json_object_object_add(req, "Parameters", params);
	rc = aws_call(a, AWS_SVC_SSM, "StartAutomationExecution",
	    json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN), &b, err);
	json_object_put(req);
	if (rc != AWS_OK)
		goto out;
	if ((o = json_tokener_parse(b.data ? b.data : "")) == NULL ||
	    !json_object_object_get_ex(o, "AutomationExecutionId", &v) ||
	    !json_object_is_type(v, json_type_string)) {
		rc = aws_seterr(err, AWS_E_PARSE, 200, "ParseError",
		    "StartAutomationExecution: no AutomationExecutionId in the answer");
		goto out;
	}
	if ((*execution_id = strdup(json_object_get_string(v))) == NULL)
		rc = aws_seterr(err, AWS_E_NOMEM, 0, "NoMemory", "out of memory");
out:
	json_object_put(o);
	aws_buf_free(&b);
	return rc;
}
