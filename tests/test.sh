#!/usr/bin/env bash
# Installs what the tests need on a fresh machine (Python packages, Debian's Chromium), then runs them
# offline. Extra arguments go to pytest, e.g. `bash tests/test.sh -k cli`.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m pip install --quiet --disable-pip-version-check -r requirements.txt -r tests/requirements.txt

if ! command -v chromium >/dev/null 2>&1; then
    sudo_if_needed=""
    [ "$(id -u)" -ne 0 ] && sudo_if_needed="sudo"
    $sudo_if_needed apt-get update -qq
    $sudo_if_needed apt-get install -y -qq chromium >/dev/null
fi

export HF_HUB_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 GRADIO_ANALYTICS_ENABLED=False
# Two workers, each running whole files (module fixtures stay shared); `-n 0` runs in one process.
python3 -m pytest -n 2 --dist loadfile "$@"
