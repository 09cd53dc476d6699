"""Build each sample's memory once per kind and share it between the methods that read it.

``raw`` memory holds the verbatim turns or paragraphs (``derive=False``);
``derived`` memory is what the full system builds (``derive=True``: facts,
episodes, duplicate and consistency checks, the Refresher). Both go through
``AgentRAG.add``, so their raw items are identical and only the derived levels
differ. Building derived memory costs many generator calls, so its time and
tokens are recorded separately from the per-question costs.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime

from agentrag.api import AgentRAG, IngestReport
from agentrag.ingest import Document
from evals.datasets import Sample
from evals.records import BuildRecord, Usage

log = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^A-Za-z0-9_.@:+-]+")
_EARLIEST = datetime.min.replace(tzinfo=UTC)


def namespace_for(dataset: str, sample_id: str, kind: str) -> str:
    """A valid namespace naming the dataset, the sample and the memory kind."""
    slug = _UNSAFE.sub("-", sample_id).strip("-.") or "sample"
    return f"{dataset}.{slug}"[: 120 - len(kind)] + f".{kind}"


def sessions_in_order(docs: tuple[Document, ...]) -> list[list[Document]]:
    """Documents grouped by session, sessions in time order (as ``AgentRAG.add`` ingests them)."""
    groups: dict[str, list[Document]] = {}
    for d in docs:
        groups.setdefault(d.session_id or "", []).append(d)
    return sorted(groups.values(), key=lambda g: min((d.event_time or _EARLIEST) for d in g))


def build_memory(
    rag: AgentRAG, dataset: str, sample: Sample, kind: str, on_session: Callable[[int, int], None] | None = None
) -> BuildRecord:
    """Ingest one sample into its namespace, one session at a time (so progress can be shown).

    Idempotent: the ingest graph skips raw items memory already holds, so a build
    interrupted half-way is finished, not repeated, by calling this again.
    """
    ns = namespace_for(dataset, sample.sample_id, kind)
    groups = sessions_in_order(sample.documents)
    total = IngestReport()
    usage = Usage()
    t0 = time.perf_counter()
    for n, group in enumerate(groups, 1):
        report = rag.add(group, namespace=ns, derive=kind == "derived")
        total = total.model_copy(
            update={
                "raw": total.raw + report.raw, "written": total.written + report.written,
                "facts": total.facts + report.facts, "episodes": total.episodes + report.episodes,
                "duplicates": total.duplicates + report.duplicates, "conflicts": total.conflicts + report.conflicts,
                "superseded": total.superseded + report.superseded,
                "extraction": {
                    k: total.extraction.get(k, 0.0) + report.extraction.get(k, 0.0)
                    for k in {*total.extraction, *report.extraction}
                },
            }
        )
        u = report.usage
        usage = Usage(
            prompt_tokens=usage.prompt_tokens + u.prompt_tokens,
            completion_tokens=usage.completion_tokens + u.completion_tokens, calls=usage.calls + u.calls,
        )
        if on_session:
            on_session(n, len(groups))
    seconds = time.perf_counter() - t0
    log.info("built %s memory for %s in %.1fs (%d calls)", kind, sample.sample_id, seconds, usage.calls)
    return BuildRecord(
        sample_id=sample.sample_id, kind=kind, namespace=ns, seconds=round(seconds, 3), usage=usage, raw=total.raw,
        facts=total.facts, episodes=total.episodes, duplicates=total.duplicates, conflicts=total.conflicts,
        superseded=len(total.superseded), extraction=total.extraction,
    )
