#!/usr/bin/env bash
# Against a service without sbxd's extension (the strict fake of the
# managed service, tests/conformance/fake.py, over sbxd --no-extension): the tree still works through libsbx's fallback (sandboxes,
# exec, output and returncode once a process ends, files by path), and what
# cannot work answers ENOTSUP with a message in `error`.
. "$TESTS_DIR/fs/common.sh"
/usr/bin/python3 -c 'import google.protobuf' 2>/dev/null || skip "no python3-protobuf for the fake"
command -v protoc >/dev/null || skip "no protoc for the fake"
start_sbxd --no-extension
PSOCK=$T/public.sock
/usr/bin/python3 "$TESTS_DIR/conformance/fake.py" "$PSOCK" "$SOCK" 2>"$T/proxy.log" &
PROXY=$!
trap 'rc=$?; kill $PROXY 2>/dev/null || true; if [ $rc -eq 0 ]; then _cleanup; else (exit $rc) || _cleanup; fi' EXIT
# The socket file exists from bind(), before the proxy listens: wait until
# a request gets an answer.
for i in $(seq 1 200); do
	curl -s -o /dev/null --max-time 1 --unix-socket "$PSOCK" http://x/v1/extensions && break
	kill -0 "$PROXY" 2>/dev/null || { cat "$T/proxy.log" >&2; fail "proxy exited"; }
	sleep 0.05
done
[ "$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$PSOCK" http://x/v1/extensions)" = 404 ] || fail "proxy shows extensions"

mkdir -p "$MNT"
"$SBXFS" "$MNT" -f -o "url=unix:$PSOCK" >>"$T/sbxfs.log" 2>&1 &
FS_PID=$!
wait_for 10 mountpoint -q "$MNT"

mkdir "$MNT/pub"
eq "$(cat "$MNT/pub/status")" running "status"
id=$(start_proc pub 'echo via-fallback; echo e >&2; exit 3')
eq "$(timeout 30 cat "$MNT/pub/exec/$id/returncode")" 3 "returncode through the fallback"
eq "$(cat "$MNT/pub/exec/$id/stdout")" via-fallback "stdout through the fallback"
eq "$(cat "$MNT/pub/exec/$id/stderr")" e "stderr through the fallback"
eq "$(cat "$MNT/pub/exec/$id/status")" exited "status through the fallback"

id=$(start_proc pub 'sleep 30')
write_fails "$MNT/pub/exec/$id/ctl" "kill 9" "not supported"
grep -qi "support\|implement" "$MNT/pub/error" || fail "no message in error: $(cat "$MNT/pub/error")"
grep -q root "$MNT/pub/files/etc/passwd" || fail "files/ read by path"
out=$(ls "$MNT/pub/files/" 2>&1 || true)
printf '%s\n' "$out" | grep -q "not supported" || fail "ls files/: $out"
# files/ without the "posix" extension: create still works (the public
# writeFile, with the service's default mode); chmod, times, rename answer
# ENOTSUP and say why in error.
(umask 077; : >"$MNT/pub/files/tmp/plain") || fail "create without the extension"
[ -f "$MNT/pub/files/tmp/plain" ] || fail "create without the extension made no file"
for cmd in "chmod 600 $MNT/pub/files/tmp/plain" "touch -d 2001-01-01 $MNT/pub/files/tmp/plain" \
	"mv $MNT/pub/files/tmp/plain $MNT/pub/files/tmp/moved"; do
	out=$($cmd 2>&1) && fail "$cmd succeeded without the extension"
	printf '%s\n' "$out" | grep -q "Operation not supported" || fail "$cmd: $out"
	grep -q "posix" "$MNT/pub/error" || fail "$cmd: error does not name the missing extension: $(cat "$MNT/pub/error")"
done
[ -f "$MNT/pub/files/tmp/plain" ] || fail "the file went after a refused rename"
# The root's images file needs sbxd's "images" extension.
out=$(cat "$MNT/images" 2>&1) && fail "images read without the extension: $out"
printf '%s\n' "$out" | grep -q "Operation not supported" || fail "images: $out"
grep -q "images" "$MNT/error" || fail "root error does not name the images extension: $(cat "$MNT/error")"
echo ok
