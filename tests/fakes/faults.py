# SPDX-License-Identifier: GPL-2.0-or-later
"""faults.py - fault injection shared by the project's test servers.

A server answers a request with a fault with probability `rate`, the kind
chosen at random among `kinds`:
  throttle  the service's throttling error (EC2: 503 RequestLimitExceeded XML;
            JSON services: 400 ThrottlingException)
  500       HTTP 500 InternalError
  reset     the connection is closed without an answer (RST)
  slow      the answer is delayed by slow_s seconds (longer than the client's
            timeout when the test wants a timeout)
  lost      the request is served, then the connection is reset instead of
            answering: the client cannot know its write happened (tests
            that retries of writes are idempotent)
  denied    what AWS answers a missing permission (EC2: 403
            UnauthorizedOperation XML, DryRun or not; JSON services: 400
            AccessDeniedException); use it with `match`
`count` (>= 0) limits how many faults are injected in all; -1 = no limit.
`match` (a string) limits faults to requests whose operation (X-Amz-Target,
or the Action= of a form body) contains it.

Set at start from the environment, FAKE_FAULTS="rate=0.3,kinds=throttle+500+reset,slow_s=2",
or at any time with POST /__faults {"rate": 0.3, "kinds": [...], "slow_s": 2, "count": -1};
GET /__stats answers the counters as JSON.
"""
import json
import random
import socket
import struct
import threading
import time


class Faults:
    def __init__(self, spec=None):
        self.lock = threading.Lock()
        self.rate = 0.0
        self.kinds = ["throttle", "500", "reset", "slow"]
        self.slow_s = 2.0
        self.count = -1
        self.match = ""
        self.stats = {"requests": 0, "faults": 0, "by_kind": {}}
        if spec:
            for part in spec.split(","):
                k, _, v = part.partition("=")
                if k == "rate":
                    self.rate = float(v)
                elif k == "kinds":
                    self.kinds = v.split("+")
                elif k == "slow_s":
                    self.slow_s = float(v)
                elif k == "count":
                    self.count = int(v)

    def configure(self, d):
        with self.lock:
            self.rate = float(d.get("rate", self.rate))
            self.kinds = list(d.get("kinds", self.kinds))
            self.slow_s = float(d.get("slow_s", self.slow_s))
            self.count = int(d.get("count", -1))
            self.match = str(d.get("match", ""))

    def pick(self, op=""):
        """None, or the kind of fault for this request."""
        with self.lock:
            self.stats["requests"] += 1
            if self.match and self.match not in op:
                return None
            if self.count == 0 or self.rate <= 0 or random.random() >= self.rate:
                return None
            if self.count > 0:
                self.count -= 1
            kind = random.choice(self.kinds)
            self.stats["faults"] += 1
            self.stats["by_kind"][kind] = self.stats["by_kind"].get(kind, 0) + 1
            return kind


def reset_connection(handler):
    """Close the client's connection with an RST, no answer."""
    s = handler.connection
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    handler.close_connection = True
    try:
        s.close()
    except OSError:
        pass


def apply(handler, faults, service, op=""):
    """Inject a fault into handler's answer.  True when the request is done
    (fault answered); False when it should be served normally (possibly after
    a delay).  op: the operation, for `match`."""
    kind = faults.pick(op)
    if kind is None:
        return False
    if kind == "slow":
        time.sleep(faults.slow_s)
        return False
    if kind == "lost":
        handler.lost_answer = True
        return False
    if kind == "reset":
        reset_connection(handler)
        return True
    if kind == "denied":
        if service == "ec2":
            send(handler, 403, "text/xml", ec2_error(
                "UnauthorizedOperation", "You are not authorized to perform this operation. "
                "Encoded authorization failure message: fake"))
        else:
            send(handler, 400, "application/x-amz-json-1.0", json.dumps(
                {"__type": "com.amazon.coral.service#AccessDeniedException",
                 "Message": "User is not authorized to perform: %s" % op}))
        return True
    if kind == "500":
        if service == "ec2":
            send(handler, 500, "text/xml", ec2_error("InternalError", "injected fault"))
        else:
            send(handler, 500, "application/x-amz-json-1.1",
                 json.dumps({"__type": "InternalServerError", "message": "injected fault"}))
        return True
    # throttle
    if service == "ec2":
        send(handler, 503, "text/xml", ec2_error("RequestLimitExceeded", "Request limit exceeded."))
    elif service == "imds":
        send(handler, 429, "text/plain", "Too Many Requests")
    else:
        send(handler, 400, "application/x-amz-json-1.1",
             json.dumps({"__type": "com.amazonaws.coral.availability#ThrottlingException",
                         "message": "Rate exceeded"}))
    return True


def ec2_error(code, msg):
    return ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>%s</Code>"
            "<Message>%s</Message></Error></Errors><RequestID>fake</RequestID></Response>"
            % (code, msg))


def send(handler, status, ctype, body):
    if getattr(handler, "lost_answer", False):
        reset_connection(handler)
        return
    data = body.encode() if isinstance(body, str) else body
    handler.send_response(status)
    handler.send_header("Content-Type", ctype)
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


def control(handler, faults, extra_stats=None):
    """Serve /__faults and /__stats; True when handled."""
    path = handler.path.split("?")[0]
    if path == "/__faults" and handler.command == "POST":
        n = int(handler.headers.get("Content-Length", 0))
        faults.configure(json.loads(handler.rfile.read(n) or b"{}"))
        send(handler, 200, "application/json", "{}")
        return True
    if path == "/__stats":
        with faults.lock:
            st = dict(faults.stats)
        if extra_stats:
            st.update(extra_stats())
        send(handler, 200, "application/json", json.dumps(st))
        return True
    return False
