#!/usr/bin/env bash
# Run the test suite against a stack of its own: its own run dir and ports, so it never
# touches a developer's `make up` stack. Each run starts from empty data. Arguments go
# to pytest. Override a port with IOC_TEST_<NAME>_PORT, the run dir with IOC_TEST_RUN_DIR.
set -euo pipefail
cd "$(dirname "$0")/../.."

export IOC_RUN_DIR="${IOC_TEST_RUN_DIR:-$PWD/.run/test}"
export IOC_PG_PORT="${IOC_TEST_PG_PORT:-25432}"
export IOC_MQTT_PORT="${IOC_TEST_MQTT_PORT:-21883}"
export IOC_KAFKA_PORT="${IOC_TEST_KAFKA_PORT:-29092}"
export IOC_API_PORT="${IOC_TEST_API_PORT:-28000}"
export IOC_METRICS_PORT=0 IOC_ALERTS_METRICS_PORT=0 # processes started by tests must not fight over one port
# Secrets come from the fresh run dir, never from the developer's shell.
unset IOC_PG_PASSWORD IOC_DATABASE_URL IOC_MQTT_INGEST_PASSWORD IOC_MQTT_FRIGATE_PASSWORD \
  IOC_MQTT_ADMIN_PASSWORD IOC_MQTT_COMMANDS_PASSWORD IOC_WEBHOOK_SECRET

IOC=.venv/bin/ioc

# A run killed hard can leave its services behind: stop them before wiping their data.
"$IOC" stack down >/dev/null 2>&1 || true
rm -rf "$IOC_RUN_DIR"

stop_stack() {
  trap '' INT TERM # a second Ctrl-C must not leave half the stack running
  echo "test.sh: stopping the test stack"
  "$IOC" stack down >/dev/null || echo "test.sh: stack down failed; see $IOC_RUN_DIR/logs" >&2
}
trap stop_stack EXIT
trap 'exit 130' INT TERM

echo "test.sh: starting the test stack in $IOC_RUN_DIR"
"$IOC" stack up --services-only
"$IOC" db info

status=0
.venv/bin/pytest "$@" || status=$?
if [ "$status" -eq 5 ]; then
  echo "test.sh: pytest collected no tests; that is a failure" >&2
  exit 1
fi
exit "$status"
