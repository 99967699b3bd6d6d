#!/usr/bin/python3
"""The conformance checker: judges recorded HTTP exchanges between libsbx
and sbxd against the project's one schema (proto/), as the managed service's
strict proto3 JSON parser would.

Stubs are generated at run time with protoc into a temp dir (nothing
generated is kept in the tree). The route table is derived from the
google.api.http options in proto/coreweave/sandbox/v1/sandbox.proto, so the
checker knows no path the schema does not declare. Per exchange:

  request   the method + path select the RPC; path variables, query
            parameters (each must be a field of the request message, of the
            right type, repeated keys only for repeated fields) and the body
            (json_format, ignore_unknown_fields=False; every problem of a
            body is listed, not only the first: see Checker._parse) rebuild
            the request message; the body must equal its canonical proto3 JSON
            form (MessageToDict: int64 as strings, zero values omitted, enum
            names, padded base64), key order aside.
  response  200: the RPC's response message, strict and canonical as above.
            Other: a google.rpc.Status, strict and canonical, whose code maps
            to that HTTP status (the gRPC table), with an ErrorInfo of domain
            "cwsandbox.com" and a reason from the schema's list.

A call on a path the schema lacks is an extension call when it matches a
row of sbxd's extension table (wire/ext_routes.c, read here so the checker
and sbxd share one table; its messages come from
proto/sbxd/ext/v1/extension.proto): it is checked as a real call is, except
that sbxd's own reasons (SBXD_REASONS) are allowed in its errors, a raw
body (application/octet-stream, the output and stdin calls) is not parsed,
a body in the binary encoding (application/x-protobuf, extension calls
only: a real call or an error in it fails) is parsed strictly as binary,
and a 404 NOT_FOUND without an ErrorInfo passes (a service without that
extension answers an unmatched path so). A documented extension call that
is not in the table yet (DOC_EXT_ROUTES) is skipped and counted apart.
Real calls carry no extension field or parameter: the old forms
(?waitSeconds on get, ?purge on delete, ranged readFile and writeFile,
workingDir or timeoutSeconds in an exec) fail as any unknown field does.

A request the test sends off-schema on purpose carries the header
X-Conformance-Expect: bad (its request check is skipped); with
X-Conformance-Field: NAME the answer must be 400 INVALID_ARGUMENT with a
google.rpc.BadRequest field violation naming NAME. A valid request asking
for what sbxd cannot honour carries X-Conformance-Unsupported: NAME: the
answer must be 400 INVALID_ARGUMENT or 501 UNIMPLEMENTED naming NAME (in a
field violation or the message), never a 200.
Without a hint, a request of a test's own (origin curl) that is off the
schema and was refused with a 4xx is taken as a deliberate probe (its
answer is still checked as a Status; accepted, it fails), and a test's
valid but non-canonical request is a note: a proto3 server accepts it.
libsbx's requests must be valid and canonical, refused or not.

usage: wirecheck.py report LOG.jsonl...   (exit 1 when any exchange fails)
       wirecheck.py routes                (the route table, from the schema)
"""
import base64
import importlib
import json
import os
import re
import subprocess
import sys
import tempfile
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
PROTO_DIR = os.path.join(REPO, "proto")
PROTO_FILES = ["google/api/http.proto", "google/api/annotations.proto", "google/rpc/status.proto",
               "google/rpc/error_details.proto", "coreweave/sandbox/v1/sandbox.proto"]
# sbxd's extension: its messages, and its route table (the C one sbxd serves).
EXT_PROTO = "sbxd/ext/v1/extension.proto"
EXT_TABLE = os.path.join(REPO, "wire", "ext_routes.c")
WKT_INCLUDE = os.environ.get("PROTO_INCLUDE", "/usr/include")

# google.rpc.Code -> HTTP status, the standard mapping (http-json.md).
GRPC_HTTP = {1: 499, 2: 500, 3: 400, 4: 504, 5: 404, 6: 409, 7: 403, 8: 429, 9: 400, 10: 409,
             11: 400, 12: 501, 13: 500, 14: 503, 15: 500, 16: 401}
GRPC_NAMES = {1: "CANCELLED", 2: "UNKNOWN", 3: "INVALID_ARGUMENT", 4: "DEADLINE_EXCEEDED", 5: "NOT_FOUND",
              6: "ALREADY_EXISTS", 7: "PERMISSION_DENIED", 8: "RESOURCE_EXHAUSTED", 9: "FAILED_PRECONDITION",
              10: "ABORTED", 11: "OUT_OF_RANGE", 12: "UNIMPLEMENTED", 13: "INTERNAL", 14: "UNAVAILABLE",
              15: "DATA_LOSS", 16: "UNAUTHENTICATED"}
ERROR_DOMAIN = "cwsandbox.com"
NO_REASON_CODES = {2, 13, 15, 16}  # UNKNOWN, INTERNAL, DATA_LOSS, UNAUTHENTICATED
# The reasons of the schema (http-json.md "Reasons"); CWSANDBOX_FSS_* too.
SCHEMA_REASONS = {
    "CWSANDBOX_SANDBOX_NOT_FOUND", "CWSANDBOX_FILE_NOT_FOUND", "CWSANDBOX_FILE_IS_DIRECTORY",
    "CWSANDBOX_FILE_IO_FAILED", "CWSANDBOX_FILE_PERMISSION_DENIED", "CWSANDBOX_FILE_TOO_LARGE",
    "CWSANDBOX_COMMAND_TIMEOUT", "CWSANDBOX_RUNNER_UNAVAILABLE", "CWSANDBOX_BACKEND_UNAVAILABLE",
    "CWSANDBOX_RUNNER_CAPACITY_EXHAUSTED", "CWSANDBOX_NO_SUITABLE_RUNNER", "CWSANDBOX_PLACEMENT_REJECTED",
    "CWSANDBOX_PLACEMENT_CONSTRAINT_UNSATISFIED", "CWSANDBOX_RUNNER_OVERLOADED",
    "CWSANDBOX_SERVERLESS_NOT_ALLOWED", "CWSANDBOX_SERVERLESS_DISABLED", "CWSANDBOX_SERVERLESS_MISCONFIGURED",
    "CWSANDBOX_INVALID_REQUEST", "CWSANDBOX_RESOURCE_CEILING_EXCEEDED", "CWSANDBOX_SECRET_STORE_NOT_PROVISIONED",
    "CWSANDBOX_VOLUME_NOT_SNAPSHOTTABLE", "CWSANDBOX_NOT_IMPLEMENTED",
}
SCHEMA_REASON_PREFIXES = ("CWSANDBOX_FSS_",)
# Output-only fields of the Sandbox: a create body must not carry them.
SANDBOX_OUTPUT_ONLY = ("sandboxId", "status", "sourceTemplateId", "sourceTemplateRevision")

# sbxd's own reasons (docs/api.md), allowed on extension calls only.
SBXD_REASONS = {"CWSANDBOX_PROCESS_NOT_FOUND", "CWSANDBOX_PROCESS_EXITED", "CWSANDBOX_STDIN_CLOSED",
                "CWSANDBOX_STDIN_FULL", "CWSANDBOX_DIRECTORY_NOT_EMPTY", "CWSANDBOX_NAME_TOO_LONG"}
# sbxd's extension as docs/api.md documents it, (method, path regex): the
# calls not in wire/ext_routes.c yet are skipped, not checked.
DOC_EXT_ROUTES = [
    ("GET", r"/v1/extensions"),
    ("GET|POST", r"/v1/sandboxes/[^/:]+/processes"),
    ("GET", r"/v1/sandboxes/[^/:]+/processes/[0-9]+"),
    ("GET", r"/v1/sandboxes/[^/:]+/processes/[0-9]+/(stdout|stderr)"),
    ("GET", r"/v1/sandboxes/[^/:]+/(stdout|stderr)"),
    ("POST", r"/v1/sandboxes/[^/:]+/processes/[0-9]+/stdin(:close)?"),
    ("POST", r"/v1/sandboxes/[^/:]+/processes/[0-9]+:signal"),
    ("GET", r"/v1/sandboxes/[^/:]+:(listDir|statFile)"),
    ("POST", r"/v1/sandboxes/[^/:]+:(makeDir|removeFile)"),
    ("GET", r"/v1/sandboxes/[^/:]+:(wait|readFileRange|getXattr|listXattrs|statFileSystem)"),
    ("POST", r"/v1/sandboxes/[^/:]+:(forget|writeFileAt|createFile|setFileAttrs|renameFile|createSymlink|linkFile"
             r"|makeNode|setXattr|removeXattr|allocateFile|listDirs)"),
    ("GET", r"/v1/images"),
    ("GET|POST|DELETE", r"/v1/images[:/].*"),
]


class Schema:
    """The generated stubs and the route table derived from them."""

    def __init__(self, workdir=None):
        self._tmp = None
        if workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="wirecheck.")
            workdir = self._tmp.name
        have_ext = os.path.exists(os.path.join(PROTO_DIR, EXT_PROTO))
        subprocess.run(["protoc", "-I", PROTO_DIR, "-I", WKT_INCLUDE, "--python_out=" + workdir] + PROTO_FILES
                       + ([EXT_PROTO] if have_ext else []), check=True)
        sys.path.insert(0, workdir)
        from google.protobuf import json_format  # noqa: E402 (after the path is set)
        self.json_format = json_format
        self.sandbox = importlib.import_module("coreweave.sandbox.v1.sandbox_pb2")
        self.annotations = importlib.import_module("google.api.annotations_pb2")
        self.status = importlib.import_module("google.rpc.status_pb2")
        self.details = importlib.import_module("google.rpc.error_details_pb2")
        self.routes = self._routes()
        self.ext = importlib.import_module("sbxd.ext.v1.extension_pb2") if have_ext else None
        self.ext_routes = self._ext_routes() if have_ext and os.path.exists(EXT_TABLE) else []

    def _cls(self, desc):
        from google.protobuf import message_factory
        return message_factory.MessageFactory().GetPrototype(desc)

    def _routes(self):
        routes = []
        svc = self.sandbox.DESCRIPTOR.services_by_name["SandboxService"]
        for m in svc.methods:
            opts = m.GetOptions()
            if not opts.HasExtension(self.annotations.http):
                continue  # StreamExec, StreamLogs: gRPC only
            rule = opts.Extensions[self.annotations.http]
            verb = rule.WhichOneof("pattern")
            template = getattr(rule, verb)
            names = re.findall(r"\{([a-z_]+)\}", template)
            rx = "".join(re.escape(p) if i % 2 == 0 else "(?P<%s>[^/:]+)" % p
                         for i, p in enumerate(re.split(r"\{([a-z_]+)\}", template)))
            routes.append({"rpc": m.name, "method": verb.upper(), "template": template,
                           "regex": re.compile("^" + rx + "$"), "path_fields": names, "body": rule.body,
                           "req": self._cls(m.input_type), "resp": self._cls(m.output_type)})
        return routes

    @staticmethod
    def _regex(template):
        return re.compile("^" + "".join(re.escape(p) if i % 2 == 0 else "(?P<%s>[^/:]+)" % p
                                        for i, p in enumerate(re.split(r"\{([a-z_]+)\}", template))) + "$")

    def _ext_routes(self):
        """The rows of wire/ext_routes.c: {"Rpc", "METHOD", "template",
        "body", EXT(req)|PB(req), EXT(resp)|PB(resp)|NULL, {vars}, "name"}.
        EXT(x)/PB(x) name protoc-c's descriptors of sbxd.ext.v1 and
        coreweave.sandbox.v1 (x in snake case); NULL = a raw answer."""
        text = re.sub(r"/\*.*?\*/", "", open(EXT_TABLE).read(), flags=re.S)
        row = re.compile(r'\{\s*"(\w+)",\s*"([A-Z]+)",\s*"([^"]+)",\s*"([^"]*)",\s*(EXT\(\w+\)|PB\(\w+\)|NULL),'
                         r'\s*(EXT\(\w+\)|PB\(\w+\)|NULL),\s*\{[^}]*\},\s*"([\w-]+)"\s*\}')

        def cls(ref):
            mt = re.fullmatch(r"(EXT|PB)\((\w+)\)", ref)
            if not mt:
                return None
            name = "".join(w.capitalize() for w in mt.group(2).split("_"))
            mod = self.ext if mt.group(1) == "EXT" else self.sandbox
            return self._cls(mod.DESCRIPTOR.message_types_by_name[name])
        out = []
        for rpc, method, template, body, req, resp, name in row.findall(text):
            out.append({"rpc": rpc, "method": method, "template": template, "regex": self._regex(template),
                        "path_fields": re.findall(r"\{([a-z_]+)\}", template), "body": body, "req": cls(req),
                        "resp": cls(resp), "ext": name})
        return out

    def match_ext(self, method, path):
        for r in self.ext_routes:
            if r["method"] == method:
                mt = r["regex"].match(path)
                if mt:
                    return r, {k: urllib.parse.unquote(v) for k, v in mt.groupdict().items()}
        return None, None

    def match(self, method, path):
        for r in self.routes:
            if r["method"] == method:
                mt = r["regex"].match(path)
                if mt:
                    return r, {k: urllib.parse.unquote(v) for k, v in mt.groupdict().items()}
        return None, None


# The binary encoding of the extension's calls (docs/api.md, "Encodings").
PB_MEDIA = "application/x-protobuf"


def _bad_scalar(f, v):
    """Why the proto3 JSON parser refuses V for scalar field F, or None."""
    FD = type(f)
    ints = (FD.TYPE_INT32, FD.TYPE_INT64, FD.TYPE_UINT32, FD.TYPE_UINT64, FD.TYPE_SINT32, FD.TYPE_SINT64,
            FD.TYPE_FIXED32, FD.TYPE_FIXED64, FD.TYPE_SFIXED32, FD.TYPE_SFIXED64)
    if v is None:
        return None
    if f.type in ints:
        if isinstance(v, bool) or not isinstance(v, (int, float, str)):
            return "an integer field holds %s" % json.dumps(v)[:40]
        if isinstance(v, str) and not re.fullmatch(r"-?[0-9]+", v):
            return "an integer field holds the string %s" % json.dumps(v)[:40]
        return None
    if f.type == FD.TYPE_BOOL:
        return None if isinstance(v, bool) else "a bool field holds %s" % json.dumps(v)[:40]
    if f.type in (FD.TYPE_STRING, FD.TYPE_BYTES):
        return None if isinstance(v, str) else "a %s field holds %s" % (
            "string" if f.type == FD.TYPE_STRING else "bytes", json.dumps(v)[:40])
    if f.type == FD.TYPE_ENUM:
        if isinstance(v, str):
            return None if v in f.enum_type.values_by_name else "%s is not a %s value" % (v, f.enum_type.name)
        return None if isinstance(v, int) and not isinstance(v, bool) else "an enum field holds %s" % json.dumps(v)[:40]
    return None


def _bad_wkt(name, v):
    if name == "google.protobuf.Timestamp":
        ok = isinstance(v, str) and re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}"
                                                 r"(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})", v)
        return None if ok else "a Timestamp holds %s (an unset one is absent)" % json.dumps(v)[:40]
    if name == "google.protobuf.Duration":
        ok = isinstance(v, str) and re.fullmatch(r"-?[0-9]+(\.[0-9]{1,9})?s", v)
        return None if ok else "a Duration holds %s" % json.dumps(v)[:40]
    return None


def prune(obj, desc, where, out):
    """OBJ without the unknown fields and refused values of message DESC,
    each reported in OUT with its path."""
    if desc.full_name in ("google.protobuf.Timestamp", "google.protobuf.Duration"):
        return obj
    if desc.full_name == "google.protobuf.Any" or not isinstance(obj, dict):
        if not isinstance(obj, dict):
            out.append("%s: a message holds %s" % (where, json.dumps(obj)[:40]))
            return {}
        return obj
    fields = {f.json_name: f for f in desc.fields}
    fields.update({f.name: f for f in desc.fields})
    res = {}
    for k, v in obj.items():
        f = fields.get(k)
        w = where + "." + k
        if f is None:
            out.append("%s: no field named %s in %s" % (w, json.dumps(k), desc.name))
            continue
        mt = f.message_type
        if mt is not None and mt.GetOptions().map_entry:
            if v is not None and not isinstance(v, dict):
                out.append("%s: a map holds %s" % (w, json.dumps(v)[:40]))
                continue
            vf = mt.fields_by_name["value"]
            keep = {}
            for mk, mv in (v or {}).items():
                if vf.message_type is not None:
                    keep[mk] = prune(mv, vf.message_type, "%s[%s]" % (w, mk), out)
                elif _bad_scalar(vf, mv):
                    out.append("%s[%s]: %s" % (w, mk, _bad_scalar(vf, mv)))
                else:
                    keep[mk] = mv
            res[k] = keep
            continue
        if f.label == f.LABEL_REPEATED:
            if v is not None and not isinstance(v, list):
                out.append("%s: a repeated field holds %s" % (w, json.dumps(v)[:40]))
                continue
            items = []
            for i, it in enumerate(v or []):
                iw = "%s[%d]" % (w, i)
                if mt is not None:
                    bad = _bad_wkt(mt.full_name, it)
                    if bad:
                        out.append("%s: %s" % (iw, bad))
                    else:
                        items.append(prune(it, mt, iw, out))
                elif _bad_scalar(f, it):
                    out.append("%s: %s" % (iw, _bad_scalar(f, it)))
                else:
                    items.append(it)
            res[k] = items
            continue
        if mt is not None:
            bad = _bad_wkt(mt.full_name, v)
            if bad:
                out.append("%s: %s" % (w, bad))
            else:
                res[k] = prune(v, mt, w, out) if v is not None else v
        elif _bad_scalar(f, v):
            out.append("%s: %s" % (w, _bad_scalar(f, v)))
        else:
            res[k] = v
    return res


def is_ext_route(method, path):
    return any(re.fullmatch(m, method) and re.fullmatch(p, path) for m, p in DOC_EXT_ROUTES)


def diff(sent, canon, where="$"):
    """Where SENT differs from its canonical form CANON (lists of text)."""
    out = []
    if isinstance(sent, dict) and isinstance(canon, dict):
        for k in sorted(set(sent) | set(canon)):
            w = where + "." + k
            if k not in canon:
                out.append("%s: sent %s, canonical form omits it (zero value or default)" % (w, json.dumps(sent[k])[:60]))
            elif k not in sent:
                out.append("%s: missing, canonical form has %s" % (w, json.dumps(canon[k])[:60]))
            else:
                out += diff(sent[k], canon[k], w)
    elif isinstance(sent, list) and isinstance(canon, list) and len(sent) == len(canon):
        for i, (a, b) in enumerate(zip(sent, canon)):
            out += diff(a, b, "%s[%d]" % (where, i))
    elif sent != canon or type(sent) is not type(canon):
        out.append("%s: sent %s, canonical %s" % (where, json.dumps(sent)[:60], json.dumps(canon)[:60]))
    return out


class Checker:
    def __init__(self, schema):
        self.s = schema
        self.jf = schema.json_format

    def _parse(self, text, msg, what):
        """Strict parse + canonical check of one JSON body. Failures as text.

        json_format stops at the first error; so that one run lists every
        problem, prune() first takes out (and reports) each unknown field
        and each value the parser would refuse, then the rest is parsed
        strictly and compared with its canonical form."""
        try:
            obj = json.loads(text)
        except ValueError as e:
            return ["%s: not JSON (%s)" % (what, e)]
        out = []
        pruned = prune(obj, msg.DESCRIPTOR, msg.DESCRIPTOR.name, out)
        out = ["%s: strict parse as %s: %s" % (what, msg.DESCRIPTOR.full_name, o) for o in out]
        if not out:
            # prune() found nothing: the parser itself on the text as sent
            # must agree, else its word counts.
            try:
                self.jf.Parse(text, type(msg)(), ignore_unknown_fields=False)
            except self.jf.ParseError as e:
                out.append("%s: strict parse as %s: %s" % (what, msg.DESCRIPTOR.full_name, str(e)[:300]))
        try:
            self.jf.ParseDict(pruned, msg, ignore_unknown_fields=False)
        except self.jf.ParseError as e:
            return out + ["%s: strict parse as %s: %s" % (what, msg.DESCRIPTOR.full_name, str(e)[:300])]
        canon = self.jf.MessageToDict(msg, preserving_proto_field_name=False)
        return out + ["%s: not canonical: %s" % (what, d) for d in diff(pruned, canon)]

    def _parse_pb(self, data, msg, what):
        """Strict parse of one body in the binary encoding (an extension
        call sent or answered as application/x-protobuf): it must decode as
        the message (python's parser checks UTF-8 too), hold no field the
        schema lacks, and be what a proto3 encoder writes for it (fields in
        number order, zero values omitted), maps aside."""
        try:
            msg.ParseFromString(data)
        except Exception as e:  # DecodeError, or the C parser's own
            return ["%s: not a binary %s: %s" % (what, msg.DESCRIPTOR.full_name, str(e)[:300])]
        known = type(msg)()
        known.CopyFrom(msg)
        known.DiscardUnknownFields()
        if known.ByteSize() != msg.ByteSize():
            return ["%s: binary %s with fields the schema lacks" % (what, msg.DESCRIPTOR.full_name)]
        if msg.SerializeToString(deterministic=True) != data and not any(
                f.message_type and f.message_type.GetOptions().map_entry for f in msg.DESCRIPTOR.fields):
            return ["%s: binary %s not canonical (%d bytes, a proto3 encoder writes %d)" %
                    (what, msg.DESCRIPTOR.full_name, len(data), msg.ByteSize())]
        return []

    def _query(self, route, query, msg, bound):
        """Query parameters into MSG; failures and extension keys found."""
        fails, ext = [], []
        fields = {f.json_name: f for f in msg.DESCRIPTOR.fields}
        fields.update({f.name: f for f in msg.DESCRIPTOR.fields})
        seen = {}
        for k, v in query:
            seen.setdefault(k, []).append(v)
        for k, vals in seen.items():
            f = fields.get(k)
            if f is None:
                fails.append("query %s: no field %s in %s" % (k, k, msg.DESCRIPTOR.name))
                continue
            if f.name in bound:
                fails.append("query %s: field already bound by the path or body" % k)
                continue
            if k != f.json_name:
                fails.append("query %s: accepted, but the canonical name is %s" % (k, f.json_name))
            if f.message_type is not None:
                fails.append("query %s: a message field cannot be a query parameter" % k)
                continue
            rep = f.label == f.LABEL_REPEATED
            if len(vals) > 1 and not rep:
                fails.append("query %s: given %d times for a singular field" % (k, len(vals)))
            for v in vals:
                err = self._scalar(f, v)
                if err:
                    fails.append("query %s=%s: %s" % (k, v[:40], err))
                elif rep and f.type == f.TYPE_STRING and "," in v and k == "tags":
                    fails.append("query %s=%s: one value with commas; a repeated field repeats the key "
                                 "(?tags=a&tags=b), the service reads ONE tag %r" % (k, v[:40], v[:40]))
        return fails, ext

    @staticmethod
    def _scalar(f, v):
        t = f.type
        ints = {f.TYPE_INT32: (-2**31, 2**31 - 1), f.TYPE_INT64: (-2**63, 2**63 - 1),
                f.TYPE_UINT32: (0, 2**32 - 1), f.TYPE_UINT64: (0, 2**64 - 1)}
        if t in ints:
            if not re.fullmatch(r"-?[0-9]+", v):
                return "not an integer"
            lo, hi = ints[t]
            return None if lo <= int(v) <= hi else "out of range"
        if t == f.TYPE_BOOL:
            return None if v in ("true", "false") else "a bool is true or false"
        if t == f.TYPE_ENUM:
            if v in f.enum_type.values_by_name:
                return None
            if re.fullmatch(r"[0-9]+", v) and int(v) in f.enum_type.values_by_number:
                return "an enum by number; canonical is its name %s" % f.enum_type.values_by_number[int(v)].name
            return "no such %s value" % f.enum_type.name
        return None

    def check_status(self, text, http, expect_field=None, unsupported=None, ext=False, unmatched_ok=False):
        """An error body: google.rpc.Status as the service sends it. EXT:
        an extension call (sbxd's own reasons allowed); UNMATCHED_OK: a
        404/5 without ErrorInfo is an unmatched path, not a fault."""
        st = self.s.status.Status()
        fails = self._parse(text, st, "error body")
        if fails and any("strict parse" in f or "not JSON" in f for f in fails):
            return fails
        want = GRPC_HTTP.get(st.code)
        if want is None:
            fails.append("error code %d is not a google.rpc.Code error" % st.code)
        elif want != http:
            fails.append("HTTP %d for code %d %s, which maps to HTTP %d" % (http, st.code, GRPC_NAMES[st.code], want))
        infos, bad = [], []
        for d in st.details:
            if d.Is(self.s.details.ErrorInfo.DESCRIPTOR):
                i = self.s.details.ErrorInfo()
                d.Unpack(i)
                infos.append(i)
            elif d.Is(self.s.details.BadRequest.DESCRIPTOR):
                b = self.s.details.BadRequest()
                d.Unpack(b)
                bad.append(b)
        # The schema has no reason for the service's own faults nor for
        # auth: those may come without an ErrorInfo.
        if not infos and st.code not in NO_REASON_CODES and not (unmatched_ok and st.code == 5 and http == 404):
            fails.append("error: no google.rpc.ErrorInfo detail")
        for i in infos:
            if i.domain != ERROR_DOMAIN:
                fails.append("ErrorInfo domain %r, the schema's is %r" % (i.domain, ERROR_DOMAIN))
            if i.reason not in SCHEMA_REASONS and not i.reason.startswith(SCHEMA_REASON_PREFIXES) and \
                    not (ext and i.reason in SBXD_REASONS):
                fails.append("ErrorInfo reason %s is not one of the schema's%s" % (
                    i.reason, " (sbxd's own, for extension calls only)" if i.reason in SBXD_REASONS else ""))
        if expect_field is not None:
            if st.code != 3 or http != 400:
                fails.append("off-schema field %s: answered HTTP %d code %d, want 400 INVALID_ARGUMENT"
                             % (expect_field, http, st.code))
            named = [v.field for b in bad for v in b.field_violations]
            if not any(expect_field in n for n in named):
                fails.append("off-schema field %s: no google.rpc.BadRequest field violation names it (got %s)"
                             % (expect_field, named or "none"))
        if unsupported is not None:
            named = [v.field for b in bad for v in b.field_violations]
            if (st.code, http) not in ((3, 400), (12, 501)):
                fails.append("unsupported %s: answered HTTP %d code %d, want 400 INVALID_ARGUMENT or 501 "
                             "UNIMPLEMENTED" % (unsupported, http, st.code))
            if not any(unsupported in n for n in named) and unsupported not in st.message:
                fails.append("unsupported %s: neither a field violation nor the message names it" % unsupported)
        return fails

    def check(self, ex):
        """One recorded exchange -> (verdict, failures, notes)."""
        method = ex["method"]
        u = urllib.parse.urlsplit(ex["target"])
        path = u.path
        query = urllib.parse.parse_qsl(u.query, keep_blank_values=True)
        req_body = base64.b64decode(ex.get("reqBody", ""))
        resp_body = base64.b64decode(ex.get("respBody", ""))
        status = ex["status"]
        hdr = {k.lower(): v for k, v in ex.get("reqHeaders", {}).items()}
        expect_bad = hdr.get("x-conformance-expect") == "bad"
        expect_field = hdr.get("x-conformance-field")
        unsupported = hdr.get("x-conformance-unsupported")
        route, pvars = self.s.match(method, path)
        ext = False
        if route is None:
            route, pvars = self.s.match_ext(method, path)
            ext = route is not None
        # A test's own request (curl) off the schema without a hint: a
        # deliberate probe when the service refused it (4xx); accepted, it
        # fails. libsbx's requests get no such allowance.
        probe = ex.get("origin") == "curl" and 400 <= status < 500
        if route is None:
            if is_ext_route(method, path):
                return "SKIP", [], []
            rtext = resp_body.decode("utf-8", "replace")
            if (expect_bad or probe) and status != 200:
                # a test's deliberate probe of a path no surface has
                fails = self.check_status(rtext, status, unmatched_ok=True)
                if status != 404:
                    fails.append("a path in neither surface: HTTP %d, want 404 NOT_FOUND" % status)
                return ("FAIL", fails, []) if fails else ("PASS", [], [])
            fails = ["%s %s: no such call in the schema, nor in the documented extension" % (method, path)]
            if status != 200:
                fails += self.check_status(rtext, status)
            return "FAIL", fails, []
        fails, notes = [], []
        req = route["req"]() if route["req"] else None
        ctype = hdr.get("content-type", "").split(";")[0].strip().lower()
        # The extension's raw calls: stdin's bytes (a row without a body
        # rule that gets one), the raw file forms (octet-stream).
        raw_in = ext and (ctype == "application/octet-stream" or (route["body"] == "" and req_body != b""))
        if not expect_bad and req is not None:
            bound = set(pvars)
            if raw_in:
                pass  # the extension's raw bytes (stdin, raw writes): no JSON to parse
            elif route["body"] == "":
                if req_body.strip():
                    fails.append("request: %s has no body in the schema, %d bytes sent" % (route["rpc"], len(req_body)))
            else:
                target = req if route["body"] == "*" else getattr(req, route["body"])
                text = req_body.decode("utf-8", "replace")
                if ctype == PB_MEDIA and not ext:
                    fails.append("request: the real %s sent in binary (the real API is JSON only)" % route["rpc"])
                elif ctype == PB_MEDIA:
                    fails += self._parse_pb(req_body, target, "request body")
                else:
                    fails += self._parse(text or "{}", target, "request body")
                if route["body"] == "*":
                    bound = {fd.name for fd in req.DESCRIPTOR.fields}
                    for k, v in pvars.items():
                        if getattr(req, k) in ("", 0):
                            # Transcoding fills it from the path; the docs
                            # send it in both places.
                            notes.append("request body lacks %s (the path has it)" % k)
                        elif str(getattr(req, k)) != v:
                            fails.append("request: body %s %r differs from the path's %r" % (k, getattr(req, k), v))
                else:
                    bound.add(route["body"])
                if route["rpc"] == "CreateSandbox":
                    try:
                        sent = json.loads(text or "{}")
                    except ValueError:
                        sent = {}
                    for k in SANDBOX_OUTPUT_ONLY:
                        if isinstance(sent, dict) and k in sent:
                            fails.append("request: output-only field %s sent in a create" % k)
            qf, _ = self._query(route, query, req, bound)
            fails += qf
            if fails and ex.get("origin") == "curl":
                # A proto3 server takes non-canonical input (an int64 as a
                # number, a zero value written): only libsbx must send
                # the canonical form.
                canon = [f for f in fails if ": not canonical: " in f or "one value with commas" in f]
                notes += ["a test's request, valid but not canonical: " + f for f in canon]
                fails = [f for f in fails if f not in canon]
            if fails and probe:
                notes += ["a test's off-schema request, refused with HTTP %d: %s" % (status, f) for f in fails]
                fails = []
        rtext = resp_body.decode("utf-8", "replace")
        rtype = {k.lower(): v for k, v in ex.get("respHeaders", {}).items()}.get("content-type", "")
        pb_out = rtype.split(";")[0].strip().lower() == PB_MEDIA
        raw_out = ext and status == 200 and not pb_out and (route["resp"] is None or
                                                           (rtype != "" and not rtype.startswith("application/json")))
        if pb_out and (not ext or status != 200 or route["resp"] is None):
            # binary is the extension's answers only, never an error's or
            # a real call's (those stay the managed service's JSON)
            fails.append("response: HTTP %d of %s in binary" % (status, route["rpc"]))
        if status == 200:
            if expect_field is not None:
                fails.append("off-schema field %s: accepted with 200, want 400 naming it" % expect_field)
            if unsupported is not None:
                fails.append("unsupported %s: accepted with 200 (a sandbox that quietly lacks it), want 400 "
                             "or 501 naming it" % unsupported)
            if pb_out and ext and route["resp"] is not None:
                fails += self._parse_pb(resp_body, route["resp"](), "response")
            elif not raw_out:
                fails += self._parse(rtext, route["resp"](), "response")
        else:
            fails += self.check_status(rtext, status, expect_field, unsupported, ext=ext, unmatched_ok=ext)
        if fails:
            return "FAIL", fails, notes
        if ext:
            return "EXT", [], notes
        return ("NOTE" if notes else "PASS"), [], notes


def normalise(finding):
    """A finding without the values that differ between runs (ids, indexes,
    times), so equal findings count once."""
    f = re.sub(r"sbx-[0-9a-f]{8,}", "ID", finding)
    f = re.sub(r"\[\d+\]", "[]", f)
    f = re.sub(r"\d{4}-\d\d-\d\dT[0-9:.]+Z", "TIME", f)
    f = re.sub(r"(sent|canonical) \"(?=[0-9]*[A-Za-z+/=])[A-Za-z0-9+/=]{8,}\"", r"\1 \"B64\"", f)
    return f.split("\n")[0][:200]


def load_log(paths):
    out = []
    for p in paths:
        with open(p) as f:
            out += [json.loads(line) for line in f if line.strip()]
    return out


def report(paths, out=sys.stdout):
    schema = Schema()
    ck = Checker(schema)
    exs = load_log(paths)
    counts = {"PASS": 0, "FAIL": 0, "EXT": 0, "SKIP": 0, "NOTE": 0}
    by_call = {}
    distinct = {}
    for n, ex in enumerate(exs, 1):
        verdict, fails, notes = ck.check(ex)
        counts[verdict] += 1
        route, _ = schema.match(ex["method"], urllib.parse.urlsplit(ex["target"]).path)
        if route is None:
            route, _ = schema.match_ext(ex["method"], urllib.parse.urlsplit(ex["target"]).path)
            call = "ext:" + route["rpc"] if route else "extension (unchecked)"
        else:
            call = route["rpc"]
        origin = ex.get("origin", "?")
        key = (call, origin)
        by_call.setdefault(key, [0, 0])
        by_call[key][0] += 1
        if verdict == "FAIL":
            by_call[key][1] += 1
        if verdict in ("FAIL", "NOTE"):
            print("#%d %s %s %s -> %d [%s, %s%s]" % (n, verdict, ex["method"], ex["target"][:100], ex["status"],
                                                     origin, ex.get("label", ""),
                                                     ", deliberately bad" if ex.get("reqHeaders", {}).get(
                                                         "X-Conformance-Expect") else ""), file=out)
            for f in fails:
                print("    - " + f, file=out)
                key = (call, normalise(f))
                distinct.setdefault(key, set()).add(n)
            for f in notes:
                print("    ~ " + f, file=out)
    print("\nper call (origin: exchanges, failing):", file=out)
    for (call, origin), (n, bad) in sorted(by_call.items()):
        print("  %-26s %-7s %4d %4d" % (call, origin, n, bad), file=out)
    print("\ndistinct findings (call: finding [exchanges]), %d:" % len(distinct), file=out)
    for (call, f), ns in sorted(distinct.items(), key=lambda kv: (kv[0][0], -len(kv[1]), kv[0][1])):
        print("  %s: %s [%d]" % (call, f, len(ns)), file=out)
    binary = {}
    for ex in exs:
        rh = {k.lower(): v for k, v in ex.get("respHeaders", {}).items()}
        if rh.get("content-type", "").split(";")[0].strip().lower() == PB_MEDIA:
            binary[ex.get("origin", "?")] = binary.get(ex.get("origin", "?"), 0) + 1
    print("\nanswers in binary (%s) by origin: %s" % (
        PB_MEDIA, ", ".join("%s %d" % kv for kv in sorted(binary.items())) or "none"), file=out)
    print("\nexchanges %d: pass %d, fail %d, extension checked %d, extension unchecked (skipped) %d, "
          "pass with a note %d" % (len(exs), counts["PASS"], counts["FAIL"], counts["EXT"], counts["SKIP"],
                                   counts["NOTE"]), file=out)
    return counts


def main(argv):
    if len(argv) >= 3 and argv[1] == "report":
        counts = report(argv[2:])
        return 1 if counts["FAIL"] else 0
    if len(argv) == 2 and argv[1] == "routes":
        for r in Schema().routes:
            print("%-6s %-55s body=%-8r %s" % (r["method"], r["template"], r["body"], r["rpc"]))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
