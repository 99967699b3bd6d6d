#!/usr/bin/env bash
# sbxd's gRPC front end (issue 11): a fresh sbxd with --grpc-listen on a
# free loopback port and its gRPC unix socket, python stubs made from
# proto/ at test time, then grpc_test.py's cases (GRPC_CASES: a subset).
. "${TESTS_DIR:?}/lib.sh"
/usr/bin/python3 -c 'import grpc, google.protobuf' 2>/dev/null || skip "python3-grpcio / python3-protobuf missing"
ROOT=$TESTS_DIR/..
PY=$T/py
mkdir -p "$PY"
protoc -I "$ROOT/proto" -I /usr/include --python_out="$PY" \
	"$ROOT/proto/coreweave/sandbox/v1/sandbox.proto" "$ROOT/proto/google/rpc/status.proto" \
	"$ROOT/proto/google/rpc/error_details.proto" "$ROOT/proto/google/api/http.proto" \
	"$ROOT/proto/google/api/annotations.proto"
PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/token"
start_sbxd --grpc-listen "127.0.0.1:$PORT" --token-file "$T/token" --max-output 1Gi
for _ in $(seq 1 100); do [ -S "$SOCK.grpc" ] && break; sleep 0.05; done
# shellcheck disable=SC2086 # GRPC_CASES: case names, one word each
/usr/bin/python3 "$TESTS_DIR/grpc/grpc_test.py" "$PY" "127.0.0.1:$PORT" "$(cat "$T/token")" "$SOCK.grpc" "$SBXD_PID" \
	${GRPC_CASES:-} || fail "grpc_test.py failed"

# TLS with ALPN h2: the same server with a certificate; a client that
# trusts it gets through, one speaking h2c to the TLS port does not.
stop_sbxd
# gRPC logs the refused h2c handshake (the check below provokes it).
# shellcheck disable=SC2034 # read by lib.sh's log check
ALLOW_LOG_ERRORS="ssl_transport_security.*(wrong version number|Handshake failed)"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost -addext subjectAltName=DNS:localhost \
	-keyout "$T/key.pem" -out "$T/cert.pem" 2>/dev/null
start_sbxd --grpc-listen "127.0.0.1:$PORT" --token-file "$T/token" --grpc-cert "$T/cert.pem" --grpc-key "$T/key.pem"
GRPC_TLS_CERT=$T/cert.pem /usr/bin/python3 "$TESTS_DIR/grpc/grpc_test.py" "$PY" "127.0.0.1:$PORT" "$(cat "$T/token")" \
	"$SOCK.grpc" "$SBXD_PID" tls || fail "grpc_test.py tls failed"

# Users on the gRPC unix socket (SO_PEERCRED), as tests/server/users.sh
# on REST: the socket opened to others by --socket-mode, a uid not root.
if command -v setpriv >/dev/null; then
	stop_sbxd
	chmod o+rx "$T" "$PY"
	chmod -R o+rX "$PY"
	subids "$T/subid" 64001
	start_sbxd --socket-mode 0666 --subuid "$T/subid" --subgid "$T/subid"
	[ "$(stat -c %a "$SOCK.grpc")" = 666 ] || fail "the gRPC socket did not get --socket-mode"
	GRPC_OTHER_UID=64001 /usr/bin/python3 "$TESTS_DIR/grpc/grpc_test.py" "$PY" "127.0.0.1:$PORT" "" \
		"$SOCK.grpc" "$SBXD_PID" users || fail "grpc_test.py users failed"
else
	note "no setpriv: users case not run"
fi
