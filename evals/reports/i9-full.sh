#!/usr/bin/env bash
# The issue-9 re-run at full size on one commit (b1f4595): the core methods on all three datasets
# first (interleaved question by question, so a cut run stays paired), then the other baselines and
# the ablations. Each step resumes (records are per question); replies are memoised across methods
# and datasets (greedy decoding: same prompt, same answer). The derived-memory methods need a fact
# extraction pass over each memory (LoCoMo conv-26: about 100 generator calls) and run separately.
source "$(dirname "$0")/i9-env.sh"
CORE=naive_rag,adaptive_note,agentrag
REST=closed_book,iter_retgen,full_context,agentrag_fixed_route,agentrag_no_judge,agentrag_notes,agentrag_no_revision
COMMON=(--interleave --window 2048 --no-judge --reply-cache runs/i9-reply-cache.sqlite)
hotpot() { $PY -m evals run --dataset hotpotqa --path $HP --limit 40 --methods "$1" "${COMMON[@]}" --out runs/i9-hotpotqa-40; }
locomo() { $PY -m evals run --dataset locomo --path $LO --samples conv-26 --per-category 12 --methods "$1" "${COMMON[@]}" --out runs/i9-locomo-conv26-60; }
musique() { $PY -m evals run --dataset musique --path $MU --limit 30 --methods "$1" "${COMMON[@]}" --out runs/i9-musique-30; }
hotpot $CORE; locomo $CORE; musique $CORE
hotpot $CORE,$REST; locomo $CORE,$REST; musique $CORE,$REST
# derived memory: fact extraction yield and the derived-level methods (LoCoMo conv-26)
$PY -m evals run --dataset locomo --path $LO --samples conv-26 --per-category 12 \
    --methods naive_rag,facts_only,agentrag_derived "${COMMON[@]}" --out runs/i9-locomo-conv26-derived
# the fit split that set the notes-loop default (HotpotQA dev questions 41-80; none reported)
mkdir -p runs/fit && tail -n +41 $HP > runs/fit/hotpotqa.fit.jsonl
$PY -m evals run --dataset hotpotqa --path runs/fit/hotpotqa.fit.jsonl --limit 40 \
    --methods naive_rag,adaptive_note,agentrag_notes,agentrag "${COMMON[@]}" --out runs/fit-hotpotqa-40
