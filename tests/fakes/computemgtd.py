#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""computemgtd.py - stand-in for ParallelCluster's computemgtd (the daemon on
every compute node that shuts the node down when the head node is gone).

  computemgtd.py --conf FILE --node NAME [--node NAME ...]
                 [--loop-s S] [--reload-loops N]

The rule of aws-parallelcluster-node's computemgtd.py (see
../shared/notes/keep-fleet-reboot.md), with time scaled by --loop-s (60 s
in the real daemon) and the config re-read every --reload-loops loops (10):
  - read [computemgtd] of FILE: clustermgtd_heartbeat_file_path,
    clustermgtd_timeout (default 600), disable_computemgtd_actions (False);
    a failed re-read keeps the old config;
  - each loop, read the heartbeat (a UTC timestamp "%Y-%m-%d %H:%M:%S.%f+00:00");
    when it cannot be read, keep the last value;
  - when the heartbeat is older than clustermgtd_timeout and the actions are
    not disabled, ask Slurm about the node (scontrol show node NAME): when
    slurmctld does not answer, or the node is DOWN or powered down, the real
    daemon runs `shutdown -h now`.  This one only logs, once per node:
        SELF-TERMINATE NODE: heartbeat A s old > timeout T s; slurm: WHY
It never shuts anything down.  Every loop it logs one line "loop N: ..." for
the tests.
"""
import argparse
import configparser
import datetime
import subprocess
import sys
import time


def read_conf(path, old):
    cp = configparser.ConfigParser()
    try:
        with open(path) as f:
            cp.read_file(f)
        s = cp["computemgtd"]
        return {
            "heartbeat": s.get("clustermgtd_heartbeat_file_path"),
            "timeout": s.getint("clustermgtd_timeout", fallback=600),
            "disabled": s.getboolean("disable_computemgtd_actions", fallback=False),
        }
    except Exception as e:  # the real daemon keeps the old config
        print("config re-read failed (%s): keeping the old one" % e, flush=True)
        return old


def read_heartbeat(path, last):
    try:
        with open(path) as f:
            s = f.read().strip()
        return datetime.datetime.strptime(s, "%Y-%m-%d %H:%M:%S.%f%z")
    except Exception:
        return last


def slurm_says(node):
    """None when the node is fine, else why it counts as down."""
    try:
        r = subprocess.run(["scontrol", "show", "node", node], capture_output=True,
                           text=True, timeout=10)
    except subprocess.TimeoutExpired:
        return "slurmctld timed out"
    if r.returncode != 0:
        return "slurmctld does not answer (%s)" % (r.stderr.strip() or r.returncode)
    for tok in r.stdout.split():
        if tok.startswith("State="):
            st = tok[6:]
            if st.startswith("DOWN") or "POWERED_DOWN" in st or "POWERING_DOWN" in st:
                return "node is %s" % st
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--conf", required=True)
    ap.add_argument("--node", action="append", required=True)
    ap.add_argument("--loop-s", type=float, default=60)
    ap.add_argument("--reload-loops", type=int, default=10)
    a = ap.parse_args()
    conf = read_conf(a.conf, None)
    if conf is None:
        sys.exit("cannot read %s" % a.conf)
    hb = None
    dead = set()
    n = 0
    while True:
        n += 1
        if n % a.reload_loops == 0:
            conf = read_conf(a.conf, conf)
        hb = read_heartbeat(conf["heartbeat"], hb)
        now = datetime.datetime.now(datetime.timezone.utc)
        age = (now - hb).total_seconds() if hb is not None else None
        print("loop %d: heartbeat %s s old, timeout %d s%s" % (
            n, "?" if age is None else "%.0f" % age, conf["timeout"],
            ", actions disabled" if conf["disabled"] else ""), flush=True)
        if age is not None and age > conf["timeout"] and not conf["disabled"]:
            for node in a.node:
                if node in dead:
                    continue
                why = slurm_says(node)
                if why is not None:
                    dead.add(node)
                    print("SELF-TERMINATE %s: heartbeat %.0f s old > timeout %d s; slurm: %s"
                          % (node, age, conf["timeout"], why), flush=True)
        time.sleep(a.loop_s)


if __name__ == "__main__":
    main()
