#!/usr/bin/env python3
"""Writes rootwatch's bundled CloudTrail sample (see README.md). Deterministic: same output every run."""

import json, uuid, random

RNG = random.Random(20261126)

def uid():
    return str(uuid.UUID(int=RNG.getrandbits(128), version=4))

def reqid():
    return uid()

ACCT = "111122223333"
MGMT = "444455556666"
MEMBER = "777788889999"

UA_CHROME = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
UA_FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"
UA_CLI = "aws-cli/2.22.4 md/awscrt#0.22.0 ua/2.0 os/linux#6.8.0-1019-aws md/arch#x86_64 lang/python#3.12.6 md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe md/distrib#ubuntu.24 md/prompt#off md/command#iam.create-access-key"
UA_BOTO = "Boto3/1.35.76 md/Botocore#1.35.76 ua/2.0 os/linux#6.1.115-126.197.amzn2023.x86_64 md/arch#x86_64 lang/python#3.12.7 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.35.76"
UA_CONSOLE = "AWS Internal"
UA_GO = "aws-sdk-go-v2/1.32.6 ua/2.1 os/linux lang/go#1.23.4 md/GOOS#linux md/GOARCH#amd64 api/sts#1.33.2"

def tls(host):
    return {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256", "clientProvidedHostHeader": host}

def root_identity(acct=ACCT, key="", session=False, invoked_by=None, assumed_root=False, mfa=False, created="2026-11-20T09:12:40Z"):
    u = {"type": "Root", "principalId": acct, "arn": "arn:aws:iam::%s:root" % acct, "accountId": acct, "accessKeyId": key}
    if session or assumed_root:
        sc = {"attributes": {"creationDate": created, "mfaAuthenticated": "true" if mfa else "false"}}
        if assumed_root:
            sc["assumedRoot"] = "true"
        u["sessionContext"] = sc
    if invoked_by:
        u["invokedBy"] = invoked_by
    return u

def iam_user(name, acct=ACCT, key="AKIAIOSFODNN7EXAMPLE", pid="AIDACKCEVSQ6C2EXAMPLE"):
    return {"type": "IAMUser", "principalId": pid, "arn": "arn:aws:iam::%s:user/%s" % (acct, name), "accountId": acct, "accessKeyId": key, "userName": name}

def assumed_role(role, session, acct=ACCT, key="ASIAY34FZKBOKMUTVV7A", pid="AROAY34FZKBOKMUTVV7AB", mfa=False, issuer_arn=None, extra_sc=None, created="2026-11-20T08:55:02Z"):
    u = {"type": "AssumedRole", "principalId": "%s:%s" % (pid, session),
         "arn": "arn:aws:sts::%s:assumed-role/%s/%s" % (acct, role, session), "accountId": acct, "accessKeyId": key,
         "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": pid, "arn": issuer_arn or "arn:aws:iam::%s:role/%s" % (acct, role), "accountId": acct, "userName": role},
                            "attributes": {"creationDate": created, "mfaAuthenticated": "true" if mfa else "false"}}}
    if extra_sc:
        u["sessionContext"].update(extra_sc)
    return u

def api(identity, source, name, t, region="us-east-1", ip="203.0.113.24", ua=UA_CLI, req=None, resp=None, read_only=False,
        error=None, acct=None, host=None, extra=None, version="1.10"):
    e = {"eventVersion": version, "userIdentity": identity, "eventTime": t, "eventSource": source, "eventName": name,
         "awsRegion": region, "sourceIPAddress": ip, "userAgent": ua}
    if error:
        e["errorCode"], e["errorMessage"] = error
    e["requestParameters"] = req
    e["responseElements"] = resp
    if extra:
        e.update(extra.get("pre", {}))
    e["requestID"] = reqid()
    e["eventID"] = uid()
    e["readOnly"] = read_only
    e["eventType"] = "AwsApiCall"
    e["managementEvent"] = True
    e["recipientAccountId"] = acct or identity.get("accountId", ACCT)
    e["eventCategory"] = "Management"
    if host is not False:
        e["tlsDetails"] = tls(host or source.replace(".amazonaws.com", ".amazonaws.com"))
    if extra:
        e.update(extra.get("post", {}))
    return e

def signin(identity, name, t, resp, add=None, ip="198.51.100.77", ua=UA_CHROME, error=None, region="us-east-1", acct=None, version="1.09"):
    e = {"eventVersion": version, "userIdentity": identity, "eventTime": t, "eventSource": "signin.amazonaws.com",
         "eventName": name, "awsRegion": region, "sourceIPAddress": ip, "userAgent": ua}
    if error:
        e["errorMessage"] = error
    e["requestParameters"] = None
    e["responseElements"] = resp
    if add is not None:
        e["additionalEventData"] = add
    e["eventID"] = uid()
    e["readOnly"] = False
    e["eventType"] = "AwsConsoleSignIn"
    e["managementEvent"] = True
    e["recipientAccountId"] = acct or identity.get("accountId", ACCT)
    e["eventCategory"] = "Management"
    e["tlsDetails"] = tls("signin.aws.amazon.com")
    return e

def login_add(mfa, mfa_id=None):
    a = {"LoginTo": "https://console.aws.amazon.com/console/home?hashArgs=%23&isauthcode=true&state=hashArgsFromTB_us-east-1_6a3f1c2d9b7e4f10",
         "MobileVersion": "No", "MFAUsed": mfa}
    if mfa_id:
        a["MFAIdentifier"] = mfa_id
    return a


# ---------------------------------------------------------------------------
# The sample: ordinary activity in three accounts with one root story woven in.
import gzip, io, os, sys

RNG_NAMES = random.Random(7)
OUT = os.path.dirname(os.path.abspath(__file__))
EXPECTED = []  # (rule, eventID, eventName, relative file)

def alnum(n):
    return "".join(RNG_NAMES.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") for _ in range(n))

APP = lambda acct=ACCT: assumed_role("app-backend", "i-0a1b2c3d4e5f60718", acct=acct, key="ASIAY34FZKBOAPPBACK1", pid="AROAY34FZKBOAPPBACK0")
CI = lambda acct=ACCT: assumed_role("github-actions-deploy", "gha-run-11923", acct=acct, key="ASIAY34FZKBOGHACTN01", pid="AROAY34FZKBOGHACTN00")
SSO = lambda acct=ACCT: assumed_role("AWSReservedSSO_AdministratorAccess_9f1e2d3c4b5a6978", "dana@example.com", acct=acct, key="ASIAY34FZKBOSSODANA1", pid="AROAY34FZKBOSSODANA0", issuer_arn="arn:aws:iam::%s:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_AdministratorAccess_9f1e2d3c4b5a6978" % acct, mfa=True)
LAMBDA = lambda acct=ACCT: assumed_role("orders-fn-role", "orders-fn", acct=acct, key="ASIAY34FZKBOLAMBDA01", pid="AROAY34FZKBOLAMBDA00")
ANAYA = lambda: iam_user("anaya", key="AKIAY34FZKBOANAYA001", pid="AIDAY34FZKBOANAYA000")
SVC = lambda svc: {"type": "AWSService", "invokedBy": svc}
UA_SDK_JAVA = "aws-sdk-java/2.29.20 Linux/6.1.115-126.197.amzn2023.x86_64 OpenJDK_64-Bit_Server_VM/21.0.5+11-LTS Java/21.0.5 vendor/Amazon.com_Inc. md/internal exec-env/AWS_ECS_FARGATE io/sync http/Apache cfg/retry-mode/standard"
UA_TF = "APN/1.0 HashiCorp/1.0 Terraform/1.10.1 (+https://www.terraform.io) terraform-provider-aws/5.80.0 (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/1.32.6 ua/2.1 os/linux lang/go#1.23.3 md/GOOS#linux md/GOARCH#amd64"

def t(h, m, s):
    return "2026-11-20T%02d:%02d:%02dZ" % (h, m, s)

def ordinary(h, m0, n, acct=ACCT, region="us-east-1"):
    out = []
    for i in range(n):
        m = m0 + (i * 5) // n
        s = RNG.randrange(60)
        k = RNG.randrange(12)
        if k == 0:
            e = api(APP(acct), "ec2.amazonaws.com", "DescribeInstances", t(h, m, s), region=region, ip="10.20.31.44", ua=UA_SDK_JAVA, req={"instancesSet": {}, "filterSet": {"items": [{"name": "tag:service", "valueSet": {"items": [{"value": "orders"}]}}]}}, read_only=True, host="ec2.%s.amazonaws.com" % region)
        elif k == 1:
            e = api(APP(acct), "kms.amazonaws.com", "Decrypt", t(h, m, s), region=region, ip="10.20.31.44", ua=UA_SDK_JAVA, req={"encryptionAlgorithm": "SYMMETRIC_DEFAULT", "encryptionContext": {"aws:lambda:FunctionArn": "arn:aws:lambda:%s:%s:function:orders-fn" % (region, acct)}}, read_only=True, host="kms.%s.amazonaws.com" % region, extra={"post": {"resources": [{"accountId": acct, "type": "AWS::KMS::Key", "ARN": "arn:aws:kms:%s:%s:key/1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d" % (region, acct)}]}})
        elif k == 2:
            e = api(CI(acct), "sts.amazonaws.com", "GetCallerIdentity", t(h, m, s), region=region, ip="4.175.114.9", ua=UA_TF, read_only=True, host="sts.%s.amazonaws.com" % region)
        elif k == 3:
            e = api(CI(acct), "ecs.amazonaws.com", "UpdateService", t(h, m, s), region=region, ip="4.175.114.9", ua=UA_TF, req={"cluster": "prod", "service": "orders", "taskDefinition": "orders:412", "forceNewDeployment": False}, resp={"service": {"serviceName": "orders", "status": "ACTIVE", "desiredCount": 3}}, host="ecs.%s.amazonaws.com" % region)
        elif k == 4:
            e = api(SVC("ecs-tasks.amazonaws.com"), "sts.amazonaws.com", "AssumeRole", t(h, m, s), region=region, ip="ecs-tasks.amazonaws.com", ua="ecs-tasks.amazonaws.com", req={"roleArn": "arn:aws:iam::%s:role/app-backend" % acct, "roleSessionName": "8c1f5e2a9b7d4c3e"}, resp={"credentials": {"accessKeyId": "ASIAY34FZKBO%s" % alnum(8).upper(), "sessionToken": "IQoJb3JpZ2luX2Vj" + alnum(40), "expiration": "Nov 20, 2026, 3:%02d:00 PM" % m}}, read_only=True, acct=acct, host=False, extra={"post": {"resources": [{"accountId": acct, "type": "AWS::IAM::Role", "ARN": "arn:aws:iam::%s:role/app-backend" % acct}], "sharedEventID": uid()}})
        elif k == 5:
            e = api(LAMBDA(acct), "logs.amazonaws.com", "CreateLogStream", t(h, m, s), region=region, ip="3.219.10.77", ua="awslambda-worker/1.0 rusoto/0.48.0 rust/1.79.0 linux", req={"logGroupName": "/aws/lambda/orders-fn", "logStreamName": "2026/11/20/[$LATEST]%s" % alnum(32).lower()}, host="logs.%s.amazonaws.com" % region)
        elif k == 6:
            e = api(SSO(acct), "s3.amazonaws.com", "ListBuckets", t(h, m, s), region=region, ip="198.51.100.23", ua="[S3Console/0.4, aws-internal/3 aws-sdk-java/1.12.750]", req={"Host": "s3.amazonaws.com"}, read_only=True, host="s3.amazonaws.com", extra={"post": {"sessionCredentialFromConsole": "true"}})
        elif k == 7:
            e = api(SSO(acct), "iam.amazonaws.com", "ListRoles", t(h, m, s), ip="198.51.100.23", ua=UA_CONSOLE, read_only=True, extra={"post": {"sessionCredentialFromConsole": "true"}})
        elif k == 8:
            e = api(APP(acct), "ssm.amazonaws.com", "GetParameters", t(h, m, s), region=region, ip="10.20.31.44", ua=UA_SDK_JAVA, req={"names": ["/orders/prod/db-url"], "withDecryption": True}, read_only=True, host="ssm.%s.amazonaws.com" % region)
        elif k == 9:
            e = api(ANAYA(), "dynamodb.amazonaws.com", "DescribeTable", t(h, m, s), region=region, ip="203.0.113.24", ua=UA_CLI.replace("iam.create-access-key", "dynamodb.describe-table"), req={"tableName": "orders"}, read_only=True, host="dynamodb.%s.amazonaws.com" % region)
        elif k == 10:
            e = api({"accountId": acct, "invokedBy": "AWS Internal"}, "kms.amazonaws.com", "RotateKey", t(h, m, s), region=region, ip="AWS Internal", ua="AWS Internal", host=False, extra={"post": {"resources": [{"accountId": acct, "type": "AWS::KMS::Key", "ARN": "arn:aws:kms:%s:%s:key/1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d" % (region, acct)}]}})
            e["eventType"] = "AwsServiceEvent"
            e["readOnly"] = False
            for key in ("sourceIPAddress", "userAgent", "requestID", "requestParameters", "responseElements"):
                e.pop(key, None)
            e["serviceEventDetails"] = {"keyId": "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"}
        else:
            e = api(CI(acct), "ecr.amazonaws.com", "GetAuthorizationToken", t(h, m, s), region=region, ip="4.175.114.9", ua=UA_TF, read_only=True, host="api.ecr.%s.amazonaws.com" % region, resp=None)
        out.append(e)
    return out

def expect(rel, ev, *rules):
    for r in rules:
        EXPECTED.append((r, ev["eventID"], ev["eventName"], rel))
    return ev

def write(rel, records, gz=True):
    records = sorted(records, key=lambda e: e["eventTime"])
    path = os.path.join(OUT, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    body = json.dumps({"Records": records}, separators=(",", ":")).encode()
    if gz:
        buf = io.BytesIO()
        with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0) as g:
            g.write(body)
        body = buf.getvalue()
    with open(path, "wb") as f:
        f.write(body)

def key(acct, region, stamp, gz=True, kind="CloudTrail"):
    return "AWSLogs/%s/%s/%s/2026/11/20/%s_%s_%s_%s_%s.json%s" % (acct, kind, region, acct, kind, region, stamp, alnum(16), ".gz" if gz else "")

MFA_ARN = "arn:aws:iam::%s:mfa/root-account-mfa-device" % ACCT
ATTACKER_IP = "45.83.64.19"
ATTACKER_UA = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"

# File 1 (08:50): ordinary activity, an IAM user sign-in, AWS-service-invoked root calls.
f1 = key(ACCT, "us-east-1", "20261120T0850Z")
r1 = ordinary(8, 45, 40)
r1.append(signin(ANAYA(), "ConsoleLogin", t(8, 47, 12), {"ConsoleLogin": "Success"}, login_add("Yes", "arn:aws:iam::%s:mfa/anaya-yubikey" % ACCT), ip="203.0.113.24"))
r1.append(api(root_identity(invoked_by="cloudtrail.amazonaws.com"), "s3.amazonaws.com", "GetBucketAcl", t(8, 48, 3), ip="cloudtrail.amazonaws.com", ua="cloudtrail.amazonaws.com", req={"bucketName": "acme-org-trail", "Host": "acme-org-trail.s3.us-east-1.amazonaws.com", "acl": ""}, read_only=True, host=False))
r1.append(api(root_identity(invoked_by="config.amazonaws.com"), "iam.amazonaws.com", "GetAccountPasswordPolicy", t(8, 49, 40), ip="config.amazonaws.com", ua="config.amazonaws.com", read_only=True, host=False))
r1.append(api(iam_user("root", key="AKIAY34FZKBOUSERROOT", pid="AIDAY34FZKBOUSERROOT"), "s3.amazonaws.com", "ListBuckets", t(8, 49, 55), ip="203.0.113.61", ua=UA_BOTO, req={"Host": "s3.amazonaws.com"}, read_only=True, host="s3.amazonaws.com"))
write(f1, r1)

# File 2 (09:00): the failed root sign-in, then a root sign-in without MFA, console calls.
f2 = key(ACCT, "us-east-1", "20261120T0900Z")
r2 = ordinary(8, 55, 40)
r2.append(expect(f2, signin(root_identity(), "ConsoleLogin", t(8, 58, 2), {"ConsoleLogin": "Failure"}, login_add("No"), ip=ATTACKER_IP, ua=ATTACKER_UA, error="Failed authentication"), "root-console-login-failure"))
r2.append(expect(f2, signin(root_identity(), "PasswordRecoveryRequested", t(8, 59, 10), {"PasswordRecoveryRequested": "Success"}, None, ip=ATTACKER_IP, ua=ATTACKER_UA), "root-password-change"))
r2.append(expect(f2, signin(root_identity(), "PasswordRecoveryCompleted", t(9, 1, 31), {"PasswordRecoveryCompleted": "Success"}, None, ip=ATTACKER_IP, ua=ATTACKER_UA), "root-password-change"))
r2.append(expect(f2, signin(root_identity(), "ConsoleLogin", t(9, 2, 5), {"ConsoleLogin": "Success"}, login_add("No"), ip=ATTACKER_IP, ua=ATTACKER_UA), "root-console-login", "root-console-login-no-mfa"))
r2.append(expect(f2, api(root_identity(key="ASIAY34FZKBOROOTCON1", session=True, invoked_by="signin.amazonaws.com", created="2026-11-20T09:02:05Z"), "s3.amazonaws.com", "ListBuckets", t(9, 2, 44), ip=ATTACKER_IP, ua="[S3Console/0.4, aws-internal/3 aws-sdk-java/1.12.750]", req={"Host": "s3.amazonaws.com"}, read_only=True, host="s3.amazonaws.com", extra={"post": {"sessionCredentialFromConsole": "true"}}), "root-api-call"))
r2.append(expect(f2, api(root_identity(key="ASIAY34FZKBOROOTCON1", session=True, created="2026-11-20T09:02:05Z"), "iam.amazonaws.com", "GetAccountSummary", t(9, 3, 1), ip=ATTACKER_IP, ua=UA_CONSOLE, read_only=True, extra={"post": {"sessionCredentialFromConsole": "true"}}), "root-api-call"))
write(f2, r2)

# File 3 (09:05): root creates an access key, removes its MFA, takes over the security contact.
f3 = key(ACCT, "us-east-1", "20261120T0905Z")
r3 = ordinary(9, 0, 40)
ROOTCON = lambda: root_identity(key="ASIAY34FZKBOROOTCON1", session=True, created="2026-11-20T09:02:05Z")
r3.append(expect(f3, api(ROOTCON(), "iam.amazonaws.com", "CreateAccessKey", t(9, 4, 12), ip=ATTACKER_IP, ua=UA_CONSOLE, req=None, resp={"accessKey": {"accessKeyId": "AKIAY34FZKBOATTACK01", "status": "Active", "createDate": "Nov 20, 2026 9:04:12 AM"}}, extra={"post": {"sessionCredentialFromConsole": "true"}}), "root-api-call", "root-access-key-created"))
r3.append(expect(f3, api(ROOTCON(), "iam.amazonaws.com", "DeactivateMFADevice", t(9, 4, 50), ip=ATTACKER_IP, ua=UA_CONSOLE, req={"userName": "AWS ROOT USER", "serialNumber": MFA_ARN}, extra={"post": {"sessionCredentialFromConsole": "true"}}), "root-api-call", "root-mfa-change"))
r3.append(expect(f3, api(ROOTCON(), "iam.amazonaws.com", "DeleteVirtualMFADevice", t(9, 4, 52), ip=ATTACKER_IP, ua=UA_CONSOLE, req={"serialNumber": MFA_ARN}, extra={"post": {"sessionCredentialFromConsole": "true"}}), "root-api-call", "root-mfa-change"))
r3.append(expect(f3, api(ROOTCON(), "account.amazonaws.com", "PutAlternateContact", t(9, 5, 30), ip=ATTACKER_IP, ua=UA_CONSOLE, req={"alternateContactType": "SECURITY", "emailAddress": "HIDDEN_DUE_TO_SECURITY_REASONS", "name": "HIDDEN_DUE_TO_SECURITY_REASONS", "phoneNumber": "HIDDEN_DUE_TO_SECURITY_REASONS", "title": "HIDDEN_DUE_TO_SECURITY_REASONS"}, host="account.us-east-1.amazonaws.com", extra={"post": {"sessionCredentialFromConsole": "true"}}), "root-api-call", "root-account-settings-change"))
# Negatives among them: an IAM user named root signing in, a role whose name is root, Root in parameters.
r3.append(signin(iam_user("root", key="", pid="AIDAY34FZKBOUSERROOT"), "ConsoleLogin", t(9, 6, 0), {"ConsoleLogin": "Success"}, login_add("No"), ip="203.0.113.61"))
r3.append(api(assumed_role("root", "deploy", key="ASIAY34FZKBOROLEROOT", pid="AROAY34FZKBOROLEROOT", issuer_arn="arn:aws:iam::%s:root" % ACCT), "lambda.amazonaws.com", "GetFunction20150331v2", t(9, 6, 20), ip="4.175.114.9", ua=UA_TF, req={"functionName": "orders-fn"}, read_only=True, host="lambda.us-east-1.amazonaws.com"))
r3.append(api(SSO(), "organizations.amazonaws.com", "ListRoots", t(9, 7, 2), ip="198.51.100.23", ua="Root-Explorer/1.3 " + UA_BOTO, read_only=True, resp=None, host="organizations.us-east-1.amazonaws.com"))
write(f3, r3)

# File 4 (09:15, eu-west-1): the new root access key used from a VPS.
f4 = key(ACCT, "eu-west-1", "20261120T0915Z")
r4 = ordinary(9, 10, 40, region="eu-west-1")
ROOTKEY = lambda: root_identity(key="AKIAY34FZKBOATTACK01")
UA_ATT_CLI = "aws-cli/2.22.4 md/awscrt#0.22.0 ua/2.0 os/linux#6.8.0-49-generic md/arch#x86_64 lang/python#3.12.6 md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe md/distrib#debian.12 md/prompt#off md/command#"
r4.append(expect(f4, api(ROOTKEY(), "sts.amazonaws.com", "GetCallerIdentity", t(9, 12, 40), region="eu-west-1", ip="185.220.101.34", ua=UA_ATT_CLI + "sts.get-caller-identity", read_only=True, host="sts.eu-west-1.amazonaws.com"), "root-api-call"))
r4.append(expect(f4, api(ROOTKEY(), "ec2.amazonaws.com", "RunInstances", t(9, 13, 15), region="eu-west-1", ip="185.220.101.34", ua=UA_ATT_CLI + "ec2.run-instances", error=("Client.UnauthorizedOperation", "You are not authorized to perform this operation. User: arn:aws:iam::111122223333:root is not authorized to perform: ec2:RunInstances with an explicit deny in a service control policy."), req={"instancesSet": {"items": [{"imageId": "ami-0d64bb532e0502c46", "minCount": 20, "maxCount": 20}]}, "instanceType": "p4d.24xlarge"}, host="ec2.eu-west-1.amazonaws.com"), "root-api-call"))
write(f4, r4)

# File 5 (09:40, management account, plain JSON): the platform team's AssumeRoot.
f5 = key(MGMT, "us-east-1", "20261120T0940Z", gz=False)
r5 = ordinary(9, 35, 25, acct=MGMT)
PLATFORM = assumed_role("PlatformRootTasks", "carol", acct=MGMT, key="ASIAY34FZKBOPLATFRM1", pid="AROAY34FZKBOPLATFRM0", extra_sc={"assumedRoot": "true"})
r5.append(expect(f5, api(PLATFORM, "sts.amazonaws.com", "AssumeRoot", t(9, 40, 31), ip="203.0.113.50", ua=UA_GO, req={"targetPrincipal": MEMBER, "taskPolicyArn": {"arn": "arn:aws:iam::aws:policy/root-task/S3UnlockBucketPolicy"}, "durationSeconds": 900}, resp={"credentials": {"accessKeyId": "ASIAY34FZKBOASSUMRT1", "sessionToken": "IQoJb3JpZ2luX2Vj" + alnum(40), "expiration": "Nov 20, 2026, 9:55:31 AM"}}, read_only=True, acct=MGMT, host="sts.us-east-1.amazonaws.com"), "assume-root"))
write(f5, r5, gz=False)

# File 6 (09:45, member account): what the AssumeRoot session did there.
f6 = key(MEMBER, "us-east-1", "20261120T0945Z")
r6 = ordinary(9, 40, 25, acct=MEMBER)
AR = lambda: root_identity(acct=MEMBER, key="ASIAY34FZKBOASSUMRT1", assumed_root=True, created="2026-11-20T09:40:31Z")
r6.append(expect(f6, api(AR(), "sts.amazonaws.com", "GetCallerIdentity", t(9, 40, 58), ip="203.0.113.50", ua=UA_GO, read_only=True, host="sts.us-east-1.amazonaws.com"), "root-api-call"))
r6.append(expect(f6, api(AR(), "s3.amazonaws.com", "DeleteBucketPolicy", t(9, 41, 12), ip="203.0.113.50", ua=UA_GO.replace("api/sts#1.33.2", "api/s3#1.71.0"), req={"bucketName": "member-locked-bucket", "Host": "member-locked-bucket.s3.us-east-1.amazonaws.com", "policy": ""}, host="member-locked-bucket.s3.us-east-1.amazonaws.com"), "root-api-call", "log-delivery-tampering"))
write(f6, r6)

# File 7: a CloudTrail Insights object (no detection expected).
f7 = key(ACCT, "us-east-1", "20261120T1000Z", kind="CloudTrail-Insight")
write(f7, [{"eventVersion": "1.08", "eventTime": t(9, 59, 0), "awsRegion": "us-east-1", "eventID": uid(), "eventType": "AwsCloudTrailInsight", "recipientAccountId": ACCT, "sharedEventID": uid(), "insightDetails": {"state": "Start", "eventSource": "iam.amazonaws.com", "eventName": "CreateAccessKey", "insightType": "ApiCallRateInsight", "insightContext": {"statistics": {"baseline": {"average": 0.0}, "insight": {"average": 1.0}, "insightDuration": 1}, "attributions": [{"attribute": "userIdentityArn", "insight": [{"value": "arn:aws:iam::%s:root" % ACCT, "average": 1.0}], "baseline": []}]}}, "eventCategory": "Insight"}])

with open(os.path.join(OUT, "expected.jsonl"), "w") as f:
    for rule, eid, name, rel in sorted(EXPECTED, key=lambda x: (x[3], x[1], x[0])):
        f.write(json.dumps({"rule": rule, "event_id": eid, "event_name": name, "file": rel}, separators=(",", ":")) + "\n")
print("%d detections expected" % len(EXPECTED))
