#!/usr/bin/env bash
# Why a process ended, beyond its 137: `reason` says timeout, oom or
# killed SIGNAL (or exited N, failed). Also: ctl messages name what was
# wrong; `stdin` shows only on processes that have one, and -o stdin gives
# text commands one; `ls -l` shows the real sizes of cmd and info.
. "$TESTS_DIR/fs/common.sh"
up -o stdin

reason_of() { cat "$MNT/$1/exec/$2/reason"; }
mkdir "$MNT/r"
# timeout
exec 3<>"$MNT/r/exec/new"
printf '%s\n' '{"command": ["sleep", "30"], "timeoutSeconds": 1}' >&3
read -r t <&3
exec 3>&-
eq "$(timeout 20 cat "$MNT/r/exec/$t/returncode")" 137 "returncode of a timed-out process"
eq "$(reason_of r "$t")" timeout "reason of a timed-out process"
# manual kill
k=$(start_proc r 'sleep 30')
echo kill KILL >"$MNT/r/exec/$k/ctl"
eq "$(timeout 20 cat "$MNT/r/exec/$k/returncode")" 137 "returncode of a killed process"
eq "$(reason_of r "$k")" "killed SIGKILL" "reason of a killed process"
# exit
e=$(start_proc r 'exit 3')
timeout 20 cat "$MNT/r/exec/$e/returncode" >/dev/null
eq "$(reason_of r "$e")" "exited 3" "reason of an exited process"
# out of memory: a sandbox with a small memory limit
exec 3<>"$MNT/new"
printf '%s\n' '{"name": "small", "resources": {"memory": "32Mi"}}' >&3
read -r small <&3
exec 3>&-
o=$(start_proc "$small" 'x=a; while :; do x="$x$x"; done')
eq "$(timeout 30 cat "$MNT/$small/exec/$o/returncode")" 137 "returncode of an OOM-killed process"
eq "$(reason_of "$small" "$o")" oom "reason of an OOM-killed process"
running=$(start_proc r 'sleep 30')
eq "$(reason_of r "$running")" running "reason of a running process"

# messages say what was wrong
write_fails "$MNT/r/exec/$running/ctl" 'kill 99' "Invalid argument"
grep -q "signal out of range" "$MNT/r/error" || fail "kill 99 message: $(cat "$MNT/r/error")"
write_fails "$MNT/r/ctl" 'stop 999' "Invalid argument"
grep -q "grace period out of range" "$MNT/r/error" || fail "stop 999 message: $(cat "$MNT/r/error")"

# the service's message names the sandbox by its name, stamped with the time
mkdir "$MNT/m"
echo stop >"$MNT/m/ctl"
timeout 20 cat "$MNT/m/returncode" >/dev/null
write_fails "$MNT/m/exec/new" '{"command": ["true"]}' "Invalid argument"
msg=$(cat "$MNT/m/error")
case "$msg" in *"sandbox m is"*) ;; *) fail "message does not name m: $msg" ;; esac
case "$msg" in *sbx-*) fail "message names the id: $msg" ;; esac
printf '%s\n' "$msg" | grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z exec/new: ' || fail "no time stamp: $msg"

# stdin: -o stdin gives text commands one; JSON without "stdin" has none
c=$(start_proc r 'cat')
[ -e "$MNT/r/exec/$c/stdin" ] || fail "no stdin on a text command with -o stdin"
echo fed >"$MNT/r/exec/$c/stdin"
echo eof >"$MNT/r/exec/$c/ctl"
eq "$(timeout 10 cat "$MNT/r/exec/$c/stdout")" fed "text command's stdin"
n=$(start_proc r '{"command": ["true"]}')
[ ! -e "$MNT/r/exec/$n/stdin" ] || fail "stdin shown on a process without one"
ls "$MNT/r/exec/$n" | grep -q '^stdin$' && fail "stdin listed on a process without one"
ls "$MNT/r/exec/$n" | grep -q '^reason$' || fail "reason not listed"

# sizes of cmd and info
eq "$(stat -c %s "$MNT/r/exec/$e/cmd")" "$(cat "$MNT/r/exec/$e/cmd" | wc -c)" "size of cmd"
cat "$MNT/r/info" >/dev/null
[ "$(stat -c %s "$MNT/r/info")" -gt 0 ] || fail "info has size 0"
eq "$(stat -c %s "$MNT/r/info")" "$(cat "$MNT/r/info" | wc -c)" "size of info"
echo ok
