"""Speaker attribution: abstain when the question pins an event on someone who did not say it.

Conversation memory holds who said what. A question that names one speaker ("What did
Caroline realize after her charity race?") is answerable from that speaker's turns; when
the turns that best match the rest of the question were said by someone else (Melanie
ran the race), the honest answer is "not in memory" rather than the other person's event.
LoCoMo's unanswerable category is built exactly this way, and a 135M generator cannot
notice it (its P("the passages hold the answer") did not separate the two kinds, see
``Settings.decisions``). This check needs no generator: it searches the named speaker's
own turns, compares how much of the question's content the best own turn and the best
other-speaker turn cover, and abstains when the other side leads by more than a margin fit
on dev conversations (``python -m evals.calibrate_attribution``; the value and the rates it
gave are in ``evals/calibration/attribution.json``).

The other side is every other speaker's turn among the retrieved hits and among a second
search for the question without the name (the hits lean towards the named speaker: the
name is a query word), except turns that address the listener more than they speak for
the speaker ("Love the tattoo, did you just get it?" is about the named speaker's event,
not the asker's). On the six LoCoMo fit conversations these two changes raised the
adversarial questions caught from 0.302 to 0.443 and lowered over-abstention from 0.079
to 0.061 (single-speaker questions, 3 December, fifth session).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence

from agentrag.routing.features import content_words, entity_spans
from agentrag.types import MemoryItem

SpeakerSearch = Callable[[str | None, str], Sequence[MemoryItem]]
"""``(speaker, query) -> that speaker's raw turns best matching the query`` (empty: not a speaker;
speaker None: every speaker's turns)."""

_FIRST_PERSON = re.compile(r"\b(?:i|i'm|i've|i'd|i'll|my|me|mine|myself)\b", re.IGNORECASE)
_SECOND_PERSON = re.compile(r"\b(?:you|your|yours|you're|you've|yourself)\b", re.IGNORECASE)

MAX_NAMES = 3
"""Capitalised words of a question tried as speaker names (each costs one filtered search)."""

MIN_STEMS = 2
"""Fewer content words than this ("Where does Alice live?") say too little to pin an event on anyone:
one paraphrase ("moved to Paris") would make the speaker's own turn look unrelated. On the LoCoMo
fit conversations the rule loses 0.4 points of adversarial questions caught for it."""


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s", "ly"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            word = word[: -len(suffix)]
            break
    return word[:-1] if len(word) > 4 and word.endswith("e") else word


def stems(text: str, drop: Iterable[str] = ()) -> set[str]:
    """Content-word stems of ``text`` without the given (lower-cased) names."""
    gone = {n.lower() for n in drop}
    return {_stem(w) for w in content_words(text) if w not in gone}


def candidate_names(question: str) -> list[str]:
    """Capitalised words of the question's named spans, in order ("Caroline's" gives "Caroline")."""
    out: list[str] = []
    for span in entity_spans(question):
        for word in span.split():
            name = re.sub(r"['\u2019]s$", "", word).strip(".,?!;:\"'")
            if name[:1].isupper() and name[1:].islower() and name not in out:
                out.append(name)
    return out[:MAX_NAMES]


def without_name(question: str, name: str) -> str:
    """The question with the name (and its possessive) removed, so a search is not pulled to it."""
    return re.sub(rf"\b{re.escape(name)}(['\u2019]s)?\b", "", question).strip()


def support(want: set[str], texts: Iterable[str], drop: Iterable[str]) -> float:
    """Best share of the wanted stems that one text holds."""
    return max((len(want & stems(t, drop)) / len(want) for t in texts), default=0.0)


def speaks_for_self(text: str) -> bool:
    """Whether a turn says at least as much about its speaker ("I", "my") as about the listener ("you")."""
    return len(_SECOND_PERSON.findall(text)) <= len(_FIRST_PERSON.findall(text))


def attribution_lead(question: str, hits: Sequence[MemoryItem], own_turns: SpeakerSearch) -> tuple[str, float] | None:
    """(named speaker, how far other speakers' best turn leads the speaker's own best turn).

    None when no retrieved raw turn has a speaker (not a conversation) or the question
    does not name exactly one speaker of the memory.
    """
    turns = [i for i in hits if i.level == "raw" and i.speaker]
    if not turns:
        return None
    found: dict[str, Sequence[MemoryItem]] = {}
    for name in candidate_names(question):
        own = own_turns(name, without_name(question, name))
        if own:
            found[name] = own
    if len(found) != 1:
        return None
    name, own = next(iter(found.items()))
    drop = {name.lower()} | {str(i.speaker).split()[0].lower() for i in turns}
    want = stems(question, drop)
    if len(want) < MIN_STEMS:
        return None
    elsewhere = [i for i in own_turns(None, without_name(question, name)) if i.level == "raw" and i.speaker]
    other = [i.text for i in [*turns, *elsewhere] if i.speaker != name and speaks_for_self(i.text)]
    return name, support(want, other, drop) - support(want, [i.text for i in own], drop)
