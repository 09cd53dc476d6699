"""One error path: verbatim text, no tracebacks without --debug, exit 3 for "not found", whole ids."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from clihelpers import Run


def test_help_keeps_square_brackets(run: Run) -> None:
    res = run("--help")
    assert "[env AGENTRAG_DATA_DIR]" in res.flat and "[env AGENTRAG_CONFIG]" in res.flat


def test_library_text_is_printed_verbatim_not_as_markup(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    from agentrag.errors import MissingDependencyError
    from agentrag.llm import factory

    def no_vllm(cfg: object) -> None:  # what the vllm backend raises where vLLM is not installed
        raise MissingDependencyError("vllm", extra="gpu", why="the in-process backend needs it")

    monkeypatch.setattr(factory, "make_llm", no_vllm)
    res = run("ask", "q?", "-n", "u", "--backend", "vllm", "--model", "m", code=2)
    assert "pip install 'agentrag[gpu]'" in res.flat
    res = run("memory", "add", "-n", "u", "--file", "notes[draft].md", code=2)
    assert "notes[draft].md" in res.flat


@pytest.mark.parametrize(
    ("setup", "args", "needle"),
    [
        (None, ["ask", "q?", "-n", "u", "--script", "nope.yaml"], "--script nope.yaml: no such file"),
        ("bad.yaml", ["ask", "q?", "-n", "u", "--script", "bad.yaml"], "not valid YAML"),
        ("afile", ["--data-dir", "afile", "memory", "list", "-n", "u"], "is a file, not a folder"),
        ("afile", ["--data-dir", "afile", "ingest", "x.txt", "-n", "u", "--no-derive"], "--data-dir afile"),
    ],
)
def test_no_traceback_without_debug(run: Run, tmp_path: Path, setup: str | None, args: list[str], needle: str) -> None:
    if setup == "bad.yaml":
        (tmp_path / "bad.yaml").write_text("answerer/cited: [unclosed\n")
    elif setup == "afile":
        (tmp_path / "afile").write_text("I am a file\n")
        (tmp_path / "x.txt").write_text("some text\n")
    res = run(*args, code=2)
    assert needle in res.flat, res.flat
    assert "Traceback" not in res.out + res.err and res.err.startswith("error:")


def test_debug_shows_the_traceback(run: Run) -> None:
    res = run("--debug", "ask", "q?", "-n", "u", "--script", "nope.yaml", code=1)
    assert res.code != 0  # the exception propagates to the runner instead of becoming one line


def test_not_found_is_exit_3_for_history_explain_and_forget(run: Run) -> None:
    (item,) = json.loads(run("memory", "add", "-n", "u", "a fact to keep", "--json").out)["added"]
    for args in (["history", "-n", "u", "r-0000"], ["explain", "-n", "u", "r-0000"], ["forget", "-n", "u", "r-0000", "-y"]):
        res = run("memory", *args, code=3)
        assert "r-0000" in res.err and "Traceback" not in res.err
    res = run("memory", "forget", "-n", "u", item, "r-0000", "-y", code=3)  # the known one is still forgotten
    assert "forgot 1 of 2" in res.out
    assert run("memory", "history", "-n", "u", item).code == 0


def test_ids_are_printed_whole_in_80_column_tables(run: Run) -> None:
    ids = json.loads(run("memory", "add", "-n", "u", "x" * 300, "--speaker", "ann", "--json").out)["added"]
    listed = run("memory", "list", "-n", "u").out
    found = run("memory", "search", "-n", "u", "xxxx").out
    for text in (listed, found):
        assert ids[0] in text
    assert json.loads(run("memory", "list", "-n", "u", "--json").out)[0]["id"] == ids[0]  # --json unchanged


def test_unexpected_errors_are_one_line_with_exit_1(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    from agentrag import cli_memory

    def boom(*a: object, **k: object) -> None:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(cli_memory, "_items_table", boom)
    run("memory", "add", "-n", "u", "hello")
    res = run("memory", "list", "-n", "u", code=1)
    assert "internal error: ZeroDivisionError" in res.flat and "--debug" in res.flat and "Traceback" not in res.err
