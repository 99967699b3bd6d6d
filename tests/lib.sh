# Shared set-up for the end-to-end shell tests: each test gets a private
# temp folder, a fresh sbxd on a unix socket in it and, when asked, a fresh
# sbxfs mount, and always cleans up in a trap. A test fails when a daemon
# logs an error it did not expect (set ALLOW_LOG_ERRORS to an ERE to allow
# some). Exit 77 = skip, only for a missing capability.
#
# Needs: SBXD, SBXFS (paths to the binaries; meson passes them).
# SBX_IMAGE_DIR (meson passes BUILD_DIR/images): where the default image
# lives for tests. start_sbxd builds it there once if missing (cached:
# scripts/default-image returns at once when it is up to date) and passes
# --image-dir, so every test's sbxd runs sandboxes on the default image,
# never the host's root. A test that needs the host's root says so with
# start_sbxd --allow-host-image and "image": "host".
# SBX_RECORD=FILE (conformance runs, see tests/conformance/): sbxd listens on
# $T/sbxd-upstream.sock and tests/conformance/recorder.py on $SOCK appends
# every exchange to FILE, so every client (curl, sbxfs) goes through it.
# SBX_VALGRIND=1 (scripts/valgrind sets it): both daemons run under
# valgrind memcheck; a definite leak or an invalid access makes the daemon
# exit 99 at its stop, which fails the test (reports in $T/valgrind-*.log,
# copied to SBX_VALGRIND_LOGS when set).
# SBX_NO_EXTENSION=1 (scripts/test-no-extension sets it): the real surface
# alone, as against the managed service: every sbxd starts with
# --no-extension and its gRPC unix socket, every mount_sbxfs gets
# -o grpc=unix:THAT (StreamExec, StreamLogs). A row the real surface cannot
# offer is wrapped in sbx_needs_extension (below): run as written normally,
# checked to answer ENOTSUP with a message in this mode.
set -euo pipefail

: "${SBXD:?SBXD must point to the sbxd binary}"
SBXFS=${SBXFS:-}
SBX_IMAGE_DIR=${SBX_IMAGE_DIR:-}
ALLOW_LOG_ERRORS=${ALLOW_LOG_ERRORS:-}
# A ThreadSanitizer build (scripts/build --tsan): its reports go to the
# daemons' logs, which _check_logs fails on; the uninstrumented gRPC and
# abseil libraries are suppressed (tests/tsan.supp).
export TSAN_OPTIONS=${TSAN_OPTIONS:-suppressions=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/tsan.supp}

T=$(mktemp -d /tmp/sbxtest.XXXXXX)
# The host's /tmp as the test found it: nothing a test runs may change it
# (a fuzz replay's cleanup once chmod'ed it 0700 through a restored link).
_tmp_mode=$(stat -c %a /tmp)
SOCK=$T/sbxd.sock
STATE=$T/state
MNT=$T/mnt
SBXD_PID=
FS_PID=
SBX_RECORD=${SBX_RECORD:-}
SBX_NO_EXTENSION=${SBX_NO_EXTENSION:-}
REC_PID=
_SBXD_SOCK=$SOCK
[ -z "$SBX_RECORD" ] || _SBXD_SOCK=$T/sbxd-upstream.sock
_failed=0
_vg=()
_vg_slow=1
if [ -n "${SBX_VALGRIND:-}" ]; then
	# Forked copies of sbxd (the zygote, every sandbox's init) are not
	# checked (--child-silent-after-fork); the exec'd commands are not
	# traced (--trace-children=no). Only the daemons themselves are.
	_vg=(valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite
	     --show-leak-kinds=definite --trace-children=no --child-silent-after-fork=yes
	     --num-callers=30)
	_vg_slow=6
fi

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*" >&2; _failed=1; exit 1; }
note() { echo "# $*"; }

[ "$(id -u)" -eq 0 ] || skip "needs root for namespaces and cgroups"

# curl against sbxd's socket: api METHOD PATH [curl args...]
api() {
	local m=$1 p=$2; shift 2
	curl -sS --max-time 70 --unix-socket "$SOCK" -X "$m" "http://sbxd$p" "$@"
}
# HTTP status only
api_status() {
	local m=$1 p=$2; shift 2
	curl -sS -o /dev/null -w '%{http_code}' --max-time 70 --unix-socket "$SOCK" -X "$m" "http://sbxd$p" "$@"
}

# sbx_body [KEY=VALUE...] [-- ARGV...]: a real CreateSandbox body (the
# schema's Sandbox, one container "main") from simple arguments, so tests
# never write the JSON of a spec by hand. Keys: image (default "default"),
# name (the tag sbxfs-name=NAME), tag (repeats), env=K=V (repeats), wd,
# cpu, memory, pids (the annotation sbxd.pids), lifetime (seconds),
# ann=K=V (repeats), net=JSON (NetworkOptions as given), extra=JSON (merged
# into the container, e.g. an unknown field). ARGV: command and args.
sbx_body() {
	python3 -c '
import json, sys
c = {"name": "main", "image": "default"}
spec, tags, ann, argv = {"containers": [c]}, [], {}, None
args = sys.argv[1:]
for i, a in enumerate(args):
    if a == "--":
        argv = args[i + 1:]
        break
    k, _, v = a.partition("=")
    if k == "image": c["image"] = v
    elif k == "name": tags.append("sbxfs-name=" + v)
    elif k == "tag": tags.append(v)
    elif k == "env": c.setdefault("environmentVariables", {})[v.partition("=")[0]] = v.partition("=")[2]
    elif k == "wd": c["workingDir"] = v
    elif k in ("cpu", "memory"): c.setdefault("resources", {})[k] = v
    elif k == "pids": ann["sbxd.pids"] = v
    elif k == "ann": ann[v.partition("=")[0]] = v.partition("=")[2]
    elif k == "lifetime": spec["maxLifetimeSeconds"] = int(v)
    elif k == "net": spec["network"] = json.loads(v)
    elif k == "extra": c.update(json.loads(v))
    else: sys.exit("sbx_body: unknown key " + k)
if argv:
    c["command"] = argv[0]
    if argv[1:]: c["args"] = argv[1:]
if tags: spec["tags"] = tags
if ann: spec["annotations"] = ann
print(json.dumps({"spec": spec}))' "$@"
}

# sbx_id NAME: the id of the sandbox with the sbxfs name NAME (the tag
# sbxfs-name=NAME), found as libsbx finds it: ListSandboxes by that tag;
# the newest live one, else the newest. Empty when there is none.
sbx_id() {
	local n
	n=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote("sbxfs-name=" + sys.argv[1], safe=""))' "$1")
	api GET "/v1/sandboxes?tags=$n&showTerminated=true&pageSize=1000" | python3 -c '
import json, sys
j = json.load(sys.stdin).get("sandboxes", [])
live = [s for s in j if s["status"].get("state") not in ("STATE_COMPLETED", "STATE_FAILED", "STATE_TERMINATED")]
pick = (live or j)[-1:] 
print(pick[0]["sandboxId"] if pick else "")'
}

# host_dir: a host folder that a sandbox on the "host" image sees as the
# host's own: the build dir, unless that lies under /tmp or /var/tmp (every
# sandbox has private ones), as in a CI clone under /tmp; then /var/cache.
host_dir() {
	case "$BUILD_DIR/" in
	/tmp/* | /var/tmp/*) mkdir -p /var/cache/sbxfs-tests && echo /var/cache/sbxfs-tests ;;
	*) echo "$BUILD_DIR" ;;
	esac
}

# ensure_default_image: the default image in SBX_IMAGE_DIR, built if missing.
ensure_default_image() {
	[ -n "$SBX_IMAGE_DIR" ] || return 0
	[ -n "${TESTS_DIR:-}" ] || fail "TESTS_DIR not set"
	"$TESTS_DIR/../scripts/default-image" --quiet --image-dir "$SBX_IMAGE_DIR" >>"$T/image.log" 2>&1 ||
		{ cat "$T/image.log" >&2; fail "cannot build the default image in $SBX_IMAGE_DIR"; }
}

# record_append FROM TO: the exchanges of log FROM appended to log TO one
# line per write(2), as recorder.py writes them, so concurrent recorders
# appending to TO never interleave inside a line (cat's chunks would).
record_append() {
	/usr/bin/python3 -c 'import os, sys
fd = os.open(sys.argv[2], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
for line in open(sys.argv[1], "rb"):
    os.write(fd, line)' "$1" "$2"
}

# The recorder of SBX_RECORD, (re)started with each sbxd: it stays up while
# sbxd is down (clients get a closed connection), and a test that removes
# or replaces $SOCK before a restart gets a fresh one.
_start_recorder() {
	[ -n "$SBX_RECORD" ] || return 0
	if [ -n "$REC_PID" ]; then
		kill "$REC_PID" 2>/dev/null || true
		wait "$REC_PID" 2>/dev/null || true
		REC_PID=
	fi
	rm -f "$SOCK"
	/usr/bin/python3 "${BASH_SOURCE[0]%/*}/conformance/recorder.py" "$SOCK" "$_SBXD_SOCK" "$SBX_RECORD" \
		"${SBX_RECORD_LABEL:-${0##*/}}" 2>>"$T/recorder.log" &
	REC_PID=$!
	local i
	for i in $(seq 1 100); do
		# the file exists before the recorder listens: try a connect
		[ -S "$SOCK" ] && /usr/bin/python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).connect(sys.argv[1])' \
			"$SOCK" 2>/dev/null && return 0
		sleep 0.05
	done
	fail "the recorder did not come up"
}

# subids FILE UID...: an /etc/subuid-style file (for sbxd --subuid and
# --subgid) giving each UID a range of 65536 ids, from 300000 on: a root
# sbxd runs a user's sandboxes only under a range of that user's.
subids() {
	local f=$1 u base=300000
	shift
	: >"$f"
	for u in "$@"; do
		printf '%s:%s:65536\n' "$u" "$base" >>"$f"
		base=$((base + 65536))
	done
}

start_sbxd() {
	mkdir -p "$STATE"
	local img=()
	if [ -n "$SBX_IMAGE_DIR" ]; then
		ensure_default_image
		img=(--image-dir "$SBX_IMAGE_DIR")
	fi
	# Live restore (sandboxes outlive sbxd) is sbxd's default; the tests
	# written before it assert the other mode, so they get it unless they
	# set SBX_LIVE=1 (tests/server/live_restore.sh).
	local live=(--no-live-restore)
	[ -z "${SBX_LIVE:-}" ] || live=()
	local noext=()
	[ -z "$SBX_NO_EXTENSION" ] || noext=(--no-extension)
	# The warm pool (sbxd's default: 2 boxes made ahead) is off unless a
	# test asks for it (tests/server/warm_pool.sh passes --warm-pool N):
	# the other tests count boxes, cgroups and processes as they were.
	local pool=(--warm-pool "${SBX_WARM_POOL:-0}")
	_start_recorder
	"${_vg[@]}" ${_vg:+--log-file="$T/valgrind-sbxd.%p.log"} \
		"$SBXD" -f --socket "$_SBXD_SOCK" --state-dir "$STATE" "${img[@]}" "${live[@]}" "${noext[@]}" "${pool[@]}" "$@" >>"$T/sbxd.log" 2>&1 &
	SBXD_PID=$!
	local i
	for i in $(seq 1 $((200 * _vg_slow))); do
		if [ -S "$_SBXD_SOCK" ] && curl -s --max-time 1 --unix-socket "$_SBXD_SOCK" -o /dev/null http://sbxd/v1/extensions &&
			{ [ -z "$SBX_NO_EXTENSION" ] || [ -S "$_SBXD_SOCK.grpc" ]; }; then
			return 0
		fi
		kill -0 "$SBXD_PID" 2>/dev/null || { cat "$T/sbxd.log" >&2; fail "sbxd exited at start"; }
		sleep 0.05
	done
	cat "$T/sbxd.log" >&2
	fail "sbxd did not come up in $((10 * _vg_slow)) s"
}

# stop_sbxd: a full stop (SIGUSR1: every sandbox ends with sbxd, in either
# mode); detach_sbxd: SIGTERM, which under live restore leaves running
# sandboxes for the next sbxd on $STATE.
stop_sbxd() { _stop_sbxd USR1; }
detach_sbxd() { _stop_sbxd TERM; }
_stop_sbxd() {
	[ -n "$SBXD_PID" ] || return 0
	kill -"$1" "$SBXD_PID" 2>/dev/null || true
	local i rc=0
	for i in $(seq 1 $((200 * _vg_slow))); do
		kill -0 "$SBXD_PID" 2>/dev/null || break
		sleep 0.05
	done
	kill -KILL "$SBXD_PID" 2>/dev/null || true
	wait "$SBXD_PID" 2>/dev/null || rc=$?
	SBXD_PID=
	_vg_verdict sbxd $rc
}

mount_sbxfs() {
	[ -n "$SBXFS" ] || fail "SBXFS not set"
	[ -c /dev/fuse ] || skip "no /dev/fuse"
	command -v fusermount3 >/dev/null || skip "no fusermount3"
	mkdir -p "$MNT"
	local grpc=()
	# (a test that names its own grpc= keeps it)
	[ -z "$SBX_NO_EXTENSION" ] || [[ " $* " == *grpc=* ]] || grpc=(-o "grpc=unix:$_SBXD_SOCK.grpc")
	"${_vg[@]}" ${_vg:+--log-file="$T/valgrind-sbxfs.%p.log"} \
		"$SBXFS" "$MNT" -f -o "url=unix:$SOCK" "${grpc[@]}" "$@" >>"$T/sbxfs.log" 2>&1 &
	FS_PID=$!
	local i
	for i in $(seq 1 $((200 * _vg_slow))); do
		if mountpoint -q "$MNT"; then return 0; fi
		kill -0 "$FS_PID" 2>/dev/null || { cat "$T/sbxfs.log" >&2; fail "sbxfs exited at start"; }
		sleep 0.05
	done
	cat "$T/sbxfs.log" >&2
	fail "sbxfs did not mount in $((10 * _vg_slow)) s"
}

umount_sbxfs() {
	[ -n "$FS_PID" ] || return 0
	fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -u -z "$MNT" 2>/dev/null || true
	local i rc=0
	for i in $(seq 1 $((100 * _vg_slow))); do
		kill -0 "$FS_PID" 2>/dev/null || break
		sleep 0.05
	done
	kill -KILL "$FS_PID" 2>/dev/null || true
	wait "$FS_PID" 2>/dev/null || rc=$?
	FS_PID=
	_vg_verdict sbxfs $rc
}

# Under valgrind, a daemon's exit 99 is memcheck's verdict: the test fails
# with the report (a test that stops a daemon itself still gets it here).
_vg_verdict() {
	[ -n "${SBX_VALGRIND:-}" ] || return 0
	local f
	if [ -n "${SBX_VALGRIND_LOGS:-}" ]; then
		mkdir -p "$SBX_VALGRIND_LOGS"
		for f in "$T"/valgrind-"$1".*.log; do
			[ -f "$f" ] && cp "$f" "$SBX_VALGRIND_LOGS/$(basename "$T")-$(basename "$f")"
		done
	fi
	if [ "$2" -eq 99 ]; then
		_vg_bad=1
		echo "FAIL: valgrind found errors in $1:" >&2
		for f in "$T"/valgrind-"$1".*.log; do
			[ -f "$f" ] && grep -E '^==[0-9]+== (Invalid|Conditional|Use of|Syscall param|Mismatched|[0-9,]+ bytes in|   (at|by) 0x|ERROR SUMMARY)' "$f" | head -60 >&2
		done
	fi
	return 0
}
_vg_bad=0

# sbx_needs_extension WHY ROW: ROW (shell text, eval'd) is a row of the
# test that needs sbxd's extension: the real surface has no call for it
# (WHY says which, and is what docs/filesystem.md's table says). Normally
# ROW runs as written. Under SBX_NO_EXTENSION it must answer ENOTSUP, never
# pass and never give a wrong answer: ROW fails, what it printed says
# "Operation not supported", and sbxfs's log got an EOPNOTSUPP line whose
# "; why: " holds the message. Each such row is noted in the test's output.
sbx_needs_extension() {
	local why=$1 row=$2
	if [ -z "$SBX_NO_EXTENSION" ]; then
		eval "$row"
		return
	fi
	local before out rc log
	before=$(wc -l <"$T/sbxfs.log" 2>/dev/null || echo 0)
	# The row stops at its first failing command: -e would be ignored
	# inside a `|| rc=$?`, so the status is taken with -e off outside.
	set +e
	out=$( (set -e; eval "$row") 2>&1)
	rc=$?
	set -e
	[ "$rc" -ne 0 ] || fail "row works without the extension, so it must not be listed ($why): $row"
	printf '%s\n' "$out" | grep -q "Operation not supported" ||
		fail "row failed without ENOTSUP ($why): $row: $out"
	# the reply and its log line come before the failing call returns
	log=$(tail -n +"$((before + 1))" "$T/sbxfs.log" 2>/dev/null | grep "(EOPNOTSUPP); why: ." || true)
	[ -n "$log" ] || fail "no EOPNOTSUPP line with a message in sbxfs's log for ($why): $row: $(tail -n +"$((before + 1))" "$T/sbxfs.log")"
	note "ENOTSUP without the extension ($why): $(printf '%s\n' "$log" | head -1 | sed 's/.*; why: //')"
}

# sbx_extension_on: true unless SBX_NO_EXTENSION (for a row whose answer
# differs there by design rather than failing, e.g. the main stdout that
# StreamLogs mixes with stderr: the test checks each mode's answer).
sbx_extension_on() { [ -z "$SBX_NO_EXTENSION" ]; }

# wait_for SECONDS CMD...: polls CMD until it succeeds, fails the test after.
wait_for() {
	local t=$1; shift
	local end=$((SECONDS + t))
	while ! "$@" 2>/dev/null; do
		[ $SECONDS -lt $end ] || fail "timed out after ${t}s waiting for: $*"
		sleep 0.05
	done
}

_check_logs() {
	local f bad
	for f in "$T/sbxd.log" "$T/sbxfs.log"; do
		[ -f "$f" ] || continue
		bad=$(grep -iE '(^|: )(error|fatal)[: ]|AddressSanitizer|runtime error:|LeakSanitizer|ThreadSanitizer' "$f" || true)
		if [ -n "$ALLOW_LOG_ERRORS" ] && [ -n "$bad" ]; then
			bad=$(printf '%s\n' "$bad" | grep -vE "$ALLOW_LOG_ERRORS" || true)
		fi
		if [ -n "$bad" ]; then
			echo "FAIL: unexpected errors in $(basename "$f"):" >&2
			printf '%s\n' "$bad" | head -20 >&2
			return 1
		fi
	done
	return 0
}

# Nothing of a test may outlive it: sandboxes an sbxd killed with -9 left
# running (live restore) are ended by `sbxd stop-sandboxes`, which kills
# whatever is in the state dir's cgroups (sbxd-<hash>/*) and its live dir.
# Tests that start more sbxd instances themselves (other state dirs under
# $T) get the same for every state dir found (by its sbxd.lock); one whose
# sbxd still runs is left to the test that started it.
_end_sandboxes() {
	local d
	if [ -d "$STATE" ] && ! "$SBXD" stop-sandboxes --state-dir "$STATE" >>"$T/stop-sandboxes.log" 2>&1; then
		echo "FAIL: sbxd stop-sandboxes:" >&2
		cat "$T/stop-sandboxes.log" >&2
		_vg_bad=1
	fi
	for d in $(find "$T" -maxdepth 4 -name sbxd.lock -printf '%h\n' 2>/dev/null); do
		[ "$d" = "$STATE" ] || "$SBXD" stop-sandboxes --state-dir "$d" >>"$T/stop-sandboxes.log" 2>&1 || true
	done
}

_cleanup() {
	local rc=$?
	trap - EXIT
	set +e
	umount_sbxfs
	stop_sbxd
	_end_sandboxes
	if [ -n "$REC_PID" ]; then kill "$REC_PID" 2>/dev/null; wait "$REC_PID" 2>/dev/null; fi
	if ! _check_logs; then rc=1; fi
	if [ "$(stat -c %a /tmp)" != "$_tmp_mode" ]; then
		echo "FAIL: the host's /tmp is mode $(stat -c %a /tmp) now, $_tmp_mode at the start" >&2
		rc=1
	fi
	if [ "$_vg_bad" -ne 0 ] && [ $rc -ne 77 ]; then rc=1; fi
	if [ $rc -ne 0 ] && [ $rc -ne 77 ]; then
		for f in "$T/sbxd.log" "$T/sbxfs.log"; do
			[ -f "$f" ] && { echo "--- tail of $(basename "$f")" >&2; tail -40 "$f" >&2; }
		done
	fi
	# sbxd leaves its scratch volumes mounted when it stops (they outlive
	# a restart): only this test's own, under $T, deepest first.
	if [ -z "${KEEP_TMP:-}" ]; then
		awk -v t="$T/" 'index($5, t) == 1 {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do
			umount -l "$m" 2>/dev/null
		done
	fi
	if [ -z "${KEEP_TMP:-}" ]; then rm -rf --one-file-system "$T" 2>/dev/null; else echo "kept $T" >&2; fi
	exit $rc
}
trap _cleanup EXIT
