#!/usr/bin/env bash
# The dashboard in a real headless Chromium against a real `tally serve`: upload with bad rows,
# WebSocket refused (long-poll fallback), server restart mid-import, a slow import's ETA and
# rate, cancel from the page (scripts/e2e/browser_e2e.py). Needs Debian's chromium and
# chromium-driver; Selenium comes from PyPI into a virtual environment under the user's cache.
# Outside CI a machine without Chromium skips these tests; under CI that is a failure.
# Extra arguments go to browser_e2e.py (e.g. --only upload, --screenshot docs/dashboard.png).
set -euo pipefail
cd "$(dirname "$0")/../.."

chromium=$(command -v chromium || command -v chromium-browser || true)
chromedriver=$(command -v chromedriver || true)
if [ -z "$chromium" ] || [ -z "$chromedriver" ]; then
    if [ -n "${CI:-}" ]; then
        echo "browser e2e: chromium and chromium-driver are required under CI (apt-get install chromium chromium-driver)" >&2
        exit 1
    fi
    echo "SKIPPED: browser end-to-end tests (install chromium and chromium-driver to run them)"
    exit 0
fi

venv="${TALLY_E2E_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/tally/e2e-venv}"
if ! "$venv/bin/python" -c 'import selenium' >/dev/null 2>&1; then
    echo "browser e2e: creating a virtual environment with Selenium in $venv"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check 'selenium>=4.10,<5'
fi

swift build --product tally >/dev/null
bin="$(swift build --show-bin-path)/tally"
exec "$venv/bin/python" scripts/e2e/browser_e2e.py --tally "$bin" --web web \
    --chromium "$chromium" --chromedriver "$chromedriver" "$@"
