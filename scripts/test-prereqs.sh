#!/usr/bin/env bash
# System packages the test suite needs beyond the venv (installed once, idempotent).
# Chromium renders the HTML report in a headless browser test.
set -euo pipefail
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian's chromium for the report rendering test"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "note: chromium not found and cannot be installed here; the browser test will be skipped"
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
