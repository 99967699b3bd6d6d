#!/usr/bin/env bash
# A finished sandbox keeps its files readable, read-only, until deleted:
# results are copied out of files/ after the main command completed (or
# after a stop), every change answers EROFS, and a delete (rmdir, ctl
# delete: the API's DELETE with purge) makes them go. Without the
# extension (the real surface) listings, mkdir, rm, renames, modes and
# times answer ENOTSUP first, a link shows as its target, statfs as an
# empty fs, and :forget is refused.
. "$TESTS_DIR/fs/common.sh"
export TZ=UTC
up

# A main command that leaves results in /tmp (a tmpfs of its own) and
# in the overlay root, then completes.
id=$(new_box 'mkdir -p /work/out && echo result >/work/out/r.txt && head -c 2000000 /dev/urandom >/tmp/big && sha256sum /tmp/big | cut -c1-64 >/work/out/sum && ln -s r.txt /work/out/link && mkfifo /work/out/fifo')
eq "$(cat "$MNT/$id/returncode")" 0 "the main command's exit"
eq "$(cat "$MNT/$id/status")" completed "status after the main command"
F=$MNT/$id/files
eq "$(cat "$F/work/out/r.txt")" result "a result read after the end"
eq "$(sha256sum <"$F/tmp/big" | cut -c1-64)" "$(cat "$F/work/out/sum")" "a 2 MB file in /tmp after the end"
if sbx_extension_on; then
	eq "$(readlink "$F/work/out/link")" r.txt "a link after the end"
else
	# no statFile on the real surface: ReadFile follows the link, so it
	# shows as its target (and the sandbox has ended: no Exec could ask)
	[ ! -L "$F/work/out/link" ] || fail "a link without statFile"
	eq "$(cat "$F/work/out/link")" result "reading through a link after the end"
fi
LIST='listing a directory of files/ (the "files" extension)'
sbx_needs_extension "$LIST" 'cp -a "$F/work/out" "$T/out" || fail "cp -a out of a finished sandbox"
eq "$(cat "$T/out/r.txt")" result "the copy taken out"
eq "$(stat -c %F "$T/out/fifo")" fifo "the FIFO copied out"'
sbx_needs_extension "$LIST" 'ls -lR "$F/work" >/dev/null || fail "ls -lR of a finished sandbox"'
if sbx_extension_on; then
	[ "$(stat -f -c %b "$F/")" -gt 0 ] || fail "statfs of a finished sandbox"
else
	# the real API tells no figures: statfs answers those of an empty fs
	eq "$(stat -f -c %b "$F/")" 0 "statfs of a finished sandbox without statFs"
fi
# Every change: EROFS.
erofs() { # WHAT CMD...
	local what=$1 out
	shift
	if out=$("$@" 2>&1); then
		fail "$what in a finished sandbox succeeded"
	fi
	printf "%s\n" "$out" | grep -q "Read-only file system" || fail "$what: '$out' does not say EROFS ($(cat "$MNT/$id/error"))"
}
erofs "write" sh -c "echo x >'$F/work/out/new'"
erofs "overwrite" sh -c "echo x >'$F/work/out/r.txt'"
# (dash's own echo says "I/O error" for any failed write: /bin/echo tells)
erofs "append" sh -c "/bin/echo x >>'$F/work/out/r.txt'"
# the calls the real API lacks (mkdir, remove, rename, modes, times,
# links: the "files" and "posix" extensions) answer ENOTSUP there first
EXT='mkdir, rm, rename, chmod, times, symlink in files/ (the "files"/"posix" extensions)'
sbx_needs_extension "$EXT" 'erofs "mkdir" mkdir "$F/work/d"'
sbx_needs_extension "$EXT" 'erofs "rm" rm "$F/work/out/r.txt"'
sbx_needs_extension "$EXT" 'erofs "rmdir" rmdir "$F/work/out"'
sbx_needs_extension "$EXT" 'erofs "mv" mv "$F/work/out/r.txt" "$F/work/out/s.txt"'
sbx_needs_extension "$EXT" 'erofs "chmod" chmod 600 "$F/work/out/r.txt"'
sbx_needs_extension "$EXT" 'erofs "touch" touch -d 2001-01-01 "$F/work/out/r.txt"'
sbx_needs_extension "$EXT" 'erofs "ln -s" ln -s x "$F/work/out/l2"'
erofs "truncate" truncate -s 0 "$F/work/out/r.txt"
eq "$(cat "$F/work/out/r.txt")" result "the file after the refused changes"

# A stopped idle sandbox keeps them too.
mkdir "$MNT/idle"
echo kept >"$MNT/idle/files/tmp/k"
echo stop >"$MNT/idle/ctl"
wait_for 20 sh -c "[ \"\$(cat '$MNT/idle/status')\" = terminated ]"
eq "$(cat "$MNT/idle/files/tmp/k")" kept "a file of a stopped sandbox"

# The API's DELETE without purge is the public stop: the files stay;
# with :forget (what rmdir and ctl delete send) they go.
sid=$(sbx_id idle)
readk() { api GET "/v1/sandboxes/$sid:readFile?path=/tmp/k" | python3 -c 'import base64,json,sys; print(base64.b64decode(json.load(sys.stdin)["content"]).decode().strip())'; }
eq "$(readk)" kept "readFile of the stopped sandbox"
eq "$(api_status DELETE "/v1/sandboxes/$sid")" 200 "DELETE of the stopped sandbox"
eq "$(readk)" kept "readFile after a DELETE without purge"
eq "$(api_status POST "/v1/sandboxes/$sid:writeFile" -d '{"path": "/tmp/k", "content": "eA=="}')" 403 "writeFile of a finished sandbox"
api POST "/v1/sandboxes/$sid:writeFile" -d '{"path": "/tmp/k", "content": "eA=="}' | grep -q '"EROFS"' || fail "writeFile's errno is not EROFS"
if sbx_extension_on; then
	eq "$(api_status POST "/v1/sandboxes/$sid:forget")" 200 ":forget"
	eq "$(api_status GET "/v1/sandboxes/$sid:readFile?path=/tmp/k")" 404 "readFile after the purge"
else
	# purging is the "forget" extension: refused as a call the service lacks
	eq "$(api_status POST "/v1/sandboxes/$sid:forget")" 404 ":forget without the extension"
fi

# rmdir of the finished one: gone.
rmdir "$MNT/$id" || fail "rmdir of the finished sandbox"
[ ! -e "$MNT/$id" ] || fail "the finished sandbox still shows after rmdir"
echo ok
