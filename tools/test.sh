#!/usr/bin/env bash
# The test command (README, .ci/run): installs what is missing, builds, runs every test.
#   tools/test.sh            the whole suite under ASan+UBSan (a Debug build in
#                            build-asan/), 10 s of each fuzz harness (tools/fuzz.sh), then
#                            the whole suite again on the optimized build (build/)
#   KEYTRAIL_SKIP_SANITIZE=1 / KEYTRAIL_SKIP_FUZZ=1 tools/test.sh   skip those steps
# The last line printed is ctest's summary of the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."

tools/install-deps.sh

jobs=${KEYTRAIL_JOBS:-2}
# Three build trees (sanitized, fuzzing, optimized) share ccache: room for all of them.
export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-12G}

if [ "${KEYTRAIL_SKIP_SANITIZE:-0}" != 1 ]; then
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DKEYTRAIL_SANITIZE=ON >/dev/null
  cmake --build build-asan -j "$jobs"
  (cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --output-on-failure -j "$jobs" --timeout 600)
fi

# Every parser's libFuzzer harness for a few seconds (tools/fuzz.sh runs them for longer).
if [ "${KEYTRAIL_SKIP_FUZZ:-0}" != 1 ]; then
  tools/fuzz.sh --seconds "${KEYTRAIL_FUZZ_SECONDS:-10}"
fi

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$jobs"
cd build && ctest --output-on-failure -j "$jobs" --timeout 300
