#!/bin/bash
# Isolation seen through the API: a sandbox sees only its own processes,
# has its own hostname, no host network (only loopback), cannot write the
# host's /, and cannot reach sbxd's socket.
. "$TESTS_DIR/lib.sh"
. "$TESTS_DIR/server/common.sh"
start_sbxd

create "$(sbx_body name=iso)" >/dev/null
other=$(create "$(sbx_body name=other -- sleep 60)")
# own processes only: init, the command itself; no host sleep
ps=$(exec_out "$(sbx_id iso)" '["sh","-c","ls /proc | grep -E \"^[0-9]+$\" | wc -l"]')
[ "$ps" -le 6 ] || fail "sandbox sees $ps processes (init, sh, ls, grep, wc expected)"
expect "no sleep of the other sandbox" "$(exec_sh "$(sbx_id iso)" 'for f in /proc/[0-9]*/cmdline; do tr "\0" " " <$f; echo; done | grep -cx "sleep 60 " || true')" 0
expect "hostname" "$(exec_out "$(sbx_id iso)" '["hostname"]')" iso
# network: only loopback
ifs=$(exec_out "$(sbx_id iso)" '["sh","-c","ls /sys/class/net"]')
expect "interfaces" "$ifs" lo
# cannot write the host's /
marker=sbxd-iso-$$-$RANDOM
exec_json "$(sbx_id iso)" "[\"sh\",\"-c\",\"echo x > /$marker; echo y > /etc/$marker; true\"]" >/dev/null
[ ! -e "/$marker" ] || { rm -f "/$marker"; fail "sandbox wrote the host's /"; }
[ ! -e "/etc/$marker" ] || { rm -f "/etc/$marker"; fail "sandbox wrote the host's /etc"; }
# but it can write its own layer, and sees its own writes
expect "own writes" "$(exec_out "$(sbx_id iso)" "[\"sh\",\"-c\",\"echo z > /$marker && cat /$marker\"]")" z
[ ! -e "/$marker" ] || { rm -f "/$marker"; fail "own write leaked to host"; }
# sbxd's socket and state are out of reach
expect "socket hidden" "$(exec_out "$(sbx_id iso)" "[\"sh\",\"-c\",\"test -S $SOCK && echo visible || echo hidden\"]")" hidden
expect "state hidden" "$(exec_out "$(sbx_id iso)" "[\"sh\",\"-c\",\"ls $STATE/sandboxes 2>/dev/null | wc -l\"]")" 0
# file calls cannot escape through .. or symlinks
api POST /v1/sandboxes/"$(sbx_id iso)":exec -d '{"command":["ln","-s","/","/tmp/up"]}' >/dev/null
api POST /v1/sandboxes/"$(sbx_id iso)":exec -d '{"command":["sh","-c","echo inside >/tmp/where"]}' >/dev/null
out=$(api GET "/v1/sandboxes/$(sbx_id iso):readFile?path=/tmp/up/../../../../tmp/where")
expect "readFile through symlink stays inside" "$(b64d "$(jget "$out" 'j["content"]')")" inside
api POST /v1/sandboxes/"$(sbx_id iso)":writeFile -d "{\"path\":\"/tmp/up/../$marker\",\"content\":\"eA==\"}" >/dev/null
[ ! -e "/$marker" ] || { rm -f "/$marker"; fail "writeFile escaped the sandbox"; }
# with egress, still its own namespace: loopback and the user-mode stack's
# interface, never the host's (tests/server/egress.sh tries the rest)
create "$(sbx_body name=net 'net={"egress":[{"any":true}]}')" >/dev/null
expect "egress interfaces" "$(exec_out "$(sbx_id net)" '["sh","-c","ls /sys/class/net | sort | tr \"\\n\" \" \""]')" "eth0 lo "
note "isolation ok"
