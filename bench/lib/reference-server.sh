# Sourced by bench/orthanc.sh and bench/janus.sh: what both do to run a reference server from
# Debian for one benchmark run (install it if missing, a scratch folder, free ports, wait for
# its API, stop it and clean up however the run ends). Sets `scratch` and `server_pid`.
# shellcheck shell=bash disable=SC2317  # cleanup runs from a trap

# apt_install_once TEST-COMMAND PACKAGE...: installs the packages unless the test succeeds.
apt_install_once() {
  local test=$1
  shift
  if ! eval "$test"; then
    local sudo
    sudo=$([ "$(id -u)" -eq 0 ] || echo sudo)
    $sudo apt-get update
    # The package's own service must not start: this run owns its server.
    $sudo env DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y --no-install-recommends "$@"
  fi
}

# scratch_for NAME: a scratch folder removed, with the server stopped, when the script ends.
scratch_for() {
  scratch=$(mktemp -d "${TMPDIR:-/tmp}/$1-bench.XXXXXX")
  server_pid=''
  trap _reference_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

_reference_cleanup() {
  trap '' INT TERM HUP
  if [ -n "$server_pid" ]; then
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$scratch"
}

# free_ports N: N free TCP ports on 127.0.0.1, on one line.
free_ports() {
  python3 -c '
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))' "$1"
}

# await_version NAME URL KEY LOG: prints the server's version (KEY of the JSON at URL) once it
# answers; fails with the end of its log if it died or did not answer within 30 s.
await_version() {
  local name=$1 url=$2 key=$3 log=$4 version
  for _ in $(seq 300); do
    version=$(python3 -c 'import json, sys, urllib.request
print(json.load(urllib.request.urlopen(sys.argv[1], timeout=2))[sys.argv[2]])' "$url" "$key" 2>/dev/null) && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "${version:-}" ]; then
    echo "$name did not start" >&2
    tail -n 30 "$log" >&2
    return 1
  fi
  echo "$version"
}

# run_command COMMAND...: runs the benchmark and exits with its status (the EXIT trap cleans up).
run_command() {
  local status=0
  "$@" || status=$?
  exit "$status"
}
