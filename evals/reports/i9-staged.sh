#!/usr/bin/env bash
# The issue-9 re-run in growing, balanced stages, so a run cut short still holds paired results
# on every dataset and every LoCoMo category: core methods (naive_rag, adaptive_note, agentrag) on
# 3 LoCoMo questions per category and 10 HotpotQA questions, then 6 / 20, then 12 / 40, then
# MuSiQue, then every other method and the ablations. Each step resumes (records are per question);
# replies are memoised across methods and datasets (greedy decoding: same answers).
set -u
cd "$(dirname "$0")/../.."
export PYTHONPATH=$PWD AGENTRAG_CACHE_DIR=${AGENTRAG_CACHE_DIR:-/root/.cache/agentrag} HF_HUB_OFFLINE=1
PY=.venv/bin/python
HP=../shared/data/hotpotqa/hotpotqa.dev.jsonl
LO=../shared/data/locomo/locomo10.dev.json
MU=../shared/data/musique/musique.dev.jsonl
[ -f "$HP" ] || { HP=/work/shared/data/hotpotqa/hotpotqa.dev.jsonl; LO=/work/shared/data/locomo/locomo10.dev.json; MU=/work/shared/data/musique/musique.dev.jsonl; }
CORE=naive_rag,adaptive_note,agentrag
REST=closed_book,full_context,iter_retgen,facts_only,agentrag_fixed_route,agentrag_no_judge,agentrag_notes,agentrag_no_revision,agentrag_derived
COMMON=(--interleave --window 2048 --no-judge --reply-cache runs/i9-reply-cache.sqlite)
locomo() { $PY -m evals run --dataset locomo --path $LO --samples conv-26 --per-category "$1" --methods "$2" "${COMMON[@]}" --out runs/i9-locomo-conv26; }
hotpot() { $PY -m evals run --dataset hotpotqa --path $HP --limit "$1" --methods "$2" "${COMMON[@]}" --out runs/i9-hotpotqa-40; }
musique() { $PY -m evals run --dataset musique --path $MU --limit "$1" --methods "$2" "${COMMON[@]}" --out runs/i9-musique-30; }
for n in 3 6 12; do locomo $n $CORE; hotpot $((n * 10 / 3)) $CORE; done
hotpot 40 $CORE
musique 30 $CORE
locomo 12 $CORE,$REST
hotpot 40 $CORE,$REST
musique 30 $CORE,$REST
