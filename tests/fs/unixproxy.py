"""What the test proxies on unix sockets share (slow_proxy.py,
strip_proxy.py, errno_proxy.py): an HTTP connection to the upstream
socket, and a threaded HTTP server on the listening one. Each proxy keeps
only what it changes in the traffic."""
import http.client
import json
import os
import socket
import socketserver
import urllib.parse


def upstream_conn(path):
    """An http.client connection class that reaches the unix socket path."""
    class UnixConn(http.client.HTTPConnection):
        def connect(self):
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.connect(path)
    return UnixConn


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def get_request(self):
        req, _ = super().get_request()
        return req, ("local", 0)


def serve(listen, handler):
    """Serves handler on the unix socket listen (replacing a stale one)
    until killed."""
    if os.path.exists(listen):
        os.unlink(listen)
    _Server(listen, handler).serve_forever()


def json_only(target, data):
    """For a proxy that reads or rewrites the calls' JSON: it stands in for
    a service that speaks JSON only, so the discovery answer (target
    /v1/extensions) loses "protobuf" (docs/api.md, "Encodings") and the
    client keeps every call in JSON. Other answers pass unchanged."""
    if urllib.parse.urlsplit(target).path != "/v1/extensions":
        return data
    try:
        j = json.loads(data)
        j["extensions"] = [e for e in j.get("extensions", []) if e != "protobuf"]
    except (ValueError, AttributeError, TypeError):
        return data
    return json.dumps(j).encode()
