#!/usr/bin/env bash
# From nothing to a reply: installs what is missing, builds, starts the workspace emulator over
# TLS with a throwaway CA, and runs the OAuth M2M example against it.
set -euo pipefail
cd "$(dirname "$0")/.."

tools/install-deps.sh
cmake -S . -B build/quickstart -G Ninja -DCMAKE_BUILD_TYPE=Release -DDBXSERVE_BUILD_TESTS=OFF \
  >/dev/null
cmake --build build/quickstart -j "$(nproc 2>/dev/null || echo 2)" \
  --target dbxserve-emulator dbxserve-m2m-chat dbxserve-query

work=$(mktemp -d)
trap 'kill "$emulator" 2>/dev/null || true; rm -rf "$work"' EXIT
build/quickstart/tools/emulator/dbxserve-emulator --generate-pki "$work/pki" \
  --client-id quickstart-sp --client-secret quickstart-secret >"$work/emulator.out" &
emulator=$!

url=""
for _ in $(seq 1 100); do
  url=$(sed -n 's/^dbxserve-emulator listening on //p' "$work/emulator.out")
  [ -n "$url" ] && break
  sleep 0.1
done
[ -n "$url" ] || { echo "the emulator did not start" >&2; exit 1; }
echo "emulator: $url"

# The service principal's credentials come from the environment, as in production; the
# emulator's throwaway CA is trusted through the standard SSL_CERT_FILE variable.
DATABRICKS_CLIENT_ID=quickstart-sp DATABRICKS_CLIENT_SECRET=quickstart-secret \
SSL_CERT_FILE="$work/pki/ca.pem" \
  build/quickstart/examples/dbxserve-m2m-chat "$url" chat "Hello from dbxserve!"
