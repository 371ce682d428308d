#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages PyDialer needs beyond Python itself, only when missing:
#   python3-venv (fresh Debian lacks `python3 -m venv`), chromium + chromium-driver (browser tests,
#   README screenshots), espeak-ng + sox (the PBX simulator speaks call audio with them),
#   docker-compose (validates docker-compose.yml in the tests; no Docker engine is needed).
# Uses sudo when not root. Prints what it does; does nothing when everything is there.
set -euo pipefail
need=()
python3 -c 'import ensurepip, venv' 2>/dev/null || need+=(python3-venv)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
command -v espeak-ng >/dev/null 2>&1 || need+=(espeak-ng)
command -v sox >/dev/null 2>&1 || need+=(sox)
command -v docker-compose >/dev/null 2>&1 || need+=(docker-compose)
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
echo "system-deps: installing ${need[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "system-deps: need root (or sudo) to apt-get install ${need[*]}" >&2; exit 1; fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
