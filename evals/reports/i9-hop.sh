#!/usr/bin/env bash
# Issue 9, 3 December (third session): the focused read's second hop (evidence.focus_pick: hop) and the
# speaker-attribution margin refit at over-abstention <= 0.08 (python -m evals.calibrate_attribution).
# Run at commit 6885bff (the committed folders); replies are memoised across methods.
source "$(dirname "$0")/i9-env.sh"
COMMON=(--interleave --window 2048 --no-judge --reply-cache runs/i9-reply-cache.sqlite)
CORE=naive_rag,full_context,adaptive_note,agentrag,agentrag_no_focus,agentrag_focus_rank,gold_context
# fit data: HotpotQA 41-90 and the LoCoMo fit conversation conv-30 (never reported as results)
$PY -m evals run --dataset hotpotqa --path $HP --offset 40 --limit 50 --methods $CORE "${COMMON[@]}" \
    --out runs/i9-hop-fit-hotpotqa-41-90
$PY -m evals run --dataset locomo --path $LO --samples conv-30 --per-category 12 \
    --methods naive_rag,agentrag,agentrag_focus_rank "${COMMON[@]}" --out runs/i9-hop-fit-locomo-conv30
# report sets
$PY -m evals run --dataset hotpotqa --path $HP --limit 40 --methods $CORE,closed_book,iter_retgen "${COMMON[@]}" \
    --out runs/i9-hop-hotpotqa-40
$PY -m evals run --dataset locomo --path $LO --samples conv-26 --per-category 12 \
    --methods $CORE,closed_book,iter_retgen "${COMMON[@]}" --out runs/i9-hop-locomo-conv26-60
$PY -m evals run --dataset musique --path $MU --limit 30 --methods $CORE,closed_book,iter_retgen "${COMMON[@]}" \
    --out runs/i9-hop-musique-30
$PY -m evals run --dataset hotpotqa --path $HP --offset 90 --limit 120 --methods $CORE "${COMMON[@]}" \
    --out runs/i9-hop-hotpotqa-91-210
