# Sourced by the scripts that install real peers from Debian (install-nbd-peers.sh,
# install-vhost-peers.sh, guest/install-guest-peers.sh): one way to install what is missing.
#
# mqb_apt_install WHO SECONDS PACKAGE...: installs the packages with apt-get, as root or through
# sudo -n, non-interactively, apt-get update once, every step bounded (an unreachable mirror fails
# with a message rather than hanging); SECONDS bounds the install itself. Extra `env` settings for
# apt-get go in the array MQB_APT_ENV. Exit status (it exits, it does not return, on failure):
# 2 when it cannot install (not root, no passwordless sudo, no apt-get), 3 when apt-get failed.
mqb_apt_install() {
  local who=$1 seconds=$2
  shift 2
  local -a as_root
  if [[ $(id -u) -eq 0 ]]; then
    as_root=()
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
  else
    echo "$who: missing $*, and not root with no passwordless sudo; install them by hand" >&2
    exit 2
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "$who: missing $* and no apt-get on this machine" >&2
    exit 2
  fi
  local -a apt_opts=(-o Acquire::Retries=1 -o Acquire::http::Timeout=20 -o Acquire::https::Timeout=20
                     -o DPkg::Lock::Timeout=120)
  export DEBIAN_FRONTEND=noninteractive
  echo "$who: installing $*" >&2
  timeout 300 "${as_root[@]}" apt-get "${apt_opts[@]}" update -qq \
    || { echo "$who: apt-get update failed (is a Debian mirror reachable?)" >&2; exit 3; }
  timeout "$seconds" "${as_root[@]}" env "${MQB_APT_ENV[@]}" apt-get "${apt_opts[@]}" install -y -qq \
      --no-install-recommends "$@" \
    || { echo "$who: apt-get install $* failed" >&2; exit 3; }
}
