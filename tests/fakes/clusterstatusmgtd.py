#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""clusterstatusmgtd.py - stand-in for ParallelCluster's clusterstatusmgtd.

  clusterstatusmgtd.py --table T [--interval S] [--delay S]
                       [--on-stop CMD] [--on-start CMD]

Polls the COMPUTE_FLEET item of table T in moto's DynamoDB (MOTO_URL,
AWS_BED_KEY/AWS_BED_SECRET, else AWS_ENDPOINT_URL/AWS_ACCESS_KEY_ID...) every
--interval seconds and moves it the way the real daemon does:
  STOP_REQUESTED  -> STOPPING, runs --on-stop CMD (shell; e.g. the Slurm side:
                     power_down_force the nodes, partitions INACTIVE), waits
                     --delay s -> STOPPED
  START_REQUESTED -> STARTING, runs --on-start CMD, waits --delay s -> RUNNING
Both item formats (Data map, flat Status).  Each write is conditional on the
status read, like the real one; a lost race is logged and retried next poll.
A failing hook leaves the status at STOPPING/STARTING (exit status logged).
"""
import argparse
import datetime
import os
import subprocess
import sys
import time

import boto3


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--table", required=True)
    ap.add_argument("--interval", type=float, default=0.5)
    ap.add_argument("--delay", type=float, default=1.0)
    ap.add_argument("--on-stop", default="")
    ap.add_argument("--on-start", default="")
    a = ap.parse_args()
    ddb = boto3.client("dynamodb",
                       region_name=os.environ.get("AWS_REGION", "us-east-1"),
                       endpoint_url=os.environ.get("MOTO_URL") or os.environ["AWS_ENDPOINT_URL"],
                       aws_access_key_id=os.environ.get("AWS_BED_KEY") or os.environ.get("AWS_ACCESS_KEY_ID"),
                       aws_secret_access_key=os.environ.get("AWS_BED_SECRET")
                       or os.environ.get("AWS_SECRET_ACCESS_KEY"))
    key = {"Id": {"S": "COMPUTE_FLEET"}}

    def read():
        item = ddb.get_item(TableName=a.table, Key=key, ConsistentRead=True).get("Item")
        if item is None:
            return None, None
        if "Data" in item:
            return item["Data"]["M"]["status"]["S"], False
        return item["Status"]["S"], True

    def write(cur, new, legacy):
        now = str(datetime.datetime.now(tz=datetime.timezone.utc))
        try:
            if legacy:
                ddb.put_item(TableName=a.table,
                             Item={"Id": key["Id"], "Status": {"S": new}, "LastUpdatedTime": {"S": now}},
                             ConditionExpression="#s = :c", ExpressionAttributeNames={"#s": "Status"},
                             ExpressionAttributeValues={":c": {"S": cur}})
            else:
                ddb.update_item(TableName=a.table, Key=key,
                                UpdateExpression="set #dt.#st=:s, #dt.#lut=:t",
                                ConditionExpression="#dt.#st = :c",
                                ExpressionAttributeNames={"#dt": "Data", "#st": "status",
                                                          "#lut": "lastStatusUpdatedTime"},
                                ExpressionAttributeValues={":s": {"S": new}, ":t": {"S": now},
                                                           ":c": {"S": cur}})
            print("clusterstatusmgtd: %s -> %s" % (cur, new), flush=True)
            return True
        except ddb.exceptions.ConditionalCheckFailedException:
            print("clusterstatusmgtd: lost a race writing %s" % new, flush=True)
            return False

    def hook(cmd):
        if not cmd:
            return True
        rc = subprocess.call(cmd, shell=True)
        print("clusterstatusmgtd: hook '%s' exited %d" % (cmd, rc), flush=True)
        return rc == 0

    moves = {"STOP_REQUESTED": ("STOPPING", "STOPPED", a.on_stop),
             "START_REQUESTED": ("STARTING", "RUNNING", a.on_start)}
    while True:
        try:
            st, legacy = read()
            if st in moves:
                mid, final, cmd = moves[st]
                if write(st, mid, legacy) and hook(cmd):
                    time.sleep(a.delay)
                    write(mid, final, legacy)
        except Exception as e:  # keep going, like the daemon
            print("clusterstatusmgtd: %s" % e, file=sys.stderr, flush=True)
        time.sleep(a.interval)


if __name__ == "__main__":
    main()
