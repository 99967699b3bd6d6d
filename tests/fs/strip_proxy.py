#!/usr/bin/env python3
"""A stand-in for an sbxd that predates `linkResolved` (or any service with
listDir/statFile but without it): listens on a unix socket, forwards every
call to sbxd's socket unchanged (the extension included, with its query
arguments and X-Sbx-* headers), and removes the "linkResolved" field from
the JSON answers of :statFile and :listDir. sbxfs must then resolve links
lexically and still never lead the kernel out of files/.
usage: strip_proxy.py LISTEN_SOCKET SBXD_SOCKET"""
import http.server
import json
import os
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from unixproxy import json_only, serve, upstream_conn  # noqa: E402

LISTEN, UPSTREAM = sys.argv[1], sys.argv[2]
UnixConn = upstream_conn(UPSTREAM)
HOP = ("content-length", "transfer-encoding", "connection", "date", "server")


def strip(obj):
    if isinstance(obj, dict):
        obj.pop("linkResolved", None)
        for v in obj.values():
            strip(v)
    elif isinstance(obj, list):
        for v in obj:
            strip(v)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def forward(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else None
        c = UnixConn("sbxd", timeout=120)
        hdrs = {k: v for k, v in self.headers.items() if k.lower() not in HOP and k.lower() != "host"}
        c.request(self.command, self.path, body=body, headers=hdrs)
        r = c.getresponse()
        data = json_only(self.path, r.read())
        path = urllib.parse.urlsplit(self.path).path
        if path.endswith(":statFile") or path.endswith(":listDir"):
            try:
                j = json.loads(data)
                strip(j)
                data = json.dumps(j).encode()
            except ValueError:
                pass
        self.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() not in HOP:
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        c.close()

    do_GET = do_POST = do_DELETE = do_PUT = forward


serve(LISTEN, Handler)
