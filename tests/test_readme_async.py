"""The README's "Async components" example runs and prints what it says it prints."""

from __future__ import annotations

import contextlib
import io
import pathlib
import re

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"


def _async_example() -> str:
    text = README.read_text()
    section = text[text.index("**Async components**"):]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "the Async components section has no python example"
    return match.group(1)


def test_readme_async_example_runs_as_documented() -> None:
    code = _async_example()
    expected = [line.split("#", 1)[1].strip() for line in code.splitlines()
                if line.startswith("print(") and "#" in line]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {})
    assert out.getvalue().splitlines() == expected
