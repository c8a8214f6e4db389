#!/usr/bin/env bash
# System packages the test suite needs beyond the venv (installed once, idempotent: nothing
# is downloaded when everything is present, so `make test` can run offline afterwards).
# - chromium: renders the HTML report in a headless browser test;
# - setpriv (util-linux): runs the unreadable-file case as an unprivileged user under root;
# - ip (iproute2) and unshare (util-linux): .ci/run runs the suite in a network namespace.
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v setpriv >/dev/null 2>&1 || need+=(util-linux)
command -v unshare >/dev/null 2>&1 || need+=(util-linux)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian packages for the test suite: ${need[*]}"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "note: missing ${need[*]} and cannot install them here (not root or no apt-get)"
  fi
fi
# espeak-ng speaks synthetic test sentences at chosen pitch, speed and amplitude (voice tests)
if ! command -v espeak-ng >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian's espeak-ng for the voice arousal tests"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq espeak-ng >/dev/null
  else
    echo "note: espeak-ng not found and cannot be installed here; the voice tests will fail"
  fi
fi
