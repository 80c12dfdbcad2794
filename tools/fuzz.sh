#!/usr/bin/env bash
# Builds the libFuzzer harnesses of tests/fuzz with clang (in build-fuzz/, instrumented
# with ASan + UBSan) and runs each for a bounded time, starting from its seed corpus in
# tests/fuzz/corpus/<name> (new inputs go to a temp dir, never into the repo). Exits
# non-zero on the first crash, leak or sanitizer report; the failing input is left in
# build-fuzz/ as crash-* / leak-*.
#
#   tools/fuzz.sh                 every harness for 10 s (what tools/test.sh runs)
#   tools/fuzz.sh --seconds 3600  every harness for an hour
#   tools/fuzz.sh --seconds 600 time envelope
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=10
if [ "${1:-}" = "--seconds" ]; then seconds=$2; shift 2; fi
harnesses=("$@")
[ ${#harnesses[@]} -gt 0 ] || harnesses=(token envelope request_target time member_token json_body scim_filter
  http_request)

tools/install-deps.sh
cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKEYTRAIL_FUZZ=ON \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache >/dev/null
cmake --build build-fuzz -j "${KEYTRAIL_JOBS:-2}" --target "${harnesses[@]/#/fuzz_}"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for name in "${harnesses[@]}"; do
  mkdir -p "$work/$name"
  echo "fuzz: $name for ${seconds}s" >&2
  (cd build-fuzz && "./tests/fuzz/fuzz_$name" -max_total_time="$seconds" -max_len=4096 \
     -print_final_stats=1 "$work/$name" "../tests/fuzz/corpus/$name" 2>"$work/$name.log") || {
    tail -n 40 "$work/$name.log" >&2
    echo "fuzz: $name FAILED; the input is in build-fuzz/" >&2
    exit 1
  }
  grep -E "stat::number_of_executed_units" "$work/$name.log" | sed "s/^/fuzz: $name: /" >&2 || true
done
echo "fuzz: all harnesses ran ${seconds}s each without a finding" >&2
