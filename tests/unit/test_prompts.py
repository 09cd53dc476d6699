from pathlib import Path

import pytest

from agentrag.errors import PromptError
from agentrag.prompts import PromptLibrary, default_library, load_spec


def write(root: Path, rel: str, body: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body)
    return path


GOOD = """id: a/b
version: 2
inputs: [question, items]
output: Thing
system: You help.
user: |
  {% for i in items %}- {{ i }}
  {% endfor %}Q: {{ question }}
"""


def test_shipped_prompts_all_load_and_declare_outputs():
    lib = default_library()
    assert "answerer/cited" in lib.ids
    assert "common/json_retry" in lib.ids
    for pid in lib.ids:
        assert lib.spec(pid).version >= 1


def test_render_strict_inputs(tmp_path):
    write(tmp_path, "a/b.yaml", GOOD)
    lib = PromptLibrary(tmp_path)
    out = lib.render("a/b", question="why?", items=["x", "y"])
    assert out.id == "a/b" and out.version == 2 and out.output == "Thing"
    assert out.user == "- x\n- y\nQ: why?"
    assert out.messages()[0] == {"role": "system", "content": "You help."}
    with pytest.raises(PromptError, match=r"missing inputs \['items'\]"):
        lib.render("a/b", question="why?")
    with pytest.raises(PromptError, match=r"unexpected inputs \['extra'\]"):
        lib.render("a/b", question="q", items=[], extra=1)


def test_unknown_prompt_lists_known_ids(tmp_path):
    write(tmp_path, "a/b.yaml", GOOD)
    with pytest.raises(PromptError, match="known prompts: a/b"):
        PromptLibrary(tmp_path).render("nope/x")


def test_declared_inputs_must_match_template_variables(tmp_path):
    path = write(tmp_path, "a/b.yaml", GOOD.replace("inputs: [question, items]", "inputs: [question]"))
    with pytest.raises(PromptError, match="differ from template variables"):
        load_spec(path)


def test_id_must_match_path(tmp_path):
    write(tmp_path, "a/c.yaml", GOOD)
    with pytest.raises(PromptError, match="must match its path"):
        PromptLibrary(tmp_path)


def test_malformed_file_is_a_prompt_error(tmp_path):
    path = write(tmp_path, "a/b.yaml", "id: a/b\nversion: [unclosed\n")
    with pytest.raises(PromptError, match="not a valid prompt file"):
        load_spec(path)
    path.write_text(GOOD.replace("{{ question }}", "{{ question "))
    with pytest.raises(PromptError, match="syntax error"):
        load_spec(path)


def test_no_prompt_strings_in_python_sources():
    """Prompts live in files: no module sends a literal system/user text."""
    root = Path(__file__).resolve().parents[2]
    for py in list((root / "agentrag").rglob("*.py")) + list((root / "graphs").rglob("*.py")):
        text = py.read_text()
        assert 'SystemMessage("' not in text and 'HumanMessage("' not in text, py
        assert "You are a" not in text, py
