"""`agentrag router train` on a tiny run folder: silver labels, probe features from the run's memory, loadable weights."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from agentrag.api import AgentRAG
from agentrag.cli import app
from agentrag.routing.model import load_model
from agentrag.settings import load_settings
from agentrag.testing import ScriptedChatModel
from evals.router import inductive_bias, read_table, silver_label

PARAS = {
    "q1": ["Harbor Lights Quarterly was founded in Boston in 1851.", "The Meadow Review began in Leeds in 1923."],
    "q2": ["Copper Kettle is a cooking show filmed in Dublin.", "Dublin is the capital of Ireland."],
    "q3": ["Lake Orrin is 40 km long.", "Mount Veld is the highest peak near Lake Orrin."],
}
QUESTIONS = {
    "q1": ("Which magazine was started first, Harbor Lights Quarterly or The Meadow Review?", "Harbor Lights Quarterly",
           {"closed_book": "The Meadow Review", "naive_rag": "The Meadow Review"}),
    "q2": ("Where is Copper Kettle filmed?", "Dublin", {"closed_book": "Paris", "naive_rag": "Dublin"}),
    "q3": ("What is the capital of France?", "Paris", {"closed_book": "Paris", "naive_rag": "Paris"}),
}


def record(method: str, qid: str) -> dict[str, object]:
    question, gold, preds = QUESTIONS[qid]
    return {
        "method": method, "qid": qid, "sample_id": qid, "namespace": f"hotpotqa.{qid}.raw", "category": "bridge",
        "question": question, "gold": [gold], "answerable": True, "prediction": preds[method],
        "retrieval": method != "closed_book",
    }


def make_run(root: Path, embedder) -> Path:
    run = root / "run"
    rag = AgentRAG(load_settings(data_dir=run / "memory"), llm=ScriptedChatModel(replies={}), embedder=embedder)
    for qid, texts in PARAS.items():
        rag.add([{"text": t, "source_id": f"{qid}-{i}"} for i, t in enumerate(texts)], namespace=f"hotpotqa.{qid}.raw",
                derive=False)
    rag.close()
    (run / "records").mkdir()
    (run / "config.json").write_text(json.dumps({"run": {"dataset": "hotpotqa"}}))
    for method in ("closed_book", "naive_rag"):
        lines = [json.dumps(record(method, q)) for q in QUESTIONS]
        (run / "records" / f"{method}.jsonl").write_text("\n".join(lines) + "\n")
    return run


def test_silver_label_is_the_cheapest_correct_method_else_the_dataset_bias():
    assert silver_label("hotpotqa", "bridge", {"closed_book": 1.0, "naive_rag": 1.0}) == ("none", "method:closed_book")
    assert silver_label("hotpotqa", "bridge", {"closed_book": 0.0, "naive_rag": 0.6}) == ("single", "method:naive_rag")
    assert silver_label("hotpotqa", "bridge", {"closed_book": 0.0, "naive_rag": 0.2, "adaptive_note": 1.0}) == (
        "iterative", "method:adaptive_note")
    assert silver_label("locomo", "single-hop", {}) == ("single", "bias:locomo/single-hop")
    # declining without looking is not evidence that an unanswerable question needs no memory
    assert silver_label("locomo", "adversarial", {"closed_book": 1.0}, answerable=False)[0] == "single"
    assert inductive_bias("locomo", "multi-hop") == inductive_bias("musique", "2hop") == "iterative"


def test_retrain_command_writes_loadable_weights(tmp_path, embedder):
    run = make_run(tmp_path, embedder)
    out, table = tmp_path / "w" / "router.json", tmp_path / "w" / "table.jsonl"
    res = CliRunner().invoke(app, ["router", "train", str(run), "--out", str(out), "--table", str(table),
                                   "--dev-share", "0.0"])
    assert res.exit_code == 0, res.output
    rows = {r.qid: r for r in read_table(table)}
    assert {q: (r.label, r.label_source) for q, r in rows.items()} == {
        "q1": ("iterative", "bias:hotpotqa/bridge"), "q2": ("single", "method:naive_rag"),
        "q3": ("none", "method:closed_book"),
    }
    assert rows["q1"].entities == ["Harbor Lights Quarterly", "Meadow Review"]
    assert rows["q1"].probe["multi_entity_all_hit"] == 1.0 and rows["q2"].probe["dense_top"] > 0.3
    model = load_model(out)
    assert model.meta["label_counts"] == {"iterative": 1, "single": 1, "none": 1}
    evaluation = json.loads(out.with_suffix(".eval.json").read_text())
    assert evaluation["fit"]["labels"] == {"none": 1, "single": 1, "iterative": 1}
    # retraining from the saved table alone (no run folder, no memory) gives the same weights
    again = tmp_path / "again.json"
    res = CliRunner().invoke(app, ["router", "train", str(table), "--out", str(again), "--dev-share", "0.0"])
    assert res.exit_code == 0, res.output
    assert np.allclose(load_model(again).weights, model.weights, atol=1e-5)


def test_retrain_refuses_a_folder_that_is_not_a_run(tmp_path):
    res = CliRunner().invoke(app, ["router", "train", str(tmp_path), "--out", str(tmp_path / "w.json")])
    assert res.exit_code == 2 and "not a run folder" in res.output
