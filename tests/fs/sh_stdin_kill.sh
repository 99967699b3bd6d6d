#!/usr/bin/env bash
# stdin in and EOF; kill with a signal gives 128+N; signalling an exited
# process is ESRCH; writing stdin after eof is EPIPE; unknown ctl verbs are
# EINVAL with a message in `error`.
. "$TESTS_DIR/fs/common.sh"
up

mkdir "$MNT/k"
id=$(start_proc k '{"command": ["sh", "-c", "tr a-z A-Z"], "stdin": true}')
d="$MNT/k/exec/$id"
echo hello >"$d/stdin"
printf 'world\n' >>"$d/stdin"
echo eof >"$d/ctl"
eq "$(timeout 10 cat "$d/stdout")" "$(printf 'HELLO\nWORLD')" "stdin round trip"
eq "$(cat "$d/returncode")" 0 "rc after eof"
write_fails "$d/stdin" more "Broken pipe\|No such process\|Invalid argument"

id=$(start_proc k 'sleep 60')
echo "kill 9" >"$MNT/k/exec/$id/ctl"
eq "$(timeout 10 cat "$MNT/k/exec/$id/returncode")" 137 "SIGKILL rc"
eq "$(cat "$MNT/k/exec/$id/status")" killed "status"
write_fails "$MNT/k/exec/$id/ctl" "kill" "No such process"

for sig in TERM SIGINT USR1; do
	id=$(start_proc k '{"command": ["sleep", "60"]}')
	n=$(kill -l "${sig#SIG}")
	sbx_needs_extension "kill $sig: StreamExec has no signal message (only kill 9, its cancel)" \
		'echo "kill $sig" >"$MNT/k/exec/$id/ctl"
		eq "$(timeout 10 cat "$MNT/k/exec/$id/returncode")" $((128 + n)) "rc after kill $sig"'
	# (without the extension the sleep still runs: ended by the stream's cancel)
	[ -z "$SBX_NO_EXTENSION" ] || echo "kill 9" >"$MNT/k/exec/$id/ctl"
done

id=$(start_proc k 'sleep 60')
write_fails "$MNT/k/exec/$id/ctl" "frobnicate" "Invalid argument"
grep -q "unknown command" "$MNT/k/error" || fail "no message in error: $(cat "$MNT/k/error")"
write_fails "$MNT/k/exec/$id/ctl" "kill NOSUCHSIG" "Invalid argument"
write_fails "$MNT/k/ctl" "kill" "Invalid argument"
write_fails "$MNT/k/ctl" "stop soon" "Invalid argument"
sbx_needs_extension "kill (TERM): StreamExec has no signal message" \
	'echo kill >"$MNT/k/exec/$id/ctl"
	eq "$(timeout 10 cat "$MNT/k/exec/$id/returncode")" 143 "default kill is TERM"'
[ -n "$SBX_NO_EXTENSION" ] && echo "kill 9" >"$MNT/k/exec/$id/ctl"
echo ok
