#!/bin/bash
. "$TESTS_DIR/lib.sh"
start_sbxd
