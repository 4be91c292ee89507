#!/usr/bin/env bash
# Installs the real components the test suite runs against: Prometheus and promtool (Debian package), Debian's
# chromium for the report's browser test (driven by playwright-core; nothing downloads a browser), and Go for
# `go tool pprof`, which reads the profiler's files as users do (golang-go).
# Idempotent; needs root (CI and the development machines run as root).
set -euo pipefail
missing=()
command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v go >/dev/null 2>&1 || missing+=(golang-go)
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The Prometheus package's service is not needed (tests start their own on 127.0.0.1); stop it where an init
# system started it.
(service prometheus stop >/dev/null 2>&1 || true)
command -v prometheus >/dev/null && command -v promtool >/dev/null && command -v chromium >/dev/null && command -v go >/dev/null
