#!/usr/bin/env bash
# Usage: bench/orthanc.sh COMMAND [ARGS...]
#
# Runs COMMAND with ORTHANC_URL exported: the DICOMweb root of an Orthanc (Debian's `orthanc`
# and `orthanc-dicomweb`, installed here if missing) started for the run on a free port on
# 127.0.0.1, with its index and files in a scratch folder that is deleted afterwards. Orthanc
# keeps its stock settings (SQLite index, 50 HTTP threads, no compression) except ports and
# folders, so the benchmark compares against Orthanc as Debian ships it. Only for bench/.
#
# shellcheck disable=SC2317  # cleanup runs from a trap
set -euo pipefail

if [ $# -eq 0 ]; then
  echo "usage: $0 COMMAND [ARGS...]" >&2
  exit 2
fi

plugin=/usr/share/orthanc/plugins/libOrthancDicomWeb.so
if ! command -v Orthanc >/dev/null || [ ! -e "$plugin" ]; then
  sudo=$([ "$(id -u)" -eq 0 ] || echo sudo)
  $sudo apt-get update
  # The package's own service must not start: this run owns its Orthanc.
  $sudo env DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y --no-install-recommends orthanc orthanc-dicomweb
fi

scratch=$(mktemp -d "${TMPDIR:-/tmp}/orthanc-bench.XXXXXX")
orthanc_pid=''
cleanup() {
  trap '' INT TERM HUP
  if [ -n "$orthanc_pid" ]; then
    kill -TERM "$orthanc_pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$orthanc_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$orthanc_pid" 2>/dev/null || true
  fi
  rm -rf "$scratch"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

read -r http_port dicom_port < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))')

cat >"$scratch/orthanc.json" <<EOF
{
  "Name": "bench",
  "StorageDirectory": "$scratch/storage",
  "IndexDirectory": "$scratch/storage",
  "HttpPort": $http_port,
  "DicomPort": $dicom_port,
  "RemoteAccessAllowed": false,
  "AuthenticationEnabled": false,
  "Plugins": ["$plugin"],
  "DicomWeb": {"Enable": true, "Root": "/dicom-web/", "Host": "127.0.0.1:$http_port"}
}
EOF
Orthanc "$scratch/orthanc.json" >"$scratch/orthanc.log" 2>&1 &
orthanc_pid=$!

# Prints Orthanc's version once it answers.
version() {
  python3 -c 'import json, sys, urllib.request
print(json.load(urllib.request.urlopen(sys.argv[1], timeout=2))["Version"])' "http://127.0.0.1:$http_port/system" 2>/dev/null
}
for _ in $(seq 300); do
  version >/dev/null && break
  kill -0 "$orthanc_pid" 2>/dev/null || break
  sleep 0.1
done
if ! version=$(version); then
  echo "orthanc.sh: Orthanc did not start" >&2
  tail -n 20 "$scratch/orthanc.log" >&2
  exit 1
fi
echo "orthanc.sh: Orthanc $version with DICOMweb on 127.0.0.1:$http_port (storage $scratch)" >&2

export ORTHANC_URL="http://127.0.0.1:$http_port/dicom-web"
export ORTHANC_PID="$orthanc_pid"
status=0
"$@" || status=$?
exit "$status"
