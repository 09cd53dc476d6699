#!/usr/bin/env bash
# System tools the default test run needs, installed once per machine (CI runs
# `make test` as root on a possibly fresh machine): strace, ip (iproute2) and
# unshare (util-linux) for the test that runs a fresh `agentrag demo` in a
# loopback-only network namespace and fails on any attempt to reach another host.
set -euo pipefail

need=()
command -v strace >/dev/null || need+=(strace)
command -v ip >/dev/null || need+=(iproute2)
command -v unshare >/dev/null || need+=(util-linux)
[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
  echo "test_tools: installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
else
  echo "test_tools: missing ${need[*]}; install them (e.g. sudo apt-get install -y ${need[*]})" >&2
  exit 1
fi
