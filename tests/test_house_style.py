"""The house rules that code review would otherwise have to catch: short functions, no dangling references."""
import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_CODE_LINES = 60


def code_lines(node: ast.AST, source: list[str]) -> int:
    """Non-blank, non-comment lines of a function after its docstring."""
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
            and isinstance(body[0].value.value, str):
        body = body[1:]
    if not body:
        return 0
    lines = source[body[0].lineno - 1:node.end_lineno]
    return sum(1 for line in lines if line.strip() and not line.strip().startswith("#"))


def long_functions() -> list[str]:
    out = []
    for path in sorted((ROOT / "minelib").rglob("*.py")):
        text = path.read_text()
        source = text.splitlines()
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = code_lines(node, source)
                if n > MAX_CODE_LINES:
                    out.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({n} code lines)")
    return out


def test_no_function_in_minelib_is_over_60_code_lines():
    assert long_functions() == []


def test_the_counter_counts_code_not_docstrings_or_comments():
    src = 'def f():\n    """doc\n    more"""\n    # why\n\n    a = 1\n    return a\n'
    (fn,) = ast.parse(src).body
    assert code_lines(fn, src.splitlines()) == 2


def test_nothing_points_at_a_file_the_repository_does_not_have():
    # The planning notes stay outside the repository; a reader of a clone must resolve every reference. The
    # names are assembled from parts so that this file holds no such reference itself and is scanned too.
    outside = ("PAPER" + "_SPEC", ".." + "/shared", "/work" + "/shared")
    pattern = re.compile("|".join(map(re.escape, outside)))
    hits = []
    for path in ROOT.rglob("*"):
        if path.is_file() and path.suffix in {".py", ".md", ".ipynb", ".sh", ".yml", ".toml", ".cff"} \
                and not any(part in {".venv", ".git", "results", "test-output"} for part in path.parts):
            hits += [f"{path.relative_to(ROOT)}" for line in path.read_text(errors="ignore").splitlines()
                     if pattern.search(line)]
    assert sorted(set(hits)) == []


def test_docs_links_resolve():
    # Relative markdown links in the README and docs/ name files that exist.
    missing = []
    for md in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#\s]+)", md.read_text()):
            if not re.match(r"[a-z]+://", target) and not (md.parent / target).exists():
                missing.append(f"{md.name} -> {target}")
    assert missing == []
