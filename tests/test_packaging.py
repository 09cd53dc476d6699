"""``pip install .`` into a clean virtual environment gives a working CLI, prompts, graphs and ``agentrag eval``.

The wheel is built once from this checkout without network (the build backend
comes from the test environment). The clean venv gets only the wheel; third-party
dependencies are made importable through a path entry to the test environment's
site-packages (a plain path entry: that environment's editable install of
agentrag is *not* activated, and PYTHONPATH is dropped), so the tests prove the
wheel itself carries graphs/, prompts/ and the evals harness.
"""

import json
import os
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest
from clitext import flat

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "evals"
# The checkout must not leak in: only the wheel's copy of agentrag and evals may be imported.
ENV = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}


def run(*cmd, cwd, **kw):
    return subprocess.run(
        [str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, timeout=300, env=ENV, **kw
    )


class Installed:
    """The clean venv with the wheel installed."""

    def __init__(self, root: Path, wheel: Path) -> None:
        self.root, self.wheel = root, wheel
        self.python = root / "bin" / "python"
        self.agentrag = root / "bin" / "agentrag"


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Installed:
    tmp = tmp_path_factory.mktemp("packaging")
    dist = tmp / "dist"
    built = run(
        sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", dist, ROOT, cwd=tmp
    )
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = dist.glob("agentrag-*.whl")
    env_dir = tmp / "clean"
    venv.create(env_dir, with_pip=True)
    env = Installed(env_dir, wheel)
    site = run(env.python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=tmp).stdout.strip()
    Path(site, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    inst = run(env.python, "-m", "pip", "install", "--no-deps", "--no-index", wheel, cwd=tmp)
    assert inst.returncode == 0, inst.stderr[-2000:]
    return env


def test_wheel_carries_prompts_graphs_demo_and_evals(installed):
    names = zipfile.ZipFile(installed.wheel).namelist()
    assert "agentrag/prompts/answerer/cited.yaml" in names
    assert "agentrag/graphs/answer.py" in names and "agentrag/graphs/langgraph.json" in names
    assert "agentrag/demo/hotpotqa_demo.jsonl" in names
    assert {"evals/cli.py", "evals/runner.py", "evals/methods/__init__.py"} <= set(names)
    assert not any(n.startswith(("tests/", "evals/reports/")) for n in names)
    assert "agentrag/routing/data/router_weights.json" in names


def test_installed_cli_prompts_and_graphs(installed, tmp_path):
    helped = run(installed.agentrag, "--help", cwd=tmp_path)
    assert helped.returncode == 0, helped.stderr[-2000:]
    for command in ("demo", "ingest", "ask", "memory", "eval"):
        assert command in helped.stdout

    probe = (
        "import agentrag, evals, pathlib\n"
        "from agentrag.prompts import default_library\n"
        "from agentrag.graphs import answer, ingest, chat\n"
        f"for m in (agentrag, evals): assert not pathlib.Path(m.__file__).is_relative_to({str(ROOT)!r}), m.__file__\n"
        "lib = default_library()\n"
        "assert 'judge/verdict' in lib.ids, lib.ids\n"
        "from agentrag.routing.model import load_model\n"
        "assert load_model().meta['trained_on']\n"
        "print(len(lib.ids), len(answer.graph.get_graph().nodes), agentrag.__file__)\n"
    )
    loaded = run(installed.python, "-c", probe, cwd=tmp_path)
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    n_prompts, n_nodes, where = loaded.stdout.split()
    assert int(n_prompts) >= 10 and int(n_nodes) >= 9
    assert str(installed.root) in where


# A two-question HotpotQA eval with the scripted generator (the right answer for the first
# question only), run through the installed harness; the report is then rebuilt by the
# installed `agentrag eval report` from the records alone.
SCRIPTED_EVAL = """
import json, sys
from pathlib import Path
from agentrag.api import AgentRAG
from agentrag.settings import load_settings
from agentrag.testing import ScriptedChatModel
from evals.runner import RunConfig, run_eval

def answerer(messages):
    said = "Orissa" if "Shashi Kapoor" in messages[-1].content else "1999 season"
    return json.dumps({"answer": said, "citations": [1]})

replies = {
    "answerer/cited": answerer,
    "baselines/closed_book": json.dumps({"answer": "I don't know", "citations": []}),
    "evals/judge": json.dumps({"correct": False}),
}
out = Path(sys.argv[2])
cfg = RunConfig(dataset="hotpotqa", path=Path(sys.argv[1]), methods=("naive_rag", "closed_book"), out=out)
with AgentRAG(load_settings(data_dir=out / "memory"), llm=ScriptedChatModel(replies=replies)) as rag:
    run_eval(cfg, rag=rag)
"""


def test_installed_agentrag_eval_runs_a_scripted_eval(installed, tmp_path):
    helped = run(installed.agentrag, "eval", "--help", cwd=tmp_path)
    assert helped.returncode == 0, helped.stderr[-2000:]
    for command in ("run", "report", "judge"):
        assert command in helped.stdout

    out = tmp_path / "run"
    ran = run(installed.python, "-c", SCRIPTED_EVAL, FIXTURES / "hotpotqa_mini.jsonl", out, cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr[-3000:]
    records = {
        method: [json.loads(line) for line in (out / "records" / f"{method}.jsonl").read_text().splitlines()]
        for method in ("naive_rag", "closed_book")
    }
    naive = {r["qid"]: r for r in records["naive_rag"]}
    assert set(naive) == {"5adf0ae45542992d7e9f9286", "5a82930655429966c78a6a5e"}
    assert naive["5adf0ae45542992d7e9f9286"]["prediction"] == "Orissa"
    assert naive["5adf0ae45542992d7e9f9286"]["citations"] and naive["5adf0ae45542992d7e9f9286"]["retrieved"]
    assert all(r["abstained"] and not r["error"] for r in records["closed_book"])

    (out / "summary.json").unlink()
    (out / "report.md").unlink()
    rebuilt = run(installed.agentrag, "eval", "report", out, cwd=tmp_path)
    assert rebuilt.returncode == 0, rebuilt.stderr[-3000:]
    assert "report:" in flat(rebuilt.stdout)
    summary = json.loads((out / "summary.json").read_text())
    naive_sum, closed_sum = summary["methods"]["naive_rag"]["overall"], summary["methods"]["closed_book"]["overall"]
    assert naive_sum["n"] == 2 and naive_sum["score"] == 0.5  # exact match on one of two
    assert closed_sum["n"] == 2 and closed_sum["score"] == 0.0
    assert "| naive_rag | 2 |" in (out / "report.md").read_text()


def test_without_the_eval_extra_eval_prints_the_pip_line(installed, tmp_path):
    """matplotlib blocked (as if the extra were not installed): `eval` is listed and says what to install."""
    block = "import sys; sys.modules['matplotlib'] = None; from agentrag.cli import app; app(sys.argv[1:], 'agentrag')"
    for args in (["eval", "--help"], ["eval", "run", "--dataset", "locomo"]):
        proc = run(installed.python, "-c", block, *args, cwd=tmp_path)
        assert proc.returncode == 2, proc.stdout + proc.stderr
        (line,) = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
        assert "pip install 'agentrag[eval]'" in line, line
        assert "No such command" not in proc.stderr
    listed = run(installed.python, "-c", block, "--help", cwd=tmp_path)
    assert "pip install 'agentrag[eval]'" in flat(listed.stdout)
