#!/usr/bin/env bash
# files/ symlinks: readlink gives the link's text with absolute targets
# rewritten relative to the link's directory, so the kernel resolves them
# inside the sandbox's tree, never on the host (Debian's /bin is a link).
# The attacker's side of this is sh_files_escape.sh.
. "$TESTS_DIR/fs/common.sh"
up

mkdir "$MNT/l"
F="$MNT/l/files"
start_proc l 'mkdir -p /tmp/a/b && ln -s /tmp/x/y /tmp/a/b/c && ln -s /etc /tmp/abs && ln -s ../../../../../../etc /tmp/esc && ln -s rel.txt /tmp/a/r && ln -s / /tmp/a/root && mkdir -p /tmp/x && echo inside >/tmp/x/y && echo rel >/tmp/a/rel.txt' >"$T/pid"
pid=$(cat "$T/pid")
eq "$(timeout 10 cat "$MNT/l/exec/$pid/returncode")" 0 "setting up links"

# Debian's /bin -> usr/bin: readlink, ls through it
b=$(start_proc l 'readlink /bin || echo none')
want=$(timeout 10 cat "$MNT/l/exec/$b/stdout")
[ "$want" != none ] || fail "the sandbox's /bin is not a link here"
case "$want" in /*) want=${want#/} ;; esac
eq "$(readlink "$F/bin")" "$want" "readlink files/bin"
ls "$F/bin/" | grep -x sh >/dev/null || fail "ls files/bin/ does not show sh"
grep -q '^ID=' "$F/etc/os-release" || fail "cat files/etc/os-release"
# absolute targets: relative to the link's directory, climbing only to
# the common ancestor (/tmp here)
eq "$(readlink "$F/tmp/a/b/c")" "../../x/y" "readlink of /tmp/a/b/c -> /tmp/x/y"
eq "$(cat "$F/tmp/a/b/c")" inside "reading through an absolute link"
eq "$(readlink "$F/tmp/abs")" "../etc" "readlink of /tmp/abs -> /etc"
ls "$F/tmp/abs/" | grep -x os-release >/dev/null || fail "ls through /tmp/abs"
eq "$(readlink "$F/tmp/a/root")" "../.." "readlink of a link to /"
# relative targets are kept, unless they climb above the sandbox's /
eq "$(readlink "$F/tmp/a/r")" "rel.txt" "relative target kept"
eq "$(cat "$F/tmp/a/r")" rel "reading through a relative link"
eq "$(readlink "$F/tmp/esc")" "../etc" "a climbing target stays inside"
grep -q '^ID=' "$F/tmp/esc/os-release" || fail "reading through a climbing link"
# the link's own attributes: S_IFLNK 0777, size = length of what readlink shows
eq "$(stat -c '%F %a %s' "$F/tmp/a/b/c")" "symbolic link 777 9" "stat of a link"
ls -l "$F/tmp/a/b" | grep 'c -> ../../x/y' >/dev/null || fail "ls -l shows the link"
echo ok
