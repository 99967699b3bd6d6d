#!/usr/bin/python3
"""sbxd's gRPC surface (issue 11), driven with Debian's python3-grpcio.

Usage: grpc_test.py PYDIR TARGET TOKEN UNIX_SOCKET SBXD_PID [CASE...]

PYDIR holds the protoc --python_out modules of proto/ (made by grpc.sh at
test time; Debian has no grpc_tools matching its grpcio, so the calls go
through grpc's generic channel.unary_unary / stream_stream with the
messages' own serializers). TARGET is HOST:PORT of --grpc-listen (h2c),
UNIX_SOCKET sbxd's gRPC unix socket. Every case asserts what sbxd did,
not only that it answered.
"""
import hashlib
import os
import sys
import threading
import time

sys.path.insert(0, sys.argv[1])
import grpc  # noqa: E402
from coreweave.sandbox.v1 import sandbox_pb2 as pb  # noqa: E402
from google.rpc import error_details_pb2, status_pb2  # noqa: E402

TARGET, TOKEN, USOCK, SBXD_PID = sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
SVC = "/coreweave.sandbox.v1.SandboxService/"
AUTH = (("authorization", "Bearer " + TOKEN),)
OPTS = [("grpc.max_receive_message_length", 100 << 20), ("grpc.max_send_message_length", 100 << 20)]

UNARY = {
    "CreateSandbox": (pb.CreateSandboxRequest, pb.Sandbox),
    "CreateSandboxFromTemplate": (pb.CreateSandboxFromTemplateRequest, pb.Sandbox),
    "GetSandbox": (pb.GetSandboxRequest, pb.Sandbox),
    "ListSandboxes": (pb.ListSandboxesRequest, pb.ListSandboxesResponse),
    "DeleteSandbox": (pb.DeleteSandboxRequest, pb.DeleteSandboxResponse),
    "PurgeSandboxes": (pb.PurgeSandboxesRequest, pb.PurgeSandboxesResponse),
    "Exec": (pb.ExecRequest, pb.ExecResponse),
    "WriteFile": (pb.WriteFileRequest, pb.WriteFileResponse),
    "ReadFile": (pb.ReadFileRequest, pb.ReadFileResponse),
    "CreateFileSystemSnapshot": (pb.CreateFileSystemSnapshotRequest, pb.FileSystemSnapshot),
    "GetFileSystemSnapshot": (pb.GetFileSystemSnapshotRequest, pb.FileSystemSnapshot),
    "ListFileSystemSnapshots": (pb.ListFileSystemSnapshotsRequest, pb.ListFileSystemSnapshotsResponse),
    "DeleteFileSystemSnapshot": (pb.DeleteFileSystemSnapshotRequest, pb.FileSystemSnapshot),
}

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, flush=True)
    return cond


class Client:
    def __init__(self, channel, md=AUTH):
        self.ch = channel
        self.md = md

    def call(self, name, timeout=60, **fields):
        req_t, resp_t = UNARY[name]
        fn = self.ch.unary_unary(SVC + name, request_serializer=req_t.SerializeToString,
                                 response_deserializer=resp_t.FromString)
        return fn(req_t(**fields), metadata=self.md, timeout=timeout)

    def stream_exec(self, requests, timeout=600):
        fn = self.ch.stream_stream(SVC + "StreamExec", request_serializer=pb.ExecStreamRequest.SerializeToString,
                                   response_deserializer=pb.ExecStreamResponse.FromString)
        return fn(requests, metadata=self.md, timeout=timeout)

    def stream_logs(self, timeout=120, **fields):
        fn = self.ch.unary_stream(SVC + "StreamLogs", request_serializer=pb.StreamLogsRequest.SerializeToString,
                                  response_deserializer=pb.LogEntry.FromString)
        return fn(pb.StreamLogsRequest(**fields), metadata=self.md, timeout=timeout)


def details(err):
    """The google.rpc.Status of grpc-status-details-bin (checked equal to
    grpc-status and grpc-message) and its ErrorInfo / BadRequest / RetryInfo."""
    raw = dict(err.trailing_metadata() or ()).get("grpc-status-details-bin")
    if not check(raw is not None, "grpc-status-details-bin present for %s" % err.code()):
        return None, {}
    st = status_pb2.Status.FromString(raw)
    check(st.code == err.code().value[0], "details code %d = grpc-status %s" % (st.code, err.code()))
    check(st.message == err.details(), "details message %r = grpc-message %r" % (st.message, err.details()))
    out = {}
    for a in st.details:
        for name, t in (("info", error_details_pb2.ErrorInfo), ("bad", error_details_pb2.BadRequest),
                        ("retry", error_details_pb2.RetryInfo)):
            if a.Is(t.DESCRIPTOR):
                m = t()
                a.Unpack(m)
                out[name] = m
    return st, out


def expect_error(code, fn, what, reason=None, field=None):
    try:
        fn()
    except grpc.RpcError as e:
        check(e.code() == code, "%s: code %s, wanted %s (%s)" % (what, e.code(), code, e.details()))
        st, d = details(e) if code != grpc.StatusCode.UNAUTHENTICATED or True else (None, {})
        if reason:
            info = d.get("info")
            check(info is not None and info.domain == "cwsandbox.com" and info.reason == reason,
                  "%s: ErrorInfo cwsandbox.com/%s, got %s" % (what, reason, info))
        if field:
            bad = d.get("bad")
            check(bad is not None and any(v.field == field for v in bad.field_violations),
                  "%s: BadRequest names %s, got %s" % (what, field, bad))
        return d
    check(False, "%s: no error" % what)
    return {}


def new_sandbox(c, command=None, args=(), tags=()):
    ctr = pb.Container(name="main", image="default")
    if command:
        ctr.command = command
        ctr.args.extend(args)
    sb = c.call("CreateSandbox", sandbox=pb.Sandbox(spec=pb.SandboxSpec(containers=[ctr], tags=list(tags))))
    check(sb.status.state == pb.STATE_RUNNING, "created sandbox runs (%s)" % sb.status.state)
    return sb.sandbox_id


def run_stream(c, sid, argv, stdin_chunks=(), close=True, timeout=600, env=None):
    """StreamExec: (ready seen, stdout, stderr, exit code)."""
    def reqs():
        yield pb.ExecStreamRequest(init=pb.ExecStreamInit(sandbox_id=sid, command=argv, env=env or {}))
        for ch in stdin_chunks:
            yield pb.ExecStreamRequest(stdin=ch)
        if close:
            yield pb.ExecStreamRequest(close=pb.ExecStreamClose())
    out = {1: bytearray(), 2: bytearray()}
    ready, code = False, None
    for r in c.stream_exec(reqs(), timeout=timeout):
        k = r.WhichOneof("message")
        if k == "ready":
            ready = r.ready.ready_time.seconds > 0
        elif k == "output":
            out[r.output.stream].extend(r.output.data)
        elif k == "exit":
            code = r.exit.exit_code
    return ready, bytes(out[1]), bytes(out[2]), code


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


# ------------------------------------------------------------------ cases

def case_unary(c):
    sid = new_sandbox(c, tags=["grpc-t", "unary"])
    got = c.call("GetSandbox", sandbox_id=sid)
    check(got.sandbox_id == sid and got.spec.containers[0].image == "default", "GetSandbox echoes the spec")
    lst = c.call("ListSandboxes", tags=["grpc-t", "unary"])
    check([s.sandbox_id for s in lst.sandboxes] == [sid], "ListSandboxes by two tags finds it alone")
    c.call("WriteFile", sandbox_id=sid, path="/tmp/g.txt", content=b"hello\x00grpc\n")
    rf = c.call("ReadFile", sandbox_id=sid, path="/tmp/g.txt")
    check(rf.content == b"hello\x00grpc\n", "ReadFile gives back WriteFile's bytes")
    ex = c.call("Exec", sandbox_id=sid, command=["sh", "-c", "cat /tmp/g.txt | wc -c; echo err >&2; exit 3"])
    check(ex.stdout == b"11\n" and ex.stderr == b"err\n" and ex.exit_code == 3,
          "Exec: stdout, stderr, exit code (%r %r %d)" % (ex.stdout, ex.stderr, ex.exit_code))
    check(ex.stdout_bytes_produced == 3, "Exec counts stdout bytes")
    # a big file through the unary calls (over gRPC's 4 MiB default)
    blob = os.urandom(9 << 20)
    c.call("WriteFile", sandbox_id=sid, path="/tmp/big", content=blob)
    check(c.call("ReadFile", sandbox_id=sid, path="/tmp/big").content == blob, "9 MiB WriteFile/ReadFile round trip")
    pr = c.call("PurgeSandboxes", tags=["grpc-t", "purge-none"], dry_run=True)
    check(pr.purge_count == 0, "PurgeSandboxes dry run of an unused tag counts 0")
    sid2 = new_sandbox(c, tags=["grpc-t", "purge-me"])
    pr = c.call("PurgeSandboxes", tags=["purge-me"])
    check(pr.purge_count == 1, "PurgeSandboxes stops the one tagged sandbox (%d)" % pr.purge_count)
    st = c.call("GetSandbox", sandbox_id=sid2).status.state
    check(st in (pb.STATE_TERMINATING, pb.STATE_TERMINATED), "purged sandbox stops (%s)" % st)
    d = c.call("DeleteSandbox", sandbox_id=sid)
    check(d.sandbox.sandbox_id == sid, "DeleteSandbox answers the sandbox")
    deadline = time.time() + 20
    while time.time() < deadline and c.call("GetSandbox", sandbox_id=sid).status.state != pb.STATE_TERMINATED:
        time.sleep(0.1)
    check(c.call("GetSandbox", sandbox_id=sid).status.state == pb.STATE_TERMINATED, "deleted sandbox ends")
    expect_error(grpc.StatusCode.UNIMPLEMENTED, lambda: c.call("CreateSandboxFromTemplate"),
                 "CreateSandboxFromTemplate", reason="CWSANDBOX_NOT_IMPLEMENTED")


def vol_sandbox(c, restore=""):
    ctr = pb.Container(name="main", image="default",
                       volume_mounts=[pb.VolumeMount(volume="data", mount_path="/data")])
    vol = pb.SandboxVolume(name="data", scratch=pb.ScratchVolume(size="32Mi", restore_from_snapshot_id=restore))
    return c.call("CreateSandbox", sandbox=pb.Sandbox(spec=pb.SandboxSpec(containers=[ctr], volumes=[vol])))


def wait_snapshot(c, sid):
    deadline = time.time() + 60
    s = c.call("GetFileSystemSnapshot", file_system_snapshot_id=sid)
    while s.state == pb.SNAPSHOT_STATE_CREATING and time.time() < deadline:
        time.sleep(0.1)
        s = c.call("GetFileSystemSnapshot", file_system_snapshot_id=sid)
    return s


def case_snapshots(c):
    """The four snapshot calls, snapshot_volumes at delete and a restore."""
    sb = vol_sandbox(c)
    check(sb.status.state == pb.STATE_RUNNING, "sandbox with a volume runs (%s)" % sb.status.state)
    sid = sb.sandbox_id
    blob = os.urandom(1 << 20)
    c.call("WriteFile", sandbox_id=sid, path="/data/blob", content=blob)
    c.call("Exec", sandbox_id=sid, command=["sh", "-c", "ln -s blob /data/link && chmod 0640 /data/blob"])
    snap = c.call("CreateFileSystemSnapshot", sandbox_id=sid, scratch_volume_name="data", request_id="g-1")
    check(snap.state == pb.SNAPSHOT_STATE_CREATING and snap.file_system_snapshot_id.startswith("fss-"),
          "CreateFileSystemSnapshot answers CREATING (%s)" % snap)
    got = wait_snapshot(c, snap.file_system_snapshot_id)
    check(got.state == pb.SNAPSHOT_STATE_READY and got.size_bytes > 0 and got.trigger == pb.SNAPSHOT_TRIGGER_MANUAL,
          "GetFileSystemSnapshot: READY with a size (%s)" % got)
    check(got.source_sandbox_id == sid and got.source_volume_name == "data" and got.request_id == "g-1",
          "the snapshot names its source")
    lst = c.call("ListFileSystemSnapshots", source_sandbox_id=sid)
    check([s.file_system_snapshot_id for s in lst.file_system_snapshots] == [snap.file_system_snapshot_id],
          "ListFileSystemSnapshots by sandbox")
    expect_error(grpc.StatusCode.INVALID_ARGUMENT,
                 lambda: c.call("CreateFileSystemSnapshot", sandbox_id=sid, scratch_volume_name="nope"),
                 "snapshot of a missing volume", reason="CWSANDBOX_VOLUME_NOT_SNAPSHOTTABLE", field="scratchVolumeName")
    d = c.call("DeleteSandbox", sandbox_id=sid, snapshot_volumes=["data"])
    check(d.sandbox.sandbox_id == sid and len(d.file_system_snapshot_ids) == 1,
          "DeleteSandbox with snapshot_volumes answers one id (%s)" % list(d.file_system_snapshot_ids))
    on_del = wait_snapshot(c, d.file_system_snapshot_ids[0])
    check(on_del.state == pb.SNAPSHOT_STATE_READY and on_del.trigger == pb.SNAPSHOT_TRIGGER_ON_DELETE,
          "the ON_DELETE snapshot gets READY (%s)" % on_del)
    nb = vol_sandbox(c, restore=on_del.file_system_snapshot_id)
    check(nb.status.state == pb.STATE_RUNNING, "restored sandbox runs (%s)" % nb.status.state_reason)
    back = c.call("ReadFile", sandbox_id=nb.sandbox_id, path="/data/blob").content
    check(hashlib.sha256(back).digest() == hashlib.sha256(blob).digest(), "restored bytes are identical")
    ex = c.call("Exec", sandbox_id=nb.sandbox_id, command=["stat", "-c", "%a %N", "/data/blob", "/data/link"])
    check(ex.stdout.decode().split("\n")[:2] == ["640 '/data/blob'", "777 '/data/link' -> 'blob'"],
          "mode and symlink restored (%r)" % ex.stdout)
    expect_error(grpc.StatusCode.NOT_FOUND, lambda: vol_sandbox(c, restore="fss-0000000000000000"),
                 "restore of an unknown snapshot", reason="CWSANDBOX_FSS_NOT_FOUND")
    gone = c.call("DeleteFileSystemSnapshot", file_system_snapshot_id=snap.file_system_snapshot_id)
    check(gone.state == pb.SNAPSHOT_STATE_DELETING, "DeleteFileSystemSnapshot answers DELETING")
    expect_error(grpc.StatusCode.NOT_FOUND,
                 lambda: c.call("GetFileSystemSnapshot", file_system_snapshot_id=snap.file_system_snapshot_id),
                 "a deleted snapshot", reason="CWSANDBOX_FSS_NOT_FOUND")
    e = c.call("DeleteFileSystemSnapshot", file_system_snapshot_id=snap.file_system_snapshot_id, allow_missing=True)
    check(e.file_system_snapshot_id == "", "allow_missing: an empty answer")
    c.call("DeleteFileSystemSnapshot", file_system_snapshot_id=on_del.file_system_snapshot_id)
    c.call("DeleteSandbox", sandbox_id=nb.sandbox_id)


def case_errors(c, ch):
    expect_error(grpc.StatusCode.NOT_FOUND, lambda: c.call("GetSandbox", sandbox_id="nope"), "Get unknown",
                 reason="CWSANDBOX_SANDBOX_NOT_FOUND")
    bad = pb.Sandbox(spec=pb.SandboxSpec(containers=[pb.Container(name="main", image="")]))
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, lambda: c.call("CreateSandbox", sandbox=bad), "Create no image",
                 field="spec.containers[0].image")
    expect_error(grpc.StatusCode.UNAUTHENTICATED, lambda: Client(ch, md=()).call("ListSandboxes"), "no token")
    expect_error(grpc.StatusCode.UNAUTHENTICATED,
                 lambda: Client(ch, md=(("authorization", "Bearer wrong"),)).call("ListSandboxes"), "wrong token")
    Client(ch, md=(("x-wandb-api-key", TOKEN),)).call("ListSandboxes")
    raw = ch.unary_unary(SVC + "GetSandbox")
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, lambda: raw(b"\xff\xff\xff", metadata=AUTH), "junk bytes")
    # proto3 strings are UTF-8 (protobuf-c does not check; sbxd does, as
    # REST's JSON decoder does): a tag of bad bytes creates nothing.
    before = len(c.call("ListSandboxes", show_terminated=True).sandboxes)
    ok = pb.CreateSandboxRequest(sandbox=pb.Sandbox(spec=pb.SandboxSpec(
        containers=[pb.Container(name="main", image="default")], tags=["QQ-utf8"]))).SerializeToString()
    check(ok.count(b"QQ-utf8") == 1, "tag bytes found once")
    create = ch.unary_unary(SVC + "CreateSandbox")
    expect_error(grpc.StatusCode.INVALID_ARGUMENT,
                 lambda: create(ok.replace(b"QQ-utf8", b"QQ\xc3\x28utf"), metadata=AUTH), "tag not UTF-8")
    check(len(c.call("ListSandboxes", show_terminated=True).sandboxes) == before, "no sandbox from a bad tag")
    expect_error(grpc.StatusCode.NOT_FOUND,
                 lambda: list(c.stream_logs(sandbox_id="nope")), "StreamLogs unknown",
                 reason="CWSANDBOX_SANDBOX_NOT_FOUND")
    expect_error(grpc.StatusCode.NOT_FOUND, lambda: run_stream(c, "nope", ["true"]), "StreamExec unknown",
                 reason="CWSANDBOX_SANDBOX_NOT_FOUND")


def case_stream(c):
    sid = new_sandbox(c)
    ready, out, err, code = run_stream(c, sid, ["sh", "-c", "tr a-z A-Z; echo done >&2; exit 7"],
                                       [b"hello ", b"world\n"])
    check(ready, "StreamExec answers ready with a time")
    check(out == b"HELLO WORLD\n" and err == b"done\n" and code == 7,
          "StreamExec stdin -> stdout, stderr, exit (%r %r %r)" % (out, err, code))
    _, out, _, code = run_stream(c, sid, ["sh", "-c", "echo $GRPC_T_VAR"], env={"GRPC_T_VAR": "from init"})
    check(out == b"from init\n" and code == 0, "StreamExec init env (%r)" % out)
    expect_error(grpc.StatusCode.UNIMPLEMENTED,
                 lambda: list(c.stream_exec(iter([pb.ExecStreamRequest(init=pb.ExecStreamInit(
                     sandbox_id=sid, command=["true"], tty=True))]))), "StreamExec tty", field="init.tty")
    # EOF by the client's half-close alone (no close message)
    _, out, _, code = run_stream(c, sid, ["wc", "-c"], [b"x" * 100000], close=False)
    check(out.strip() == b"100000" and code == 0, "half-close is EOF on stdin (%r)" % out)
    # a process that ignores stdin and exits by itself
    _, out, _, code = run_stream(c, sid, ["sh", "-c", "kill -TERM $$"], close=False)
    check(code == 143, "a signal's death: 128 + N (%r)" % code)
    # cancel: the client goes away, the process is killed
    marker = "/tmp/cancel-%d" % os.getpid()

    def reqs():
        yield pb.ExecStreamRequest(init=pb.ExecStreamInit(sandbox_id=sid, command=["sh", "-c",
                                   "echo $$ > %s; exec sleep 300" % marker]))
        time.sleep(30)
    call = c.stream_exec(reqs())
    first = next(call)
    check(first.WhichOneof("message") == "ready", "ready first")
    for _ in range(100):
        if c.call("Exec", sandbox_id=sid, command=["cat", marker]).stdout.strip():
            break
        time.sleep(0.05)
    pid = c.call("Exec", sandbox_id=sid, command=["cat", marker]).stdout.strip().decode()
    call.cancel()
    gone = False
    for _ in range(300):
        if c.call("Exec", sandbox_id=sid, command=["sh", "-c", "kill -0 %s 2>/dev/null" % pid]).exit_code != 0:
            gone = True
            break
        time.sleep(0.05)
    check(gone, "a cancelled StreamExec's process %s is killed: %r" % (
        pid, c.call("Exec", sandbox_id=sid, command=["ps", "ax"]).stdout))
    c.call("DeleteSandbox", sandbox_id=sid)


def case_large(c):
    """256 MiB through StreamExec, sha256 equal; then a slow reader: sbxd's
    RSS stays bounded while the producer runs ahead into the spool."""
    sid = new_sandbox(c)
    want = c.call("Exec", sandbox_id=sid, command=["sh", "-c",
                  "head -c 268435456 /dev/urandom > /tmp/big && sha256sum /tmp/big"]).stdout.split()[0].decode()
    h, n = hashlib.sha256(), 0
    code = None
    t0 = time.time()

    def reqs():
        yield pb.ExecStreamRequest(init=pb.ExecStreamInit(sandbox_id=sid, command=["cat", "/tmp/big"]))
    for r in c.stream_exec(reqs()):
        if r.WhichOneof("message") == "output" and r.output.stream == pb.ExecStreamOutput.STREAM_STDOUT:
            h.update(r.output.data)
            n += len(r.output.data)
        elif r.WhichOneof("message") == "exit":
            code = r.exit.exit_code
    secs = time.time() - t0
    check(n == 256 << 20 and h.hexdigest() == want and code == 0,
          "256 MiB stdout, sha256 equal (%d bytes, exit %r)" % (n, code))
    print("# 256 MiB over StreamExec in %.1f s (%.0f MiB/s)" % (secs, 256 / secs), flush=True)
    base = rss_kib(SBXD_PID)
    it = c.stream_exec(iter([pb.ExecStreamRequest(init=pb.ExecStreamInit(sandbox_id=sid, command=["cat", "/tmp/big"]))]))
    got, peak = 0, base
    t_end = time.time() + 6
    for r in it:
        if r.WhichOneof("message") == "output":
            got += len(r.output.data)
        peak = max(peak, rss_kib(SBXD_PID))
        if time.time() > t_end:
            break
        time.sleep(0.05)   # a slow reader: about 20 messages a second
    it.cancel()
    # the spool holds the rest: the process wrote all of it meanwhile
    print("# slow reader: read %d KiB in 6 s; sbxd RSS %d -> peak %d KiB" % (got >> 10, base, peak), flush=True)
    check(got < (64 << 20), "the slow reader really was slow (%d bytes)" % got)
    check(peak - base < 32 << 10, "sbxd's RSS grew by %d KiB (< 32 MiB) under a slow reader" % (peak - base))
    c.call("DeleteSandbox", sandbox_id=sid)


def case_stdin_pressure(c):
    """A fast stdin producer against a process that does not read: sbxd
    stops taking stdin messages while the pipe is full (HTTP/2 flow control
    then holds the client), so neither its RSS nor what the client got rid
    of grows with what the client offers; once the process reads, every
    byte arrives (sha256)."""
    sid = new_sandbox(c)
    total, piece = 64 << 20, 1 << 20
    go = "/tmp/go-%d" % os.getpid()
    block = hashlib.sha256(b"stdin pressure").digest() * (piece // 32)
    want = hashlib.sha256()
    sent = [0]

    def reqs():
        yield pb.ExecStreamRequest(init=pb.ExecStreamInit(sandbox_id=sid, command=[
            "sh", "-c", "while [ ! -e %s ]; do sleep 0.05; done; sha256sum" % go]))
        for i in range(total // piece):
            # a different piece each time, so a lost or repeated one shows
            data = i.to_bytes(4, "big") + block[4:]
            want.update(data)
            yield pb.ExecStreamRequest(stdin=data)
            sent[0] += piece
        yield pb.ExecStreamRequest(close=pb.ExecStreamClose())
    base = rss_kib(SBXD_PID)
    it = c.stream_exec(reqs())
    out, code = bytearray(), [None]

    def drain():
        for r in it:
            k = r.WhichOneof("message")
            if k == "output" and r.output.stream == pb.ExecStreamOutput.STREAM_STDOUT:
                out.extend(r.output.data)
            elif k == "exit":
                code[0] = r.exit.exit_code
    t = threading.Thread(target=drain)
    t.start()
    peak, taken = base, 0
    for _ in range(60):             # 6 s of a process that does not read
        time.sleep(0.1)
        peak = max(peak, rss_kib(SBXD_PID))
        taken = sent[0]
    print("# stdin into a process not reading: the client got %d KiB out in 6 s; sbxd RSS %d -> peak %d KiB"
          % (taken >> 10, base, peak), flush=True)
    check(taken <= (4 << 20), "a process that does not read held the client back (it got %d KiB out of %d)"
          % (taken >> 10, total >> 10))
    check(peak - base < 8 << 10, "sbxd's RSS grew by %d KiB (< 8 MiB) under a stdin producer" % (peak - base))
    c.call("Exec", sandbox_id=sid, command=["touch", go])
    t.join(300)
    check(not t.is_alive(), "the stream ended once the process read")
    check(code[0] == 0 and out.split()[:1] == [want.hexdigest().encode()],
          "a process that reads later gets every byte of 64 MiB (exit %r, %r)" % (code[0], bytes(out[:80])))
    c.call("DeleteSandbox", sandbox_id=sid)


def case_logs(c):
    sid = new_sandbox(c, command="sh", args=["-c", "for i in 1 2 3 4 5; do echo line$i; sleep 0.3; done; echo bye >&2"])
    t0 = time.time()
    got, times = bytearray(), []
    for e in c.stream_logs(sandbox_id=sid, follow=True):
        got.extend(e.data)
        times.append(time.time() - t0)
    text = bytes(got)
    want = b"".join(b"line%d\n" % i for i in range(1, 6))
    check(text.replace(b"bye\n", b"") == want and b"bye\n" in text, "StreamLogs follows the whole log (%r)" % text)
    check(len(times) >= 3 and times[0] < 1.0 and times[-1] > 1.0,
          "StreamLogs delivered lines while the command ran (%s)" % times)
    # not following: what is there, then the end
    again = b"".join(e.data for e in c.stream_logs(sandbox_id=sid))
    check(again == text or sorted(again.splitlines()) == sorted(text.splitlines()), "StreamLogs without follow")
    c.call("DeleteSandbox", sandbox_id=sid)


def case_unix(c_unused):
    ch = grpc.insecure_channel("unix:" + USOCK, options=OPTS)
    c = Client(ch, md=())
    sid = new_sandbox(c, tags=["grpc-unix"])
    _, out, _, code = run_stream(c, sid, ["echo", "over the unix socket"])
    check(out == b"over the unix socket\n" and code == 0, "StreamExec on the unix socket, no token")
    c.call("DeleteSandbox", sandbox_id=sid)
    ch.close()


def case_tls(c_unused):
    cert = open(os.environ["GRPC_TLS_CERT"], "rb").read()
    opts = OPTS + [("grpc.ssl_target_name_override", "localhost")]
    ch = grpc.secure_channel(TARGET, grpc.ssl_channel_credentials(root_certificates=cert), options=opts)
    c = Client(ch)
    sid = new_sandbox(c)
    _, out, _, code = run_stream(c, sid, ["echo", "over TLS"])
    check(out == b"over TLS\n" and code == 0, "StreamExec over TLS (ALPN h2)")
    expect_error(grpc.StatusCode.UNAUTHENTICATED, lambda: Client(ch, md=()).call("ListSandboxes"), "TLS, no token")
    c.call("DeleteSandbox", sandbox_id=sid)
    ch.close()
    plain = Client(grpc.insecure_channel(TARGET, options=OPTS))
    try:
        plain.call("ListSandboxes", timeout=5)
        check(False, "h2c to the TLS port is refused")
    except grpc.RpcError as e:
        check(e.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED),
              "h2c to the TLS port fails (%s)" % e.code())


def case_users(c_unused):
    """Unix socket users (SO_PEERCRED): run as root with GRPC_OTHER_UID set;
    a child as that uid creates a sandbox, sees only its own, and gets
    NOT_FOUND for root's; root sees both."""
    import subprocess
    ch = grpc.insecure_channel("unix:" + USOCK, options=OPTS)
    root = Client(ch, md=())
    mine = new_sandbox(root, tags=["grpc-users"])
    uid = os.environ["GRPC_OTHER_UID"]
    r = subprocess.run(["setpriv", "--reuid=" + uid, "--regid=" + uid, "--clear-groups", "/usr/bin/python3",
                        __file__] + sys.argv[1:6] + ["user_child"], env=dict(os.environ, GRPC_ROOT_SID=mine),
                       capture_output=True, text=True, timeout=120)
    print(r.stdout, r.stderr, end="", flush=True)
    check(r.returncode == 0, "the other uid's checks pass")
    theirs = [ln.split()[1] for ln in r.stdout.splitlines() if ln.startswith("SID ")]
    ids = [s.sandbox_id for s in root.call("ListSandboxes", tags=["grpc-users"]).sandboxes]
    check(len(theirs) == 1 and sorted(ids) == sorted([mine] + theirs), "root lists both users' sandboxes (%s)" % ids)
    for sid in [mine] + theirs:
        root.call("DeleteSandbox", sandbox_id=sid)


def case_user_child(c_unused):
    ch = grpc.insecure_channel("unix:" + USOCK, options=OPTS)
    c = Client(ch, md=())
    sid = new_sandbox(c, tags=["grpc-users"])
    print("SID", sid, flush=True)
    ids = [s.sandbox_id for s in c.call("ListSandboxes", tags=["grpc-users"]).sandboxes]
    check(ids == [sid], "a user lists only its own sandbox (%s)" % ids)
    other = os.environ["GRPC_ROOT_SID"]
    expect_error(grpc.StatusCode.NOT_FOUND, lambda: c.call("GetSandbox", sandbox_id=other), "root's sandbox as a user",
                 reason="CWSANDBOX_SANDBOX_NOT_FOUND")
    expect_error(grpc.StatusCode.NOT_FOUND, lambda: run_stream(c, other, ["true"]), "StreamExec in root's sandbox",
                 reason="CWSANDBOX_SANDBOX_NOT_FOUND")
    _, out, _, code = run_stream(c, sid, ["id", "-u"])
    check(code == 0 and out.strip() != b"", "StreamExec in its own sandbox")


CASES = {"unary": case_unary, "snapshots": case_snapshots, "errors": None, "stream": case_stream, "large": case_large,
         "stdin_pressure": case_stdin_pressure, "logs": case_logs,
         "unix": case_unix, "tls": case_tls, "users": case_users,
         "user_child": case_user_child}


def main():
    names = sys.argv[6:] or [n for n in CASES if n not in ("tls", "users", "user_child")]
    ch = grpc.insecure_channel(TARGET, options=OPTS)
    c = Client(ch)
    for n in names:
        if n in ("tls", "users", "user_child"):
            CASES[n](None)
            continue
        print("# case", n, flush=True)
        if n == "errors":
            case_errors(c, ch)
        else:
            CASES[n](c)
    if failures:
        print("%d failures" % len(failures))
        sys.exit(1)
    print("ok")


if __name__ == "__main__":
    main()
