#!/usr/bin/env bash
# Start or stop the real services Crossview needs on this machine, without Docker:
#   Apache Kafka (KRaft, single node) on 127.0.0.1:9092, fetched from Maven Central with mvn;
#   PostgreSQL from Debian's packages on 127.0.0.1:5432 with a `crossview` role and database;
#   and, for the console's browser tests, Debian's chromium and chromium-driver.
# Usage: scripts/services.sh up|down|status|fetch-kafka. Safe to run twice.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
STATE="$ROOT/.services"
KAFKA_DIR="$STATE/kafka"
KAFKA_PID="$KAFKA_DIR/broker.pid"
PG_MARK="$STATE/postgres.started-by-us"
DB_USER=crossview DB_PASSWORD=crossview DB_NAME=crossview

say() { printf '[services] %s\n' "$*"; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

kafka_fetch() {
  if [ -f "$KAFKA_DIR/libs/.complete" ]; then return; fi
  command -v mvn >/dev/null || { say "mvn is missing: install Maven (apt-get install maven)"; exit 1; }
  say "fetching the Kafka broker jars with mvn (once; about 60 MB)..."
  rm -rf "$KAFKA_DIR/libs"
  mkdir -p "$KAFKA_DIR"
  if ! mvn -B -f "$ROOT/infra/kafka/pom.xml" dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$KAFKA_DIR/libs" >"$KAFKA_DIR/mvn.log" 2>&1; then
    say "mvn could not fetch the broker; last lines of $KAFKA_DIR/mvn.log:"; tail -20 "$KAFKA_DIR/mvn.log"; exit 1
  fi
  touch "$KAFKA_DIR/libs/.complete"
}

kafka_up() {
  if port_open 9092; then say "Kafka already answers on 127.0.0.1:9092"; return; fi
  mkdir -p "$KAFKA_DIR"
  kafka_fetch
  local props="$KAFKA_DIR/server.properties"
  sed "/^log.dirs=/d" "$ROOT/infra/kafka/server.properties" > "$props"
  echo "log.dirs=$KAFKA_DIR/data" >> "$props"
  local java=(java -Xms512m -Xmx1g -Dlog4j2.configurationFile="$ROOT/infra/kafka/log4j2.yaml" -cp "$KAFKA_DIR/libs/*")
  if [ ! -f "$KAFKA_DIR/data/meta.properties" ]; then
    say "formatting KRaft storage in $KAFKA_DIR/data"
    local cluster_id
    cluster_id=$("${java[@]}" kafka.tools.StorageTool random-uuid)
    "${java[@]}" kafka.tools.StorageTool format -t "$cluster_id" -c "$props" >/dev/null
  fi
  say "starting Kafka (log: $KAFKA_DIR/broker.log)"
  nohup "${java[@]}" kafka.Kafka "$props" >"$KAFKA_DIR/broker.log" 2>&1 &
  echo $! >"$KAFKA_PID"
  for _ in $(seq 1 120); do
    if port_open 9092 && grep -q "Kafka Server started\|started (kafka.server" "$KAFKA_DIR/broker.log"; then
      say "Kafka is up on 127.0.0.1:9092"; return
    fi
    if ! kill -0 "$(cat "$KAFKA_PID")" 2>/dev/null; then
      say "Kafka exited at start; last lines of its log:"; tail -20 "$KAFKA_DIR/broker.log"; exit 1
    fi
    sleep 1
  done
  say "Kafka did not answer within 120 s; see $KAFKA_DIR/broker.log"; exit 1
}

kafka_down() {
  if [ -f "$KAFKA_PID" ] && kill -0 "$(cat "$KAFKA_PID")" 2>/dev/null; then
    say "stopping Kafka"
    kill "$(cat "$KAFKA_PID")"
    for _ in $(seq 1 30); do kill -0 "$(cat "$KAFKA_PID")" 2>/dev/null || break; sleep 1; done
    kill -9 "$(cat "$KAFKA_PID")" 2>/dev/null || true
  fi
  rm -f "$KAFKA_PID"
}

pg_version() { ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1; }

pg_up() {
  if [ -z "$(pg_version)" ] || [ ! -x "/usr/lib/postgresql/$(pg_version)/bin/postgres" ]; then
    say "installing PostgreSQL from Debian's packages..."
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq postgresql >/dev/null
  fi
  local version; version=$(pg_version)
  if ! pg_lsclusters -h | awk '{print $2}' | grep -qx main; then
    say "creating the PostgreSQL $version cluster 'main'"
    pg_createcluster "$version" main --port 5432 >/dev/null
  fi
  if ! port_open 5432; then
    say "starting PostgreSQL $version"
    pg_ctlcluster "$version" main start
    mkdir -p "$STATE"; touch "$PG_MARK"
  fi
  for _ in $(seq 1 30); do
    su postgres -c "psql -qtAc 'select 1'" >/dev/null 2>&1 && break; sleep 1
  done
  su postgres -c "psql -v ON_ERROR_STOP=1 -qtA" >/dev/null <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$DB_USER') THEN
    CREATE ROLE $DB_USER LOGIN PASSWORD '$DB_PASSWORD' CREATEDB;
  END IF;
END \$\$;
SELECT 'CREATE DATABASE $DB_NAME OWNER $DB_USER' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$DB_NAME')\gexec
SQL
  say "PostgreSQL is up on 127.0.0.1:5432 (database $DB_NAME)"
}

pg_down() {
  if [ -f "$PG_MARK" ]; then
    say "stopping PostgreSQL"
    pg_ctlcluster "$(pg_version)" main stop || true
    rm -f "$PG_MARK"
  fi
}

browser_up() {
  if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then return; fi
  say "installing chromium and chromium-driver from Debian's packages (the console's browser tests)..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null
}

case "${1:-}" in
  up) pg_up; kafka_up; browser_up ;;
  fetch-kafka) mkdir -p "$KAFKA_DIR"; kafka_fetch ;;
  down) kafka_down; pg_down ;;
  status)
    port_open 9092 && say "Kafka: up" || say "Kafka: down"
    port_open 5432 && say "PostgreSQL: up" || say "PostgreSQL: down" ;;
  *) echo "usage: $0 up|down|status|fetch-kafka" >&2; exit 2 ;;
esac
