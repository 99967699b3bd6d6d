#!/usr/bin/python3
"""The conformance harness's own checks (meson test 'conformance_selftest'):
the schema matches the reference, and the checker catches what it must
(an unknown field, an int64 sent as a number, "endTime": "", a wrong enum,
a comma-joined repeated query, a non-canonical error) while it passes the
canonical forms of the same exchanges. Exit 77 when protoc or
python3-protobuf is missing (scripts/setup --test installs them)."""
import base64
import json
import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

if not shutil.which("protoc"):
    print("SKIP: no protoc (apt-get install protobuf-compiler libprotobuf-dev)")
    sys.exit(77)
try:
    import google.protobuf  # noqa: F401
except ImportError:
    print("SKIP: no google.protobuf (apt-get install python3-protobuf)")
    sys.exit(77)
if not os.path.exists(os.path.join(os.environ.get("PROTO_INCLUDE", "/usr/include"), "google/protobuf/timestamp.proto")):
    print("SKIP: no well-known types (apt-get install libprotobuf-dev)")
    sys.exit(77)

import schema_parity  # noqa: E402
import wirecheck  # noqa: E402

failed = 0


def expect(cond, what):
    global failed
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failed += 1


def ex(method, target, req=b"", status=200, resp=b"{}", headers=None):
    if isinstance(req, (dict, list)):
        req = json.dumps(req).encode()
    if isinstance(resp, (dict, list)):
        resp = json.dumps(resp).encode()
    return {"method": method, "target": target, "reqBody": base64.b64encode(req).decode(), "status": status,
            "respBody": base64.b64encode(resp).decode(), "reqHeaders": headers or {}}


def verdict(e):
    v, fails, notes = ck.check(e)
    return v, fails


def fails_with(e, needle, what):
    v, fails = verdict(e)
    hit = v == "FAIL" and any(needle in f for f in fails)
    expect(hit, what + ("" if hit else " (got %s %s)" % (v, fails)))


def passes(e, what):
    v, fails = verdict(e)
    expect(v in ("PASS", "NOTE", "EXT"), what + ("" if v in ("PASS", "NOTE", "EXT") else " (got %s)" % fails))


schema = wirecheck.Schema()
ck = wirecheck.Checker(schema)

# The schema against the reference, when the reference is at hand.
if os.path.exists(schema_parity.DEFAULT_REF):
    counts = {}
    diffs = schema_parity.parity(schema, schema_parity.DEFAULT_REF, counts)
    expect(not diffs and counts.get("fields", 0) > 250,
           "proto/ matches the reference schema (%s; %d differences%s)"
           % (counts, len(diffs), ": " + "; ".join(diffs[:5]) if diffs else ""))
else:
    print("skip the schema parity: no reference at %s" % schema_parity.DEFAULT_REF)

# The routes come from the schema's google.api.http options.
names = {r["rpc"] for r in schema.routes}
expect({"CreateSandbox", "GetSandbox", "ListSandboxes", "DeleteSandbox", "PurgeSandboxes", "Exec",
        "ReadFile", "WriteFile"} <= names and "StreamExec" not in names, "route table from the descriptor")
expect(schema.match("POST", "/v1/sandboxes/sbx-1:exec")[0]["rpc"] == "Exec", ":exec is Exec")
expect(schema.match("GET", "/v1/sandboxes/sbx-1")[0]["rpc"] == "GetSandbox", "GET one is GetSandbox")
expect(schema.match("POST", "/v1/sandboxes:purge")[0]["rpc"] == "PurgeSandboxes", ":purge is PurgeSandboxes")

T = "2026-05-01T12:00:00.123Z"
good_sbx = {"sandboxId": "sbx-1", "spec": {"containers": [{"name": "main", "image": "python:3.11",
                                                           "command": "/bin/sh", "args": ["-c", "echo hi"]}],
                                           "primaryContainer": "main", "tags": ["team-a"]},
            "status": {"state": "STATE_RUNNING", "createTime": T, "startTime": T}}
sdk_body = {"spec": good_sbx["spec"]}

# Canonical exchanges pass.
passes(ex("POST", "/v1/sandboxes?requestId=r1", sdk_body, 200, good_sbx), "the SDK's create body and a canonical Sandbox")
passes(ex("GET", "/v1/sandboxes?tags=a&tags=b&state=STATE_RUNNING&showTerminated=true&pageSize=5", b"", 200,
          {"sandboxes": [good_sbx], "nextPageToken": "x"}), "list with repeated tags")
passes(ex("POST", "/v1/sandboxes/sbx-1:exec", {"sandboxId": "sbx-1", "command": ["echo", "hi"], "maxOutputBytes": 10},
          200, {"stdout": "aGkK", "exitCode": 2, "stdoutBytesProduced": "3"}), "exec, int64 as a string")
done = dict(good_sbx, status={"state": "STATE_COMPLETED", "exitCode": 0, "createTime": T, "endTime": T})
passes(ex("GET", "/v1/sandboxes/sbx-1", b"", 200, done), "an observed exitCode 0 is written (presence)")
err = {"code": 5, "message": "sandbox sbx-9 not found", "details": [
    {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "CWSANDBOX_SANDBOX_NOT_FOUND",
     "domain": "cwsandbox.com", "metadata": {"sandboxId": "sbx-9"}}]}
passes(ex("GET", "/v1/sandboxes/sbx-9", b"", 404, err), "a canonical NOT_FOUND error")
passes(ex("DELETE", "/v1/sandboxes/sbx-1", b"", 200, {"sandbox": done}), "delete answers DeleteSandboxResponse")

# The extension: its rows come from sbxd's own table (wire/ext_routes.c),
# its messages from proto/sbxd/ext/v1/extension.proto; checked, not skipped.
if schema.ext is not None and schema.ext_routes:
    import re as _re
    table = _re.sub(r"/\*.*?\*/", "", open(wirecheck.EXT_TABLE).read(), flags=_re.S)
    expect(len(schema.ext_routes) == len(_re.findall(r'^\s*\{"\w+", "[A-Z]+", "/', table, flags=_re.M)),
           "every row of wire/ext_routes.c is read (%d)" % len(schema.ext_routes))
    ext_names = {r["rpc"] for r in schema.ext_routes}
    expect({"GetExtensions", "Wait", "Forget"} <= ext_names, "the extension's table has discovery, wait, forget")
    v, _ = verdict(ex("GET", "/v1/extensions", b"", 200, {"server": "sbxd/0.1.0", "extensions": ["wait"]}))
    expect(v == "EXT", "discovery is checked as an extension call (got %s)" % v)
    passes(ex("GET", "/v1/extensions", b"", 404, {"code": 5, "message": "Not Found"}),
           "discovery answered 404/5 without ErrorInfo (a service without the extension)")
    fails_with(ex("GET", "/v1/sandboxes/sbx-9", b"", 404, {"code": 5, "message": "Not Found"}),
               "no google.rpc.ErrorInfo", "but a real call's NOT_FOUND needs its reason")
    fails_with(ex("GET", "/v1/extensions", b"", 200, {"server": "sbxd/0.1.0", "extensions": "wait"}),
               "repeated", "a discovery answer off the extension's schema")
    v, _ = verdict(ex("GET", "/v1/sandboxes/sbx-1:wait?waitSeconds=5", b"", 200, done))
    expect(v == "EXT", ":wait with the Sandbox answer (got %s)" % v)
    fails_with(ex("GET", "/v1/sandboxes/sbx-1:wait?waitTime=5", b"", 200, done), "no field waitTime",
               ":wait with an unknown query parameter")
    fails_with(ex("GET", "/v1/sandboxes/sbx-1:wait?waitSeconds=5", b"", 200,
                  dict(done, status={"state": "STATE_COMPLETED", "endTime": ""})), "Timestamp",
               ":wait answering a non-canonical Sandbox")
    v, _ = verdict(ex("POST", "/v1/sandboxes/sbx-1:forget?gracePeriodSeconds=2", b"", 200, {"sandbox": done}))
    expect(v == "EXT", ":forget answers DeleteSandboxResponse (got %s)" % v)
    perr = dict(err, code=5, details=[dict(err["details"][0], reason="CWSANDBOX_PROCESS_NOT_FOUND")])
    if "GetProcess" in ext_names:
        v, f = verdict(ex("GET", "/v1/sandboxes/sbx-1/processes/9", b"", 404, perr))
        expect(v == "EXT", "sbxd's own reason on an extension call (got %s %s)" % (v, f))
    fails_with(ex("GET", "/v1/sandboxes/sbx-9", b"", 404, perr), "extension calls only",
               "sbxd's own reason on a real call")
    if "ReadStdout" in ext_names:
        v, f = verdict(dict(ex("GET", "/v1/sandboxes/sbx-1/stdout?offset=0", b"", 200, b"raw bytes"),
                            respHeaders={"Content-Type": "application/octet-stream"}))
        expect(v == "EXT", "raw output bytes are not parsed as JSON (got %s %s)" % (v, f))
        fails_with(ex("GET", "/v1/sandboxes/sbx-1/stdout?offset=0&bogus=1", b"", 200, b"x"), "no field bogus",
                   "a raw call's query still checked")
    # The binary encoding of the extension (application/x-protobuf):
    # parsed as binary, strict; never on a real call or an error.
    PB = {"Content-Type": "application/x-protobuf"}
    ent = schema.ext.FileEntry(name="f", type=1, size=3)
    entry = ent.SerializeToString()
    passes(dict(ex("GET", "/v1/sandboxes/sbx-1:statFile?path=/f", b"", 200, entry), respHeaders=PB),
           "a binary FileEntry answer")
    fails_with(dict(ex("GET", "/v1/sandboxes/sbx-1:statFile?path=/f", b"", 200, entry + b"\x98\x06\x01"),
                    respHeaders=PB), "fields the schema lacks", "a binary answer with an unknown field")
    fails_with(dict(ex("GET", "/v1/sandboxes/sbx-1:statFile?path=/f", b"", 200, b"\x0a\x05ab"), respHeaders=PB),
               "not a binary", "a cut binary answer")
    ld = schema.ext.ListDirsRequest(path="/a", more_paths=["/b"]).SerializeToString()
    passes(ex("POST", "/v1/sandboxes/sbx-1:listDirs", ld, 200, b"{}", headers=PB), "a binary listDirs request")
    fails_with(ex("POST", "/v1/sandboxes/sbx-1:listDirs", b"\x12\x02/\xff", 200, b"{}", headers=PB),
               "not a binary", "a binary request with a string that is not UTF-8")
    fails_with(dict(ex("GET", "/v1/sandboxes/sbx-1", b"", 200, b""), respHeaders=PB), "in binary",
               "a real call answered in binary")
    fails_with(dict(ex("GET", "/v1/sandboxes/sbx-1:statFile?path=/f", b"", 404, b"\x08\x05"), respHeaders=PB),
               "in binary", "an error in binary")
else:
    print("skip the extension's checks: no proto/%s or %s" % (wirecheck.EXT_PROTO, wirecheck.EXT_TABLE))
fails_with(ex("GET", "/v1/sandboxes/sbx-1?waitSeconds=5", b"", 200, good_sbx), "no field waitSeconds",
           "the old waitSeconds on get is an unknown parameter now")
fails_with(ex("POST", "/v1/sandboxes/sbx-1:exec", {"sandboxId": "sbx-1", "command": ["true"], "workingDir": "/"},
              200, {}), 'no field named "workingDir"', "the old workingDir in an exec body")
passes(ex("GET", "/v1/nothing", b"", 404, {"code": 5, "message": "Not Found"}, {"X-Conformance-Expect": "bad"}),
       "a test's deliberate probe of an unmatched path, answered 404/5")


# What the checker must catch.
fails_with(ex("POST", "/v1/sandboxes", {"spec": dict(sdk_body["spec"], name="box")}, 200, good_sbx),
           'no field named "name"', "an unknown request field (spec.name)")
fails_with(ex("GET", "/v1/sandboxes/sbx-1", b"", 200, dict(good_sbx, spec=dict(good_sbx["spec"], env={"K": "V"}))),
           'no field named "env"', "an unknown response field (spec.env)")
fails_with(ex("POST", "/v1/sandboxes/sbx-1:exec", {"sandboxId": "sbx-1", "command": ["true"]}, 200,
              {"stdoutBytesProduced": 3}), "stdoutBytesProduced", "an int64 sent as a number")
fails_with(ex("GET", "/v1/sandboxes/sbx-1", b"", 200,
              dict(good_sbx, status={"state": "STATE_RUNNING", "createTime": T, "endTime": ""})),
           "strict parse", '"endTime": "" (an unset timestamp written)')
fails_with(ex("GET", "/v1/sandboxes/sbx-1", b"", 200, dict(good_sbx, status={"state": "STATE_RUNNNING"})),
           "strict parse", "an enum name not in the schema")
fails_with(ex("GET", "/v1/sandboxes/sbx-1", b"", 200, dict(good_sbx, status={"state": 2})),
           "canonical", "an enum sent as a number")
fails_with(ex("GET", "/v1/sandboxes/sbx-1", b"", 200, dict(good_sbx, status={"state": "STATE_RUNNING",
                                                                              "stateReason": ""})),
           "omits it", "a zero value written (stateReason \"\")")
fails_with(ex("POST", "/v1/sandboxes", {"spec": dict(sdk_body["spec"], maxLifetimeSeconds="600")}, 200, good_sbx),
           "maxLifetimeSeconds", "an int32 sent as a string")
fails_with(ex("GET", "/v1/sandboxes?tags=a,b", b"", 200, {}), "repeats the key", "comma-joined repeated tags")
fails_with(ex("GET", "/v1/sandboxes?waitTime=3", b"", 200, {}), "no field waitTime", "an unknown query parameter")
fails_with(ex("GET", "/v1/sandboxes?state=2", b"", 200, {}), "by number", "an enum query by number")
fails_with(ex("POST", "/v1/sandboxes", dict(sdk_body, sandboxId="x"), 200, good_sbx), "output-only",
           "an output-only field in a create")
fails_with(ex("GET", "/v1/sandboxes/sbx-9", b"", 404, dict(err, details=[dict(err["details"][0],
                                                                                  domain="cwsandbox.coreweave.com")])),
           "domain", "an ErrorInfo of another domain")
fails_with(ex("GET", "/v1/sandboxes/sbx-9", b"", 404, dict(err, details=[dict(err["details"][0],
                                                                                  reason="CWSANDBOX_UNIMPLEMENTED")])),
           "not one of the schema's", "a reason the schema lacks")
fails_with(ex("GET", "/v1/sandboxes/sbx-9", b"", 404, dict(err, details=[])), "no google.rpc.ErrorInfo",
           "a NOT_FOUND without an ErrorInfo")
passes(ex("GET", "/v1/sandboxes/sbx-9", b"", 500, {"code": 13, "message": "out of memory"}),
       "an INTERNAL error may come without a reason")
fails_with(ex("GET", "/v1/nothing", b"", 404, dict(err, code=12)), "maps to HTTP 501",
           "UNIMPLEMENTED answered as 404")
fails_with(ex("GET", "/v1/nothing", b"", 501, dict(err, code=12)), "no such call", "a path in neither surface")
fails_with(ex("POST", "/v1/sandboxes", {"spec": {}, "bogus": 1}, 200, good_sbx,
              {"X-Conformance-Expect": "bad", "X-Conformance-Field": "bogus"}), "accepted with 200",
           "an off-schema field accepted")
fails_with(ex("POST", "/v1/sandboxes", {"spec": {}, "bogus": 1}, 400, dict(err, code=3),
              {"X-Conformance-Expect": "bad", "X-Conformance-Field": "bogus"}), "field violation",
           "an off-schema field refused without a BadRequest naming it")
bad_req = dict(err, code=3, message="unknown field", details=[
    dict(err["details"][0], reason="CWSANDBOX_INVALID_REQUEST"),
    {"@type": "type.googleapis.com/google.rpc.BadRequest",
     "fieldViolations": [{"field": "bogus", "description": "unknown field"}]}])
passes(ex("POST", "/v1/sandboxes", {"spec": {}, "bogus": 1}, 400, bad_req,
          {"X-Conformance-Expect": "bad", "X-Conformance-Field": "bogus"}), "an off-schema field refused as it must")
fails_with(ex("POST", "/v1/sandboxes", sdk_body, 200, good_sbx, {"X-Conformance-Unsupported": "gpu"}),
           "quietly lacks", "an unsupported field accepted")


# A test's own requests (curl): an off-schema one refused is a probe; accepted, it fails.
def by_curl(e):
    e["origin"] = "curl"
    return e


bad_create = {"spec": dict(sdk_body["spec"], name="box")}
passes(by_curl(ex("POST", "/v1/sandboxes", bad_create, 400, bad_req)), "a test's off-schema create, refused")
fails_with(by_curl(ex("POST", "/v1/sandboxes", bad_create, 200, good_sbx)), 'no field named "name"',
           "a test's off-schema create, accepted")
fails_with(ex("POST", "/v1/sandboxes", bad_create, 400, bad_req), 'no field named "name"',
           "libsbx's off-schema create fails even when refused")
fails_with(by_curl(ex("POST", "/v1/sandboxes", bad_create, 400, dict(bad_req, details=[]))),
           "no google.rpc.ErrorInfo", "a test's probe still needs a canonical refusal")
passes(by_curl(ex("POST", "/v1/sandboxes/sbx-1:writeFile", {"sandboxId": "sbx-1", "path": "/f", "content": ""},
                  200, {})), "a test's valid but non-canonical request, accepted (a proto3 server takes it)")
fails_with(ex("POST", "/v1/sandboxes/sbx-1:writeFile", {"sandboxId": "sbx-1", "path": "/f", "content": ""}, 200, {}),
           "not canonical", "libsbx's non-canonical request")
passes(by_curl(ex("GET", "/v1/sandboxes?tags=a,b", b"", 200, {})),
       "a test asking for the one tag 'a,b' (valid; a lint for libsbx only)")
passes(by_curl(ex("GET", "/v1/sandboxes/x:frob", b"", 404, {"code": 5, "message": "Not Found"})),
       "a test's probe of a path in neither surface, 404/5")
if schema.ext is not None and "SignalProcess" in {r["rpc"] for r in schema.ext_routes}:
    v, f = verdict(ex("POST", "/v1/sandboxes/sbx-1/processes/2:signal",
                      {"sandboxId": "sbx-1", "processId": "2", "signal": 15}, 200, {}))
    expect(v == "EXT", "an int64 path variable equal to the body's (got %s %s)" % (v, f))
    v, f = verdict(ex("POST", "/v1/sandboxes/sbx-1/processes/2/stdin", b"raw bytes", 200, {"written": "9"},
                      {"Content-Type": "application/x-www-form-urlencoded"}))
    expect(v == "EXT", "stdin's raw bytes, whatever their Content-Type (got %s %s)" % (v, f))
    fails_with(ex("POST", "/v1/sandboxes/sbx-1/processes/2:signal",
                  {"sandboxId": "sbx-1", "processId": "3", "signal": 15}, 200, {}), "differs from the path",
               "an int64 path variable the body contradicts")



# The recorder forwards unchanged, logs both bodies and strips the hints.
def recorder_roundtrip():
    import http.client
    import http.server
    import socket
    import socketserver
    import subprocess
    import tempfile
    import threading
    import time
    d = tempfile.mkdtemp(prefix="wirecheck-rec.")
    up, listen, log = os.path.join(d, "up.sock"), os.path.join(d, "rec.sock"), os.path.join(d, "log.jsonl")
    seen = {}

    class Up(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def do_POST(self):
            seen["body"] = self.rfile.read(int(self.headers["Content-Length"]))
            seen["hint"] = self.headers.get("X-Conformance-Expect")
            out = b'{"exitCode":3}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("X-Sbx-Size", "7")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

    class UpServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
        daemon_threads = True

        def get_request(self):
            req, _ = super().get_request()
            return req, ("local", 0)
    srv = UpServer(up, Up)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    rec = subprocess.Popen([sys.executable, os.path.join(HERE, "recorder.py"), listen, up, log, "selftest"])
    try:
        # The socket file exists before the recorder listens: wait for a
        # connect to succeed, not for the file.
        for _ in range(200):
            try:
                probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                probe.connect(listen)
                probe.close()
                break
            except OSError:
                probe.close()
                time.sleep(0.05)

        class C(http.client.HTTPConnection):
            def connect(self):
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(listen)
        c = C("sbxd", timeout=10)
        body = b'{"command":["true"]}'
        c.request("POST", "/v1/sandboxes/sbx-1:exec?x=1", body=body,
                  headers={"Content-Type": "application/json", "X-Conformance-Expect": "bad"})
        r = c.getresponse()
        data = r.read()
        got = [json.loads(line) for line in open(log)]
        return (r.status == 200 and data == b'{"exitCode":3}' and r.getheader("X-Sbx-Size") == "7"
                and seen.get("body") == body and seen.get("hint") is None and len(got) == 1
                and got[0]["target"] == "/v1/sandboxes/sbx-1:exec?x=1" and got[0]["status"] == 200
                and base64.b64decode(got[0]["reqBody"]) == body
                and base64.b64decode(got[0]["respBody"]) == data
                and got[0]["reqHeaders"].get("X-Conformance-Expect") == "bad"
                and got[0]["origin"] == "libsbx" and got[0]["label"] == "selftest")
    finally:
        rec.kill()
        rec.wait()
        srv.shutdown()
        shutil.rmtree(d, ignore_errors=True)


expect(recorder_roundtrip(), "the recorder forwards unchanged, logs both bodies, keeps hints from upstream")

print("%d failed" % failed)
sys.exit(1 if failed else 0)
