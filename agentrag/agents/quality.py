"""Checks on extracted facts: a small generator's failure modes, caught before they become memory.

Seen with SmolLM2-135M on the dev sets: replies that loop ("1.1.1.1...", one sentence
twenty times), replies that copy the instructions back ("one short, self-contained
sentence that names who or what it is about"), and "facts" whose words are not in
the turns they cite. Each is rejected here with a reason; when a batch yields no
fact the Constructor falls back to sentence-level facts taken verbatim from the raw
text, which are supported by construction.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

from agentrag.agents.router import content_words

Rejection = Literal["repetition", "prompt copy", "unsupported"]
MIN_SUPPORT = 0.5
"""Share of a fact's content words (crudely stemmed) that must occur in its source turns or speakers."""
_LOOP = re.compile(r"(.{2,20}?)\1{3,}|(.)\2{7,}", re.DOTALL)
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'])")
MAX_SENTENCES_PER_ITEM = 2


def is_loop(text: str) -> bool:
    """A repetition loop: a short pattern four times in a row, or a text whose word trigrams mostly repeat."""
    if _LOOP.search(text.replace(" ", "")):
        return True
    words = text.lower().split()
    if len(words) < 12:
        return False
    grams = [tuple(words[i : i + 3]) for i in range(len(words) - 2)]
    return len(set(grams)) / len(grams) < 0.5


def copies_prompt(text: str, prompt: str, n: int = 6) -> bool:
    """Whether the text repeats any run of ``n`` words of the instructions."""
    words = re.findall(r"[a-z0-9']+", prompt.lower())
    runs = {" ".join(words[i : i + n]) for i in range(len(words) - n + 1)}
    said = " ".join(re.findall(r"[a-z0-9']+", text.lower()))
    return any(r in said for r in runs)


def _stems(text: str) -> set[str]:
    return {re.sub(r"(ing|ed|es|s)$", "", w) if len(w) > 4 else w for w in content_words(text)}


def support(text: str, sources: Sequence[str]) -> float:
    """Share of the text's content words (crudely stemmed: lives ~ live) found in the sources (1.0 if none)."""
    words = _stems(text)
    if not words:
        return 1.0
    seen = set().union(*(_stems(s) for s in sources)) if sources else set()
    return len(words & seen) / len(words)


def reject(text: str, sources: Sequence[str], instructions: str) -> Rejection | None:
    """Why an extracted fact must not be stored, or None when it may."""
    if is_loop(text):
        return "repetition"
    if copies_prompt(text, instructions):
        return "prompt copy"
    if support(text, sources) < MIN_SUPPORT:
        return "unsupported"
    return None


def sentences(text: str, speaker: str | None = None, limit: int = MAX_SENTENCES_PER_ITEM) -> list[str]:
    """Fallback facts: the first sentences of a raw item, verbatim, with the speaker named."""
    out = []
    for s in _SENTENCE.split(" ".join(text.split())):
        s = s.strip()
        if 8 <= len(s) <= 200 and not is_loop(s):
            out.append(f"{speaker}: {s}" if speaker else s)
        if len(out) >= limit:
            break
    return out
