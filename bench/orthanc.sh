#!/usr/bin/env bash
# Usage: bench/orthanc.sh COMMAND [ARGS...]
#
# Runs COMMAND with ORTHANC_URL exported: the DICOMweb root of an Orthanc (Debian's `orthanc`
# and `orthanc-dicomweb`, installed here if missing) started for the run on a free port on
# 127.0.0.1, with its index and files in a scratch folder that is deleted afterwards. Orthanc
# keeps its stock settings (SQLite index, 50 HTTP threads, no compression) except ports and
# folders, so the benchmark compares against Orthanc as Debian ships it. Only for bench/.
#
set -euo pipefail

if [ $# -eq 0 ]; then
  echo "usage: $0 COMMAND [ARGS...]" >&2
  exit 2
fi

source "$(dirname "$0")/lib/reference-server.sh"

plugin=/usr/share/orthanc/plugins/libOrthancDicomWeb.so
apt_install_once 'command -v Orthanc >/dev/null && [ -e "$plugin" ]' orthanc orthanc-dicomweb
scratch_for orthanc
read -r http_port dicom_port < <(free_ports 2)

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
server_pid=$!
version=$(await_version "orthanc.sh: Orthanc" "http://127.0.0.1:$http_port/system" Version "$scratch/orthanc.log")
echo "orthanc.sh: Orthanc $version with DICOMweb on 127.0.0.1:$http_port (storage $scratch)" >&2

export ORTHANC_URL="http://127.0.0.1:$http_port/dicom-web"
export ORTHANC_PID="$server_pid"
run_command "$@"
