"""Compare command-line output without depending on terminal width, wrapping or colour."""

from __future__ import annotations

import re

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_BOX = re.compile(r"[│╭╮╰╯─┃━]")


def flat(text: str) -> str:
    """Text with ANSI codes and rich box borders dropped and every run of whitespace made one space."""
    return " ".join(_BOX.sub(" ", _ANSI.sub("", text)).split())
