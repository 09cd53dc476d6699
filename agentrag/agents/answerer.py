"""The Answerer: writes the final answer from usable evidence, citing evidence ids.

The model sees evidence numbered ``[1]..[n]`` (small models copy short numbers far
more reliably than ids) and returns the numbers it used; they are mapped back to
evidence and memory item ids here. When there is no usable evidence on a
retrieval route the answer is an abstention without calling the model: guessing
from nothing is exactly the failure LoCoMo's adversarial questions test. The same
holds when the Judge's calibrated "do these passages hold the answer?" decision
came out under ``decisions.abstain_below``.

Answers are scored against what people write: a yes/no question gets "yes" or
"no", not the sentence around it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import NotRequired, TypedDict

from langgraph.runtime import Runtime
from pydantic import BaseModel, Field

from agentrag.agents.evidence import arranged, numbered, shown_to_answer
from agentrag.agents.quality import copies_prompt, is_loop
from agentrag.agents.router import content_words
from agentrag.agents.steps import Ask, Steps, drive, node
from agentrag.deps import Deps, deps_of
from agentrag.errors import ParseError
from agentrag.prompts import RenderedPrompt
from agentrag.state import AnswerState
from agentrag.types import Citation, Evidence, EvidenceOrder, FocusUse, Route

log = logging.getLogger(__name__)

ABSTAIN_TEXT = "I don't know: my memory does not hold the answer."
_ABSTAIN = re.compile(
    r"^\s*(i\s*do\s*n[o']?t\s*know|unknown|not\s+(mentioned|stated|in\s+(the\s+)?(passages|memory|context))|"
    r"(the\s+)?(passages|context|memory)\s+do(es)?\s*n[o']?t\s+(say|mention|contain))",
    re.IGNORECASE,
)


class CitedAnswer(BaseModel):
    """The answerer's structured reply."""

    answer: str = Field(max_length=600, description="the answer, short; 'I don't know' if not in the passages")
    citations: list[int] = Field(default_factory=list, max_length=8, description="numbers of passages used")


class AnswerUpdate(TypedDict):
    """What ``answer`` writes (``decisions`` only when the focused read or the echo check ran)."""

    answer: str
    abstained: bool
    citations: list[Citation]
    stop_reason: str
    decisions: NotRequired[list[dict[str, object]]]


_INSTRUCTIONS = " | ".join(str(f.description) for f in CitedAnswer.model_fields.values())
NO_ANSWER = ("repetition", "prompt copy")
"""Replies with nothing of the passages in them: shown as an abstention (even when they did not parse)."""
NO_ANSWER_STOP = "answer: "
"""How the stop reason of such an abstention starts (then the reason, e.g. "answer: repetition")."""
ECHO_MIN_WORDS = 4
ECHO_MIN_SHARE = 0.6
"""An answer of at least this many content words, all from the question and covering this share of its
content words, restates the question ("X has had work exhibited at which museum in Amsterdam")."""


def degenerate(question: str, text: str) -> str | None:
    """Why a reply is no answer, or None for an answer.

    A repetition loop, the schema's instructions copied back, or the question restated are not
    answers; a short reply that names an option of the question is one.
    """
    if is_loop(text):
        return "repetition"
    if copies_prompt(text, _INSTRUCTIONS, n=5):
        return "prompt copy"
    said, asked = content_words(text), content_words(question)
    if len(said) >= ECHO_MIN_WORDS and said <= asked and len(said) >= ECHO_MIN_SHARE * len(asked):
        return "question restated"
    return None


def is_abstention(text: str) -> bool:
    """Whether an answer says the memory does not hold the answer."""
    return not text.strip() or bool(_ABSTAIN.match(text))


def answer(state: AnswerState, runtime: Runtime[Deps]) -> AnswerUpdate:
    """Answer from the active evidence, with citations; abstain when there is none."""
    return drive(answer_steps(state, deps_of(runtime)), deps_of(runtime))


def answer_steps(
    state: AnswerState,
    deps: Deps,
    order: EvidenceOrder | None = None,
    check_echo: bool | None = False,
    focus: int | None = 0,
    focus_use: FocusUse | None = None,
) -> Steps[AnswerUpdate]:
    """``answer``'s body, for the sync and the async path (``agentrag.agents.steps``).

    ``order`` overrides ``Settings.evidence.order`` (the ablation methods use it). ``check_echo`` is
    agentrag's answer check (``recheck_echo``; None follows ``Settings.decisions.echo_retry``), and
    ``focus``/``focus_use`` its focused first read (``focused_first``; None follows
    ``Settings.evidence.focus``/``focus_use``); the baselines, which share this node, use neither.
    """
    k = deps.settings.evidence.focus if focus is None else focus
    use = focus_use or deps.settings.evidence.focus_use
    first = focus_set(state, k) if k else []
    if not first:
        return (yield from _answer_all(state, deps, order, check_echo, ""))
    text, citations, why = yield from focused_first(state, deps, first)
    decision: dict[str, object] = {
        "kind": "focus", "shown": len(first), "source": "rule", "use": use,
        "hop": sum(e.id not in state.get("floor", [])[:k] for e in first),
        "outcome": f"no answer ({why})" if why else "answered", "answer": text,
    }
    if not why and use == "answer":
        stop = f"focus: answered from the top {len(first)} passages"
        return {"answer": text, "abstained": False, "citations": citations, "stop_reason": stop,
                "decisions": [*state.get("decisions", []), decision]}
    hint = "" if why else f"The best {len(first)} passages alone answer: {text}"
    update = yield from _answer_all(state, deps, order, check_echo, hint, [] if why else [e.id for e in first])
    if not why and update["abstained"] and update["stop_reason"].startswith(NO_ANSWER_STOP):
        # the reply from everything was a loop or the schema copied, not an "I don't know": the
        # focused read's real answer is better than an abstention nobody chose (HotpotQA fit split:
        # 1 of 6 such questions had one, and it was half right)
        decision["outcome"] = "answered; used (the reply from all the evidence was no answer)"
        update = {**update, "answer": text, "abstained": False, "citations": citations,
                  "stop_reason": f"focus: the reply from all the evidence was no answer ({update['stop_reason']})"}
    return {**update, "decisions": [*update.get("decisions", state.get("decisions", [])), decision]}


def focus_set(state: AnswerState, k: int) -> list[Evidence]:
    """The retriever's pick for the focused read (else naive retrieval's best ``k``, in rank order).

    The pick (``state["focus"]``, ``Settings.evidence.focus_pick: hop``) is naive retrieval's best
    ``k - 1`` passages and the best new passage of a second search from the best one. Empty when
    there is nothing to focus on: no retrieval, a Judge abstention, or no more evidence than the
    passages picked.
    """
    route = state.get("route") or Route()
    if route.kind == "none" or judged_unanswerable(state):
        return []
    evidence = shown_to_answer(state)
    by_id = {e.id: e for e in evidence}
    first = [by_id[i] for i in state.get("focus") or state.get("floor", []) if i in by_id][:k]
    return first if len(first) < len(evidence) else []


def focused_first(state: AnswerState, deps: Deps, first: list[Evidence]) -> Steps[tuple[str, list[Citation], str]]:
    """Answer from the top passages alone: (answer, citations, "") or ("", [], why it is no answer).

    SmolLM2-135M reads a few passages better than many: on the HotpotQA fit split naive
    retrieval's top 3 scored +0.046 over its top 5, and the gold paragraphs alone +0.103
    (``evals/reports/README.md``). A reply that is degenerate, an abstention or a copy of the
    question is no answer, and the question is answered from everything as before.
    """
    question = state["question"]
    items = {h.item.id: h.item for h in state.get("hits", [])}
    prompt = deps.prompts.render("answerer/cited", question=question, passages=numbered(first, items), note="")
    try:
        reply: CitedAnswer = yield Ask(prompt, CitedAnswer, streamed=False)  # not the answer a client sees
    except ParseError as exc:
        return "", [], degenerate(question, exc.raw) or "unparsable"
    text = shorten(question, reply.answer.strip())
    why = no_answer(question, text, echo="echo")
    return ("", [], why) if why else (text, cite(reply.citations, text, first, question), "")


def no_answer(question: str, text: str, echo: str) -> str:
    """Why a reply is no real answer ("" when it is one): degenerate, an abstention, or ``echo``."""
    return degenerate(question, text) or (
        "abstention" if is_abstention(text) else echo if echoes(question, text) else ""
    )


def _answer_all(
    state: AnswerState, deps: Deps, order: EvidenceOrder | None, check_echo: bool | None, hint: str,
    focus: Sequence[str] = (),
) -> Steps[AnswerUpdate]:
    """The answer from everything the answer sees.

    ``hint`` is the focused read's answer, shown as a note, and ``focus`` the ids of the passages it came from.
    """
    route = state.get("route") or Route()
    evidence = arranged(shown_to_answer(state), state.get("floor", []), order or deps.settings.evidence.order, focus)
    stop = state.get("stop_reason") or _stop_reason(state)
    if route.kind != "none" and not evidence:
        return {"answer": ABSTAIN_TEXT, "abstained": True, "citations": [], "stop_reason": stop}
    if judged_unanswerable(state):
        stop = "judge: answer not in memory"
        return {"answer": ABSTAIN_TEXT, "abstained": True, "citations": [], "stop_reason": stop}
    items = {h.item.id: h.item for h in state.get("hits", [])}
    passages = numbered(evidence, items)
    note = state.get("note")
    note_text = "\n".join(t for t in (note.text if note else "", hint) if t)
    prompt = deps.prompts.render("answerer/cited", question=state["question"], passages=passages, note=note_text)
    bare = deps.prompts.render("answerer/cited", question=state["question"], passages=passages, note="")
    # A small generator can fall into a repetition loop on the longer prompt a note makes (SmolLM2
    # copies the schema's description until its token limit cuts the JSON: a parse error), or restate
    # the question. The passages alone, what plain retrieval would show, must then still get their answer.
    question = state["question"]
    reply: CitedAnswer | None = None
    try:
        reply = yield Ask(prompt, CitedAnswer)
        why = degenerate(question, reply.answer)
    except ParseError as exc:
        why = degenerate(question, exc.raw)
        if not note_text and why not in NO_ANSWER:
            raise
        why = why or "unparsable"
    if why and note_text:
        log.info("answer with the note is no answer (%s); answering from the passages alone", why)
        try:
            reply = yield Ask(bare, CitedAnswer)
            why = degenerate(question, reply.answer)
        except ParseError as exc:
            why = degenerate(question, exc.raw)
            if why not in NO_ANSWER:
                raise
    if reply is None or why in NO_ANSWER:  # nothing of the passages in it: say so rather than show it
        log.info("answer is no answer (%s); abstaining", why)
        return {"answer": ABSTAIN_TEXT, "abstained": True, "citations": [], "stop_reason": f"{NO_ANSWER_STOP}{why}"}
    text = shorten(state["question"], reply.answer.strip())
    if is_abstention(text):
        return {"answer": text or ABSTAIN_TEXT, "abstained": True, "citations": [], "stop_reason": stop}
    citations = cite(reply.citations, text, evidence, question)
    done: AnswerUpdate = {"answer": text, "abstained": False, "citations": citations, "stop_reason": stop}
    if check_echo is None:
        check_echo = deps.settings.decisions.echo_retry
    if check_echo and echoes(question, text):
        retry = deps.prompts.render(
            "answerer/not_echo", question=question, passages=passages, note=note_text, echo=text
        )
        return (yield from recheck_echo(state, retry, evidence, done))
    return done


def recheck_echo(
    state: AnswerState, retry: RenderedPrompt, evidence: list[Evidence], first: AnswerUpdate
) -> Steps[AnswerUpdate]:
    """Ask once more when the answer only repeats names the question gives.

    "Who directed the 1940 film in which John Arledge appeared?" - "John Arledge". A small generator
    often copies a name from the question; such an answer is right only when the question offers it
    as an option, which ``echoes`` excludes. The second answer replaces the first only when it is a
    real answer (not degenerate, not an abstention, not an echo itself), so the check cannot turn an
    answer into an abstention or a worse echo; either way it is recorded as a decision.
    """
    question = state["question"]
    decisions = [*state.get("decisions", [])]
    try:
        reply: CitedAnswer = yield Ask(retry, CitedAnswer)
        text = shorten(question, reply.answer.strip())
        instruction = retry.user.splitlines()[-1].replace(first["answer"], "")
        why = no_answer(question, text, echo="echo again") or (
            "instruction copy" if copies_prompt(text, instruction, n=4) else ""
        )
    except ParseError as exc:
        reply, text, why = CitedAnswer(answer=""), "", degenerate(question, exc.raw) or "unparsable"
    decision: dict[str, object] = {"kind": "answer_check", "echo": first["answer"], "source": "rule"}
    if why:
        log.info("answer %r repeats the question; the second answer is no better (%s): kept", first["answer"], why)
        return {**first, "decisions": [*decisions, {**decision, "outcome": f"kept ({why})"}]}
    return {**first, "answer": text, "citations": cite(reply.citations, text, evidence, question),
            "decisions": [*decisions, {**decision, "outcome": "replaced", "answer": text}]}


def cite(numbers: list[int], text: str, evidence: list[Evidence], question: str) -> list[Citation]:
    """The passages the model cited by number; by word overlap when it cited none that exist."""
    citations: list[Citation] = []
    for n in dict.fromkeys(numbers):
        if 1 <= n <= len(evidence):
            e = evidence[n - 1]
            citations.append(Citation(evidence_id=e.id, item_id=e.item_id, text=e.text))
        else:
            log.info("answer cited passage %d of %d; ignored", n, len(evidence))
    return citations or attribute(text, evidence, question)


_OPTIONS = re.compile(r"\bor\b|\bbetween\b.+\band\b", re.IGNORECASE)


def echoes(question: str, text: str) -> bool:
    """Whether an answer names nothing the question does not already name, where that cannot be right.

    A question that offers options ("X or Y", "between X and Y") is answered by naming one, and
    "yes"/"no" name nothing, so neither counts.
    """
    said = content_words(text)
    if not said or _YES_NO_ANSWER.match(text) or _OPTIONS.search(question):
        return False
    return said <= content_words(question)


answer_node = node(answer_steps)
"""``answer`` as a graph node with a sync and an async body."""

_YES_NO_QUESTION = re.compile(
    r"^\s*(is|are|was|were|do|does|did|can|could|has|have|had|will|would|should|am)\b", re.IGNORECASE
)
_YES_NO_ANSWER = re.compile(r"^\W*(yes|no)\b", re.IGNORECASE)


def shorten(question: str, text: str) -> str:
    """A yes/no question answered "Yes, both ..." becomes "yes"; other answers lose a trailing full stop."""
    m = _YES_NO_ANSWER.match(text)
    if m and _YES_NO_QUESTION.match(question):
        return m.group(1).lower()
    return text[:-1] if text.endswith(".") and text.count(".") == 1 else text


def judged_unanswerable(state: AnswerState) -> bool:
    """Whether the Judge decided "memory does not hold the answer".

    Either its last sufficiency decision was a calibrated abstention, or the retrieved
    turns put the question's event on a speaker the question does not name.
    """
    decisions = state.get("decisions", [])
    if any(d.get("kind") == "attribution" and d.get("outcome") == "abstain" for d in decisions):
        return True
    last = [d for d in decisions if d.get("kind") == "sufficient"]
    return bool(last) and last[-1].get("outcome") == "abstain"


ATTRIBUTION_MIN_SHARE = 0.6
"""Share of the answer's content words a passage must contain to be cited by overlap."""


def attribute(answer_text: str, evidence: list[Evidence], question: str = "", limit: int = 2) -> list[Citation]:
    """Cite the passages that contain most of the answer's content words (fallback attribution).

    Words the question already contains are not evidence of anything (every passage about
    "Caroline" contains "Caroline"), so only the answer's new words count. An answer of several
    sentences is attributed sentence by sentence first: a small model stitches an answer from two
    turns ("The colors really blend nicely. ... The lake sunrise last year!"), and each part rests
    on its own turn; the whole answer is matched when no sentence is.
    """
    sentences = [t for t in re.split(r"(?<=[.!?])\s+", answer_text.strip()) if t]
    cited: dict[str, Citation] = {}
    for part in sentences if len(sentences) > 1 else []:
        for c in _overlap(part, evidence, question, 1):
            cited.setdefault(c.evidence_id, c)
    return list(cited.values())[:limit] or _overlap(answer_text, evidence, question, limit)


def _overlap(text: str, evidence: list[Evidence], question: str, limit: int) -> list[Citation]:
    """The passages holding at least ``ATTRIBUTION_MIN_SHARE`` of the text's new content words, best first."""
    words = content_words(text) - content_words(question)
    if not words:
        return []
    scored = []
    for e in evidence:
        share = len(words & content_words(e.text)) / len(words)
        if share >= ATTRIBUTION_MIN_SHARE:
            scored.append((share, e))
    scored.sort(key=lambda pair: -pair[0])
    return [Citation(evidence_id=e.id, item_id=e.item_id, text=e.text, by="overlap") for _, e in scored[:limit]]


def _stop_reason(state: AnswerState) -> str:
    verdict = state.get("verdict")
    route = state.get("route") or Route()
    if route.kind == "none":
        return "no retrieval needed"
    if verdict and verdict.sufficient:
        return "judge: evidence sufficient"
    if state.get("escalation"):
        return f"escalated ({state['escalation']}); notes loop off or capped"
    if state.get("round", 0) >= state.get("max_rounds", 1):
        return f"round cap ({state.get('max_rounds')})"
    return "judge: no further retrieval"
