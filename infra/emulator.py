#!/usr/bin/env python3
"""Run draftgate's data resources in a local AWS API emulator (moto_server).

The tables, queues, event bus and topics are created FROM template.yaml, by evaluating the
template's own properties and intrinsics, so local and deployed definitions cannot drift.

    python infra/emulator.py serve [--port 0] [--pidfile F] [--log F] [--foreground]
        starts moto_server on 127.0.0.1, waits until it answers, prints its endpoint
    python infra/emulator.py up --endpoint URL [--prefix NAME] [--env-file PATH] [--param K=V]
        creates every AWS::DynamoDB::Table, AWS::SQS::Queue, AWS::Events::EventBus,
        AWS::SNS::Topic and AWS::S3::Bucket of template.yaml (prefix = AWS::StackName) and writes an env file
    python infra/emulator.py stop --pidfile F
        stops the moto_server that `serve` started

Credentials are always the static test ones (test/test): this script never reads or writes
real AWS credentials. Needs boto3 and PyYAML (infra/requirements.txt).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable

import boto3
import yaml
from botocore.config import Config
from botocore.exceptions import ClientError

REPO = Path(__file__).resolve().parent.parent
DEFAULT_TEMPLATE = REPO / "template.yaml"
TEST_ACCOUNT = "123456789012"  # moto's default account id
TEST_CREDS = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}


# ------------------------------------------------------------------ template loading


class CfnLoader(yaml.SafeLoader):
    """YAML loader that turns CloudFormation short tags (!Ref, !Sub, ...) into their long form."""


def _short_tag(tag: str) -> Callable[[yaml.Loader, yaml.Node], dict]:
    key = tag if tag in ("Ref", "Condition") else f"Fn::{tag}"

    def construct(loader: yaml.Loader, node: yaml.Node) -> dict:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if tag == "GetAtt":
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        return {key: value}

    return construct


for _tag in (
    "Ref", "Condition", "Sub", "GetAtt", "If", "Equals", "Not", "And", "Or", "Join", "Select",
    "Split", "FindInMap", "Base64", "Cidr", "GetAZs", "ImportValue", "Transform", "ToJsonString",
    "Length",
):
    CfnLoader.add_constructor(f"!{_tag}", _short_tag(_tag))


def load_template(path: Path) -> dict:
    with open(path, encoding="utf-8") as f:
        return yaml.load(f, Loader=CfnLoader)  # noqa: S506 - CfnLoader derives from SafeLoader


# ------------------------------------------------------------------ intrinsic evaluation


class NoValue:
    """AWS::NoValue: the property is removed."""


NO_VALUE = NoValue()


class Unsupported(Exception):
    pass


def _strip_no_value(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_no_value(v) for k, v in value.items() if v is not NO_VALUE}
    if isinstance(value, list):
        return [_strip_no_value(v) for v in value if v is not NO_VALUE]
    return value


class Stack:
    """Evaluates the template against an emulator, creating supported resources on demand."""

    def __init__(self, template: dict, stack_name: str, region: str, overrides: dict[str, str],
                 session: boto3.session.Session, endpoint: str):
        self.t = template
        self.resources: dict = template.get("Resources", {})
        self.params = {}
        for name, spec in template.get("Parameters", {}).items():
            if name in overrides:
                self.params[name] = overrides[name]
            elif "Default" in spec:
                self.params[name] = spec["Default"]
        unknown = set(overrides) - set(template.get("Parameters", {}))
        if unknown:
            raise SystemExit(f"unknown template parameter(s): {', '.join(sorted(unknown))}")
        self.pseudo = {
            "AWS::StackName": stack_name,
            "AWS::Region": region,
            "AWS::AccountId": TEST_ACCOUNT,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackId": f"arn:aws:cloudformation:{region}:{TEST_ACCOUNT}:stack/{stack_name}/local",
            "AWS::NotificationARNs": [],
        }
        self.region = region
        self.session = session
        self.endpoint = endpoint
        self._clients: dict[str, Any] = {}
        self._conditions: dict[str, bool] = {}
        self.physical: dict[str, dict] = {}  # logical id -> {"ref": ..., "attrs": {...}}
        self.report: list[str] = []
        self.creators: dict[str, Callable[[str, dict], dict]] = {
            "AWS::DynamoDB::Table": self._table,
            "AWS::SQS::Queue": self._queue,
            "AWS::Events::EventBus": self._event_bus,
            "AWS::SNS::Topic": self._topic,
            "AWS::S3::Bucket": self._bucket,
        }

    # -- clients

    def client(self, service: str):
        if service not in self._clients:
            self._clients[service] = self.session.client(
                service, endpoint_url=self.endpoint, region_name=self.region,
                config=Config(retries={"max_attempts": 3, "mode": "standard"}), **TEST_CREDS)
        return self._clients[service]

    # -- evaluation

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            spec = self.t.get("Conditions", {}).get(name)
            if spec is None:
                raise SystemExit(f"template has no condition {name}")
            self._conditions[name] = bool(self.resolve(spec))
        return self._conditions[name]

    def supported(self, logical: str) -> bool:
        return self.resources.get(logical, {}).get("Type") in self.creators

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.t.get("Parameters", {}):
            if name not in self.params:
                raise SystemExit(f"parameter {name} has no default: pass --param {name}=VALUE")
            return self.params[name]
        if name in self.resources:
            return self.ensure(name)["ref"]
        raise SystemExit(f"!Ref to unknown name {name}")

    def getatt(self, logical: str, attr: str) -> Any:
        created = self.ensure(logical)
        if attr not in created["attrs"]:
            raise Unsupported(f"{logical}.{attr} is not modelled by the emulator")
        return created["attrs"][attr]

    def sub(self, text: str, variables: dict) -> str:
        def one(m: re.Match) -> str:
            expr = m.group(1)
            if expr.startswith("!"):
                return "${" + expr[1:] + "}"
            if expr in variables:
                value = variables[expr]
            elif "." in expr and not expr.startswith("AWS::"):
                logical, attr = expr.split(".", 1)
                value = self.getatt(logical, attr)
            else:
                value = self.ref(expr)
            return str(value)

        return re.sub(r"\$\{([^}]+)\}", one, text)

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [r for r in (self.resolve(v) for v in value) if r is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, arg), = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Condition":
                return self.condition(arg)
            if key.startswith("Fn::"):
                return self._fn(key[4:], arg)
        out = {}
        for k, v in value.items():
            r = self.resolve(v)
            if r is not NO_VALUE:
                out[k] = r
        return out

    def _fn(self, fn: str, arg: Any) -> Any:
        if fn == "Sub":
            if isinstance(arg, str):
                return self.sub(arg, {})
            text, variables = arg
            return self.sub(text, {k: self.resolve(v) for k, v in variables.items()})
        if fn == "GetAtt":
            logical, attr = arg if isinstance(arg, list) else arg.split(".", 1)
            return self.getatt(logical, self.resolve(attr))
        if fn == "If":
            name, yes, no = arg
            return self.resolve(yes if self.condition(name) else no)
        if fn == "Equals":
            a, b = (self.resolve(x) for x in arg)
            return str(a) == str(b)
        if fn == "Not":
            return not self.resolve(arg[0])
        if fn == "And":
            return all(self.resolve(x) for x in arg)
        if fn == "Or":
            return any(self.resolve(x) for x in arg)
        if fn == "Join":
            sep, items = arg
            return sep.join(str(x) for x in self.resolve(items))
        if fn == "Select":
            index, items = arg
            return self.resolve(items)[int(self.resolve(index))]
        if fn == "Split":
            sep, text = arg
            return str(self.resolve(text)).split(sep)
        if fn == "FindInMap":
            m, k1, k2 = (self.resolve(x) for x in arg)
            return self.t["Mappings"][m][k1][k2]
        if fn == "ToJsonString":
            return json.dumps(self.resolve(arg), separators=(",", ":"))
        if fn == "Length":
            return len(self.resolve(arg))
        raise Unsupported(f"Fn::{fn} is not evaluated by the emulator")

    def refs_of(self, value: Any) -> set[str]:
        """Logical ids of the resources an expression refers to."""
        found: set[str] = set()
        if isinstance(value, list):
            for v in value:
                found |= self.refs_of(v)
        elif isinstance(value, dict):
            for k, v in value.items():
                if k == "Ref" and isinstance(v, str) and v in self.resources:
                    found.add(v)
                elif k == "Fn::GetAtt":
                    found.add(v[0] if isinstance(v, list) else v.split(".", 1)[0])
                elif k == "Fn::Sub":
                    text, variables = (v, {}) if isinstance(v, str) else (v[0], v[1])
                    for expr in re.findall(r"\$\{([^!}][^}]*)\}", text):
                        if expr in variables:
                            continue
                        name = expr.split(".", 1)[0]
                        if name in self.resources:
                            found.add(name)
                    found |= self.refs_of(variables)
                else:
                    found |= self.refs_of(v)
        return found

    # -- creation

    def ensure(self, logical: str) -> dict:
        if logical in self.physical:
            return self.physical[logical]
        res = self.resources[logical]
        rtype = res.get("Type")
        if rtype not in self.creators:
            raise Unsupported(f"{logical} ({rtype}) is not created by the emulator")
        if "Condition" in res and not self.condition(res["Condition"]):
            raise Unsupported(f"{logical} is switched off by condition {res['Condition']}")
        props = _strip_no_value(self.resolve(res.get("Properties", {})))
        self.physical[logical] = self.creators[rtype](logical, props)
        return self.physical[logical]

    def up(self) -> None:
        for logical, res in self.resources.items():
            if res.get("Type") not in self.creators:
                continue
            if "Condition" in res and not self.condition(res["Condition"]):
                self.report.append(f"skipped {logical}: condition {res['Condition']} is false")
                continue
            self.ensure(logical)

    def _name(self, logical: str, given: str | None, fifo: bool = False) -> str:
        if given:
            return given
        return f"{self.pseudo['AWS::StackName']}-{logical}" + (".fifo" if fifo else "")

    def _table(self, logical: str, p: dict) -> dict:
        ddb = self.client("dynamodb")
        name = self._name(logical, p.get("TableName"))
        args: dict[str, Any] = {
            "TableName": name,
            "AttributeDefinitions": p["AttributeDefinitions"],
            "KeySchema": p["KeySchema"],
            "BillingMode": p.get("BillingMode", "PROVISIONED"),
        }
        if args["BillingMode"] == "PROVISIONED":
            args["ProvisionedThroughput"] = p["ProvisionedThroughput"]
        for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            if p.get(key):
                args[key] = [
                    {k: v for k, v in ix.items() if k in ("IndexName", "KeySchema", "Projection", "ProvisionedThroughput")}
                    for ix in p[key]
                ]
        if p.get("StreamSpecification"):
            args["StreamSpecification"] = {"StreamEnabled": True, **p["StreamSpecification"]}
        if p.get("SSESpecification", {}).get("SSEEnabled"):
            args["SSESpecification"] = {"Enabled": True}
        try:
            ddb.create_table(**args)
            verb = "created"
        except ClientError as e:
            if e.response["Error"]["Code"] != "ResourceInUseException":
                raise
            verb = "exists:"
        ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        desc = ddb.describe_table(TableName=name)["Table"]
        self._check_table_matches(name, args, desc)
        ttl = p.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            current = ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
            if current.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
                ddb.update_time_to_live(TableName=name, TimeToLiveSpecification={
                    "AttributeName": ttl["AttributeName"], "Enabled": True})
        if p.get("PointInTimeRecoverySpecification", {}).get("PointInTimeRecoveryEnabled"):
            try:
                ddb.update_continuous_backups(TableName=name, PointInTimeRecoverySpecification={
                    "PointInTimeRecoveryEnabled": True})
            except ClientError:
                pass  # PITR is a durability setting; emulators may not model it.
        gsis = ", ".join(f"{ix['IndexName']} {ix['Projection']['ProjectionType']}" for ix in args.get("GlobalSecondaryIndexes", []))
        self.report.append(f"{verb} table {name} ({logical}; GSIs: {gsis or 'none'}; TTL: "
                           f"{ttl['AttributeName'] if ttl and ttl.get('Enabled') else 'off'})")
        return {"ref": name, "attrs": {"Arn": desc["TableArn"], "StreamArn": desc.get("LatestStreamArn")}}

    @staticmethod
    def _check_table_matches(name: str, wanted: dict, desc: dict) -> None:
        """An existing table must have the template's keys and indexes, or the run is stale."""
        def keys(ks):
            return [(k["AttributeName"], k["KeyType"]) for k in ks]

        problems = []
        if keys(desc["KeySchema"]) != keys(wanted["KeySchema"]):
            problems.append("key schema")
        have = {ix["IndexName"]: (keys(ix["KeySchema"]), ix["Projection"]["ProjectionType"])
                for ix in desc.get("GlobalSecondaryIndexes", [])}
        want = {ix["IndexName"]: (keys(ix["KeySchema"]), ix["Projection"]["ProjectionType"])
                for ix in wanted.get("GlobalSecondaryIndexes", [])}
        if have != want:
            problems.append("global secondary indexes")
        if problems:
            raise SystemExit(f"table {name} exists with a different {' and '.join(problems)} than "
                             "template.yaml: use a fresh --prefix or restart the emulator")

    def _queue(self, logical: str, p: dict) -> dict:
        sqs = self.client("sqs")
        fifo = bool(p.get("FifoQueue"))
        name = self._name(logical, p.get("QueueName"), fifo)
        attrs: dict[str, str] = {}
        for key in ("FifoQueue", "ContentBasedDeduplication", "VisibilityTimeout", "MessageRetentionPeriod",
                    "DelaySeconds", "MaximumMessageSize", "ReceiveMessageWaitTimeSeconds", "SqsManagedSseEnabled",
                    "KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds", "DeduplicationScope", "FifoThroughputLimit"):
            if key in p:
                v = p[key]
                attrs[key] = str(v).lower() if isinstance(v, bool) else str(v)
        if not fifo:
            attrs.pop("FifoQueue", None)
        for key in ("RedrivePolicy", "RedriveAllowPolicy"):
            if key in p:
                attrs[key] = p[key] if isinstance(p[key], str) else json.dumps(p[key], separators=(",", ":"))
        try:
            url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        except ClientError as e:
            if e.response["Error"]["Code"] not in ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"):
                raise
            url = sqs.create_queue(QueueName=name, Attributes=attrs)["QueueUrl"]
            verb = "created"
        else:
            # Re-running `up` brings an existing queue back to the template's settings.
            sqs.set_queue_attributes(QueueUrl=url, Attributes={k: v for k, v in attrs.items() if k != "FifoQueue"})
            verb = "updated"
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        extra = []
        if "RedrivePolicy" in attrs:
            rp = json.loads(attrs["RedrivePolicy"])
            extra.append(f"redrive -> {rp['deadLetterTargetArn'].rsplit(':', 1)[-1]} after {rp['maxReceiveCount']}")
        if fifo:
            extra.insert(0, "FIFO")
        self.report.append(f"{verb} queue {name} ({logical}{'; ' + ', '.join(extra) if extra else ''})")
        return {"ref": url, "attrs": {"Arn": arn, "QueueName": name, "QueueUrl": url}}

    def _event_bus(self, logical: str, p: dict) -> dict:
        ev = self.client("events")
        name = p["Name"]
        try:
            arn = ev.create_event_bus(Name=name)["EventBusArn"]
            verb = "created"
        except ClientError as e:
            if e.response["Error"]["Code"] != "ResourceAlreadyExistsException":
                raise
            arn = ev.describe_event_bus(Name=name)["Arn"]
            verb = "exists:"
        self.report.append(f"{verb} event bus {name} ({logical})")
        return {"ref": name, "attrs": {"Arn": arn, "Name": name}}

    def _topic(self, logical: str, p: dict) -> dict:
        sns = self.client("sns")
        fifo = bool(p.get("FifoTopic"))
        name = self._name(logical, p.get("TopicName"), fifo)
        attrs = {k: (str(p[k]).lower() if isinstance(p[k], bool) else str(p[k]))
                 for k in ("DisplayName", "KmsMasterKeyId", "FifoTopic", "ContentBasedDeduplication") if k in p}
        arn = sns.create_topic(Name=name, Attributes=attrs)["TopicArn"]  # idempotent by name
        self.report.append(f"ready topic {name} ({logical})")
        return {"ref": arn, "attrs": {"TopicArn": arn, "TopicName": name}}

    def _bucket(self, logical: str, p: dict) -> dict:
        s3 = self.client("s3")
        # CloudFormation names a bucket without BucketName from the stack; lowercase, <= 63.
        name = (p.get("BucketName") or f"{self.pseudo['AWS::StackName']}-{logical}").lower()[:63]
        try:
            s3.create_bucket(Bucket=name)
            verb = "created"
        except ClientError as e:
            if e.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise
            verb = "exists:"
        if p.get("VersioningConfiguration", {}).get("Status") == "Enabled":
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        self.report.append(f"{verb} bucket {name} ({logical})")
        return {"ref": name, "attrs": {"Arn": f"arn:aws:s3:::{name}", "BucketName": name}}

    # -- the env file

    def function_env(self) -> dict[str, Any]:
        """Every function environment variable of the template, Globals first."""
        merged: dict[str, Any] = {}
        glob = self.t.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
        merged.update(glob)
        for res in self.resources.values():
            if res.get("Type") in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
                merged.update(res.get("Properties", {}).get("Environment", {}).get("Variables", {}))
        return merged

    def env(self) -> dict[str, str]:
        """The variables whose values are the emulated resources, plus DLQs and the endpoint."""
        out: dict[str, str] = {}
        for var, expr in self.function_env().items():
            refs = self.refs_of(expr)
            if refs and all(self.supported(r) for r in refs):
                out[var] = str(self.resolve(expr))
                # A queue's dead-letter queue, for tests that check redrive: X_QUEUE_URL -> X_DLQ_URL.
                if var.endswith("_QUEUE_URL") and len(refs) == 1:
                    dlq = self._dlq_of(next(iter(refs)))
                    if dlq:
                        out[var[: -len("_QUEUE_URL")] + "_DLQ_URL"] = self.ensure(dlq)["ref"]
        out["AWS_ENDPOINT_URL"] = self.endpoint
        out["AWS_REGION"] = self.region
        out["AWS_DEFAULT_REGION"] = self.region
        out["AWS_ACCESS_KEY_ID"] = TEST_CREDS["aws_access_key_id"]
        out["AWS_SECRET_ACCESS_KEY"] = TEST_CREDS["aws_secret_access_key"]
        return out

    def _dlq_of(self, logical: str) -> str | None:
        res = self.resources.get(logical, {})
        if res.get("Type") != "AWS::SQS::Queue":
            return None
        target = res.get("Properties", {}).get("RedrivePolicy", {}).get("deadLetterTargetArn")
        refs = self.refs_of(target) if target is not None else set()
        return next(iter(refs)) if len(refs) == 1 else None


# ------------------------------------------------------------------ commands


def wait_until_answering(endpoint: str, timeout: float, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"moto_server exited with status {proc.returncode} before answering")
        try:
            context = None
            if endpoint.startswith("https://") and os.environ.get("AWS_CA_BUNDLE"):
                import ssl
                context = ssl.create_default_context(cafile=os.environ["AWS_CA_BUNDLE"])
            with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2, context=context):
                return
        except urllib.error.HTTPError:
            return  # any HTTP answer means it is up
        except (urllib.error.URLError, OSError) as e:
            last = e
        time.sleep(0.2)
    raise SystemExit(f"{endpoint} did not answer within {timeout:.0f}s ({last})")


def free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class SerializeDynamoDB:
    """WSGI middleware: one DynamoDB request at a time.

    DynamoDB applies each conditional write atomically; moto's threaded server does not, so two
    concurrent conditional updates of one item can both pass their condition. Serialising the
    DynamoDB requests (only those: SQS long polls stay concurrent) restores the guarantee the
    concurrency tests rely on.
    """

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        # moto's own state dump (/moto-api/data.json) reads the DynamoDB backend too, and fails
        # when it meets a write in flight: it waits for the lock as well.
        dynamo = environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_")
        if not dynamo and not environ.get("PATH_INFO", "").startswith("/moto-api/"):
            return self.app(environ, start_response)
        with self.lock:
            return list(self.app(environ, start_response))


SERVICES = {"DynamoDB_20120810": "DynamoDB", "DynamoDBStreams_20120810": "DynamoDBStreams",
            "AmazonSQS": "SQS", "AWSEvents": "EventBridge", "secretsmanager": "SecretsManager",
            "AWSLambda": "Lambda"}


def operation_of(environ: dict, body: bytes) -> str:
    """`Service.Operation` of one AWS API request, e.g. `DynamoDB.PutItem`."""
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if "." in target:
        prefix, op = target.split(".", 1)
        return f"{SERVICES.get(prefix, prefix)}.{op}"
    auth = environ.get("HTTP_AUTHORIZATION", "")
    m = re.search(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/", auth)
    service = m.group(1) if m else "unknown"
    names = {"s3": "S3", "sns": "SNS", "ses": "SES", "sqs": "SQS", "events": "EventBridge",
             "dynamodb": "DynamoDB", "scheduler": "Scheduler", "secretsmanager": "SecretsManager"}
    service = names.get(service, service)
    if b"Action=" in body[:4096]:
        from urllib.parse import parse_qs
        action = parse_qs(body.decode(errors="replace")).get("Action", ["?"])[0]
        return f"{service}.{action}"
    method = environ.get("REQUEST_METHOD", "GET")
    path = environ.get("PATH_INFO", "/")
    if service == "S3":
        kind = "Object" if path.strip("/").count("/") >= 1 else "Bucket"
        return f"S3.{ {'GET': 'Get', 'PUT': 'Put', 'DELETE': 'Delete', 'HEAD': 'Head', 'POST': 'Post'}.get(method, method)}{kind}"
    # REST-JSON APIs (SES v2, Scheduler): the method and the first path segments.
    return f"{service}.{method} {'/'.join(path.split('/')[:3])}"


def attribute_size(value: dict) -> int:
    """The size DynamoDB bills for one attribute value (AttributeValue JSON), per its
    documented rules: strings and binaries by their bytes, numbers by significant digits
    (2 per byte, plus 1), booleans and null 1 byte, lists and maps 3 bytes plus 1 per element,
    map keys by their bytes, sets by their elements."""
    import base64
    (kind, v), = value.items()
    if kind == "S":
        return len(v.encode())
    if kind == "N":
        digits = v.lstrip("-").replace(".", "").split("e")[0].split("E")[0].strip("0") or "0"
        return -(-len(digits) // 2) + 1
    if kind == "B":
        return len(base64.b64decode(v))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(x.encode()) for x in v)
    if kind == "NS":
        return sum(attribute_size({"N": x}) for x in v)
    if kind == "BS":
        return sum(len(base64.b64decode(x)) for x in v)
    if kind == "L":
        return 3 + sum(attribute_size(x) + 1 for x in v)
    if kind == "M":
        return 3 + sum(len(k.encode()) + attribute_size(x) + 1 for k, x in v.items())
    return 0


def item_size(item: dict | None) -> int:
    """An item's billed size: each attribute's name and value."""
    return sum(len(k.encode()) + attribute_size(v) for k, v in (item or {}).items())


def _units(size: int, per: int) -> int:
    return max(1, -(-size // per))


def written_items(op: str, req: dict) -> list[tuple[str, dict | None, dict | None, int]]:
    """The items a write request touches: (table, key or None, new item if put, factor)."""
    if op == "PutItem":
        return [(req.get("TableName", ""), None, req.get("Item", {}), 1)]
    if op in ("UpdateItem", "DeleteItem"):
        return [(req.get("TableName", ""), req.get("Key", {}), None, 1)]
    if op == "BatchWriteItem":
        out = []
        for table, reqs in req.get("RequestItems", {}).items():
            for r in reqs:
                if "PutRequest" in r:
                    out.append((table, None, r["PutRequest"].get("Item", {}), 1))
                elif "DeleteRequest" in r:
                    out.append((table, r["DeleteRequest"].get("Key", {}), None, 1))
        return out
    if op == "TransactWriteItems":
        out = []
        for t in req.get("TransactItems", []):
            (kind, w), = t.items()
            if kind == "Put":
                out.append((w.get("TableName", ""), None, w.get("Item", {}), 2))
            elif kind in ("Update", "Delete"):
                out.append((w.get("TableName", ""), w.get("Key", {}), None, 2))
            else:  # ConditionCheck: a read, billed as one write unit per KB, twice
                out.append((w.get("TableName", ""), w.get("Key", {}), None, 2))
        return out
    return []


def write_units(touched: list[tuple[dict | None, dict | None, int]]) -> float:
    """Write units of a successful write: per item, the larger of its size before and after
    (what DynamoDB bills for a put that replaces, an update or a delete), per KB, twice in a
    transaction."""
    return float(sum(f * _units(max(item_size(before), item_size(after)), 1024)
                     for before, after, f in touched))


def read_units(op: str, req: dict, resp: dict) -> float:
    """Read units of a successful read: per 4 KB, half when eventually consistent; a query or
    scan sums the sizes of the items it returns before rounding up; transactions twice."""
    half = 1.0 if req.get("ConsistentRead") else 0.5
    if op == "GetItem":
        return half * _units(item_size(resp.get("Item")), 4096)
    if op in ("Query", "Scan"):
        return half * _units(sum(item_size(i) for i in resp.get("Items", [])), 4096)
    if op == "TransactGetItems":
        return sum(2 * _units(item_size(r.get("Item")), 4096) for r in resp.get("Responses", []))
    if op == "BatchGetItem":
        return sum(half * _units(item_size(i), 4096)
                   for items in resp.get("Responses", {}).values() for i in items)
    return 0.0


class CountAndFault:
    """WSGI middleware: counts every AWS API request by operation, and can fail some of them.

    `GET /draftgate/counts` answers the counts since the last `DELETE /draftgate/counts`; the
    cost model (scripts/cost-model.py) reads them. DynamoDB request units are counted with
    DynamoDB's own item-size rules; `POST /draftgate/counts {"item_sizes": true}` also reads
    each written item before and after the write, so a replacing put, an update or a delete is
    billed on the larger of the two as DynamoDB bills it (otherwise a put counts its new item). `POST /draftgate/faults` with
    `{"rate": 0.2, "kinds": ["error", "throttle", "timeout"], "services": ["DynamoDB", "SQS"],
    "match": "my-stack", "delay_secs": 2, "seed": 7}` makes that share of matching requests fail
    (`match`: only requests whose body names it, e.g. one test's resources): `error` answers 500,
    `throttle` answers the service's throttling error, `timeout` holds the request `delay_secs`
    and then applies it (the client has given up: the write happened, its answer was lost).
    `{"rate": 0}` stops. `GET /draftgate/faults` shows the setting and how many were injected.
    """

    THROTTLE = {"DynamoDB": "com.amazonaws.dynamodb.v20120810#ThrottlingException",
                "SQS": "com.amazonaws.sqs#RequestThrottled",
                "EventBridge": "ThrottlingException"}

    def __init__(self, app):
        import random
        self.app = app
        self.lock = threading.Lock()
        self.counts: dict[str, int] = {}
        self.faults = {"rate": 0.0, "kinds": ["error"], "services": [], "delay_secs": 2.0,
                       "match": ""}
        self.injected: dict[str, int] = {}
        self.rng = random.Random(0)
        self.key_schemas: dict[str, list[str]] = {}
        # Write units from the stored items before and after each write (two more reads a
        # write, so off unless asked: `POST /draftgate/counts {"item_sizes": true}`).
        self.item_sizes = False

    def _json(self, start_response, status: str, value: Any):
        body = json.dumps(value, sort_keys=True).encode()
        start_response(status, [("Content-Type", "application/json"),
                                ("Content-Length", str(len(body)))])
        return [body]

    def _control(self, environ, start_response, path: str, body: bytes):
        method = environ.get("REQUEST_METHOD")
        with self.lock:
            if path == "/draftgate/counts":
                if method == "DELETE":
                    self.counts.clear()
                if method == "POST":
                    self.item_sizes = bool(json.loads(body or b"{}").get("item_sizes"))
                return self._json(start_response, "200 OK", self.counts)
            if method == "POST":
                import random
                given = json.loads(body or b"{}")
                self.faults.update({k: given[k] for k in
                                    ("rate", "kinds", "services", "delay_secs", "match")
                                    if k in given})
                if "seed" in given:
                    self.rng = random.Random(given["seed"])
                self.injected.clear()
            return self._json(start_response, "200 OK",
                              dict(self.faults, injected=self.injected))

    def __call__(self, environ, start_response):
        import io
        path = environ.get("PATH_INFO", "")
        body = b""
        if environ.get("CONTENT_LENGTH"):
            body = environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"]))
            environ["wsgi.input"] = io.BytesIO(body)
        if path.startswith("/draftgate/"):
            return self._control(environ, start_response, path, body)
        if path.startswith("/moto-api/"):
            return self.app(environ, start_response)
        op = operation_of(environ, body)
        service = op.split(".", 1)[0]
        fault = None
        with self.lock:
            self.counts[op] = self.counts.get(op, 0) + 1
            f = self.faults
            if f["rate"] > 0 and (not f["services"] or service in f["services"]) \
                    and (not f["match"] or f["match"].encode() in body) \
                    and self.rng.random() < f["rate"]:
                fault = self.rng.choice(f["kinds"])
                self.injected[fault] = self.injected.get(fault, 0) + 1
        if fault == "error":
            return self._json(start_response, "500 Internal Server Error",
                              {"__type": "InternalServerError", "message": "injected fault"})
        if fault == "throttle":
            code = self.THROTTLE.get(service, "ThrottlingException")
            return self._json(start_response, "400 Bad Request",
                              {"__type": code, "message": "injected throttling"})
        if fault == "timeout":
            time.sleep(float(self.faults["delay_secs"]))
        if service != "DynamoDB":
            return self.app(environ, start_response)
        status = {}

        def capture(st, headers, exc_info=None):
            status["code"] = st
            return start_response(st, headers, exc_info)

        name = op.split(".", 1)[1]
        try:
            req = json.loads(body or b"{}")
        except ValueError:
            req = {}
        writes = written_items(name, req)
        exact = self.item_sizes and writes
        keys = [(table, key if key is not None else self._key_of(environ, table, item))
                for table, key, item, _ in writes] if exact else []
        before = [self._stored(environ, table, key) for table, key in keys]
        out = list(self.app(environ, capture))
        if status.get("code", "").startswith("200"):
            if writes:
                # Without the stored items, a put is sized by its new item alone.
                after = ([self._stored(environ, table, key) for table, key in keys] if exact
                         else [w[2] for w in writes])
                before = before or [None] * len(writes)
                rru, wru = 0.0, write_units(
                    [(b, a, w[3]) for b, a, w in zip(before, after, writes)])
            else:
                try:
                    resp = json.loads(b"".join(out) or b"{}")
                except ValueError:
                    resp = {}
                rru, wru = read_units(name, req, resp), 0.0
            with self.lock:
                self.counts["DynamoDB:ReadUnits"] = self.counts.get("DynamoDB:ReadUnits", 0) + rru
                self.counts["DynamoDB:WriteUnits"] = self.counts.get("DynamoDB:WriteUnits", 0) + wru
        return out

    def _dynamodb(self, environ, target: str, request: dict) -> dict:
        """One DynamoDB request to the emulator itself (not counted), with the caller's
        credentials and region."""
        import io
        payload = json.dumps(request).encode()
        env = dict(environ)
        env.update({"wsgi.input": io.BytesIO(payload), "CONTENT_LENGTH": str(len(payload)),
                    "HTTP_X_AMZ_TARGET": f"DynamoDB_20120810.{target}", "REQUEST_METHOD": "POST",
                    "PATH_INFO": "/", "QUERY_STRING": ""})
        status = {}

        def capture(st, headers, exc_info=None):
            status["code"] = st
            return lambda _: None

        out = b"".join(self.app(env, capture))
        if not status.get("code", "").startswith("200"):
            return {}
        try:
            return json.loads(out or b"{}")
        except ValueError:
            return {}

    def _key_of(self, environ, table: str, item: dict | None) -> dict | None:
        """The key attributes of `item` in `table` (its key schema read once)."""
        if not item or not table:
            return None
        schema = self.key_schemas.get(table)
        if schema is None:
            described = self._dynamodb(environ, "DescribeTable", {"TableName": table})
            schema = [k["AttributeName"] for k in
                      described.get("Table", {}).get("KeySchema", [])]
            if schema:
                self.key_schemas[table] = schema
        if not schema or any(k not in item for k in schema):
            return None
        return {k: item[k] for k in schema}

    def _stored(self, environ, table: str, key: dict | None) -> dict | None:
        if not key or not table:
            return None
        return self._dynamodb(environ, "GetItem", {"TableName": table, "Key": key,
                                                   "ConsistentRead": True}).get("Item")


def tls_material(directory: Path) -> tuple[Path, Path, Path]:
    """A local CA and a certificate for 127.0.0.1 / localhost signed by it (made once, kept in
    `directory`): (ca.pem, cert.pem, key.pem). Clients trust the CA through SSL_CERT_FILE (the
    Rust SDK) or AWS_CA_BUNDLE (boto3), so requests to the emulator pay a real TLS handshake."""
    import datetime
    import ipaddress
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    directory.mkdir(parents=True, exist_ok=True)
    ca_path, cert_path, key_path = directory / "ca.pem", directory / "cert.pem", directory / "key.pem"
    if ca_path.exists() and cert_path.exists() and key_path.exists():
        return ca_path, cert_path, key_path
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "draftgate local emulator CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(days=1))
          .not_valid_after(now + datetime.timedelta(days=365))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False,
                                       encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=365))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(ca_key, hashes.SHA256()))
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return ca_path, cert_path, key_path


def cmd_moto(a: argparse.Namespace) -> int:
    """moto's server app, with DynamoDB requests serialised, in this process."""
    try:
        from moto.server import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
        from werkzeug.serving import run_simple
    except ImportError:
        raise SystemExit("moto[server] is not installed: pip install -r infra/requirements.txt")
    os.environ.setdefault("MOTO_PORT", str(a.port))
    app = DomainDispatcherApplication(create_backend_app)
    ssl_context = None
    if a.tls_dir:
        _, cert, key = tls_material(Path(a.tls_dir))
        ssl_context = (str(cert), str(key))
    run_simple(a.host, a.port, CountAndFault(SerializeDynamoDB(app)), threaded=True,
               ssl_context=ssl_context,
               request_handler=MotoRequestHandler)
    return 0


def cmd_serve(a: argparse.Namespace) -> int:
    port = a.port or free_port(a.host)
    endpoint = f"{'https' if a.tls_dir else 'http'}://{a.host}:{port}"
    tls = ["--tls-dir", a.tls_dir] if a.tls_dir else []
    if a.tls_dir:
        ca, _, _ = tls_material(Path(a.tls_dir))
        os.environ["AWS_CA_BUNDLE"] = str(ca)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        if probe.connect_ex((a.host, port)) == 0:
            raise SystemExit(f"{a.host}:{port} is already in use")
    log = open(a.log, "ab") if a.log else subprocess.DEVNULL
    proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "moto",
                             "--host", a.host, "--port", str(port), *tls],
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=not a.foreground)
    try:
        wait_until_answering(endpoint, a.timeout, proc)
        if proc.poll() is not None:
            raise SystemExit(f"moto_server exited with status {proc.returncode}; is {a.host}:{port} taken?")
    except SystemExit:
        proc.terminate()
        raise
    if a.pidfile:
        Path(a.pidfile).write_text(f"{proc.pid}\n")
    print(endpoint, flush=True)
    print(f"moto_server pid {proc.pid} on {endpoint}", file=sys.stderr)
    if not a.foreground:
        return 0
    signal.signal(signal.SIGTERM, lambda *_: proc.terminate())
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        return proc.wait()


def cmd_stop(a: argparse.Namespace) -> int:
    path = Path(a.pidfile)
    if not path.exists():
        print(f"no pidfile {path}", file=sys.stderr)
        return 0
    pid = int(path.read_text().strip())
    try:
        os.kill(pid, signal.SIGTERM)
        for _ in range(50):
            os.kill(pid, 0)
            time.sleep(0.1)
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    path.unlink(missing_ok=True)
    return 0


def cmd_up(a: argparse.Namespace) -> int:
    endpoint = a.endpoint.rstrip("/")
    wait_until_answering(endpoint, a.timeout)
    overrides = {}
    for kv in a.param:
        if "=" not in kv:
            raise SystemExit(f"--param wants KEY=VALUE, got {kv!r}")
        k, v = kv.split("=", 1)
        overrides[k] = v
    stack = Stack(load_template(Path(a.template)), a.prefix, a.region, overrides,
                  boto3.session.Session(), endpoint)
    stack.up()
    env = stack.env()
    for line in stack.report:
        print(line, file=sys.stderr)
    text = "".join(f"{k}={v}\n" for k, v in env.items())
    if a.env_file == "-":
        sys.stdout.write(text)
    elif a.env_file:
        path = Path(a.env_file)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {path}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="start moto_server and wait until it answers")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=0, help="0 = a free port")
    s.add_argument("--pidfile")
    s.add_argument("--log", help="append moto_server's output here")
    s.add_argument("--foreground", action="store_true", help="keep running until interrupted")
    s.add_argument("--timeout", type=float, default=60)
    s.add_argument("--tls-dir", help="serve HTTPS with a local CA kept here (ca.pem: trust it "
                   "with SSL_CERT_FILE / AWS_CA_BUNDLE)")
    s.set_defaults(func=cmd_serve)

    u = sub.add_parser("up", help="create the template's tables, queues, bus and topics")
    u.add_argument("--endpoint", required=True, help="emulator URL, e.g. http://127.0.0.1:5000")
    u.add_argument("--prefix", default="draftgate", help="used as AWS::StackName (names the resources)")
    u.add_argument("--env-file", help="write KEY=VALUE lines here ('-' = stdout)")
    u.add_argument("--region", default=os.environ.get("AWS_DEFAULT_REGION") or "us-east-1")
    u.add_argument("--template", default=str(DEFAULT_TEMPLATE))
    u.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="template parameter override (repeatable)")
    u.add_argument("--timeout", type=float, default=30, help="seconds to wait for the endpoint")
    u.set_defaults(func=cmd_up)

    m = sub.add_parser("moto", help="run the emulator in the foreground (what serve starts)")
    m.add_argument("--host", default="127.0.0.1")
    m.add_argument("--port", type=int, required=True)
    m.add_argument("--tls-dir")
    m.set_defaults(func=cmd_moto)

    t = sub.add_parser("stop", help="stop the moto_server started by serve")
    t.add_argument("--pidfile", required=True)
    t.set_defaults(func=cmd_stop)

    a = p.parse_args(argv)
    try:
        return a.func(a)
    except Unsupported as e:
        raise SystemExit(f"emulator: {e}") from e


if __name__ == "__main__":
    sys.exit(main())
