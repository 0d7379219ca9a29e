"""The house rules, checked: the import contracts in ``.importlinter`` hold (``lint-imports``),
and no module under ``index/``, ``retrieval/`` or ``bot/`` is over ``MAX_LINES`` lines
unless a ``# size: <reason>`` line near its top says why (ARCHITECTURE.md)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "retrieval", "index")
MAX_LINES = 400
SIZE_MARKER = "# size:"
#: How far from the top the ``# size:`` line may be (after the docstring's first lines).
MARKER_WITHIN = 30


def lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    binary = Path(sys.executable).parent / "lint-imports"
    if not binary.exists():
        pytest.skip("import-linter is not installed (pip install -e '.[dev]')")
    # PYTHONPATH first: the packages are analysed from cwd, not from the editable install
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(cwd)}
    return subprocess.run([str(binary), "--no-cache", "--no-logo"], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_import_contracts_hold() -> None:
    result = lint_imports(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def copy_packages(dest: Path) -> None:
    shutil.copy(REPO / ".importlinter", dest / ".importlinter")
    for package in PACKAGES:
        shutil.copytree(REPO / package, dest / package,
                        ignore=shutil.ignore_patterns("__pycache__", "*.safetensors", "*.json"))


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        ("index/errors.py", "import retrieval.models\n", "no upward import"),  # index -> retrieval
        ("retrieval/models.py", "import bot.render\n", "no upward import"),  # retrieval -> bot
        ("index/store/layout.py", "import index.sources.dates\n", "independent"),
        ("index/sources/dates.py", "import index.live.state\n", "neither index.live"),
        ("bot/render.py", "import bot.handlers\n", "no import cycle"),  # handlers imports render
        ("retrieval/models.py", "import pymilvus\n", "only index.store imports pymilvus"),
    ],
)
def test_lint_imports_fails_on_a_violation(tmp_path: Path, module: str, line: str, broken: str) -> None:
    """The check is real: one added import in a scratch copy breaks the named contract (and
        maybe the cycle contract too: sources -> live closes a loop, as live imports sources)."""
    copy_packages(tmp_path)
    target = tmp_path / module
    target.write_text(target.read_text() + "\n" + line)
    result = lint_imports(tmp_path)
    assert result.returncode != 0, result.stdout
    broken_lines = [ln for ln in result.stdout.splitlines() if "BROKEN" in ln]
    assert any(broken in ln for ln in broken_lines), result.stdout


# ---------------------------------------------------------------- module size

#: TODO(issue 10): over the limit, but being edited for the Milvus backend at the time the
#: rule came in; split them (or give a reason) once that lands, then empty this set.
TEMPORARILY_ALLOWED: frozenset[str] = frozenset()


def size_reason(path: Path) -> str | None:
    """The reason after ``# size:`` in the first ``MARKER_WITHIN`` lines, if any."""
    for line in path.read_text(encoding="utf-8").splitlines()[:MARKER_WITHIN]:
        if line.startswith(SIZE_MARKER) and line[len(SIZE_MARKER):].strip():
            return line[len(SIZE_MARKER):].strip()
    return None


def oversized(root: Path) -> list[str]:
    out = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            rel = path.relative_to(root).as_posix()
            n = len(path.read_text(encoding="utf-8").splitlines())
            if n > MAX_LINES and size_reason(path) is None and rel not in TEMPORARILY_ALLOWED:
                out.append(f"{rel} ({n} lines)")
    return out


def test_no_module_over_the_size_limit_without_a_reason() -> None:
    over = oversized(REPO)
    assert not over, (f"over {MAX_LINES} lines with no '{SIZE_MARKER} <reason>' line at the top: "
                      f"{over}; split by job, or say why not (ARCHITECTURE.md)")


def test_the_temporary_allowance_is_not_stale() -> None:
    """A module allowed over the limit that is now under it (or gone) leaves the list."""
    for rel in TEMPORARILY_ALLOWED:
        path = REPO / rel
        assert path.exists() and len(path.read_text(encoding="utf-8").splitlines()) > MAX_LINES, (
            f"{rel} is no longer over {MAX_LINES} lines: remove it from TEMPORARILY_ALLOWED")


def test_size_rule_fails_and_is_satisfied_by_a_reason(tmp_path: Path) -> None:
    for package in PACKAGES:
        (tmp_path / package).mkdir()
    big = tmp_path / "index" / "big.py"
    body = "".join(f"x{i} = {i}\n" for i in range(MAX_LINES + 1))
    big.write_text('"""A big module."""\n' + body)
    assert oversized(tmp_path) == [f"index/big.py ({MAX_LINES + 2} lines)"]
    big.write_text(f'"""A big module."""\n{SIZE_MARKER}\n' + body)  # a marker without a reason
    assert oversized(tmp_path)
    big.write_text(f'"""A big module."""\n{SIZE_MARKER} one generated table\n' + body)
    assert oversized(tmp_path) == []
