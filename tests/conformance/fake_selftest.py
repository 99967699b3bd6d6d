#!/usr/bin/python3
"""The strict fake's own checks (meson test 'fake_selftest'): fake.py in
front of a stub backend that answers what each case sets, so the fake's
parsing and judging are tested without sbxd. It must refuse what a strict
transcoder refuses (an unknown field, query parameter or path, a wrong
method, a body where none goes) without reaching the backend, pass
canonical exchanges through unchanged, and turn an off-schema answer of
the backend into a 500 with a log line. Exit 77 without protoc or
python3-protobuf (scripts/setup --test installs them)."""
import http.client
import http.server
import json
import os
import shutil
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time

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

failed = 0


def expect(cond, what):
    global failed
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failed += 1


SEEN = []
ANSWER = {"status": 200, "body": b"{}"}


class Stub(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def any(self):
        n = int(self.headers.get("Content-Length") or 0)
        SEEN.append((self.command, self.path, self.rfile.read(n) if n else b""))
        body = ANSWER["body"]
        self.send_response(ANSWER["status"])
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Sbx-Size", "1")  # the extension's header: must not travel back
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_DELETE = do_PUT = any


class StubServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def get_request(self):
        req, _ = super().get_request()
        return req, ("local", 0)


def wait_listen(path, proc):
    for _ in range(400):
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(path)
            s.close()
            return True
        except OSError:
            s.close()
            if proc.poll() is not None:
                return False
            time.sleep(0.05)
    return False


d = tempfile.mkdtemp(prefix="fake-selftest.")
up, listen, errlog = os.path.join(d, "up.sock"), os.path.join(d, "fake.sock"), os.path.join(d, "fake.log")
stub = StubServer(up, Stub)
threading.Thread(target=stub.serve_forever, daemon=True).start()
with open(errlog, "w") as ef:
    fake = subprocess.Popen([sys.executable, os.path.join(HERE, "fake.py"), listen, up], stderr=ef)


def call(method, target, body=None, sock=None):
    """(status, parsed JSON or raw bytes, headers) of one request."""
    class C(http.client.HTTPConnection):
        def connect(self):
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.connect(sock or listen)
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
    c = C("fake", timeout=30)
    c.request(method, target, body=body, headers={"Content-Type": "application/json"} if body else {})
    r = c.getresponse()
    data = r.read()
    hdrs = {k.lower(): v for k, v in r.getheaders()}
    c.close()
    try:
        return r.status, json.loads(data), hdrs
    except ValueError:
        return r.status, data, hdrs


def violations(st):
    return [v["field"] for dt in st.get("details", []) if dt["@type"].endswith("BadRequest")
            for v in dt.get("fieldViolations", [])]


def info(st):
    return [dt for dt in st.get("details", []) if dt["@type"].endswith("ErrorInfo")]


def refused(method, target, body, field, what):
    """400/3 naming FIELD, ErrorInfo CWSANDBOX_INVALID_REQUEST, backend not reached."""
    n = len(SEEN)
    st, js, _ = call(method, target, body)
    ok = (st == 400 and isinstance(js, dict) and js.get("code") == 3 and any(field == v for v in violations(js))
          and any(i["domain"] == "cwsandbox.com" and i["reason"] == "CWSANDBOX_INVALID_REQUEST" for i in info(js))
          and len(SEEN) == n)
    expect(ok, what + ("" if ok else " (got %d %s, backend calls %d)" % (st, js, len(SEEN) - n)))


def unmatched(method, target, what):
    n = len(SEEN)
    st, js, _ = call(method, target, b"{}" if method == "POST" else None)
    ok = st == 404 and isinstance(js, dict) and js.get("code") == 5 and len(SEEN) == n
    expect(ok, what + ("" if ok else " (got %d %s, backend calls %d)" % (st, js, len(SEEN) - n)))


def forwarded(method, target, body, answer, what, status=200):
    """The backend gets the request unchanged; its canonical answer comes back as sent."""
    ANSWER["status"], ANSWER["body"] = status, json.dumps(answer).encode()
    n = len(SEEN)
    raw = json.dumps(body).encode() if isinstance(body, dict) else body
    st, js, hdrs = call(method, target, raw)
    ok = (st == status and js == answer and len(SEEN) == n + 1 and SEEN[-1][0] == method
          and SEEN[-1][1] == target and SEEN[-1][2] == (raw or b"") and "x-sbx-size" not in hdrs)
    expect(ok, what + ("" if ok else " (got %d %s; backend saw %s)" % (st, js, SEEN[n:])))


def off_schema(method, target, body, answer, needle, what, status=200):
    """An off-schema answer of the backend: 500 to the client, a log line."""
    ANSWER["status"], ANSWER["body"] = status, json.dumps(answer).encode()
    before = open(errlog).read().count("OFF-SCHEMA ANSWER")
    st, js, _ = call(method, target, body)
    time.sleep(0.05)
    logged = [ln for ln in open(errlog).read().splitlines() if "OFF-SCHEMA ANSWER" in ln][before:]
    ok = st == 500 and isinstance(js, dict) and js.get("code") == 13 and any(needle in ln for ln in logged)
    expect(ok, what + ("" if ok else " (got %d %s; log %s)" % (st, js, logged)))


try:
    expect(wait_listen(listen, fake), "the fake listens")
    T = "2026-05-01T12:00:00.123Z"
    spec = {"containers": [{"name": "main", "image": "python:3.11", "command": "/bin/sh",
                            "args": ["-c", "echo hi"]}], "primaryContainer": "main", "tags": ["team-a"]}
    sbx = {"sandboxId": "sbx-1", "spec": spec, "status": {"state": "STATE_RUNNING", "createTime": T}}

    # What passes, unchanged both ways.
    forwarded("POST", "/v1/sandboxes?requestId=r1", {"spec": spec}, sbx, "the SDK's create body")
    forwarded("GET", "/v1/sandboxes/sbx-1", None, sbx, "get")
    forwarded("GET", "/v1/sandboxes?tags=a&tags=b&state=STATE_RUNNING&showTerminated=true&pageSize=5", None,
              {"sandboxes": [sbx], "nextPageToken": "n"}, "list with repeated tags, an enum, a bool, an int")
    forwarded("POST", "/v1/sandboxes/sbx-1:exec", {"sandboxId": "sbx-1", "command": ["echo", "hi"],
                                                    "maxOutputBytes": 10},
              {"stdout": "aGkK", "exitCode": 2, "stdoutBytesProduced": "3"}, "exec")
    forwarded("POST", "/v1/sandboxes/sbx-1:exec", {"command": ["true"]}, {}, "exec without sandboxId in the body")
    forwarded("POST", "/v1/sandboxes/sbx-1:writeFile", {"sandboxId": "sbx-1", "path": "/tmp/f", "content": "aGkK"},
              {}, "writeFile")
    forwarded("GET", "/v1/sandboxes/sbx-1:readFile?path=%2Ftmp%2Ff", None, {"content": "aGkK"}, "readFile")
    forwarded("DELETE", "/v1/sandboxes/sbx-1?gracePeriodSeconds=2", None,
              {"sandbox": dict(sbx, status={"state": "STATE_TERMINATED", "exitCode": 143, "createTime": T,
                                            "endTime": T})}, "delete")
    forwarded("POST", "/v1/sandboxes:purge", {"tags": ["team-a"]}, {"purgeCount": 2}, "purge")
    err = {"code": 5, "message": "sandbox sbx-9 not found", "details": [
        {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "CWSANDBOX_SANDBOX_NOT_FOUND",
         "domain": "cwsandbox.com", "metadata": {"sandboxId": "sbx-9"}}]}
    forwarded("GET", "/v1/sandboxes/sbx-9", None, err, "a canonical error passes with its status", 404)
    nimpl = {"code": 12, "message": "snapshots are not implemented", "details": [
        {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "CWSANDBOX_NOT_IMPLEMENTED",
         "domain": "cwsandbox.com"}]}
    forwarded("GET", "/v1/fileSystemSnapshots", None, nimpl, "an RPC of the schema the backend lacks: its 501", 501)

    # What a strict transcoder refuses, before the backend.
    refused("POST", "/v1/sandboxes", {"spec": dict(spec, containers=[dict(spec["containers"][0], gpus=1)])},
            "spec.containers[0].gpus", "an unknown field in a container")
    refused("POST", "/v1/sandboxes", {"spec": spec, "requestId": "r1"}, "requestId",
            "requestId in the create body (it is a query parameter)")
    refused("POST", "/v1/sandboxes", {"spec": dict(spec, name="box")}, "spec.name", "the flat dialect's spec.name")
    refused("POST", "/v1/sandboxes", {"spec": dict(spec, maxLifetimeSeconds="x")}, "spec.maxLifetimeSeconds",
            "an int32 holding text")
    refused("POST", "/v1/sandboxes", {"sandboxId": "sbx-2", "spec": spec}, "sandboxId",
            "an output-only field in a create")
    refused("POST", "/v1/sandboxes", b"{not json", "", "a body that is not JSON")
    # Volumes, mounts and files (issue 13) as strictly as the rest.
    c0 = spec["containers"][0]
    refused("POST", "/v1/sandboxes", {"spec": dict(spec, volumes=[{"name": "v", "scratch": {"sise": "1Gi"}}])},
            "spec.volumes[0].scratch.sise", "an unknown field in a scratch volume")
    refused("POST", "/v1/sandboxes", {"spec": dict(spec, volumes=[{"name": "v", "scratch": {
            "medium": "STORAGE_MEDIUM_TAPE"}}])}, "spec.volumes[0].scratch.medium", "a bad StorageMedium name")
    refused("POST", "/v1/sandboxes", {"spec": dict(spec, containers=[dict(c0, volumeMounts=[
            {"volume": "v", "mountPath": "/d", "readOnly": "yes"}])])},
            "spec.containers[0].volumeMounts[0].readOnly", "a bool readOnly holding text")
    refused("POST", "/v1/sandboxes", {"spec": dict(spec, containers=[dict(c0, files=[
            {"path": "/f", "content": "not base64!"}])])}, "", "a file's content in bad base64")
    refused("POST", "/v1/sandboxes", {"spec": dict(spec, containers=[dict(c0, files=[
            {"path": "/f", "mode": 420}])])}, "spec.containers[0].files[0].mode", "a file mode the schema lacks")
    vspec = dict(spec, volumes=[{"name": "v", "scratch": {"size": "1Gi", "medium": "STORAGE_MEDIUM_MEMORY"}}],
                 containers=[dict(c0, args=["x"], files=[{"path": "/f", "content": "aGk="}],
                                  volumeMounts=[{"volume": "v", "mountPath": "/d", "readOnly": True,
                                                 "subPath": "s"}])])
    forwarded("POST", "/v1/sandboxes", {"spec": vspec}, {"sandboxId": "sbx-9", "spec": vspec},
              "a create with volumes, mounts, files and args only, both ways")
    refused("POST", "/v1/sandboxes/sbx-1:exec", {"sandboxId": "sbx-1", "command": ["true"], "workingDir": "/"},
            "workingDir", "exec with the extension's workingDir")
    refused("POST", "/v1/sandboxes/sbx-1:exec", {"sandboxId": "sbx-1", "command": ["true"], "timeoutSeconds": 3},
            "timeoutSeconds", "exec with a timeout")
    refused("POST", "/v1/sandboxes/sbx-1:exec", {"sandboxId": "sbx-2", "command": ["true"]}, "sandboxId",
            "a body's sandboxId that is not the path's")
    refused("POST", "/v1/sandboxes/sbx-1:writeFile", {"path": "/f", "content": "aGkK", "offset": "3"}, "offset",
            "a ranged writeFile")
    refused("POST", "/v1/sandboxes/sbx-1:writeFile", {"path": "/f", "content": "not base64!"}, "",
            "bad base64")
    refused("GET", "/v1/sandboxes/sbx-1?waitSeconds=5", None, "waitSeconds", "the old waitSeconds on get")
    refused("GET", "/v1/sandboxes/sbx-1:readFile?path=/f&offset=3&length=4", None, "offset", "a ranged readFile")
    refused("DELETE", "/v1/sandboxes/sbx-1?purge=true", None, "purge", "the old purge on delete")
    refused("GET", "/v1/sandboxes?pageSize=many", None, "pageSize", "an int query parameter holding text")
    refused("GET", "/v1/sandboxes?state=STATE_RUNNNING", None, "state", "an enum query of no such value")
    refused("GET", "/v1/sandboxes?showTerminated=1", None, "showTerminated", "a bool query parameter as 1")
    refused("GET", "/v1/sandboxes/sbx-1?sandboxId=sbx-2", None, "sandboxId", "a query parameter the path binds")
    refused("DELETE", "/v1/sandboxes/sbx-1?gracePeriodSeconds=1&gracePeriodSeconds=2", None, "gracePeriodSeconds",
            "a singular query parameter twice")
    refused("GET", "/v1/sandboxes/sbx-1", b'{"x":1}', "", "a body on a call that has none")
    forwarded("GET", "/v1/sandboxes?state=2", None, {}, "an enum query by number (a transcoder takes it)")

    # Paths and methods of no route: unmatched, as a transcoder answers.
    unmatched("GET", "/v1/extensions", "discovery: no extension here")
    unmatched("GET", "/v1/sandboxes/sbx-1/processes", "the extension's processes")
    unmatched("POST", "/v1/sandboxes/sbx-1/processes/1/stdin", "the extension's stdin")
    unmatched("GET", "/v1/sandboxes/sbx-1/stdout?offset=0", "the extension's output")
    unmatched("GET", "/v1/sandboxes/sbx-1:wait?waitSeconds=5", "the extension's :wait")
    unmatched("POST", "/v1/sandboxes/sbx-1:forget", "the extension's :forget")
    unmatched("GET", "/v1/sandboxes/sbx-1:readFileRange?path=/f&offset=0&length=3", "the extension's :readFileRange")
    unmatched("POST", "/v1/sandboxes/sbx-1:writeFileAt", "the extension's :writeFileAt")
    unmatched("GET", "/v1/sandboxes/sbx-1:listDir?path=/", "the extension's :listDir")
    unmatched("PUT", "/v1/sandboxes/sbx-1", "a known path with a method it lacks (PUT)")
    unmatched("GET", "/v1/sandboxes/sbx-1:exec", "exec by GET")
    unmatched("POST", "/v1/sandboxes/sbx-1", "get's path by POST")
    unmatched("GET", "/v2/sandboxes", "another version")

    # Off-schema answers of the backend: 500 and a log line, never passed on.
    off_schema("GET", "/v1/sandboxes/sbx-1", None, dict(sbx, status={"state": "STATE_RUNNING", "endTime": ""}),
               "Timestamp", 'an answer with "endTime": ""')
    off_schema("GET", "/v1/sandboxes/sbx-1", None, dict(sbx, status={"state": "STATE_RUNNING", "stateReason": ""}),
               "stateReason", "an answer with a zero value written")
    off_schema("GET", "/v1/sandboxes/sbx-1", None, dict(sbx, spec=dict(spec, image="x")), "image",
               "an answer with a field the schema lacks (the flat spec's image)")
    off_schema("POST", "/v1/sandboxes/sbx-1:exec", {"command": ["true"]}, {"stdoutBytesProduced": 3},
               "stdoutBytesProduced", "an int64 answered as a number")
    off_schema("GET", "/v1/sandboxes/sbx-1", None, dict(sbx, status={"state": 2}), "state",
               "an enum answered as a number")
    off_schema("GET", "/v1/sandboxes/sbx-9", None, dict(err, details=[dict(err["details"][0],
                                                                           domain="cwsandbox.coreweave.com")]),
               "domain", "an error of the old domain", 404)
    off_schema("GET", "/v1/sandboxes/sbx-9", None, dict(err, code=12), "maps to HTTP 501",
               "an error code on the wrong HTTP status", 404)
    off_schema("GET", "/v1/sandboxes/sbx-9", None, {"error": "nope"}, "strict parse", "an error that is no Status", 404)

    # The backend down: 503 UNAVAILABLE, retryable.
    lone = os.path.join(d, "lone.sock")
    with open(os.path.join(d, "lone.log"), "w") as lf:
        fake2 = subprocess.Popen([sys.executable, os.path.join(HERE, "fake.py"), lone, os.path.join(d, "none.sock")],
                                 stderr=lf)
    try:
        expect(wait_listen(lone, fake2), "a second fake listens")
        st, js, _ = call("GET", "/v1/sandboxes/sbx-1", sock=lone)
        expect(st == 503 and js.get("code") == 14 and info(js)[0]["reason"] == "CWSANDBOX_BACKEND_UNAVAILABLE",
               "backend down: 503 UNAVAILABLE (got %d %s)" % (st, js))
    finally:
        fake2.kill()
        fake2.wait()

    # The fake's own refusals are canonical google.rpc.Status bodies, as the checker wants them.
    import wirecheck
    ck = wirecheck.Checker(wirecheck.Schema())
    st, js, _ = call("POST", "/v1/sandboxes", {"spec": {"bogus": 1}})
    f = ck.check_status(json.dumps(js), st, expect_field="spec.bogus")
    expect(not f, "the fake's 400 passes the checker (%s)" % f)
finally:
    fake.kill()
    fake.wait()
    stub.shutdown()
    if failed:
        print("--- fake's log\n" + open(errlog).read()[-3000:])
    shutil.rmtree(d, ignore_errors=True)

print("%d failed" % failed)
sys.exit(1 if failed else 0)
