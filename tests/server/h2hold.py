#!/usr/bin/env python3
# A gRPC client that holds messages back: on one HTTP/2 connection to a
# unix socket, N StreamExec calls each announce a message of L bytes and
# send all of it but the last byte, minding flow control (the server's
# SETTINGS and WINDOW_UPDATEs), then report how much the server let in and
# sbxd's VmRSS (read from the host's /proc) while they are held.
# Used by tests/server/redteam.sh; speaks just enough HTTP/2 (HPACK
# literals, no Huffman) for that.
# Usage: h2hold.py SOCKET N L PID
import select
import socket
import struct
import sys
import time

path, nstreams, length, pid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
s = socket.socket(socket.AF_UNIX); s.connect(path)
def frame(t, f, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([t, f]) + struct.pack(">I", sid) + payload
def hstr(b):
    n = len(b)
    if n < 127: return bytes([n]) + b
    out = bytearray([127]); n -= 127
    while n >= 128: out.append((n & 127) | 128); n >>= 7
    out.append(n); return bytes(out) + b
def hdrs(kv):
    return b"".join(b"\x00" + hstr(k) + hstr(v) for k, v in kv)
s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(4, 0, 0))
conn_win = 65535; init_win = 65535; win = {}; sent = {}; buf = b""; reset = set()
sids = [1 + 2 * i for i in range(nstreams)]
for sid in sids:
    h = hdrs([(b":method", b"POST"), (b":scheme", b"http"), (b":path", b"/coreweave.sandbox.v1.SandboxService/StreamExec"),
              (b":authority", b"sbxd"), (b"content-type", b"application/grpc"), (b"te", b"trailers")])
    s.sendall(frame(1, 4, sid, h)); win[sid] = init_win; sent[sid] = 0
total = length + 5 - 1  # all but the last byte
prefix = b"\x00" + struct.pack(">I", length)
def pump(timeout):
    global buf, conn_win, init_win
    r, _, _ = select.select([s], [], [], timeout)
    if not r: return
    d = s.recv(1 << 20)
    if not d:
        reset.update(sids)  # the server closed the connection
        return
    buf += d
    while len(buf) >= 9:
        ln = int.from_bytes(buf[:3], "big"); t = buf[3]; f = buf[4]; sid = int.from_bytes(buf[5:9], "big") & 0x7fffffff
        if len(buf) < 9 + ln: break
        p = buf[9:9 + ln]; buf = buf[9 + ln:]
        if t == 4 and not (f & 1):
            for i in range(0, len(p), 6):
                k, v = struct.unpack(">HI", p[i:i + 6])
                if k == 4:
                    for x in win: win[x] += v - init_win
                    init_win = v
            s.sendall(frame(4, 1, 0))
        elif t == 8:
            inc = struct.unpack(">I", p)[0] & 0x7fffffff
            if sid == 0: conn_win += inc
            elif sid in win: win[sid] += inc
        elif t == 6 and not (f & 1):
            s.sendall(frame(6, 1, 0, p))
        elif t == 3 and sid in sent:
            reset.add(sid)  # refused by the server: nothing more for it
        elif t == 7:
            reset.update(sids)
t0 = time.time()
while any(sent[x] < total and x not in reset for x in sids) and time.time() - t0 < 60:
    progressed = False
    for sid in sids:
        while sent[sid] < total and sid not in reset:
            n = min(16384, total - sent[sid], win[sid], conn_win)
            if n <= 0: break
            data = (prefix + b"\0" * (n))[:n] if sent[sid] == 0 else b"\0" * n
            s.sendall(frame(0, 0, sid, data)); sent[sid] += n; win[sid] -= n; conn_win -= n; progressed = True
    pump(0 if progressed else 0.5)
time.sleep(2)
rss = [l.split()[1] for l in open("/proc/%s/status" % pid) if l.startswith("VmRSS")][0]
print(sum(sent.values()), rss, len(reset), flush=True)
