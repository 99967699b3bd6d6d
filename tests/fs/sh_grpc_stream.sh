#!/usr/bin/env bash
# The mount against sbxd --no-extension (the real surface alone), with
# libsbx's StreamExec on sbxd's default gRPC socket (REST socket + .grpc):
# processes stream their output live, take stdin and EOF, die by kill 9,
# and a 32 MiB output arrives whole; the main command's stdout streams
# from StreamLogs. Nothing here uses the extension.
. "$TESTS_DIR/fs/common.sh"
start_sbxd --no-extension
[ "$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$SOCK" http://x/v1/extensions)" = 404 ] ||
	fail "sbxd --no-extension shows extensions"
wait_for 10 test -S "$SOCK.grpc"
mount_sbxfs
mkdir "$MNT/g"
eq "$(cat "$MNT/g/status")" running "status"

# the idiom of docs/filesystem.md: a text line under /bin/sh -c
id=$(start_proc g 'echo hi; echo err >&2; exit 3')
d=$MNT/g/exec/$id
eq "$(timeout 30 cat "$d/returncode")" 3 "returncode over StreamExec"
eq "$(cat "$d/stdout")" hi "stdout over StreamExec"
eq "$(cat "$d/stderr")" err "stderr over StreamExec"
eq "$(cat "$d/status")" exited "status"

# live: the first line is readable while the process still runs
id=$(start_proc g 'echo one; sleep 3; echo two')
d=$MNT/g/exec/$id
t0=$(ms)
timeout 60 cat "$d/stdout" >"$T/live.out" &
CATP=$!
wait_grep "$T/live.out" one 25
t1=$(ms)
[ $((t1 - t0)) -lt 2500 ] || fail "first line came after $((t1 - t0)) ms, not live"
eq "$(cat "$d/status")" running "status while streaming"
wait $CATP || fail "cat of a live stdout failed: $?"
note "live cat took $(( $(ms) - t0 )) ms"
eq "$(cat "$T/live.out")" "$(printf 'one\ntwo')" "live stdout whole"
eq "$(cat "$d/returncode")" 0 "live returncode"

# stdin written and closed
id=$(start_proc g '{"command": ["sh", "-c", "tr a-z A-Z"], "stdin": true}')
d=$MNT/g/exec/$id
echo hello >"$d/stdin"
printf 'world\n' >>"$d/stdin"
echo eof >"$d/ctl"
eq "$(timeout 10 cat "$d/stdout")" "$(printf 'HELLO\nWORLD')" "stdin round trip"
write_fails "$d/stdin" more "Broken pipe\|No such process\|Invalid argument"

# kill 9 is the stream's cancel; other signals cannot be sent
id=$(start_proc g 'sleep 60')
d=$MNT/g/exec/$id
write_fails "$d/ctl" "kill 15" "not supported"
echo "kill 9" >"$d/ctl"
eq "$(timeout 10 cat "$d/returncode")" 137 "killed returncode"
eq "$(cat "$d/status")" killed "killed status"

# 32 MiB, sha256 equal to what the command made
id=$(start_proc g 'head -c 33554432 /dev/zero | tr "\0" x')
d=$MNT/g/exec/$id
want=$(head -c 33554432 /dev/zero | tr '\0' x | sha256sum | cut -d' ' -f1)
got=$(timeout 60 cat "$d/stdout" | sha256sum | cut -d' ' -f1)
eq "$got" "$want" "32 MiB sha256"
eq "$(cat "$d/returncode")" 0 "32 MiB returncode"
# the main command's output from StreamLogs, live while it runs
box=$(new_box 'echo main-one; sleep 3; echo main-two')
t0=$(ms)
timeout 60 cat "$MNT/$box/stdout" >"$T/main.out" &
CATP=$!
wait_grep "$T/main.out" main-one 25
t1=$(ms)
[ $((t1 - t0)) -lt 2500 ] || fail "main stdout came after $((t1 - t0)) ms, not live"
wait $CATP || fail "cat of the main stdout failed: $?"
eq "$(cat "$T/main.out")" "$(printf 'main-one\nmain-two')" "main stdout via StreamLogs"
eq "$(cat "$MNT/$box/stdout")" "$(printf 'main-one\nmain-two')" "main stdout again"
# StreamLogs does not separate stderr: ENOTSUP with a message
box2=$(new_box 'echo out; echo warn >&2')
eq "$(timeout 20 cat "$MNT/$box2/returncode")" 0 "returncode of the second box"
out=$(cat "$MNT/$box2/stderr" 2>&1) && fail "main stderr read without the extension: $out"
printf '%s\n' "$out" | grep -q "Operation not supported" || fail "main stderr: $out"
grep -q "StreamLogs" "$MNT/$box2/error" || fail "error does not say why: $(cat "$MNT/$box2/error")"
grep -q warn <(cat "$MNT/$box2/stdout") || fail "main stdout lacks the stderr line StreamLogs carries"
echo ok
