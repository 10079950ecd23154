"""The import layering of DESIGN.md: no family imports another family, the core imports no
family, and nothing chooses a family by comparing its name (the family table does that).

Also runnable as a script: `python tests/test_layering.py` prints every import that breaks a rule.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "tfusion"
FAMILIES = ("timeseries", "dit", "multimodal")
TABLE = ("families.py", "cli")  # the table and the thin CLI may name families


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every tfusion module a file imports, at any depth (function-level imports too)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tfusion"):
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("tfusion")]
    return found


def _family(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in FAMILIES else None


def violations() -> list[str]:
    """Lines `file:line imports module (rule)` for every import that breaks the layering."""
    bad = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC)
        home = rel.parts[0] if rel.parts[0] in FAMILIES else None
        if rel.parts[0] in TABLE:
            continue
        for line, module in _imports(path):
            fam = _family(module)
            if fam is None or fam == home:
                continue
            rule = f"family {home} imports family {fam}" if home else "the core imports a family"
            bad.append(f"{rel}:{line} imports {module} ({rule})")
    return bad


def test_no_family_imports_another_and_the_core_imports_none() -> None:
    assert violations() == []


def test_the_checker_sees_a_violation(tmp_path: Path) -> None:
    """The rule can fail: a core-style file importing a family is reported."""
    f = tmp_path / "x.py"
    f.write_text("def f():\n    from tfusion.dit.model import DiT\n")
    assert [m for _, m in _imports(f)] == ["tfusion.dit.model", "tfusion.dit.model.DiT"]
    assert _family("tfusion.dit.model") == "dit"
    assert _family("tfusion.diffusion.loss") is None


def test_no_if_elif_over_family_names() -> None:
    """Nothing compares a value with a family's name: the family table picks the code."""
    pattern = re.compile(r"""(==|!=|\bin)\s*\(?\s*["'](timeseries|dit|multimodal)["']""")
    hits = []
    for path in sorted(SRC.rglob("*.py")):
        for i, text in enumerate(path.read_text().splitlines(), 1):
            if pattern.search(text):
                hits.append(f"{path.relative_to(SRC)}:{i}: {text.strip()}")
    assert hits == []


if __name__ == "__main__":
    problems = violations()
    print(
        "\n".join(problems)
        if problems
        else "layering OK: no family imports another family, the core imports no family"
    )
    raise SystemExit(1 if problems else 0)
