#!/usr/bin/env bash
# The whole test suite: Swift unit and loopback integration tests, the JS client's unit tests,
# and the end-to-end scripts. This is the README's test command and what `.ci/run` runs.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== swift build"
swift build
echo "== swift test"
swift test
if ls web/tests/*.test.js >/dev/null 2>&1; then
    echo "== node --test"
    node --test web/tests/
fi
for script in scripts/e2e/*.sh; do
    [ -e "$script" ] || continue
    echo "== $script"
    bash "$script"
done
echo "== all tests passed"
