#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""ssm.py - the project's SSM Automation server (moto has none).

  ssm.py --port P --ec2-endpoint URL [--region R] [--step-s S]

Speaks the JSON 1.1 protocol (POST /, X-Amz-Target: AmazonSSM.<Op>):
  StartAutomationExecution  only DocumentName AWS-RestartEC2Instance (a
                            ClientToken seen before answers the same
                            execution, as SSM does); runs the
                            runbook's steps against EC2 (moto) in a thread:
                            StopInstances, wait stopped, StartInstances, wait
                            running; Pending -> InProgress -> Success|Failed
  GetAutomationExecution    AutomationExecutionStatus, FailureMessage
Every request is checked as AWS would:
  - the parameters against botocore's SSM service model (ParamValidator):
    400 ValidationException on a bad shape;
  - the SigV4 signature, recomputed with botocore from the secret of the
    access key (FAKE_KEYS="AKID:SECRET,..." from the environment): 403
    IncompleteSignature / UnrecognizedClientException / SignatureDoesNotMatch;
  - FAKE_DENY="AKID,..." : those keys get 400 AccessDeniedException (no
    ssm:* permission), before the parameters are looked at.
The runbook's own EC2 calls use AWS_ACCESS_KEY_ID/SECRET of the environment
(the automation's role).  POST /__faults, GET /__stats: faults.py.
"""
import argparse
import json
import os
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import botocore.session
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.validate import ParamValidator

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faults as F  # noqa: E402

ARGS = None
FAULTS = F.Faults(os.environ.get("FAKE_FAULTS"))
MODEL = botocore.session.get_session().get_service_model("ssm")
KEYS = dict(kv.split(":", 1) for kv in os.environ.get("FAKE_KEYS", "").split(",") if ":" in kv)
DENY = set(k for k in os.environ.get("FAKE_DENY", "").split(",") if k)
EXECS = {}
TOKENS = {}
LOCK = threading.Lock()
COUNT = {"calls": {}, "rejected": 0}


def err(h, status, code, msg):
    with LOCK:
        COUNT["rejected"] += 1
    F.send(h, status, "application/x-amz-json-1.1", json.dumps({"__type": code, "message": msg}))


def check_signature(h, body):
    """None when the signature is right, else (status, code, message)."""
    auth = h.headers.get("Authorization", "")
    if not auth.startswith("AWS4-HMAC-SHA256 "):
        return (400, "MissingAuthenticationTokenException", "Missing Authentication Token")
    parts = dict(p.strip().split("=", 1) for p in auth[len("AWS4-HMAC-SHA256 "):].split(",") if "=" in p)
    try:
        akid, date, region, service, term = parts["Credential"].split("/")
        signed = parts["SignedHeaders"].split(";")
        sig = parts["Signature"]
    except (KeyError, ValueError):
        return (400, "IncompleteSignatureException", "Authorization header malformed")
    if service != "ssm" or term != "aws4_request" or region != ARGS.region:
        return (400, "IncompleteSignatureException", "Credential scope %s/%s is wrong" % (region, service))
    if akid not in KEYS:
        return (400, "UnrecognizedClientException", "The security token included in the request is invalid.")
    amz_date = h.headers.get("X-Amz-Date", "")
    for need in ("host", "x-amz-date", "x-amz-target"):
        if need not in signed:
            return (400, "IncompleteSignatureException", "%s is not signed" % need)
    tok = h.headers.get("X-Amz-Security-Token")
    if tok is not None and "x-amz-security-token" not in signed:
        return (400, "IncompleteSignatureException", "x-amz-security-token is not signed")
    headers = {k: h.headers.get(k) for k in signed}
    req = AWSRequest(method="POST", url="http://%s/" % h.headers.get("Host"), data=body, headers=headers)
    req.context["timestamp"] = amz_date
    signer = SigV4Auth(Credentials(akid, KEYS[akid], tok), "ssm", region)
    creq = signer.canonical_request(req)
    want = signer.signature(signer.string_to_sign(req, creq), req)
    if want != sig:
        return (400, "InvalidSignatureException",
                "The request signature we calculated does not match the signature you provided.")
    return None


def ec2():
    return boto3.client("ec2", region_name=ARGS.region, endpoint_url=ARGS.ec2_endpoint)


def wait_state(c, iid, state, deadline):
    while time.time() < deadline:
        r = c.describe_instances(InstanceIds=[iid])
        if r["Reservations"][0]["Instances"][0]["State"]["Name"] == state:
            return
        time.sleep(0.2)
    raise RuntimeError("timed out waiting for %s to be %s" % (iid, state))


def run(exid, iid):
    def setst(s, msg=None):
        with LOCK:
            EXECS[exid]["AutomationExecutionStatus"] = s
            if msg:
                EXECS[exid]["FailureMessage"] = msg
    try:
        time.sleep(ARGS.step_s)
        setst("InProgress")
        c = ec2()
        c.stop_instances(InstanceIds=[iid])
        time.sleep(ARGS.step_s)
        wait_state(c, iid, "stopped", time.time() + 60)
        print("ssm: runbook %s: %s stopped" % (exid, iid), file=sys.stderr, flush=True)
        c.start_instances(InstanceIds=[iid])
        time.sleep(ARGS.step_s)
        wait_state(c, iid, "running", time.time() + 60)
        print("ssm: runbook %s: %s running" % (exid, iid), file=sys.stderr, flush=True)
        setst("Success")
    except Exception as e:  # the runbook failed: say why, like SSM does
        setst("Failed", "Step fails when it is changing the instance state: %s" % e)


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, fmt, *a):
        sys.stderr.write("ssm: %s\n" % (fmt % a))

    def do_GET(self):
        if not F.control(self, FAULTS, lambda: dict(COUNT)):
            F.send(self, 404, "text/plain", "Not Found")

    def do_POST(self):
        if F.control(self, FAULTS, lambda: dict(COUNT)):
            return
        n = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(n)
        target = self.headers.get("X-Amz-Target", "")
        if F.apply(self, FAULTS, "ssm", target):
            return
        if not target.startswith("AmazonSSM."):
            return err(self, 400, "UnknownOperationException", "bad X-Amz-Target '%s'" % target)
        op = target[len("AmazonSSM."):]
        if self.headers.get("Content-Type", "") != "application/x-amz-json-1.1":
            return err(self, 400, "SerializationException", "Content-Type must be application/x-amz-json-1.1")
        bad = check_signature(self, body)
        if bad:
            return err(self, *bad)
        akid = self.headers["Authorization"].split("Credential=")[1].split("/")[0]
        with LOCK:
            COUNT["calls"][op] = COUNT["calls"].get(op, 0) + 1
        if akid in DENY:
            return err(self, 400, "AccessDeniedException",
                       "User: arn:aws:iam::123456789012:user/denied is not authorized to perform: "
                       "ssm:%s because no identity-based policy allows the ssm:%s action" % (op, op))
        try:
            params = json.loads(body or b"{}")
        except ValueError:
            return err(self, 400, "SerializationException", "body is not JSON")
        try:
            om = MODEL.operation_model(op)
        except Exception:
            return err(self, 400, "UnknownOperationException", "unknown operation %s" % op)
        report = ParamValidator().validate(params, om.input_shape)
        if report.has_errors():
            return err(self, 400, "ValidationException", report.generate_report())
        if op == "StartAutomationExecution":
            if params["DocumentName"] != "AWS-RestartEC2Instance":
                return err(self, 400, "InvalidDocument", "Document %s does not exist" % params["DocumentName"])
            p = params.get("Parameters", {})
            unknown = set(p) - {"InstanceId", "AutomationAssumeRole"}
            if unknown or "InstanceId" not in p or len(p["InstanceId"]) != 1:
                return err(self, 400, "InvalidAutomationExecutionParametersException",
                           "Parameters %s are not defined / InstanceId is required" % sorted(unknown))
            with LOCK:
                tok = params.get("ClientToken")
                if tok and tok in TOKENS:   # idempotent retry: the same execution
                    COUNT["idempotent_retries"] = COUNT.get("idempotent_retries", 0) + 1
                    return F.send(self, 200, "application/x-amz-json-1.1",
                                  json.dumps({"AutomationExecutionId": TOKENS[tok]}))
            exid = str(uuid.uuid4())
            with LOCK:
                if tok:
                    TOKENS[tok] = exid
                EXECS[exid] = {"AutomationExecutionId": exid, "DocumentName": params["DocumentName"],
                               "AutomationExecutionStatus": "Pending", "Parameters": p}
            threading.Thread(target=run, args=(exid, p["InstanceId"][0]), daemon=True).start()
            return F.send(self, 200, "application/x-amz-json-1.1", json.dumps({"AutomationExecutionId": exid}))
        if op == "GetAutomationExecution":
            with LOCK:
                ex = EXECS.get(params["AutomationExecutionId"])
                ex = dict(ex) if ex else None
            if ex is None:
                return err(self, 400, "AutomationExecutionNotFoundException",
                           "Automation Execution %s not found" % params["AutomationExecutionId"])
            return F.send(self, 200, "application/x-amz-json-1.1", json.dumps({"AutomationExecution": ex}))
        return err(self, 400, "UnsupportedOperation", "%s is not implemented by this fake" % op)


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--ec2-endpoint", required=True)
    ap.add_argument("--region", default=os.environ.get("AWS_REGION", "us-east-1"))
    ap.add_argument("--step-s", type=float, default=0.3)
    ARGS = ap.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", ARGS.port), H)
    srv.daemon_threads = True
    print("ssm: listening on 127.0.0.1:%d" % ARGS.port, file=sys.stderr, flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
