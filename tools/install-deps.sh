#!/usr/bin/env bash
# Installs the Debian 12 packages keytrail needs to build, test and benchmark.
# Idempotent: only packages that are missing are installed. Needs root (or sudo)
# only when something is missing.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config
  libssl-dev zlib1g-dev libsodium-dev libcjose-dev libjansson-dev libjemalloc-dev libabsl-dev
  librdkafka-dev librocksdb-dev
  flatbuffers-compiler libflatbuffers-dev
  libboost-dev libboost-system-dev
  libfmt-dev libspdlog-dev libcli11-dev nlohmann-json3-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  kcat python3 python3-confluent-kafka python3-flatbuffers curl jq
  nginx-light chromium
  clang libclang-rt-14-dev
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

# The console (web/) builds with Node.js and npm: Debian's, unless some are there already
# (e.g. NodeSource's nodejs, which ships npm and conflicts with Debian's npm package).
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  missing+=(nodejs npm)
fi

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
