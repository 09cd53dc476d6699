"""One way to print a user error on the command line: one red line, never wrapped.

Rich wraps console output at the terminal width (80 columns when there is no
terminal, or ``$COLUMNS``), so an error naming a long path came out split over
several lines, which broke anything that searched it (scripts, tests, ``grep``).
The message is printed as plain text with soft wrapping, so the terminal folds it
if it must and the bytes stay one line; it is not parsed as rich markup, so text
in square brackets (``agentrag[eval]``, paths) is printed as it is.
"""

from __future__ import annotations

from rich.console import Console
from rich.text import Text


def print_error(console: Console, message: object) -> None:
    """Print ``error: <message>`` on one unwrapped line, the message verbatim."""
    console.print(Text.assemble(("error:", "bold red"), " ", str(message)), soft_wrap=True, highlight=False)
