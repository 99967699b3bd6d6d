#!/usr/bin/env python3
"""A byte relay between a client (libsbx, sbxfs) and sbxd's unix socket that
breaks connections on command, for the fault tests (tests/load/faults.sh).
It does not parse HTTP beyond finding the end of a response's header, so
keep-alive connections, long-polls and streamed bodies pass unchanged in
mode "ok".

The mode is the first line of MODE_FILE, `MODE [MS] [@MATCH]`, read again
for every chunk a client sends (so it applies to connections already open
too). With @MATCH only a chunk that holds MATCH (e.g. "@POST /v1/sandboxes/
box/processes": one call) meets the fault; the others are relayed:
  ok          relay
  delay MS    hold each request chunk MS milliseconds, then relay it
  stall       accept and read, never forward or answer (until the mode
              changes; then the connection is closed)
  drop        close the connection at the next request, answer nothing
  reset       close it without reading the request: the client's next
              read gets ECONNRESET (unread data on a closed unix socket)
  cut         forward the request, relay the answer's header and the first
              bytes of its body, then close both ends mid-body
Every fault it applied is logged in MODE_FILE.log, one line each with the
request line it hit, so a test can tell that its fault was really met.
usage: fault_proxy.py LISTEN_SOCKET SBXD_SOCKET MODE_FILE"""
import os
import select
import socket
import sys
import threading
import time

LISTEN, UPSTREAM, MODE_FILE = sys.argv[1], sys.argv[2], sys.argv[3]
CUT_BODY_BYTES = 7
log_lock = threading.Lock()


def mode(chunk=None):
    """(mode, ms) for this chunk: ("ok", 0) unless the fault applies to it."""
    try:
        with open(MODE_FILE) as f:
            line = f.readline().strip()
    except OSError:
        return ("ok", 0)
    match = None
    if "@" in line:
        line, match = line.split("@", 1)
    w = line.split()
    if not w:
        return ("ok", 0)
    if match is not None and chunk is not None and match.encode() not in chunk:
        return ("ok", 0)
    arg = int(w[1]) if len(w) > 1 and w[1].isdigit() else 0
    return (w[0], arg)


def first_line(chunk):
    return chunk.split(b"\r\n", 1)[0][:120].decode("latin-1")


def note(what):
    with log_lock:
        with open(MODE_FILE + ".log", "a") as f:
            f.write(what + "\n")


def close(*socks):
    for s in socks:
        try:
            s.close()
        except OSError:
            pass


def serve(cli):
    up = None
    cut_left = None      # bytes of answer still to relay in mode cut
    header = b""
    try:
        up = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        up.connect(UPSTREAM)
        while True:
            r, _, _ = select.select([cli, up], [], [], 0.2)
            if cli in r:
                peek = cli.recv(65536, socket.MSG_PEEK)
                if not peek:
                    return
                m, arg = mode(peek)
                if m == "reset":
                    note("reset " + first_line(peek))
                    return          # the request stays unread: ECONNRESET
                data = cli.recv(65536)
                if not data:
                    return
                if m == "drop":
                    note("drop " + first_line(data))
                    return
                if m == "stall":
                    note("stall " + first_line(data))
                    while mode()[0] == "stall":
                        time.sleep(0.1)
                    return
                if m == "delay":
                    note("delay " + first_line(data))
                    time.sleep(arg / 1000.0)
                if m == "cut" and cut_left is None:
                    note("cut " + first_line(data))
                    cut_left = -1   # set once the header is seen
                up.sendall(data)
            if up in r:
                data = up.recv(65536)
                if not data:
                    return
                if cut_left is not None:
                    if cut_left < 0:
                        header += data
                        end = header.find(b"\r\n\r\n")
                        if end < 0:
                            cli.sendall(data)
                            continue
                        # relay up to the end of the header plus a few body bytes
                        keep = len(data) - (len(header) - (end + 4)) + CUT_BODY_BYTES
                        cli.sendall(data[:max(0, keep)])
                        return
                cli.sendall(data)
    except OSError:
        return
    finally:
        close(cli, up) if up else close(cli)


srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
if os.path.exists(LISTEN):
    os.unlink(LISTEN)
srv.bind(LISTEN)
srv.listen(512)
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
