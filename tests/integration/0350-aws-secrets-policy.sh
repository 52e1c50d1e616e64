#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Signing is really checked (one flipped byte of the secret fails, for each
# service), no log at -vv holds a secret or a session token, and every AWS
# action the code calls is in packaging/iam/pcm-agent-policy.json.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-aws.sh"
moto_start
aws_cluster c2	# restart-head-node's target: not the instance IMDS says we are
aws_cluster c1
aws_role_creds pc-head-role "$T/creds.json"
ROLE_KEY=$(json_get 'd["AccessKeyId"]' <"$T/creds.json")
ROLE_SECRET=$(json_get 'd["SecretAccessKey"]' <"$T/creds.json")
ROLE_TOKEN=$(json_get 'd["Token"]' <"$T/creds.json")
FAKE_KEYS="$AWS_BED_KEY:$AWS_BED_SECRET,$ROLE_KEY:$ROLE_SECRET" ssm_fake_start
faultproxy_start
fake_faults "$FAULT_URL" '{"rate": 0.2, "kinds": ["throttle", "500"]}'
imds_fake_start --instance-id "$HEAD_ID" --role pc-head-role --creds-file "$T/creds.json" \
	--events-file /dev/null
echo "cluster_name = c1" >>"$PCM_CONF"
export AWS_MAX_ATTEMPTS=8
FILE_SECRET=$AWS_BED_SECRET

# every command, at -vv, logs kept
n=0
run_all() {	# label
	local c
	aws_fleet_set parallelcluster-c1 RUNNING
	for c in "fleet status" "fleet stop" "events" "check --restart-method reboot" \
		"check --restart-method stop-start" "check --restart-method none"; do
		n=$((n + 1))
		# shellcheck disable=SC2086
		pcm -vv $c >"$T/agent-$1-$n.log" 2>&1 || fail "pcm $c ($1) failed: $(cat "$T/agent-$1-$n.log")"
	done
	aws_fleet_set parallelcluster-c2 STOPPED
	n=$((n + 1))
	pcm -vv restart-head-node --cluster-name c2 >"$T/agent-$1-$n.log" 2>&1 ||
		fail "restart-head-node ($1) failed: $(cat "$T/agent-$1-$n.log")"
}
run_all env
# the shared credentials file, then the instance profile (session token)
printf '[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n' \
	"$AWS_BED_KEY" "$FILE_SECRET" >"$AWS_SHARED_CREDENTIALS_FILE"
(unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY; run_all file)
grep -q "credentials from credentials file $AWS_SHARED_CREDENTIALS_FILE \[default\]" "$T"/agent-file-*.log ||
	fail "the shared credentials file was not used"
rm "$AWS_SHARED_CREDENTIALS_FILE"
(unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY; run_all imds)
grep -q "credentials from instance profile pc-head-role" "$T"/agent-imds-*.log ||
	fail "the instance profile was not used"
grep -q "retrying in" "$T"/agent-*.log || fail "no retry happened: the logs prove less than they should"

for s in "$AWS_SECRET_ACCESS_KEY" "$FILE_SECRET" "$ROLE_SECRET" "$ROLE_TOKEN" "${ROLE_TOKEN:0:40}"; do
	[ ${#s} -ge 16 ] || fail "secret too short to search for"
	if grep -rlF -- "$s" "$T"/agent-*.log "$T"/log/; then
		fail "a secret or token is in the logs above"
	fi
done
ok "no secret in $(ls "$T"/agent-*.log | wc -l) logs at -vv"

# every action called is in the shipped policy: the calls logged above, and
# every call site in the sources
POLICY=$PCM_TOP/packaging/iam/pcm-agent-policy.json
sed -n 's/.*debug: aws: \(ec2\|dynamodb\|ssm\) \([A-Za-z]*\) .*/\1:\2/p' "$T"/agent-*.log | sort -u >"$T/called"
python3 - "$POLICY" "$T/called" "$PCM_TOP/agent/aws" <<'PY' || fail "policy check"
import json, re, sys, os
pol = json.load(open(sys.argv[1]))
allowed = {a for s in pol["Statement"] if s["Effect"] == "Allow"
           for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])}
called = {l.strip() for l in open(sys.argv[2]) if l.strip()}
svc = {"ec2.c": "ec2", "fleet.c": "dynamodb", "ssm.c": "ssm", "ssm_token.c": "ssm"}
static = set()
for f, s in svc.items():
    if not os.path.exists(os.path.join(sys.argv[3], f)):
        continue
    for line in open(os.path.join(sys.argv[3], f)):
        if re.search(r"new_body\(|one_instance_action\(|call_json\(|aws_call\(", line):
            for op in re.findall(r'"([A-Z][a-z]+[A-Z][A-Za-z]*)"', line):
                static.add("%s:%s" % (s, op))
assert len(called) >= 10, ("too few calls seen", called)
assert len(static) >= 10, ("too few call sites found", static)
missing = (called | static) - allowed
assert not missing, "actions called but not in the policy: %s" % sorted(missing)
print("policy covers %d actions called, %d call sites" % (len(called), len(static)))
PY

# one flipped byte of the secret: every service refuses
flip() { local s=$1 i=$((${#1} / 2)); local c=${s:$i:1}; [ "$c" = A ] && c=B || c=A; echo "${s:0:$i}$c${s:$((i + 1))}"; }
BAD=$(flip "$AWS_BED_SECRET")
[ "$BAD" != "$AWS_BED_SECRET" ] && [ ${#BAD} = ${#AWS_BED_SECRET} ] || fail "flip"
fake_faults "$FAULT_URL" '{"rate": 0}'
AWS_SECRET_ACCESS_KEY=$BAD assert_rc 1 pcm fleet status
assert_contains "$OUT" "SignatureDoesNotMatch" "dynamodb signature checked"
AWS_SECRET_ACCESS_KEY=$BAD assert_rc 1 pcm restart-head-node --cluster-name c2
assert_contains "$OUT" "AuthFailure" "ec2 signature checked"
AWS_SECRET_ACCESS_KEY=$BAD assert_rc 1 pcm check --restart-method stop-start
assert_contains "$OUT" "InvalidSignatureException" "ssm signature checked"
assert_not_contains "$OUT" "allowed" "nothing allowed with a bad secret"
ok "secrets and policy"
