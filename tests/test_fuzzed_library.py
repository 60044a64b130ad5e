"""A library of 1,000 damaged files: scanned, analysed and exported without a traceback.

The files are seeded mutations (bit flips, truncation, zeroed blocks, another
format's header spliced in, lying extensions) of the project's own tagged
fixtures, one per format (:mod:`hostile_files`). All 1,000 are scanned through
the CLI. To keep the run short on two shared cores, a seeded subset of the
readable tracks is analysed (``ANALYSED``, with the tiny bundle and the cheapest
engine options the engine tests use) and another exported (``EXPORTED``).
Every failure must be one line; every file the export wrote must decode to
exactly the samples it decoded to before (or fail to decode both times); the
database must pass ``db check`` at the end.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
from pathlib import Path

import numpy as np
import pytest
from audio_files import make_audio, tag_file
from hostile_files import KINDS, mutate_many
from sqlalchemy import select
from tiny_bundle import make_tiny_bundle
from writing.helpers import AVAILABLE

from tagger_core.cli import main
from tagger_core.db import open_library
from tagger_core.db.models import Analysis, ExportItem, Track
from tagger_core.errors import TaggerError
from tagger_core.listening.decode import decode
from tagger_core.listening.engine import analyze
from tagger_core.trust.review import decide
from tagger_core.writing import ExportOptions, run_export

SEED = 19
COUNT = 1000
ANALYSED = 120
EXPORTED = 250


def run_cli(*args: str) -> tuple[int, str, str]:
    """``music-tagger ARGS`` in this process: exit status, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def decoded(path: str) -> np.ndarray | str:
    """The samples a file decodes to, or the one-line reason it does not."""
    try:
        return decode(path, 16000)
    except TaggerError as err:
        return str(err)


def same_audio(before: np.ndarray | str, after: np.ndarray | str) -> bool:
    if isinstance(before, str) or isinstance(after, str):
        return isinstance(before, str) and isinstance(after, str)
    return before.shape == after.shape and np.array_equal(before, after)


@pytest.fixture(scope="module")
def damaged(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The damaged library, scanned through the CLI once for every test here."""
    root = tmp_path_factory.mktemp("fuzz")
    templates = {}
    for i, ext in enumerate(AVAILABLE):
        path = root / "templates" / f"template{ext}"
        path.parent.mkdir(exist_ok=True)
        make_audio(path, seconds=0.6, seed=i)
        tag_file(path, title=f"Title {ext}", genres=["Rock"])
        templates[ext] = path.read_bytes()
    mutations = mutate_many(templates, COUNT, SEED, root / "music")
    db = str(root / "library.db")
    code, out, err = run_cli("--db", db, "scan", str(root / "music"))
    return {"root": root, "db": db, "mutations": mutations, "scan": (code, out, err)}


def test_every_kind_of_damage_is_in_the_library(damaged) -> None:
    kinds = {m.kind for m in damaged["mutations"]}
    assert kinds == set(KINDS) and len(damaged["mutations"]) == COUNT


def test_scan_reads_every_file_and_reports_each_failure_in_one_line(damaged) -> None:
    code, out, err = damaged["scan"]
    assert code == 0 and "Traceback" not in out + err, err
    match = re.search(r"Scanned (\d+) files.*?(\d+) new.*?(\d+) unreadable", out)
    assert match and int(match[1]) == COUNT and int(match[2]) == COUNT
    library = open_library(damaged["db"])
    try:
        with library.session() as s:
            tracks = list(s.scalars(select(Track)))
    finally:
        library.close()
    assert len(tracks) == COUNT
    unreadable = [t for t in tracks if t.status == "unreadable"]
    assert len(unreadable) == int(match[3]) and 0 < len(unreadable) < COUNT
    assert {t.status for t in tracks} == {"ok", "unreadable"}
    for track in unreadable:
        assert track.error and "\n" not in track.error, track.path_text
        assert not track.error.endswith(": "), track.error
    # the CLI lists the first problems, one line each, starting with the file
    problems = [line for line in out.splitlines() if line.startswith("  ! ")]
    assert len(problems) == 20
    assert all(line[4:].startswith(str(damaged["root"])) for line in problems)


def _subset(library, n: int, seed: int) -> list[int]:
    with library.session() as s:
        ids = sorted(s.scalars(select(Track.id).where(Track.status == "ok")))
    rng = np.random.default_rng(seed)
    return sorted(int(i) for i in rng.choice(ids, size=min(n, len(ids)), replace=False))


def test_analysis_stores_one_row_per_track_and_one_line_per_failure(damaged) -> None:
    bundle = make_tiny_bundle(damaged["root"] / "bundles", "tiny-fuzz", seed=5)
    library = open_library(damaged["db"])
    try:
        ids = _subset(library, ANALYSED, SEED)
        report = analyze(library, ids, bundles=[bundle], optimize=False, workers=1, batch_size=16)
        with library.session() as s:
            rows = list(s.scalars(select(Analysis).where(Analysis.track_id.in_(ids))))
    finally:
        library.close()
    assert not report.cancelled
    assert report.tracks_done + len(report.errors) == len(ids)
    assert report.tracks_done > 0 and report.errors
    assert sorted(r.track_id for r in rows) == ids
    for line in report.errors:
        assert "\n" not in line and line.startswith(str(damaged["root"])), line
    for row in rows:
        assert (row.status == "ok") == (row.member_logits is not None)
        assert row.status == "ok" or (row.error and "\n" not in row.error)


def test_export_never_changes_what_a_written_file_decodes_to(damaged) -> None:
    library = open_library(damaged["db"])
    try:
        ids = _subset(library, EXPORTED, SEED + 1)
        with library.session() as s:
            paths = {t.id: os.fsdecode(t.path) for t in s.scalars(select(Track))}
        before = {tid: decoded(paths[tid]) for tid in ids}
        for tid in ids:
            decide(library, tid, "genre", "Jazz", "accept", 0.8)
        report = run_export(library, ExportOptions())
        with library.session() as s:
            items = list(
                s.scalars(select(ExportItem).where(ExportItem.batch_id == report.batch_id))
            )
    finally:
        library.close()
    assert report.total == len(ids) == len(items)
    assert report.written > 0 and report.failed + report.skipped > 0
    for line in report.problems:
        assert "\n" not in line and line.startswith(str(damaged["root"])), line
    written = [i for i in items if i.status == "written"]
    assert len(written) == report.written
    changed = [
        paths[i.track_id]
        for i in written
        if not same_audio(before[i.track_id], decoded(paths[i.track_id]))
    ]
    assert changed == []
    for item in items:
        assert item.status in ("written", "failed", "skipped"), item.status
        assert item.status == "written" or (item.message and "\n" not in item.message)


def test_database_check_passes_afterwards(damaged) -> None:
    code, out, err = run_cli("--db", damaged["db"], "db", "check")
    assert code == 0, out + err
    assert out.startswith("database ok")


def test_the_damage_is_the_same_for_the_same_seed(tmp_path: Path) -> None:
    templates = {".wav": bytes(range(256)) * 40, ".flac": bytes(range(255, -1, -1)) * 40}
    first = mutate_many(templates, 30, SEED, tmp_path / "a")
    again = mutate_many(templates, 30, SEED, tmp_path / "b")
    assert [m.path.read_bytes() for m in first] == [m.path.read_bytes() for m in again]
    assert [m.path.name for m in first] == [m.path.name for m in again]
