"""What the test proxies on unix sockets share (slow_proxy.py,
strip_proxy.py, errno_proxy.py): an HTTP connection to the upstream
socket, and a threaded HTTP server on the listening one. Each proxy keeps
only what it changes in the traffic."""
import http.client
import os
import socket
import socketserver


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
