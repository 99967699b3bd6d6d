#!/usr/bin/env bash
# Scratch volumes, files[] and args without a command through the mount
# (issue 13): a JSON spec written to `new` carries volumes, volumeMounts
# and files (libsbx passes them as the schema's fields); the main command
# sees the files (sha256) and the volume (its size), files/ reads the
# volume and cannot write its read-only mount; a bad field fails the write
# with EINVAL and `error` names it; args without a command on an image
# without an Entrypoint is refused the same way.
. "$TESTS_DIR/fs/common.sh"
up

F1="config $RANDOM"
F2="data $RANDOM"
b64() { printf '%s' "$1" | base64 -w0; }
sha() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }
box=$(new_box "{\"command\": \"sh\", \"args\": [\"-c\", \"sha256sum /etc/app.conf /data/in >/data/seen.t; df -k /data | tail -1 >>/data/seen.t; mv /data/seen.t /data/seen; exec sleep 600\"],
  \"volumes\": [{\"name\": \"data\", \"scratch\": {\"size\": \"16Mi\"}}],
  \"volumeMounts\": [{\"volume\": \"data\", \"mountPath\": \"/data\"}, {\"volume\": \"data\", \"mountPath\": \"/ro\", \"readOnly\": true, \"subPath\": \"s\"}],
  \"files\": [{\"path\": \"/etc/app.conf\", \"content\": \"$(b64 "$F1")\"}, {\"path\": \"/data/s/in\", \"content\": \"$(b64 "$F2")\"},
              {\"path\": \"/data/in\", \"content\": \"$(b64 "$F2")\"}]}")
# (the main command's stdout follows it to its end: it reports in the volume)
wait_grep "$MNT/$box/files/data/seen" "/data" 200
eq "$(awk 'NR <= 2 {print $1}' "$MNT/$box/files/data/seen" | tr '\n' ' ')" "$(sha "$F1") $(sha "$F2") " "files[] before the command (sha256)"
eq "$(awk 'NR == 3 {print $2}' "$MNT/$box/files/data/seen")" 16384 "the volume's size inside"
eq "$(cat "$MNT/$box/files/ro/in")" "$F2" "the read-only subPath through files/"
if (echo x >"$MNT/$box/files/ro/new") 2>"$T/ro.err"; then fail "files/ wrote into the read-only mount"; fi
grep -q "Read-only file system" "$T/ro.err" || fail "read-only write: $(cat "$T/ro.err")"
echo via-files >"$MNT/$box/files/data/s/w" || fail "write into the volume through files/: $(cat "$MNT/$box/status" "$MNT/$box/stdout" "$MNT/$box/stderr" 2>&1)"
eq "$(cat "$MNT/$box/files/ro/w")" via-files "the read-only view sees the write"
host=$(find "$STATE/volumes" -path "*/data/s/w")
[ -n "$host" ] || fail "no volume dir on the host holds the file"
eq "$(cat "$host")" via-files "the volume on the host"
[ ! -e "$(dirname "$host")/new" ] || fail "the refused write reached the host's volume"

write_fails "$MNT/new" '{"volumes": [{"name": "v", "scratch": {"sise": "1Gi"}}]}' "Invalid argument"
grep -q "volumes\[0\]" "$MNT/error" || fail "error for a bad volume field: $(cat "$MNT/error")"
write_fails "$MNT/new" '{"volumes": [{"name": "v", "scratch": {"size": "lots"}}]}' "Invalid argument"
grep -q "spec.volumes\[0\].scratch.size" "$MNT/error" || fail "error for a bad size: $(cat "$MNT/error")"
write_fails "$MNT/new" '{"files": [{"path": "rel", "content": ""}]}' "Invalid argument"
grep -q "files\[0\].path" "$MNT/error" || fail "error for a relative file path: $(cat "$MNT/error")"
write_fails "$MNT/new" '{"args": ["x"]}' "Invalid argument"
grep -q "Entrypoint" "$MNT/error" || fail "error for args without an entrypoint: $(cat "$MNT/error")"
echo ok
