"""The local AWS of `cargo xtask local`: the moto server, plus what a deploy tool needs
that moto lacks. See docs/local-stack.md for the whole story; in short:

- ECS rollouts: UpdateService starts a real deployment that progresses on a clock (tasks
  start, old tasks drain, COMPLETED), or fails through the circuit breaker and rolls back.
  RunTask tasks go PROVISIONING -> RUNNING -> STOPPED with per-container exit codes.
  Progress is computed when a service or task is read, step by step, so it is the same
  however often a client polls.
- ECR images live in a real registry (the CNCF distribution server): repository URIs and
  GetAuthorizationToken point at it, and the image operations (ListImages, DescribeImages,
  BatchGetImage, PutImage, BatchDeleteImage) are answered from it. There is no second copy,
  so `docker push` and the API always agree.
- Fault injection through `/_xtask/faults`: crash loops, rollouts that never settle, task
  exit codes, tasks that never get one, and throttling, errors or latency per operation,
  each rendered exactly as that AWS protocol sends it.
- With XTASK_RUN_CONTAINERS=1 (`local up --run-containers`), tasks run as containers on
  the local Docker engine: a rollout completes when the new containers answer their health
  check, a container that exits is a failed task for the circuit breaker, and RunTask
  reports the container's real exit code.

- Several accounts, each with its own registry: a request's account is its access key's
  (the stack's keys are account ids), and another account's bucket or repository answers
  only where its resource policy allows the caller's account, as AWS's do.

Run by `cargo xtask local up` as: python moto_plugin.py --port P
--account 000000000000=127.0.0.1:R --account 000000000001=127.0.0.1:R2@F2
"""

import argparse
import base64
import copy
import fnmatch
import hashlib
import http.client
import io
import json
import math
import os
import random
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from datetime import datetime, timedelta, timezone

from moto.cloudfront import models as cloudfront_models
from moto.cloudfront.exceptions import CloudFrontException
from moto.cloudwatch import models as cloudwatch_models
from moto.core.responses import ActionResult
from moto.ecr import models as ecr_models
from moto.ecr import responses as ecr_responses
from moto.ecs import models as ecs_models
from moto.ecs import responses as ecs_responses
from moto.ecs.exceptions import InvalidParameterException
from moto.logs import models as logs_models
from moto.s3 import models as s3_models
from moto.moto_api import state_manager
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from moto.sts import models as sts_models
from werkzeug.serving import make_server, run_simple

import aws_spec  # beside this file: AWS's request rules (docs/local-stack.md)
import balancer  # beside this file: the production and test listeners of shifting services

# Seconds per step of the ECS model's clock (XTASK_STEP_SECONDS); a healthy rollout takes
# four steps, a RunTask task four.
STEP = float(os.environ.get("XTASK_STEP_SECONDS", "0.5"))
# The stack's one time scale (XTASK_TIME_SCALE): how many seconds of AWS's clock pass in
# one real second for everything AWS measures in minutes (bakes, lifecycle hook timeouts,
# CloudFront invalidations), so that a test waits seconds while every duration the tool
# reads or sets is the one it would be on AWS. 1 is real time.
TIME_SCALE = float(os.environ.get("XTASK_TIME_SCALE", "30"))
MINUTE = 60.0 / TIME_SCALE

# The stack's accounts, each with the registry behind its ECR (`host:port`) and this
# server's front for it (`host:port`, see proxy_registry); set from --account at start. The
# first is the default: requests whose credentials name no account of the stack are its.
REGISTRIES = {}
FRONTS = {}
DEFAULT_ACCOUNT = "000000000000"
# The account of the request this thread serves (see Middleware.account_of).
REQUEST = threading.local()
# The password of ECR's registry login (user `AWS`), new with each start of the emulator,
# as ECR's tokens are new with each GetAuthorizationToken: a push that did not log in, or
# logged in to an earlier run, is refused as ECR refuses it. Each account's token names it,
# so that a registry can tell its own principals from another account's.
REGISTRY_PASSWORD = uuid.uuid4().hex


def current_account():
    """The account of the request being served (the default one outside a request)."""
    return getattr(REQUEST, "account", DEFAULT_ACCOUNT)

# Conditional S3 writes (`If-None-Match: *`) one at a time: see Middleware.
CONDITIONAL_WRITES = threading.Lock()

# Faults by id, and the lock every model change takes (the server is threaded).
FAULTS = {}
LOCK = threading.RLock()


def now():
    return datetime.now(timezone.utc)


# ---------------------------------------------------------------- faults --------------


def add_fault(fault):
    """Validates and stores a fault; returns it with its id."""
    kind = fault.get("kind")
    scoped = {
        "crash_loop": ("service", "image"),
        "never_stable": ("service", "image"),
        "exit_code": ("family", "command"),
        "no_exit_code": ("family", "command"),
        "runs_forever": ("family", "command"),
        "throttle": ("operation",),
        "server_error": ("operation",),
        "error": ("operation",),
        "latency": ("operation",),
        "stale_reads": ("cluster",),
        "tag_policy": ("family",),
        "page_size": ("cluster",),
        "scan": ("repository", "image"),
    }
    if kind not in scoped:
        raise ValueError(f"unknown fault kind {kind!r}; expected one of {sorted(scoped)}")
    if not any(fault.get(key) for key in scoped[kind]):
        raise ValueError(f"a {kind} fault needs one of {scoped[kind]}")
    if kind == "exit_code" and not isinstance(fault.get("code"), int):
        raise ValueError("an exit_code fault needs an integer `code`")
    if kind == "error" and not (fault.get("code") and isinstance(fault.get("status"), int)):
        raise ValueError("an error fault needs `code` (the AWS error code) and `status`")
    if kind == "latency" and not isinstance(fault.get("ms"), int):
        raise ValueError("a latency fault needs integer `ms`")
    if kind == "page_size" and not (isinstance(fault.get("size"), int) and fault["size"] > 0):
        raise ValueError("a page_size fault needs a positive integer `size`")
    if kind == "tag_policy" and not (isinstance(fault.get("keys"), list) and fault["keys"]):
        raise ValueError("a tag_policy fault needs `keys`: the tag keys a task definition must carry")
    if kind == "scan" and fault.get("status", "COMPLETE") not in SCAN_STATUSES:
        raise ValueError(f"a scan fault's `status` is one of {SCAN_STATUSES}")
    if kind == "stale_reads" and not isinstance(fault.get("seconds"), (int, float)):
        raise ValueError("a stale_reads fault needs `seconds` (how long a change stays unseen)")
    fault = dict(fault, id=fault.get("id") or uuid.uuid4().hex[:12])
    with LOCK:
        FAULTS[fault["id"]] = fault
    return fault


def find_fault(kinds, **scope):
    """The first fault of one of `kinds` whose scope matches: every scope key the fault sets
    must match (`service`, `family`, `operation` as glob patterns; `image` and `command` as
    substrings), so a fault naming a service and an image hits only that pair."""
    with LOCK:
        for fault in FAULTS.values():
            if fault["kind"] not in kinds:
                continue
            keys = [key for key in scope if fault.get(key)]
            if keys and all(scope_matches(key, fault[key], scope[key]) for key in keys):
                return fault
    return None


def tag_policy_refusal(operation, body):
    """A `tag_policy` fault is an organisation's service control policy that denies
    RegisterTaskDefinition without the tags it names, as AWS answers such a deny."""
    if operation != "ecs:RegisterTaskDefinition":
        return None
    try:
        request = json.loads(body)
    except ValueError:
        return None
    fault = find_fault({"tag_policy"}, family=request.get("family"))
    if fault is None:
        return None
    present = {tag.get("key") for tag in request.get("tags") or []}
    missing = [key for key in fault["keys"] if key not in present]
    if not missing:
        return None
    return {"kind": "error", "status": 400, "code": "AccessDeniedException",
            "message": "User is not authorized to perform: ecs:RegisterTaskDefinition with an explicit deny "
                       f"in a service control policy (tags required: {', '.join(missing)})"}


def staleness(cluster):
    """Seconds a change in `cluster` stays invisible to reads (a `stale_reads` fault): ECS's
    reads are eventually consistent, so a deployment `UpdateService` just created can be
    missing from `DescribeServices`, and a task `RunTask` just started `MISSING` from
    `DescribeTasks`."""
    fault = find_fault({"stale_reads"}, cluster=cluster)
    return fault["seconds"] if fault else 0


def scope_matches(key, pattern, value):
    if value is None:
        return False
    if key in ("image", "command"):
        return pattern in value
    return fnmatch.fnmatchcase(value, pattern)


def take_request_fault(operation, body, path=""):
    """The error fault for this request, consuming one of its `count` uses. `match` is
    looked for in the body and the path (an S3 request names its bucket in its path)."""
    with LOCK:
        for fault in list(FAULTS.values()):
            if fault["kind"] not in ("throttle", "server_error", "error"):
                continue
            if not fnmatch.fnmatchcase(operation, fault["operation"]):
                continue
            if fault.get("match") and fault["match"] not in body and fault["match"] not in path:
                continue
            remaining = fault.get("count", 1)
            if remaining <= 1:
                del FAULTS[fault["id"]]
            else:
                fault["count"] = remaining - 1
            return fault
    return None


def latency_for(operation, body):
    with LOCK:
        return sum(
            fault["ms"]
            for fault in FAULTS.values()
            if fault["kind"] == "latency"
            and fnmatch.fnmatchcase(operation, fault["operation"])
            and (not fault.get("match") or fault["match"] in body)
        )


# --------------------------------------------------- requests and AWS errors --------------

SERVICE_DEPLOYMENT_OPS = ("ecs:ListServiceDeployments", "ecs:DescribeServiceDeployments",
                          "ecs:ContinueServiceDeployment", "ecs:StopServiceDeployment")
JSON_TARGETS = {
    "AmazonEC2ContainerServiceV20141113": "ecs",
    "AmazonEC2ContainerRegistry_V20150921": "ecr",
}


def operation_of(environ, body):
    """`service:Action` of a request, as AWS names them."""
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if "." in target:
        prefix, action = target.split(".", 1)
        return f"{JSON_TARGETS.get(prefix, prefix.lower())}:{action}"
    service = credential_service(environ)
    method = environ.get("REQUEST_METHOD", "GET")
    path = environ.get("PATH_INFO", "")
    query = environ.get("QUERY_STRING", "")
    if service in ("sts", "ec2", "iam") or "Action=" in body[:200]:
        action = next(
            (part.split("=", 1)[1] for part in (body + "&" + query).split("&") if part.startswith("Action=")),
            "Unknown",
        )
        return f"{service}:{action}"
    if service == "s3":
        return f"s3:{s3_action(method, path, query, environ)}"
    if service == "cloudfront":
        if path.endswith("/invalidation") and method == "POST":
            return "cloudfront:CreateInvalidation"
        if "/invalidation/" in path:
            return "cloudfront:GetInvalidation"
        if path.rstrip("/").endswith("/distribution") and method == "POST":
            return "cloudfront:CreateDistribution"
        if path.rstrip("/").endswith("/distribution"):
            return "cloudfront:ListDistributions"
        return f"cloudfront:{method}"
    return f"{service}:{method}"


def credential_scope(environ):
    """The SigV4 credential scope of a request, `[key, date, region, service, aws4_request]`
    (`AWS4-HMAC-SHA256 Credential=KEY/20261122/us-east-1/ecs/aws4_request, ...`); `[]` when
    it is not signed."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    if "Credential=" not in auth:
        return []
    return auth.split("Credential=", 1)[1].split(",", 1)[0].split("/")


def credential_service(environ):
    scope = credential_scope(environ)
    return scope[3] if len(scope) >= 4 else "unknown"


def s3_action(method, path, query, environ):
    parts = [p for p in path.split("/") if p]
    has_key = len(parts) >= 2
    if method == "PUT":
        if environ.get("HTTP_X_AMZ_COPY_SOURCE"):
            return "CopyObject"
        return "PutObject" if has_key else "CreateBucket"
    if method == "GET":
        if not parts:
            return "ListBuckets"
        return "GetObject" if has_key else "ListObjectsV2" if "list-type=2" in query else "ListObjects"
    if method == "HEAD":
        return "HeadObject" if has_key else "HeadBucket"
    if method == "DELETE":
        return "DeleteObject" if has_key else "DeleteBucket"
    if method == "POST" and "delete" in query:
        return "DeleteObjects"
    return method


def s3_wrong_region(environ, operation):
    """S3's answer to a request for a bucket signed for another region than the bucket's:
    301 with the bucket's region in `x-amz-bucket-region` (a HEAD has no body; the others
    a `PermanentRedirect` error), as S3 answers it (the S3 API reference's HeadBucket and
    its error codes). moto serves every bucket from any region."""
    if not operation.startswith("s3:") or operation in ("s3:ListBuckets", "s3:CreateBucket"):
        return None
    scope = credential_scope(environ)
    signed = scope[2] if len(scope) > 2 else None
    name = aws_spec.virtual_host_bucket(environ) or next(
        (p for p in environ.get("PATH_INFO", "").split("/") if p), None)
    bucket = s3_bucket(name)
    if bucket is None or signed is None or bucket.region_name == signed:
        return None
    headers = [("x-amz-bucket-region", bucket.region_name), ("x-amz-request-id", str(uuid.uuid4()))]
    if environ.get("REQUEST_METHOD") == "HEAD":
        return 301, headers, b""
    body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>PermanentRedirect</Code>'
            "<Message>The bucket you are attempting to access must be addressed using the specified "
            f"endpoint. Please send all future requests to this endpoint.</Message><Bucket>{name}</Bucket>"
            f"<Endpoint>{name}.s3.{bucket.region_name}.amazonaws.com</Endpoint></Error>").encode()
    return 301, headers + [("Content-Type", "application/xml")], body


def s3_bucket(name):
    """The bucket `name`, whichever account owns it (bucket names are global), or None."""
    owner = s3_models.s3_backends.bucket_accounts.get(name) if name else None
    if owner is None:
        return None
    partition, account = owner
    return s3_models.s3_backends[account][partition].buckets.get(name)


# ------------------------------------------------------------- cross-account access --------


def as_list(value):
    """A policy field that may be one value or a list, as a list."""
    return value if isinstance(value, list) else [] if value is None else [value]


def policy_allows(policy, caller, action):
    """Whether a resource policy has an Allow statement for `action` whose principal is
    account `caller` (its root, or any of its roles and users) or everyone. Deny statements
    and conditions are not modelled: the stack only needs to tell granted from not."""
    if not policy:
        return False
    document = json.loads(policy if isinstance(policy, str) else policy.decode())
    for statement in as_list(document.get("Statement")):
        if statement.get("Effect") != "Allow":
            continue
        principal = statement.get("Principal")
        aws = ["*"] if principal == "*" else as_list((principal or {}).get("AWS"))
        if not any(p in ("*", caller) or p.startswith(f"arn:aws:iam::{caller}:") for p in aws):
            continue
        if any(fnmatch.fnmatch(action.lower(), a.lower()) for a in as_list(statement.get("Action"))):
            return True
    return False


# The IAM action of each S3 operation whose action is named otherwise (the S3 API reference's
# "Permissions" of each operation).
S3_IAM_ACTIONS = {"s3:ListObjectsV2": "s3:ListBucket", "s3:ListObjects": "s3:ListBucket",
                  "s3:HeadBucket": "s3:ListBucket", "s3:HeadObject": "s3:GetObject",
                  "s3:ListObjectVersions": "s3:ListBucketVersions"}


def access_denied(operation, caller, resource):
    """IAM's refusal of a cross-account request no resource policy allows."""
    return {"kind": "error", "status": 403 if operation.startswith("s3:") else 400,
            "code": "AccessDenied" if operation.startswith("s3:") else "AccessDeniedException",
            "message": (f"User: arn:aws:iam::{caller}:root is not authorized to perform: {operation} on "
                        f"resource: {resource} because no resource-based policy allows the {operation} action")}


def cross_account_refusal(environ, operation, body):
    """AWS's answer to a request for another account's bucket or repository: allowed only
    where that resource's policy grants the caller's account the action (moto serves every
    account's resources to everyone)."""
    caller = current_account()
    if operation.startswith("s3:") and operation not in ("s3:ListBuckets", "s3:CreateBucket"):
        name = aws_spec.virtual_host_bucket(environ) or next(
            (p for p in environ.get("PATH_INFO", "").split("/") if p), None)
        owner = s3_models.s3_backends.bucket_accounts.get(name) if name else None
        if owner is None or owner[1] == caller:
            return None
        bucket = s3_bucket(name)
        if policy_allows(getattr(bucket, "policy", None), caller, S3_IAM_ACTIONS.get(operation, operation)):
            return None
        return access_denied(operation, caller, f"arn:aws:s3:::{name}")
    if operation.startswith("ecr:"):
        params = json.loads(body or "{}") if body.startswith("{") else {}
        owner = params.get("registryId") or caller
        if owner == caller:
            return None
        region = request_region(environ)
        for name in as_list(params.get("repositoryName")) + as_list(params.get("repositoryNames")) or ["*"]:
            repo = ecr_models.ecr_backends[owner][region].repositories.get(name)
            if repo is None or not policy_allows(repo.policy, caller, operation):
                return access_denied(operation, caller, f"arn:aws:ecr:{region}:{owner}:repository/{name}")
        # Allowed: moto answers from the owner's registry.
        environ["HTTP_X_MOTO_ACCOUNT_ID"] = owner
    return None


def request_region(environ):
    """The region a request is signed for (us-east-1 when unsigned)."""
    scope = credential_scope(environ)
    return scope[2] if len(scope) > 2 else "us-east-1"


# Codes each protocol uses for throttling and for a server-side failure.
THROTTLE = {"ecs": "ThrottlingException", "ecr": "ThrottlingException", "s3": "SlowDown",
            "ec2": "RequestLimitExceeded"}
SERVER = {"ecs": "ServerException", "ecr": "ServerException", "s3": "InternalError"}


def error_response(operation, fault):
    """(status, headers, body) of an AWS error, in the protocol of `operation`'s service."""
    service = operation.split(":", 1)[0]
    if fault["kind"] == "throttle":
        status = 503 if service == "s3" else 400
        code = THROTTLE.get(service, "Throttling")
        message = "Please reduce your request rate." if service == "s3" else "Rate exceeded"
    elif fault["kind"] == "server_error":
        status = 500
        code = SERVER.get(service, "InternalFailure")
        message = "We encountered an internal error. Please try again."
    else:
        status, code = fault["status"], fault["code"]
        message = fault.get("message", code)
    request_id = str(uuid.uuid4())
    if service in JSON_TARGETS.values():
        body = json.dumps({"__type": code, "message": message})
        headers = [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-RequestId", request_id),
                   ("x-amzn-ErrorType", code)]
    elif service == "s3":
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
                f"<Message>{message}</Message><RequestId>{request_id}</RequestId></Error>")
        headers = [("Content-Type", "application/xml"), ("x-amz-request-id", request_id)]
    elif service == "ec2":
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>{code}</Code>'
                f"<Message>{message}</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>")
        headers = [("Content-Type", "text/xml")]
    else:
        kind = "Receiver" if status >= 500 else "Sender"
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<ErrorResponse><Error><Type>{kind}</Type>'
                f"<Code>{code}</Code><Message>{message}</Message></Error>"
                f"<RequestId>{request_id}</RequestId></ErrorResponse>")
        headers = [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)]
    return status, headers, body.encode()


# ------------------------------------------------------------- credentials -------------

# Seconds added to the stack's clock when judging credentials' expiry (`POST /_xtask/clock`):
# STS issues credentials for at least 900 s, and tests should not wait that long.
CLOCK_OFFSET = 0.0


def expired_token(environ):
    """An error for a request signed with credentials STS issued that have expired, as AWS
    answers it (`ExpiredTokenException` on JSON services, `ExpiredToken` elsewhere)."""
    token = environ.get("HTTP_X_AMZ_SECURITY_TOKEN")
    if not token:
        return None
    for backends in sts_models.sts_backends.values():
        for backend in backends.values():
            for role in backend.assumed_roles:
                if role.session_token != token:
                    continue
                expiration = role.expiration.replace(tzinfo=timezone.utc)
                if now() + timedelta(seconds=CLOCK_OFFSET) < expiration:
                    return None
                return {"kind": "error", "status": 400, "code": "ExpiredToken",
                        "message": "The security token included in the request is expired"}
    return None


class Middleware:
    """Wraps moto: the `/_xtask/` API, then faults, then moto itself."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        REQUEST.account = self.account_of(environ, path)
        # moto's own backends follow this header (MOTO_ACCOUNT_ID is not set: it would win).
        environ["HTTP_X_MOTO_ACCOUNT_ID"] = REQUEST.account
        if path.startswith("/_xtask/"):
            return self.api(environ, start_response, path[len("/_xtask/"):])
        # Read the body to match faults on it, then hand moto an identical stream. A body
        # without a length (chunked) is left alone: faults then match on headers only.
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        if length:
            environ["wsgi.input"] = io.BytesIO(raw)
        if path.startswith("/v2/"):
            # The registry behind ECR, not an AWS API.
            status, headers, payload = proxy_registry(environ, raw)
            start_response(f"{status} {http.client.responses.get(status, 'Unknown')}", headers)
            return [payload]
        body = raw.decode("utf-8", "replace")
        operation = operation_of(environ, body)
        delay = latency_for(operation, body)
        if delay:
            time.sleep(delay / 1000)
        moved = s3_wrong_region(environ, operation)
        if moved:
            return self.respond(start_response, *moved)
        fault = (take_request_fault(operation, body, path) or expired_token(environ)
                 or tag_policy_refusal(operation, body) or aws_spec.check(environ, raw)
                 or cross_account_refusal(environ, operation, body))
        if fault and fault.get("code") == "ExpiredToken" and operation.split(":", 1)[0] in JSON_TARGETS.values():
            fault = dict(fault, code="ExpiredTokenException")
        if fault:
            status, headers, payload = error_response(operation, fault)
            start_response(f"{status} Error", headers + [("Content-Length", str(len(payload)))])
            return [payload]
        if operation in SERVICE_DEPLOYMENT_OPS:
            return self.respond(start_response, *service_deployments(environ, operation, body))
        if operation.startswith("ecr:") and operation.split(":", 1)[1] in ECR_IMAGE_OPS:
            return self.respond(start_response, *ecr_image_operation(environ, operation, body))
        if path == "/moto-api/reset":
            with LOCK:
                FAULTS.clear()
        conditional = environ.get("HTTP_IF_NONE_MATCH") == "*" or environ.get("HTTP_IF_MATCH")
        if conditional and environ.get("REQUEST_METHOD") in ("PUT", "DELETE"):
            # S3 decides a conditional write or delete atomically; moto checks, then writes.
            # Serialise them so exactly one of two racing writers wins, as on S3 (the lock).
            with CONDITIONAL_WRITES:
                return list(self.app(environ, start_response))
        return self.app(environ, start_response)

    @staticmethod
    def account_of(environ, path):
        """The account a request is for: a registry request's is the account whose front it
        came to; an AWS request's is its credentials' (the stack's access keys are account
        ids, and a session STS issued belongs to its role's account); else the default."""
        if path.startswith("/v2/"):
            port = environ.get("SERVER_PORT", "")
            return next((a for a, front in FRONTS.items() if front.endswith(":" + port)), DEFAULT_ACCOUNT)
        key = next(iter(credential_scope(environ)), "")
        if key in REGISTRIES:
            return key
        token = environ.get("HTTP_X_AMZ_SECURITY_TOKEN")
        for backends in list(sts_models.sts_backends.values()):
            for backend in list(backends.values()):
                for role in backend.assumed_roles:
                    if role.access_key_id == key or (token and role.session_token == token):
                        return role.account_id
        return DEFAULT_ACCOUNT

    def api(self, environ, start_response, route):
        method = environ.get("REQUEST_METHOD")
        try:
            if route == "health":
                return self.json(start_response, 200, {"ok": True, "registries": REGISTRIES, "fronts": FRONTS, "step_seconds": STEP, "time_scale": TIME_SCALE,
                                                       "run_containers": RUN_CONTAINERS})
            if route == "faults" and method == "GET":
                with LOCK:
                    return self.json(start_response, 200, {"faults": list(FAULTS.values())})
            if route == "faults" and method == "POST":
                length = int(environ.get("CONTENT_LENGTH") or 0)
                fault = add_fault(json.loads(environ["wsgi.input"].read(length) or b"{}"))
                return self.json(start_response, 200, fault)
            if route.startswith("faults/") and method == "DELETE":
                with LOCK:
                    FAULTS.pop(route.split("/", 1)[1], None)
                return self.json(start_response, 200, {})
            if route == "network":
                return self.json(start_response, 200, default_network(environ))
            if route == "spec":
                return self.json(start_response, *aws_spec.api(method, environ.get("QUERY_STRING", "")))
            if route == "clock" and method == "POST":
                global CLOCK_OFFSET
                length = int(environ.get("CONTENT_LENGTH") or 0)
                CLOCK_OFFSET = float(json.loads(environ["wsgi.input"].read(length) or b"{}").get("offset_seconds", 0))
                return self.json(start_response, 200, {"offset_seconds": CLOCK_OFFSET})
            if route == "clock":
                return self.json(start_response, 200, {"offset_seconds": CLOCK_OFFSET})
            if route == "tasks":
                with LOCK:
                    return self.json(start_response, 200, {"tasks": running_tasks()})
            if route == "balancers" and method == "POST":
                length = int(environ.get("CONTENT_LENGTH") or 0)
                wanted = json.loads(environ["wsgi.input"].read(length) or b"{}")
                return self.json(start_response, 200, ensure_balancer(wanted, request_region(environ)))
            if route == "balancers":
                return self.json(start_response, 200, {"balancers": list_balancers()})
            if route == "alarms" and method == "POST":
                length = int(environ.get("CONTENT_LENGTH") or 0)
                wanted = json.loads(environ["wsgi.input"].read(length) or b"{}")
                return self.json(start_response, 200, set_alarm(wanted, request_region(environ)))
        except (ValueError, KeyError) as err:
            return self.json(start_response, 400, {"error": str(err)})
        return self.json(start_response, 404, {"error": f"no such route /_xtask/{route}"})

    @staticmethod
    def json(start_response, status, value):
        return Middleware.respond(start_response, status, [("Content-Type", "application/json")],
                                  json.dumps(value, default=str).encode())

    @staticmethod
    def respond(start_response, status, headers, body):
        start_response(f"{status} {http.client.responses.get(status, 'Unknown')}",
                       headers + [("Content-Length", str(len(body)))])
        return [body]


def default_network(environ):
    """The default VPC's subnets and security group, for awsvpc tasks (moto creates them)."""
    from moto.ec2.models import ec2_backends

    query = dict(part.split("=", 1) for part in environ.get("QUERY_STRING", "").split("&") if "=" in part)
    ec2 = ec2_backends[query.get("account", DEFAULT_ACCOUNT)][query.get("region", "us-east-1")]
    vpc = ec2.default_vpc
    subnets = sorted(s.id for s in ec2.describe_subnets(filters={"vpc-id": [vpc.id]}))
    groups = ec2.describe_security_groups(filters={"vpc-id": [vpc.id], "group-name": ["default"]})
    return {"vpc": vpc.id, "subnets": subnets, "security_groups": [g.id for g in groups]}


# ---------------------------------------------------------------- ECR on the registry ------

ECR_IMAGE_OPS = {"ListImages", "DescribeImages", "BatchGetImage", "PutImage", "BatchDeleteImage",
                 "DescribeImageScanFindings"}

MANIFEST_TYPES = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
]


def registry(account, method, path, body=None, headers=None):
    """(status, headers, body) of a call to the API of `account`'s registry; a registry that
    does not answer is ECR's ServerException (HTTP 500, which SDKs retry)."""
    request = urllib.request.Request(f"http://{REGISTRIES[account]}{path}", data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()
    except OSError as err:
        raise AwsError("ServerException", f"the registry did not answer {method} {path}: {err}", 500)


# Headers that belong to one connection, never forwarded (RFC 9110, section 7.6.1).
HOP_HEADERS = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
               "transfer-encoding", "upgrade"}


def proxy_registry(environ, raw):
    """The registry API, as ECR serves it: every request is the registry's answer, except a
    manifest push that would move an existing tag of an immutable repository, refused as ECR
    refuses it (`TAG_INVALID`). Requests go with the registry's own `Host`, so the upload
    URLs it answers with point at it: blob uploads go to it directly."""
    method, path = environ.get("REQUEST_METHOD", "GET"), environ.get("PATH_INFO", "")
    account = current_account()
    refusal = unauthorized(environ, account, method, path) or immutable_tag_refusal(account, method, path, raw)
    if refusal:
        return refusal
    headers = {key[5:].replace("_", "-").title(): value for key, value in environ.items()
               if key.startswith("HTTP_") and key != "HTTP_HOST"}
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            headers[key.replace("_", "-").title()] = environ[key]
    query = environ.get("QUERY_STRING", "")
    connection = http.client.HTTPConnection(REGISTRIES[account], timeout=300)
    try:
        connection.request(method, path + (f"?{query}" if query else ""), body=raw or None, headers=headers)
        response = connection.getresponse()
        body = response.read()
        kept = [(k, v) for k, v in response.getheaders() if k.lower() not in HOP_HEADERS]
        return response.status, kept, body
    finally:
        connection.close()


def registry_auth(account):
    """The `Authorization` header of `account`'s ECR login (GetAuthorizationToken's
    user:password)."""
    return "Basic " + base64.b64encode(f"AWS:{REGISTRY_PASSWORD}.{account}".encode()).decode()


def login_account(environ):
    """The account whose ECR login a registry request carries, or None."""
    return next((a for a in REGISTRIES if environ.get("HTTP_AUTHORIZATION") == registry_auth(a)), None)


def unauthorized(environ, account, method, path):
    """ECR's answer to a registry request without a login: 401 with a Basic challenge, which
    is what makes Docker send the credentials its helper or store gives it. Another
    account's login may pull where the repository's policy lets that account pull
    (ecr:BatchGetImage), and push nowhere; else 403 DENIED, as ECR answers."""
    caller = login_account(environ)
    if caller == account or path == "/v2/" and caller is not None:
        return None
    if caller is not None:
        name = path[len("/v2/"):].split("/manifests/")[0].split("/blobs/")[0]
        repo = next((regions[r].repositories.get(name) for regions in [ecr_models.ecr_backends[account]]
                     for r in list(regions.keys()) if regions[r].repositories.get(name)), None)
        pulls = method in ("GET", "HEAD") and ("/manifests/" in path or "/blobs/" in path)
        if pulls and repo is not None and policy_allows(repo.policy, caller, "ecr:BatchGetImage"):
            return None
        body = json.dumps({"errors": [{"code": "DENIED", "message":
                f"User: arn:aws:iam::{caller}:root is not authorized to perform on repository {name}"}]}).encode()
        return 403, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))], body
    body = b'{"errors":[{"code":"UNAUTHORIZED","message":"Not Authorized"}]}'
    return 401, [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                 ("Docker-Distribution-Api-Version", "registry/2.0"),
                 ("WWW-Authenticate", f'Basic realm="http://{FRONTS[account]}/",service="ecr.amazonaws.com"')], body


def immutable_tag_refusal(account, method, path, raw):
    """ECR's answer to a manifest push that would move a tag of an immutable repository."""
    if method != "PUT" or "/manifests/" not in path:
        return None
    name, reference = path[len("/v2/"):].split("/manifests/", 1)
    if reference.startswith("sha256:"):
        return None
    repos = [backend.repositories.get(name) for backend in list(dict.values(ecr_models.ecr_backends[account]))]
    repo = next((r for r in repos if r is not None), None)
    if repo is None or not repo.image_tag_mutability.startswith("IMMUTABLE"):
        return None
    try:
        existing = registry_manifest(account, name, reference)
    except AwsError as err:
        # The registry's own failure, as it would answer it: the client retries the push.
        body = json.dumps({"errors": [{"code": "UNKNOWN", "message": err.message}]}).encode()
        return 500, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))], body
    if existing is None or existing[0] == "sha256:" + hashlib.sha256(raw).hexdigest():
        return None
    message = (f"The image tag '{reference}' already exists in the '{name}' repository and cannot be "
               "overwritten because the repository is immutable.")
    body = json.dumps({"errors": [{"code": "TAG_INVALID", "message": message}]}).encode()
    return 400, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))], body


def registry_tags(account, repo):
    status, _, body = registry(account, "GET", f"/v2/{repo}/tags/list")
    if status == 404:
        return []
    if status != 200:
        raise AwsError("ServerException", f"the registry answered {status} listing {repo}'s tags: {body[:200]!r}", 500)
    return sorted(json.loads(body).get("tags") or [])


def registry_manifest(account, repo, reference):
    """(digest, media type, manifest text) of a tag or digest, or None when the registry has
    none. Any other failure is ECR's ServerException (HTTP 500, which SDKs retry), never a
    missing image: the registry's filesystem storage answers 500 ("invalid checksum digest
    format") to a read racing a concurrent push of the same manifest."""
    status, headers, body = registry(account, "GET", f"/v2/{repo}/manifests/{reference}",
                                     headers={"Accept": ", ".join(MANIFEST_TYPES)})
    if status == 404:
        return None
    if status != 200:
        raise AwsError("ServerException",
                       f"the registry answered {status} for {repo}@{reference}: {body[:200]!r}", 500)
    lower = {k.lower(): v for k, v in headers.items()}
    digest = lower.get("docker-content-digest") or "sha256:" + hashlib.sha256(body).hexdigest()
    return digest, lower.get("content-type", "").split(";")[0], body.decode()


def registry_images(account, repo):
    """Every image of a repository: digest -> {tags, media type, manifest}."""
    images = {}
    for tag in registry_tags(account, repo):
        found = registry_manifest(account, repo, tag)
        if found is None:
            continue
        digest, media_type, manifest = found
        image = images.setdefault(digest, {"tags": [], "media_type": media_type, "manifest": manifest})
        image["tags"].append(tag)
    return images


class AwsError(Exception):
    def __init__(self, code, message, status=400):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def ecr_image_operation(environ, operation, body):
    """Answers an ECR image operation from the registry, in ECR's JSON protocol."""
    params = json.loads(body or "{}")
    action = operation.split(":", 1)[1]
    try:
        repo = ecr_repository(environ, params)
        result = {
            "ListImages": ecr_list_images,
            "DescribeImages": ecr_describe_images,
            "BatchGetImage": ecr_batch_get_image,
            "PutImage": ecr_put_image,
            "BatchDeleteImage": ecr_batch_delete_image,
            "DescribeImageScanFindings": ecr_describe_image_scan_findings,
        }[action](repo, params)
        payload, status = json.dumps(result, default=str), 200
        headers = [("Content-Type", "application/x-amz-json-1.1")]
    except AwsError as err:
        payload, status = json.dumps({"__type": err.code, "message": err.message}), err.status
        headers = [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-ErrorType", err.code)]
    return status, headers + [("x-amzn-RequestId", str(uuid.uuid4()))], payload.encode()


def ecr_repository(environ, params):
    """The moto repository the request names, in the registry it names (the caller's by
    default; cross_account_refusal has checked another's policy), or
    RepositoryNotFoundException."""
    account = params.get("registryId") or current_account()
    region = request_region(environ)
    name = params.get("repositoryName", "")
    backend = ecr_models.ecr_backends[account][region]
    repo = backend.repositories.get(name)
    if repo is None:
        raise AwsError("RepositoryNotFoundException",
                       f"The repository with name '{name}' does not exist in the registry with id '{account}'")
    return repo


def image_detail(repo, digest, image):
    manifest = json.loads(image["manifest"])
    size = sum(layer.get("size", 0) for layer in manifest.get("layers", []))
    detail = {
        "registryId": repo.registry_id,
        "repositoryName": repo.name,
        "imageDigest": digest,
        "imageSizeInBytes": size,
        "imagePushedAt": time.time(),
        "imageManifestMediaType": image["media_type"],
    }
    if image["tags"]:
        detail["imageTags"] = sorted(image["tags"])
    return detail


def ecr_list_images(repo, params):
    ids = []
    for digest, image in registry_images(repo.registry_id, repo.name).items():
        ids.extend({"imageDigest": digest, "imageTag": tag} for tag in image["tags"])
    return {"imageIds": ids}


def resolve(repo, images, image_id):
    """The digest an imageId names, or None."""
    if "imageDigest" in image_id:
        digest = image_id["imageDigest"]
        if digest not in images:
            # ECR keeps an image whose last tag moved to another one (untagged, until a
            # lifecycle rule expires it): a deploy that pushed it still finds it by digest.
            found = registry_manifest(repo.registry_id, repo.name, digest)
            if found is None:
                return None
            images[digest] = {"tags": [], "media_type": found[1], "manifest": found[2]}
        if "imageTag" in image_id and image_id["imageTag"] not in images[digest]["tags"]:
            return None
        return digest
    return next((d for d, image in images.items() if image_id.get("imageTag") in image["tags"]), None)


def ecr_describe_images(repo, params):
    images = registry_images(repo.registry_id, repo.name)
    if not params.get("imageIds"):
        return {"imageDetails": [image_detail(repo, d, i) for d, i in images.items()]}
    details = []
    for image_id in params["imageIds"]:
        digest = resolve(repo, images, image_id)
        if digest is None:
            raise AwsError(
                "ImageNotFoundException",
                f"The image with imageId {{imageDigest:'{image_id.get('imageDigest', 'null')}', "
                f"imageTag:'{image_id.get('imageTag', 'null')}'}} does not exist within the repository "
                f"with name '{repo.name}' in the registry with id '{repo.registry_id}'",
            )
        details.append(image_detail(repo, digest, images[digest]))
    return {"imageDetails": details}


# ECR's ScanStatus values (botocore's model).
SCAN_STATUSES = ("IN_PROGRESS", "COMPLETE", "FAILED", "UNSUPPORTED_IMAGE", "ACTIVE", "PENDING",
                 "SCAN_ELIGIBILITY_EXPIRED", "FINDINGS_UNAVAILABLE", "LIMIT_EXCEEDED", "IMAGE_ARCHIVED")


def ecr_describe_image_scan_findings(repo, params):
    """An image's scan, as Amazon Inspector's enhanced scanning reports it: what a `scan`
    fault scoped to the repository (and image digest) says, else COMPLETE with no finding
    (a scannable image with nothing known against it). A fault's `pending_seconds` keep it
    IN_PROGRESS that long after the first read; `status = "IN_PROGRESS"` never completes.
    Pages of `maxResults` with a `nextToken`."""
    images = registry_images(repo.registry_id, repo.name)
    image_id = params.get("imageId") or {}
    digest = resolve(repo, images, image_id)
    if digest is None:
        raise AwsError("ImageNotFoundException",
                       f"The image with imageId {{imageDigest:'{image_id.get('imageDigest', 'null')}'}} does not "
                       f"exist within the repository with name '{repo.name}' in the registry with id '{repo.registry_id}'")
    fault = find_fault({"scan"}, repository=repo.name, image=digest) or {}
    first = fault.setdefault("_first_read", {}).setdefault(digest, time.time()) if fault else time.time()
    status = fault.get("status", "COMPLETE")
    if status == "COMPLETE" and time.time() - first < fault.get("pending_seconds", 0):
        status = "IN_PROGRESS"
    answer = {"registryId": repo.registry_id, "repositoryName": repo.name,
              "imageId": {"imageDigest": digest},
              "imageScanStatus": {"status": status, "description": fault.get("description", f"The scan is {status}.")}}
    if status not in ("COMPLETE", "ACTIVE"):
        return answer
    findings = [enhanced_finding(repo, digest, f) for f in fault.get("findings", [])]
    start = int(params.get("nextToken") or 0)
    size = min(int(params.get("maxResults") or 100), 1000)
    counts = {}
    for finding in findings:
        counts[finding["severity"]] = counts.get(finding["severity"], 0) + 1
    answer["imageScanFindings"] = {"enhancedFindings": findings[start:start + size],
                                   "findingSeverityCounts": counts,
                                   "imageScanCompletedAt": now().timestamp()}
    if start + size < len(findings):
        answer["nextToken"] = str(start + size)
    return answer


def enhanced_finding(repo, digest, wanted):
    """An EnhancedImageScanFinding (the Inspector shape) of one configured finding:
    `{"id", "severity", "package", "version", "fixed_in"}`."""
    package = {"name": wanted.get("package", "unknown"), "version": wanted.get("version", "0"),
               "packageManager": "CARGO", "filePath": "/app"}
    if wanted.get("fixed_in"):
        package["fixedInVersion"] = wanted["fixed_in"]
    return {
        "awsAccountId": repo.registry_id,
        "findingArn": f"arn:aws:inspector2:{repo.region_name}:{repo.registry_id}:finding/{uuid.uuid4().hex}",
        "severity": wanted.get("severity", "UNDEFINED"),
        "status": "ACTIVE",
        "type": "PACKAGE_VULNERABILITY",
        "title": f"{wanted.get('id')} - {package['name']}",
        "fixAvailable": "YES" if wanted.get("fixed_in") else "NO",
        "packageVulnerabilityDetails": {"vulnerabilityId": wanted.get("id"), "source": "NVD",
                                        "vulnerablePackages": [package]},
    }


def resolve_batch(repo, params):
    """The registry's images, the (imageId, digest) pairs of a batch request that exist,
    and a failure for each that does not, as ECR's batch operations report them."""
    images = registry_images(repo.registry_id, repo.name)
    found, failures = [], []
    for image_id in params.get("imageIds", []):
        digest = resolve(repo, images, image_id)
        if digest is None:
            failures.append({"imageId": image_id, "failureCode": "ImageNotFound",
                             "failureReason": "Requested image not found"})
        else:
            found.append((image_id, digest))
    return images, found, failures


def ecr_batch_get_image(repo, params):
    images, resolved, failures = resolve_batch(repo, params)
    found = []
    for image_id, digest in resolved:
        found.append({
            "registryId": repo.registry_id,
            "repositoryName": repo.name,
            "imageId": {"imageDigest": digest, **({"imageTag": image_id["imageTag"]} if "imageTag" in image_id else {})},
            "imageManifest": images[digest]["manifest"],
            "imageManifestMediaType": images[digest]["media_type"],
        })
    return {"images": found, "failures": failures}


def ecr_put_image(repo, params):
    manifest = params["imageManifest"]
    tag = params.get("imageTag")
    media_type = params.get("imageManifestMediaType") or json.loads(manifest).get("mediaType")
    if not tag:
        raise AwsError("InvalidParameterException", "An image tag is required here")
    digest = "sha256:" + hashlib.sha256(manifest.encode()).hexdigest()
    if params.get("imageDigest") and params["imageDigest"] != digest:
        raise AwsError("ImageDigestDoesNotMatchException",
                       f"The provided image digest does not match the manifest digest {digest}")
    existing = registry_manifest(repo.registry_id, repo.name, tag)
    if existing and existing[0] == digest:
        raise AwsError("ImageAlreadyExistsException",
                       f"Image with digest '{digest}' and tag '{tag}' already exists in the repository "
                       f"with name '{repo.name}' in registry with id '{repo.registry_id}'")
    if existing and repo.image_tag_mutability.startswith("IMMUTABLE"):
        raise AwsError("ImageTagAlreadyExistsException",
                       f"The image tag '{tag}' already exists in the '{repo.name}' repository and cannot "
                       "be overwritten because the repository is immutable.")
    status, _, body = registry(repo.registry_id, "PUT", f"/v2/{repo.name}/manifests/{tag}", manifest.encode(),
                               {"Content-Type": media_type})
    if status not in (200, 201):
        raise AwsError("ServerException", f"the registry refused the manifest: {status} {body[:200]!r}", 500)
    return {"image": {"registryId": repo.registry_id, "repositoryName": repo.name,
                      "imageId": {"imageDigest": digest, "imageTag": tag},
                      "imageManifest": manifest, "imageManifestMediaType": media_type}}


def ecr_batch_delete_image(repo, params):
    images, resolved, failures = resolve_batch(repo, params)
    deleted = []
    for _, digest in resolved:
        registry(repo.registry_id, "DELETE", f"/v2/{repo.name}/manifests/{digest}")
        deleted.extend({"imageDigest": digest, "imageTag": tag} for tag in images[digest]["tags"])
    return {"imageIds": deleted, "failures": failures}


def patch_ecr():
    original_init = ecr_models.Repository.__init__

    def repository_init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        # `docker push` of an image named after the repository URI goes through this
        # server to the registry, so that ECR's rules (immutable tags) hold for it too.
        self.uri = f"{FRONTS.get(self.registry_id, FRONTS[DEFAULT_ACCOUNT])}/{self.name}"

    def get_authorization_token(self):
        account = current_account()
        token = registry_auth(account).split(" ", 1)[1]
        return ActionResult({"authorizationData": [{
            "authorizationToken": token,
            "expiresAt": datetime.fromtimestamp(time.time() + 12 * 3600, timezone.utc),
            "proxyEndpoint": f"http://{FRONTS.get(account, FRONTS[DEFAULT_ACCOUNT])}",
        }]})

    ecr_models.Repository.__init__ = repository_init
    ecr_responses.ECRResponse.get_authorization_token = get_authorization_token


# ---------------------------------------------------------------- tasks as containers ------

RUN_CONTAINERS = os.environ.get("XTASK_RUN_CONTAINERS") == "1"
# Every container of this stack carries this label (the stack's folder), for `local down`.
STACK_LABEL = os.environ.get("XTASK_STACK", "")
# Steps a new task has to answer its health check before it counts as failed.
HEALTH_GRACE_STEPS = int(os.environ.get("XTASK_HEALTH_GRACE_STEPS", "60"))


def docker(*args):
    """(exit code, stdout, stderr) of a docker CLI call, logged in to the registry front as
    ECS's agent is (with the task execution role)."""
    env = dict(os.environ, DOCKER_CONFIG=agent_docker_config())
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=300, env=env)
    return done.returncode, done.stdout.strip(), done.stderr.strip()


def agent_docker_config():
    """A Docker config folder with each account's front login (each to its own account's
    registry), in the stack's folder (the emulator's working directory), written once per
    start."""
    folder = os.path.abspath("agent-docker")
    path = os.path.join(folder, "config.json")
    if not os.path.exists(path) or json.load(open(path)).get("password") != REGISTRY_PASSWORD:
        os.makedirs(folder, exist_ok=True)
        auths = {front: {"auth": registry_auth(account).split(" ", 1)[1]} for account, front in FRONTS.items()}
        with open(path, "w") as out:
            json.dump({"auths": auths, "password": REGISTRY_PASSWORD}, out)
    return folder


def launch(task, definition, command=None):
    """Starts the task's container (pulling its image from the registry); a failure is kept
    as the reason the task will stop with, as ECS reports it."""
    spec = main_container(definition)
    ports = spec.get("portMappings") or []
    task._port = ports[0].get("containerPort") if ports else None
    task._health = (spec.get("dockerLabels") or {}).get("xtask.health-path", "/health")
    args = ["run", "-d", "--name", f"xtask-{task.id}", "--label", f"xtask.stack={STACK_LABEL}",
            "--label", f"xtask.task={task.task_arn}", "--add-host", "host.docker.internal:host-gateway"]
    if task._port:
        args += ["-p", f"127.0.0.1::{task._port}"]
    for pair in spec.get("environment") or []:
        args += ["-e", f"{pair['name']}={pair['value']}"]
    args.append(spec.get("image", ""))
    args += command if command is not None else (spec.get("command") or [])
    code, out, err = docker(*args)
    task._container = out if code == 0 else None
    last = err.splitlines()[-1] if err else "docker run failed"
    task._launch_error = None if code == 0 else f"CannotPullContainerError: {last}"


def is_sidecar(spec):
    """A container that runs until ECS stops it (a log router, a proxy), marked with the
    `xtask.sidecar` docker label: the model cannot tell from an image what runs forever."""
    return (spec.get("dockerLabels") or {}).get("xtask.sidecar") == "true"


def main_container(definition):
    """The container whose exit ends the task: the first that is not a sidecar."""
    specs = definition.container_definitions or [{}]
    return next((c for c in specs if not is_sidecar(c)), specs[0])


def containers_of(definition):
    """One container per container definition, as ECS reports a task's (moto makes one,
    of the first definition only)."""
    made = []
    for spec in definition.container_definitions or []:
        container = ecs_models.Container(definition)
        container.name, container.image = spec.get("name"), spec.get("image")
        container.command, container.environment = spec.get("command"), spec.get("environment")
        container.cpu, container.memory = spec.get("cpu"), spec.get("memory")
        container.last_status, container.exitCode = "PENDING", None
        container._main = spec is main_container(definition)
        made.append(container)
    return made


def container_state(task):
    """("running" | "exited" | "gone", exit code or None) of a task's container."""
    if getattr(task, "_container", None) is None:
        return "gone", None
    code, out, _ = docker("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", task._container)
    if code != 0:
        return "gone", None
    status, exit_code = out.split()
    return ("running" if status in ("created", "running", "restarting") else "exited"), int(exit_code)


def url_of(task):
    """`http://127.0.0.1:PORT` where the task's container port is published."""
    if getattr(task, "_container", None) is None or not task._port:
        return None
    code, out, _ = docker("port", task._container, str(task._port))
    return f"http://{out.splitlines()[0]}" if code == 0 and out else None


def answers(url):
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200
    except Exception:
        return False


def remove_container(task):
    if getattr(task, "_container", None):
        docker("rm", "-f", task._container)


def running_tasks():
    """Every task with a live container, for `local status`."""
    found = []
    for backend in [b for regions in list(ecs_models.ecs_backends.values()) for b in list(regions.values())]:
        for cluster, tasks in backend.tasks.items():
            for task in tasks.values():
                if getattr(task, "_container", None) and task.status != "STOPPED":
                    url = url_of(task)
                    found.append({"cluster": cluster, "group": task.group, "task": task.task_arn,
                                  "container": f"xtask-{task.id}", "url": url,
                                  "health": url + task._health if url else None})
    return found


# ---------------------------------------------------------------- the ECS model -------------


def event(service, message):
    """Prepends a service event, newest first as ECS lists them (100 at most)."""
    service.events.insert(0, {"id": str(uuid.uuid4()), "createdAt": now(),
                              "message": f"(service {service.name}) {message}"})
    del service.events[100:]


def circuit_breaker(service):
    config = getattr(service, "deployment_configuration", None) or {}
    breaker = config.get("deploymentCircuitBreaker") or {}
    return bool(breaker.get("enable")), bool(breaker.get("rollback"))


def failure_threshold(desired):
    """ECS's circuit breaker: half the desired count, at least 3, at most 200."""
    return max(3, min(200, math.ceil(desired / 2)))


def new_deployment(service, task_definition, kind):
    deployment_id = f"ecs-svc/{random.randint(10**18, 10**19 - 1)}"
    deployment = {
        "id": deployment_id,
        "status": "PRIMARY",
        "taskDefinition": task_definition,
        "desiredCount": service.desired_count,
        "pendingCount": 0,
        "runningCount": 0,
        "failedTasks": 0,
        "createdAt": now(),
        "updatedAt": now(),
        "launchType": service.launch_type,
        "networkConfiguration": service.network_configuration or None,
        "rolloutState": "IN_PROGRESS",
        "rolloutStateReason": f"ECS deployment {deployment_id} in progress.",
        # Model bookkeeping, removed before serialization (see ServiceView).
        "_started": time.time(),
        "_steps": 0,
        "_kind": kind,
        "_tasks": [],
        # The service deployment's own state (ListServiceDeployments, DescribeServiceDeployments).
        "_sd": {"status": None, "stage": "SCALE_UP", "entered": time.time(), "hooks": [], "triggered": [],
                "reason": "", "finished": None, "traffic": {"production": 0.0, "test": 0.0}},
    }
    # Every deployment the service had, for ListServiceDeployments (drained ones included).
    # A rollback is not one of them: ECS reports it in the service deployment it rolls back
    # (ROLLBACK_IN_PROGRESS, then ROLLBACK_SUCCESSFUL), not as a service deployment of its own.
    if not hasattr(service, "_history"):
        service._history = []
    if kind != "rollback":
        service._history.insert(0, deployment)
    return deployment


def image_of(backend, task_definition_arn):
    try:
        definition = backend.describe_task_definition(task_definition_arn)
    except Exception:
        return ""
    containers = definition.container_definitions or [{}]
    return containers[0].get("image", "")


def start_task(backend, service, deployment, status="RUNNING", run=True):
    """A task of `deployment`; with containers on (and `run`), its container is started."""
    cluster = backend._get_cluster(service.cluster_name)
    definition = backend.describe_task_definition(deployment["taskDefinition"])
    task = ecs_models.Task(
        cluster=cluster,
        task_definition=definition,
        container_instance_arn=None,
        resource_requirements=None,
        backend=backend,
        group=f"service:{service.name}",
        launch_type="FARGATE",
        started_by=deployment["id"],
        networking_configuration=service.network_configuration or None,
    )
    task.status = status
    task.created_at = task.started_at = now()
    for container in task.containers:
        container.last_status = status
        # ECS reports an exit code only once a container has stopped.
        container.exitCode = None
    backend.tasks.setdefault(cluster.name, {})[task.task_arn] = task
    deployment["_tasks"].append(task.task_arn)
    task._step, task._healthy, task._container, task._launch_error = deployment["_steps"], False, None, None
    if RUN_CONTAINERS and run:
        launch(task, definition)
    return task


def stop_task(backend, service, arn, reason, exit_code=0, stop_code="ServiceSchedulerInitiated"):
    task = backend.tasks.get(service.cluster_name, {}).get(arn)
    if task is not None:
        mark_stopped(task, reason, stop_code, exit_code)
    return task


def write_logs(task, exit_code):
    """What each container of a stopping task wrote, as log events where its definition's
    `awslogs` configuration sends them (`prefix/container/task-id`), as the awslogs driver
    does: a real container's own output; a modelled one's is the `logs` lines of the
    exit_code fault that decided it, else one line saying how it ended."""
    parts = task.task_arn.split(":")
    region, account = parts[3], parts[4]
    try:
        definition = ecs_models.ecs_backends[account][region].describe_task_definition(task.task_definition_arn)
    except Exception:
        return
    logs = logs_models.logs_backends[account][region]
    model = getattr(task, "_xtask", None) or {}
    fault = find_fault({"exit_code"}, family=model.get("family"), command=model.get("command")) if model else None
    for spec in definition.container_definitions or []:
        config = spec.get("logConfiguration") or {}
        options = config.get("options") or {}
        if config.get("logDriver") != "awslogs" or not options.get("awslogs-stream-prefix"):
            continue
        if getattr(task, "_container", None) and spec is main_container(definition):
            _, out, err = docker("logs", task._container)
            lines = (out + "\n" + err).strip().splitlines()
        elif fault and spec is main_container(definition):
            lines = list(fault.get("logs") or [])
        else:
            lines = [f"{spec.get('name')} exited with code {exit_code}"]
        group, stream = options["awslogs-group"], f"{options['awslogs-stream-prefix']}/{spec.get('name')}/{task.id}"
        if group not in logs.groups:
            logs.create_log_group(group, {})
        if stream not in logs.groups[group].streams:
            logs.create_log_stream(group, stream)
        stamp = int(time.time() * 1000)
        logs.put_log_events(group, stream, [{"timestamp": stamp, "message": line} for line in lines or [""]])


def mark_stopped(task, reason, stop_code, exit_code):
    """A task as ECS reports it once stopped (no exit code when `exit_code` is None)."""
    write_logs(task, exit_code)
    task.status = task.desired_status = "STOPPED"
    task.stopped_reason = reason
    task.stop_code = stop_code
    task.stopped_at = task.stopping_at = task.execution_stopped_at = now()
    for container in task.containers:
        container.last_status = "STOPPED"
        # The main container's exit stops the others: each ends on ECS's SIGTERM (143).
        others = not getattr(container, "_main", True) and exit_code is not None
        container.exitCode = 143 if others else exit_code
        if exit_code is None:
            container.reason = reason.split(":", 1)[0]
    remove_container(task)


def task_id(arn):
    return arn.rsplit("/", 1)[-1]


def advance_service(backend, service):
    """Runs the service's due steps of its in-progress deployment."""
    for deployment in list(service.deployments):
        if deployment.get("rolloutState") != "IN_PROGRESS" or "_started" not in deployment:
            continue
        due = int((time.time() - deployment["_started"]) / STEP)
        while deployment["_steps"] < due and deployment.get("rolloutState") == "IN_PROGRESS":
            deployment["_steps"] += 1
            step(backend, service, deployment)
    primary = next((d for d in service.deployments if d["status"] == "PRIMARY"), None)
    service.running_count = sum(d.get("runningCount", 0) for d in service.deployments)
    service.pending_count = sum(d.get("pendingCount", 0) for d in service.deployments)
    if primary:
        service.task_definition = primary["taskDefinition"]


def step(backend, service, deployment):
    """One tick of a deployment: start, fail, drain or complete."""
    image = image_of(backend, deployment["taskDefinition"])
    desired = deployment["desiredCount"]
    deployment["updatedAt"] = now()
    if shifts_traffic(deployment) and deployment["_sd"]["stage"] not in ("PRE_SCALE_UP", "SCALE_UP"):
        return advance_stages(backend, service, deployment)
    if shifts_traffic(deployment):
        deployment["_sd"]["stage"] = "SCALE_UP"
    elif deployment["_kind"] == "rollout":
        triggered = alarms_in_alarm(service, deployment)
        if triggered:
            return alarm_failure(backend, service, deployment, triggered)
    crash = deployment["_kind"] == "rollout" and find_fault({"crash_loop"}, service=service.name, image=image)
    stuck = deployment["_kind"] == "rollout" and find_fault({"never_stable"}, service=service.name, image=image)
    if crash:
        task = start_task(backend, service, deployment, run=False)
        event(service, f"has started 1 tasks: (task {task_id(task.task_arn)}).")
        stop_task(backend, service, task.task_arn, "Essential container in task exited", exit_code=1,
                  stop_code="EssentialContainerExited")
        event(service, f"has stopped 1 running tasks: (task {task_id(task.task_arn)}).")
        deployment["failedTasks"] += 1
        enabled, rollback = circuit_breaker(service)
        if enabled and deployment["failedTasks"] >= failure_threshold(desired):
            fail(backend, service, deployment, rollback)
        return
    if RUN_CONTAINERS and not stuck:
        return step_containers(backend, service, deployment)
    if deployment["_steps"] == 1:
        tasks = [start_task(backend, service, deployment) for _ in range(desired)]
        deployment["pendingCount"] = desired
        if tasks:
            listed = " ".join(f"(task {task_id(t.task_arn)})" for t in tasks)
            event(service, f"has started {len(tasks)} tasks: {listed}.")
    elif stuck:
        # Tasks start but never all become healthy: the rollout never settles.
        deployment["runningCount"] = max(desired - 1, 0)
        deployment["pendingCount"] = desired - deployment["runningCount"]
    elif deployment["_steps"] == 2:
        deployment["runningCount"], deployment["pendingCount"] = desired, 0
    elif shifts_traffic(deployment):
        advance_stages(backend, service, deployment)
    elif deployment["_steps"] == 3:
        drain(backend, service, deployment)
    else:
        complete(service, deployment)


def complete(service, deployment):
    deployment["rolloutState"] = "COMPLETED"
    deployment["rolloutStateReason"] = f"ECS deployment {deployment['id']} completed."
    event(service, f"(deployment {deployment['id']}) deployment completed.")
    event(service, "has reached a steady state.")


def listed(tasks):
    return " ".join(f"(task {task_id(t.task_arn)})" for t in tasks)


def step_containers(backend, service, deployment):
    """A step with real containers: exited or never-healthy tasks fail (the circuit breaker
    counts them), missing tasks start, healthy ones run; old tasks stop only once every new
    one answers its health check."""
    desired = deployment["desiredCount"]
    cluster_tasks = backend.tasks.get(service.cluster_name, {})
    live = [cluster_tasks[a] for a in deployment["_tasks"] if a in cluster_tasks and cluster_tasks[a].status != "STOPPED"]
    failed = []
    for task in live:
        state, code = container_state(task)
        overdue = not task._healthy and deployment["_steps"] - task._step > HEALTH_GRACE_STEPS
        if state == "running" and not overdue:
            continue
        if task._launch_error:
            reason, stop_code = task._launch_error, "TaskFailedToStart"
        elif state == "exited":
            reason, stop_code = "Essential container in task exited", "EssentialContainerExited"
        else:
            reason, stop_code = "Task failed container health checks", "TaskFailedToStart"
        stop_task(backend, service, task.task_arn, reason, exit_code=code, stop_code=stop_code)
        failed.append(task)
    if failed:
        deployment["failedTasks"] += len(failed)
        event(service, f"has stopped {len(failed)} running tasks: {listed(failed)}.")
        enabled, rollback = circuit_breaker(service)
        if enabled and deployment["failedTasks"] >= failure_threshold(desired):
            return fail(backend, service, deployment, rollback)
    live = [t for t in live if t not in failed]
    if len(live) < desired:
        started = [start_task(backend, service, deployment) for _ in range(desired - len(live))]
        event(service, f"has started {len(started)} tasks: {listed(started)}.")
        live += started
    for task in live:
        url = url_of(task)
        if not task._healthy and url and answers(url + task._health):
            task._healthy = True
    healthy = sum(1 for t in live if t._healthy)
    deployment["runningCount"], deployment["pendingCount"] = healthy, desired - healthy
    if healthy < desired:
        return None
    if shifts_traffic(deployment):
        return advance_stages(backend, service, deployment)
    if any(d is not deployment for d in service.deployments):
        return drain(backend, service, deployment)
    return complete(service, deployment)


def drain(backend, service, deployment):
    """Stops the tasks of every other deployment and removes those deployments."""
    stopped = []
    for other in [d for d in service.deployments if d is not deployment]:
        for arn in other.get("_tasks", []):
            task = backend.tasks.get(service.cluster_name, {}).get(arn)
            if task is not None and task.status != "STOPPED":
                stop_task(backend, service, arn, f"Scaling activity initiated by (deployment {deployment['id']})")
                stopped.append(task_id(arn))
        service.deployments.remove(other)
    if stopped:
        listed = " ".join(f"(task {t})" for t in stopped)
        event(service, f"has stopped {len(stopped)} running tasks: {listed}.")


def fail(backend, service, deployment, rollback, reason="ECS deployment circuit breaker: tasks failed to start."):
    if shifts_traffic(deployment):
        return shift_back(backend, service, deployment, reason) if rollback else stop_shift(service, deployment, reason)
    deployment["rolloutState"] = "FAILED"
    deployment["rolloutStateReason"] = reason
    event(service, f"(deployment {deployment['id']}) deployment failed: {reason.split(': ', 1)[-1].rstrip('.')}.")
    previous = next((d for d in service.deployments if d is not deployment and d["status"] == "ACTIVE"), None)
    if not rollback or previous is None:
        deployment["_sd"].update(status="STOPPED", reason=reason, finished=now())
        return
    deployment["status"] = "ACTIVE"
    previous["status"] = "ACTIVE"
    restore = new_deployment(service, previous["taskDefinition"], "rollback")
    # The failed service deployment's status follows its rollback (ROLLBACK_IN_PROGRESS, then
    # ROLLBACK_SUCCESSFUL or ROLLBACK_FAILED), as ECS reports one service deployment.
    deployment["_sd"]["reason"] = reason
    deployment["_restored_by"] = restore
    service.deployments.insert(0, restore)
    event(service, f"rolling back to deployment {previous['id']}.")


def start_rollout(backend, service, task_definition):
    for deployment in service.deployments:
        deployment["status"] = "ACTIVE"
    deployment = new_deployment(service, task_definition, "rollout")
    # ECS deploys with the configuration the service has when the deployment starts.
    deployment["_config"] = copy.deepcopy(getattr(service, "deployment_configuration", None) or {})
    deployment["_sd"]["stage"] = "PRE_SCALE_UP" if shifts_traffic(deployment) else "SCALE_UP"
    service.deployments.insert(0, deployment)


def settled_deployment(service, task_definition):
    """The single COMPLETED deployment of a service created steady (as ECS reports it)."""
    deployment = new_deployment(service, task_definition, "initial")
    deployment.update(runningCount=service.desired_count, pendingCount=0, rolloutState="COMPLETED",
                      rolloutStateReason=f"ECS deployment {deployment['id']} completed.")
    return deployment


def advance_cluster(backend, cluster, run_tasks=True):
    """Moves the model of one cluster on: its services' rollouts and, unless the caller
    advances the ones it reads itself, its RunTask tasks. Only that cluster: a long-lived
    stack holds many clusters, and each poll advancing all of them made every poll slower."""
    for service in backend.services.values():
        if service.cluster_name == cluster:
            advance_service(backend, service)
    if run_tasks:
        for task in (backend.tasks.get(cluster) or {}).values():
            advance_run_task(backend, task)


def advance_run_task(backend, task):
    """PROVISIONING -> PENDING -> RUNNING -> STOPPED. The exit code is the container's when
    it really runs, else the one faults decide (0 by default)."""
    model = getattr(task, "_xtask", None)
    if model is None or task.desired_status == "STOPPED":
        return
    steps = int((time.time() - model["started"]) / STEP)
    if steps < 2:
        task.status = ("PROVISIONING", "PENDING")[steps]
        return
    if not model["simulated"]:
        if task._launch_error:
            return mark_stopped(task, task._launch_error, "TaskFailedToStart", None)
        state, code = container_state(task)
        if state == "running":
            return set_running(task)
        return mark_stopped(task, "Essential container in task exited", "EssentialContainerExited", code)
    if steps < 4 or find_fault({"runs_forever"}, family=model["family"], command=model["command"]):
        return set_running(task)
    scope = {"family": model["family"], "command": model["command"]}
    if find_fault({"no_exit_code"}, **scope):
        reason = "CannotStartContainerError: the container runtime failed to start the container"
        return mark_stopped(task, reason, "TaskFailedToStart", None)
    fault = find_fault({"exit_code"}, **scope)
    return mark_stopped(task, "Essential container in task exited", "EssentialContainerExited",
                        fault["code"] if fault else 0)


def set_running(task):
    task.status = "RUNNING"
    for container in task.containers:
        container.last_status = "RUNNING"
    if not getattr(task, "started_at", None):
        task.started_at = now()


def patch_ecs():
    backend_class = ecs_models.EC2ContainerServiceBackend
    original = {name: getattr(backend_class, name) for name in
                ("create_service", "update_service", "describe_services", "list_tasks", "describe_tasks",
                 "run_task")}

    def create_service(self, *args, **kwargs):
        with LOCK:
            service = original["create_service"](self, *args, **kwargs)
            if service.task_definition:
                deployment = settled_deployment(service, service.task_definition)
                service.deployments = [deployment]
                tasks = [start_task(self, service, deployment) for _ in range(service.desired_count)]
                if tasks:
                    listed = " ".join(f"(task {task_id(t.task_arn)})" for t in tasks)
                    event(service, f"has started {len(tasks)} tasks: {listed}.")
                service.running_count, service.pending_count = service.desired_count, 0
                event(service, "has reached a steady state.")
            return service

    def update_service(self, properties):
        with LOCK:
            cluster = properties.get("cluster", "default")
            name = properties["service"].split("/")[-1]
            service = self._get_service(cluster, name)
            controller = (getattr(service, "deployment_controller", None) or {}).get("type", "ECS")
            if properties.get("task_definition") and controller != "ECS":
                # As ECS answers: only its own controller takes a task definition here.
                raise InvalidParameterException(
                    f"Unable to update task definition on services with a {controller} deployment controller.")
            advance_service(self, service)
            before = service.task_definition
            wanted = properties.get("task_definition")
            force = properties.get("force_new_deployment")
            desired = properties.get("desired_count")
            # moto would rewrite the first deployment in place on a forced deployment: hide ours.
            saved, service.deployments = service.deployments, []
            try:
                updated = original["update_service"](self, dict(properties))
            finally:
                service.deployments = saved
            arn = self.describe_task_definition(wanted).arn if wanted else before
            updated.task_definition = before
            if properties.get("capacity_provider_strategy"):
                # A service moved to a capacity provider strategy has no launch type.
                updated.launch_type = None
            if properties.get("load_balancers") is not None:
                # moto keeps a service's first load balancers; UpdateService replaces them.
                updated.load_balancers = properties["load_balancers"]
            if properties.get("deployment_configuration"):
                # moto keeps no deployment configuration: ECS replaces what is given.
                current = getattr(updated, "deployment_configuration", None) or {}
                updated.deployment_configuration = {**current, **properties["deployment_configuration"]}
                refuse_unroutable_shift(updated)
            if desired is not None:
                for deployment in updated.deployments:
                    if deployment["status"] == "PRIMARY":
                        deployment["desiredCount"] = desired
            if arn != before or force:
                start_rollout(self, updated, arn)
            advance_service(self, updated)
            return updated

    def describe_services(self, cluster, names):
        with LOCK:
            found, failures = original["describe_services"](self, cluster, names)
            for service in found:
                advance_service(self, service)
            return [ServiceView(s, staleness(s.cluster_name)) for s in found], failures

    def list_tasks(self, cluster_str=None, container_instance=None, family=None, started_by=None,
                   service_name=None, desiredStatus=None):
        # ListTasks lists the tasks whose desired status is RUNNING unless asked for another
        # (the API reference's `desiredStatus`: "The default status filter is RUNNING"); moto
        # lists every task. Its cluster filter is a substring match; ECS's is exact.
        with LOCK:
            cluster = (cluster_str or "default").split("/")[-1]
            advance_cluster(self, cluster)
            found = original["list_tasks"](self, cluster_str, container_instance, family, started_by,
                                           None, desiredStatus or "RUNNING")
            found = [t for t in found if t.cluster_arn.split("/")[-1] == cluster]
            if service_name:
                found = [t for t in found if t.group == f"service:{service_name.split('/')[-1]}"]
            return found

    def describe_tasks(self, cluster_str, tasks):
        with LOCK:
            advance_cluster(self, (cluster_str or "default").split("/")[-1], run_tasks=False)
            found = original["describe_tasks"](self, cluster_str, tasks)
            for task in found:
                advance_run_task(self, task)
            cutoff = time.time() - staleness(cluster_str.split("/")[-1])
            return [t for t in found if getattr(t, "_xtask", {}).get("started", 0) <= cutoff]

    def run_task(self, cluster_str, task_definition_str, count, overrides, *args, **kwargs):
        with LOCK:
            tasks = original["run_task"](self, cluster_str, task_definition_str, count, overrides, *args, **kwargs)
            definition = self.describe_task_definition(task_definition_str)
            main = main_container(definition)
            # The main container's override (by name, as ECS matches them), else its command.
            override = next((o.get("command") for o in (overrides or {}).get("containerOverrides") or []
                             if o.get("name") == main.get("name")), None)
            command = " ".join(override or main.get("command") or [])
            faulted = find_fault({"exit_code", "no_exit_code"}, family=definition.family, command=command)
            for task in tasks:
                simulated = not RUN_CONTAINERS or faulted is not None
                task._xtask = {"started": time.time(), "family": definition.family, "command": command,
                               "simulated": simulated}
                task.status = "PROVISIONING"
                task.created_at = now()
                task.containers = containers_of(definition)
                if not simulated:
                    launch(task, definition, override)
            return tasks

    for name, function in [("create_service", create_service), ("update_service", update_service),
                           ("describe_services", describe_services), ("list_tasks", list_tasks),
                           ("describe_tasks", describe_tasks), ("run_task", run_task)]:
        setattr(backend_class, name, function)

    original_response_create = ecs_responses.EC2ContainerServiceResponse.create_service

    def response_create_service(self):
        result = original_response_create(self)
        configuration = self._get_param("deploymentConfiguration")
        if configuration:
            service = self.ecs_backend._get_service(self._get_param("cluster", "default"),
                                                    self._get_param("serviceName"))
            service.deployment_configuration = configuration
        return result

    ecs_responses.EC2ContainerServiceResponse.create_service = response_create_service

    original_response_register = ecs_responses.EC2ContainerServiceResponse.register_task_definition

    def response_register_task_definition(self):
        # moto drops `enableFaultInjection`; ECS keeps it on the revision (false by default).
        result = original_response_register(self)
        definition = self.ecs_backend.describe_task_definition(self._get_param("family"))
        definition.enable_fault_injection = bool(self._get_param("enableFaultInjection", False))
        return result

    ecs_responses.EC2ContainerServiceResponse.register_task_definition = response_register_task_definition

    original_response_describe_tasks = ecs_responses.EC2ContainerServiceResponse.describe_tasks

    def response_describe_tasks(self):
        """Tasks asked for and not found are `failures` with reason MISSING, as ECS answers
        (moto leaves them out and answers no failures)."""
        result = original_response_describe_tasks(self)
        arns = [t.task_arn for t in result.result["tasks"]]
        result.result["failures"] = [
            {"arn": wanted, "reason": "MISSING"}
            for wanted in self._get_param("tasks", [])
            if not any(arn == wanted or arn.endswith("/" + wanted) for arn in arns)
        ]
        return result

    ecs_responses.EC2ContainerServiceResponse.describe_tasks = response_describe_tasks

    original_response_run_task = ecs_responses.EC2ContainerServiceResponse.run_task

    def response_run_task(self):
        """Where ECS runs a task given neither a launch type nor a capacity provider
        strategy: the cluster's default strategy, else EC2, which a Fargate-only task
        definition does not support (RunTask's API reference, `launchType`)."""
        if not self._get_param("launchType") and not self._get_param("capacityProviderStrategy"):
            cluster = self.ecs_backend._get_cluster(self._get_param("cluster", "default"))
            definition = self.ecs_backend.describe_task_definition(self._get_param("taskDefinition"))
            compatible = definition.requires_compatibilities or ["EC2"]
            if not cluster.default_capacity_provider_strategy and "EC2" not in compatible:
                raise InvalidParameterException("Task definition does not support launch_type EC2.")
        definition = self.ecs_backend.describe_task_definition(self._get_param("taskDefinition"))
        names = {c.get("name") for c in definition.container_definitions or []}
        for override in (self._get_param("overrides") or {}).get("containerOverrides") or []:
            if override.get("name") not in names:
                raise InvalidParameterException(
                    f"Override for container named {override.get('name')} is not a container in the TaskDefinition.")
        return original_response_run_task(self)

    ecs_responses.EC2ContainerServiceResponse.run_task = response_run_task

    original_response_list_tasks = ecs_responses.EC2ContainerServiceResponse.list_tasks

    def response_list_tasks(self):
        """Pages of `maxResults` (at most and by default 100) with a `nextToken`, as ECS
        answers, oldest first (ECS promises no order); a `page_size` fault makes pages
        smaller, so that tests need not make 100 tasks (moto answers every task at once)."""
        result = original_response_list_tasks(self)
        arns = result.result["taskArns"]
        fault = find_fault({"page_size"}, cluster=self._get_param("cluster", "default").split("/")[-1])
        size = min(self._get_param("maxResults") or 100, 100, fault["size"] if fault else 100)
        start = int(self._get_param("nextToken") or 0)
        result.result["taskArns"] = arns[start:start + size]
        if start + size < len(arns):
            result.result["nextToken"] = str(start + size)
        return result

    ecs_responses.EC2ContainerServiceResponse.list_tasks = response_list_tasks

    # moto sums container memory to place tasks; a Fargate container may leave it to the
    # task (task-level memory only), which AWS accepts and moto would fail on.
    original_requirements = backend_class._calculate_task_resource_requirements

    def task_requirements(task_definition):
        class Containers:
            container_definitions = [
                dict(c, memory=c.get("memory") or c.get("memoryReservation") or 0)
                for c in task_definition.container_definitions
            ]

        return original_requirements(Containers)

    backend_class._calculate_task_resource_requirements = staticmethod(task_requirements)
    # The model decides task states; moto's own per-describe progression would fight it.
    state_manager.set_transition(model_name="ecs::task", transition={"progression": "manual", "times": 10**9})


def refuse_unroutable_shift(service):
    """A strategy that shifts traffic needs somewhere to shift it: a load balancer with the
    alternate target group, listener rules and role of `advancedConfiguration` (the
    developer guide's "Required resources for Amazon ECS blue/green deployments")."""
    strategy = (getattr(service, "deployment_configuration", None) or {}).get("strategy") or "ROLLING"
    routable = any(lb.get("advancedConfiguration") for lb in service.load_balancers or [])
    if strategy in SHIFTED and not routable:
        raise InvalidParameterException(
            f"The {strategy} deployment strategy requires a load balancer with advancedConfiguration "
            "(alternateTargetGroupArn, productionListenerRule, roleArn) on the service.")


class ServiceView:
    """A service as DescribeServices returns it: the model's bookkeeping left out, and
    deployments younger than `stale` seconds not yet visible (the newest one left is shown
    as PRIMARY, as the service was before them)."""

    def __init__(self, service, stale=0):
        self._service = service
        cutoff = time.time() - stale
        visible = [d for d in service.deployments if d.get("_kind") == "initial" or d["_started"] <= cutoff]
        # Behind a Classic Load Balancer ECS reports no rollout state.
        hidden = ("rolloutState", "rolloutStateReason") if behind_classic_load_balancer(service) else ()
        self.deployments = [{k: v for k, v in d.items() if not k.startswith("_") and k not in hidden}
                            for d in visible]
        if len(visible) < len(service.deployments) and self.deployments:
            self.deployments[0]["status"] = "PRIMARY"
            self.task_definition = self.deployments[0]["taskDefinition"]

    def __getattr__(self, name):
        return getattr(self._service, name)


# ------------------------------------------------- ECS service deployments ---------------------

def behind_classic_load_balancer(service):
    """A service behind a Classic Load Balancer: ECS reports no `rolloutState` for it."""
    return any(lb.get("loadBalancerName") for lb in getattr(service, "load_balancers", None) or [])


def service_deployment_status(deployment):
    """A deployment's ServiceDeployment status (the API reference's lifecycle)."""
    sd = deployment["_sd"]
    if sd["status"] == "ROLLBACK_IN_PROGRESS" and time.time() - sd.get("rolling_back", 0) >= STEP:
        # A shift back is quick: the old revision's tasks still run.
        sd.update(status="ROLLBACK_SUCCESSFUL", finished=now())
    if sd["status"]:
        return sd["status"]
    restore = deployment.get("_restored_by")
    if restore is not None:
        state = restore.get("rolloutState")
        return {"COMPLETED": "ROLLBACK_SUCCESSFUL", "FAILED": "ROLLBACK_FAILED"}.get(state, "ROLLBACK_IN_PROGRESS")
    rollback = deployment.get("_kind") == "rollback"
    state = deployment.get("rolloutState")
    if state == "COMPLETED":
        return "ROLLBACK_SUCCESSFUL" if rollback else "SUCCESSFUL"
    if state == "FAILED":
        return "ROLLBACK_FAILED" if rollback else "STOPPED"
    return "ROLLBACK_IN_PROGRESS" if rollback else "IN_PROGRESS"


def service_deployment_arn(service, deployment):
    number = deployment["id"].split("/")[-1]
    return service.arn.replace(":service/", ":service-deployment/") + f"/{number}"


def service_deployment(backend, service, deployment, full=False):
    """A ServiceDeploymentBrief, or with `full` the ServiceDeployment DescribeServiceDeployments
    answers: lifecycle stage, hooks, traffic weights and alarms."""
    arn = service_deployment_arn(service, deployment)
    sd = deployment["_sd"]
    status = service_deployment_status(deployment)
    revision = arn.replace(":service-deployment/", ":service-revision/")
    brief = {
        "serviceDeploymentArn": arn,
        "serviceArn": service.arn,
        "clusterArn": backend._get_cluster(service.cluster_name).arn,
        "createdAt": deployment["createdAt"].timestamp(),
        "startedAt": deployment["createdAt"].timestamp(),
        "targetServiceRevisionArn": revision,
        "status": status,
        "statusReason": sd["reason"] or deployment.get("rolloutStateReason", ""),
    }
    if sd["finished"] is not None:
        brief["finishedAt"] = sd["finished"].timestamp()
    if not full:
        return brief
    config = deployment.get("_config") or {}
    alarms = config.get("alarms") or {}
    watching = alarms.get("enable") and alarms.get("alarmNames")
    settled = status not in ("PENDING", "IN_PROGRESS")
    stage = sd["stage"] if not (settled and status == "SUCCESSFUL") else "CLEAN_UP"
    return dict(
        brief,
        lifecycleStage=stage,
        lifecycleHookDetails=[{k: v for k, v in hook.items() if not k.startswith("_")} for hook in sd["hooks"]],
        deploymentConfiguration=config,
        targetServiceRevision={
            "arn": revision,
            "requestedTaskCount": deployment["desiredCount"],
            "runningTaskCount": deployment.get("runningCount", 0),
            "pendingTaskCount": deployment.get("pendingCount", 0),
            "requestedTestTrafficWeight": sd["traffic"]["test"],
            "requestedProductionTrafficWeight": sd["traffic"]["production"],
        },
        alarms={
            "status": ("TRIGGERED" if sd["triggered"] else "DISABLED" if not watching
                       else "MONITORING_COMPLETE" if settled else "MONITORING"),
            "alarmNames": list(alarms.get("alarmNames") or []),
            "triggeredAlarmNames": list(sd["triggered"]),
        },
    )


def find_service_deployment(backend, arn):
    """(service, deployment) of a service deployment ARN, or ServiceDeploymentNotFoundException."""
    for service in backend.services.values():
        advance_service(backend, service)
        for deployment in getattr(service, "_history", []):
            if service_deployment_arn(service, deployment) == arn:
                return service, deployment
    raise AwsError("ServiceDeploymentNotFoundException", f"The service deployment {arn} was not found.")


def service_deployments(environ, operation, body):
    """ListServiceDeployments, DescribeServiceDeployments, ContinueServiceDeployment and
    StopServiceDeployment, which moto lacks, from the model's deployments (newest first)."""
    params = json.loads(body or "{}")
    backend = ecs_models.ecs_backends[current_account()][request_region(environ)]
    headers = [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-RequestId", str(uuid.uuid4()))]
    try:
        with LOCK:
            answer = answer_service_deployments(backend, operation.split(":", 1)[1], params)
    except AwsError as err:
        payload = json.dumps({"__type": err.code, "message": err.message}).encode()
        return err.status, headers + [("x-amzn-ErrorType", err.code)], payload
    return 200, headers, json.dumps(answer, default=str).encode()


def answer_service_deployments(backend, action, params):
    if action == "ContinueServiceDeployment":
        return continue_service_deployment(backend, params)
    if action == "StopServiceDeployment":
        return stop_service_deployment(backend, params)
    found = []
    for service in backend.services.values():
        advance_service(backend, service)
        found += [(service, d) for d in getattr(service, "_history", [])]
    if action == "ListServiceDeployments":
        name = params.get("service", "").split("/")[-1]
        cluster = params.get("cluster", "default").split("/")[-1]
        after = (params.get("createdAt") or {}).get("after")
        listed = [service_deployment(backend, svc, d) for svc, d in found
                  if svc.name == name and svc.cluster_name == cluster]
        listed = [b for b in listed if after is None or b["createdAt"] >= float(after)]
        return {"serviceDeployments": listed}
    wanted = params.get("serviceDeploymentArns") or []
    described = [service_deployment(backend, svc, d, full=True) for svc, d in found
                 if service_deployment_arn(svc, d) in wanted]
    known = {d["serviceDeploymentArn"] for d in described}
    return {"serviceDeployments": described,
            "failures": [{"arn": arn, "reason": "MISSING"} for arn in wanted if arn not in known]}


def continue_service_deployment(backend, params):
    """Resolves a PAUSE hook that awaits action: CONTINUE moves on, ROLLBACK shifts back."""
    arn = params["serviceDeploymentArn"]
    service, deployment = find_service_deployment(backend, arn)
    sd = deployment["_sd"]
    hook = next((h for h in sd["hooks"] if h["hookId"] == params["hookId"]), None)
    if hook is None or hook["status"] != "AWAITING_ACTION":
        state = "no such hook" if hook is None else f"its status is {hook['status']}"
        raise AwsError("InvalidParameterException",
                       f"The lifecycle hook {params['hookId']} of {arn} is not awaiting action: {state}.")
    action = params.get("action") or "CONTINUE"
    hook["status"] = "SUCCEEDED" if action == "CONTINUE" else "FAILED"
    event(service, f"(deployment {deployment['id']}) lifecycle hook {hook['hookId']}: {action}.")
    if action == "ROLLBACK":
        shift_back(backend, service, deployment, f"Rolled back by ContinueServiceDeployment at {sd['stage']}.")
    return {"serviceDeploymentArn": arn}


def stop_service_deployment(backend, params):
    """StopServiceDeployment with ROLLBACK (its only stop type): back to the previous revision."""
    arn = params["serviceDeploymentArn"]
    service, deployment = find_service_deployment(backend, arn)
    if service_deployment_status(deployment) not in ("PENDING", "IN_PROGRESS"):
        raise AwsError("ConflictException",
                       f"The service deployment {arn} is {service_deployment_status(deployment)}: it cannot be stopped.")
    fail(backend, service, deployment, True, "Stopped by StopServiceDeployment (ROLLBACK).")
    return {"serviceDeploymentArn": arn}


# ------------------------------------- ECS blue/green, canary and linear deployments -------

# The deployment strategies that shift traffic between two revisions behind a load balancer.
SHIFTED = ("BLUE_GREEN", "CANARY", "LINEAR")
# Their lifecycle stages in order (the API reference's ServiceDeploymentLifecycleStage).
STAGES = ["PRE_SCALE_UP", "SCALE_UP", "POST_SCALE_UP", "TEST_TRAFFIC_SHIFT", "POST_TEST_TRAFFIC_SHIFT",
          "PRODUCTION_TRAFFIC_SHIFT", "POST_PRODUCTION_TRAFFIC_SHIFT", "BAKE_TIME", "CLEAN_UP"]
# Where a deployment's alarms can roll it back: once production traffic reaches the new revision.
WATCHED = STAGES[STAGES.index("PRODUCTION_TRAFFIC_SHIFT"):]


def shifts_traffic(deployment):
    strategy = (deployment.get("_config") or {}).get("strategy") or "ROLLING"
    return deployment.get("_kind") == "rollout" and strategy in SHIFTED


def advance_stages(backend, service, deployment):
    """One step of a shifting deployment once its new tasks run: alarms, hooks awaiting
    action (and their timeouts), then the next stage when this one is done."""
    sd = deployment["_sd"]
    if sd["status"] or deployment.get("rolloutState") != "IN_PROGRESS":
        return
    if sd["stage"] in WATCHED:
        triggered = alarms_in_alarm(service, deployment)
        if triggered:
            return alarm_failure(backend, service, deployment, triggered)
    for hook in [h for h in sd["hooks"] if h["status"] == "AWAITING_ACTION" and time.time() >= h["_expires"]]:
        hook["status"] = "TIMED_OUT"
        event(service, f"(deployment {deployment['id']}) lifecycle hook {hook['hookId']} timed out: "
                       f"{hook['timeoutAction']}.")
        if hook["timeoutAction"] == "ROLLBACK":
            return shift_back(backend, service, deployment,
                              f"Lifecycle hook {hook['hookId']} at {sd['stage']} timed out.")
    if any(h["status"] == "AWAITING_ACTION" for h in sd["hooks"]) or not stage_done(deployment):
        return
    if sd["stage"] == "CLEAN_UP":
        return finish_shift(backend, service, deployment)
    enter_stage(service, deployment, STAGES[STAGES.index(sd["stage"]) + 1])


def stage_done(deployment):
    """Whether the current stage has run its course: a step for most, the traffic moved for
    the production shift, the bake for BAKE_TIME (the caller asks about SCALE_UP only once
    the new tasks are healthy)."""
    sd, config = deployment["_sd"], deployment.get("_config") or {}
    elapsed = time.time() - sd["entered"]
    if sd["stage"] in ("PRE_SCALE_UP", "SCALE_UP"):
        return True
    if sd["stage"] == "PRODUCTION_TRAFFIC_SHIFT":
        sd["traffic"]["production"] = production_weight(config, elapsed)
        return sd["traffic"]["production"] >= 100.0
    if sd["stage"] == "BAKE_TIME":
        return elapsed >= (config.get("bakeTimeInMinutes") or 0) * MINUTE
    return elapsed >= STEP


def production_weight(config, elapsed):
    """The new revision's share of production traffic `elapsed` seconds into the shift:
    all of it for blue/green; the canary's percent through its bake, then all; linear's
    steps, one per step bake (the API reference's defaults: 5 % for 10 minutes, 10 % every
    6 minutes)."""
    strategy = config.get("strategy")
    if strategy == "CANARY":
        canary = config.get("canaryConfiguration") or {}
        bake = canary.get("canaryBakeTimeInMinutes", 10) * MINUTE
        return float(canary.get("canaryPercent", 5.0)) if elapsed < bake else 100.0
    if strategy == "LINEAR":
        linear = config.get("linearConfiguration") or {}
        step_percent = float(linear.get("stepPercent", 10.0))
        bake = linear.get("stepBakeTimeInMinutes", 6) * MINUTE
        steps = math.ceil(100.0 / step_percent) if not bake else 1 + int(elapsed // bake)
        return min(100.0, round(steps * step_percent, 1))
    return 100.0


def enter_stage(service, deployment, stage):
    sd = deployment["_sd"]
    sd.update(stage=stage, entered=time.time())
    if stage == "TEST_TRAFFIC_SHIFT":
        sd["traffic"]["test"] = 100.0
    event(service, f"(deployment {deployment['id']}) is in lifecycle stage {stage}.")
    for hook in (deployment.get("_config") or {}).get("lifecycleHooks") or []:
        if hook.get("targetType") == "PAUSE" and stage in (hook.get("lifecycleStages") or []):
            timeout = hook.get("timeoutConfiguration") or {}
            minutes = timeout.get("timeoutInMinutes", 60 * 24)
            sd["hooks"].append({
                "hookId": uuid.uuid4().hex[:16],
                "targetType": "PAUSE",
                "status": "AWAITING_ACTION",
                "expiresAt": (now() + timedelta(minutes=minutes)).timestamp(),
                "timeoutAction": timeout.get("action", "ROLLBACK"),
                "_expires": time.time() + minutes * MINUTE,
            })
            event(service, f"(deployment {deployment['id']}) is paused at {stage}: awaiting action.")


def finish_shift(backend, service, deployment):
    """CLEAN_UP done: the old revision's tasks stop, the deployment is COMPLETED."""
    drain(backend, service, deployment)
    deployment["_sd"].update(status="SUCCESSFUL", finished=now())
    complete(service, deployment)


def shift_back(backend, service, deployment, reason):
    """A rollback of a shifting deployment: all traffic back to the old revision, whose tasks
    still run, and the new revision's tasks stopped."""
    sd = deployment["_sd"]
    sd.update(status="ROLLBACK_IN_PROGRESS", reason=reason, rolling_back=time.time())
    sd["traffic"].update(production=0.0, test=0.0)
    for hook in sd["hooks"]:
        if hook["status"] == "AWAITING_ACTION":
            hook["status"] = "FAILED"
    deployment["rolloutState"], deployment["rolloutStateReason"] = "FAILED", reason
    event(service, f"(deployment {deployment['id']}) is rolling back: {reason}")
    stop_shifted_tasks(backend, service, deployment)
    if deployment in service.deployments and len(service.deployments) > 1:
        service.deployments.remove(deployment)
        service.deployments[0]["status"] = "PRIMARY"


def stop_shift(service, deployment, reason):
    """A shifting deployment that failed with no rollback configured: it stops where it is."""
    deployment["_sd"].update(status="STOPPED", reason=reason, finished=now())
    deployment["rolloutState"], deployment["rolloutStateReason"] = "FAILED", reason
    event(service, f"(deployment {deployment['id']}) stopped: {reason}")


def stop_shifted_tasks(backend, service, deployment):
    for arn in deployment["_tasks"]:
        task = backend.tasks.get(service.cluster_name, {}).get(arn)
        if task is not None and task.status != "STOPPED":
            stop_task(backend, service, arn, f"Scaling activity initiated by (deployment {deployment['id']})")


def alarms_in_alarm(service, deployment):
    """The deployment's alarms (`deploymentConfiguration.alarms`, when enabled) that are in
    ALARM in CloudWatch now."""
    alarms = (deployment.get("_config") or {}).get("alarms") or {}
    if not alarms.get("enable"):
        return []
    _, _, _, region, account = service.arn.split(":")[:5]
    known = cloudwatch_models.cloudwatch_backends[account][region].alarms
    return [name for name in alarms.get("alarmNames") or []
            if name in known and known[name].state_value == "ALARM"]


def alarm_failure(backend, service, deployment, triggered):
    deployment["_sd"]["triggered"] = triggered
    rollback = bool(((deployment.get("_config") or {}).get("alarms") or {}).get("rollback"))
    fail(backend, service, deployment, rollback, f"CloudWatch alarm(s) in ALARM: {', '.join(triggered)}.")


# ------------------------------------------------------------- the local load balancer ------

# (account, region, cluster, service) -> its listeners and the ARNs ECS is given for them.
BALANCERS = {}


def ensure_balancer(wanted, region):
    """The production and test listeners of a service (started once per stack), and the
    ARNs of what an ALB set-up would have made for it: its two target groups, the two
    listener rules and the ECS infrastructure role that may move traffic between them, as
    `loadBalancers[].advancedConfiguration` takes them."""
    account, cluster, name = wanted.get("account") or current_account(), wanted["cluster"], wanted["service"]
    key = (account, wanted.get("region") or region, cluster, name)
    with LOCK:
        if key not in BALANCERS:
            BALANCERS[key] = {kind: balancer.Listener(lambda kind=kind: route(key, kind))
                              for kind in ("production", "test")}
    region = key[1]
    digest = hashlib.sha256(f"{cluster}/{name}".encode()).hexdigest()
    elb = f"arn:aws:elasticloadbalancing:{region}:{account}"
    lb_id, listener = f"app/{cluster[:20]}/{digest[:16]}", digest[16:32]
    return {
        "cluster": cluster,
        "service": name,
        "production_url": BALANCERS[key]["production"].url,
        "test_url": BALANCERS[key]["test"].url,
        "target_group_arn": f"{elb}:targetgroup/{digest[:24]}-blue/{digest[32:48]}",
        "alternate_target_group_arn": f"{elb}:targetgroup/{digest[:23]}-green/{digest[48:64]}",
        "production_listener_rule": f"{elb}:listener-rule/{lb_id}/{listener}/{digest[:16]}",
        "test_listener_rule": f"{elb}:listener-rule/{lb_id}/{listener}/{digest[16:32]}",
        "role_arn": f"arn:aws:iam::{account}:role/{cluster[:40]}-ecs-infrastructure",
    }


def list_balancers():
    return [{"account": account, "region": region, "cluster": cluster, "service": name,
             "production_url": listeners["production"].url, "test_url": listeners["test"].url}
            for (account, region, cluster, name), listeners in sorted(BALANCERS.items())]


def route(key, kind):
    """Where one request to a listener goes: a task of the revision the traffic weights
    pick (the shifting deployment's share of this listener's traffic, the rest to the
    revision before it), or None when that revision has no running container."""
    account, region, cluster, name = key
    with LOCK:
        backend = ecs_models.ecs_backends[account][region]
        service = backend.services.get(f"{cluster}:{name}")
        if service is None:
            return None
        advance_service(backend, service)
        chosen = pick_revision(service, kind)
        tasks = [backend.tasks.get(cluster, {}).get(arn) for arn in chosen.get("_tasks", [])] if chosen else []
        running = [t for t in tasks if t is not None and t.status != "STOPPED" and getattr(t, "_container", None)]
    urls = [u for u in (task_url(t) for t in running) if u]
    return random.choice(urls) if urls else None


def pick_revision(service, kind):
    shifting = next((d for d in service.deployments if shifts_traffic(d) and d["_sd"]["status"] is None), None)
    primary = next((d for d in service.deployments if d["status"] == "PRIMARY"), None)
    if shifting is None:
        return primary
    before = next((d for d in service.deployments if d is not shifting), None)
    weight = shifting["_sd"]["traffic"][kind]
    return shifting if before is None or random.uniform(0, 100) < weight else before


def task_url(task):
    """A task container's published URL, asked of Docker once."""
    if getattr(task, "_url", None) is None:
        task._url = url_of(task)
    return task._url


def set_alarm(wanted, region):
    """Creates a CloudWatch alarm if it does not exist and sets its state: what a metric
    crossing its threshold does on AWS, for tests and demos."""
    state = wanted.get("state", "OK")
    backend = cloudwatch_models.cloudwatch_backends[current_account()][wanted.get("region") or region]
    with LOCK:
        if wanted["name"] not in backend.alarms:
            backend.put_metric_alarm(
                name=wanted["name"], namespace="AWS/ApplicationELB", metric_name="HTTPCode_Target_5XX_Count",
                comparison_operator="GreaterThanThreshold", evaluation_periods=1, period=60, threshold=0.0,
                statistic="Sum", description="created by the local stack", dimensions=[], alarm_actions=[])
        backend.set_alarm_state(wanted["name"], wanted.get("reason", "set by the local stack"), None, state)
        return {"name": wanted["name"], "state": backend.alarms[wanted["name"]].state_value}


# ---------------------------------------------------------- CloudFront ---------------------

# Seconds an invalidation stays InProgress: a minute of AWS's time (real ones take one to a
# few), on the stack's time scale.
INVALIDATION_SECONDS = MINUTE
# Paths in progress per distribution (CloudFront developer guide, "Concurrent invalidation
# request maximum"): 3,000 file paths, 15 wildcard paths.
IN_PROGRESS_FILES, IN_PROGRESS_WILDCARDS = 3000, 15


class TooManyInvalidations(CloudFrontException):
    def __init__(self, what):
        super().__init__("TooManyInvalidationsInProgress",
                         f"Processing your request will cause the maximum number of {what} in progress "
                         "to be exceeded.")


def invalidation_status(invalidation):
    """InProgress for a while after it is created, then Completed (moto says COMPLETED at once)."""
    created = getattr(invalidation, "_created", 0)
    return "InProgress" if time.time() - created < INVALIDATION_SECONDS else "Completed"


def patch_cloudfront():
    cloudfront_models.Invalidation.status = property(invalidation_status, lambda self, value: None)
    backend_class = cloudfront_models.CloudFrontBackend
    original = backend_class.create_invalidation

    def create_invalidation(self, dist_id, paths, caller_ref):
        with LOCK:
            running = [i for i in self.invalidations.get(dist_id, []) if i.status == "InProgress"]
            wildcards = lambda ps: sum(1 for p in ps if p.endswith("*"))
            files = lambda ps: len(ps) - wildcards(ps)
            if wildcards(paths) and sum(wildcards(i.paths) for i in running) + wildcards(paths) > IN_PROGRESS_WILDCARDS:
                raise TooManyInvalidations("wildcard invalidations")
            if files(paths) and sum(files(i.paths) for i in running) + files(paths) > IN_PROGRESS_FILES:
                raise TooManyInvalidations("file invalidations")
            invalidation = original(self, dist_id, paths, caller_ref)
            invalidation._created = time.time()
            return invalidation

    backend_class.create_invalidation = create_invalidation


# ---------------------------------------------------------------- main ----------------------


def main():
    global DEFAULT_ACCOUNT
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--account", action="append", required=True, metavar="ID=REGISTRY[@FRONT_PORT]",
                        help="an account, the host:port of the registry behind its ECR, and the port "
                             "this server fronts it on (the first account's is --port); the first is the default")
    args = parser.parse_args()
    # MOTO_ACCOUNT_ID would pin every request to one account (moto's get_current_account).
    os.environ.pop("MOTO_ACCOUNT_ID", None)
    extra = []
    for index, spec in enumerate(args.account):
        account, rest = spec.split("=", 1)
        registry_address, _, front_port = rest.partition("@")
        REGISTRIES[account] = registry_address
        port = args.port if index == 0 else int(front_port)
        FRONTS[account] = f"{args.host}:{port}"
        if index == 0:
            DEFAULT_ACCOUNT = account
        else:
            extra.append(port)
    os.environ["MOTO_PORT"] = str(args.port)
    patch_ecs()
    patch_ecr()
    patch_cloudfront()
    app = Middleware(DomainDispatcherApplication(create_backend_app))
    for port in extra:
        # Each further account's registry front: the same app, told apart by the port.
        server = make_server(args.host, port, app, threaded=True, request_handler=MotoRequestHandler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
    run_simple(args.host, args.port, app, threaded=True, use_reloader=False, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
