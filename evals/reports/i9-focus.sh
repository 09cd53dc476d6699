#!/usr/bin/env bash
# Issue 9, 3 December (second session): the gold_context ceiling, fewer passages on the fit split,
# the focused first read (evidence.focus) on the report sets, and the echo check (off).
# Each run resumes (records are per question); replies are memoised across methods.
source "$(dirname "$0")/i9-env.sh"
COMMON=(--interleave --window 2048 --no-judge --reply-cache runs/i9-reply-cache.sqlite)
# fit split only: naive retrieval with fewer passages (commit 086b743)
for k in 2 3; do
  $PY -m evals run --dataset hotpotqa --path $HP --offset 40 --limit 50 --methods naive_rag,gold_context --top-k $k \
      "${COMMON[@]}" --out runs/i9-fit-hotpotqa-41-90-top$k
done
# the focused read, fit split then report sets (commit a98914a)
CORE=naive_rag,full_context,adaptive_note,agentrag,agentrag_no_focus,agentrag_focus_answer,gold_context
$PY -m evals run --dataset hotpotqa --path $HP --offset 40 --limit 50 --methods $CORE "${COMMON[@]}" \
    --out runs/i9-focus-fit-hotpotqa-41-90
ABL=agentrag_no_judge,agentrag_no_revision,agentrag_fixed_route,agentrag_notes
$PY -m evals run --dataset hotpotqa --path $HP --limit 40 --methods $CORE,closed_book,iter_retgen,$ABL "${COMMON[@]}" \
    --out runs/i9-focus-hotpotqa-40
$PY -m evals run --dataset locomo --path $LO --samples conv-26 --per-category 12 \
    --methods $CORE,closed_book,iter_retgen,facts_only,$ABL,agentrag_derived \
    "${COMMON[@]}" --out runs/i9-focus-locomo-conv26-60
$PY -m evals run --dataset musique --path $MU --limit 30 --methods $CORE,closed_book,iter_retgen,$ABL "${COMMON[@]}" \
    --out runs/i9-focus-musique-30
$PY -m evals run --dataset hotpotqa --path $HP --offset 90 --limit 120 --methods $CORE "${COMMON[@]}" \
    --out runs/i9-focus-hotpotqa-91-210
# the echo check (decisions.echo_retry, off by default; run at b3ac816 with 1be54f3's change applied)
ECHO=naive_rag,agentrag_no_focus,agentrag_echo_retry
$PY -m evals run --dataset hotpotqa --path $HP --offset 40 --limit 50 --methods $ECHO "${COMMON[@]}" --out runs/i9-echo-fit-hotpotqa-41-90
$PY -m evals run --dataset hotpotqa --path $HP --offset 90 --limit 120 --methods $ECHO "${COMMON[@]}" --out runs/i9-echo-hotpotqa-91-210
$PY -m evals run --dataset hotpotqa --path $HP --limit 40 --methods $ECHO "${COMMON[@]}" --out runs/i9-echo-hotpotqa-40
$PY -m evals run --dataset locomo --path $LO --samples conv-26 --per-category 12 --methods $ECHO "${COMMON[@]}" \
    --out runs/i9-echo-locomo-conv26-60
# Note: the committed i9-echo-* folders were run before the focused read existed, when `agentrag` had no focused
# read; at today's head that method is `agentrag_no_focus`, and agentrag_echo_retry now reads first too.
