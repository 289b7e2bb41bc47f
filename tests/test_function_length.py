"""No function in hub_publish/ and model_cards/ is longer than 80 lines (issue 12), unless it says why.

A function's length counts from its ``def`` line to its last line, without its docstring (nested
functions count in the function holding them, and are checked themselves). A longer function must
carry a ``# long: <why>`` comment on the line just above its ``def`` (above its decorators, if any)
or as the first comment of its body. Read with ``ast`` and ``tokenize``: nothing is imported.
"""

from __future__ import annotations

import ast
import io
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("hub_publish", "model_cards")
MAX_LINES = 80
EXEMPTION = "# long:"


def function_lengths(source: str) -> list[tuple[str, int, int, bool]]:
    """``(qualified name, def line, length, exempted)`` for every function of ``source``."""
    lines = source.splitlines()
    comments = {
        tok.start[0]: tok.string
        for tok in tokenize.generate_tokens(io.StringIO(source).readline)
        if tok.type == tokenize.COMMENT
    }
    found = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = f"{prefix}{child.name}"
                length = child.end_lineno - child.lineno + 1
                body = child.body
                if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
                        and isinstance(body[0].value.value, str):
                    length -= body[0].end_lineno - body[0].lineno + 1
                top = min([child.lineno, *(d.lineno for d in child.decorator_list)])
                above = lines[top - 2].strip() if top >= 2 else ""
                first_comment = next(
                    (text for line, text in sorted(comments.items()) if child.lineno < line <= child.end_lineno), ""
                )
                exempt = above.startswith(EXEMPTION) or first_comment.startswith(EXEMPTION)
                found.append((name, child.lineno, length, exempt))
                visit(child, f"{name}.")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            else:
                visit(child, prefix)

    visit(ast.parse(source), "")
    return found


def test_no_function_is_over_80_lines_without_a_reason() -> None:
    too_long = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for name, line, length, exempt in function_lengths(path.read_text(encoding="utf-8")):
                if length > MAX_LINES and not exempt:
                    too_long.append(f"{path.relative_to(ROOT)}:{line} {name} is {length} lines")
    assert too_long == [], (
        f"functions over {MAX_LINES} lines (split them, or say why above the def with '{EXEMPTION} <why>'):\n"
        + "\n".join(too_long)
    )


def test_the_length_check_counts_and_reads_the_exemption() -> None:
    body = "".join(f"    x{i} = {i}\n" for i in range(MAX_LINES))  # def + 80 lines = 81
    doc = '    """Doc.\n\n    More.\n    """\n'
    assert function_lengths("def f():\n" + body) == [("f", 1, MAX_LINES + 1, False)]
    assert function_lengths("def f():\n" + doc + body[: -len(f"    x{MAX_LINES - 1} = {MAX_LINES - 1}\n")]) == [
        ("f", 1, MAX_LINES, False)
    ]  # the docstring does not count
    assert function_lengths("# long: one table\n@decorator\ndef f():\n" + body)[0][3] is True
    assert function_lengths("def f():\n    # long: one table\n" + body)[0][3] is True
    assert function_lengths("def f():\n    # not a reason\n" + body)[0][3] is False
    nested = function_lengths("class C:\n    def m(self):\n        def inner():\n            pass\n")
    assert [(n, length) for n, _, length, _ in nested] == [("C.m", 3), ("C.m.inner", 2)]
