#!/usr/bin/env python3
"""The host side of redteam2.sh's attacks on :openFile and :listDirs: a
client of sbxd's unix socket that asks for descriptors (Upgrade: sbxd-fd,
the byte with SCM_RIGHTS after the 101) and listings, and judges what came
by the HOST's view of it, never by what the sandbox says: each descriptor's
fstat (a regular file, on one of the sandbox's own file systems, none of
the host's marker files), the bytes it reads, and, for writable ones,
a write through it that the test then looks for in the host's markers.

  fdattack.py SOCK ID once PATH [write]      one openFile: prints
      "<HTTP status> <kind> <dev> <link> <its first bytes>" (kind: reg,
      none, or what it was)
  fdattack.py SOCK ID count SECONDS PATH
      openFile of the regular file PATH over and over: exit 1 when one
      did not come (with its answer on stderr)
  fdattack.py SOCK ID race SECONDS DEV[,DEV...] HOSTDIR SECRET PATH...
      openFile (reads and writes) and listDirs of PATHs over and over for
      SECONDS; prints one JSON line of counts; exit 1 and the first bad
      case on stderr when a descriptor was not a regular file on a DEV
      (the box's root and /tmp), was one of HOSTDIR's files, read
      SECRET, linked under HOSTDIR, or a listing held a name of HOSTDIR.
"""
import json
import os
import socket
import stat
import sys
import time
import urllib.parse


def request(sock_path, method, path, body=None, upgrade=False, uid=None):
    """One HTTP/1.1 request: (status, headers, body bytes, fd or None)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(20)
    s.connect(sock_path)
    hdr = f"{method} {path} HTTP/1.1\r\nHost: sbxd\r\n"
    data = b""
    if body is not None:
        data = json.dumps(body).encode()
        hdr += f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
    if upgrade:
        hdr += "Connection: Upgrade\r\nUpgrade: sbxd-fd\r\n"
    else:
        hdr += "Connection: close\r\n"
    s.sendall(hdr.encode() + b"\r\n" + data)
    buf = b""
    while b"\r\n\r\n" not in buf:
        b = s.recv(1)  # byte by byte: the fd rides on the byte after the head
        if not b:
            break
        buf += b
    head, _, _ = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1]) if lines and len(lines[0].split()) > 1 else 0
    headers = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        headers[k.strip().lower()] = v.strip()
    fd = None
    rest = b""
    if status == 101:
        msg, fds, _, _ = socket.recv_fds(s, 1, 4)
        for extra in fds[1:]:
            os.close(extra)
        fd = fds[0] if fds else None
    else:
        n = int(headers.get("content-length", "0") or 0)
        while len(rest) < n:
            b = s.recv(n - len(rest))
            if not b:
                break
            rest += b
    s.close()
    return status, headers, rest, fd


def open_file(sock_path, box, path, write):
    q = urllib.parse.urlencode({"path": path, **({"write": "true"} if write else {})})
    return request(sock_path, "GET", f"/v1/sandboxes/{box}:openFile?{q}", upgrade=True)


def kind_of(fd):
    m = os.fstat(fd).st_mode
    for name, test in (("reg", stat.S_ISREG), ("dir", stat.S_ISDIR), ("fifo", stat.S_ISFIFO),
                       ("sock", stat.S_ISSOCK), ("chr", stat.S_ISCHR), ("blk", stat.S_ISBLK),
                       ("lnk", stat.S_ISLNK)):
        if test(m):
            return name
    return "other"


def once(sock_path, box, path, write):
    st, _, _, fd = open_file(sock_path, box, path, write)
    if fd is None:
        print(st, "none", "-", "-", "-")
        return
    text = os.pread(fd, 64, 0).decode(errors="replace").strip().replace(" ", "_") or "-"
    print(st, kind_of(fd), os.fstat(fd).st_dev, os.readlink(f"/proc/self/fd/{fd}"), text)
    os.close(fd)


def race(sock_path, box, seconds, devs, hostdir, secret, paths):
    counts = {"fds": 0, "refused": 0, "writes": 0, "listings": 0, "listed": 0}
    names = set(os.listdir(hostdir))
    host_inodes = {(os.stat(os.path.join(hostdir, n)).st_dev, os.stat(os.path.join(hostdir, n)).st_ino)
                   for n in names}
    # the box has its own copy of HOSTDIR/secret (a link that stays inside
    # leads there): only the other names are the host's alone
    host_names = names - {"secret"}
    bad = []
    end = time.monotonic() + seconds
    i = 0
    while time.monotonic() < end and not bad:
        path = paths[i % len(paths)]
        write = (i // len(paths)) % 2 == 1
        i += 1
        st, _, _, fd = open_file(sock_path, box, path, write)
        if fd is None:
            counts["refused"] += 1
        else:
            counts["fds"] += 1
            try:
                k = kind_of(fd)
                link = os.readlink(f"/proc/self/fd/{fd}")
                fst = os.fstat(fd)
                d = fst.st_dev
                if (d, fst.st_ino) in host_inodes:
                    bad.append(f"{path}: a descriptor of a host marker file ({link})")
                elif k != "reg" or d not in devs:
                    bad.append(f"{path}: a descriptor of kind {k} on dev {d} (the box's are {devs}), link {link}")
                else:
                    # (its link names the box's own copy at HOSTDIR's
                    # path: the box made one, so the path tells nothing)
                    got = os.pread(fd, 4096, 0)
                    if secret.encode() in got:
                        bad.append(f"{path}: read the host's secret through {link}")
                    if write:
                        os.pwrite(fd, b"written-by-the-host\n", 0)
                        counts["writes"] += 1
            finally:
                os.close(fd)
        # the listings of the same names (a directory, or one swapped in)
        st, _, body, _ = request(sock_path, "POST", f"/v1/sandboxes/{box}:listDirs",
                                 {"path": path, "morePaths": paths})
        if st == 200:
            for l in json.loads(body).get("listings", []):
                counts["listings"] += 1
                for e in l.get("entries", []):
                    counts["listed"] += 1
                    if e.get("name") in host_names:
                        bad.append(f"{l.get('path')}: listed the host's {e.get('name')}")
    print(json.dumps(counts))
    if bad:
        print("BAD: " + bad[0], file=sys.stderr)
        sys.exit(1)


def count(sock_path, box, seconds, path):
    """openFile of PATH (a regular file) for SECONDS: every one must come."""
    got, failed, first = 0, 0, ""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        st, _, body, fd = open_file(sock_path, box, path, False)
        if fd is None:
            failed += 1
            first = first or f"{st} {body.decode(errors='replace')[:200]}"
        else:
            os.close(fd)
            got += 1
    print(json.dumps({"opened": got, "failed": failed}))
    if failed:
        print("BAD: " + first, file=sys.stderr)
        sys.exit(1)


def main():
    a = sys.argv[1:]
    if len(a) >= 4 and a[2] == "once":
        once(a[0], a[1], a[3], len(a) > 4 and a[4] == "write")
    elif len(a) == 5 and a[2] == "count":
        count(a[0], a[1], float(a[3]), a[4])
    elif len(a) >= 8 and a[2] == "race":
        race(a[0], a[1], float(a[3]), {int(d) for d in a[4].split(",")}, a[5], a[6], a[7:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
