/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * aws/ssm.h - SSM Automation: AWS-RestartEC2Instance (stop, then start, run
 * by the SSM service: an instance cannot start itself after a stop).
 *
 * Errors follow http.h (AWS_OK or a negative enum aws_rc, err filled).
 */
#ifndef PCM_AWS_SSM_H
#define PCM_AWS_SSM_H

#include "aws/http.h"

#define SSM_RESTART_DOCUMENT "AWS-RestartEC2Instance"

/*
 * StartAutomationExecution of AWS-RestartEC2Instance for instance_id, with
 * AutomationAssumeRole = assume_role when not NULL/empty.  On AWS_OK
 * *execution_id is malloc'd (caller frees).  A fresh ClientToken per call
 * makes the retries inside it idempotent (one restart, not two).
 */
int ssm_restart_instance(struct aws *a, const char *instance_id, const char *assume_role,
    char **execution_id, struct aws_error *err);

struct ssm_execution {
	char	status[32];	/* Pending InProgress Waiting Success TimedOut Cancelling
				   Cancelled Failed ... */
	char	failure[256];	/* FailureMessage, "" if none */
	int	done;		/* status is final */
	int	success;	/* status is Success */
};

/* GetAutomationExecution. */
int ssm_get_execution(struct aws *a, const char *execution_id, struct ssm_execution *out,
    struct aws_error *err);
/* Parse its answer (tests). */
int ssm_parse_execution(const char *json, size_t len, struct ssm_execution *out,
    struct aws_error *err);

/*
 * Permission probe without side effects: StartAutomationExecution of the
 * document with a parameter it does not have (the service checks IAM first,
 * then rejects the parameters) and GetAutomationExecution of an id that does
 * not exist.  AWS_OK when both are allowed, AWS_E_DENIED (err names the
 * action) when not, other codes when the probe itself failed.
 * *denied_action (may be NULL) gets "ssm:StartAutomationExecution" or
 * "ssm:GetAutomationExecution" (static string) on AWS_E_DENIED.
 */
int ssm_check_permissions(struct aws *a, const char **denied_action, struct aws_error *err);

#endif
