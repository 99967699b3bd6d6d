#!/usr/bin/env bash
# A long-running mount's memory stays flat while sandboxes come and go
# (issue 15): a sandbox's slot (its record, process records, files/ nodes)
# is reclaimed once the service no longer lists it and the kernel holds
# none of its nodes (every entry reply counted, every FORGET subtracted).
# The root's statfs shows the slots in use (f_files - f_ffree); sandboxes
# purged by another client go too once a listing shows them gone. A file
# kept open across the delete keeps its slot, still stats and never reads
# another sandbox's bytes; once closed and forgotten the slot goes too.
. "$TESTS_DIR/fs/common.sh"
up

used() {
	local t f
	read -r t f < <(stat -f -c '%c %d' "$MNT/")
	echo $((t - f))
}
# settled MAX: within 20 s the slots in use fall to MAX or fewer (the
# service purges deleted sandboxes once they ended; a listing of the root
# lets the mount see that).
settled() {
	local i
	for i in $(seq 100); do
		ls "$MNT" >/dev/null
		[ "$(used)" -le "$1" ] && return 0
		sleep 0.2
	done
	return 1
}
base=$(used)
eq "$base" 1 "slots in use on a fresh mount (the root's)"

# One sandbox's output stays open across its delete.
mkdir "$MNT/held"
hp=$(start_proc held 'echo held-output')
eq "$(timeout 10 cat "$MNT/held/exec/$hp/returncode")" 0 "returncode of held"
exec 5<"$MNT/held/exec/$hp/stdout"
rmdir "$MNT/held"

N=${N:-40}
for i in $(seq "$N"); do
	mkdir "$MNT/b$i"
	p=$(start_proc "b$i" "echo out-$i")
	eq "$(timeout 10 cat "$MNT/b$i/exec/$p/returncode")" 0 "returncode of b$i"
	eq "$(cat "$MNT/b$i/exec/$p/stdout")" "out-$i" "stdout of b$i"
	echo "data-$i" >"$MNT/b$i/files/tmp/f$i"
	eq "$(cat "$MNT/b$i/files/tmp/f$i")" "data-$i" "files/ of b$i"
	ls -l "$MNT/b$i/files/tmp" | grep -q "f$i" || fail "ls -l of b$i's files/tmp"
	if [ $((i % 2)) -eq 0 ]; then
		rmdir "$MNT/b$i"
	else
		echo delete >"$MNT/b$i/ctl"
	fi
	[ ! -e "$MNT/b$i" ] || fail "b$i still there after its delete"
done
# ... and through the root's clone file, with a main command.
for i in $(seq 10); do
	n=$(new_box "echo main-$i")
	eq "$(timeout 10 cat "$MNT/$n/stdout")" "main-$i" "main output of $n"
	echo delete >"$MNT/$n/ctl"
done
note "slots in use after $((N + 11)) sandboxes came and went: $(used)"
settled $((base + 1)) || fail "slots not reclaimed: $(used) in use, want at most $((base + 1)) (the held one)"
[ "$(used)" -eq $((base + 1)) ] || fail "the held file's slot was reclaimed under it: $(used) in use"

# The open file is still what it was: it stats, and reads its own bytes
# or an error (its sandbox is purged), never another sandbox's.
stat -L "/proc/$$/fd/5" >/dev/null || fail "fstat of the file kept open across its delete"
got=$(cat <&5 2>/dev/null) || true
case "$got" in
"" | held-output) ;;
*) fail "the held file read '$got'" ;;
esac
exec 5<&-
# New sandboxes work as before (numbers are reused only much later).
mkdir "$MNT/after"
p=$(start_proc after 'echo after-ok')
eq "$(timeout 10 cat "$MNT/after/exec/$p/stdout")" after-ok "a sandbox made after the churn"
rmdir "$MNT/after"
settled "$base" || fail "slots not reclaimed after the held file closed: $(used) in use, want $base"

# Sandboxes made and purged by another client, looked at through the mount
# in between: the mount's next listing notices they are gone and has the
# kernel drop their entries, so their slots go too.
ids=()
for i in $(seq 10); do
	out=$(api POST /v1/sandboxes -d "$(sbx_body name="api$i")")
	ids+=("$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["sandboxId"])' "$out")")
done
ls -l "$MNT" | grep -q " api10$" || fail "the API's sandboxes are not listed: $(ls "$MNT")"
for i in $(seq 10); do
	eq "$(cat "$MNT/api$i/status")" running "status of api$i through the mount"
done
[ "$(used)" -ge $((base + 10)) ] || fail "the API's sandboxes hold no slots? $(used)"
for id in "${ids[@]}"; do
	# the extension's :forget stops it and drops its record at once
	api POST "/v1/sandboxes/$id:forget" >/dev/null
done
gone() {
	local id
	[ "$(api GET "/v1/sandboxes?showTerminated=true" | grep -c '"sbxfs-name=api[0-9]*"')" -eq 0 ] || return 1
	for id in "${ids[@]}"; do
		[ "$(api_status GET "/v1/sandboxes/$id")" = 404 ] || return 1
	done
}
wait_for 20 gone
settled "$base" || fail "slots of sandboxes purged elsewhere not reclaimed: $(used) in use, want $base"
