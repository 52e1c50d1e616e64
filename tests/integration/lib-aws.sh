# SPDX-License-Identifier: GPL-2.0-or-later
# tests/integration/lib-aws.sh - the AWS test bed, sourced after lib.sh:
#
#   . "$(dirname "$0")/lib.sh"; . "$(dirname "$0")/lib-aws.sh"
#   moto_start                   moto_server (EC2, DynamoDB, IAM) with SigV4
#                                checking on; an admin user's key in
#                                AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (and
#                                AWS_BED_KEY/AWS_BED_SECRET); AWS_ENDPOINT_URL,
#                                AWS_REGION; MOTO_URL
#   aws_cluster NAME [--legacy] [--status S] [--no-table]
#                                fleet table + item and tagged head/compute
#                                instances; HEAD_ID = the head node
#   aws_user NAME POLICY_JSON    an IAM user with that inline policy;
#                                USER_KEY, USER_SECRET
#   aws_role_creds ROLE FILE     STS credentials of a new role (session
#                                token and all) into FILE, for imds.py
#   aws_fleet_get TABLE / aws_fleet_set TABLE STATUS [--legacy]
#   aws_instance_state ID
#   faultproxy_start             a fault-injecting proxy in front of moto; the
#                                agent's AWS_ENDPOINT_URL now points at it;
#                                FAULT_URL
#   imds_fake_start [imds.py options]   tests/fakes/imds.py; IMDS_URL and
#                                AWS_EC2_METADATA_SERVICE_ENDPOINT
#   ssm_fake_start [ssm.py options]     tests/fakes/ssm.py against moto's EC2;
#                                SSM_URL and AWS_ENDPOINT_URL_SSM
#   fake_faults URL JSON         POST URL/__faults (rate, kinds, slow_s, count)
#   fake_stats URL               GET URL/__stats
#
# Outside a test: no AWS credentials or config of the machine leak in
# (AWS_SHARED_CREDENTIALS_FILE / AWS_CONFIG_FILE point into $T, IMDS is
# disabled until imds_fake_start), and retries/polls are fast.

FAKES=$PCM_TOP/tests/fakes
AWSBED="python3 $FAKES/awsbed.py"

need_moto() {
	command -v moto_server >/dev/null 2>&1 || skip "moto_server not installed (pip install 'moto[server]')"
	python3 -c 'import boto3, botocore' 2>/dev/null || skip "python3 boto3/botocore missing"
}

unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL_EC2 AWS_ENDPOINT_URL_DYNAMODB \
	AWS_ENDPOINT_URL_SSM AWS_EC2_METADATA_SERVICE_ENDPOINT AWS_DEFAULT_REGION
export AWS_SHARED_CREDENTIALS_FILE=$T/aws-credentials AWS_CONFIG_FILE=$T/aws-config
export AWS_EC2_METADATA_DISABLED=true
export AWS_REGION=us-east-1
export PCM_AWS_BACKOFF_BASE_MS=${PCM_AWS_BACKOFF_BASE_MS:-50}
export PCM_AWS_POLL_MS=${PCM_AWS_POLL_MS:-200}

# wait until URL answers anything over HTTP
_wait_http() {
	wait_for "${2:-15}" "$1" curl -s -o /dev/null --max-time 1 "$1"
}

moto_start() {
	need_moto
	local port
	port=$(free_port)
	# the first 3 calls (create-user, put-user-policy, create-access-key) go
	# unsigned; every later one must be signed by a key moto knows
	INITIAL_NO_AUTH_ACTION_COUNT=3 bg moto moto_server -H 127.0.0.1 -p "$port"
	export MOTO_URL=http://127.0.0.1:$port
	_wait_http "$MOTO_URL/moto-api/" 20
	export AWS_ENDPOINT_URL=$MOTO_URL
	eval "$($AWSBED init)" || fail "cannot create the IAM admin user in moto"
	export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
	export AWS_BED_KEY=$AWS_ACCESS_KEY_ID AWS_BED_SECRET=$AWS_SECRET_ACCESS_KEY
}

aws_cluster() {
	HEAD_ID=$($AWSBED cluster "$@") || fail "cannot create cluster $1 in moto"
	export HEAD_ID
}

aws_user() {	# NAME POLICY_JSON
	local f=$T/policy-$1.json out
	printf '%s\n' "$2" >"$f"
	out=$($AWSBED user "$1" "$f") || fail "cannot create IAM user $1"
	USER_KEY=${out%% *}
	USER_SECRET=${out#* }
}

aws_role_creds() { $AWSBED role-creds "$1" >"$2" || fail "cannot assume role $1"; }
aws_fleet_get() { $AWSBED fleet-get "$@"; }
aws_fleet_set() { $AWSBED fleet-set "$@"; }
aws_instance_state() { $AWSBED instance-state "$@"; }

faultproxy_start() {
	local port
	port=$(free_port)
	bg faultproxy python3 "$FAKES/faultproxy.py" --port "$port" --upstream "$MOTO_URL"
	export FAULT_URL=http://127.0.0.1:$port
	_wait_http "$FAULT_URL/__stats"
	export AWS_ENDPOINT_URL=$FAULT_URL
}

imds_fake_start() {
	local port
	port=$(free_port)
	bg imds python3 "$FAKES/imds.py" --port "$port" "$@"
	export IMDS_URL=http://127.0.0.1:$port
	_wait_http "$IMDS_URL/__stats"
	export AWS_EC2_METADATA_SERVICE_ENDPOINT=$IMDS_URL
	unset AWS_EC2_METADATA_DISABLED
}

ssm_fake_start() {
	local port
	port=$(free_port)
	FAKE_KEYS="${FAKE_KEYS:-$AWS_BED_KEY:$AWS_BED_SECRET}" \
	AWS_ACCESS_KEY_ID=$AWS_BED_KEY AWS_SECRET_ACCESS_KEY=$AWS_BED_SECRET \
		bg ssm python3 "$FAKES/ssm.py" --port "$port" --ec2-endpoint "$MOTO_URL" "$@"
	export SSM_URL=http://127.0.0.1:$port
	_wait_http "$SSM_URL/__stats"
	export AWS_ENDPOINT_URL_SSM=$SSM_URL
}

fake_faults() {	# URL JSON
	curl -sf -X POST --data "$2" "$1/__faults" >/dev/null || fail "cannot set faults on $1"
}
fake_stats() { curl -sf "$1/__stats"; }

# clusterstatusmgtd_start TABLE [clusterstatusmgtd.py options]: the stand-in
# that moves STOP_REQUESTED -> STOPPING -> STOPPED (and START) in moto
clusterstatusmgtd_start() {
	local table=$1; shift
	bg clusterstatusmgtd python3 "$FAKES/clusterstatusmgtd.py" --table "$table" "$@"
}

# assert_rc_out WANT CMD...: like assert_rc, but OUT is stdout alone (for
# --json) and ERR is stderr
assert_rc_out() {
	local want=$1; shift
	local rc=0
	OUT=$("$@" 2>"$T/stderr") || rc=$?
	ERR=$(cat "$T/stderr")
	[ "$rc" -eq "$want" ] || fail "'$*' exited $rc, want $want; stdout: $OUT; stderr: $ERR"
}
