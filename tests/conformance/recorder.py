#!/usr/bin/python3
"""A recording HTTP proxy between a client (sbxfs/libsbx, or a test's curl)
and sbxd, on unix sockets: forwards every request unchanged and appends
each exchange, bodies included, to a JSON Lines log for wirecheck.py. It
sits in tests/ so that no product code changes to be observed.

One log line: {"t", "label", "origin" ("libsbx": no User-Agent, as libsbx
sends none; "curl": a test's curl; else the agent), "method", "target"
(path and query as sent), "reqHeaders", "reqBody" (base64), "status",
"respHeaders", "respBody" (base64)}. Headers X-Conformance-* (hints from a
test to the checker) are recorded and not forwarded. When the upstream is
down the client's connection is closed without an answer, as a refused
connect would look to it.

usage: recorder.py LISTEN_SOCKET UPSTREAM_SOCKET LOG [LABEL]"""
import base64
import http.client
import http.server
import json
import os
import socket
import socketserver
import sys
import threading
import time

LISTEN, UPSTREAM, LOG = sys.argv[1], sys.argv[2], sys.argv[3]
LABEL = sys.argv[4] if len(sys.argv) > 4 else ""
HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection",
       "expect", "content-length"}
KEEP_RESP = ("content-type", "x-sbx-")
MAX_BODY = 64 << 20  # larger than any cap of sbxd's, so nothing sbxd sees is cut
log_lock = threading.Lock()


class UnixConn(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(UPSTREAM)


def origin(agent):
    if not agent:
        return "libsbx"
    return "curl" if agent.startswith("curl/") else agent[:40]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

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
                    raise ValueError("request body over the recorder's cap")
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_BODY:
            raise ValueError("request body over the recorder's cap")
        return self.rfile.read(n) if n else b""

    def forward(self):
        body = self.read_body()
        fwd = {k: v for k, v in self.headers.items()
               if k.lower() not in HOP and not k.lower().startswith("x-conformance-")}
        c = UnixConn("sbxd", timeout=150)
        try:
            c.request(self.command, self.path, body=body if body or self.command in ("POST", "PUT") else None,
                      headers=fwd)
        except OSError:
            pass  # sbxd may answer (413) and close before it read the body
        try:
            r = c.getresponse()
            data = r.read()
        except (OSError, http.client.HTTPException):
            c.close()
            self.close_connection = True
            return
        c.close()
        rh = [(k, v) for k, v in r.getheaders() if k.lower() not in HOP]
        rec = {"t": round(time.time(), 3), "label": LABEL, "origin": origin(self.headers.get("User-Agent")),
               "method": self.command, "target": self.path,
               "reqHeaders": {k: v for k, v in self.headers.items()
                              if k.lower() in ("content-type", "user-agent") or k.lower().startswith("x-conformance-")},
               "reqBody": base64.b64encode(body).decode(), "status": r.status,
               "respHeaders": {k: v for k, v in rh if k.lower().startswith(KEEP_RESP)},
               "respBody": base64.b64encode(data).decode()}
        line = (json.dumps(rec, sort_keys=True) + "\n").encode()
        # One write(2) with O_APPEND per line: recorders of tests that run
        # in parallel share the log without interleaving.
        with log_lock:
            fd = os.open(LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)
        try:
            self.send_response(r.status, r.reason)
            for k, v in rh:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            self.close_connection = True

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = forward


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    # socketserver's default backlog of 5 refuses bursts (a thousand
    # long-polls at once in the tests); sbxd's own is larger.
    request_queue_size = 4096

    def get_request(self):
        req, _ = super().get_request()
        return req, ("local", 0)


if os.path.exists(LISTEN):
    os.unlink(LISTEN)
srv = Server(LISTEN, Handler)
os.chmod(LISTEN, 0o600)
srv.serve_forever()
