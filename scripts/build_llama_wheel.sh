#!/usr/bin/env bash
# Build llama-cpp-python once per machine and keep the wheel in a cache folder.
# PyPI ships it as source only; compiling takes ~13 minutes on 2 cores, so the
# wheel is cached outside the checkout and reused by every later install.
# Progress is shown as the compiler's [done/total] step counter.
set -euo pipefail
wheels="${1:?usage: build_llama_wheel.sh WHEEL_DIR [PIP]}"
pip="${2:-pip}"
version="${LLAMA_CPP_VERSION:-0.3.36}"
mkdir -p "$wheels"
if ls "$wheels"/llama_cpp_python-"$version"-*.whl >/dev/null 2>&1; then
  echo "llama-cpp-python $version: using cached wheel in $wheels"
  exit 0
fi
echo "llama-cpp-python $version: compiling from source once (about 13 min on 2 cores); cached in $wheels"
log="$wheels/build-$version.log"
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}"
export CMAKE_ARGS="${CMAKE_ARGS:--DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_TOOLS=OFF}"
set +e
$pip wheel --no-deps -v "llama-cpp-python==$version" -w "$wheels" 2>&1 | tee "$log" \
  | grep --line-buffered -oE '^\s*\[[0-9]+/[0-9]+\]' \
  | while read -r step; do
      if [ -t 1 ]; then printf '\r  compiling %s' "$step"; else
        n=${step#[}; n=${n%%/*}; [ $((n % 20)) -eq 0 ] && echo "  compiling $step"; fi
    done
status=${PIPESTATUS[0]}
set -e
[ -t 1 ] && echo
if [ "$status" -ne 0 ]; then
  echo "llama-cpp-python build failed (exit $status); last lines of $log:" >&2
  tail -n 30 "$log" >&2
  exit "$status"
fi
echo "llama-cpp-python $version: built $(ls "$wheels"/llama_cpp_python-"$version"-*.whl)"
