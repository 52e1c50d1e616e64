#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""imds.py - the project's EC2 instance metadata service (IMDSv2 only).

  imds.py --port P [--instance-id ID] [--region R] [--az AZ] [--instance-type T]
          [--role NAME --creds-file F] [--events-file F] [--token-ttl-max S]

- PUT /latest/api/token with X-aws-ec2-metadata-token-ttl-seconds (1..21600)
  gives a token; every GET needs a valid, unexpired X-aws-ec2-metadata-token
  (else 401), exactly like IMDSv2 with HttpTokens=required.  A PUT carrying
  X-Forwarded-For is refused (403), as IMDS does.
- meta-data/instance-id, placement/region, placement/availability-zone,
  instance-type (404 for an empty value), iam/security-credentials/[ROLE] (JSON with Code, Type,
  AccessKeyId, SecretAccessKey, Token, Expiration, LastUpdated; the keys come
  from --creds-file {"AccessKeyId","SecretAccessKey","Token","ExpiresIn"},
  re-read on each request), events/maintenance/scheduled (the JSON list in
  --events-file, re-read on each request; 404 when the file is absent).
- POST /__faults, GET /__stats (faults.py); the stats count token PUTs,
  401s and credential fetches.
"""
import argparse
import datetime
import json
import os
import secrets
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faults as F  # noqa: E402

ARGS = None
FAULTS = F.Faults(os.environ.get("FAKE_FAULTS"))
TOKENS = {}
LOCK = threading.Lock()
COUNT = {"token_puts": 0, "unauthorized": 0, "creds_fetches": 0, "gets": 0}


def iso(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, fmt, *a):
        sys.stderr.write("imds: %s %s\n" % (self.command, fmt % a))

    def do_PUT(self):
        if F.control(self, FAULTS, lambda: dict(COUNT)):
            return
        if F.apply(self, FAULTS, "imds"):
            return
        if self.path != "/latest/api/token":
            return F.send(self, 404, "text/plain", "Not Found")
        if self.headers.get("X-Forwarded-For"):
            return F.send(self, 403, "text/plain", "Forbidden")
        try:
            ttl = int(self.headers.get("X-aws-ec2-metadata-token-ttl-seconds", ""))
        except ValueError:
            ttl = 0
        if not 1 <= ttl <= 21600:
            return F.send(self, 400, "text/plain", "Bad Request")
        ttl = min(ttl, ARGS.token_ttl_max)
        tok = secrets.token_urlsafe(32)
        with LOCK:
            TOKENS[tok] = time.time() + ttl
            COUNT["token_puts"] += 1
        self.send_response(200)
        self.send_header("X-aws-ec2-metadata-token-ttl-seconds", str(ttl))
        self.send_header("Content-Length", str(len(tok)))
        self.end_headers()
        self.wfile.write(tok.encode())

    def do_POST(self):
        if F.control(self, FAULTS, lambda: dict(COUNT)):
            return
        F.send(self, 405, "text/plain", "Method Not Allowed")

    def do_GET(self):
        if F.control(self, FAULTS, lambda: dict(COUNT)):
            return
        if F.apply(self, FAULTS, "imds", self.path):
            return
        tok = self.headers.get("X-aws-ec2-metadata-token")
        with LOCK:
            exp = TOKENS.get(tok or "")
            ok = exp is not None and exp > time.time()
            if not ok:
                COUNT["unauthorized"] += 1
            COUNT["gets"] += 1
        if not ok:
            return F.send(self, 401, "text/plain", "Unauthorized")
        p = self.path
        md = "/latest/meta-data/"
        simple = {
            md + "instance-id": ARGS.instance_id,
            md + "placement/region": ARGS.region,
            md + "placement/availability-zone": ARGS.az,
            md + "instance-type": ARGS.instance_type,
        }
        if p in simple and simple[p]:	# an empty value: the key is absent (404)
            return F.send(self, 200, "text/plain", simple[p])
        if p == md + "iam/security-credentials/" or p == md + "iam/security-credentials":
            if not ARGS.role:
                return F.send(self, 404, "text/plain", "Not Found")
            return F.send(self, 200, "text/plain", ARGS.role)
        if ARGS.role and p == md + "iam/security-credentials/" + ARGS.role:
            with open(ARGS.creds_file) as f:
                c = json.load(f)
            now = time.time()
            body = {"Code": "Success", "LastUpdated": iso(now), "Type": "AWS-HMAC",
                    "AccessKeyId": c["AccessKeyId"], "SecretAccessKey": c["SecretAccessKey"],
                    "Token": c.get("Token", ""), "Expiration": iso(now + int(c.get("ExpiresIn", 21600)))}
            with LOCK:
                COUNT["creds_fetches"] += 1
            return F.send(self, 200, "text/plain", json.dumps(body, indent=2))
        if p == md + "events/maintenance/scheduled":
            if not ARGS.events_file or not os.path.exists(ARGS.events_file):
                return F.send(self, 404, "text/plain", "Not Found")
            with open(ARGS.events_file) as f:
                return F.send(self, 200, "text/plain", f.read())
        F.send(self, 404, "text/plain", "Not Found")


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--instance-id", default="i-0123456789abcdef0")
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--az", default="us-east-1a")
    ap.add_argument("--instance-type", default="c5d.large")
    ap.add_argument("--role", default="")
    ap.add_argument("--creds-file", default="")
    ap.add_argument("--events-file", default="")
    ap.add_argument("--token-ttl-max", type=int, default=21600)
    ARGS = ap.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", ARGS.port), H)
    srv.daemon_threads = True
    print("imds: listening on 127.0.0.1:%d" % ARGS.port, file=sys.stderr, flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
