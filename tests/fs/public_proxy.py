#!/usr/bin/env python3
"""A stand-in for a service without sbxd's extension: listens on a unix
socket, forwards the public CoreWeave Sandboxes calls to sbxd's socket, and
answers every extension call (GET /v1/extensions, processes, output by
offset, stdin, signals, listDir, statFile, makeDir, removeFile, waitSeconds)
with 404 UNIMPLEMENTED, as a service that lacks them would.
usage: public_proxy.py LISTEN_SOCKET SBXD_SOCKET

With PROXY_SLOW=FILE it is a slow service instead: every call, extension
included, goes through, and while FILE exists, answers to POST calls wait
that many seconds (the file's number) after sbxd has done the work, as a
service that does the work but answers after the client's deadline."""
import http.server
import json
import os
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from unixproxy import serve, upstream_conn  # noqa: E402

LISTEN, UPSTREAM = sys.argv[1], sys.argv[2]
UnixConn = upstream_conn(UPSTREAM)
SLOW = os.environ.get("PROXY_SLOW")
EXT = ("/processes", "/stdout", "/stderr", ":listDir", ":statFile", ":makeDir", ":removeFile", ":signal")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def unimplemented(self):
        body = json.dumps({"code": 12, "message": "not implemented by this service", "details": [
            {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "CWSANDBOX_UNIMPLEMENTED",
             "domain": "cwsandbox.coreweave.com"}]}).encode()
        self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def forward(self):
        u = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qsl(u.query)
        if not SLOW and (u.path == "/v1/extensions" or any(e in u.path for e in EXT)):
            n = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(n)
            return self.unimplemented()
        # public calls have no waitSeconds, offset or length
        if not SLOW:
            q = [(k, v) for k, v in q if k not in ("waitSeconds", "offset", "length")]
        path = u.path + ("?" + urllib.parse.urlencode(q) if q else "")
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else None
        c = UnixConn("sbxd", timeout=120)
        hdrs = {k: v for k, v in self.headers.items() if k.lower() in ("content-type", "authorization")}
        c.request(self.command, path, body=body, headers=hdrs)
        r = c.getresponse()
        data = r.read()
        if SLOW and self.command == "POST":
            try:
                with open(SLOW) as f:
                    time.sleep(float(f.read().strip() or 0))
            except OSError:
                pass
        self.send_response(r.status)
        self.send_header("Content-Type", r.getheader("Content-Type", "application/json"))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        c.close()

    do_GET = do_POST = do_DELETE = do_PUT = forward


serve(LISTEN, Handler)
