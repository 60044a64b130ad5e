"""Export batches: plan, write each file safely, remember its old tags, resume, undo.

Bookkeeping order makes every interruption recoverable. A batch and its
items are committed first (``pending``). For each item the file's current
values of the managed fields, the values to write and the audio digest are
committed *before* the file is touched; then a backup for byte-exact undo is
made (``backups``) and its name and the sha256 of the whole file are
committed; the item becomes ``written`` (with the new file's sha256) after the
atomic replace. A rerun finds a ``running`` batch and completes it: a pending
item whose file already holds the new values (killed between replace and
commit) is marked written; one still holding the old values is backed up and
written. Undo (``undo``) restores the files the same safe way.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tagger_core.db import Library
from tagger_core.db.models import ExportBatch, ExportItem, Track, utcnow
from tagger_core.errors import ConfigError, TaggerError, one_line, reason_of
from tagger_core.library.album_views import album_headings
from tagger_core.library.scan import file_state, reread_track
from tagger_core.writing.album_plan import plan_with_albums
from tagger_core.writing.backups import (
    BackupSettings,
    make_backup,
    new_batch_folder,
    prune,
    sha256_file,
)
from tagger_core.writing.digest import audio_digest
from tagger_core.writing.options import ExportOptions
from tagger_core.writing.plan import TrackPlan, target_values
from tagger_core.writing.registry import system_for
from tagger_core.writing.safe_write import (
    FileSkipped,
    FileState,
    WriteRefused,
    check_file,
    fsync_folder,
    remove_leftover,
    safe_write,
)
from tagger_core.writing.system import Changes, Fields, TagSystem, pick

ProgressFn = Callable[[int, int, str], None]
CHUNK = 64  # files per transaction
WRITE_THREADS = 4  # overlapping fsync waits; mutagen itself holds the GIL


@dataclass
class FileDiff:
    """Old → new values of the managed fields of one file (None: field absent)."""

    path: str
    changes: dict[str, tuple[list[str] | None, list[str] | None]]
    #: "Artist – Album" of the track (None when it belongs to no album): dry runs group by it.
    album: str | None = None


@dataclass
class ExportReport:
    """What an export, resume or undo did."""

    batch_id: int | None = None
    dry_run: bool = False
    total: int = 0
    written: int = 0
    unchanged: int = 0
    skipped: int = 0
    failed: int = 0
    restored: int = 0
    inexact: int = 0  # undo: files whose tag values were restored, but not byte for byte
    resumed: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    diffs: list[FileDiff] = field(default_factory=list)
    seconds: float = 0.0
    cancelled: bool = False

    def to_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["diffs"] = [
            {
                "path": d.path,
                "album": d.album,
                "changes": {k: list(v) for k, v in d.changes.items()},
            }
            for d in self.diffs
        ]
        return data


def _fields_changes(
    system: TagSystem, current: Fields, plan: TrackPlan, options: ExportOptions
) -> tuple[Changes, Changes]:
    """(old, new) values of the managed keys that the plan changes."""
    old: Changes = {}
    new: Changes = {}
    logical: list[tuple[str, list[str], list[str]]] = []
    for task in options.tasks:
        if task in plan.accept or task in plan.reject:
            logical.append((task, plan.accept.get(task, []), plan.reject.get(task, [])))
    for name, accept, reject in logical:
        key = system.native_key(name, options)
        before = pick(current, system, key)
        existing = system.decode(name, before or [], options)
        values = target_values(existing, accept, reject, options.policy)
        after = system.encode(name, values, options) or None
        if after != before:
            old[key], new[key] = before, after
    if options.provenance and plan.provenance and (old or new):
        key = system.native_key("provenance", options)
        before = pick(current, system, key)
        if before != [plan.provenance]:
            old[key], new[key] = before, [plan.provenance]
    return old, new


def _verifier(
    system: TagSystem, before: Fields, intended: Changes, seen: dict[str, str] | None = None
) -> Callable[[str], None]:
    """Check that a written copy holds ``intended`` and every other field unchanged.

    With ``seen``, also store the copy's sha256 there (``seen["sha256"]``): the
    bytes that will replace the original, for undo to recognise them.
    """
    folded = {system.fold(k): v for k, v in intended.items()}

    def verify(path: str) -> None:
        try:
            after = system.read_all(path)
        except Exception as err:
            raise WriteRefused(f"written copy does not load: {err}") from err
        for key in set(before) | set(after) | set(folded):
            want = folded[key] if key in folded else before.get(key)
            if (after.get(key) or None) != (want or None):
                raise WriteRefused(f"field {key} does not read back as intended; write refused")
        if seen is not None:
            seen["sha256"] = sha256_file(path)

    return verify


def _options_of(batch: ExportBatch) -> ExportOptions:
    return ExportOptions.from_dict(batch.options.get("export", {}))


@dataclass
class _Job:
    """One file ready to be written: everything a worker thread needs, no database."""

    item_id: int
    path: str
    fmt: str | None
    system: TagSystem
    current: Fields
    new_fields: Changes
    state: FileState
    digest: str
    note: str | None = None  # said about the file once written (e.g. how undo will work)
    # export: the original's sha256 and backup record; undo: how to give the file back
    restore: Any = None


@dataclass
class _Outcome:
    item_id: int
    path: str
    status: str  # written / skipped / failed
    message: str | None = None
    counter: str = "written"  # which report counter to bump
    sha256: str | None = None  # of the file as written


def _outcome_of_error(item_id: int, path: str, err: Exception) -> _Outcome:
    if isinstance(err, FileSkipped):
        return _Outcome(item_id, path, "skipped", one_line(str(err)), "skipped")
    if isinstance(err, TaggerError):
        return _Outcome(item_id, path, "failed", one_line(str(err)), "failed")
    return _Outcome(item_id, path, "failed", f"{type(err).__name__}: {reason_of(err)}", "failed")


def _system_or_skip(fmt: str | None, options: ExportOptions) -> TagSystem:
    try:
        return system_for(fmt, options)
    except TaggerError as err:
        raise FileSkipped(str(err)) from err


def _prepare(item: ExportItem, track: Track | None, options: ExportOptions) -> _Job | _Outcome:
    """Read the file and record old/new values in ``item`` (committed before any write).

    An item prepared by an interrupted run is checked against the file: already
    new → written; still old → written again; anything else → skipped.
    """
    path = os.fsdecode(item.path)
    remove_leftover(path)
    old_rec, new_rec = dict(item.old_tags), dict(item.new_tags)
    fmt = track.format if track else old_rec.get("format")
    try:
        system = _system_or_skip(fmt, options)
        if "fields" in old_rec:
            current = system.read_all(path)
            managed_now = {k: pick(current, system, k) for k in new_rec["fields"]}
            if managed_now == new_rec["fields"] and audio_digest(path, fmt) == old_rec["digest"]:
                done = _Outcome(item.id, path, "written", "completed by resume")
                done.sha256 = sha256_file(path)
                return done
            if managed_now != old_rec["fields"]:
                raise FileSkipped("tags changed since the export started")
            state = check_file(path)
            digest = audio_digest(path, fmt)
            if digest != old_rec["digest"]:
                raise FileSkipped("audio changed since the export started")
            return _Job(item.id, path, fmt, system, current, new_rec["fields"], state, digest)
        expected = (track.size, track.mtime_ns) if track else (None, None)
        state = check_file(path, *expected)
        current = system.read_all(path)
        plan = TrackPlan.from_dict(new_rec["plan"])
        old_fields, new_fields = _fields_changes(system, current, plan, options)
        if not new_fields and not old_fields:
            return _Outcome(item.id, path, "skipped", "already up to date", "unchanged")
        digest = audio_digest(path, fmt)
    except Exception as err:  # one bad file must not stop the batch
        return _outcome_of_error(item.id, path, err)
    item.old_tags = {"system": system.name, "format": fmt, "fields": old_fields, "digest": digest}
    item.new_tags = {**new_rec, "fields": new_fields}
    return _Job(item.id, path, fmt, system, current, new_fields, state, digest)


def _back_up(job: _Job, folder: str, max_copy_bytes: int) -> _Job | _Outcome:
    """Keep what restores the original byte for byte (worker thread); skip the file if impossible.

    A record without a backup (over the size limit, layout unknown) still
    lets the file be written: its undo will restore tag values, and says so.
    """
    try:
        sha, record = make_backup(
            job.path, job.fmt, folder, str(job.item_id), max_copy_bytes, job.state
        )
    except Exception as err:
        return _outcome_of_error(job.item_id, job.path, err)
    if not record.get("kind"):
        job.note = f"undo will restore tag values only: {record.get('reason')}"
    job.restore = {"sha256": sha, "backup": record}
    return job


def _write(job: _Job, options: ExportOptions) -> _Outcome:
    """Safely write one prepared file (runs in a worker thread)."""
    seen: dict[str, str] = {}
    try:
        safe_write(
            job.path,
            job.fmt,
            lambda tmp: job.system.write(tmp, job.new_fields, options),
            verify=_verifier(job.system, job.current, job.new_fields, seen),
            state=job.state,
            digest=job.digest,
            sync_folder=False,
        )
    except Exception as err:
        return _outcome_of_error(job.item_id, job.path, err)
    return _Outcome(job.item_id, job.path, "written", job.note, sha256=seen.get("sha256"))


def _store_backups(library: Library, jobs: list[_Job]) -> None:
    """Commit each file's sha256 and backup record before any of them is written."""

    def store(s: Session) -> None:
        for job in jobs:
            item = s.get(ExportItem, job.item_id)
            assert item is not None
            item.old_tags = {**item.old_tags, **job.restore}

    library.write(store, "recording export backups")


def _record(library: Library, outcomes: list[_Outcome], report: ExportReport) -> None:
    """Store the outcomes of a chunk in one transaction (and refresh written tracks).

    Written files are read again before the transaction, which only stores.
    """
    states = {out.item_id: file_state(out.path) for out in outcomes if out.status == "written"}

    def store(s: Session) -> None:
        for out in outcomes:
            item = s.get(ExportItem, out.item_id)
            assert item is not None
            item.status, item.message, item.updated_at = out.status, out.message, utcnow()
            if out.sha256 is not None:
                item.new_tags = {**item.new_tags, "sha256": out.sha256}
            if out.item_id in states and item.track_id is not None:
                track = s.get(Track, item.track_id)
                if track is not None:
                    reread_track(track, states[out.item_id])

    library.write(store, "recording export results")
    for out in outcomes:
        setattr(report, out.counter, getattr(report, out.counter) + 1)
        if out.status == "skipped" and out.counter == "skipped":
            report.problems.append(f"{one_line(out.path)}: skipped: {out.message}")
        elif out.status == "failed":
            report.problems.append(f"{one_line(out.path)}: not written: {out.message}")
        elif out.status == "written" and out.message and out.message.startswith("undo"):
            report.problems.append(f"{one_line(out.path)}: written; {out.message}")


def _store_prepared(library: Library, items: list[ExportItem]) -> None:
    """Commit the old and new values ``prepare`` recorded, before any file is written."""
    values = [(i.id, i.old_tags, i.new_tags) for i in items]

    def store(s: Session) -> None:
        for item_id, old_tags, new_tags in values:
            s.execute(
                update(ExportItem)
                .where(ExportItem.id == item_id)
                .values(old_tags=old_tags, new_tags=new_tags)
            )

    if values:
        library.write(store, "recording planned tag changes")


def _write_chunks(
    library: Library,
    ids: list[int],
    options: ExportOptions,
    prepare: Callable[[ExportItem, Track | None, ExportOptions], _Job | _Outcome],
    done_status: str,
    record: Callable[[Library, list[_Outcome], ExportReport], None],
    report: ExportReport,
    progress: ProgressFn | None,
    cancel: threading.Event | None,
    write: Callable[[_Job, ExportOptions], _Outcome] = _write,
    backups: dict[str, Any] | None = None,
) -> bool:
    """Prepare, safely write and record items chunk by chunk; False when cancelled.

    Shared by export and undo: files of a chunk are written by worker threads
    (``write``), written files' folders are fsynced, then ``record`` stores the
    chunk's outcomes in one transaction. A successful write gets
    ``done_status``. With ``backups`` (export: the batch's backup folder and
    size limit) every file is first backed up by the worker threads, and what
    was kept is made durable and committed before any file of the chunk is written.
    """
    done = 0
    if backups is not None:
        back_up = partial(
            _back_up, folder=backups["folder"], max_copy_bytes=backups["max_copy_bytes"]
        )
    with ThreadPoolExecutor(max_workers=WRITE_THREADS) as pool:
        for first in range(0, len(ids), CHUNK):
            if cancel is not None and cancel.is_set():
                report.cancelled = True
                return False
            chunk = ids[first : first + CHUNK]
            order = {item_id: n for n, item_id in enumerate(chunk)}
            jobs: list[_Job] = []
            outcomes: list[_Outcome] = []
            with library.session() as s:  # read; files are read after it ends
                items = s.scalars(select(ExportItem).where(ExportItem.id.in_(chunk))).all()
                track_ids = [i.track_id for i in items if i.track_id is not None]
                tracks = {t.id: t for t in s.scalars(select(Track).where(Track.id.in_(track_ids)))}
            before = {i.id: (i.old_tags, i.new_tags) for i in items}
            for item in sorted(items, key=lambda i: order[i.id]):
                result = prepare(item, tracks.get(item.track_id or -1), options)
                (jobs if isinstance(result, _Job) else outcomes).append(result)
            _store_prepared(library, [i for i in items if (i.old_tags, i.new_tags) != before[i.id]])
            if backups is not None and jobs:
                kept = list(pool.map(back_up, jobs))
                jobs = [j for j in kept if isinstance(j, _Job)]
                outcomes += [o for o in kept if isinstance(o, _Outcome)]
                fsync_folder(backups["folder"])
                _store_backups(library, jobs)
            for out in pool.map(lambda job: write(job, options), jobs):
                if out.status == "written":
                    out.status = done_status
                    out.counter = done_status if out.counter == "written" else out.counter
                outcomes.append(out)
            for folder in {os.path.dirname(o.path) for o in outcomes if o.status == done_status}:
                fsync_folder(folder)
            record(library, outcomes, report)
            done += len(chunk)
            if progress:
                progress(done, len(ids), "")
    return True


def _run_batch(
    library: Library,
    batch_id: int,
    report: ExportReport,
    progress: ProgressFn | None,
    cancel: threading.Event | None,
    settings: BackupSettings,
) -> None:
    """Process a batch's pending items in chunks.

    Per chunk: one transaction records every file's old and new values, worker
    threads back the files up (one more transaction records the backups) and
    write them (fsync waits overlap), folders are fsynced, and one transaction
    records the outcomes. A crash anywhere leaves items ``pending`` with their
    values recorded, which a rerun resolves file by file.
    """
    with library.session() as s:
        batch = s.get(ExportBatch, batch_id)
        assert batch is not None
        options = _options_of(batch)
        batch_options = dict(batch.options)
        pending = list(
            s.scalars(
                select(ExportItem.id)
                .where(ExportItem.batch_id == batch_id, ExportItem.status == "pending")
                .order_by(ExportItem.id)
            )
        )
    if "backups" not in batch_options:
        kept = None
        if settings.keep:
            folder = new_batch_folder(settings.root_for(library.path), batch_id)
            kept = {"folder": str(folder), "max_copy_bytes": settings.max_copy_bytes}
        batch_options["backups"] = kept
        library.write(
            lambda s: s.execute(
                update(ExportBatch).where(ExportBatch.id == batch_id).values(options=batch_options)
            ),
            "recording the export's backup folder",
        )
    backups = batch_options["backups"]
    report.total += len(pending)
    if backups is not None:
        try:  # pruned or deleted while the batch was interrupted
            os.makedirs(backups["folder"], exist_ok=True)
        except OSError as err:
            raise ConfigError(f"cannot create {backups['folder']}: {err.strerror}") from err
    if not _write_chunks(
        library,
        pending,
        options,
        _prepare,
        "written",
        _record,
        report,
        progress,
        cancel,
        backups=backups,
    ):
        return
    library.write(
        lambda s: s.execute(
            update(ExportBatch)
            .where(ExportBatch.id == batch_id)
            .values(status="done", finished_at=utcnow())
        ),
        "finishing the export batch",
    )
    if backups is not None:
        with contextlib.suppress(OSError):
            os.rmdir(backups["folder"])  # only when empty: nothing was written


def resume_unfinished(
    library: Library,
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
    backups: BackupSettings | None = None,
) -> ExportReport:
    """Complete every export batch an interruption left ``running``."""
    settings = backups or BackupSettings.from_env()
    start = time.perf_counter()
    report = ExportReport()
    with library.session() as s:
        ids = list(
            s.scalars(
                select(ExportBatch.id)
                .where(ExportBatch.kind == "export", ExportBatch.status == "running")
                .order_by(ExportBatch.id)
            )
        )
    for batch_id in ids:
        report.resumed.append(batch_id)
        report.batch_id = batch_id
        _run_batch(library, batch_id, report, progress, cancel, settings)
        if report.cancelled:
            break
    report.seconds = time.perf_counter() - start
    return report


def _dry_run(
    library: Library, plans: list[TrackPlan], options: ExportOptions, progress: ProgressFn | None
) -> ExportReport:
    report = ExportReport(dry_run=True, total=len(plans))
    with library.session() as s:
        wanted = {p.track_id for p in plans}
        rows = {
            tid: (os.fsdecode(path), fmt, size, mtime_ns)
            for tid, path, fmt, size, mtime_ns in s.execute(
                select(Track.id, Track.path, Track.format, Track.size, Track.mtime_ns)
            )
            if tid in wanted
        }
        albums = album_headings(s, [p.track_id for p in plans])
    for done, plan in enumerate(plans, 1):
        path, fmt, size, mtime_ns = rows[plan.track_id]
        if progress:
            progress(done, len(plans), path)
        try:
            check_file(path, size, mtime_ns)
            system = _system_or_skip(fmt, options)
            old, new = _fields_changes(system, system.read_all(path), plan, options)
        except FileSkipped as err:
            report.skipped += 1
            report.problems.append(f"{path}: would skip: {err}")
            continue
        except TaggerError as err:
            report.failed += 1
            report.problems.append(f"{path}: would fail: {err}")
            continue
        except Exception as err:
            report.failed += 1
            report.problems.append(f"{path}: cannot read tags: {type(err).__name__}: {err}")
            continue
        if new or old:
            report.written += 1
            changes = {k: (old.get(k), new.get(k)) for k in new}
            report.diffs.append(FileDiff(path, changes, albums.get(plan.track_id)))
        else:
            report.unchanged += 1
    # Grouped by album (in the order albums first appear), tracks of no album last.
    first = {d.album: i for i, d in reversed(list(enumerate(report.diffs)))}
    report.diffs.sort(key=lambda d: (d.album is None, first[d.album]))
    return report


def run_export(
    library: Library,
    options: ExportOptions,
    paths: list[str] | None = None,
    *,
    track_ids: list[int] | None = None,
    dry_run: bool = False,
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
    backups: BackupSettings | None = None,
) -> ExportReport:
    """Export accepted labels into files (or, with ``dry_run``, only say what would change).

    Interrupted batches are completed first, so rerunning the same command
    after a crash finishes the job. ``track_ids`` limits it to those tracks.
    ``backups`` (default: from the environment)
    says where undo backups go, which files are copied whole and how long
    backups are kept; older ones are pruned here.
    """
    start = time.perf_counter()
    settings = backups or BackupSettings.from_env()
    if not dry_run:
        prune(settings.root_for(library.path), settings.keep_days)
    resumed = ExportReport() if dry_run else resume_unfinished(library, progress, cancel, settings)
    if resumed.cancelled:
        return resumed
    with library.session() as s:
        plans = plan_with_albums(s, options, paths, track_ids)
    if dry_run:
        report = _dry_run(library, plans, options, progress)
        report.seconds = time.perf_counter() - start
        return report
    report = ExportReport(resumed=resumed.resumed)
    for name in ("written", "unchanged", "skipped", "failed", "total"):
        setattr(report, name, getattr(resumed, name))
    report.problems.extend(resumed.problems)
    if plans:

        def start_batch(s: Session) -> int:
            wanted = {p.track_id for p in plans}
            paths_of = {
                tid: path for tid, path in s.execute(select(Track.id, Track.path)) if tid in wanted
            }
            batch = ExportBatch(
                kind="export",
                options={"export": options.to_dict(), "paths": list(paths or [])},
                status="running",
            )
            s.add(batch)
            s.flush()
            s.add_all(
                ExportItem(
                    batch_id=batch.id,
                    track_id=p.track_id,
                    path=paths_of[p.track_id],
                    old_tags={},
                    new_tags={"plan": p.to_dict()},
                    status="pending",
                )
                for p in plans
            )
            return batch.id

        report.batch_id = library.write(start_batch, "starting an export batch")
        _run_batch(library, report.batch_id, report, progress, cancel, settings)
    report.seconds = time.perf_counter() - start
    return report


def list_batches(library: Library) -> list[dict[str, Any]]:
    """Every export batch with its item counts by status, newest first."""
    out = []
    with library.session() as s:
        for b in s.scalars(select(ExportBatch).order_by(ExportBatch.id.desc())):
            counts: dict[str, int] = {}
            for status in s.scalars(select(ExportItem.status).where(ExportItem.batch_id == b.id)):
                counts[status] = counts.get(status, 0) + 1
            out.append(
                {
                    "id": b.id,
                    "kind": b.kind,
                    "status": b.status,
                    "created_at": b.created_at,
                    "finished_at": b.finished_at,
                    "items": counts,
                    "options": b.options,
                }
            )
    return out
