#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""webhook.py - a local webhook receiver for tests: records what it gets.

  webhook.py --port P --record FILE [--fail N] [--status S]

- Any POST is answered 200 (or --status S), except the first N, answered
  500 (to test retries).  Every request, failed or not, is appended to FILE
  as one JSON line: {"n": 1, "method", "path", "headers": {...}, "body": "...",
  "answered": 500}.
- GET /__stats gives {"requests": N}.
Listens on 127.0.0.1 only.
"""
import argparse
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ARGS = None
LOCK = threading.Lock()
COUNT = {"requests": 0}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *a):
        pass

    def _answer(self, status, body=b""):
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/__stats":
            with LOCK:
                body = json.dumps(COUNT).encode()
            return self._answer(200, body)
        return self._answer(404)

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n).decode("utf-8", "replace")
        with LOCK:
            COUNT["requests"] += 1
            k = COUNT["requests"]
            status = 500 if k <= ARGS.fail else ARGS.status
            rec = {"n": k, "method": "POST", "path": self.path,
                   "headers": {h.lower(): v for h, v in self.headers.items()},
                   "body": body, "answered": status}
            with open(ARGS.record, "a") as f:
                f.write(json.dumps(rec) + "\n")
        self._answer(status, b"ok" if status < 300 else b"failed")


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--record", required=True)
    ap.add_argument("--fail", type=int, default=0)
    ap.add_argument("--status", type=int, default=200)
    ARGS = ap.parse_args()
    ThreadingHTTPServer(("127.0.0.1", ARGS.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
