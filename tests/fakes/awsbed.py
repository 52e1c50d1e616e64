#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""awsbed.py - set up the AWS test bed in a moto_server (boto3 against moto).

  awsbed.py init                     first unauthenticated calls: an IAM admin user
                                     and its key; prints shell `export` lines
  awsbed.py user NAME POLICY.json    a user with that inline policy; prints
                                     "ACCESS_KEY SECRET"
  awsbed.py role-creds ROLE [EXPIRES_IN]
                                     a role (admin policy) assumed through STS:
                                     prints the JSON imds.py --creds-file reads
                                     (temporary key, secret, session token)
  awsbed.py cluster NAME [--legacy] [--status S] [--no-table]
                                     the fleet table + item and a head node (and
                                     one compute node) tagged like ParallelCluster;
                                     prints the head node's instance id
  awsbed.py fleet-get TABLE          prints the item's status
  awsbed.py fleet-set TABLE STATUS [--legacy]
                                     unconditional write (a concurrent writer)
  awsbed.py instance-state ID        prints the instance's state name
  awsbed.py instances CLUSTER NODE_TYPE COUNT [--state stopped|terminated] [--untagged]
                                     COUNT more instances of that node type
                                     (LoginNode, ...), one reservation each;
                                     prints their ids

The endpoint is MOTO_URL (else AWS_ENDPOINT_URL), the credentials
AWS_BED_KEY/AWS_BED_SECRET (else AWS_ACCESS_KEY_ID/...): tests/integration/
lib-aws.sh sets them.
"""
import datetime
import json
import os
import sys

import boto3

REGION = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def client(name):
    # MOTO_URL / AWS_BED_KEY: straight to moto as the admin, whatever the
    # test did to the agent's endpoint and keys
    return boto3.client(name, region_name=REGION,
                        endpoint_url=os.environ.get("MOTO_URL") or os.environ["AWS_ENDPOINT_URL"],
                        aws_access_key_id=os.environ.get("AWS_BED_KEY") or os.environ.get("AWS_ACCESS_KEY_ID"),
                        aws_secret_access_key=os.environ.get("AWS_BED_SECRET")
                        or os.environ.get("AWS_SECRET_ACCESS_KEY"))


ADMIN_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}


def cmd_init(_args):
    # moto lets the first INITIAL_NO_AUTH_ACTION_COUNT requests through unsigned
    iam = boto3.client("iam", region_name=REGION,
                       endpoint_url=os.environ.get("MOTO_URL") or os.environ["AWS_ENDPOINT_URL"],
                       aws_access_key_id="bootstrap", aws_secret_access_key="bootstrap")
    iam.create_user(UserName="pcm-admin")
    iam.put_user_policy(UserName="pcm-admin", PolicyName="admin",
                        PolicyDocument=json.dumps(ADMIN_POLICY))
    k = iam.create_access_key(UserName="pcm-admin")["AccessKey"]
    print("export AWS_ACCESS_KEY_ID=%s" % k["AccessKeyId"])
    print("export AWS_SECRET_ACCESS_KEY=%s" % k["SecretAccessKey"])


def cmd_user(args):
    name, policy_file = args[0], args[1]
    iam = client("iam")
    iam.create_user(UserName=name)
    with open(policy_file) as f:
        iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=f.read())
    k = iam.create_access_key(UserName=name)["AccessKey"]
    print(k["AccessKeyId"], k["SecretAccessKey"])


def cmd_role_creds(args):
    role, expires = args[0], int(args[1]) if len(args) > 1 else 21600
    iam = client("iam")
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "sts:AssumeRole",
        "Principal": {"AWS": "arn:aws:iam::123456789012:user/pcm-admin"}}]}
    arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    iam.put_role_policy(RoleName=role, PolicyName="admin", PolicyDocument=json.dumps(ADMIN_POLICY))
    c = client("sts").assume_role(RoleArn=arn, RoleSessionName="i-head", DurationSeconds=3600)["Credentials"]
    print(json.dumps({"AccessKeyId": c["AccessKeyId"], "SecretAccessKey": c["SecretAccessKey"],
                      "Token": c["SessionToken"], "ExpiresIn": expires}))


def now():
    return str(datetime.datetime.now(tz=datetime.timezone.utc))


def put_item(table, status, legacy):
    ddb = client("dynamodb")
    if legacy:
        item = {"Id": {"S": "COMPUTE_FLEET"}, "Status": {"S": status},
                "LastUpdatedTime": {"S": now()}}
    else:
        item = {"Id": {"S": "COMPUTE_FLEET"},
                "Data": {"M": {"status": {"S": status}, "lastStatusUpdatedTime": {"S": now()}}}}
    ddb.put_item(TableName=table, Item=item)


def cmd_cluster(args):
    name = args[0]
    legacy = "--legacy" in args
    status = args[args.index("--status") + 1] if "--status" in args else "RUNNING"
    table = "parallelcluster-" + name
    if "--no-table" not in args:
        ddb = client("dynamodb")
        ddb.create_table(TableName=table,
                         KeySchema=[{"AttributeName": "Id", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "Id", "AttributeType": "S"}],
                         BillingMode="PAY_PER_REQUEST")
        put_item(table, status, legacy)
    ec2 = client("ec2")
    ami = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    ids = []
    for node_type, itype in (("HeadNode", "c5d.large"), ("Compute", "c5.large")):
        r = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, InstanceType=itype,
                              TagSpecifications=[{"ResourceType": "instance", "Tags": [
                                  {"Key": "parallelcluster:cluster-name", "Value": name},
                                  {"Key": "parallelcluster:node-type", "Value": node_type},
                                  {"Key": "Name", "Value": node_type}]}])
        ids.append(r["Instances"][0]["InstanceId"])
    print(ids[0])


def cmd_instances(args):
    """instances CLUSTER NODE_TYPE COUNT [--state stopped|terminated] [--untagged]:
    COUNT more instances, each in its own reservation (so DescribeInstances
    pages), tagged like ParallelCluster's; their ids, one a line"""
    name, node_type, count = args[0], args[1], int(args[2])
    state = args[args.index("--state") + 1] if "--state" in args else "running"
    ec2 = client("ec2")
    ami = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    tags = [] if "--untagged" in args else [
        {"Key": "parallelcluster:cluster-name", "Value": name},
        {"Key": "parallelcluster:node-type", "Value": node_type}]
    tags.append({"Key": "Name", "Value": node_type})
    for _ in range(count):
        r = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, InstanceType="t3.medium",
                              TagSpecifications=[{"ResourceType": "instance", "Tags": tags}])
        iid = r["Instances"][0]["InstanceId"]
        if state == "stopped":
            ec2.stop_instances(InstanceIds=[iid])
        elif state == "terminated":
            ec2.terminate_instances(InstanceIds=[iid])
        print(iid)


def cmd_fleet_get(args):
    item = client("dynamodb").get_item(TableName=args[0], Key={"Id": {"S": "COMPUTE_FLEET"}},
                                       ConsistentRead=True).get("Item")
    if item is None:
        print("NONE")
    elif "Data" in item:
        print(item["Data"]["M"]["status"]["S"])
    else:
        print(item["Status"]["S"])


def cmd_fleet_set(args):
    put_item(args[0], args[1], "--legacy" in args)


def cmd_instance_state(args):
    r = client("ec2").describe_instances(InstanceIds=[args[0]])
    print(r["Reservations"][0]["Instances"][0]["State"]["Name"])


def main():
    cmds = {"init": cmd_init, "role-creds": cmd_role_creds, "user": cmd_user, "cluster": cmd_cluster,
            "fleet-get": cmd_fleet_get, "fleet-set": cmd_fleet_set,
            "instance-state": cmd_instance_state, "instances": cmd_instances}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        print(__doc__, file=sys.stderr)
        return 2
    cmds[sys.argv[1]](sys.argv[2:])
    return 0


if __name__ == "__main__":
    sys.exit(main())
