#!/usr/bin/env bash
# The official cwsandbox Python SDK against sbxd --grpc-listen (issue 11),
# on Debian's python3-grpcio and python3-protobuf. The SDK is not part of
# this project: CWSANDBOX_SDK_SRC names its source tree's src/ folder
# (e.g. a checkout of github.com/coreweave/cwsandbox-client); without it
# the test skips. sbxd starts exactly as issue 11 checks it (no other
# option): the SDK's default image python:3.11 runs on sbxd's default
# image, which holds Python 3.11 (the built-in alias, docs/sbxd.8).
# google.rpc and google.api come from
# this project's proto/ (and tests/grpc/proto), made at test time.
. "${TESTS_DIR:?}/lib.sh"
SDK=${CWSANDBOX_SDK_SRC:-}
if [ -z "$SDK" ] || [ ! -d "$SDK/cwsandbox" ]; then skip "CWSANDBOX_SDK_SRC (the SDK's src/ folder) not set"; fi
/usr/bin/python3 -c 'import grpc, google.protobuf' 2>/dev/null || skip "python3-grpcio / python3-protobuf missing"
ROOT=$TESTS_DIR/..
PY=$T/py
mkdir -p "$PY"
protoc -I "$ROOT/proto" -I "$TESTS_DIR/grpc/proto" -I /usr/include --python_out="$PY" \
	"$ROOT/proto/google/rpc/status.proto" "$ROOT/proto/google/rpc/error_details.proto" \
	"$ROOT/proto/google/api/http.proto" "$ROOT/proto/google/api/annotations.proto" \
	"$TESTS_DIR/grpc/proto/google/api/field_behavior.proto"
PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/token"
start_sbxd --grpc-listen "127.0.0.1:$PORT" --token-file "$T/token"
CWSANDBOX_BASE_URL=http://127.0.0.1:$PORT CWSANDBOX_API_KEY=$(cat "$T/token") PYTHONPATH="$SDK:$PY" \
	/usr/bin/python3 "$TESTS_DIR/grpc/sdk_examples.py" || fail "the SDK's examples failed"
