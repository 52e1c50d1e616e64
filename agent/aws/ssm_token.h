/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * aws/ssm_token.h - AWS-RestartEC2Instance with the caller's ClientToken.
 *
 * ssm_restart_instance() (ssm.h) makes a fresh token per call, so its own
 * retries are idempotent.  prepare-restart needs the same across process
 * runs: it records a token in its journal before the first request, and a
 * run that was killed before it learnt the answer asks again with that
 * token; SSM answers with the execution the first request started, or
 * starts it if the first never arrived.  Exactly one restart either way.
 *
 * Errors follow http.h (AWS_OK or a negative enum aws_rc, err filled).
 */
#ifndef PCM_AWS_SSM_TOKEN_H
#define PCM_AWS_SSM_TOKEN_H

#include <stddef.h>

#include "aws/http.h"

/* A new random UUID (v4) into buf (37 bytes at least); 0 or -errno. */
int ssm_client_token_new(char *buf, size_t len);

/*
 * StartAutomationExecution of AWS-RestartEC2Instance for instance_id with
 * ClientToken = token (a UUID) and AutomationAssumeRole = assume_role when
 * not NULL/empty.  On AWS_OK *execution_id is malloc'd (caller frees).
 */
int ssm_restart_instance_token(struct aws *a, const char *instance_id, const char *assume_role,
    const char *token, char **execution_id, struct aws_error *err);

#endif
