"""metadata.json is parsed in exactly one place: `hub_publish.format` (issue 12).

Every other module reads it through `format.read_metadata` / `format.parse_metadata` (the typed
`Metadata`). The check reads the source with ``ast``: a function (or module body) of any other
module that names metadata.json (``METADATA_FILE`` or the literal file name) and also parses JSON
with ``json.load``/``json.loads``, or that hands metadata.json to format's generic
``read_json_object``/``parse_json_object``, is a second parser.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HOME = ROOT / "hub_publish" / "format.py"
SCANNED = ("hub_publish", "model_cards", "scripts")
GENERIC_READERS = {"read_json_object", "parse_json_object"}


def _names_metadata(node: ast.AST) -> bool:
    if isinstance(node, ast.Name):
        return node.id == "METADATA_FILE"
    if isinstance(node, ast.Attribute):
        return node.attr == "METADATA_FILE"
    return isinstance(node, ast.Constant) and node.value == "metadata.json"


def _parses_json(node: ast.AST) -> str | None:
    """``"json"`` for ``json.load(s)(...)``, ``"generic"`` for format's generic JSON readers
    called with metadata.json, else None."""
    if not isinstance(node, ast.Call):
        return None
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
    if name in ("load", "loads"):  # json.load(s), not pickle.load or yaml.load
        is_json = isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "json"
        return "json" if is_json else None
    if name in GENERIC_READERS and any(_names_metadata(n) for arg in node.args for n in ast.walk(arg)):
        return "generic"
    return None


def metadata_parsers(source: str, where: str) -> list[str]:
    """``where:function`` for each scope of ``source`` that names metadata.json and parses JSON."""
    found = []

    def scope(body: ast.AST, name: str) -> None:
        names, parses, generic = False, False, False
        stack = list(ast.iter_child_nodes(body))
        while stack:
            node = stack.pop()
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                scope(node, f"{name}.{node.name}" if name else node.name)
                continue
            names = names or _names_metadata(node)
            kind = _parses_json(node)
            parses, generic = parses or kind == "json", generic or kind == "generic"
            stack.extend(ast.iter_child_nodes(node))
        if (names and parses) or generic:
            found.append(f"{where}:{name or '<module>'}")

    scope(ast.parse(source), "")
    return found


def test_metadata_json_is_parsed_only_by_the_format_module() -> None:
    found = []
    for package in SCANNED:
        for path in sorted((ROOT / package).rglob("*.py")):
            if path != HOME:
                found += metadata_parsers(path.read_text(encoding="utf-8"), path.relative_to(ROOT).as_posix())
    assert found == [], (
        "metadata.json parsed outside hub_publish/format.py (use format.read_metadata / format.parse_metadata): "
        f"{found}"
    )


def test_the_check_sees_a_second_parser() -> None:
    # Positive controls: the shapes of the parsers this test replaced, and what it must not flag.
    finetune_like = (
        "import json\nfrom hub_publish import constants\n"
        "def head(folder):\n    return json.loads((folder / constants.METADATA_FILE).read_text())\n"
    )
    nested = "import json\ndef f(p):\n    def g():\n        return json.load(open(p / 'metadata.json'))\n    return g\n"
    generic = "from hub_publish import format as fmt\ndef f(d):\n    return fmt.read_json_object(d, fmt.METADATA_FILE, required=True)\n"
    assert metadata_parsers(finetune_like, "m.py") == ["m.py:head"]
    assert metadata_parsers(nested, "m.py") == ["m.py:f.g"]
    assert metadata_parsers(generic, "m.py") == ["m.py:f"]
    # The typed reader, and messages that merely name the file, are fine.
    typed = "from hub_publish import format as fmt\ndef f(d):\n    return fmt.read_metadata(d).head_layer\n"
    message = "import json\ndef f(d):\n    json.dumps({})\n    raise ValueError('metadata.json is malformed')\n"
    assert metadata_parsers(typed, "m.py") == []
    assert metadata_parsers(message, "m.py") == []
    # The format module itself does parse it (so the check would see it there).
    assert metadata_parsers(HOME.read_text(encoding="utf-8"), "format.py")
