#!/usr/bin/env python3
"""A service whose sandbox kernel answers one errno: listens on a unix
socket and forwards every call to sbxd's socket, except a file call whose
path holds NAME-CALL (e.g. "ENOSYS-listDir" for :listDir, "ENOSYS-all" for
every file call), which it answers as sbxd answers a failed system call:
400 FAILED_PRECONDITION with ErrorInfo metadata {"path", "errno": NAME}.
usage: errno_proxy.py LISTEN_SOCKET SBXD_SOCKET ERRNO_NAME"""
import http.server
import json
import os
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from unixproxy import json_only, serve, upstream_conn  # noqa: E402

LISTEN, UPSTREAM, NAME = sys.argv[1], sys.argv[2], sys.argv[3]
UnixConn = upstream_conn(UPSTREAM)
HOP = ("content-length", "transfer-encoding", "connection", "date", "server")
FILE_CALLS = (":listDir", ":statFile", ":readFile", ":readFileRange", ":writeFile", ":writeFileAt",
              ":createFile", ":makeDir", ":removeFile", ":setFileAttrs", ":renameFile")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def answer(self, status, data, headers=()):
        self.send_response(status)
        for k, v in headers:
            if k.lower() not in HOP:
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def forward(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else None
        u = urllib.parse.urlsplit(self.path)
        path = urllib.parse.parse_qs(u.query).get("path", [""])[0]
        if not path and body:
            try:
                path = json.loads(body).get("path", "")
            except ValueError:
                pass
        call = u.path[u.path.rfind(":") + 1:]
        # the extension's ranged forms count as the whole-file call's name
        call = {"readFileRange": "readFile", "writeFileAt": "writeFile"}.get(call, call)
        if u.path.endswith(FILE_CALLS) and (f"{NAME}-{call}" in path or f"{NAME}-all" in path):
            err = {"code": 9, "message": f"{path}: {NAME}", "details": [{
                "@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "CWSANDBOX_INVALID_REQUEST",
                "domain": "cwsandbox.com", "metadata": {"path": path, "errno": NAME}}]}
            self.answer(400, json.dumps(err).encode(), [("Content-Type", "application/json")])
            return
        c = UnixConn("sbxd", timeout=120)
        hdrs = {k: v for k, v in self.headers.items() if k.lower() not in HOP and k.lower() != "host"}
        c.request(self.command, self.path, body=body, headers=hdrs)
        r = c.getresponse()
        data = json_only(self.path, r.read())
        self.answer(r.status, data, r.getheaders())
        c.close()

    do_GET = do_POST = do_DELETE = do_PUT = forward


serve(LISTEN, Handler)
