"""Undoing an export batch: every file back byte for byte, or at least its tag values.

A file that is exactly as the export left it (its sha256 equals the one
recorded after the write) is rebuilt from the batch's backup (``backups``)
and must hash to the sha256 recorded before the export. Otherwise — the file
changed since the export, the backup is gone or corrupt — the recorded old
values of the managed fields are written back, as before byte-exact undo
existed, and the file is reported as restored *not byte for byte*. Both go
through ``safe_write``: temp beside, verify, fsync, atomic replace.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tagger_core.db import Library
from tagger_core.db.models import ExportBatch, ExportItem, Track, utcnow
from tagger_core.errors import TaggerError
from tagger_core.library.scan import file_state, reread_track
from tagger_core.writing.backups import (
    BackupUnusable,
    check_backup,
    rebuild,
    remove_folder,
    sha256_file,
)
from tagger_core.writing.batch import (
    ExportReport,
    ProgressFn,
    _Job,
    _options_of,
    _Outcome,
    _outcome_of_error,
    _system_or_skip,
    _write,
    _write_chunks,
)
from tagger_core.writing.digest import audio_digest
from tagger_core.writing.options import ExportOptions
from tagger_core.writing.safe_write import (
    FileSkipped,
    WriteRefused,
    check_file,
    remove_leftover,
    safe_write,
)
from tagger_core.writing.system import Changes, pick

NOT_EXACT = "tag values restored, not byte for byte"


@dataclass
class _Undo:
    """What undo knows about one file before hashing it (the hashing runs in worker threads)."""

    folder: str | None  # the batch's backups
    old: dict[str, Any]  # the item's old_tags: sha256 and backup record of the original
    new_sha256: str | None  # of the file as the export wrote it
    values_already_old: bool  # the managed fields already hold the old values


def _prepare_restore(
    item: ExportItem, track: Track | None, options: ExportOptions, folder: str | None
) -> _Job | _Outcome:
    """Check one written item (tags, audio) before it is given back; skip it if it cannot be."""
    path = os.fsdecode(item.path)
    old_rec, new_rec = item.old_tags, item.new_tags
    old_fields: Changes = old_rec["fields"]
    new_fields: Changes = new_rec["fields"]
    fmt = old_rec.get("format")
    remove_leftover(path)
    try:
        state = check_file(path)
        system = _system_or_skip(fmt, options)
        current = system.read_all(path)
        now = {k: pick(current, system, k) for k in old_fields}
        if now not in (old_fields, new_fields):
            raise FileSkipped("tags changed since the export")
        digest = audio_digest(path, fmt)
        if digest != old_rec.get("digest"):
            raise FileSkipped("audio changed since the export")
    except Exception as err:
        return _outcome_of_error(item.id, path, err)
    job = _Job(item.id, path, fmt, system, current, old_fields, state, digest)
    job.restore = _Undo(folder, old_rec, new_rec.get("sha256"), now == old_fields)
    return job


def _restore(job: _Job, options: ExportOptions) -> _Outcome:
    """Give one file back (worker thread): byte for byte if possible, else its tag values.

    Byte for byte needs the file exactly as the export wrote it and a sound
    backup; the rebuilt file must hash to the sha256 recorded before the export.
    """
    undo: _Undo = job.restore
    old_sha = undo.old.get("sha256")
    try:
        sha_now = sha256_file(job.path)
    except OSError as err:
        return _outcome_of_error(job.item_id, job.path, FileSkipped(f"cannot read: {err}"))
    if old_sha is not None and sha_now == old_sha:
        return _Outcome(job.item_id, job.path, "restored", "already restored", "restored")
    why_not: str | None = None
    if old_sha is None:
        why_not = "no byte-exact backup was kept for this batch"
    elif sha_now != undo.new_sha256:
        why_not = "the file changed since the export"
    else:
        try:
            backup = check_backup(undo.folder, undo.old.get("backup"), old_sha)
        except BackupUnusable as err:
            why_not = str(err)
    if undo.values_already_old:
        note = f"tag values already as before; not byte for byte: {why_not}"
        return _Outcome(job.item_id, job.path, "restored", note, "inexact")
    if why_not is None:

        def same_as_before(tmp: str) -> None:
            if sha256_file(tmp) != old_sha:
                raise BackupUnusable("the rebuilt file differs from the original (sha256)")

        try:
            safe_write(
                job.path,
                job.fmt,
                lambda tmp: rebuild(tmp, job.path, job.fmt, backup, undo.old["backup"]),
                verify=same_as_before,
                state=job.state,
                digest=job.digest,
                sync_folder=False,
                start_from_copy=False,
            )
            return _Outcome(job.item_id, job.path, "written", "restored byte for byte")
        except (BackupUnusable, WriteRefused) as err:
            why_not = str(err)
        except Exception as err:
            return _outcome_of_error(job.item_id, job.path, err)
    out = _write(job, options)
    if out.status == "written":
        out.message, out.counter = f"{NOT_EXACT}: {why_not}", "inexact"
    return out


def _record_restore(library: Library, outcomes: list[_Outcome], report: ExportReport) -> None:
    """Store the outcomes of an undo chunk; files not restored keep ``written``."""
    states = {out.item_id: file_state(out.path) for out in outcomes if out.status == "restored"}

    def store(s: Session) -> None:
        for out in outcomes:
            item = s.get(ExportItem, out.item_id)
            assert item is not None
            item.updated_at = utcnow()
            if out.status == "restored":
                item.status, item.message = "restored", out.message
                track = s.get(Track, item.track_id) if item.track_id else None
                if track is not None:
                    reread_track(track, states[out.item_id])
            else:
                item.message = f"undo {out.status}: {out.message}"

    library.write(store, "recording undo results")
    for out in outcomes:
        if out.status == "restored":
            report.restored += 1
            if out.counter == "inexact":
                report.inexact += 1
                report.problems.append(f"{out.path}: {out.message}")
        else:
            setattr(report, out.counter, getattr(report, out.counter) + 1)
            report.problems.append(f"{out.path}: not restored: {out.message}")


def undo_batch(
    library: Library,
    batch_id: int,
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
) -> ExportReport:
    """Give back every file a batch wrote, byte for byte where possible (safe write, verified).

    Files whose managed tags changed after the export are skipped and keep
    their ``written`` status; undoing again later retries them. An undo killed
    midway is completed by running it again. Once every file is restored the
    batch's backups are deleted.
    """
    start = time.perf_counter()
    report = ExportReport(batch_id=batch_id)
    with library.session() as s:
        batch = s.get(ExportBatch, batch_id)
        if batch is None or batch.kind != "export":
            raise TaggerError(f"no export batch {batch_id}")
        if batch.status == "running":
            raise TaggerError(
                f"batch {batch_id} is unfinished; run the export again to complete it first"
            )
        options = _options_of(batch)
        folder = (batch.options.get("backups") or {}).get("folder")
        ids = list(
            s.scalars(
                select(ExportItem.id)
                .where(ExportItem.batch_id == batch_id, ExportItem.status == "written")
                .order_by(ExportItem.id.desc())
            )
        )
    report.total = len(ids)
    _write_chunks(
        library,
        ids,
        options,
        partial(_prepare_restore, folder=folder),
        "restored",
        _record_restore,
        report,
        progress,
        cancel,
        write=_restore,
    )

    def finish(s: Session) -> int | None:
        left = s.scalar(
            select(ExportItem.id)
            .where(ExportItem.batch_id == batch_id, ExportItem.status == "written")
            .limit(1)
        )
        batch = s.get(ExportBatch, batch_id)
        assert batch is not None
        if left is None:
            batch.status, batch.finished_at = "undone", utcnow()
        return left

    left = library.write(finish, "finishing the undo")
    if left is None:
        remove_folder(folder)
    report.seconds = time.perf_counter() - start
    return report
