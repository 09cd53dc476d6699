#!/usr/bin/env bash
# Issue 9, 3 December: HotpotQA dev questions never used before (91-170, 171-210), the fit split
# with full_context, and the answer-order experiment (evidence.order) on the report sets.
# Each run resumes (records are per question); replies are memoised across methods.
source "$(dirname "$0")/i9-env.sh"
COMMON=(--interleave --window 2048 --no-judge --reply-cache runs/i9-reply-cache.sqlite)
$PY -m evals run --dataset hotpotqa --path $HP --offset 90 --limit 80 --methods naive_rag,agentrag,adaptive_note,full_context \
    "${COMMON[@]}" --out runs/i9-hotpotqa-held-91-170
$PY -m evals run --dataset hotpotqa --path $HP --offset 170 --limit 40 \
    --methods naive_rag,agentrag,agentrag_floor_last,adaptive_note,full_context "${COMMON[@]}" --out runs/i9-hotpotqa-fresh-171-210
$PY -m evals run --dataset hotpotqa --path $HP --offset 40 --limit 40 --methods naive_rag,agentrag,agentrag_floor_last,full_context \
    "${COMMON[@]}" --out runs/i9-fit-hotpotqa-41-80-order
$PY -m evals run --dataset locomo --path $LO --samples conv-26 --per-category 12 --methods naive_rag,adaptive_note,agentrag,agentrag_floor_last \
    "${COMMON[@]}" --out runs/i9-order-locomo-conv26-60
$PY -m evals run --dataset hotpotqa --path $HP --limit 40 --methods naive_rag,adaptive_note,agentrag,agentrag_floor_last \
    "${COMMON[@]}" --out runs/i9-order-hotpotqa-40
$PY -m evals run --dataset musique --path $MU --limit 30 --methods naive_rag,adaptive_note,agentrag,agentrag_floor_last \
    "${COMMON[@]}" --out runs/i9-order-musique-30
# Note: the folders in evals/reports were made before `evidence.order` defaulted back to floor_first:
# there `agentrag` at fbb42b3 ran floor_last and was renamed agentrag_floor_last, and
# agentrag_floor_first renamed agentrag (records and config only; reports rebuilt with
# `python -m evals report`). adaptive_note in the i9-order-* and fresh folders ran with floor_last.
# MuSiQue dev questions 31-70 (the router's training questions: a check, not held out)
$PY -m evals run --dataset musique --path $MU --offset 30 --limit 40 --methods naive_rag,agentrag,adaptive_note,full_context \
    "${COMMON[@]}" --out runs/i9-musique-31-70
