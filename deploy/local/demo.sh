#!/usr/bin/env bash
# The whole stack plus the simulators in the foreground. Ctrl-C stops the simulators,
# then the stack. Arguments go to `ioc simulate`.
set -euo pipefail
cd "$(dirname "$0")/../.."
IOC=.venv/bin/ioc

stop_stack() {
  trap '' INT TERM # a second Ctrl-C must not leave half the stack running
  echo
  echo "demo: stopping the stack"
  "$IOC" stack down
}
trap stop_stack EXIT
trap 'exit 130' INT TERM

"$IOC" stack up
echo
echo "Where to look while the simulators run:"
"$IOC" stack info
echo
echo "demo: starting the simulators (Ctrl-C stops them and the stack)"
"$IOC" simulate "$@"
