#!/usr/bin/env bash
# The issue-9 re-run, one run at a time (2 shared CPU cores): HotpotQA core methods first
# (interleaved, so a run cut short still holds paired results), then the other baselines and
# the ablations, then LoCoMo conv-26, then MuSiQue. Each step resumes if re-run. Replies are
# memoised in one SQLite file across methods and datasets (greedy decoding: same answers).
set -u
cd "$(dirname "$0")/../.."
export PYTHONPATH=$PWD AGENTRAG_CACHE_DIR=${AGENTRAG_CACHE_DIR:-/root/.cache/agentrag} HF_HUB_OFFLINE=1
PY=.venv/bin/python
CACHE=(--reply-cache runs/i9-reply-cache.sqlite)
HP=../../shared/data/hotpotqa/hotpotqa.dev.jsonl
LO=../../shared/data/locomo/locomo10.dev.json
MU=../../shared/data/musique/musique.dev.jsonl
[ -f "$HP" ] || { HP=/work/shared/data/hotpotqa/hotpotqa.dev.jsonl; LO=/work/shared/data/locomo/locomo10.dev.json; MU=/work/shared/data/musique/musique.dev.jsonl; }
CORE=naive_rag,adaptive_note,agentrag
REST=closed_book,full_context,iter_retgen,facts_only,agentrag_fixed_route,agentrag_no_judge,agentrag_no_notes,agentrag_no_revision,agentrag_derived
ALL=$CORE,$REST
$PY -m evals run --dataset hotpotqa --path $HP --limit 40 --methods $CORE --interleave --window 2048 --no-judge "${CACHE[@]}" --out runs/i9-hotpotqa-40
$PY -m evals run --dataset hotpotqa --path $HP --limit 40 --methods $ALL --interleave --window 2048 --no-judge "${CACHE[@]}" --out runs/i9-hotpotqa-40
$PY -m evals run --dataset locomo --path $LO --samples conv-26 --per-category 12 --methods $CORE --interleave --window 2048 --no-judge "${CACHE[@]}" --out runs/i9-locomo-conv26
$PY -m evals run --dataset locomo --path $LO --samples conv-26 --per-category 12 --methods $ALL --interleave --window 2048 --no-judge "${CACHE[@]}" --out runs/i9-locomo-conv26
$PY -m evals run --dataset musique --path $MU --limit 30 --methods $ALL --interleave --window 2048 --no-judge "${CACHE[@]}" --out runs/i9-musique-30
