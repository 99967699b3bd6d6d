#!/usr/bin/python3
"""A strict fake of the managed CoreWeave Sandboxes service: only the real
REST surface of coreweave.sandbox.v1, in front of a real sbxd.

It listens on a unix socket and serves exactly the routes of the
google.api.http options in proto/coreweave/sandbox/v1/sandbox.proto
(wirecheck.Schema derives them, as the checker does). Each request is
parsed as a proto3 JSON transcoder would, strictly:

  - a path or method no route has: 404 NOT_FOUND (code 5), with no
    ErrorInfo, as a transcoder answers an unmatched path (sbxd's extension
    paths, /v1/extensions included, are unmatched here: a client sees a
    service without the extension). A known path with another method is
    unmatched too (404/5: ESP and Envoy answer so; grpc-gateway would say
    501 "Method Not Allowed", which clients read as "none" alike);
  - the body (rule "*" = the request, "sandbox" = that field, none = no
    body): an unknown field, a value of the wrong type, bad base64, a bad
    enum name, an output-only field in a create, a body's sandboxId that
    differs from the path's: 400 INVALID_ARGUMENT, ErrorInfo
    CWSANDBOX_INVALID_REQUEST (domain cwsandbox.com) and a
    google.rpc.BadRequest naming every offending field by its path in the
    body as written (`spec.containers[0].bogus`);
  - query parameters: each must be a scalar field of the request not bound
    by the path or body, repeated keys only for repeated fields, values of
    the field's type (enums by name or number, bools true/false): else 400
    as above, naming the parameter.

A request that passes is forwarded unchanged (method, path, query, body)
to sbxd, which does the work (processes really run in its sandboxes; start
sbxd with --no-extension so its own extension routes are unmatched too).
sbxd's answer is judged like every request: a 200 must be the RPC's
response message, an error a google.rpc.Status (code on its HTTP status,
ErrorInfo of domain cwsandbox.com with a reason of the schema), both
strict and canonical (wirecheck.Checker). A failing answer is not passed
on: the client gets 500 INTERNAL and the fake's stderr gets one line per
finding, `fake: OFF-SCHEMA ANSWER RPC METHOD TARGET: finding`, which a test
greps. Only Content-Type travels back (sbxd's X-Sbx-* headers are the
extension's). sbxd unreachable: 503 UNAVAILABLE, CWSANDBOX_BACKEND_UNAVAILABLE.

usage: fake.py LISTEN_SOCKET SBXD_SOCKET
Needs Debian's python3-protobuf and protoc (scripts/setup --test)."""
import http.client
import http.server
import json
import os
import re
import socket
import socketserver
import sys
import threading
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wirecheck  # noqa: E402

MAX_BODY = 48 << 20  # over the SDK's 32 MiB file cap in base64, so the service's caps decide
UPSTREAM_TIMEOUT = 150  # Exec holds its answer until the command ends
INT_RANGES = {"TYPE_INT32": (-2**31, 2**31 - 1), "TYPE_SINT32": (-2**31, 2**31 - 1),
              "TYPE_SFIXED32": (-2**31, 2**31 - 1), "TYPE_UINT32": (0, 2**32 - 1),
              "TYPE_FIXED32": (0, 2**32 - 1), "TYPE_INT64": (-2**63, 2**63 - 1),
              "TYPE_SINT64": (-2**63, 2**63 - 1), "TYPE_SFIXED64": (-2**63, 2**63 - 1),
              "TYPE_UINT64": (0, 2**64 - 1), "TYPE_FIXED64": (0, 2**64 - 1)}
_log_lock = threading.Lock()


def log(line):
    with _log_lock:
        sys.stderr.write("fake: " + line + "\n")
        sys.stderr.flush()


class Refusal(Exception):
    """A request the service refuses: HTTP status, google.rpc.Status."""

    def __init__(self, http, status):
        super().__init__(status.get("message", ""))
        self.http = http
        self.status = status


def invalid(message, violations):
    """400 INVALID_ARGUMENT with a BadRequest of (field, description)."""
    return Refusal(400, {"code": 3, "message": message, "details": [
        {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "CWSANDBOX_INVALID_REQUEST",
         "domain": wirecheck.ERROR_DOMAIN},
        {"@type": "type.googleapis.com/google.rpc.BadRequest",
         "fieldViolations": [{"field": f, "description": d} for f, d in violations]}]})


def unmatched(method, path):
    return Refusal(404, {"code": 5, "message": "Not Found: %s %s is not a method of this API" % (method, path)})


class Front:
    """Request parsing and answer judging; no I/O, so the selftest can
    drive it too."""

    def __init__(self, schema=None):
        self.s = schema or wirecheck.Schema()
        self.ck = wirecheck.Checker(self.s)
        self.jf = self.s.json_format

    def _query_value(self, f, key, v):
        """The JSON value of query text V for scalar field F (or Refusal)."""
        FD = type(f)
        names = {getattr(FD, n): n for n in INT_RANGES}
        if f.type in names:
            lo, hi = INT_RANGES[names[f.type]]
            if not re.fullmatch(r"-?[0-9]+", v) or not lo <= int(v) <= hi:
                raise invalid("invalid value %r for query parameter %s" % (v[:40], key),
                              [(key, "not an integer in range")])
            return int(v) if names[f.type].endswith("32") else v
        if f.type == FD.TYPE_BOOL:
            if v not in ("true", "false"):
                raise invalid("invalid value %r for query parameter %s" % (v[:40], key),
                              [(key, "a bool is true or false")])
            return v == "true"
        if f.type == FD.TYPE_ENUM:
            if v in f.enum_type.values_by_name:
                return v
            if re.fullmatch(r"[0-9]+", v) and int(v) in f.enum_type.values_by_number:
                return f.enum_type.values_by_number[int(v)].name
            raise invalid("invalid value %r for query parameter %s" % (v[:40], key),
                          [(key, "no such %s value" % f.enum_type.name)])
        if f.type in (FD.TYPE_FLOAT, FD.TYPE_DOUBLE):
            try:
                return float(v)
            except ValueError:
                raise invalid("invalid value for query parameter %s" % key, [(key, "not a number")])
        return v  # string, bytes (base64 text, checked by the parse)

    def parse(self, method, target, body):
        """(route, request message) for a request, or raises Refusal."""
        u = urllib.parse.urlsplit(target)
        route, pvars = self.s.match(method, u.path)
        if route is None:
            raise unmatched(method, u.path)
        req = route["req"]()
        bound = set(pvars)
        text = body.decode("utf-8", "strict") if body else ""
        if route["body"] == "":
            if body.strip():
                raise invalid("%s takes no body (%d bytes sent)" % (route["rpc"], len(body)),
                              [("", "the request has no body")])
            obj = {}
        else:
            try:
                obj = json.loads(text) if text.strip() else {}
            except ValueError as e:
                raise invalid("the body is not JSON: %s" % e, [("", "not JSON")])
            if not isinstance(obj, dict):
                raise invalid("the body is not a JSON object", [("", "not an object")])
            target_desc = req.DESCRIPTOR if route["body"] == "*" else \
                req.DESCRIPTOR.fields_by_name[route["body"]].message_type
            found = []
            wirecheck.prune(obj, target_desc, "", found)
            if route["rpc"] == "CreateSandbox":
                found += [".%s: output-only field, set by the service" % k
                          for k in wirecheck.SANDBOX_OUTPUT_ONLY if k in obj]
            if found:
                viol = [(f.split(": ", 1)[0].lstrip("."), f.split(": ", 1)[1]) for f in found]
                raise invalid("invalid %s body: %s" % (route["rpc"], "; ".join("%s: %s" % v for v in viol)[:400]),
                              viol)
            try:
                part = req if route["body"] == "*" else getattr(req, route["body"])
                self.jf.Parse(text or "{}", part, ignore_unknown_fields=False)
            except self.jf.ParseError as e:
                raise invalid("invalid %s body: %s" % (route["rpc"], str(e)[:300]), [("", str(e)[:300])])
            if route["body"] == "*":
                bound = {f.name for f in req.DESCRIPTOR.fields}
                for k, v in pvars.items():
                    got = getattr(req, k)
                    if got and got != v:
                        js = req.DESCRIPTOR.fields_by_name[k].json_name
                        raise invalid("the body's %s %r is not the path's %r" % (js, got, v),
                                      [(js, "differs from the path")])
            else:
                bound.add(route["body"])
        for k, v in pvars.items():
            setattr(req, k, v)
        # Query parameters, as a transcoder maps them onto the request.
        fields = {f.json_name: f for f in req.DESCRIPTOR.fields}
        fields.update({f.name: f for f in req.DESCRIPTOR.fields})
        seen = {}
        for k, v in urllib.parse.parse_qsl(u.query, keep_blank_values=True, strict_parsing=False):
            seen.setdefault(k, []).append(v)
        qdict = {}
        for k, vals in seen.items():
            f = fields.get(k)
            if f is None:
                raise invalid("unknown query parameter %s for %s" % (k, route["rpc"]),
                              [(k, "no such field in %s" % req.DESCRIPTOR.name)])
            if f.name in bound:
                raise invalid("query parameter %s is bound by the path or body" % k, [(k, "already bound")])
            if f.message_type is not None:
                raise invalid("query parameter %s names a message field" % k, [(k, "not a scalar field")])
            rep = f.label == f.LABEL_REPEATED
            if len(vals) > 1 and not rep:
                raise invalid("query parameter %s given %d times" % (k, len(vals)), [(k, "not repeated")])
            conv = [self._query_value(f, k, v) for v in vals]
            qdict[f.json_name] = conv if rep else conv[0]
        if qdict:
            try:
                self.jf.ParseDict(qdict, req, ignore_unknown_fields=False)
            except self.jf.ParseError as e:
                raise invalid("invalid query: %s" % str(e)[:300], [(next(iter(qdict)), str(e)[:300])])
        return route, req

    def judge(self, route, http_status, body):
        """Findings on an upstream answer (empty: it may go to the client)."""
        text = body.decode("utf-8", "replace")
        if http_status == 200:
            return self.ck._parse(text, route["resp"](), "response")
        return self.ck.check_status(text, http_status)


def _upstream(path):
    class UnixConn(http.client.HTTPConnection):
        def connect(self):
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(self.timeout)
            self.sock.connect(path)
    return UnixConn


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    front = None
    upstream = None

    def log_message(self, *a):
        pass

    def read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            out = bytearray()
            while True:
                n = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if n == 0:
                    while self.rfile.readline().strip():
                        pass
                    return bytes(out)
                out += self.rfile.read(n)
                self.rfile.readline()
                if len(out) > MAX_BODY:
                    raise ValueError("body over the cap")
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_BODY:
            raise ValueError("body over the cap")
        return self.rfile.read(n) if n else b""

    def answer(self, status, body, ctype="application/json"):
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            self.close_connection = True

    def refuse(self, r):
        self.answer(r.http, json.dumps(r.status, separators=(",", ":")).encode())

    def handle_any(self):
        try:
            body = self.read_body()
        except ValueError:
            self.close_connection = True
            return self.refuse(invalid("request body over %d bytes" % MAX_BODY, [("", "too large")]))
        try:
            route, _ = self.front.parse(self.command, self.path, body)
        except UnicodeDecodeError:
            return self.refuse(invalid("the body is not UTF-8", [("", "not UTF-8")]))
        except Refusal as r:
            log("refused %s %s: %d %s" % (self.command, self.path[:120], r.http, r.status["message"][:200]))
            return self.refuse(r)
        c = self.upstream("sbxd", timeout=UPSTREAM_TIMEOUT)
        hdrs = {"Content-Type": "application/json"} if body else {}
        try:
            c.request(self.command, self.path, body=body if body or self.command == "POST" else None,
                      headers=hdrs)
            r = c.getresponse()
            data = r.read()
        except (OSError, http.client.HTTPException) as e:
            c.close()
            log("upstream %s %s: %s" % (self.command, self.path[:120], e))
            return self.refuse(Refusal(503, {"code": 14, "message": "backend unavailable: %s" % e, "details": [
                {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "CWSANDBOX_BACKEND_UNAVAILABLE",
                 "domain": wirecheck.ERROR_DOMAIN}]}))
        c.close()
        findings = self.front.judge(route, r.status, data)
        if findings:
            for f in findings:
                log("OFF-SCHEMA ANSWER %s %s %s -> %d: %s" % (route["rpc"], self.command, self.path[:120],
                                                              r.status, f))
            return self.refuse(Refusal(500, {"code": 13, "message": "fake: the backend's answer to %s is off-schema: %s"
                                             % (route["rpc"], findings[0][:300])}))
        self.answer(r.status, data, r.getheader("Content-Type", "application/json"))

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = do_OPTIONS = handle_any


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    request_queue_size = 1024

    def get_request(self):
        req, _ = super().get_request()
        return req, ("local", 0)


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    listen, up = argv[1], argv[2]
    Handler.front = Front()
    Handler.upstream = _upstream(up)
    if os.path.exists(listen):
        os.unlink(listen)
    srv = Server(listen, Handler)
    os.chmod(listen, 0o600)
    log("serving the real surface (%d routes) on %s, backend %s" % (len(Handler.front.s.routes), listen, up))
    srv.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
