#!/usr/bin/env python3
"""Exposes a host file inside a running sandbox, as an escape or a careless
bind mount would: expose.py PID HOSTFILE PATH binds HOSTFILE (opened here, on
the host) over PATH (an existing file) in the mount namespace of host pid
PID. The attacker tests then check that uid 0 in the sandbox cannot write it
when HOSTFILE is host root's: only a user namespace stops that, since root
inside without one has CAP_DAC_OVERRIDE over host files. Needs root."""
import ctypes
import os
import sys

libc = ctypes.CDLL(None, use_errno=True)
SYS_open_tree, SYS_move_mount = 428, 429          # x86_64 and aarch64 alike
OPEN_TREE_CLONE, OPEN_TREE_CLOEXEC = 1, 0o2000000
AT_EMPTY_PATH, AT_FDCWD = 0x1000, -100
MOVE_MOUNT_F_EMPTY_PATH = 0x4
CLONE_NEWNS = 0x00020000


def check(rc, what):
    if rc < 0:
        e = ctypes.get_errno()
        sys.exit(f"expose.py: {what}: {os.strerror(e)}")
    return rc


def main():
    pid, src, dst = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    fd = os.open(src, os.O_PATH)
    tree = check(libc.syscall(SYS_open_tree, fd, b"", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH),
                 "open_tree")
    ns = os.open(f"/proc/{pid}/ns/mnt", os.O_RDONLY)
    check(libc.setns(ns, CLONE_NEWNS), "setns")
    check(libc.syscall(SYS_move_mount, tree, b"", AT_FDCWD, dst.encode(), MOVE_MOUNT_F_EMPTY_PATH), "move_mount")


main()
