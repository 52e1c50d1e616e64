#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# ssm.h: AWS-RestartEC2Instance through the SSM fake (signature and request
# shape checked with botocore) really stops and starts the instance in moto;
# GetAutomationExecution follows it to Success; a runbook failure comes back
# with its FailureMessage; the assume role is passed as a parameter.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-aws.sh"
command -v cc >/dev/null || skip "no C compiler"
[ -f "$PCM_BUILD/libpcmagent.a" ] || skip "no $PCM_BUILD/libpcmagent.a"
moto_start
aws_cluster c1
ssm_fake_start --step-s 0.3

# a small driver over the library: restart ID [ROLE] -> prints each status
cat >"$T/ssm-driver.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "aws/http.h"
#include "aws/ssm.h"
int main(int argc, char **argv) {
	struct aws *a = aws_new(NULL);
	struct aws_error err = { 0 };
	struct ssm_execution x = { 0 };
	char *id = NULL, last[32] = "";
	int ret = 3, ok;
	int rc = ssm_restart_instance(a, argv[1], argc > 2 ? argv[2] : NULL, &id, &err);
	if (rc != AWS_OK) { printf("start: %s: %s\n", aws_rc_str(rc), err.message); goto out; }
	printf("execution %s\n", id);
	for (int i = 0; i < 300 && !x.done; i++) {
		if ((rc = ssm_get_execution(a, id, &x, &err)) != AWS_OK) {
			printf("get: %s\n", err.message); goto out; }
		if (strcmp(last, x.status) != 0) printf("status %s\n", x.status);
		snprintf(last, sizeof(last), "%s", x.status);
		aws_sleep_ms(100);
	}
	if (x.failure[0]) printf("failure %s\n", x.failure);
	ok = x.success;
	rc = ssm_get_execution(a, "00000000-0000-0000-0000-000000000000", &x, &err);
	printf("unknown id: %s %s\n", aws_rc_str(rc), err.code);
	ret = ok ? 0 : 1;
out:
	free(id);
	aws_free(a);
	return ret;
}
C
# (built like the library: plain, or with the sanitizers under make asan)
build_driver() {
	# shellcheck disable=SC2046
	cc -std=gnu11 -D_GNU_SOURCE "$@" -I"$PCM_TOP/agent" $(pkg-config --cflags json-c libcurl libxml-2.0) \
		-o "$T/ssm-driver" "$T/ssm-driver.c" "$PCM_BUILD/libpcmagent.a" \
		$(pkg-config --libs libcurl json-c libxml-2.0) -lpthread 2>"$T/cc.log"
}
build_driver || build_driver -fsanitize=address,undefined ||
	fail "cannot build the driver: $(cat "$T/cc.log")"

assert_rc 0 "$T/ssm-driver" "$HEAD_ID"
assert_contains "$OUT" "status InProgress" "in progress seen"
assert_contains "$OUT" "status Success" "success"
assert_contains "$OUT" "unknown id: not found AutomationExecutionNotFoundException" "unknown execution"
# the runbook really stopped and started the instance in moto
grep -q "$HEAD_ID stopped" "$T/log/ssm.log" || fail "the instance was never stopped"
grep -q "$HEAD_ID running" "$T/log/ssm.log" || fail "the instance was never started again"
assert_eq "$(aws_instance_state "$HEAD_ID")" running "running after the restart"

# the answer of StartAutomationExecution is lost: the retry carries the same
# ClientToken and gets the same execution; one restart, not two
fake_faults "$SSM_URL" '{"rate": 1, "kinds": ["lost"], "match": "StartAutomationExecution", "count": 1}'
n0=$(grep -c "$HEAD_ID stopped" "$T/log/ssm.log")
assert_rc 0 "$T/ssm-driver" "$HEAD_ID"
[ "$(fake_stats "$SSM_URL" | json_get 'd.get("idempotent_retries", 0)')" = 1 ] || fail "no idempotent retry"
sleep 1
assert_eq "$(($(grep -c "$HEAD_ID stopped" "$T/log/ssm.log") - n0))" 1 "restarts for one call"

# the runbook fails on an instance that does not exist: Failed + message
assert_rc 1 "$T/ssm-driver" i-00000000000000000
assert_contains "$OUT" "status Failed" "failed"
assert_contains "$OUT" "failure Step fails" "failure message"

# the assume role is passed through as AutomationAssumeRole
assert_rc 0 "$T/ssm-driver" "$HEAD_ID" arn:aws:iam::123456789012:role/ssm-restart
# a bad shape is refused by the fake's botocore check (ParamValidator)
assert_rc 3 "$T/ssm-driver" ""
assert_contains "$OUT" "ValidationException (HTTP 400): Invalid length for parameter Parameters.InstanceId[0]" "bad shape"
st=$(fake_stats "$SSM_URL")
[ "$(echo "$st" | json_get 'd["calls"]["StartAutomationExecution"]')" -ge 4 ] || fail "calls: $st"
ok "ssm"
