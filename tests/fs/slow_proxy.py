#!/usr/bin/env python3
"""A slow service: forwards every call (extension included) to sbxd's
socket unchanged, and while FILE exists, answers to POST calls wait that
many seconds (the file's number) after sbxd has done the work, as a
service that does the work but answers after the client's deadline
(sh_start_retry.sh). The service without the extension is the strict fake,
tests/conformance/fake.py.
usage: slow_proxy.py FILE LISTEN_SOCKET SBXD_SOCKET"""
import http.server
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from unixproxy import serve, upstream_conn  # noqa: E402

SLOW, LISTEN, UPSTREAM = sys.argv[1], sys.argv[2], sys.argv[3]
UnixConn = upstream_conn(UPSTREAM)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def forward(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else None
        c = UnixConn("sbxd", timeout=120)
        hdrs = {k: v for k, v in self.headers.items() if k.lower() in ("content-type", "authorization")}
        c.request(self.command, self.path, body=body, headers=hdrs)
        r = c.getresponse()
        data = r.read()
        if self.command == "POST":
            try:
                with open(SLOW) as f:
                    time.sleep(float(f.read().strip() or 0))
            except OSError:
                pass
        self.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() == "content-type" or k.lower().startswith("x-sbx-"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        c.close()

    do_GET = do_POST = do_DELETE = do_PUT = forward


serve(LISTEN, Handler)
