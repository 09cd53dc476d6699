#!/usr/bin/env bash
# Issue 9, 3 December (fourth session): the answer prompt ends with the focused read's passages
# (evidence.order: focus_last), chosen on the four fit sets at 5019ce6 (there as agentrag_focus_last),
# then run at 86a1832 (the committed folders), where it is the default and agentrag_floor_first the ablation.
# Replies are memoised across methods.
source "$(dirname "$0")/i9-env.sh"
COMMON=(--interleave --window 2048 --no-judge --reply-cache runs/i9-reply-cache.sqlite)
CORE=naive_rag,full_context,adaptive_note,agentrag,agentrag_floor_first,agentrag_no_focus,gold_context
# report sets: the new default against every baseline and the previous order
$PY -m evals run --dataset hotpotqa --path $HP --limit 40 --methods $CORE,closed_book,iter_retgen "${COMMON[@]}" --out runs/i9-fl-hotpotqa-40
$PY -m evals run --dataset hotpotqa --path $HP --offset 90 --limit 120 --methods $CORE "${COMMON[@]}" --out runs/i9-fl-hotpotqa-91-210
$PY -m evals run --dataset locomo --path $LO --samples conv-26 --per-category 12 --methods $CORE,closed_book,iter_retgen "${COMMON[@]}" --out runs/i9-fl-locomo-conv26-60
$PY -m evals run --dataset musique --path $MU --limit 30 --methods $CORE,closed_book,iter_retgen "${COMMON[@]}" --out runs/i9-fl-musique-30
# fit sets (the choice was made on these, at 5019ce6 as agentrag_focus_last; all replies cached)
FIT=naive_rag,agentrag,agentrag_floor_first
$PY -m evals run --dataset hotpotqa --path $HP --offset 40 --limit 50 --methods $FIT "${COMMON[@]}" --out runs/i9-fl-fit-hotpotqa-41-90
$PY -m evals run --dataset locomo --path $LO --samples conv-30 --per-category 12 --methods $FIT "${COMMON[@]}" --out runs/i9-fl-fit-locomo-conv30
$PY -m evals run --dataset locomo --path $LO --samples conv-41 --per-category 12 --methods $FIT "${COMMON[@]}" --out runs/i9-fl-fit-locomo-conv41
$PY -m evals run --dataset musique --path $MU --offset 30 --limit 40 --methods $FIT "${COMMON[@]}" --out runs/i9-fl-fit-musique-31-70
# the ablations at this commit (agentrag and naive_rag again for pairing; cached)
ABL=naive_rag,agentrag,agentrag_no_judge,agentrag_no_revision,agentrag_fixed_route,agentrag_notes,agentrag_focus_rank,agentrag_focus_answer
$PY -m evals run --dataset hotpotqa --path $HP --limit 40 --methods $ABL "${COMMON[@]}" --out runs/i9-fl-abl-hotpotqa-40
$PY -m evals run --dataset musique --path $MU --limit 30 --methods $ABL "${COMMON[@]}" --out runs/i9-fl-abl-musique-30
$PY -m evals run --dataset locomo --path $LO --samples conv-26 --per-category 12 --methods $ABL,facts_only,agentrag_derived "${COMMON[@]}" --out runs/i9-fl-abl-locomo-conv26-60
# afterwards, because the report conversation showed agentrag_no_focus ahead: does the focused read pay on the
# LoCoMo fit conversations? (score +0.003 / +0.001, over-abstention 0.171 vs 0.143 and 0.045 vs 0.091: no change made)
for c in 30 41; do
  $PY -m evals run --dataset locomo --path $LO --samples conv-$c --per-category 12 --methods naive_rag,agentrag,agentrag_no_focus \
      "${COMMON[@]}" --out runs/i9-fl-fit-nofocus-locomo-conv$c
done
