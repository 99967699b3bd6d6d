#!/usr/bin/env bash
# The load suite small (scripts/load is the full one): 8 sandboxes x 4
# processes x 1 MiB to stdout and to stderr each, every byte and code
# checked through the mount and through libsbx, then 200 waiters on one
# returncode.
exec "$TESTS_DIR/load/load.sh" "${LOAD_BOXES:-8}" "${LOAD_PROCS:-4}" "${LOAD_MIB:-1}" "${LOAD_WAITERS:-200}"
