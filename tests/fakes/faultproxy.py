#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""faultproxy.py - put faults between the agent and moto_server.

  faultproxy.py --port P --upstream http://127.0.0.1:MOTO

Forwards every request byte for byte (method, path, headers including Host,
body: the client's SigV4 signature stays valid) and the answer back, except
when faults.py injects a fault: the service's throttling error, 500, a reset
connection or a slow answer.  The service is told by X-Amz-Target (DynamoDB,
SSM: JSON errors) or its absence (EC2: XML errors).
POST /__faults, GET /__stats: faults.py.
POST /__canned {"match": "DescribeInstanceStatus", "status": 200, "body": "..."}
answers every request whose operation contains `match` with that body instead
of moto's (for what moto cannot produce, e.g. scheduled events);
{"match": ""} clears it.
"""
import json
import argparse
import http.client
import os
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faults as F  # noqa: E402

FAULTS = F.Faults(os.environ.get("FAKE_FAULTS"))
UP = None
CANNED = {}


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, fmt, *a):
        sys.stderr.write("faultproxy: %s\n" % (fmt % a))

    def forward(self):
        n = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(n) if n else None
        target = self.headers.get("X-Amz-Target", "")
        svc = "ec2" if not target else ("dynamodb" if target.startswith("DynamoDB") else "ssm")
        op = target
        if not target and body and b"Action=" in body:
            op = body.split(b"Action=")[1].split(b"&")[0].decode(errors="replace")
        if F.apply(self, FAULTS, svc, op):
            return
        if CANNED.get("match") and CANNED["match"] in op:
            return F.send(self, CANNED.get("status", 200),
                          "text/xml" if svc == "ec2" else "application/x-amz-json-1.0", CANNED["body"])
        c = http.client.HTTPConnection(UP.hostname, UP.port, timeout=60)
        c.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
        for k, v in self.headers.items():
            if k.lower() not in ("connection", "keep-alive", "proxy-connection"):
                c.putheader(k, v)
        c.endheaders(body)
        r = c.getresponse()
        data = r.read()
        c.close()
        if getattr(self, "lost_answer", False):   # served, answer lost
            F.reset_connection(self)
            return
        self.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() not in ("connection", "transfer-encoding", "content-length", "server", "date"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        if self.path == "/__canned":
            n = int(self.headers.get("Content-Length", 0))
            CANNED.clear()
            CANNED.update(json.loads(self.rfile.read(n) or b"{}"))
            return F.send(self, 200, "application/json", "{}")
        if not F.control(self, FAULTS):
            self.forward()

    def do_GET(self):
        if not F.control(self, FAULTS):
            self.forward()


def main():
    global UP
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--upstream", required=True)
    a = ap.parse_args()
    UP = urllib.parse.urlparse(a.upstream)
    srv = ThreadingHTTPServer(("127.0.0.1", a.port), H)
    srv.daemon_threads = True
    print("faultproxy: 127.0.0.1:%d -> %s" % (a.port, a.upstream), file=sys.stderr, flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
