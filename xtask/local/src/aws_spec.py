"""AWS's own request rules for the local stack: every request the emulator receives is
checked against the service models AWS publishes, and one that real AWS would refuse is
answered with that service's own error, in its own protocol. See docs/local-stack.md,
"Requests AWS would refuse are refused".

The oracle is botocore's copy of the models (botocore/data/<service>/<version>/
service-2.json), installed and pinned beside moto: each operation's input shape with its
members' `required`, types, `min`/`max` (a string's or blob's length, a list's or map's
size, a number's value), `enum` and `pattern`. botocore's own client-side validator
(botocore.validate.ParamValidator) checks only required members, types and minimum
lengths; everything else here is read from the same shapes. Rules AWS documents but the
models leave out (S3 bucket names, ECS names and client tokens, Fargate task sizes,
CloudFront invalidation paths, ...) are in the RULES section, each citing its page.

A request that cannot be mapped to one operation with confidence is never refused: it is
counted as unmapped and logged. `GET /_xtask/spec` reports what was checked, refused and
left unmapped, so tests can assert that nothing the tool sent would have been refused.

XTASK_SPEC=enforce (the default) refuses; =record only records and logs; =off skips it.
"""

import base64
import binascii
import collections
import ipaddress
import json
import os
import re
import sys
import threading
import time
import traceback
import urllib.parse
import warnings
import xml.etree.ElementTree as ElementTree
from xml.sax.saxutils import escape

import botocore
from botocore.loaders import Loader
from botocore.model import ServiceModel

MODE = os.environ.get("XTASK_SPEC", "enforce")

# The botocore release the tool pins (xtask/local/src/install.rs), when it says: a venv with
# another one checks against another spec, which is logged and reported.
PINNED = os.environ.get("XTASK_BOTOCORE_VERSION", "")

# The services the deploy tool calls. Any other service's request is counted as unmapped.
SERVICES = ("ecs", "ecr", "s3", "cloudfront", "sts")

# A member that is not in the request (None is a JSON null, which AWS treats as absent).
MISSING = object()


def log(line):
    print(f"spec: {line}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- the record -------------


class Record:
    """What was checked, refused and left unmapped, for `GET /_xtask/spec`."""

    KEEP = 1000

    def __init__(self):
        self.lock = threading.Lock()
        self.clear()

    def clear(self):
        self.seq = 0
        self.counts = collections.Counter()
        self.operations = collections.Counter()
        self.violations = collections.deque(maxlen=self.KEEP)
        self.unmapped = collections.deque(maxlen=self.KEEP)
        self.logged = set()

    def checked(self, operation):
        with self.lock:
            self.counts["checked"] += 1
            self.operations[operation] += 1

    def violation(self, operation, request, code, message, problems, refused):
        with self.lock:
            self.seq += 1
            self.counts["violations"] += 1
            self.counts["refused"] += refused
            entry = {"seq": self.seq, "at": time.time(), "operation": operation, "request": request.describe(),
                     "agent": request.agent, "code": code, "message": message, "problems": problems,
                     "refused": refused}
            self.violations.append(entry)
        log(f"{'REFUSED' if refused else 'would refuse'} {operation} ({request.describe()}): {code}: {message}")

    def unmapped_request(self, service, request, reason):
        with self.lock:
            self.seq += 1
            self.counts["unmapped"] += 1
            self.unmapped.append({"seq": self.seq, "at": time.time(), "service": service,
                                  "request": request.describe() if request else "?",
                                  "agent": request.agent if request else "", "reason": reason})
            first = (service, reason) not in self.logged and len(self.logged) < 200
            self.logged.add((service, reason))
        if first:
            log(f"unmapped {service} request {request.describe() if request else '?'}: {reason} "
                "(not checked; the same again is only counted)")

    def skipped(self):
        with self.lock:
            self.counts["skipped"] += 1

    def report(self, since=0):
        with self.lock:
            return {
                "mode": MODE,
                "botocore": botocore.__version__,
                "botocore_pinned": PINNED or None,
                "models": {name: service.model.api_version for name, service in MODELS.items()},
                "seq": self.seq,
                "counts": {key: self.counts[key] for key in ("checked", "violations", "refused", "unmapped",
                                                             "skipped")},
                "operations": dict(sorted(self.operations.items())),
                "violations": [v for v in self.violations if v["seq"] > since],
                "unmapped": [u for u in self.unmapped if u["seq"] > since],
                "patterns_skipped": sorted(SKIPPED_PATTERNS),
            }


RECORD = Record()


def api(method, query):
    """(status, JSON value) of `/_xtask/spec`: GET reports (`?since=SEQ` for what came after
    an earlier report's `seq`), DELETE clears the record."""
    if method == "DELETE":
        with RECORD.lock:
            RECORD.clear()
        return 200, {}
    since = dict(urllib.parse.parse_qsl(query or "")).get("since", "0")
    return 200, RECORD.report(int(since) if since.isdigit() else 0)


# ---------------------------------------------------------------- the models -------------

# Java-style patterns (the models' `pattern`) that Python's `re` cannot express faithfully
# are not checked; each is listed here and logged once.
SKIPPED_PATTERNS = set()
PATTERNS = {}

# Java's \w \d \s are ASCII; \p{L} \p{N} are Unicode letters and numbers (Python's Unicode
# \w: letters, numbers and `_`, so `_` is accepted too, which only errs towards passing);
# \p{Z} is every Unicode space separator.
ASCII_CLASSES = {"w": "a-zA-Z0-9_", "d": "0-9", "s": " \\t\\n\\x0b\\f\\r"}
UNICODE_CLASSES = {"L": "\\w", "N": "\\w", "Z": " \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000"}


class Unsupported(Exception):
    pass


def java_regex(pattern):
    """The Python form of a Java regular expression, or Unsupported."""
    out, i, in_class = [], 0, False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            n = pattern[i + 1]
            if n in "pP":
                end = pattern.find("}", i)
                name = pattern[i + 3:end] if pattern[i + 2:i + 3] == "{" and end > 0 else ""
                if n == "P" or name not in UNICODE_CLASSES:
                    raise Unsupported(f"\\{n}{{{name}}}")
                out.append(UNICODE_CLASSES[name] if in_class else f"[{UNICODE_CLASSES[name]}]")
                i = end + 1
                continue
            if n in ASCII_CLASSES:
                out.append(ASCII_CLASSES[n] if in_class else f"[{ASCII_CLASSES[n]}]")
            elif n in "WDS":
                if in_class:
                    raise Unsupported(f"\\{n} inside a class")
                out.append(f"[^{ASCII_CLASSES[n.lower()]}]")
            elif n == "z":
                out.append("\\Z")
            elif n in "QEGRhHXkKvV" or n.isdigit() and n != "0":
                raise Unsupported(f"\\{n}")
            else:
                out.append(c + n)
            i += 2
            continue
        if c == "[":
            if in_class:
                raise Unsupported("nested character class")
            in_class = True
        elif c == "]" and in_class and not (out and out[-1] in ("[", "[^")):
            in_class = False
        elif c == "&" and in_class and pattern[i + 1:i + 2] == "&":
            raise Unsupported("class intersection")
        elif c == "^" and in_class and out and out[-1] == "[":
            out[-1] = "[^"
            i += 1
            continue
        out.append(c)
        i += 1
    return "".join(out)


def compiled(pattern):
    """The compiled pattern (memoised), or None when it is skipped."""
    if pattern in PATTERNS:
        return PATTERNS[pattern]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            regex = re.compile(java_regex(pattern))
    except (Unsupported, re.error) as err:
        regex = None
        SKIPPED_PATTERNS.add(pattern)
        log(f"pattern {pattern!r} not checked: {err}")
    PATTERNS[pattern] = regex
    return regex


class Route:
    """A REST operation's HTTP binding: method, path template, the query keys the template
    requires (`?delete`, `?list-type=2`) and the required members it carries in the query
    string or headers."""

    def __init__(self, operation):
        self.operation = operation
        self.name = operation.name
        self.method = operation.http["method"]
        uri = operation.http["requestUri"]
        path, _, query = uri.partition("?")
        self.literals = [tuple(part.split("=", 1)) if "=" in part else (part, None)
                         for part in query.split("&") if part and not part.startswith("x-id")]
        regex = "^"
        for piece in re.split(r"(\{[^}]+\})", path):
            if piece.startswith("{"):
                label = piece[1:-1]
                regex += f"(?P<{label.rstrip('+')}>.+)" if label.endswith("+") else f"(?P<{label}>[^/]+)"
            else:
                regex += re.escape(piece)
        self.regex = re.compile(regex + ("" if path.endswith("/") else "/?") + "$")
        shape = operation.input_shape
        self.required = []
        if shape is not None:
            for name in shape.required_members:
                ser = shape.members[name].serialization
                if ser.get("location") in ("querystring", "header"):
                    self.required.append((ser["location"], ser.get("name", name).lower()
                                          if ser["location"] == "header" else ser.get("name", name)))
        self.deprecated = bool(operation.deprecated)
        # S3 Express's control-plane operations (ListDirectoryBuckets) share paths with S3's
        # but are sent to another endpoint.
        self.express = any(param.name == "UseS3ExpressControlEndpoint" and param.value
                           for param in operation.static_context_parameters)


class Service:
    def __init__(self, model):
        self.model = model
        self.name = model.service_name
        self.protocol = model.protocol
        self.target_prefix = model.metadata.get("targetPrefix")
        self.routes = collections.defaultdict(list)
        if self.protocol in ("rest-xml", "rest-json"):
            for name in model.operation_names:
                route = Route(model.operation_model(name))
                self.routes[route.method].append(route)


def load_models():
    """Each service's newest model from botocore's own data only (never ~/.aws/models, so a
    user's files cannot change the spec)."""
    loader = Loader(extra_search_paths=[Loader.BUILTIN_DATA_PATH], include_default_search_paths=False)
    return {name: Service(ServiceModel(loader.load_service_model(name, "service-2"), name)) for name in SERVICES}


MODELS = load_models()
if PINNED and PINNED != botocore.__version__:
    log(f"botocore {botocore.__version__} is installed, but the tool pins {PINNED}: requests are checked "
        "against other models than the tested ones; recreate the venv (cargo xtask local down, delete venv/)")

# ---------------------------------------------------------------- requests ---------------


class Unmapped(Exception):
    """The request cannot be mapped to one operation with confidence: it is not checked."""


def credential_scope(environ, query):
    """(region, service) of the SigV4 credential scope, from the Authorization header or a
    presigned URL's X-Amz-Credential."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    credential = auth.split("Credential=", 1)[1].split(",", 1)[0] if "Credential=" in auth else None
    if credential is None:
        credential = dict(query).get("X-Amz-Credential")
    if credential:
        scope = credential.strip().split("/")
        if len(scope) >= 4:
            return scope[2], scope[3]
    return None, None


def headers_of(environ):
    headers = {key[5:].replace("_", "-").lower(): value for key, value in environ.items() if key.startswith("HTTP_")}
    for key, name in (("CONTENT_TYPE", "content-type"), ("CONTENT_LENGTH", "content-length")):
        if environ.get(key):
            headers[name] = environ[key]
    # WSGI gives header values as latin-1; S3 metadata and the like are UTF-8.
    return {k: v.encode("latin-1", "replace").decode("utf-8", "replace") for k, v in headers.items()}


def raw_path(environ):
    """The request path as sent (still percent-encoded), so `{Key+}` keeps an encoded `/`."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw:
        if "://" in raw.split("?", 1)[0]:
            raw = urllib.parse.urlsplit(raw).path
        return raw.split("?", 1)[0] or "/"
    return urllib.parse.quote(environ.get("PATH_INFO", "/").encode("latin-1", "replace"), safe="/") or "/"


def virtual_host_bucket(environ):
    """The bucket of a virtual-hosted-style S3 request (`bucket.s3.region.amazonaws.com`,
    `bucket.localhost`), else None: the local stack and the tool use path style."""
    host = environ.get("HTTP_HOST", "").rsplit(":", 1)[0].lower()
    try:
        ipaddress.ip_address(host.strip("[]"))
        return None
    except ValueError:
        pass
    found = re.match(r"^(.+?)\.(s3[.-].*amazonaws\.com(\.cn)?|s3\.localhost|localhost)$", host)
    return found.group(1) if found and not found.group(1).startswith("s3") else None


class Request:
    def __init__(self, environ, raw):
        self.environ = environ
        self.method = environ.get("REQUEST_METHOD", "GET")
        self.query = urllib.parse.parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        self.headers = headers_of(environ)
        self.path = raw_path(environ)
        self.raw = raw
        # Who sent it (the SDK and its version), its last characters where callers add theirs.
        self.agent = environ.get("HTTP_USER_AGENT", "")[-300:]
        # The plugin reads bodies with a Content-Length; a chunked body is not there to check.
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        self.body_known = bool(environ.get("CONTENT_LENGTH")) or not chunked

    def describe(self):
        query = self.environ.get("QUERY_STRING", "")
        return f"{self.method} {self.path}{'?' + query[:100] if query else ''}"


# Problems: dicts with `kind` (malformed | type | constraint | rule), `path` (Coral style,
# `containerDefinitions.1.member.name`), `where` (json | payload | header | querystring |
# uri | query), `wire` (the header or element name), `value`, `constraint`; a rule also has
# its own `code` and `message`.


def problem(kind, path, value=MISSING, constraint="", where="json", wire=None, **extra):
    return dict(kind=kind, path=path, value=value, constraint=constraint, where=where, wire=wire, **extra)


# ---------------------------------------------------------------- wire -> parameters -----

def text_scalar(shape, text, path, problems, where, wire):
    """A scalar from XML, a header, the query string or a query-protocol form."""
    kind = shape.type_name
    try:
        if kind in ("integer", "long"):
            return int(text.strip())
        if kind in ("float", "double"):
            return float(text.strip())
        if kind == "boolean":
            if text.strip() not in ("true", "false"):
                raise ValueError
            return text.strip() == "true"
    except ValueError:
        problems.append(problem("type", path, text, f"must be {'a' if kind != 'integer' else 'an'} {kind}",
                                where, wire))
        return MISSING
    # Timestamps are kept as sent (AWS parses several formats; HTTP date headers it ignores
    # when malformed); blobs as text.
    return text


def local_name(tag):
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def xml_value(shape, elem, path, problems):
    kind = shape.type_name
    if kind == "structure":
        children = collections.defaultdict(list)
        for child in elem:
            children[local_name(child.tag)].append(child)
        attributes = {local_name(k): v for k, v in elem.attrib.items()}
        out = {}
        for name, member in shape.members.items():
            ser = member.serialization
            wire = ser.get("name", name)
            sub = f"{path}.{name}" if path else name
            if ser.get("xmlAttribute"):
                value = attributes.get(wire.rsplit(":", 1)[-1])
                if value is not None:
                    out[name] = text_scalar(member, value, sub, problems, "payload", wire)
            elif member.type_name == "list" and ser.get("flattened"):
                if children.get(wire):
                    out[name] = [xml_value(member.member, item, f"{sub}.{i}.member", problems)
                                 for i, item in enumerate(children[wire], 1)]
            elif children.get(wire):
                out[name] = xml_value(member, children[wire][0], sub, problems)
        return {k: v for k, v in out.items() if v is not MISSING}
    if kind == "list":
        item_name = shape.member.serialization.get("name", "member")
        return [xml_value(shape.member, item, f"{path}.{i}.member", problems)
                for i, item in enumerate((c for c in elem if local_name(c.tag) == item_name), 1)]
    if kind == "map":
        key_name = shape.key.serialization.get("name", "key")
        value_name = shape.value.serialization.get("name", "value")
        out = {}
        for entry in elem:
            parts = {local_name(c.tag): c for c in entry}
            if key_name in parts and value_name in parts:
                key = parts[key_name].text or ""
                out[key] = xml_value(shape.value, parts[value_name], f"{path}.{key}", problems)
        return out
    return text_scalar(shape, elem.text or "", path, problems, "payload", local_name(elem.tag))


def query_value(shape, form, prefix, path, problems):
    """A member of a query-protocol request (`Tags.member.1.Key=...`)."""
    kind = shape.type_name
    if kind == "structure":
        if prefix and not any(key.startswith(prefix + ".") for key in form):
            return MISSING
        out = {}
        for name, member in shape.members.items():
            wire = member.serialization.get("name", name)
            value = query_value(member, form, f"{prefix}.{wire}" if prefix else wire,
                                f"{path}.{name}" if path else name, problems)
            if value is not MISSING:
                out[name] = value
        return out
    if kind == "list":
        if form.get(prefix) == "":
            return []
        items = prefix if shape.serialization.get("flattened") else \
            f"{prefix}.{shape.member.serialization.get('name', 'member')}"
        indexes = sorted({int(key[len(items) + 1:].split(".", 1)[0]) for key in form
                          if key.startswith(items + ".") and key[len(items) + 1:].split(".", 1)[0].isdigit()})
        if not indexes:
            return MISSING
        values = [query_value(shape.member, form, f"{items}.{i}", f"{path}.{n}.member", problems)
                  for n, i in enumerate(indexes, 1)]
        return [v for v in values if v is not MISSING]
    if kind == "map":
        entries = prefix if shape.serialization.get("flattened") else f"{prefix}.entry"
        key_name = shape.key.serialization.get("name", "key")
        value_name = shape.value.serialization.get("name", "value")
        out, n = {}, 1
        while f"{entries}.{n}.{key_name}" in form:
            key = form[f"{entries}.{n}.{key_name}"]
            value = query_value(shape.value, form, f"{entries}.{n}.{value_name}", f"{path}.{key}", problems)
            if value is not MISSING:
                out[key] = value
            n += 1
        return out if n > 1 else MISSING
    if prefix not in form:
        return MISSING
    return text_scalar(shape, form[prefix], path, problems, "query", prefix)


def parse_json(service, request, problems):
    target = request.environ.get("HTTP_X_AMZ_TARGET", "")
    prefix, _, name = target.partition(".")
    if prefix != service.target_prefix or name not in service.model.operation_names:
        raise Unmapped(f"unknown X-Amz-Target {target!r}")
    operation = service.model.operation_model(name)
    if not request.body_known:
        raise Unmapped("chunked body")
    try:
        params = json.loads(request.raw or b"{}")
    except ValueError as err:
        problems.append(problem("malformed", "", constraint=f"the body is not JSON: {err}"))
        return operation, {}
    if not isinstance(params, dict):
        problems.append(problem("malformed", "", constraint="Start of list found where not expected"
                                if isinstance(params, list) else "the body is not a JSON object"))
        return operation, {}
    return operation, params


def parse_query(service, request, problems):
    if not request.body_known:
        raise Unmapped("chunked body")
    form = dict(request.query)
    body = request.raw.decode("utf-8", "replace")
    if body and "x-www-form-urlencoded" in request.headers.get("content-type", "x-www-form-urlencoded"):
        form.update(urllib.parse.parse_qsl(body, keep_blank_values=True))
    action = form.get("Action", "")
    if action not in service.model.operation_names:
        raise Unmapped(f"unknown Action {action!r}")
    operation = service.model.operation_model(action)
    params = {}
    if operation.input_shape is not None:
        params = query_value(operation.input_shape, form, "", "", problems)
    return operation, params if params is not MISSING else {}


def match_route(service, request, path):
    """The REST operation `request` is, choosing the most specific binding: the most query
    keys its template requires, then the most of its required query or header members
    present, then the fewest missing, then not S3 Express's, then not deprecated. A tie is
    unmapped."""
    query = dict(request.query)
    candidates = []
    for route in service.routes.get(request.method, ()):
        found = route.regex.match(path)
        if not found:
            continue
        if any(key not in query or (value is not None and query[key] != value) for key, value in route.literals):
            continue
        present = sum(1 for location, wire in route.required
                      if (wire in request.headers if location == "header" else wire in query))
        rank = (len(route.literals), present, present - len(route.required), not route.express,
                not route.deprecated)
        candidates.append((rank, route, found))
    hinted = [c for c in candidates if c[1].name == query.get("x-id")]
    candidates = hinted or candidates
    if not candidates:
        raise Unmapped(f"no {service.name} operation is {request.method} {path}")
    candidates.sort(key=lambda c: c[0], reverse=True)
    if len(candidates) > 1 and candidates[0][0] == candidates[1][0]:
        names = ", ".join(c[1].name for c in candidates if c[0] == candidates[0][0])
        raise Unmapped(f"ambiguous: {names}")
    return candidates[0][1], candidates[0][2]


def parse_rest_xml(service, request, problems):
    path = request.path
    if service.name == "s3":
        bucket = virtual_host_bucket(request.environ)
        if bucket:
            path = "/" + urllib.parse.quote(bucket) + (path if path != "/" else "")
    route, found = match_route(service, request, path)
    operation = route.operation
    shape = operation.input_shape
    params = {}
    if shape is None:
        return operation, params
    labels = {k: urllib.parse.unquote(v, errors="replace") for k, v in found.groupdict().items()}
    query = collections.defaultdict(list)
    for key, value in request.query:
        query[key].append(value)
    claimed = {key for key, _ in route.literals} | {"x-id"}
    payload = shape.serialization.get("payload")
    body_members = []
    for name, member in shape.members.items():
        ser = member.serialization
        location = ser.get("location")
        wire = ser.get("name", name)
        if location == "uri":
            if wire in labels:
                params[name] = text_scalar(member, labels[wire], name, problems, "uri", wire)
        elif location == "querystring":
            if member.type_name == "map":
                continue
            claimed.add(wire)
            if wire in query:
                if member.type_name == "list":
                    params[name] = [text_scalar(member.member, v, f"{name}.{i}.member", problems, "querystring", wire)
                                    for i, v in enumerate(query[wire], 1)]
                else:
                    params[name] = text_scalar(member, query[wire][0], name, problems, "querystring", wire)
        elif location == "header":
            value = request.headers.get(wire.lower())
            if value is not None:
                if member.type_name == "list":
                    params[name] = [text_scalar(member.member, v.strip(), f"{name}.{i}.member", problems, "header",
                                                wire) for i, v in enumerate(value.split(","), 1)]
                else:
                    params[name] = text_scalar(member, value, name, problems, "header", wire)
        elif location == "headers":
            prefix = wire.lower()
            found_headers = {k[len(prefix):]: v for k, v in request.headers.items() if k.startswith(prefix)}
            if found_headers:
                params[name] = found_headers
        elif location is None and name != payload:
            body_members.append(name)
    for name, member in shape.members.items():
        if member.serialization.get("location") == "querystring" and member.type_name == "map":
            rest = {k: v[0] for k, v in query.items() if k not in claimed}
            if rest:
                params[name] = rest
    params = {k: v for k, v in params.items() if v is not MISSING}
    if payload:
        member = shape.members[payload]
        if member.type_name != "structure":
            # A blob or string payload (an object's bytes, a policy document) is not parsed;
            # a chunked one is taken as present.
            if request.raw or not request.body_known:
                params[payload] = request.raw.decode("utf-8", "replace") if member.type_name == "string" \
                    else request.raw
            return operation, params
        if not request.body_known:
            raise Unmapped("chunked body with an XML payload")
        if request.raw.strip():
            root = xml_root(request.raw, problems)
            if root is not None:
                wire = member.serialization.get("name", payload)
                if local_name(root.tag) != wire:
                    problems.append(problem("malformed", payload, constraint=f"the root element must be <{wire}>",
                                            where="payload", wire=local_name(root.tag)))
                else:
                    params[payload] = xml_value(member, root, payload, problems)
        return operation, params
    if body_members and request.raw.strip():
        root = xml_root(request.raw, problems)
        if root is not None:
            parsed = xml_value(shape, root, "", problems)
            params.update({k: v for k, v in parsed.items() if k in body_members})
    return operation, params


def xml_root(raw, problems):
    try:
        return ElementTree.fromstring(raw)
    except ElementTree.ParseError as err:
        problems.append(problem("malformed", "", constraint=f"the body is not well-formed XML: {err}",
                                where="payload"))
        return None


PARSERS = {"json": parse_json, "query": parse_query, "rest-xml": parse_rest_xml}

# ---------------------------------------------------------------- validation -------------

JSON_TYPES = {
    "string": (str,), "integer": (int,), "long": (int,), "float": (int, float), "double": (int, float),
    "boolean": (bool,), "timestamp": (int, float, str), "blob": (str,), "list": (list,), "map": (dict,),
    "structure": (dict,),
}
JAVA_NAMES = {"string": "String", "integer": "Integer", "long": "Long", "float": "Float", "double": "Double",
              "boolean": "Boolean", "timestamp": "Date", "blob": "ByteBuffer"}
RANGES = {"integer": (-2 ** 31, 2 ** 31 - 1), "long": (-2 ** 63, 2 ** 63 - 1)}


def json_type_error(shape, value):
    """Jackson's words for a JSON value of the wrong type, as Coral's SerializationException
    carries them."""
    if isinstance(value, dict):
        return "Start of structure or map found where not expected."
    if isinstance(value, list):
        return "Start of list found where not expected"
    if shape.type_name in ("list",):
        return "Expected list or null"
    if shape.type_name in ("structure", "map"):
        return "Expected null"
    token = ("TRUE_VALUE" if value else "FALSE_VALUE") if isinstance(value, bool) else \
        "STRING_VALUE" if isinstance(value, str) else "NUMBER_VALUE"
    return f"{token} can not be converted to {'an' if shape.type_name == 'integer' else 'a'} " \
           f"{JAVA_NAMES.get(shape.type_name, shape.type_name)}"


def validate(shape, value, path, problems, where, typed, wire=None):
    """Checks `value` against `shape` and its members: type (for JSON, where the wire has
    types), required, length, size, value range, enum and pattern."""
    kind = shape.type_name
    meta = shape.metadata
    if typed:
        expected = JSON_TYPES.get(kind)
        wrong = expected is not None and (not isinstance(value, expected) or
                                          (kind not in ("boolean",) and isinstance(value, bool)))
        if not wrong and kind in RANGES and not RANGES[kind][0] <= value <= RANGES[kind][1]:
            wrong = True
        if not wrong and kind == "blob":
            try:
                value = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                wrong = True
        if wrong:
            problems.append(problem("type", path, value, json_type_error(shape, value), where, wire))
            return
    if kind == "structure":
        if not isinstance(value, dict):
            return
        for name in shape.required_members:
            if value.get(name) is None:
                ser = shape.members[name].serialization
                problems.append(problem("constraint", f"{path}.{name}" if path else name, None,
                                        "Member must not be null", ser.get("location") or where,
                                        ser.get("name", name)))
        if shape.is_tagged_union and sum(1 for v in value.values() if v is not None) > 1:
            problems.append(problem("constraint", path, MISSING, "Union must have exactly one member set", where))
        for name, member_value in value.items():
            member = shape.members.get(name)
            if member is None or member_value is None:
                continue
            location = member.serialization.get("location") or where
            validate(member, member_value, f"{path}.{name}" if path else name, problems, location, typed,
                     member.serialization.get("name", name))
        return
    if kind in ("list", "map"):
        size = len(value)
        if "max" in meta and size > meta["max"]:
            problems.append(problem("constraint", path, value,
                                    f"Member must have length less than or equal to {meta['max']}", where, wire))
        if "min" in meta and size < meta["min"]:
            problems.append(problem("constraint", path, value,
                                    f"Member must have length greater than or equal to {meta['min']}", where, wire))
        if kind == "list":
            for i, item in enumerate(value, 1):
                if item is not None:
                    validate(shape.member, item, f"{path}.{i}.member", problems, where, typed, wire)
        else:
            for key, item in value.items():
                validate(shape.key, key, f"{path}.{key}", problems, where, typed)
                if item is not None:
                    validate(shape.value, item, f"{path}.{key}", problems, where, typed)
        return
    if kind in ("string", "blob"):
        if not isinstance(value, (str, bytes)):
            return
        size = len(value)
        too_long = "max" in meta and size > meta["max"]
        if too_long:
            problems.append(problem("constraint", path, value,
                                    f"Member must have length less than or equal to {meta['max']}", where, wire))
        if "min" in meta and size < meta["min"]:
            problems.append(problem("constraint", path, value,
                                    f"Member must have length greater than or equal to {meta['min']}", where, wire))
        if kind == "string" and shape.enum and value not in shape.enum:
            problems.append(problem("constraint", path, value,
                                    f"Member must satisfy enum value set: [{', '.join(shape.enum)}]", where, wire))
        if kind == "string" and "pattern" in meta and not too_long:
            regex = compiled(meta["pattern"])
            if regex is not None and not regex.fullmatch(value):
                problems.append(problem("constraint", path, value,
                                        f"Member must satisfy regular expression pattern: {meta['pattern']}",
                                        where, wire))
        return
    if kind in ("integer", "long", "float", "double") and isinstance(value, (int, float)):
        if "max" in meta and value > meta["max"]:
            problems.append(problem("constraint", path, value,
                                    f"Member must have value less than or equal to {meta['max']}", where, wire))
        if "min" in meta and value < meta["min"]:
            problems.append(problem("constraint", path, value,
                                    f"Member must have value greater than or equal to {meta['min']}", where, wire))


# ---------------------------------------------------------------- RULES ------------------
# What AWS documents but the models leave out. Each rule names its page; a rule's problem
# carries the code and message the service answers with.


def rule(path, code, message, value=MISSING, where="json", wire=None):
    return problem("rule", path, value, message, where, wire, code=code, message=message)


# ECS names: "Up to 255 letters (uppercase and lowercase), numbers, underscores, and
# hyphens are allowed." -- the model's own documentation of CreateCluster.clusterName,
# CreateService.serviceName, RegisterTaskDefinition.family and ContainerDefinition.name
# (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_CreateCluster.html, ...).
# ECS answers a bad reference with InvalidParameterException "Cluster must match
# ^[a-zA-Z0-9\-_]{1,255}$, but was ..." (as reported in
# https://github.com/awslabs/amazon-ecs-nodejs-microservices/issues/18), and a bad task
# definition with ClientException "Family contains invalid characters." / "Container.name
# contains invalid characters." (https://github.com/aws/amazon-ecs-cli/issues/542,
# https://github.com/hashicorp/terraform-provider-aws/issues/5950).
ECS_NAME = re.compile(r"[a-zA-Z0-9_-]{1,255}")
ECS_NAME_TEXT = r"^[a-zA-Z0-9\-_]{1,255}$"
ARN = r"arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:"
ECS_REFS = {
    # (member, ARN resource pattern whose last group is the name, label)
    "cluster": (re.compile(ARN + r"cluster/(.+)"), "Cluster"),
    "service": (re.compile(ARN + r"service/(?:[^/]+/)?(.+)"), "Service"),
}
TASK_DEFINITION = re.compile(r"(?:" + ARN + r"task-definition/)?([^:/]+)(?::([0-9]+))?")


def ecs_reference(kind, value, path, code="InvalidParameterException"):
    """A cluster or service given by name or ARN: the name must be an ECS name."""
    pattern, label = ECS_REFS[kind]
    if value.startswith("arn:"):
        found = pattern.fullmatch(value)
        if not found:
            return []  # some other ARN form: not judged
        value = found.group(1)
    if ECS_NAME.fullmatch(value):
        return []
    return [rule(path, code, f"{label} must match {ECS_NAME_TEXT}, but was {value}", value)]


def ecs_task_definition(value, path, code):
    found = TASK_DEFINITION.fullmatch(value)
    if found and ECS_NAME.fullmatch(found.group(1)) and (found.group(2) is None or int(found.group(2)) > 0):
        return []
    return [rule(path, code, f"Invalid task definition '{value}': expected family, family:revision or "
                             "a task definition ARN, the family up to 255 letters, numbers, hyphens and "
                             "underscores", value)]


def client_token(value, path, most):
    """ECS client tokens: "Up to 64 characters are allowed. The valid characters are
    characters in the range of 33-126, inclusive." (RunTask) / "Up to 36 ASCII characters in
    the range of 33-126 (inclusive) are allowed." (CreateService) -- the model's docs."""
    if 1 <= len(value) <= most and all(33 <= ord(c) <= 126 for c in value):
        return []
    return [rule(path, "InvalidParameterException",
                 f"clientToken must be 1 to {most} ASCII characters in the range 33-126, but was {value}", value)]


def at_most(params, member, most, path=None):
    """The documented per-call limits of a list ("up to 10 services", "up to 100 tasks")."""
    values = params.get(member) or []
    if len(values) <= most:
        return []
    return [rule(path or member, "InvalidParameterException",
                 f"{member} can have at most {most} items, but had {len(values)}", len(values))]


def ecs_common(params, operation):
    found = []
    if isinstance(params.get("cluster"), str) and operation != "CreateCluster":
        found += ecs_reference("cluster", params["cluster"], "cluster")
    return found


def ecs_create_cluster(params):
    name = params.get("clusterName")
    if isinstance(name, str) and not ECS_NAME.fullmatch(name):
        return [rule("clusterName", "InvalidParameterException",
                     f"Cluster name must match {ECS_NAME_TEXT}, but was {name}", name)]
    return []


def ecs_create_service(params):
    found = []
    name = params.get("serviceName")
    if isinstance(name, str) and not ECS_NAME.fullmatch(name):
        found.append(rule("serviceName", "InvalidParameterException",
                          f"Service name must match {ECS_NAME_TEXT}, but was {name}", name))
    if isinstance(params.get("taskDefinition"), str):
        found += ecs_task_definition(params["taskDefinition"], "taskDefinition", "InvalidParameterException")
    if isinstance(params.get("clientToken"), str):
        found += client_token(params["clientToken"], "clientToken", 36)
    return found


def ecs_update_service(params):
    found = []
    if isinstance(params.get("service"), str):
        found += ecs_reference("service", params["service"], "service")
    if isinstance(params.get("taskDefinition"), str):
        found += ecs_task_definition(params["taskDefinition"], "taskDefinition", "InvalidParameterException")
    return found


def ecs_references(params, member, kind, most):
    """A Describe call's list of names or ARNs: at most `most` of them, each an ECS name."""
    found = at_most(params, member, most)
    for i, value in enumerate(params.get(member) or [], 1):
        if isinstance(value, str):
            found += ecs_reference(kind, value, f"{member}.{i}.member")
    return found


def ecs_describe_services(params):
    return ecs_references(params, "services", "service", 10)  # "You may specify up to 10 services to describe"


def ecs_list_tasks(params):
    family = params.get("family")
    if isinstance(family, str) and not ECS_NAME.fullmatch(family):
        return [rule("family", "InvalidParameterException", "family must match ^[a-zA-Z0-9\\-_]+$", family)]
    if isinstance(params.get("serviceName"), str):
        return ecs_reference("service", params["serviceName"], "serviceName")
    return []


# RunTask: "startedBy ... Up to 128 letters (uppercase and lowercase), numbers, hyphens (-),
# forward slash (/), and underscores (_) are allowed."; "count ... You can specify up to 10
# tasks for each call." (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_RunTask.html)
STARTED_BY = re.compile(r"[a-zA-Z0-9_/-]{1,128}")


def ecs_run_task(params):
    found = []
    if isinstance(params.get("taskDefinition"), str):
        found += ecs_task_definition(params["taskDefinition"], "taskDefinition", "InvalidParameterException")
    if isinstance(params.get("clientToken"), str):
        found += client_token(params["clientToken"], "clientToken", 64)
    started_by = params.get("startedBy")
    if isinstance(started_by, str) and not STARTED_BY.fullmatch(started_by):
        found.append(rule("startedBy", "InvalidParameterException",
                          "startedBy can have up to 128 letters, numbers, hyphens, forward slashes and "
                          f"underscores, but was {started_by}", started_by))
    count = params.get("count")
    if isinstance(count, int) and not isinstance(count, bool) and not 1 <= count <= 10:
        found.append(rule("count", "InvalidParameterException", f"count must be between 1 and 10, but was {count}",
                          count))
    return found


def ecs_describe_tasks(params):
    return at_most(params, "tasks", 100)  # "A list of up to 100 task IDs or full ARN entries."


def ecs_describe_clusters(params):
    # "A list of up to 100 cluster names or full cluster ARN entries."
    return ecs_references(params, "clusters", "cluster", 100)


def ecs_describe_task_definition(params):
    if isinstance(params.get("taskDefinition"), str):
        return ecs_task_definition(params["taskDefinition"], "taskDefinition", "ClientException")
    return []


# Fargate task sizes: the model's RegisterTaskDefinition.memory documentation and the
# developer guide's "Task size" table
# (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-tasks-services.html#fargate-tasks-size):
# cpu units -> allowed memory (MiB). Fargate needs network mode awsvpc (RegisterTaskDefinition.networkMode).
FARGATE_SIZES = {
    256: {512, 1024, 2048},
    512: set(range(1024, 4097, 1024)),
    1024: set(range(2048, 8193, 1024)),
    2048: set(range(4096, 16385, 1024)),
    4096: set(range(8192, 30721, 1024)),
    8192: set(range(16384, 61441, 4096)),
    16384: set(range(32768, 122881, 8192)),
}


def units(value, unit, per):
    """`1024`, `1 vCPU`, `0.25 vcpu` -> 1024, 1024, 256 (unit `vcpu`); `2GB` -> 2048."""
    found = re.fullmatch(rf"\s*([0-9]+(?:\.[0-9]+)?)\s*({unit})?\s*", value, re.IGNORECASE)
    if not found:
        return None
    amount = float(found.group(1)) * (per if found.group(2) else 1)
    return int(amount) if amount.is_integer() else None


def ecs_register_task_definition(params):
    found = []
    family = params.get("family")
    if family == "":
        found.append(rule("family", "ClientException", "Family can not be blank.", family))
    elif isinstance(family, str) and not ECS_NAME.fullmatch(family):
        found.append(rule("family", "ClientException", "Family contains invalid characters." if len(family) <= 255
                          else "Family can have at most 255 characters.", family))
    # "name ... Up to 255 letters (uppercase and lowercase), numbers, underscores, and
    # hyphens are allowed."; name and image are required container parameters
    # (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task_definition_parameters.html#container_definitions).
    for i, container in enumerate(params.get("containerDefinitions") or [], 1):
        if not isinstance(container, dict):
            continue
        name = container.get("name")
        if not name:
            found.append(rule(f"containerDefinitions.{i}.member.name", "ClientException",
                              "Container.name should not be null or empty.", name if name is not None else MISSING))
        elif isinstance(name, str) and not ECS_NAME.fullmatch(name):
            found.append(rule(f"containerDefinitions.{i}.member.name", "ClientException",
                              "Container.name contains invalid characters.", name))
        if not container.get("image"):
            found.append(rule(f"containerDefinitions.{i}.member.image", "ClientException",
                              "Container.image should not be null or empty."))
    if "FARGATE" in (params.get("requiresCompatibilities") or []):
        mode = params.get("networkMode")
        if mode != "awsvpc":
            found.append(rule("networkMode", "ClientException", "Fargate only supports network mode 'awsvpc'.",
                              mode if mode is not None else MISSING))
        cpu, memory = params.get("cpu"), params.get("memory")
        if not cpu:
            found.append(rule("cpu", "ClientException", "Fargate requires that 'cpu' be defined at the task level."))
        elif not memory:
            found.append(rule("memory", "ClientException",
                              "Fargate requires that 'memory' be defined at the task level."))
        elif isinstance(cpu, str) and isinstance(memory, str):
            cpu_units, mib = units(cpu, "vcpu", 1024), units(memory, "gb", 1024)
            if cpu_units is not None and mib is not None and mib not in FARGATE_SIZES.get(cpu_units, ()):
                found.append(rule("memory", "ClientException",
                                  f"No Fargate configuration exists for given values: {cpu} CPU, {memory} memory. "
                                  "See the Amazon ECS documentation for the valid values.", memory))
    return found


ECS_RULES = {
    "CreateCluster": ecs_create_cluster,
    "CreateService": ecs_create_service,
    "UpdateService": ecs_update_service,
    "DescribeServices": ecs_describe_services,
    "ListTasks": ecs_list_tasks,
    "RunTask": ecs_run_task,
    "DescribeTasks": ecs_describe_tasks,
    "DescribeClusters": ecs_describe_clusters,
    "DescribeTaskDefinition": ecs_describe_task_definition,
    "RegisterTaskDefinition": ecs_register_task_definition,
}


def ecs_rules(operation, params):
    found = ecs_common(params, operation)
    if operation in ECS_RULES:
        found += ECS_RULES[operation](params)
    return found


# S3 general purpose bucket names
# (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html):
# 3-63 characters; lowercase letters, numbers, dots and hyphens; begin and end with a
# letter or number; no two adjacent periods; not formatted as an IP address; not starting
# with xn--, sthree- or amzn-s3-demo-; not ending with -s3alias, --ol-s3, .mrap, --x-s3 or
# --table-s3. Buckets made before March 1, 2018 in us-east-1 could have up to 255
# uppercase letters, numbers, periods, hyphens and underscores ("Legacy bucket names" on
# the same page), so a request to an existing bucket is held to that looser rule and only
# CreateBucket to the whole one. S3 answers InvalidBucketName "The specified bucket is not
# valid." (https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html).
BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
LEGACY_BUCKET = re.compile(r"[A-Za-z0-9._-]{1,255}")
BUCKET_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
BUCKET_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


def bucket_problem(name, create):
    if not create:
        return None if LEGACY_BUCKET.fullmatch(name) else "not a bucket name"
    if not BUCKET.fullmatch(name):
        return "3-63 lowercase letters, numbers, dots and hyphens, beginning and ending with a letter or number"
    if ".." in name:
        return "two adjacent periods"
    try:
        ipaddress.IPv4Address(name)
        return "formatted as an IP address"
    except ValueError:
        pass
    for prefix in BUCKET_PREFIXES:
        if name.startswith(prefix):
            return f"starts with the reserved prefix {prefix}"
    for suffix in BUCKET_SUFFIXES:
        if name.endswith(suffix):
            return f"ends with the reserved suffix {suffix}"
    return None


def s3_bucket(name, path, create, where="uri", wire="Bucket"):
    why = bucket_problem(name, create)
    if why is None:
        return []
    found = rule(path, "InvalidBucketName", "The specified bucket is not valid.", name, where, wire)
    found["why"] = why
    return [found]


def s3_key(key, path, where="uri"):
    # "The name for a key is a sequence of Unicode characters whose UTF-8 encoding is at
    # most 1,024 bytes long." (https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-keys.html)
    if len(key.encode("utf-8")) <= 1024:
        return []
    return [rule(path, "KeyTooLongError", "Your key is too long", key, where)]


def s3_copy_source(value):
    """x-amz-copy-source: `bucket/key` (URL-encoded, optionally `/`-prefixed and with
    `?versionId=`), or an access point ARN (not judged)."""
    source = urllib.parse.unquote(value.split("?versionId=", 1)[0]).lstrip("/")
    if source.startswith("arn:"):
        return []
    bucket, _, key = source.partition("/")
    if not bucket or not key:
        return [rule("CopySource", "InvalidArgument", "Copy Source must mention the source bucket and key: "
                                                      "sourcebucket/sourcekey", value, "header", "x-amz-copy-source")]
    found = s3_bucket(bucket, "CopySource", False, "header", "x-amz-copy-source")
    return found + s3_key(key, "CopySource", "header")


def s3_rules(operation, params):
    found = []
    if isinstance(params.get("Bucket"), str):
        found += s3_bucket(params["Bucket"], "Bucket", operation == "CreateBucket")
    if isinstance(params.get("Key"), str):
        found += s3_key(params["Key"], "Key")
    if isinstance(params.get("CopySource"), str):
        found += s3_copy_source(params["CopySource"])
    metadata = params.get("Metadata")
    if isinstance(metadata, dict):
        # "the user-defined metadata is limited to 2 KB in size ... the sum of the number of
        # bytes in the UTF-8 encoding of each key and value."
        # (https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingMetadata.html)
        size = sum(len(k.encode()) + len(str(v).encode()) for k, v in metadata.items())
        if size > 2048:
            found.append(rule("Metadata", "MetadataTooLarge",
                              "Your metadata headers exceed the maximum allowed metadata size", size, "header"))
    if operation == "DeleteObjects":
        # "The request can contain a list of up to 1,000 keys that you want to delete."
        # (https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteObjects.html)
        objects = (params.get("Delete") or {}).get("Objects") or []
        if len(objects) > 1000:
            found.append(rule("Delete.Objects", "MalformedXML", S3_MALFORMED, len(objects), "payload"))
        for i, item in enumerate(objects, 1):
            if isinstance(item, dict) and isinstance(item.get("Key"), str):
                found += s3_key(item["Key"], f"Delete.Objects.{i}.member.Key", "payload")
    return found


# CloudFront invalidation paths
# (https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/invalidation-specifying-objects.html):
# through the API a path must begin with `/`; "The maximum length of a path is 4,000
# characters"; the `*` wildcard only at the end; non-ASCII and RFC 1738 unsafe characters
# URL-encoded. CloudFront answers InvalidArgument "Your request contains one or more
# invalid invalidation paths." (reported for a missing `/`, `~`, `[`:
# https://github.com/aws/aws-sdk-js/issues/4234, https://github.com/aws/aws-cdk/issues/9317).
UNSAFE = set(' <>"#{}|\\^~[]`')


def invalidation_path_problem(path):
    if not path.startswith("/"):
        return "does not begin with /"
    if len(path) > 4000:
        return "is longer than 4,000 characters"
    if "*" in path[:-1]:
        return "has a * wildcard before its end"
    bad = sorted({c for c in path if c in UNSAFE or not 33 <= ord(c) <= 126})
    if bad:
        return f"has characters that must be URL-encoded: {''.join(bad)!r}"
    return None


def quantities(value, path, found):
    """Every CloudFront `Quantity`/`Items` pair must agree: InconsistentQuantities "The
    value of Quantity and the size of Items don't match." (the model's documentation of
    the InconsistentQuantities error)."""
    if isinstance(value, dict):
        if isinstance(value.get("Quantity"), int) and not isinstance(value["Quantity"], bool):
            if value["Quantity"] != len(value.get("Items") or []):
                found.append(rule(f"{path}.Quantity" if path else "Quantity", "InconsistentQuantities",
                                  "The value of Quantity and the size of Items don't match.", value["Quantity"],
                                  "payload"))
        for key, item in value.items():
            quantities(item, f"{path}.{key}" if path else key, found)
    elif isinstance(value, list):
        for i, item in enumerate(value, 1):
            quantities(item, f"{path}.{i}.member", found)


def cloudfront_rules(operation, params):
    found = []
    for name, value in params.items():
        quantities(value, name, found)
    if operation == "CreateInvalidation":
        paths = ((params.get("InvalidationBatch") or {}).get("Paths") or {}).get("Items") or []
        for i, path in enumerate(paths, 1):
            why = invalidation_path_problem(path) if isinstance(path, str) else None
            if why:
                problem_ = rule(f"InvalidationBatch.Paths.Items.{i}.member", "InvalidArgument",
                                "Your request contains one or more invalid invalidation paths.", path, "payload")
                problem_["why"] = why
                found.append(problem_)
    return found


RULES = {"ecs": ecs_rules, "s3": s3_rules, "cloudfront": cloudfront_rules}

# ---------------------------------------------------------------- refusals ---------------
# Each service's answer to a request its validation refuses, in its own protocol.
#
# - ECS, ECR (JSON): a body that does not parse, or a member of the wrong JSON type, is
#   SerializationException (the Coral/Jackson deserializer; e.g. "NUMBER_VALUE can not be
#   converted to a String", "Start of structure or map found where not expected."). A
#   model constraint is InvalidParameterException, the error both services list for
#   "The specified parameter isn't valid"
#   (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/CommonErrors.html and each
#   action's Errors section), with ClientException for RegisterTaskDefinition, as ECS
#   answers it. ECS words it "include should be one of [ATTACHMENTS,SETTINGS,STATISTICS,
#   TAGS]" (https://github.com/hashicorp/terraform-provider-aws/issues/23342); here the
#   Coral wording is used. ECR words it "Invalid parameter at 'repositoryName' failed to
#   satisfy constraint: 'must satisfy regular expression ...'"
#   (https://github.com/jenkins-x/jx/issues/1344).
# - STS (query): ValidationError with Coral's "1 validation error detected: Value ... at
#   'roleSessionName' failed to satisfy constraint: Member must ..."
#   (https://docs.aws.amazon.com/STS/latest/APIReference/CommonErrors.html: ValidationError).
# - S3 (REST-XML): InvalidBucketName, KeyTooLongError, MetadataTooLarge,
#   InvalidStorageClass, InvalidLocationConstraint, MalformedXML for a payload that does
#   not validate ("The XML you provided was not well-formed or did not validate against
#   our published schema"), MissingRequestBodyError for a required payload left out, and
#   InvalidArgument for a header or query value
#   (https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html#ErrorCodeList).
# - CloudFront (REST-XML): MalformedInput for a body that does not parse or a value of the
#   wrong type, MissingBody for a missing required body, InconsistentQuantities, and
#   InvalidArgument "The argument is invalid." for everything else
#   (https://docs.aws.amazon.com/cloudfront/latest/APIReference/CommonErrors.html and each
#   action's Errors section).

S3_MALFORMED = "The XML you provided was not well-formed or did not validate against our published schema"
S3_HEADER_CODES = {"x-amz-storage-class": ("InvalidStorageClass", "The storage class you specified is not valid")}


def coral_value(value):
    if value is None or value is MISSING:
        return "null"
    if isinstance(value, bool):
        return "'true'" if value else "'false'"
    if isinstance(value, (dict, list)):
        value = json.dumps(value)
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    value = str(value)
    return "'" + (value if len(value) <= 256 else value[:256] + "...") + "'"


def coral_path(path, lower):
    if not lower:
        return path
    return ".".join(part[:1].lower() + part[1:] for part in path.split("."))


def coral_message(problems, lower=False):
    count = len(problems)
    parts = [f"Value {coral_value(p['value'])} at '{coral_path(p['path'], lower)}' failed to satisfy constraint: "
             f"{p['constraint']}" for p in problems]
    return f"{count} validation error{'s' if count > 1 else ''} detected: " + "; ".join(parts)


def describe(p):
    """One problem for a person, for the record."""
    text = p.get("message") or p["constraint"]
    where = p["path"] or p.get("wire") or "the request"
    why = f" ({p['why']})" if p.get("why") else ""
    value = f" = {coral_value(p['value'])}" if p["value"] is not MISSING else ""
    return f"{where}{value}: {text}{why}"


def refusal(service, operation, problems):
    """(status, code, message) AWS answers for the first of `problems` it would meet:
    deserialization, then validation, then the service's own rules."""
    order = {"malformed": 0, "type": 1, "constraint": 2, "rule": 3}
    if service == "s3":
        order["bucket"] = -1
    problems = sorted(problems, key=lambda p: order["bucket"] if p.get("code") == "InvalidBucketName"
                      else order[p["kind"]])
    first = problems[0]
    same = [p for p in problems if p["kind"] == first["kind"]]
    if first["kind"] == "rule":
        return 400, first["code"], first["message"]
    if service in ("ecs", "ecr"):
        if first["kind"] in ("malformed", "type"):
            return 400, "SerializationException", first["constraint"]
        code = "ClientException" if operation == "RegisterTaskDefinition" else "InvalidParameterException"
        if service == "ecr":
            return 400, code, f"Invalid parameter at '{first['path']}' failed to satisfy constraint: " \
                              f"'{first['constraint']}'"
        return 400, code, coral_message(same)
    if service == "sts":
        if first["kind"] == "malformed":
            return 400, "MalformedInput", first["constraint"]
        return 400, "ValidationError", coral_message(same, lower=True)
    if service == "s3":
        if first["where"] == "payload":
            if first["kind"] == "constraint" and first["path"].endswith("LocationConstraint"):
                return 400, "InvalidLocationConstraint", "The specified location-constraint is not valid"
            if first["kind"] == "constraint" and first["value"] is None and first["path"].count(".") == 0:
                return 400, "MissingRequestBodyError", "Request Body is empty"
            return 400, "MalformedXML", S3_MALFORMED
        wire = (first.get("wire") or first["path"]).lower()
        if wire in S3_HEADER_CODES and first["kind"] == "constraint":
            return (400,) + S3_HEADER_CODES[wire]
        value = "" if first["value"] in (MISSING, None) else f": {coral_value(first['value'])}"
        return 400, "InvalidArgument", f"{first.get('wire') or first['path']}{value}: {first['constraint']}"
    if service == "cloudfront":
        if first["kind"] in ("malformed", "type"):
            return 400, "MalformedInput", first["constraint"] if first["kind"] == "malformed" else \
                f"Value {coral_value(first['value'])} at '{first['path']}' {first['constraint']}"
        if first["where"] == "payload" and first["value"] is None and first["path"].count(".") == 0:
            return 400, "MissingBody", "This operation requires a body. Ensure that the body is present and the " \
                                       "Content-Type header is set."
        return 400, "InvalidArgument", coral_message(same)
    return 400, "ValidationException", coral_message(same)


# ---------------------------------------------------------------- the check --------------


def check(environ, raw):
    """Checks one request; returns the fault the plugin answers with (`kind`, `status`,
    `code`, `message`, for moto_plugin.error_response) when it is refused, else None."""
    if MODE == "off":
        return None
    request, service_name = None, None
    try:
        request = Request(environ, raw)
        _, service_name = credential_scope(environ, request.query)
        if service_name is None:
            RECORD.skipped()  # not an AWS request: /moto-api, health checks
            return None
        service = MODELS.get(service_name)
        if service is None:
            raise Unmapped(f"no model for service {service_name}")
        problems = []
        operation, params = PARSERS[service.protocol](service, request, problems)
        name = f"{service.name}:{operation.name}"
        RECORD.checked(name)
        if operation.input_shape is not None and not any(p["kind"] == "malformed" for p in problems):
            validate(operation.input_shape, params, "", problems, "json" if service.protocol == "json" else "query",
                     typed=service.protocol == "json")
            if service.protocol == "rest-xml":
                for p in problems:
                    if p["where"] not in ("uri", "querystring", "header", "headers"):
                        p["where"] = "payload"
        if not any(p["kind"] in ("malformed", "type") for p in problems) and service.name in RULES:
            problems += RULES[service.name](operation.name, params)
        if not problems:
            return None
        status, code, message = refusal(service.name, operation.name, problems)
        refused = MODE == "enforce"
        RECORD.violation(name, request, code, message, [describe(p) for p in problems], refused)
        if not refused:
            return None
        if service.protocol != "json":
            message = escape(message)
        return {"kind": "error", "status": status, "code": code, "message": message}
    except Unmapped as err:
        RECORD.unmapped_request(service_name, request, str(err))
        return None
    except Exception as err:  # a bug here must never fail a request AWS would take
        RECORD.unmapped_request(service_name or "?", request, f"internal error: {err!r}")
        traceback.print_exc(file=sys.stderr)
        return None
