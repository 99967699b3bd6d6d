#!/usr/bin/python3
"""The official cwsandbox SDK, unchanged, against sbxd's gRPC surface
(issue 11): the four examples of the seed page and write_file/read_file.
Run by sdk.sh with CWSANDBOX_BASE_URL / CWSANDBOX_API_KEY set."""
import sys

from cwsandbox import Sandbox, SandboxExecutionError

bad = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        bad.append(what)


sb = Sandbox.run("sh", "-c", "echo hi; exit 3")
sb.wait_until_complete(timeout=60).result()
check(sb.returncode == 3, "run(sh -c ...) + wait_until_complete: returncode 3 (%r)" % sb.returncode)

with Sandbox.run() as sb:
    r1 = sb.exec(["echo", "one"]).result()
    r2 = sb.exec(["sh", "-c", "echo two >&2; exit 4"]).result()
    check(r1.stdout == "one\n" and r1.returncode == 0, "exec 1: stdout one, 0")
    check(r2.stderr == "two\n" and r2.returncode == 4, "exec 2: stderr two, 4")
    sb.write_file("/tmp/f.txt", b"file body\n").result()
    check(sb.read_file("/tmp/f.txt").result() == b"file body\n", "write_file then read_file")

with Sandbox.run("sleep", "infinity") as sb:
    check(sb.exec(["uname", "-s"]).result().stdout == "Linux\n", "run(sleep infinity) + exec")

with Sandbox.run() as sb:
    try:
        sb.exec(["sh", "-c", "echo bad >&2; exit 5"], check=True).result()
        check(False, "check=True raises")
    except SandboxExecutionError as e:
        r = e.exec_result
        check(r is not None and r.returncode == 5 and r.stderr == "bad\n",
              "check=True raises SandboxExecutionError with exit 5 and stderr")
sys.exit(1 if bad else 0)
