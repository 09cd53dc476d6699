#!/usr/bin/env bash
# Issue 9, 3 December (fifth session): the speaker-attribution check also searches the other side
# without the name and leaves out turns that address the listener (fit on six LoCoMo conversations by
# python -m evals.calibrate_attribution, margin 0). LoCoMo only: HotpotQA and MuSiQue have no speakers,
# so their answers cannot change. Every LoCoMo method is re-run here because this machine's llama.cpp build
# gave different replies to identical prompts than the one that made i9-fl-* (4 of the first 14 naive_rag
# answers differ). Two invocations into one folder (a re-run resumes and adds methods), replies memoised.
source "$(dirname "$0")/i9-env.sh"
COMMON=(--interleave --window 2048 --no-judge --reply-cache runs/i9-reply-cache.sqlite)
OUT=runs/i9-at-locomo-conv26-60
$PY -m evals run --dataset locomo --path $LO --samples conv-26 --per-category 12 --methods naive_rag,agentrag "${COMMON[@]}" --out $OUT
$PY -m evals run --dataset locomo --path $LO --samples conv-26 --per-category 12 \
    --methods naive_rag,full_context,adaptive_note,agentrag,closed_book,iter_retgen,agentrag_no_judge,agentrag_no_focus \
    "${COMMON[@]}" --out $OUT
# the ablations at the same commit on the same build (naive_rag and agentrag again for pairing; cached)
ABL=naive_rag,agentrag,agentrag_no_revision,agentrag_fixed_route,agentrag_notes,agentrag_focus_rank,agentrag_focus_answer,agentrag_floor_first
$PY -m evals run --dataset locomo --path $LO --samples conv-26 --per-category 12 --methods $ABL "${COMMON[@]}" \
    --out runs/i9-at-abl-locomo-conv26-60
# does the HotpotQA bar survive this build? naive_rag and agentrag on the 160 report questions
for span in "--limit 40:40" "--offset 90 --limit 120:91-210"; do
  $PY -m evals run --dataset hotpotqa --path $HP ${span%%:*} --methods naive_rag,agentrag "${COMMON[@]}" --out runs/i9-at-hotpotqa-${span##*:}
done
