#!/usr/bin/env bash
# The exec round trip's FUSE requests (issue 14, spawn): an ended
# process's returncode, status and reason keep their attributes in the
# kernel, so a stat or an open after the lookup asks sbxfs nothing more
# (one GETATTR fewer per round trip through the mount); a running
# process's returncode is never cached, so its size (0 while it runs, the
# code's bytes once it ended) is seen as soon as it changes. Counted from
# libfuse's own request log (sbxfs -d), per node id.
. "$TESTS_DIR/fs/common.sh"
# A linger (sbxd's wait for the exit inside the start) long enough that
# every `true` below is answered ended, even under a sanitizer or load:
# then no round trip may ask for the returncode's attributes.
start_sbxd --exit-linger-us 1000000
# shellcheck disable=SC2086
mount_sbxfs -d ${FS_MOUNT_OPTS:-}

log=$T/sbxfs.log
# getattrs NODEID: GETATTR requests for that node logged so far
getattrs() { grep -c "opcode: GETATTR ([0-9]*), nodeid: $1," "$log" || true; }

mkdir "$MNT/a"
id=$(start_proc a 'exit 3')
eq "$(cat "$MNT/a/exec/$id/returncode")" 3 "rc of an ended process"
d=$MNT/a/exec/$id
for f in returncode status reason; do
	# (the first full stat may ask once: the lookup that made the node
	# may have come while the process still ran, and the connection's
	# first STATX, which libfuse 3.14 answers ENOSYS, falls back to a
	# GETATTR; that answer has the final timeout)
	ino=$(stat -c %i "$d/$f")
	stat "$d/$f" >/dev/null
	before=$(getattrs "$ino")
	for _ in 1 2 3 4 5; do stat "$d/$f" >/dev/null; done
	after=$(getattrs "$ino")
	eq "$after" "$before" "GETATTRs of an ended process's $f over 5 stats"
done
eq "$(stat -c %s "$d/returncode")" 2 "size of '3\\n'"
eq "$(cat "$d/status")" exited "status"
eq "$(stat -c %s "$d/status")" 7 "size of 'exited\\n'"

# The mount's round trip as scripts/bench-fs makes it: write, read the id
# back on the same descriptor, open and read the returncode. 20 of them,
# each answered ended by the start: no GETATTR of any of their
# returncodes (on main each open sent one).
inos=()
for k in $(seq 1 20); do
	exec 7<>"$MNT/a/exec/new"
	printf 'true\n' >&7
	read -r p <&7
	exec 7>&-
	eq "$(cat "$MNT/a/exec/$p/returncode")" 0 "round trip $k"
	inos+=("$(stat -c %i "$MNT/a/exec/$p/returncode")")
done
n=0
for ino in "${inos[@]}"; do n=$((n + $(getattrs "$ino"))); done
eq "$n" 0 "GETATTRs of the 20 round trips' returncodes"

# A running process (past the linger): its returncode is empty and must not stay so in the
# kernel's cache once the process ended.
id=$(start_proc a 'sleep 3; exit 5')
eq "$(stat -c %s "$MNT/a/exec/$id/returncode")" 0 "size of a running process's returncode"
eq "$(cat "$MNT/a/exec/$id/status")" running "status while running"
eq "$(cat "$MNT/a/exec/$id/returncode")" 5 "its rc once ended"
eq "$(stat -c %s "$MNT/a/exec/$id/returncode")" 2 "size after the end"
eq "$(cat "$MNT/a/exec/$id/status")" exited "status after the end"
eq "$(stat -c %s "$MNT/a/exec/$id/status")" 7 "status size after the end"
echo ok
