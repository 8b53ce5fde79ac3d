#!/usr/bin/env bash
# The real peers the tests run against, before `task test`:
#   - installs the Node.js peers (testpeers/*: socket.io 2.x, standardwebhooks)
#     with `npm ci` where node_modules is missing;
#   - says which tests will be skipped for want of a tool, and how to get it.
# Under TRIBUTARY_REQUIRE_PEERS=1 (CI) those tests fail instead of skipping.
#
#   peers.sh            install, then list what is missing
#   peers.sh --report   only list what is missing (`task test` ends with it)
set -euo pipefail
cd "$(dirname "$0")/.."
report_only=false
[ "${1:-}" = --report ] && report_only=true
missing=()
for lock in testpeers/*/package-lock.json; do
  [ -e "$lock" ] || continue
  dir=$(dirname "$lock")
  [ -d "$dir/node_modules" ] && continue
  if ! $report_only && command -v npm >/dev/null; then
    echo "installing the test peer $dir (npm ci)" >&2
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) >&2
  else
    missing+=("the tests against $dir (needs npm ci there; npm: apt-get install -y npm)")
  fi
done
tool() { # tool NAME WHAT INSTALL
  command -v "$1" >/dev/null || [ -x "/usr/sbin/$1" ] || missing+=("$2 (needs $1: $3)")
}
tool node "the socket.io and standardwebhooks peer tests" "apt-get install -y nodejs npm"
tool nats-server "the JetStream backend tests" "apt-get install -y nats-server"
tool chromium "the console's browser tests" "apt-get install -y chromium"
tool podman "the container image test" "apt-get install -y podman"
tool promtool "the alert rules test" "apt-get install -y prometheus"
tool systemd-analyze "the systemd unit test" "apt-get install -y systemd"
if [ ${#missing[@]} -gt 0 ]; then
  {
    echo "These tests will be SKIPPED (TRIBUTARY_REQUIRE_PEERS=1 makes them fail instead; .ci/run installs all):"
    printf '  - %s\n' "${missing[@]}"
  } >&2
fi
