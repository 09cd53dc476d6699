"""``pip install .`` into a clean virtual environment gives a working CLI, prompts and graphs.

The wheel is built from this checkout without network (the build backend comes
from the test environment). The clean venv gets only the wheel; third-party
dependencies are made importable through a path entry to the test
environment's site-packages (a plain path entry: that environment's editable
install of agentrag is *not* activated), so the test proves the wheel itself
carries graphs/ and prompts/.
"""

import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(*cmd, cwd, **kw):
    return subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, timeout=300, **kw)


def test_wheel_installs_into_clean_venv(tmp_path):
    dist = tmp_path / "dist"
    built = run(
        sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", dist, ROOT, cwd=tmp_path
    )
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = dist.glob("agentrag-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "agentrag/prompts/answerer/cited.yaml" in names
    assert "agentrag/graphs/answer.py" in names and "agentrag/graphs/langgraph.json" in names
    assert "agentrag/demo/hotpotqa_demo.jsonl" in names
    assert "agentrag/routing/data/router_weights.json" in names
    assert not any(n.startswith(("tests/", "evals/")) for n in names)

    env_dir = tmp_path / "clean"
    venv.create(env_dir, with_pip=True)
    py = env_dir / "bin" / "python"
    site = run(py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=tmp_path).stdout.strip()
    Path(site, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    inst = run(py, "-m", "pip", "install", "--no-deps", "--no-index", wheel, cwd=tmp_path)
    assert inst.returncode == 0, inst.stderr[-2000:]

    helped = run(env_dir / "bin" / "agentrag", "--help", cwd=tmp_path)
    assert helped.returncode == 0, helped.stderr[-2000:]
    for command in ("demo", "ingest", "ask", "memory"):
        assert command in helped.stdout

    probe = (
        "import agentrag, pathlib\n"
        "from agentrag.prompts import default_library\n"
        "from agentrag.graphs import answer, ingest, chat\n"
        f"assert not pathlib.Path(agentrag.__file__).is_relative_to({str(ROOT)!r}), agentrag.__file__\n"
        "lib = default_library()\n"
        "assert 'judge/verdict' in lib.ids, lib.ids\n"
        "from agentrag.routing.model import load_model\n"
        "assert load_model().meta['trained_on']\n"
        "print(len(lib.ids), len(answer.graph.get_graph().nodes), agentrag.__file__)\n"
    )
    loaded = run(py, "-c", probe, cwd=tmp_path)
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    n_prompts, n_nodes, where = loaded.stdout.split()
    assert int(n_prompts) >= 10 and int(n_nodes) >= 9
    assert str(env_dir) in where
