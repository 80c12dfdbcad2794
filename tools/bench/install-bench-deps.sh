#!/usr/bin/env bash
# Installs what tools/bench/run needs on Debian 12, on top of tools/install-deps.sh (the
# build): the load generators and the baselines it compares keytrail with, gnuplot for
# the chart, perf for profiling. Idempotent: only missing packages are installed; needs
# root (or sudo) only then.
set -euo pipefail
cd "$(dirname "$0")/../.."

tools/install-deps.sh

packages=(
  wrk                          # HTTP load (keytrail verify and create)
  redis-server redis-tools     # Redis GET baseline: redis-server, redis-cli, redis-benchmark
  postgresql-15 postgresql-client-15   # PostgreSQL baseline: initdb, pg_ctl, psql, pgbench
  gnuplot-nox                  # docs/benchmarks.png
  linux-perf                   # profiling a run (docs/benchmarks.md)
  python3 util-linux           # the runner; runuser (PostgreSQL refuses to run as root)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install-bench-deps: installing ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
