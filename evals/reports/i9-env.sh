# Sourced by the i9-*.sh reproduce scripts: run from the checkout's root with its venv, offline,
# on the dev files in ../shared/data.
set -u
cd "$(dirname "${BASH_SOURCE[1]}")/../.."
export PYTHONPATH=$PWD AGENTRAG_CACHE_DIR=${AGENTRAG_CACHE_DIR:-$HOME/.cache/agentrag} HF_HUB_OFFLINE=1
PY=.venv/bin/python
HP=../shared/data/hotpotqa/hotpotqa.dev.jsonl
LO=../shared/data/locomo/locomo10.dev.json
MU=../shared/data/musique/musique.dev.jsonl
