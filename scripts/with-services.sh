#!/usr/bin/env bash
# Run a command with Kafka and PostgreSQL up; stop them afterwards if this script started them.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
was_up=false
if bash "$ROOT/scripts/services.sh" status | grep -q "Kafka: up" && \
   bash "$ROOT/scripts/services.sh" status | grep -q "PostgreSQL: up"; then
  was_up=true
fi
bash "$ROOT/scripts/services.sh" up || exit 1
"$@"
status=$?
if [ "$was_up" = false ]; then bash "$ROOT/scripts/services.sh" down; fi
exit $status
