#!/usr/bin/env bash
# Installs Debian's fio when it is missing: FioToolsTest runs its fio_jsonplus_clat2csv on every
# JSON mqb writes (and fio itself recorded the reference files in experiments' test resources).
# Idempotent; as root or through sudo -n. Exit status: 0 when fio_jsonplus_clat2csv is present
# afterwards, 2 when it cannot install, 3 when apt-get failed, 4 when it is still missing.
set -euo pipefail
command -v fio_jsonplus_clat2csv >/dev/null 2>&1 && exit 0
source "$(dirname "${BASH_SOURCE[0]}")/apt-install.sh"
MQB_APT_ENV=()
mqb_apt_install install-fio-peers 600 fio python3
command -v fio_jsonplus_clat2csv >/dev/null 2>&1 || { echo "install-fio-peers: fio_jsonplus_clat2csv still missing" >&2; exit 4; }
