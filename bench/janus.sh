#!/usr/bin/env bash
# Usage: bench/janus.sh COMMAND [ARGS...]
#
# Runs COMMAND with JANUS_URL (the HTTP JSON API, e.g. http://127.0.0.1:PORT/janus) and
# JANUS_PID exported: Debian's `janus` (1.1.2, installed here if missing) started for the run
# from a throwaway configuration folder that is deleted afterwards. Only the VideoRoom plugin
# and the plain-HTTP transport are loaded (their folders hold nothing else); no STUN or TURN,
# no event handlers, host candidates only, so ICE stays on this machine. Only for bench/.
#
set -euo pipefail

if [ $# -eq 0 ]; then
  echo "usage: $0 COMMAND [ARGS...]" >&2
  exit 2
fi

source "$(dirname "$0")/lib/reference-server.sh"

lib=/usr/lib/x86_64-linux-gnu/janus
apt_install_once 'command -v janus >/dev/null && [ -e "$lib/plugins/libjanus_videoroom.so" ]' janus
scratch_for janus
http_port=$(free_ports 1)

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
server_pid=$!
version=$(await_version "janus.sh: Janus" "http://127.0.0.1:$http_port/janus/info" version_string "$scratch/janus.log")
echo "janus.sh: Janus $version, VideoRoom over HTTP on 127.0.0.1:$http_port (log $scratch/janus.log)" >&2

export JANUS_URL="http://127.0.0.1:$http_port/janus"
export JANUS_PID="$server_pid"
export JANUS_LOG="$scratch/janus.log"
run_command "$@"
