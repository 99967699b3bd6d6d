#!/usr/bin/env bash
# git on the host inside files/ (issue 17's "git init/add/commit/log"):
# init (its symref for HEAD is a temp file + rename), add, commit, a
# branch, log, status, gc (packs, then removes loose objects) and fsck all
# work through the mount, and the repository inside the sandbox is the
# same one: its refs and objects are there, and a clone of it back to the
# host's disk has the same history. vim's save (a backup file, writes,
# rename) keeps the file's mode.
. "$TESTS_DIR/fs/common.sh"
command -v git >/dev/null || skip "no git"
umask 022
up

mkdir "$MNT/g"
F=$MNT/g/files/tmp
inside() { box_out g "$1"; }
export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.invalid GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@example.invalid
export HOME=$T GIT_CONFIG_NOSYSTEM=1

git init -q -b main "$F/repo" || fail "git init in files/"
cd "$F/repo"
mkdir -p src
printf 'one\n' >src/a.txt
printf '#!/bin/sh\necho hi\n' >run.sh
chmod +x run.sh
git add . || fail "git add"
git commit -q -m first || fail "git commit"
printf 'two\n' >>src/a.txt
git commit -q -am second || fail "git commit -a"
git checkout -q -b side || fail "git checkout -b"
git mv src/a.txt src/b.txt || fail "git mv"
git commit -q -m moved || fail "git commit of a rename"
git checkout -q main || fail "git checkout main"
eq "$(git log --format=%s side | tr '\n' ' ')" "moved second first " "git log"
eq "$(git status --porcelain)" "" "git status after the commits"
git gc -q || fail "git gc"
git fsck --strict >"$T/fsck" 2>&1 || fail "git fsck: $(cat "$T/fsck")"
eq "$(git cat-file -p HEAD:src/a.txt | tr '\n' ' ')" "one two " "a blob read back"

# The same repository inside the sandbox.
eq "$(inside 'cat /tmp/repo/.git/HEAD')" "ref: refs/heads/main" "HEAD inside"
eq "$(inside 'stat -c %a /tmp/repo/run.sh')" 755 "an executable file's mode inside"
[ -n "$(inside 'ls /tmp/repo/.git/objects/pack/ | grep "\.pack$"')" ] || fail "no pack inside after git gc"
cd "$T"
git clone -q "$F/repo" "$T/clone" || fail "git clone out of files/"
eq "$(git -C "$T/clone" log --format=%s origin/side | tr '\n' ' ')" "moved second first " "history of the clone"
eq "$(cat "$T/clone/src/a.txt" | tr '\n' ' ')" "one two " "the clone's checkout"

# An editor's save: vim writes a backup and the file (or renames over
# it, by its options); the mode stays and the bytes are the new ones.
if command -v vim >/dev/null; then
	printf 'old\n' >"$F/edit.txt"
	chmod 640 "$F/edit.txt"
	for bc in yes no; do
		vim -u NONE -i NONE -N -n -es -c "set backup backupcopy=$bc backupdir=$F" -c '%s/old/new/' -c 'wq' "$F/edit.txt" ||
			fail "vim save (backupcopy=$bc)"
		eq "$(inside 'cat /tmp/edit.txt')" new "vim's save inside (backupcopy=$bc)"
		eq "$(inside 'stat -c %a /tmp/edit.txt')" 640 "vim's save keeps the mode (backupcopy=$bc)"
		printf 'old\n' >"$F/edit.txt"
	done
fi
echo ok
