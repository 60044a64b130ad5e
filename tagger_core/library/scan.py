"""Incremental library scan: walk folders, read tags of new or changed files, store them.

An unchanged file (same size and mtime_ns) costs one ``stat``. New and changed
files are read in parallel worker processes (mutagen is pure Python, so
processes, not threads, give the speed-up). A file that vanished is marked
missing, never deleted; a new file whose audio fingerprint matches a vanished
or missing track is recognised as that track moved, and keeps its history.
Work is committed in batches, so a scan killed midway keeps what it stored.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import stat
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tagger_core.db import Library
from tagger_core.db.models import LibraryRoot, Track, utcnow
from tagger_core.errors import Cancelled, TaggerError, UnreadableFileError, one_line
from tagger_core.library.album_identity import album_key
from tagger_core.library.audio_fingerprint import fingerprint
from tagger_core.library.file_tags import read_tags
from tagger_core.library.formats import DEFAULT_EXTENSIONS, extension_of

BATCH = 200
POOL_THRESHOLD = 64
UPDATE_CHUNK = 900  # ids per UPDATE, under SQLite's old limit of 999 bound parameters


@dataclass
class ScanProgress:
    """Where a scan stands; ``total`` is 0 while still walking folders."""

    phase: str
    done: int
    total: int
    path: str = ""


@dataclass
class ScanReport:
    """What a scan found and did."""

    roots: list[str] = field(default_factory=list)
    seen: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    moved: int = 0
    missing: int = 0
    unreadable: int = 0
    errors: list[str] = field(default_factory=list)
    cancelled: bool = False
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class _Seen:
    path: str
    size: int
    mtime_ns: int


ProgressFn = Callable[[ScanProgress], None]


def path_text(path: str) -> str:
    """A readable rendering of a file-system path that may not be valid UTF-8."""
    return os.fsencode(path).decode("utf-8", "replace")


def walk_audio(
    root: str, extensions: frozenset[str], errors: list[str], cancel: threading.Event | None
) -> Iterator[_Seen]:
    """Yield audio files under ``root``; symlink loops and unreadable folders are skipped."""
    visited: set[tuple[int, int]] = set()
    stack = [root]
    while stack:
        if cancel is not None and cancel.is_set():
            return
        folder = stack.pop()
        try:
            st = os.stat(folder)
        except OSError as err:
            errors.append(f"{one_line(path_text(folder))}: {err.strerror}")
            continue
        key = (st.st_dev, st.st_ino)
        if key in visited:
            continue
        visited.add(key)
        try:
            with os.scandir(folder) as entries:
                items = list(entries)
        except OSError as err:
            errors.append(f"{one_line(path_text(folder))}: cannot list folder ({err.strerror})")
            continue
        for entry in items:
            try:
                if entry.is_dir():
                    stack.append(entry.path)
                    continue
                if extension_of(entry.name) not in extensions:
                    continue
                est = entry.stat()
            except OSError as err:
                errors.append(f"{one_line(path_text(entry.path))}: {err.strerror}")
                continue
            if stat.S_ISREG(est.st_mode):
                yield _Seen(entry.path, est.st_size, est.st_mtime_ns)


def read_file(path: str) -> dict[str, Any]:
    """Read one file's tags and fingerprint; errors come back as data, never raised.

    Runs in worker processes, so it takes and returns only picklable values.
    """
    try:
        info = read_tags(path)
        result = info.to_dict()
        result["fingerprint"] = fingerprint(path, info.format)
        return result
    except UnreadableFileError as err:
        return {"error": str(err)}
    except OSError as err:
        return {"error": f"cannot read file: {err.strerror or err}"}
    except Exception as err:  # a reader bug must not stop the scan
        return {"error": f"unexpected error reading file: {type(err).__name__}: {err}"}


def _apply(track: Track, seen: _Seen, result: dict[str, Any], now: dt.datetime) -> None:
    track.size, track.mtime_ns, track.last_seen = seen.size, seen.mtime_ns, now
    if "error" in result:
        track.status, track.error = "unreadable", result["error"]
        track.format = track.format or extension_of(seen.path)
        return
    track.status, track.error = "ok", None
    for name in (
        "format",
        "codec",
        "duration",
        "sample_rate",
        "channels",
        "bitrate",
        "title",
        "artist",
        "album",
        "album_artist",
        "year",
        "track_no",
        "disc_no",
        "comment",
        "genres",
        "note",
        "fingerprint",
    ):
        setattr(track, name, result.get(name))
    track.raw_tags = result.get("raw") or {}
    track.genres = result.get("genres") or []
    track.genre_text = "; ".join(track.genres) or None
    track.album_key = album_key(
        result.get("mb_album_id"), track.album, track.album_artist, track.path_text
    )


FileState = tuple[_Seen, dict[str, Any]]


def file_state(path: str) -> FileState:
    """A file's size, mtime and tags, read before the transaction that stores them."""
    st = os.stat(path)
    return _Seen(path, st.st_size, st.st_mtime_ns), read_file(path)


def reread_track(track: Track, state: FileState) -> None:
    """Store a file's :func:`file_state` on ``track``, as a scan would.

    For a file the app itself just rewrote (an export), so the next scan does not
    see it as changed.
    """
    _apply(track, *state, utcnow())


def _read_all(paths: list[str], workers: int | None) -> Iterator[tuple[str, dict[str, Any]]]:
    if len(paths) < POOL_THRESHOLD or workers == 1:
        for p in paths:
            yield p, read_file(p)
        return
    n = workers or max(1, min(8, os.cpu_count() or 1))
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=n, mp_context=ctx) as pool:
        yield from zip(paths, pool.map(read_file, paths, chunksize=32), strict=True)


def _ensure_root(library: Library, root: str) -> int:
    raw = os.fsencode(root)

    def ensure(s: Session) -> int:
        row = s.scalar(select(LibraryRoot).where(LibraryRoot.path == raw))
        if row is None:
            row = LibraryRoot(path=raw, path_text=path_text(root))
            s.add(row)
            s.flush()
        return row.id

    return library.write(ensure, "adding a music folder")


def resolve_roots(paths: Iterable[str | os.PathLike[str]]) -> list[str]:
    """Absolute folder paths; a missing or non-folder path is a user error."""
    roots = []
    for p in paths:
        full = os.path.abspath(os.fspath(p))
        if not os.path.exists(full):
            raise TaggerError(f"folder not found: {path_text(full)}")
        if not os.path.isdir(full):
            raise TaggerError(f"not a folder: {path_text(full)}")
        roots.append(full)
    return roots


def scan(
    library: Library,
    paths: Iterable[str | os.PathLike[str]],
    *,
    extensions: frozenset[str] = DEFAULT_EXTENSIONS,
    workers: int | None = None,
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
) -> ScanReport:
    """Scan folders into the library; see the module docstring for the rules."""
    started = time.perf_counter()
    roots = resolve_roots(paths)
    report = ScanReport(roots=[path_text(r) for r in roots])
    try:
        for root in roots:
            _scan_root(library, root, extensions, workers, progress, cancel, report)
    except Cancelled:
        report.cancelled = True
    report.seconds = time.perf_counter() - started
    return report


def _check(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled("scan cancelled")


def _scan_root(
    library: Library,
    root: str,
    extensions: frozenset[str],
    workers: int | None,
    progress: ProgressFn | None,
    cancel: threading.Event | None,
    report: ScanReport,
) -> None:
    root_id = _ensure_root(library, root)
    seen: dict[bytes, _Seen] = {}
    for item in walk_audio(root, extensions, report.errors, cancel):
        seen[os.fsencode(item.path)] = item
        if progress and len(seen) % 1000 == 0:
            progress(ScanProgress("walking", len(seen), 0, path_text(item.path)))
    _check(cancel)
    report.seen += len(seen)
    prefix = os.fsencode(os.path.join(root, ""))
    with library.session() as s:
        rows = s.execute(
            select(Track.id, Track.path, Track.size, Track.mtime_ns, Track.status)
        ).all()
    known = {r.path: r for r in rows if r.path.startswith(prefix)}
    now = utcnow()
    unchanged_ids: list[int] = []
    to_read: list[bytes] = []
    for raw, item in seen.items():
        row = known.get(raw)
        if (
            row is not None
            and row.size == item.size
            and row.mtime_ns == item.mtime_ns
            and row.status != "missing"
        ):
            unchanged_ids.append(row.id)
        else:
            to_read.append(raw)
    report.unchanged += len(unchanged_ids)
    for i in range(0, len(unchanged_ids), UPDATE_CHUNK):  # one short transaction per chunk
        chunk = unchanged_ids[i : i + UPDATE_CHUNK]
        library.write(
            lambda s, chunk=chunk: s.execute(
                update(Track).where(Track.id.in_(chunk)).values(last_seen=now)
            ),
            "recording unchanged tracks",
        )
    vanished_ids = [r.id for p, r in known.items() if p not in seen and r.status != "missing"]
    _read_and_store(
        library, root_id, seen, known, to_read, vanished_ids, workers, progress, cancel, report
    )
    _check(cancel)
    for i in range(0, len(vanished_ids), UPDATE_CHUNK):
        chunk = vanished_ids[i : i + UPDATE_CHUNK]
        library.write(
            lambda s, chunk=chunk: s.execute(
                update(Track)
                .where(Track.id.in_(chunk))
                .values(status="missing", error="file not found at its last known path")
            ),
            "marking missing tracks",
        )
    report.missing += len(vanished_ids)
    library.write(
        lambda s: s.execute(
            update(LibraryRoot).where(LibraryRoot.id == root_id).values(last_scan_at=now)
        ),
        "recording the scan time",
    )


def _read_and_store(
    library: Library,
    root_id: int,
    seen: dict[bytes, _Seen],
    known: dict[bytes, Any],
    to_read: list[bytes],
    vanished_ids: list[int],
    workers: int | None,
    progress: ProgressFn | None,
    cancel: threading.Event | None,
    report: ScanReport,
) -> None:
    """Read new/changed files in parallel and store them in committed batches."""
    if not to_read:
        return
    with library.session() as s:
        candidates = s.execute(
            select(Track.id, Track.fingerprint).where(
                (Track.status == "missing") | Track.id.in_(vanished_ids[:30000])
            )
        ).all()
    by_fp: dict[str, int] = {}
    for tid, fp in candidates:
        if fp:
            by_fp.setdefault(fp, tid)
    vanished = set(vanished_ids)
    total = len(to_read)
    pending: list[tuple[bytes, dict[str, Any]]] = []
    paths = [os.fsdecode(p) for p in to_read]
    results = _read_all(paths, workers)
    try:
        for done, (p, result) in enumerate(results, 1):
            pending.append((os.fsencode(p), result))
            if len(pending) >= BATCH:
                _store(library, root_id, seen, known, pending, by_fp, vanished, report)
                pending = []
            if progress and (done % 25 == 0 or done == total):
                progress(ScanProgress("reading", done, total, path_text(p)))
            _check(cancel)
    finally:
        if pending:
            _store(library, root_id, seen, known, pending, by_fp, vanished, report)
        close = getattr(results, "close", None)
        if close:
            close()
    vanished_ids[:] = [i for i in vanished_ids if i in vanished]


def _store(
    library: Library,
    root_id: int,
    seen: dict[bytes, _Seen],
    known: dict[bytes, Any],
    batch: list[tuple[bytes, dict[str, Any]]],
    by_fp: dict[str, int],
    vanished: set[int],
    report: ScanReport,
) -> None:
    now = utcnow()

    def store(s: Session) -> tuple[Counter[str], list[str], dict[str, int], set[int]]:
        """Store the batch; what it did is returned, applied only once it is committed."""
        counts: Counter[str] = Counter()
        errors: list[str] = []
        fp_left, vanished_left = dict(by_fp), set(vanished)
        for raw, result in batch:
            item = seen[raw]
            row = known.get(raw)
            track: Track | None = None
            if row is not None:
                track = s.get(Track, row.id)
                counts["changed"] += 1
            else:
                fp = result.get("fingerprint")
                moved_id = fp_left.pop(fp, None) if fp else None
                if moved_id is not None:
                    track = s.get(Track, moved_id)
                if track is not None:
                    track.path, track.path_text, track.root_id = raw, path_text(item.path), root_id
                    vanished_left.discard(track.id)
                    counts["moved"] += 1
                else:
                    track = Track(
                        path=raw, path_text=path_text(item.path), root_id=root_id, first_seen=now
                    )
                    s.add(track)
                    counts["new"] += 1
            _apply(track, item, result, now)
            if track.status == "unreadable":
                counts["unreadable"] += 1
                errors.append(f"{one_line(track.path_text)}: {track.error}")
        return counts, errors, fp_left, vanished_left

    counts, errors, fp_left, vanished_left = library.write(store, "storing scanned tracks")
    for name, n in counts.items():
        setattr(report, name, getattr(report, name) + n)
    report.errors += errors
    by_fp.clear()
    by_fp.update(fp_left)
    vanished.intersection_update(vanished_left)
