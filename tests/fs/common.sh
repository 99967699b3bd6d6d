# Helpers shared by the sbxfs end-to-end tests: sources the project's
# harness (tests/lib.sh: temp dir, sbxd, mount, log checks, cleanup trap)
# and adds short forms for what every test does through the mount.
. "$TESTS_DIR/lib.sh"

# up [sbxfs -o options...]: a fresh sbxd and a fresh mount on $MNT.
# FS_MOUNT_OPTS (e.g. "-o kernel_cache") adds options to every test's mount.
up() {
	start_sbxd
	# shellcheck disable=SC2086
	mount_sbxfs "$@" ${FS_MOUNT_OPTS:-}
}

# eq GOT WANT WHAT
eq() {
	[ "$1" = "$2" ] || fail "$3: got '$1', want '$2'"
}

# new_box [TEXT]: creates a sandbox through the root clone file (an idle
# one without TEXT) and prints its directory name.
new_box() {
	local id
	exec 8<>"$MNT/new"
	printf '%s\n' "${1:-}" >&8
	read -r id <&8
	exec 8>&-
	[ -n "$id" ] || fail "new: no id read back"
	printf '%s\n' "$id"
}

# start_proc BOX TEXT: starts a process through exec/new, prints its id.
start_proc() {
	local id
	exec 9<>"$MNT/$1/exec/new"
	printf '%s\n' "$2" >&9
	read -r id <&9
	exec 9>&-
	[ -n "$id" ] || fail "exec/new: no id read back"
	printf '%s\n' "$id"
}

# box_out BOX TEXT: runs TEXT in BOX (exec/new) and prints its stdout
# once it has ended.
box_out() {
	cat "$MNT/$1/exec/$(start_proc "$1" "$2")/stdout"
}

# write_fails FILE TEXT PATTERN: the write must fail with an error message
# matching PATTERN (e.g. "Invalid argument").
write_fails() {
	local out
	if out=$( (printf '%s\n' "$2" >"$1") 2>&1); then
		fail "writing '$2' to $1 succeeded"
	fi
	printf '%s\n' "$out" | grep -q "$3" || fail "writing '$2' to $1: '$out' does not say $3"
}

# read_fails FILE PATTERN
read_fails() {
	local out
	if out=$(cat "$1" 2>&1); then
		fail "reading $1 succeeded: $out"
	fi
	printf '%s\n' "$out" | grep -q "$2" || fail "reading $1: '$out' does not say $2"
}

# ms: milliseconds since the epoch
ms() { date +%s%3N; }

# wait_grep FILE PATTERN [TENTHS]: waits (default 5 s) until FILE holds
# PATTERN, e.g. for what release() does after close has returned.
wait_grep() {
	local i
	for i in $(seq "${3:-50}"); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	fail "$1 never held '$2': $(cat "$1" 2>&1)"
}
