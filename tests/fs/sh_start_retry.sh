#!/usr/bin/env bash
# A start that timed out may still have run: the service did the work and
# answered after the deadline (a slow proxy, tests/fs/slow_proxy.py,
# while $T/slow holds a delay). The script's retry of the same request must not run it a
# second time: sbxfs resends the first request id and sbxd answers with the
# first process.
. "$TESTS_DIR/fs/common.sh"
command -v python3 >/dev/null || skip "no python3 for the proxy"
start_sbxd
PSOCK=$T/slow.sock
python3 "$TESTS_DIR/fs/slow_proxy.py" "$T/slow" "$PSOCK" "$SOCK" 2>"$T/proxy.log" &
PROXY=$!
trap 'rc=$?; kill $PROXY 2>/dev/null || true; set +e; (exit $rc); _cleanup' EXIT
for _ in $(seq 1 100); do [ -S "$PSOCK" ] && break; sleep 0.05; done
[ -S "$PSOCK" ] || fail "proxy did not start"
mount_sbxfs -o "url=unix:$PSOCK,timeout=2"

nprocs() { ls "$MNT/$1/exec" | grep -c '^[0-9]' || true; }
mkdir "$MNT/r"
req='{"command": ["sh", "-c", "echo ran >>/tmp/runs"]}'
echo 4 >"$T/slow"
if out=$( (printf '%s\n' "$req" >"$MNT/r/exec/new") 2>&1); then
	fail "a start answered after the deadline succeeded"
fi
printf '%s\n' "$out" | grep -q "timed out" || fail "a start answered late: '$out'"
rm "$T/slow"
sleep 3 # the late answers arrive (and are dropped)
printf '%s\n' "$req" >"$MNT/r/exec/new" || fail "the retry failed"
id=$(readlink "$MNT/r/exec/last")
timeout 10 cat "$MNT/r/exec/$id/returncode" >/dev/null
eq "$(nprocs r)" 1 "processes after a timed-out start and its retry"
eq "$(timeout 10 cat "$MNT/r/files/tmp/runs")" ran "runs of the command"
grep -q "timed out\|deadline" "$MNT/r/error" || fail "error after the retry: $(cat "$MNT/r/error")"
# a later start of the same bytes is a new process
printf '%s\n' "$req" >"$MNT/r/exec/new" || fail "a second start"
eq "$(nprocs r)" 2 "processes after a later start of the same bytes"
echo ok
