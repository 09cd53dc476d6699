"""End to end: every method over real Chroma with the scripted generator; resume; report rebuild."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from clitext import flat
from typer.testing import CliRunner

from agentrag.api import AgentRAG
from agentrag.errors import ConfigError
from agentrag.settings import load_settings
from agentrag.testing import ScriptedChatModel
from evals.cli import eval_app
from evals.methods import METHODS
from evals.records import BuildRecord, QuestionRecord, load_records, read_jsonl
from evals.runner import RunConfig, Runner, run_eval

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "evals"


def j(obj: object) -> str:
    return json.dumps(obj)


def answerer(messages) -> str:
    """Abstain on the adversarial question, otherwise answer the temporal one (right for conv-26/0 only)."""
    if "Caroline realize" in messages[-1].content:
        return j({"answer": "I don't know", "citations": []})
    return j({"answer": "7 May 2023", "citations": [1]})


REPLIES = {
    "retriever/route": j({"kind": "single", "queries": [], "time": ""}),
    "judge/sufficient": "yes",
    "judge/relevant": "yes",
    "judge/contradict": "no",
    "notes/update": j({"note": "Caroline went to a support group.", "queries": [], "inferences": []}),
    "notes/review": j({"better": True}),
    "answerer/cited": answerer,
    "baselines/closed_book": j({"answer": "I don't know", "citations": []}),
    "evals/judge": j({"correct": True}),
    "constructor/facts": j({"facts": [{"text": "Caroline went to an LGBTQ support group.", "from": [3]}]}),
    "constructor/episode": j({"summary": "Caroline and Melanie catch up."}),
    "judge/consistency": j({"contradicts": [], "reason": ""}),
    "judge/duplicate": j({"duplicate": True}),
}


@pytest.fixture
def make(tmp_path, embedder):
    made: list[AgentRAG] = []

    def factory(replies=None, **overrides) -> tuple[RunConfig, AgentRAG]:
        args = {"dataset": "locomo", "path": FIXTURES / "locomo_mini.json", "methods": tuple(METHODS),
                "out": tmp_path / "run", "per_category": 1, **overrides}
        cfg = RunConfig(**args)
        rag = AgentRAG(load_settings(data_dir=cfg.out / "memory", router={"kind": "llm"}),
                       llm=ScriptedChatModel(replies=replies or REPLIES),
                       embedder=embedder)
        made.append(rag)
        return cfg, rag

    yield factory
    for rag in made:
        rag.close()


def by_qid(records: list[QuestionRecord]) -> dict[str, QuestionRecord]:
    return {r.qid: r for r in records}


def test_every_method_end_to_end_then_resume_then_report(make):
    cfg, rag = make()
    run_eval(cfg, rag=rag)
    out = cfg.out
    records = load_records(out)
    assert set(records) == set(METHODS)
    for method, recs in records.items():
        assert len(recs) == 5, method
        assert not [r.error for r in recs if r.error], method

    naive = by_qid(records["naive_rag"])
    temporal = naive["conv-26/0"]
    assert temporal.prediction == "7 May 2023" and temporal.judge is True
    assert temporal.usage.calls == 1 and temporal.usage.prompt_tokens > 0 and temporal.latency_s > 0
    assert temporal.citations and temporal.citations[0].startswith("r-")
    assert all(len(s) == 1 and s[0].startswith("D") for s in temporal.retrieved)  # raw items -> dialog ids
    assert naive["conv-26/8"].abstained  # the adversarial question

    facts = by_qid(records["facts_only"])["conv-26/0"]
    assert {e["level"] for e in facts.evidence} == {"fact"}
    assert "D1:3" in facts.retrieved[0]  # a fact resolves to the turns it was extracted from
    assert facts.retrieved_levels[0] == "fact" and set(temporal.retrieved_levels) == {"raw"}  # for direct recall

    full = by_qid(records["full_context"])["conv-26/0"]
    assert full.truncation["items_total"] == 20 and full.truncation["items_kept"] == 20
    assert not full.retrieval and len(full.retrieved) == 20
    assert full.truncation["answer_tokens"] == 128  # the answer prompt's budget, as every method gets

    gold = by_qid(records["gold_context"])  # the diagnostic ceiling: exactly the gold turns, nothing else
    assert gold["conv-26/0"].retrieved == [["D1:3"]] and gold["conv-26/0"].prediction == "7 May 2023"
    assert gold["conv-26/2"].retrieved == [["D1:9"], ["D1:11"]]
    assert all(sorted(s for [s] in r.retrieved) == sorted(r.gold_evidence) for r in gold.values())
    assert naive["conv-26/2"].retrieved != gold["conv-26/2"].retrieved  # the others never see the answer key

    iter_rec = by_qid(records["iter_retgen"])["conv-26/0"]
    assert iter_rec.rounds == 2 and iter_rec.usage.calls == 2
    # the paper's rules only (the tiny corpus runs out of unseen passages: a step without any is a rejected note)
    assert by_qid(records["adaptive_note"])["conv-26/0"].stop_reason in {"notes: 3 steps", "notes: 2 rejected notes"}
    agent = by_qid(records["agentrag"])["conv-26/0"]
    # the default (SmolLM2-calibrated) Judge is never confident, so every question escalates, and with the
    # notes loop off by default it is answered from the first evidence; the ablation enters the loop
    assert agent.escalation.startswith("judge: low confidence") and agent.notes_steps == 0
    assert "answer" in agent.usage_by_node and "note" not in agent.usage_by_node and agent.budget and agent.budget["floor_tokens"] > 0
    forced = by_qid(records["agentrag_notes"])["conv-26/0"]
    assert forced.escalation.startswith("judge: low confidence") and forced.notes_steps >= 1
    assert {"note", "answer"} <= set(forced.usage_by_node)
    assert all(r.abstained for r in records["closed_book"])

    builds = read_jsonl(out / "memory_builds.jsonl", BuildRecord)
    assert {(b.kind, b.raw) for b in builds} == {("raw", 20), ("derived", 20)}
    derived = next(b for b in builds if b.kind == "derived")
    assert derived.facts >= 1 and derived.episodes == 2 and derived.usage.calls > 0
    assert derived.extraction["batches"] >= 1 and derived.extraction["stored"] >= derived.facts  # before dedupe

    config = json.loads((out / "config.json").read_text())
    assert config["judge"]["prompt_file"] == "prompts/evals/judge.yaml" and config["machine"]["cores"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["categories"] == ["temporal", "open-domain", "multi-hop", "single-hop", "adversarial"]
    naive_sum = summary["methods"]["naive_rag"]
    assert naive_sum["by_category"]["temporal"]["score"] == 1.0
    assert naive_sum["by_category"]["adversarial"]["abstain_ok"] == 1.0
    assert naive_sum["overall"]["calls"] == 1.0
    fired = summary["methods"]["agentrag"]["firing"]
    assert fired["counts"]["escalated"] == 5 and fired["counts"]["notes"] == 0  # the loop is off by default
    # the focused first read ran on every question (the scripted answer is a real one) and is counted
    assert sum(fired["focus_outcomes"].values()) == 5 and fired["counts"]["focused"] == fired["focus_outcomes"].get(
        "answered", 0) == 4
    assert summary["methods"]["agentrag_no_focus"]["firing"]["focus_outcomes"] == {}
    forced = summary["methods"]["agentrag_notes"]["firing"]
    assert forced["counts"]["escalated"] == forced["counts"]["notes"] == 5
    assert summary["extraction"]["facts_stored"] >= 1
    report = (out / "report.md").read_text()
    assert "| naive_rag | 5 |" in report and "One-time memory builds" in report and "What fired" in report
    assert (out / "plots" / "score_vs_tokens.png").stat().st_size > 1000
    assert (out / "plots" / "per_category.png").stat().st_size > 1000

    # Resume: nothing left to do, so the generator is never called.
    cfg2, rag2 = make()
    run_eval(cfg2, rag=rag2)
    assert rag2.llm.calls == []
    assert {m: len(r) for m, r in load_records(out).items()} == dict.fromkeys(METHODS, 5)

    # Widening the selection runs only the new questions.
    cfg3, rag3 = make(methods=("naive_rag",), per_category=2)
    run_eval(cfg3, rag=rag3)
    assert len(rag3.llm.calls_for("answerer/cited")) == 4  # 9 selected, 5 done
    assert len(load_records(out)["naive_rag"]) == 9

    # The report is rebuilt from the records alone.
    before = json.loads((out / "summary.json").read_text())
    shutil.rmtree(out / "plots")
    (out / "summary.json").unlink()
    (out / "report.md").unlink()
    result = CliRunner().invoke(eval_app, ["report", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "summary.json").read_text()) == before
    assert (out / "plots" / "per_category.png").is_file() and "report:" in flat(result.output)


def test_a_failing_question_is_recorded_not_fatal(make):
    replies = {k: v for k, v in REPLIES.items() if k != "baselines/closed_book"}
    cfg, rag = make(replies, methods=("closed_book",), limit=2, per_category=None)
    run_eval(cfg, rag=rag)
    recs = load_records(cfg.out)["closed_book"]
    assert len(recs) == 2 and all(r.error and "no reply for prompt" in r.error for r in recs)
    assert json.loads((cfg.out / "summary.json").read_text())["methods"]["closed_book"]["overall"]["errors"] == 2


def test_resuming_a_different_experiment_is_refused(make):
    cfg, rag = make(methods=("closed_book",), limit=1, per_category=None)
    run_eval(cfg, rag=rag)
    cfg2, rag2 = make(methods=("closed_book",), limit=1, per_category=None, top_k=9)
    with pytest.raises(ConfigError, match="use another --out"):
        Runner(cfg2, rag=rag2).run()


def test_all_methods_leave_out_the_diagnostic():
    from evals.methods import get_methods

    assert "gold_context" not in {m.name for m in get_methods("all")}
    assert [m.name for m in get_methods("gold_context,naive_rag")] == ["naive_rag", "gold_context"]


def test_cli_rejects_unknown_method(tmp_path):
    result = CliRunner().invoke(
        eval_app, ["run", "--dataset", "locomo", "--path", str(FIXTURES / "locomo_mini.json"), "--out",
                   str(tmp_path / "r"), "--methods", "naive_rag,bogus"],
    )
    assert result.exit_code == 2 and "bogus" in flat(result.output)


def test_judge_after_the_run_and_lock(make):
    from agentrag.prompts import default_library
    from evals.judge import Judge, judge_run

    cfg, rag = make(methods=("naive_rag",), judge=False)
    run_eval(cfg, rag=rag)
    assert all(r.judge is None for r in load_records(cfg.out)["naive_rag"])
    grader = Judge(ScriptedChatModel(replies={"evals/judge": j({"correct": True})}), default_library(),
                   backend="scripted", model="fake-judge")
    assert judge_run(cfg.out, grader) == 4  # the adversarial question is not judged
    recs = by_qid(load_records(cfg.out)["naive_rag"])
    assert recs["conv-26/0"].judge is True and recs["conv-26/8"].judge is None
    assert len(grader.llm.calls) == 4
    config = json.loads((cfg.out / "config.json").read_text())
    assert config["judge"]["model"] == "fake-judge"

    (cfg.out / "run.lock").write_text("1")  # pid 1 is alive: another run holds the folder
    result = CliRunner().invoke(eval_app, ["judge", str(cfg.out)])
    assert result.exit_code == 2, result.output
    # one line, whatever the terminal width and the length of the run folder's path
    (line,) = [ln for ln in result.output.splitlines() if ln.startswith("error:")]
    assert "being written by process 1" in line and str(cfg.out) in line
    cfg2, rag2 = make(methods=("naive_rag",), judge=False)
    with pytest.raises(ConfigError, match="in use by process 1"):
        Runner(cfg2, rag=rag2).run()


def test_a_run_folder_without_its_memory_builds_it_again(make, tmp_path, embedder):
    """A run folder copied without ``memory/`` once resumed on empty namespaces: every new method abstained.

    (Chroma caches an embedded store per path inside a process, so the missing memory is a store
    in another folder here, not a deleted one.)
    """
    cfg, rag = make(methods=("naive_rag",))
    run_eval(cfg, rag=rag)
    cfg2 = RunConfig(**{**cfg.model_dump(), "methods": ("naive_rag", "full_context")})
    elsewhere = AgentRAG(load_settings(data_dir=tmp_path / "elsewhere", router={"kind": "llm"}),
                         llm=ScriptedChatModel(replies=REPLIES), embedder=embedder)
    try:
        run_eval(cfg2, rag=elsewhere)
    finally:
        elsewhere.close()
    full = by_qid(load_records(cfg2.out)["full_context"])["conv-26/0"]
    assert full.truncation["items_total"] == 20 and full.prediction == "7 May 2023"
    builds = read_jsonl(cfg2.out / "memory_builds.jsonl", BuildRecord)
    assert [(b.kind, b.raw) for b in builds] == [("raw", 20)], "the stale record is replaced, not doubled"
