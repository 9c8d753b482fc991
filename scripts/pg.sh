#!/usr/bin/env bash
# A throwaway PostgreSQL server for tests, on loopback only: `scripts/pg.sh start` prints its URL,
# `scripts/pg.sh stop` stops it and deletes its data; both are idempotent.
# Installs Debian's postgresql if no server binaries are present. Runs as the postgres user when root.
#   BAOZHUANG_PG_DIR   data directory (default /tmp/baozhuang-pg)
#   BAOZHUANG_PG_PORT  port on 127.0.0.1 (default 55432)
#   BAOZHUANG_PG_DURABLE=1  keep PostgreSQL's durability settings (fsync, synchronous_commit, full_page_writes
#                      on, its defaults) for a new cluster, as benchmarks should; without it a test cluster skips
#                      the flushes. A cluster keeps what it was created with: stop it to change.
set -euo pipefail

DIR=${BAOZHUANG_PG_DIR:-/tmp/baozhuang-pg}
PORT=${BAOZHUANG_PG_PORT:-55432}
URL="postgresql+psycopg://postgres@127.0.0.1:${PORT}/postgres"

bindir() {
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

install_server() {
  [ -n "$(bindir)" ] && return 0
  SUDO=""
  [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null && SUDO="sudo"
  echo "==> installing Debian package: postgresql" >&2
  # wait for another apt or dpkg process (unattended upgrades, a parallel setup) instead of failing
  local attempt
  for attempt in $(seq 1 60); do
    if $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq >&2 &&
       DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq postgresql >/dev/null; then
      return 0
    fi
    echo "==> apt-get failed (another package manager holding the lock?); retrying in 10 s ($attempt/60)" >&2
    sleep 10
  done
  return 1
}

# Run a server binary as the cluster's owner: postgres refuses to run as root.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

running() {
  [ -f "$DIR/PG_VERSION" ] && as_owner "$BIN/pg_ctl" status -D "$DIR" >/dev/null 2>&1
}

start() {
  install_server
  BIN=$(bindir)
  if running; then
    echo "$URL"
    return 0
  fi
  if [ ! -f "$DIR/PG_VERSION" ]; then
    mkdir -p "$DIR"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$DIR"
    # C collation: the same byte order as SQLite, so ORDER BY on text agrees on both databases.
    as_owner "$BIN/initdb" -D "$DIR" -U postgres --auth=trust --encoding=UTF8 --locale=C >/dev/null
    cat >>"$DIR/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$DIR'
max_connections = 300
EOF
    if [ "${BAOZHUANG_PG_DURABLE:-0}" != 1 ]; then
      cat >>"$DIR/postgresql.conf" <<EOF
# A test server: its data may be lost on a crash, so skip the flushes.
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
    fi
  fi
  as_owner "$BIN/pg_ctl" start -D "$DIR" -l "$DIR/server.log" -w -t 60 >/dev/null
  echo "$URL"
}

stop() {
  BIN=$(bindir)
  if [ -n "$BIN" ] && running; then
    as_owner "$BIN/pg_ctl" stop -D "$DIR" -m fast -w >/dev/null
  fi
  # Only ever delete a directory that is a cluster.
  if [ -f "$DIR/PG_VERSION" ]; then rm -rf "$DIR"; fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  url) echo "$URL" ;;
  *) echo "usage: $0 start|stop|url" >&2; exit 2 ;;
esac
