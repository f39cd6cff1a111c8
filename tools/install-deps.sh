#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages dbxserve builds and tests with, when any is missing.
# Safe to run again: it does nothing once everything is there.
set -euo pipefail

packages=(g++ cmake ninja-build pkg-config meson python3 clang-format openssl
          libssl-dev nlohmann-json3-dev libcpp-httplib-dev doctest-dev)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing: ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "need root or sudo to install ${missing[*]}" >&2; exit 1; }
  sudo=sudo
fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
