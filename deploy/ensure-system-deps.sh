#!/usr/bin/env bash
# Installs the system packages floodctl runs with on a fresh Debian/Ubuntu machine:
# Mosquitto broker and its C clients (embedded default broker, tests, `floodctl bench ingest`).
set -euo pipefail

missing=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || missing+=(mosquitto)
command -v mosquitto_sub >/dev/null 2>&1 || missing+=(mosquitto-clients)
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
    echo "floodctl: please install ${missing[*]} with your package manager" >&2
    exit 0   # the embedded default falls back to the amqtt broker
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
