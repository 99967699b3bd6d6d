#!/usr/bin/env bash
# A user other than root mounts sbxfs (libfuse runs the setuid fusermount3)
# and uses it. The test service's socket is opened up for that user.
. "$TESTS_DIR/fs/common.sh"
command -v setpriv >/dev/null || skip "no setpriv"
[ -u "$(command -v fusermount3)" ] || skip "fusermount3 is not setuid"
[ -c /dev/fuse ] || skip "no /dev/fuse"
id nobody >/dev/null 2>&1 || skip "no user nobody"
as_user() { setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups "$@"; }
as_user test -r /dev/fuse -a -w /dev/fuse || skip "/dev/fuse is not open to other users here ($(stat -c %A /dev/fuse))"
start_sbxd
chmod o+x "$T"
chmod 0666 "$SOCK"
UM=$T/umnt
mkdir -p "$UM"
chown nobody "$UM"
as_user "$SBXFS" "$UM" -f -o "url=unix:$SOCK" >>"$T/sbxfs.log" 2>&1 &
UPID=$!
trap 'rc=$?; as_user fusermount3 -u "$UM" 2>/dev/null || fusermount3 -u -z "$UM" 2>/dev/null || true; wait $UPID 2>/dev/null || true; if [ $rc -eq 0 ]; then _cleanup; else (exit $rc) || _cleanup; fi' EXIT
wait_for 10 mountpoint -q "$UM"
grep " $UM " /proc/mounts | grep -q "user_id=$(id -u nobody)" || fail "not mounted by nobody: $(grep "$UM" /proc/mounts)"
as_user mkdir "$UM/ubox"
as_user sh -c "echo 'echo hello from \$(id -u)' > '$UM/ubox/exec/new'"
out=$(as_user cat "$UM/ubox/exec/last/stdout")
case "$out" in "hello from "*) ;; *) fail "output as nobody: $out" ;; esac
eq "$(as_user cat "$UM/ubox/exec/last/returncode")" 0 "rc as nobody"
as_user fusermount3 -u "$UM"
for i in $(seq 1 100); do kill -0 $UPID 2>/dev/null || break; sleep 0.05; done
kill -0 $UPID 2>/dev/null && fail "sbxfs still running after the user unmounted"
echo ok
