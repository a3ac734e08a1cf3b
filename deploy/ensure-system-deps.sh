#!/usr/bin/env bash
# Installs the system packages floodctl runs with on a fresh Debian/Ubuntu machine, each only when
# missing (quiet and quick when everything is there):
# - Mosquitto broker and its C clients (embedded default broker, tests, `floodctl bench ingest`);
# - Chromium and CJK fonts: the browser tests (tests/dashboard) drive /usr/bin/chromium headless
#   through Playwright, and the pages and screenshots are in Chinese.
set -euo pipefail

missing=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || missing+=(mosquitto)
command -v mosquitto_sub >/dev/null 2>&1 || missing+=(mosquitto-clients)
[ -x /usr/bin/chromium ] || missing+=(chromium)
if command -v fc-list >/dev/null 2>&1; then
    [ -n "$(fc-list :lang=zh-cn family 2>/dev/null | head -n 1)" ] || missing+=(fonts-noto-cjk)
elif ! dpkg-query -W -f='${Status}' fonts-noto-cjk 2>/dev/null | grep -q "ok installed"; then
    missing+=(fonts-noto-cjk)
fi
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
    # The embedded default falls back to the amqtt broker; the browser tests skip without Chromium.
    echo "floodctl: please install ${missing[*]} with your package manager" >&2
    exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
        echo "floodctl: not root and no sudo: install ${missing[*]} yourself" >&2; exit 0
    fi
fi
echo "floodctl: installing ${missing[*]} (apt)"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq || true
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
