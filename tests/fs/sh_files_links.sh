#!/usr/bin/env bash
# files/ symlinks: readlink gives the link's text with absolute targets
# rewritten relative to the link's directory, so the kernel resolves them
# inside the sandbox's tree, never on the host (Debian's /bin is a link).
# The attacker's side of this is sh_files_escape.sh.
# Without the extension (the real surface: no statFile, whole-file
# ReadFile, which follows links) a link shows as what it leads to, so the
# link rows check that answer there (reading through every link works,
# lstat sees the target, readlink fails), and listings answer ENOTSUP.
. "$TESTS_DIR/fs/common.sh"
up
LIST='listing a directory of files/ (the "files" extension)'
# readlink_is LINK TEXT WHAT: readlink shows TEXT; on the real surface the
# link is its target (a file or a directory), which must be there.
readlink_is() {
	if sbx_extension_on; then
		eq "$(readlink "$1")" "$2" "$3"
		return
	fi
	[ ! -L "$1" ] || fail "$3: a link without statFile"
	[ -e "$1" ] || fail "$3: what the link leads to does not show through it"
	if readlink "$1" >/dev/null 2>&1; then fail "$3: readlink worked without statFile"; fi
}

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
readlink_is "$F/bin" "$want" "readlink files/bin"
sbx_needs_extension "$LIST" 'ls "$F/bin/" | grep -x sh >/dev/null || fail "ls files/bin/ does not show sh"'
[ -f "$F/bin/sh" ] || fail "files/bin/sh is not there through the link"
grep -q '^ID=' "$F/etc/os-release" || fail "cat files/etc/os-release"
# absolute targets: relative to the link's directory, climbing only to
# the common ancestor (/tmp here)
readlink_is "$F/tmp/a/b/c" "../../x/y" "readlink of /tmp/a/b/c -> /tmp/x/y"
eq "$(cat "$F/tmp/a/b/c")" inside "reading through an absolute link"
readlink_is "$F/tmp/abs" "../etc" "readlink of /tmp/abs -> /etc"
sbx_needs_extension "$LIST" 'ls "$F/tmp/abs/" | grep -x os-release >/dev/null || fail "ls through /tmp/abs"'
grep -q '^ID=' "$F/tmp/abs/os-release" || fail "reading through /tmp/abs"
readlink_is "$F/tmp/a/root" "../.." "readlink of a link to /"
# relative targets are kept, unless they climb above the sandbox's /
readlink_is "$F/tmp/a/r" "rel.txt" "relative target kept"
eq "$(cat "$F/tmp/a/r")" rel "reading through a relative link"
readlink_is "$F/tmp/esc" "../etc" "a climbing target stays inside"
grep -q '^ID=' "$F/tmp/esc/os-release" || fail "reading through a climbing link"
# the link's own attributes: S_IFLNK 0777, size = length of what readlink shows
if sbx_extension_on; then
	eq "$(stat -c '%F %a %s' "$F/tmp/a/b/c")" "symbolic link 777 9" "stat of a link"
else
	# its target's type and size (the mode is not known: 0644)
	eq "$(stat -c '%F %s' "$F/tmp/a/b/c")" "regular file 7" "stat of a link without statFile"
fi
sbx_needs_extension "$LIST" 'ls -l "$F/tmp/a/b" | grep "c -> ../../x/y" >/dev/null || fail "ls -l shows the link"'
echo ok
