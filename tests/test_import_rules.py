"""The import rules of docs/architecture.md, checked on the source and in fresh interpreters.

Static part: every ``import`` in ``tagger_core`` and ``app`` (module level and inside
functions) is read with ``ast`` and checked against the table of what each stage may
import. Dynamic part: fresh interpreters import the torch-free stages, and run the
commands that run no model, then report which heavy packages got imported.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
from audio_files import make_audio

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "tagger_core"
BASE = "base"  # tagger_core itself, errors.py, resources.py: anyone may import them
STAGES = ("db", "labels", "library", "trust", "listening", "writing", "training", "cli")

# stage → the stages of ours it may import (besides BASE and itself)
MAY_IMPORT: dict[str, set[str]] = {
    "db": set(),
    "labels": {"db"},
    "library": {"db", "labels"},
    "trust": {"db", "labels"},
    "listening": {"db", "labels", "library", "trust"},
    "writing": {"db", "labels", "library", "trust"},
    "training": {"db", "labels", "library", "trust", "listening"},
    "cli": set(STAGES) - {"cli"},
}
NO_TORCH_STAGES = ("db", "labels", "trust")
QT = ("PySide6", "shiboken6", "app")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _parse(path: Path) -> ast.Module:
    """``ast.parse``, once more when CPython 3.11 trips over its own recursion counter.

    Why: CPython < 3.11.8 shares the AST converter's depth counter between threads
    (gh-106905), so a parse racing another thread's (an import in a worker thread
    left by an earlier test) can raise a spurious "AST constructor recursion depth
    mismatch" SystemError; the source is fine and a second parse succeeds.
    """
    source = path.read_text(encoding="utf-8")
    try:
        return ast.parse(source, str(path))
    except SystemError as err:
        if "recursion depth mismatch" not in str(err):
            raise
    return ast.parse(source, str(path))


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, imported module) for every import statement in ``path``."""
    tree = _parse(path)
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
            # ``from tagger_core.trust import review`` imports the submodule too
            found.extend((node.lineno, f"{node.module}.{a.name}") for a in node.names)
    return found


def _stage(module: str) -> str | None:
    """The stage a ``tagger_core`` module belongs to (BASE for the shared top level)."""
    parts = module.split(".")
    if parts[0] != "tagger_core":
        return None
    if len(parts) > 1 and parts[1] in STAGES:
        return parts[1]
    return BASE


def _core_files() -> list[Path]:
    return sorted(p for p in CORE.rglob("*.py") if "migrations" not in p.parts)


def _stage_edges() -> dict[tuple[str, str], list[str]]:
    """(importing stage, imported stage) → where, for every cross-stage import in the core."""
    edges: dict[tuple[str, str], list[str]] = {}
    for path in _core_files():
        own = _stage(_module_name(path))
        for line, module in _imports(path):
            other = _stage(module)
            if other not in (None, BASE, own) and own != BASE:
                edges.setdefault((own, other), []).append(f"{path.relative_to(ROOT)}:{line}")
    return edges


def test_every_stage_imports_only_what_the_table_allows() -> None:
    bad = {
        f"{a} → {b}": where
        for (a, b), where in _stage_edges().items()
        if b not in MAY_IMPORT[a]
    }
    assert not bad, bad


def test_no_import_cycles_between_stages() -> None:
    graph: dict[str, set[str]] = {}
    for a, b in _stage_edges():
        graph.setdefault(a, set()).add(b)

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in graph.get(start, ()):
            if nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})):
                return True
        return False

    assert not [s for s in graph if reaches(s, s, {s})]


def test_the_core_never_imports_qt_or_the_app() -> None:
    bad = [
        f"{p.relative_to(ROOT)}:{line} {m}"
        for p in _core_files()
        for line, m in _imports(p)
        if m.split(".")[0] in QT
    ]
    assert not bad


def test_torch_free_stages_do_not_name_torch_and_the_app_not_cli() -> None:
    heavy = ("torch", "safetensors", "librosa")
    bad = [
        f"{p.relative_to(ROOT)}:{line} {m}"
        for p in _core_files()
        if _stage(_module_name(p)) in NO_TORCH_STAGES
        for line, m in _imports(p)
        if m.split(".")[0] in heavy or _stage(m) in ("listening", "training")
    ]
    for path in sorted((ROOT / "app").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        where = path.relative_to(ROOT)
        bad += [f"{where}:{n} {m}" for n, m in _imports(path) if _stage(m) == "cli"]
        if "tagger_core.cli" in text:  # importlib names count too
            bad.append(f"{path.relative_to(ROOT)} names tagger_core.cli")
    assert not bad


def _fresh(code: str) -> dict:
    """Run ``code`` in a new interpreter; it prints one JSON object as its last line."""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


LOADED = (
    "import json, sys\n"
    "print(json.dumps({m: m in sys.modules for m in "
    "('torch', 'scipy.optimize', 'matplotlib', 'librosa', 'PySide6', 'alembic')}))\n"
)


def test_db_labels_and_trust_import_without_torch() -> None:
    code = (
        "import importlib, pkgutil\n"
        f"for stage in {NO_TORCH_STAGES!r}:\n"
        "    package = importlib.import_module('tagger_core.' + stage)\n"
        "    for info in pkgutil.walk_packages(package.__path__, package.__name__ + '.'):\n"
        "        if '.migrations' not in info.name:\n"
        "            importlib.import_module(info.name)\n"
    ) + LOADED
    loaded = _fresh(code)
    assert loaded["torch"] is False and loaded["librosa"] is False and loaded["PySide6"] is False


@pytest.fixture
def small_library(tmp_path: Path) -> Path:
    from tagger_core.db import open_library
    from tagger_core.library.scan import scan

    music = tmp_path / "music"
    music.mkdir()
    make_audio(music / "a.flac", seconds=0.5)
    library = open_library(tmp_path / "lib.db")
    scan(library, [music])
    library.close()
    return tmp_path / "lib.db"


def _run_commands(commands: list[list[str]]) -> dict:
    code = (
        "import contextlib, io\n"
        "from tagger_core.cli import main\n"
        f"for argv in {commands!r}:\n"
        "    with contextlib.redirect_stdout(io.StringIO()):\n"
        "        try:\n"
        "            code = main(argv)\n"
        "        except SystemExit as exit_:\n"
        "            code = exit_.code\n"
        "    assert code == 0, (argv, code)\n"
    ) + LOADED
    return _fresh(code)


def test_light_commands_start_without_torch_scipy_optimisers_or_matplotlib(
    small_library: Path,
) -> None:
    db = str(small_library)
    loaded = _run_commands(
        [
            ["--db", db, "status"],
            ["--db", db, "tracks"],
            ["--db", db, "show", "1"],
            ["--db", db, "albums"],
            ["--help"],
        ]
    )
    assert not any(loaded.values()), loaded


def test_status_imports_neither_numpy_nor_the_listing_code(small_library: Path) -> None:
    """``status`` starts in ≤ 0.5 s (issue 20) by importing only what it prints from."""
    code = (
        "import contextlib, io, json, sys\n"
        "from tagger_core.cli import main\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n"
        f"    assert main(['--db', {str(small_library)!r}, 'status']) == 0\n"
        "assert '1 tracks' in out.getvalue(), out.getvalue()\n"
        "unwanted = ('numpy', 'tagger_core.cli.library', 'tagger_core.library.track_views',\n"
        "            'tagger_core.labels.taxonomy', 'sqlalchemy.dialects.postgresql',\n"
        "            'tagger_core.library.scan', 'mutagen', 'alembic')\n"
        "print(json.dumps({m: m in sys.modules for m in unwanted}))\n"
    )
    loaded = _fresh(code)
    assert not any(loaded.values()), loaded


def test_commands_that_run_no_model_import_no_torch(small_library: Path, tmp_path: Path) -> None:
    db = str(small_library)
    loaded = _run_commands(
        [
            ["--db", db, "review"],
            ["--db", db, "review", "claim", "2", "--user", "ann"],
            ["--db", db, "review", "claims"],
            ["--db", db, "review", "conflicts"],
            ["--db", db, "export", "--dry-run"],
            ["--db", db, "export", "db", "--format", "csv", "-o", str(tmp_path / "dump.csv")],
            ["--db", db, "calibrate", "--list"],
        ]
    )
    assert loaded["torch"] is False and loaded["librosa"] is False, loaded


def test_every_command_is_owned_by_the_module_that_registers_it() -> None:
    import argparse
    import importlib

    from tagger_core.cli import COMMAND_MODULES

    for name, commands in COMMAND_MODULES.items():
        parser = argparse.ArgumentParser()
        sub = parser.add_subparsers()
        importlib.import_module(name).register(sub)
        assert tuple(sub.choices) == commands, name
