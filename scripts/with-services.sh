#!/usr/bin/env bash
# Usage: scripts/with-services.sh COMMAND [ARGS...]
#
# Runs COMMAND against a throwaway PostgreSQL cluster and a throwaway Redis,
# each on a free port on 127.0.0.1, with DATABASE_URL and REDIS_URL exported.
# Both are stopped and their scratch folder deleted when the command ends,
# fails or is interrupted; the script exits with the command's exit code.
# Several copies can run at once (own scratch folder, own ports).
#
# shellcheck disable=SC2317  # cleanup/on_signal run from traps, not "unreachable"
set -euo pipefail

if [ $# -eq 0 ]; then
  echo "usage: $0 COMMAND [ARGS...]" >&2
  exit 2
fi

# Server binaries live outside PATH on Debian (/usr/lib/postgresql/N/bin).
pg_bin=$(pg_config --bindir 2>/dev/null || true)
if [ ! -x "$pg_bin/initdb" ]; then
  pg_bin=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
fi
if [ ! -x "$pg_bin/initdb" ]; then
  echo "with-services: PostgreSQL server binaries not found (make system-deps-test)" >&2
  exit 1
fi

scratch=$(mktemp -d "${TMPDIR:-/tmp}/telemed-services.XXXXXX")
redis_pid='' pg_pid='' cmd_pid='' show_logs=1

# initdb and postgres refuse to run as root: run them as `postgres`, in a
# scratch folder that user owns (and cd there: it may not be able to enter $PWD).
as_pg=()
if [ "$(id -u)" -eq 0 ]; then
  as_pg=(runuser -u postgres --)
  chown postgres: "$scratch"
fi

# Poll until process $1 is gone, sending SIGKILL after $2 tenths of a second.
# (Not `wait`: inside a trap, bash 5.2 can hang waiting for a reaped child.)
wait_gone() {
  local n=0
  while kill -0 "$1" 2>/dev/null; do
    if [ $((n += 1)) -eq "$2" ]; then kill -KILL "$1" 2>/dev/null || true; fi
    sleep 0.1
  done
}

cleanup() {
  trap '' INT TERM HUP # a second Ctrl-C must not cut the cleanup short
  if [ -n "$redis_pid" ]; then
    kill -TERM "$redis_pid" 2>/dev/null || true
    wait_gone "$redis_pid" 100
  fi
  if [ -n "$pg_pid" ]; then # immediate shutdown: nothing here is worth keeping
    (cd "$scratch" && "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$scratch/pg" -m immediate -w stop) \
      >/dev/null 2>&1 || kill -TERM "$pg_pid" 2>/dev/null || true
    wait_gone "$pg_pid" 100
  fi
  if [ -n "$show_logs" ]; then # setup failed: show why
    tail -n 20 "$scratch"/*.log >&2 2>/dev/null || true
  fi
  rm -rf "$scratch"
}
trap cleanup EXIT

# Ctrl-C in a terminal reaches the command by itself (same process group).
# Give it 2 s to stop on its own, then pass the signal on (it may have been
# sent to this script alone), then 30 s more before SIGKILL; clean up via EXIT.
on_signal() {
  show_logs=''
  if [ -n "$cmd_pid" ]; then
    for _ in $(seq 20); do kill -0 "$cmd_pid" 2>/dev/null || break; sleep 0.1; done
    kill -"$1" "$cmd_pid" 2>/dev/null || true
    wait_gone "$cmd_pid" 300
  fi
  exit "$2"
}
trap 'on_signal INT 130' INT
trap 'on_signal TERM 143' TERM
trap 'on_signal HUP 129' HUP

# Two distinct free ports: bind both to port 0 at the same time.
read -r pg_port redis_port < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))')

# Both servers are our own children, so we reap them (nothing is left to
# init), each in its own session, so a Ctrl-C meant for the command does not
# shut them down under it. Redis first: it is up long before PostgreSQL.
setsid redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no \
  --daemonize no --dir "$scratch" >"$scratch/redis.log" 2>&1 &
redis_pid=$!

(cd "$scratch" && "${as_pg[@]}" "$pg_bin/initdb" -D "$scratch/pg" -U postgres \
  --auth=trust -E UTF8 --locale=C.UTF-8) >"$scratch/initdb.log" 2>&1
# Only reachable from 127.0.0.1 and a socket inside the scratch folder, so
# trust auth is fine. Durability is pointless for a throwaway cluster.
cat >>"$scratch/pg/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $pg_port
unix_socket_directories = '$scratch'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
(cd "$scratch" && exec setsid "${as_pg[@]}" "$pg_bin/postgres" -D "$scratch/pg") \
  >"$scratch/postgres.log" 2>&1 &
pg_pid=$!

for _ in $(seq 300); do
  "$pg_bin/pg_isready" -q -h 127.0.0.1 -p "$pg_port" && break
  kill -0 "$pg_pid" 2>/dev/null || break
  sleep 0.1
done
"$pg_bin/pg_isready" -q -h 127.0.0.1 -p "$pg_port" || {
  echo "with-services: PostgreSQL did not start" >&2
  exit 1
}
# pytest-django creates test_telemed, hence CREATEDB.
"$pg_bin/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres \
  -c 'CREATE ROLE telemed LOGIN CREATEDB' -c 'CREATE DATABASE telemed OWNER telemed'

for _ in $(seq 100); do
  [ "$(redis-cli -p "$redis_port" ping 2>/dev/null)" = PONG ] && break
  kill -0 "$redis_pid" 2>/dev/null || break
  sleep 0.1
done
[ "$(redis-cli -p "$redis_port" ping 2>/dev/null)" = PONG ] || {
  echo "with-services: redis-server did not start" >&2
  exit 1
}

export DATABASE_URL="postgres://telemed@127.0.0.1:$pg_port/telemed"
export REDIS_URL="redis://127.0.0.1:$redis_port/0"
show_logs=''
echo "with-services: PostgreSQL on 127.0.0.1:$pg_port, Redis on 127.0.0.1:$redis_port" >&2

# Run the command in the background so the traps above fire at once, but keep
# its stdin (0<&0) and let it see Ctrl-C (bash ignores SIGINT in background
# jobs of scripts; `trap - INT` in the subshell undoes that).
(trap - INT; exec "$@") 0<&0 &
cmd_pid=$!
status=0
wait "$cmd_pid" || status=$?
cmd_pid=''
exit "$status"
