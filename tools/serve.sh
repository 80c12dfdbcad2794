#!/usr/bin/env bash
# The "start the engine" command (README): installs what is missing, builds the keytrail
# binary and runs `keytrail serve` on the embedded local log (./var/keytrail), listening
# on 127.0.0.1:8080. Extra arguments go to `keytrail serve` (see --help).
set -euo pipefail
cd "$(dirname "$0")/.."

tools/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "${KEYTRAIL_JOBS:-2}" --target keytrail
exec build/tools/keytrail/keytrail serve --bootstrap-token-file var/bootstrap-token "$@"
