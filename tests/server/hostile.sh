#!/bin/bash
# Attacks from a hostile review, each of which must now fail: reading the
# TCP token from inside a sandbox; FIFOs planted for the file calls (they
# hung every HTTP thread); file calls on /proc and /sys (sbxd's own
# environment, host sysctls); NUL bytes and huge numbers in JSON; an idle
# sandbox's stdout never ending; unbounded output spools and memory;
# slow-loris connections on TCP.
. "$TESTS_DIR/lib.sh"
. "$TESTS_DIR/server/common.sh"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
tok=tok-$RANDOM-$RANDOM-secret
# Not under /tmp or /var/tmp: a sandbox has its own of both, but one on the
# host image sees the rest of the host's tree (here the build dir).
TD=$(mktemp -d "$(host_dir)/sbxd-hostile.XXXXXX")
rm_td() { local rc=$?; rm -rf "$TD"; return $rc; }
trap 'rm_td || _cleanup; _cleanup' EXIT
echo "$tok" >"$TD/token"
chmod 600 "$TD/token"
start_sbxd --listen "127.0.0.1:$port" --token-file "$TD/token" --idle-timeout 2 \
	--max-output 1Mi --default-memory 64Mi --allow-host-image
tcp() { curl -sS --max-time 20 -H "Authorization: Bearer $tok" "$@"; }
hid=$(create "$(sbx_body name=h)")
# The token's path shows only on the host image (an opt-in): there it is covered.
create "$(sbx_body name=hh image=host)" >/dev/null

# 1. the token file is covered inside the sandbox
expect "token dir visible inside" "$(exec_sh "$(sbx_id hh)" "ls '$TD'")" token
for b in h hh; do
	got=$(exec_sh $b "cat '$TD/token' 2>&1; echo end")
	case "$got" in *"$tok"*) fail "token readable inside sandbox $b: $got" ;; esac
	out=$(api GET "/v1/sandboxes/$b:readFile?path=$TD/token")
	case "$out" in *"$tok"*) fail "token readable through readFile of $b: $out" ;; esac
done
expect "token file empty inside" "$(exec_sh "$(sbx_id hh)" "cat '$TD/token' 2>/dev/null | wc -c")" 0
# nor is it in the memory of the zygote or of a sandbox's init (copies of
# sbxd): sbxd keeps the token only after the zygote exists
python3 - "$SBXD_PID" "$tok" <<'PY' || fail "token in a sandbox init's memory"
import os, sys
root, tok = int(sys.argv[1]), sys.argv[2].encode()
def kids(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []
todo, seen = kids(root), 0
while todo:
    pid = todo.pop()
    todo += kids(pid)
    try:
        comm = open(f"/proc/{pid}/comm").read().strip()
    except OSError:
        continue
    if not comm.startswith("sbx-"):
        continue
    seen += 1
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
        for line in maps:
            f = line.split()
            lo, hi = (int(x, 16) for x in f[0].split("-"))
            if "r" not in f[1] or hi - lo > (64 << 20) or (len(f) > 5 and f[5].startswith("[v")):
                continue
            try:
                mem.seek(lo)
                if tok in mem.read(hi - lo):
                    sys.exit(f"token found in {comm} ({pid}) at {f[0]} {f[5] if len(f) > 5 else ''}")
            except OSError:
                pass
if not seen:
    sys.exit("no zygote or init found under sbxd")
PY

# 2. FIFOs (and devices) are refused at once, and never hang the API
exec_sh "$hid" 'mkfifo /tmp/f && ln -sf /tmp/f /etc/motd && echo made' >/dev/null
start=$SECONDS
pids=
for i in 1 2 3 4 5 6; do
	api_status GET "/v1/sandboxes/$hid:readFile?path=/etc/motd" >"$T/fifo.$i" &
	pids="$pids $!"
done
wait $pids
for i in 1 2 3 4 5 6; do expect "readFile of a FIFO" "$(cat "$T/fifo.$i")" 400; done
[ $((SECONDS - start)) -le 3 ] || fail "FIFO reads took $((SECONDS - start)) s"
out=$(api GET "/v1/sandboxes/$hid:readFile?path=/tmp/f")
case "$out" in *"not a regular file"*) ;; *) fail "FIFO message: $out" ;; esac
expect "writeFile to a FIFO" "$(api_status POST /v1/sandboxes/$hid:writeFile -d '{"path":"/tmp/f","content":"eA=="}')" 400
expect "readFile of a device" "$(api_status GET "/v1/sandboxes/$hid:readFile?path=/dev/zero")" 400
expect "API alive after FIFOs" "$(api_status GET "/v1/sandboxes/$hid")" 200

# 3. procfs and sysfs are off limits for file calls
out=$(api GET "/v1/sandboxes/$hid:readFile?path=/proc/1/environ")
case "$out" in *"pseudo file system"*) ;; *) fail "/proc/1/environ: $out" ;; esac
for q in "readFile?path=/proc/1/mem" "readFile?path=/proc/1/status" "listDir?path=/proc/1" \
	"statFile?path=/proc/1/environ" "listDir?path=/sys/fs/cgroup" "readFile?path=/sys/kernel/mm/transparent_hugepage/enabled"; do
	expect "$q" "$(api_status GET "/v1/sandboxes/$hid:$q")" 400
done
hn=$(cat /proc/sys/kernel/hostname)
code=$(api_status POST /v1/sandboxes/"$hid":writeFile -d '{"path":"/proc/sys/kernel/hostname","content":"eA=="}')
case "$code" in 400|403) ;; *) fail "writeFile /proc/sys: $code" ;; esac
expect "host hostname unchanged" "$(cat /proc/sys/kernel/hostname)" "$hn"
code=$(api_status POST /v1/sandboxes/"$hid":makeDir -d '{"path":"/sys/fs/cgroup/x"}')
case "$code" in 400|403) ;; *) fail "mkdir in cgroupfs: $code" ;; esac
expect "normal files still work" "$(api_status GET "/v1/sandboxes/$hid:listDir?path=/etc")" 200

# 6. NUL bytes and out-of-range numbers are refused
bad() { expect "$1" "$(api_status "$2" "$3" -d "$4")" 400; }
bad "NUL in name" POST /v1/sandboxes '{"spec":{"containers":[{"name":"main","image":"default"}],"tags":["sbxfs-name=a\u0000b"]}}'
bad "NUL in tag" POST /v1/sandboxes '{"spec":{"containers":[{"name":"main","image":"default"}],"tags":["x\u0000y"]}}'
bad "NUL in env key" POST /v1/sandboxes '{"spec":{"containers":[{"name":"main","image":"default","environmentVariables":{"A\u0000B":"1"}}]}}'
bad "NUL in argv" POST /v1/sandboxes/"$hid":exec '{"command":["echo","a\u0000b"]}'
bad "NUL in process env" POST /v1/sandboxes/"$hid"/processes '{"command":["true"],"env":{"A":"x\u0000y"}}'
bad "NUL in cwd" POST /v1/sandboxes/"$hid"/processes '{"command":["true"],"workingDir":"/tmp\u0000/x"}'
bad "NUL in writeFile path" POST /v1/sandboxes/"$hid":writeFile '{"path":"/tmp/a\u0000b","content":""}'
expect "NUL in query path" "$(api_status GET "/v1/sandboxes/$hid:readFile?path=/etc/hostname%00x")" 400
out=$(api POST /v1/sandboxes -d '{"spec":{"containers":[{"name":"main","image":"default"}],"tags":["sbxfs-name=a\u0000b"]}}')
case "$out" in *NUL*) ;; *) fail "NUL message: $out" ;; esac
bad "mode 1e300" POST /v1/sandboxes/"$hid":writeFile '{"path":"/tmp/m","content":"","mode":1e300}'
bad "mkdir mode 1e300" POST /v1/sandboxes/"$hid":makeDir '{"path":"/tmp/md","mode":1e300}'
bad "mkdir mode -1" POST /v1/sandboxes/"$hid":makeDir '{"path":"/tmp/md","mode":-1}'
bad "offset 1e300" POST /v1/sandboxes/"$hid":writeFile '{"path":"/tmp/m","content":"","offset":1e300}'
bad "timeout 1e300" POST /v1/sandboxes/"$hid"/processes '{"command":["true"],"timeoutSeconds":1e300}'
bad "timeout 2^63" POST /v1/sandboxes/"$hid"/processes '{"command":["true"],"timeoutSeconds":9223372036854775808}'
bad "lifetime -1e300" POST /v1/sandboxes "$(sbx_body lifetime=-1e+300)"
bad "maxOutputBytes NaN-ish" POST /v1/sandboxes/"$hid":exec '{"command":["true"],"maxOutputBytes":1e400}'
p=$(jget "$(api POST /v1/sandboxes/$hid/processes -d '{"command":["sleep","30"]}')" 'j["processId"]')
bad "signal 1e300" POST "/v1/sandboxes/$hid/processes/$p:signal" '{"signal":1e300}'
bad "signal 9.5" POST "/v1/sandboxes/$hid/processes/$p:signal" '{"signal":9.5}'
expect "signal 9" "$(api_status POST "/v1/sandboxes/$hid/processes/$p:signal" -d '{"signal":9}')" 200

# 8. an idle sandbox's main streams are empty and ended
t0=$(date +%s%N)
hdr=$(api GET "/v1/sandboxes/$hid/stdout?waitSeconds=10" -D - -o /dev/null)
el=$((($(date +%s%N) - t0) / 1000000))
[ "$el" -lt 2000 ] || fail "idle stdout waited ${el} ms"
echo "$hdr" | grep -qi '^X-Sbx-Eof: 1' || fail "idle stdout not ended: $hdr"
echo "$hdr" | grep -qi '^X-Sbx-Size: 0' || fail "idle stdout not empty: $hdr"
echo "$hdr" | grep -qi '^X-Sbx-Eof: 1' || fail "idle stderr"
api GET "/v1/sandboxes/$hid/stderr?waitSeconds=10" -D - -o /dev/null | grep -qi '^X-Sbx-Eof: 1' || fail "idle stderr not ended"

# 4. output over --max-output (1 MiB here): SIGXFSZ, KILLED, a reason
p=$(jget "$(api POST /v1/sandboxes/$hid/processes -d '{"command":["head","-c","3000000","/dev/zero"]}')" 'j["processId"]')
r=$(api GET "/v1/sandboxes/$hid/processes/$p?waitSeconds=20")
expect "over cap: state" "$(jget "$r" 'j["state"]')" PROCESS_STATE_KILLED
expect "over cap: code" "$(jget "$r" 'j["exitCode"]')" $((128 + 25))
expect "over cap: spool size" "$(jget "$r" 'j["stdoutBytes"]')" 1048576
case "$(jget "$r" 'j["stateReason"]')" in *"max-output"*) ;; *) fail "over cap reason: $r" ;; esac
# a memory hog without a memory limit in its spec meets --default-memory
r=$(api POST /v1/sandboxes/"$hid":exec -d '{"command":["sh","-c","x=a; while :; do x=$x$x; done"]}')
expect "default memory limit" "$(jget "$r" 'j["exitCode"]')" 137

# 5. slow-loris: hundreds of half-open connections block nobody, on TCP
# (from another address: the per-address cap) and on the unix socket;
# idle TCP ones are closed after --idle-timeout; parked long-polls are not
python3 - "$port" "$SOCK" "$tok" <<'PY' || fail "slow-loris"
import socket, subprocess, sys, time
port, path, tok = int(sys.argv[1]), sys.argv[2], sys.argv[3]
held = []
for i in range(300):
    s = socket.socket()
    s.bind(("127.0.0.2", 0))
    try:
        s.connect(("127.0.0.1", port))
        s.send(b"GET /v1/sandboxes HTTP/1.1\r\nHost: x\r\nX-A: ")
    except OSError:
        pass
    held.append(s)
    u = socket.socket(socket.AF_UNIX)
    u.connect(path)
    u.send(b"GET /v1/sandboxes HTTP/1.1\r\nHost: x\r\nX-A: ")
    held.append(u)
t0 = time.monotonic()
for url in (["--unix-socket", path, "http://sbxd/v1/sandboxes"],
            ["-H", "Authorization: Bearer " + tok, "http://127.0.0.1:%d/v1/sandboxes" % port]):
    code = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5"] + url,
                          capture_output=True, text=True).stdout
    assert code == "200", ("normal request blocked", url, code)
assert time.monotonic() - t0 < 3, "normal requests slow"
# the TCP ones go after the idle timeout (2 s here)
deadline = time.monotonic() + 8
for s in held[0::2]:
    s.settimeout(max(0.1, deadline - time.monotonic()))
    try:
        while s.recv(4096):
            pass
    except socket.timeout:
        sys.exit("an idle TCP connection was kept past the idle timeout")
    except OSError:
        pass
for s in held:
    s.close()
print("slow-loris ok")
PY
p=$(jget "$(tcp -X POST "http://127.0.0.1:$port/v1/sandboxes/"$hid"/processes" -d '{"command":["sleep","4"]}')" 'j["processId"]')
r=$(tcp "http://127.0.0.1:$port/v1/sandboxes/$hid/processes/$p?waitSeconds=15")
expect "long-poll over TCP outlives the idle timeout" "$(jget "$r" 'j["state"]')" PROCESS_STATE_EXITED
note "hostile ok"
