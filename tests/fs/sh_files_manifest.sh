#!/usr/bin/env bash
# The end-to-end check of issue 17: tar xpf, cp -a and rsync -aH of a tree
# with modes (set-id, sticky, private), setgid directories, owners,
# symlinks, hard links, a FIFO, empty and binary files and old mtimes,
# into files/ and back out again. The manifest (type, mode, owner, size,
# link text, mtime, sha256, which names are one file) must be the same at
# the source, inside the sandbox (through exec/), through the mount, and
# in the copy taken back out.
. "$TESTS_DIR/fs/common.sh"
command -v rsync >/dev/null || skip "no rsync (scripts/setup --test installs it)"
export TZ=UTC LC_ALL=C
umask 022
up

mkdir "$MNT/m"
F=$MNT/m/files/tmp

# The tree, on the host's own disk.
S=$T/src
mkdir -p "$S/usr/bin" "$S/priv" "$S/shared" "$S/sticky" "$S/deep/a/b/c"
chmod 0700 "$S/priv"
chmod 2775 "$S/shared"
chmod 1777 "$S/sticky"
printf '#!/bin/sh\necho hi\n' >"$S/usr/bin/tool"
chmod 0755 "$S/usr/bin/tool"
echo secret >"$S/priv/key"
chmod 0600 "$S/priv/key"
echo group >"$S/shared/g"
chmod 0664 "$S/shared/g"
: >"$S/empty"
head -c 3000000 /dev/urandom >"$S/blob"
echo suid >"$S/usr/bin/suid"
chmod 4755 "$S/usr/bin/suid"
echo owned >"$S/owned"
chown 1234:5678 "$S/owned"
echo linked >"$S/deep/a/b/c/h1"
ln "$S/deep/a/b/c/h1" "$S/h2"
ln "$S/deep/a/b/c/h1" "$S/shared/h3"
ln -s usr/bin "$S/bin"
ln -s ../../../../usr/bin/tool "$S/deep/a/b/c/up"
ln -s nowhere "$S/dangling"
ln -s /etc/hostname "$S/abs"
mkfifo -m 0640 "$S/fifo"
find "$S" -mindepth 1 ! -type l -exec touch -h -d '1990-05-06 07:08:09' {} +
touch -d '2001-02-03 04:05:06' "$S/blob"

# manifest.sh DIR: one line a name, the same script on the host and
# inside the sandbox. Hard links show as the first name of their inode.
cat >"$T/manifest.sh" <<'EOF'
cd "$1" || exit 1
find . -mindepth 1 | LC_ALL=C sort | while IFS= read -r p; do
	t=$(stat -c %F "$p")
	case "$t" in
	"regular empty file") t="regular file" ;;
	esac
	x=-
	y=$(stat -c %Y "$p")
	case "$t" in
	"regular file") x=$(sha256sum <"$p" | cut -c1-64) ;;
	"symbolic link") x=$(readlink "$p"); y=- ;;
	"directory") ;;
	esac
	i=-
	[ "$t" != directory ] && [ "$(stat -c %h "$p")" -gt 1 ] && i=$(stat -c %i "$p")
	printf '%s|%s|%s|%s|%s|%s|%s|%s\n' "$p" "$t" "$(stat -c %a "$p")" "$(stat -c %u:%g "$p")" \
		"$([ "$t" = "regular file" ] && stat -c %s "$p" || echo -)" "$x" "$y" "$i"
done | awk -F'|' 'BEGIN { OFS = "|" } $8 != "-" { if (!($8 in first)) first[$8] = $1; $8 = first[$8] } { print }'
EOF
manifest() { sh "$T/manifest.sh" "$1"; }
inside_manifest() {
	local id
	cp "$T/manifest.sh" "$F/.manifest.sh"
	id=$(start_proc m "sh /tmp/.manifest.sh $1")
	cat "$MNT/m/exec/$id/stdout"
	eq "$(cat "$MNT/m/exec/$id/returncode")" 0 "manifest inside of $1"
	rm "$F/.manifest.sh"
}
# The absolute link is stored as given, but shown to the host's kernel
# as the relative path it leads to (docs/security.md): copies taken out
# through the mount carry that form. Everything else is byte for byte.
shown() { sed 's#^\./abs|symbolic link|777|0:0|-|/etc/hostname|#./abs|symbolic link|777|0:0|-|SHOWN|#'; }
shown_out() { sed -E 's#^\./abs\|symbolic link\|777\|0:0\|-\|(\.\./)+etc/hostname\|#./abs|symbolic link|777|0:0|-|SHOWN|#'; }

manifest "$S" >"$T/m.src"
[ "$(wc -l <"$T/m.src")" -ge 20 ] || fail "source manifest too short: $(cat "$T/m.src")"
grep -q '|fifo|640|' "$T/m.src" || fail "the source has no FIFO"
grep -q '^./h2|.*|./deep/a/b/c/h1$' "$T/m.src" || fail "the source's hard links are not paired"
shown <"$T/m.src" >"$T/m.src.shown"

check() { # WHAT DIR_IN_SANDBOX
	inside_manifest "/tmp/$2" >"$T/m.in.$2"
	diff "$T/m.src" "$T/m.in.$2" >&2 || fail "$1: the sandbox's view differs from the source"
	manifest "$F/$2" | shown_out >"$T/m.mnt.$2"
	diff "$T/m.src.shown" "$T/m.mnt.$2" >&2 || fail "$1: the mount's view differs from the source"
}
check_out() { # WHAT HOSTDIR
	manifest "$2" | shown_out >"$T/m.out"
	diff "$T/m.src.shown" "$T/m.out" >&2 || fail "$1: the copy taken out differs from the source"
}

# tar in and out.
mkdir "$F/tar"
tar -C "$S" -cf - . | tar -C "$F/tar" -xpf - || fail "tar xpf into files/"
check "tar xpf in" tar
mkdir "$T/tarout"
tar -C "$F/tar" -cf - . | tar -C "$T/tarout" -xpf - || fail "tar xpf out of files/"
check_out "tar out" "$T/tarout"

# cp -a in and out.
mkdir "$F/cp"
cp -a "$S/." "$F/cp/" || fail "cp -a into files/"
check "cp -a in" cp
mkdir "$T/cpout"
cp -a "$F/cp/." "$T/cpout/" || fail "cp -a out of files/"
check_out "cp -a out" "$T/cpout"

# rsync -aH in and out (temp file + fchmod + rename for every file).
rsync -aH "$S/" "$F/rs/" || fail "rsync -aH into files/"
check "rsync -aH in" rs
rsync -aH "$F/rs/" "$T/rsout/" || fail "rsync -aH out of files/"
check_out "rsync -aH out" "$T/rsout"

# A second rsync finds nothing to do (sizes and mtimes as inside), but
# for the absolute link: its shown text is not the source's, so rsync
# sets it again (to the same text inside).
rsync -aHi "$S/" "$F/rs/" | grep -v '^cLc\.* abs -> /etc/hostname$' >"$T/rs2" || true
[ ! -s "$T/rs2" ] || fail "a second rsync -aH changed something: $(cat "$T/rs2")"

grep -q 'ENOTSUP\|not supported' "$MNT/m/error" && fail "error file: $(cat "$MNT/m/error")"
echo ok
