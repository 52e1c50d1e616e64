#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Retries: with 30 % of the requests to EC2, DynamoDB and SSM answered by a
# fault (throttling, 500, reset, slow), every command still succeeds;
# persistent faults end with the service's code, the right exit status,
# within the configured time; a 4xx is never retried.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-aws.sh"
moto_start
aws_cluster c1
FAKE_FAULTS="rate=0.3,kinds=throttle+500+reset+slow,slow_s=0.3" ssm_fake_start
faultproxy_start
cat >>"$PCM_CONF" <<CONF
cluster_name = c1
CONF
export AWS_MAX_ATTEMPTS=8

fake_faults "$FAULT_URL" '{"rate": 0.3, "kinds": ["throttle", "500", "reset", "slow"], "slow_s": 0.3}'
clusterstatusmgtd_start parallelcluster-c1 --interval 0.3 --delay 0.5
for i in 1 2; do
	assert_rc 0 pcm fleet status
	assert_rc 0 pcm fleet stop --wait --timeout 60s
	assert_rc 0 pcm fleet start --wait --timeout 60s
done
stop_pid "$BG_PID"
for m in reboot stop-start; do
	assert_rc 0 pcm check --restart-method $m --instance-id "$HEAD_ID"
	assert_contains "$OUT" "all permissions present" "check $m under faults"
done
aws_fleet_set parallelcluster-c1 STOPPED
assert_rc 0 pcm restart-head-node --cluster-name c1 --timeout 60s
# six faults in a row (below AWS_MAX_ATTEMPTS): one call carried through them
fake_faults "$FAULT_URL" '{"rate": 1, "kinds": ["throttle", "500", "reset"], "count": 6}'
assert_rc 0 pcm fleet stop
assert_rc 0 pcm fleet status
st=$(fake_stats "$FAULT_URL")
echo "proxy: $st"
python3 -c '
import json, sys
d = json.loads(sys.argv[1])
assert d["faults"] >= 10, d         # (each kind is also forced alone below)
' "$st" || fail "too few faults were injected to prove anything: $st"
[ "$(fake_stats "$SSM_URL" | json_get 'd["faults"]')" -ge 1 ] || echo "note: no SSM fault drawn this time"

# persistent 500s: the code, exit 1, within PCM_AWS_TOTAL_TIMEOUT_MS
fake_faults "$FAULT_URL" '{"rate": 1, "kinds": ["500"]}'
t0=$SECONDS
PCM_AWS_TOTAL_TIMEOUT_MS=3000 AWS_MAX_ATTEMPTS=1000 assert_rc 1 pcm fleet status
assert_contains "$OUT" "InternalServerError (HTTP 500): injected fault" "500 code"
assert_contains "$OUT" "gave up after" "gave up"
[ $((SECONDS - t0)) -le 6 ] || fail "3 s budget took $((SECONDS - t0)) s"

# persistent throttling on EC2: RequestLimitExceeded after AWS_MAX_ATTEMPTS
fake_faults "$FAULT_URL" '{"rate": 1, "kinds": ["throttle"]}'
n0=$(fake_stats "$FAULT_URL" | json_get 'd["requests"]')
AWS_MAX_ATTEMPTS=4 assert_rc 1 pcm restart-head-node --cluster-name c1
assert_contains "$OUT" "RequestLimitExceeded (HTTP 503)" "throttling code"
assert_contains "$OUT" "gave up after 4 attempts" "bounded attempts"
n1=$(fake_stats "$FAULT_URL" | json_get 'd["requests"]')
assert_eq "$((n1 - n0))" 4 "requests made for 4 attempts"

# resets: a connection error, named
fake_faults "$FAULT_URL" '{"rate": 1, "kinds": ["reset"]}'
AWS_MAX_ATTEMPTS=3 assert_rc 1 pcm fleet status
assert_contains "$OUT" "ConnectionError" "reset named"
assert_contains "$OUT" "gave up after 3 attempts" "reset attempts"

# an answer slower than the time budget: a timeout, on time
fake_faults "$FAULT_URL" '{"rate": 1, "kinds": ["slow"], "slow_s": 20}'
t0=$SECONDS
PCM_AWS_TOTAL_TIMEOUT_MS=2000 assert_rc 1 pcm fleet status
assert_contains "$OUT" "Timeout" "slow answer is a timeout"
[ $((SECONDS - t0)) -le 5 ] || fail "2 s budget took $((SECONDS - t0)) s"

# a 4xx is never retried: one request for a bad signature
fake_faults "$FAULT_URL" '{"rate": 0}'
n0=$(fake_stats "$FAULT_URL" | json_get 'd["requests"]')
AWS_SECRET_ACCESS_KEY=x$AWS_SECRET_ACCESS_KEY assert_rc 1 pcm fleet status
n1=$(fake_stats "$FAULT_URL" | json_get 'd["requests"]')
assert_eq "$((n1 - n0))" 1 "requests for a rejected signature"

# nothing listening: connection refused, retried, then a clear error
AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:$(free_port) AWS_MAX_ATTEMPTS=2 assert_rc 1 pcm fleet status
assert_contains "$OUT" "cannot read the compute fleet status: ConnectionError" "refused"
ok "faults"
