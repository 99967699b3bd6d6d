#!/usr/bin/env bash
# libsbx's gRPC over TLS (-o grpc=https://HOST:PORT), as against the
# managed service: sbxd --no-extension serves gRPC on a loopback port with a
# certificate signed by a CA made here with openssl; the mount trusts that
# CA through ca_file= (the REST client's CA setting, also SBX_CA_FILE) and
# a process streams over StreamExec on that TLS connection (live output,
# stdin and EOF, returncode). A mount given another CA is refused with a
# clear error: the start fails and `error` says TLS and names the CA file.
. "$TESTS_DIR/fs/common.sh"
command -v openssl >/dev/null || skip "no openssl"
command -v ss >/dev/null || skip "no ss (iproute2)"
PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/token"
# the CA, the service's certificate it signs (for 127.0.0.1 and localhost),
# and a second CA that signed nothing here
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=sbxfs-test-ca \
	-keyout "$T/ca.key" -out "$T/ca.pem" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout "$T/key.pem" -out "$T/csr.pem" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$T/san.ext"
openssl x509 -req -in "$T/csr.pem" -CA "$T/ca.pem" -CAkey "$T/ca.key" -CAcreateserial -days 2 \
	-extfile "$T/san.ext" -out "$T/cert.pem" 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=other-ca \
	-keyout "$T/other.key" -out "$T/other.pem" 2>/dev/null
[ -s "$T/cert.pem" ] && [ -s "$T/other.pem" ] || fail "openssl made no certificates"
# gRPC logs the refused handshake of the wrong-CA mount (both sides).
# shellcheck disable=SC2034 # read by lib.sh's log check
ALLOW_LOG_ERRORS="ssl_transport_security|Handshake failed|handshake|CERTIFICATE_VERIFY_FAILED"
start_sbxd --no-extension --grpc-listen "127.0.0.1:$PORT" --token-file "$T/token" \
	--grpc-cert "$T/cert.pem" --grpc-key "$T/key.pem"
mount_sbxfs -o "grpc=https://127.0.0.1:$PORT,ca_file=$T/ca.pem,token_file=$T/token"

mkdir "$MNT/t"
id=$(start_proc t 'echo one; sleep 2; echo two')
d=$MNT/t/exec/$id
t0=$(ms)
timeout 30 cat "$d/stdout" >"$T/live.out" &
CATP=$!
wait_grep "$T/live.out" one 25
[ $(($(ms) - t0)) -lt 1800 ] || fail "first line came after $(($(ms) - t0)) ms, not live"
# the stream is this mount's TLS connection to the port: sbxfs holds it
ss -Htnp state established "( dport = :$PORT )" | grep -q "pid=$FS_PID," ||
	fail "sbxfs has no connection to the TLS port: $(ss -Htnp "( dport = :$PORT )")"
wait $CATP || fail "cat of a live stdout over TLS failed"
eq "$(cat "$T/live.out")" "$(printf 'one\ntwo')" "stdout over TLS"
eq "$(cat "$d/returncode")" 0 "returncode over TLS"
# stdin only works over StreamExec (the unary Exec takes none)
id=$(start_proc t '{"command": ["sh", "-c", "tr a-z A-Z; exit 4"], "stdin": true}')
d=$MNT/t/exec/$id
echo secret-ok >"$d/stdin"
echo eof >"$d/ctl"
eq "$(timeout 20 cat "$d/stdout")" SECRET-OK "stdin round trip over TLS"
eq "$(cat "$d/returncode")" 4 "returncode 4 over TLS"
umount_sbxfs

# another CA: the service's certificate is not trusted, and the mount
# says so instead of falling back to the unary Exec
mount_sbxfs -o "grpc=https://127.0.0.1:$PORT,ca_file=$T/other.pem,token_file=$T/token"
mkdir "$MNT/w"
# the clone protocol: write the request, read back the id (or the error)
out=$(/usr/bin/python3 -c 'import os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
try:
    os.write(fd, b"echo never\n")
    print("id", os.read(fd, 100))
except OSError as e:
    print(os.strerror(e.errno))
    sys.exit(1)' "$MNT/w/exec/new" 2>&1) && fail "a start over TLS with the wrong CA worked: $out"
printf '%s\n' "$out" | grep -q "Input/output error" || fail "wrong CA: $out"
grep -q "TLS" "$MNT/w/error" || fail "error does not say TLS: $(cat "$MNT/w/error")"
grep -qF "$T/other.pem" "$MNT/w/error" || fail "error does not name the CA file: $(cat "$MNT/w/error")"
note "wrong CA: $(cat "$MNT/w/error")"
[ ! -e "$MNT/w/exec/1" ] || fail "a process was made with the wrong CA: $(ls "$MNT/w/exec")"
echo ok
