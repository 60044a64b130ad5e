"""The analysis engine: library tracks → stored raw outputs of every selected ensemble.

Pipeline: a pool of workers decodes tracks and computes their log-mel patches
(:mod:`tagger_core.listening.track_patches`, once per distinct frontend); the calling
thread feeds fixed-size patch batches, mixing tracks, through every member of
every selected bundle (:mod:`tagger_core.listening.ensembles`); per-patch probabilities
are averaged per file as AM'23 does, and each finished track is written to the
``analyses`` table (:mod:`tagger_core.db.analysis_store`) right after the batch
that completes it. A killed process therefore loses at most the batch in
flight, and the next run resumes with the tracks that have no fresh row.

The calling thread owns the database session, so a GUI runs :func:`analyze`
in a worker thread and gets progress through the callback; ``cancel`` (a
``threading.Event``) is checked between member forward passes and while
waiting for decoders, so it is honoured well within a second.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import (
    FIRST_COMPLETED,
    Executor,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    wait,
)
from dataclasses import dataclass, field
from functools import partial

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tagger_core.db import Library
from tagger_core.db.analysis_store import PendingTrack, pending_tracks, save_analysis, save_error
from tagger_core.db.models import Track
from tagger_core.errors import ConfigError, one_line, reason_of
from tagger_core.labels.bundles import Bundle, load_bundle
from tagger_core.listening.device import resolve_device, thread_count
from tagger_core.listening.ensembles import Ensemble, file_logits, prepare_ensemble
from tagger_core.listening.report import (
    DEFAULT_BATCH,
    DEFAULT_BUNDLES,
    DEFAULT_MAX_PATCHES,
    POOLS,
    AnalysisProgress,
    AnalysisReport,
    ProgressFn,
    progress_of,
)
from tagger_core.listening.track_patches import (
    PatchJob,
    PreparedTrack,
    prepare_track,
)

log = logging.getLogger(__name__)


# -------------------------------------------------------------- accumulation
@dataclass
class _Accumulator:
    """Outputs of one ensemble on one track, collected batch by batch."""

    expected: int
    received: int = 0
    logits: list[list[np.ndarray]] = field(default_factory=list)
    emb_sums: list[np.ndarray | None] = field(default_factory=list)


@dataclass
class _TrackState:
    pending: PendingTrack
    prepared: PreparedTrack
    acc: dict[str, _Accumulator] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return all(a.received >= a.expected for a in self.acc.values())


@dataclass
class _Chunk:
    state: _TrackState
    patches: np.ndarray
    start: int = 0


# -------------------------------------------------------------------- engine
def pending_work(
    library: Library,
    loaded: Sequence[Bundle],
    track_ids: Iterable[int] | None,
    force: bool,
    retry_errors: bool,
) -> tuple[list[PendingTrack], int]:
    """The tracks ``loaded`` still has to hear, and how many ``ok`` tracks were considered.

    Both engines (local and Ray) start from this, so they skip and count alike.
    """
    with library.session() as session:
        work = pending_tracks(
            session,
            [(b.id, b.version) for b in loaded],
            track_ids,
            force=force,
            retry_errors=retry_errors,
        )
        stmt = select(func.count(Track.id)).where(Track.status == "ok")
        if track_ids is not None:
            stmt = stmt.where(Track.id.in_(set(track_ids)))
        considered = session.scalar(stmt) or 0
    return work, considered


def load_bundles(bundles: Sequence[str | Bundle]) -> list[Bundle]:
    out: list[Bundle] = []
    for item in bundles:
        bundle = load_bundle(item) if isinstance(item, str) else item
        if bundle.reads_embedding:
            raise ConfigError(
                f"{bundle.id!r} is a head bundle on stored embeddings, not an audio model: "
                "run its base model, then `music-tagger train apply` it"
            )
        out.append(bundle)
    ids = [b.id for b in out]
    if len(set(ids)) != len(ids):
        raise ConfigError("the same model bundle was selected twice")
    if not out:
        raise ConfigError("no model bundle selected")
    return out


def member_threads(device: str, threads: int, members: int) -> int:
    """CPU threads each member of a bundle with ``members`` members runs on.

    On a CPU the members of a bundle run side by side, one thread each (as many at once
    as there are threads): a member on two threads cost about 7 % more CPU time for the
    same batches (threads waking and waiting inside each operator) than two members on
    one thread each. A bundle of one member gets all threads; a GPU runs members one
    after another.
    """
    return max(1, threads // members) if device == "cpu" else threads


def _make_pool(kind: str, workers: int) -> Executor:
    if kind == "process":
        ctx = multiprocessing.get_context("spawn")
        return ProcessPoolExecutor(workers, mp_context=ctx)
    return ThreadPoolExecutor(workers, thread_name_prefix="decode")


class _Run:
    """State of one :func:`analyze` call (the calling thread drives it)."""

    def __init__(
        self,
        library: Library,
        ensembles: list[Ensemble],
        work: list[PendingTrack],
        report: AnalysisReport,
        *,
        batch_size: int,
        max_patches: int | None,
        progress: ProgressFn | None,
        cancel: threading.Event,
        members_at_once: Executor | None = None,
    ) -> None:
        self.library = library
        self.members_at_once = members_at_once
        self.ensembles = {e.bundle_id: e for e in ensembles}
        self.work = work
        self.report = report
        self.batch_size = batch_size
        self.max_patches = max_patches
        self.progress = progress
        self.cancel = cancel
        self.buffers: dict[str, list[_Chunk]] = {e.bundle_id: [] for e in ensembles}
        self.buffered: dict[str, int] = {e.bundle_id: 0 for e in ensembles}
        self.states: dict[int, _TrackState] = {}
        self.finished: list[_TrackState] = []
        self.total_audio = sum(p.duration or 0.0 for p in work)
        self.started = time.perf_counter()
        self.last_progress = 0.0

    # ---------------------------------------------------------------- input
    def job(self, item: PendingTrack) -> PatchJob:
        layouts = tuple(dict.fromkeys(self.ensembles[b].layout for b in item.bundle_ids))
        return PatchJob(item.track_id, item.path, item.duration, layouts, self.max_patches)

    def accept(self, item: PendingTrack, prepared: PreparedTrack) -> None:
        """Queue a decoded track's patches for every bundle that needs it."""
        rep = self.report
        rep.decode_s += prepared.decode_s
        rep.frontend_s += prepared.frontend_s
        state = _TrackState(item, prepared)
        if prepared.error is None:
            for bundle_id in item.bundle_ids:
                patches = prepared.patches.get(self.ensembles[bundle_id].layout)
                if patches is None or patches.shape[0] == 0:
                    prepared.error = f"{one_line(item.path)}: too little audio to analyse"
                    break
        if prepared.error is not None:
            self.finished.append(state)
            return
        for bundle_id in item.bundle_ids:
            ens = self.ensembles[bundle_id]
            patches = prepared.patches[ens.layout]
            n = len(ens.members)
            state.acc[bundle_id] = _Accumulator(
                patches.shape[0], logits=[[] for _ in range(n)], emb_sums=[None] * n
            )
            self.buffers[bundle_id].append(_Chunk(state, patches))
            self.buffered[bundle_id] += patches.shape[0]
        self.states[item.track_id] = state

    # ---------------------------------------------------------------- models
    def _take(self, bundle_id: str) -> list[tuple[_TrackState, int, np.ndarray]]:
        """Up to ``batch_size`` patches from the front of a buffer, tracks mixed."""
        out = []
        need = self.batch_size
        chunks = self.buffers[bundle_id]
        while need and chunks:
            chunk = chunks[0]
            part = chunk.patches[chunk.start : chunk.start + need]
            out.append((chunk.state, chunk.start, part))
            chunk.start += part.shape[0]
            need -= part.shape[0]
            if chunk.start >= chunk.patches.shape[0]:
                chunks.pop(0)
        self.buffered[bundle_id] -= self.batch_size - need
        return out

    def run_batch(self, bundle_id: str) -> bool:
        """One batch through every member; False if cancelled midway (nothing is kept)."""
        ens = self.ensembles[bundle_id]
        parts = self._take(bundle_id)
        batch = np.concatenate([p for _, _, p in parts])
        t0 = time.perf_counter()
        if self.members_at_once is not None and len(ens.members) > 1:
            # one thread per member, members side by side (see ``member_threads``)
            futures = [self.members_at_once.submit(member, batch) for member in ens.members]
            outs = [future.result() for future in futures]
            if self.cancel.is_set():
                return False
        else:
            outs = []
            for member in ens.members:
                if self.cancel.is_set():
                    return False
                outs.append(member(batch))
        outputs = [(out["logits"], out["embedding"].reshape(batch.shape[0], -1)) for out in outs]
        self.report.model_s += time.perf_counter() - t0
        self.report.patches += batch.shape[0]
        offset = 0
        for state, _start, part in parts:
            n = part.shape[0]
            acc = state.acc[bundle_id]
            for m, (logits, emb) in enumerate(outputs):
                acc.logits[m].append(logits[offset : offset + n])
                total = emb[offset : offset + n].sum(0, dtype=np.float64)
                acc.emb_sums[m] = total if acc.emb_sums[m] is None else acc.emb_sums[m] + total
            acc.received += n
            offset += n
            if state.complete and state.pending.track_id in self.states:
                del self.states[state.pending.track_id]
                self.finished.append(state)
        return True

    # --------------------------------------------------------------- storage
    def commit_finished(self) -> None:
        """Write every finished track in one short transaction (the unit a kill can lose).

        Outputs are reduced first; the transaction only stores them, so another
        program's write waits briefly, and a busy library is simply retried.
        """
        if not self.finished:
            return
        rep = self.report
        writes: list[Callable[[Session], object]] = []
        stored: list[_TrackState] = []
        for state in self.finished:
            item, prepared = state.pending, state.prepared
            if prepared.error is not None:
                writes += [self._error_row(item, b, prepared.error) for b in item.bundle_ids]
                rep.errors.append(prepared.error)
                continue
            for bundle_id, acc in state.acc.items():
                ens = self.ensembles[bundle_id]
                logits = np.stack([file_logits(np.concatenate(ch)) for ch in acc.logits])
                embs = [
                    (s / acc.expected).astype(np.float32) for s in acc.emb_sums if s is not None
                ]
                if not np.isfinite(logits).all():
                    message = f"{one_line(item.path)}: model {bundle_id} gave non-finite outputs"
                    writes.append(self._error_row(item, bundle_id, message))
                    rep.errors.append(message)
                    continue
                config, frames, _hop = ens.layout
                writes.append(
                    partial(
                        save_analysis,
                        track_id=item.track_id,
                        bundle_id=bundle_id,
                        version=ens.version,
                        key=item.key,
                        members=ens.member_names,
                        forms=ens.forms,
                        member_logits=logits.astype(np.float32),
                        embeddings=embs,
                        n_patches=acc.expected,
                        seconds=acc.expected * frames * config.hop_length / config.sr,
                    )
                )
            stored.append(state)

        def store(session: Session) -> None:
            for write in writes:
                write(session)

        self.library.write(store, "storing analyses")
        for state in stored:
            rep.tracks_done += 1
            rep.analyzed_track_ids.append(state.pending.track_id)
            rep.audio_seconds += state.prepared.seconds
            rep.tracks_sampled += int(state.prepared.sampled)
        done = len(self.finished)
        last_path = self.finished[-1].pending.path
        self.finished.clear()
        self.notify(last_path, force=True, finished=done)

    def _error_row(
        self, item: PendingTrack, bundle_id: str, message: str
    ) -> Callable[[Session], object]:
        return partial(
            save_error,
            track_id=item.track_id,
            bundle_id=bundle_id,
            version=self.ensembles[bundle_id].version,
            key=item.key,
            error=message,
        )

    # -------------------------------------------------------------- progress
    def notify(self, path: str = "", *, force: bool = False, finished: int = 0) -> None:
        if self.progress is None:
            return
        now = time.perf_counter()
        if not force and now - self.last_progress < 0.25:
            return
        self.last_progress = now
        elapsed = now - self.started
        self.progress(progress_of(self.report, len(self.work), self.total_audio, elapsed, path))

    # ------------------------------------------------------------------ loop
    def execute(self, pool: Executor, prefetch: int) -> None:
        queue = list(self.work)
        queue.reverse()
        inflight: dict[Future, PendingTrack] = {}
        limit = max(4 * self.batch_size, 256)
        self.notify(force=True)
        while True:
            if self.cancel.is_set():
                self.report.cancelled = True
                break
            while queue and len(inflight) < prefetch and max(self.buffered.values()) < limit:
                item = queue.pop()
                inflight[pool.submit(prepare_track, self.job(item))] = item
            for fut in [f for f in inflight if f.done()]:
                item = inflight.pop(fut)
                try:
                    prepared = fut.result()
                except Exception as err:  # noqa: BLE001 - one bad file never stops the run
                    prepared = PreparedTrack(item.track_id, item.path)
                    shown, why = one_line(item.path), reason_of(err)
                    prepared.error = f"{shown}: {type(err).__name__}: {why}"
                self.accept(item, prepared)
            inputs_open = bool(queue or inflight)
            ready = [b for b, n in self.buffered.items() if n >= self.batch_size]
            if not ready and not inputs_open:
                ready = [b for b, n in self.buffered.items() if n > 0]
            if ready:
                bundle_id = max(ready, key=lambda b: self.buffered[b])
                if not self.run_batch(bundle_id):
                    self.report.cancelled = True
                    break
                self.commit_finished()
                continue
            self.commit_finished()
            if not inputs_open:
                break
            wait(list(inflight), timeout=0.2, return_when=FIRST_COMPLETED)
            self.notify()
        for fut in inflight:
            fut.cancel()


def analyze(
    library: Library,
    track_ids: Iterable[int] | None = None,
    bundles: Sequence[str | Bundle] = DEFAULT_BUNDLES,
    *,
    device: str | None = None,
    workers: int | None = None,
    threads: int | None = None,
    batch_size: int = DEFAULT_BATCH,
    max_patches: int | None = DEFAULT_MAX_PATCHES,
    pool: str = "thread",
    force: bool = False,
    retry_errors: bool = False,
    optimize: bool = True,
    mixed_precision: bool = True,
    fast_forms: bool = True,
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
) -> AnalysisReport:
    """Analyse tracks (all ``ok`` tracks if ``track_ids`` is None) with ``bundles``.

    Only tracks without a fresh analysis by a bundle's current version are run
    (``force`` re-runs all, ``retry_errors`` re-tries stored failures). Tracks
    with more than ``max_patches`` patches are sampled evenly (``None``: no
    limit). ``workers`` decode in a ``pool`` of threads or processes; ``threads``
    sets each member's CPU threads. ``fast_forms=False`` keeps every member float32
    even where a cheaper form was accepted offline. Per-file failures are stored and reported, never
    raised; ``TaggerError`` is raised only for bad options or bundles.
    """
    if batch_size < 1:
        raise ConfigError("batch size must be at least 1")
    if max_patches is not None and max_patches < 1:
        raise ConfigError("the patch limit must be at least 1 (or none)")
    if pool not in POOLS:
        raise ConfigError(f"unknown worker pool {pool!r} (choose thread or process)")
    if workers is not None and workers < 1:
        raise ConfigError("--workers must be at least 1")
    cancel = cancel or threading.Event()
    started = time.perf_counter()
    loaded = load_bundles(bundles)
    dev = resolve_device(device)
    n_threads = thread_count(threads)
    n_workers = workers or max(1, min(4, n_threads))
    report = AnalysisReport(
        bundles=[f"{b.id}@{b.version}" for b in loaded],
        device=dev,
        threads=n_threads,
        workers=n_workers,
        pool=pool,
    )
    work, considered = pending_work(library, loaded, track_ids, force, retry_errors)
    report.tracks_total = len(work)
    report.tracks_skipped = max(0, considered - len(work))
    if not work or cancel.is_set():
        report.cancelled = cancel.is_set()
        report.seconds = time.perf_counter() - started
        return report
    needed = {b for item in work for b in item.bundle_ids}
    t_load = time.perf_counter()
    ensembles = [
        prepare_ensemble(
            b,
            dev,
            threads=member_threads(dev, n_threads, len(b.members)),
            optimize=optimize,
            mixed_precision=mixed_precision,
            fast_forms=fast_forms,
        )  # fmt: skip
        for b in loaded
        if b.id in needed
    ]
    report.load_s = time.perf_counter() - t_load
    side_by_side = None
    if dev == "cpu" and n_threads > 1:
        side_by_side = ThreadPoolExecutor(n_threads, thread_name_prefix="member")
    for ens in ensembles:
        report.mixed_precision += [n for n, a in zip(ens.member_names, ens.amp, strict=True) if a]
        report.optimized += [n for n, o in zip(ens.member_names, ens.optimized, strict=True) if o]
        report.forms[ens.bundle_id] = dict(zip(ens.member_names, ens.forms, strict=True))
        report.runtimes[ens.bundle_id] = dict(zip(ens.member_names, ens.runtimes, strict=True))
    run = _Run(
        library,
        ensembles,
        work,
        report,
        batch_size=batch_size,
        max_patches=max_patches,
        progress=progress,
        cancel=cancel,
        members_at_once=side_by_side,
    )
    executor = _make_pool(pool, n_workers)
    try:
        run.execute(executor, prefetch=max(2, 2 * n_workers))
    finally:
        executor.shutdown(wait=not cancel.is_set(), cancel_futures=True)
        if side_by_side is not None:
            side_by_side.shutdown(wait=True)
    report.seconds = time.perf_counter() - started
    return report


__all__ = [
    "AnalysisProgress",
    "AnalysisReport",
    "DEFAULT_BUNDLES",
    "Ensemble",
    "analyze",
    "file_logits",
    "prepare_ensemble",
]
