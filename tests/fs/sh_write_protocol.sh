#!/usr/bin/env bash
# The write protocol of the clone files (issue 12): a request means the
# same whatever writes carry it. A JSON object starts when its braces
# balance and the blanks after it are its own (python's print writes the
# newline in a second call: one sandbox, one process); text is everything
# until close, so one write, bash's printf line by line and dd bs=1 start
# the same single process; an unbalanced object and an over-long request
# fail at the writer (the close, the write), and nothing starts.
. "$TESTS_DIR/fs/common.sh"
up

nboxes() { ls "$MNT" | grep -vc '^\(new\|error\)$' || true; }
nprocs() { ls "$MNT/$1/exec" | grep -c '^[0-9]' || true; }
last_out() { timeout 10 cat "$MNT/$1/exec/$(readlink "$MNT/$1/exec/last")/stdout"; }

# python's print(json.dumps(spec)): one sandbox, its name read back
before=$(nboxes)
exec 3<>"$MNT/new"
python3 -c 'import json; print(json.dumps({"name": "py-box"}))' >&3 || fail "python print to new"
read -r name <&3
exec 3>&-
eq "$name" py-box "name read back after python's print"
eq "$(nboxes)" $((before + 1)) "sandboxes after python's print"
eq "$(cat "$MNT/py-box/status")" running "status of the python-made sandbox"
python3 -c 'import json; print(json.dumps({"command": ["echo", "from-py"]}))' >"$MNT/py-box/exec/new" ||
	fail "python print to exec/new"
eq "$(nprocs py-box)" 1 "processes after python's print"
eq "$(last_out py-box)" from-py "output of python's command"
case "$(cat "$MNT/py-box/error")" in *"empty command"*) fail "a stray empty command: $(cat "$MNT/py-box/error")" ;; esac
# two objects in one write are two requests; the blanks between are theirs
printf '{"command": ["echo", "o1"]}\n\n  {"command": ["echo", "o2"]}\n' >"$MNT/py-box/exec/new" || fail "two objects"
eq "$(nprocs py-box)" 3 "processes after two objects"

# the same bytes, three ways: one process running both lines
mkdir "$MNT/c"
script=$'echo one\necho two\n'
printf '%s' "$script" >"$T/script.sh"
cat "$T/script.sh" >"$MNT/c/exec/new" || fail "cat script.sh"
eq "$(nprocs c)" 1 "processes after cat script.sh"
eq "$(last_out c)" $'one\ntwo' "cat script.sh ran as one script"
# bash's stdout is line-buffered: its printf writes each line on its own
if command -v strace >/dev/null; then
	strace -f -e trace=write -o "$T/printf.strace" bash -c 'printf "echo one\necho two\n" >"$1"' _ "$MNT/c/exec/new" ||
		fail "bash printf line by line"
	writes=$(grep -c 'write(1, "echo' "$T/printf.strace" || true)
	[ "$writes" = 2 ] || fail "bash printf used $writes writes, not one a line"
else
	bash -c 'printf "echo one\necho two\n" >"$1"' _ "$MNT/c/exec/new" || fail "bash printf line by line"
fi
eq "$(nprocs c)" 2 "processes after bash's printf line by line"
eq "$(last_out c)" $'one\ntwo' "bash printf ran as one script"
printf '%s' "$script" | dd of="$MNT/c/exec/new" bs=1 status=none || fail "dd bs=1"
eq "$(nprocs c)" 3 "processes after dd bs=1"
eq "$(last_out c)" $'one\ntwo' "dd bs=1 ran as one script"
# the same for the root new: a two-line main command is one sandbox
before=$(nboxes)
printf '%s' "$script" | dd of="$MNT/new" bs=1 status=none || fail "dd bs=1 to new"
eq "$(nboxes)" $((before + 1)) "sandboxes after a two-line main command by dd bs=1"
# only a writer's close ends a request: a child that inherited the
# descriptor without writing (sleep) does not cut the script in two
{ printf 'echo g1\n'; sleep 0.1; printf 'echo g2\n'; } >"$MNT/c/exec/new" || fail "group with sleep"
eq "$(nprocs c)" 4 "processes after a group with a sleep inside"
eq "$(last_out c)" $'g1\ng2' "the group ran as one script"
# the race-free read-back still works with text (the read ends the request)
exec 3<>"$MNT/c/exec/new"
printf 'echo read-back\n' >&3
read -r id <&3
exec 3>&-
eq "$(timeout 10 cat "$MNT/c/exec/$id/stdout")" read-back "output of the read-back process"

# an unbalanced object fails at the writer's close (coreutils checks it)
n=$(nprocs c)
if out=$(/bin/echo '{"command": ["ls"' 2>&1 >"$MNT/c/exec/new"); then
	fail "an unbalanced object was accepted"
fi
printf '%s\n' "$out" | grep -q "Invalid argument" || fail "unbalanced object: '$out'"
grep -q "not complete" "$MNT/c/error" || fail "no message for the unbalanced object: $(cat "$MNT/c/error")"
# (a file python opens and closes itself; its own stdout is closed by exit)
if python3 -c 'import sys; f = open(sys.argv[1], "w"); f.write("{\"command\": [\"ls\"\n"); f.close()' \
	"$MNT/c/exec/new" 2>"$T/py.err"; then
	fail "python's unbalanced object was accepted"
fi
grep -q "Invalid argument" "$T/py.err" || fail "python's close: $(cat "$T/py.err")"
eq "$(nprocs c)" "$n" "processes after unbalanced objects"

# a 140 KB echo: E2BIG, nothing started, no "empty command" after it
if out=$( (echo "echo $(head -c 140000 /dev/zero | tr '\0' a)" >"$MNT/c/exec/new") 2>&1); then
	fail "a 140 KB echo was accepted"
fi
printf '%s\n' "$out" | grep -q "Argument list too long" || fail "140 KB echo: '$out'"
grep -q "131072" "$MNT/c/error" || fail "no message for the cap: $(cat "$MNT/c/error")"
eq "$(nprocs c)" "$n" "processes after the 140 KB echo"

# text for a stopped sandbox: the shell's builtin echo sees it in the write
echo stop >"$MNT/c/ctl"
timeout 20 cat "$MNT/c/returncode" >/dev/null
write_fails "$MNT/c/exec/new" 'echo too-late' "Invalid argument"
grep -q "not running" "$MNT/c/error" || fail "message for a stopped sandbox: $(cat "$MNT/c/error")"
echo ok
