#!/usr/bin/env bash
# Usage: bench/janus.sh COMMAND [ARGS...]
#
# Runs COMMAND with JANUS_URL (the HTTP JSON API, e.g. http://127.0.0.1:PORT/janus) and
# JANUS_PID exported: Debian's `janus` (1.1.2, installed here if missing) started for the run
# from a throwaway configuration folder that is deleted afterwards. Only the VideoRoom plugin
# and the plain-HTTP transport are loaded (their folders hold nothing else); no STUN or TURN,
# no event handlers, host candidates only, so ICE stays on this machine. Only for bench/.
#
# shellcheck disable=SC2317  # cleanup runs from a trap
set -euo pipefail

if [ $# -eq 0 ]; then
  echo "usage: $0 COMMAND [ARGS...]" >&2
  exit 2
fi

lib=/usr/lib/x86_64-linux-gnu/janus
if ! command -v janus >/dev/null || [ ! -e "$lib/plugins/libjanus_videoroom.so" ]; then
  sudo=$([ "$(id -u)" -eq 0 ] || echo sudo)
  $sudo apt-get update
  # The package's own service must not start: this run owns its Janus.
  $sudo env DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y --no-install-recommends janus
fi

scratch=$(mktemp -d "${TMPDIR:-/tmp}/janus-bench.XXXXXX")
janus_pid=''
cleanup() {
  trap '' INT TERM HUP
  if [ -n "$janus_pid" ]; then
    kill -TERM "$janus_pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$janus_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$janus_pid" 2>/dev/null || true
  fi
  rm -rf "$scratch"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

http_port=$(python3 -c '
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])')

# Janus loads every library in its plugin and transport folders: these hold one each.
mkdir -p "$scratch/conf" "$scratch/plugins" "$scratch/transports" "$scratch/events" "$scratch/loggers"
ln -s "$lib/plugins/libjanus_videoroom.so" "$scratch/plugins/"
ln -s "$lib/transports/libjanus_http.so" "$scratch/transports/"

cat >"$scratch/conf/janus.jcfg" <<CFG
general: {
	configs_folder = "$scratch/conf"
	plugins_folder = "$scratch/plugins"
	transports_folder = "$scratch/transports"
	events_folder = "$scratch/events"
	loggers_folder = "$scratch/loggers"
	debug_level = 4
	server_name = "bench"
	session_timeout = 60
}
media: {
	rtp_port_range = "20000-40000"
}
nat: {
	nice_debug = false
	ignore_mdns = true
}
events: {
	broadcast = false
}
CFG
cat >"$scratch/conf/janus.transport.http.jcfg" <<CFG
general: {
	json = "compact"
	base_path = "/janus"
	http = true
	port = $http_port
	ip = "127.0.0.1"
	https = false
}
admin: {
	admin_http = false
	admin_https = false
}
CFG
# No rooms configured: the benchmark creates its own through the API.
cat >"$scratch/conf/janus.plugin.videoroom.jcfg" <<CFG
general: {
}
CFG

janus -C "$scratch/conf/janus.jcfg" -F "$scratch/conf" -o >"$scratch/janus.log" 2>&1 &
janus_pid=$!

# Prints Janus's version once its API answers.
version() {
  python3 -c 'import json, sys, urllib.request
print(json.load(urllib.request.urlopen(sys.argv[1], timeout=2))["version_string"])' "http://127.0.0.1:$http_port/janus/info" 2>/dev/null
}
for _ in $(seq 300); do
  version >/dev/null && break
  kill -0 "$janus_pid" 2>/dev/null || break
  sleep 0.1
done
if ! version=$(version); then
  echo "janus.sh: Janus did not start" >&2
  tail -n 30 "$scratch/janus.log" >&2
  exit 1
fi
echo "janus.sh: Janus $version, VideoRoom over HTTP on 127.0.0.1:$http_port (log $scratch/janus.log)" >&2

export JANUS_URL="http://127.0.0.1:$http_port/janus"
export JANUS_PID="$janus_pid"
export JANUS_LOG="$scratch/janus.log"
status=0
"$@" || status=$?
exit "$status"
