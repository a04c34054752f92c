#!/usr/bin/env bash
# Install the Debian 12 packages tortrace needs to build and test (root, or sudo).
#   tools/install-deps.sh          build + tests
#   tools/install-deps.sh --ci     also clang, libFuzzer, clang-format and chromium for CI
set -euo pipefail
# libjansson-dev: report.html is rendered from report.json, parsed with jansson.
# libarchive-dev: --relays reads CollecTor's .tar.xz archives and single .xz/.gz/.zst files.
# libmicrohttpd-dev, liburcu-dev: tortrace serve (HTTP server library; the jobs' wait-free
# queue and RCU publication of reloaded relay data).
pkgs=(gcc meson ninja-build pkg-config python3 libpcap-dev libxxhash-dev libmsgpack-dev
      libcriterion-dev zlib1g-dev libzstd-dev zstd libssl-dev libsqlite3-dev libjansson-dev
      libarchive-dev xz-utils libmicrohttpd-dev liburcu-dev
      tcpdump python3-pytest python3-setuptools python3-wheel python3-pip)
if [ "${1:-}" = "--ci" ]; then
  # chromium: tests/cli/test_html.py opens report.html in it (skipped without it), and
  # tests/serve/browser_test.mjs drives it with puppeteer-core (node and npm: `npm ci` in
  # tests/serve, run by .ci/run; a node that brings its own npm is kept as it is)
  pkgs+=(clang libfuzzer-14-dev libclang-rt-14-dev clang-format chromium)
  # The Slurm step (tests/slurm/test_slurm.sh): a private slurmctld + slurmd with munge;
  # editcap (wireshark-common) rotates corpus captures for it and for golden_shard.
  pkgs+=(slurmctld slurmd slurm-client munge bc wireshark-common)
  command -v node >/dev/null || pkgs+=(nodejs)
  command -v npm >/dev/null || pkgs+=(npm)
fi
missing=()
for p in "${pkgs[@]}"; do
  # No pipe into grep -q: it may exit before dpkg-query is done (SIGPIPE under pipefail).
  [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" = "install ok installed" ] ||
    missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "installed: ${missing[*]}"
