#!/usr/bin/env bash
# Install what is missing, build with warnings as errors, run the unit, golden and stress
# suites. Golden tests read ../shared/corpus and are skipped, saying so, without it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh
[ -d build-test ] || meson setup build-test -Dwerror=true >/dev/null
ninja -C build-test >/dev/null
meson test -C build-test --suite unit --suite golden --suite stress --print-errorlogs
