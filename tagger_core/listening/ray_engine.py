"""The analysis engine on a Ray cluster: the local engine's math, spread over machines.

Why a second engine: one computer analyses a large archive in days; Ray Data spreads
the same work over many. The track list becomes a dataset; decoding and log-mel
patches (:func:`tagger_core.listening.track_patches.prepare_track`, the local
engine's own code) run as CPU tasks wherever the cluster has room; the ensemble
members run in a pool of actors (one GPU each when the cluster has GPUs), each
loading its members once; the driver writes finished tracks to the library in
batches with :mod:`tagger_core.db.analysis_store`, so only the driver needs the
database. Outputs match the local engine's to float32 rounding: the same patches,
the same members, the same per-file averaging (:func:`ensembles.file_logits`), always
float32 (mixed precision is the local engine's GPU option, never used here).

Ray Data spreads tasks and actors over the nodes, retries tasks and restarts
actors lost with a node; a track that arrives twice
is written once (one row per track and bundle version, by the table's unique
key), and a killed driver loses at most the batch it had not written: the next run
skips every track already analysed.
"""

from __future__ import annotations

import os
import pickle
import queue
import socket
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from tagger_core.db import Library
from tagger_core.db.analysis_store import PendingTrack, save_analysis, save_error
from tagger_core.errors import ConfigError, TaggerError, one_line, reason_of
from tagger_core.labels.bundles import Bundle
from tagger_core.listening.device import resolve_device, thread_count
from tagger_core.listening.engine import (
    file_logits,
    load_bundles,
    pending_work,
    prepare_ensemble,
)
from tagger_core.listening.report import (
    DEFAULT_BATCH,
    DEFAULT_BUNDLES,
    DEFAULT_MAX_PATCHES,
    AnalysisReport,
    ProgressFn,
    progress_of,
)
from tagger_core.listening.track_patches import (
    PatchJob,
    PatchLayout,
    PreparedTrack,
    prepare_track,
)

INSTALL_HINT = "pip install 'music-archive-tagger[cluster]'"
COMMIT_EVERY = 32  # tracks per library transaction
COMMIT_INTERVAL_S = 2.0  # …or this often, whichever comes first
TRACKS_PER_ACTOR_BATCH = 8
TRACKS_PER_BLOCK = 8  # tracks one decode task prepares, in a large run
MIN_BLOCKS = 256
STOP_WAIT_S = 60.0  # longest wait for Ray Data to stop a cancelled stream
ACTOR_MEMORY = 2**30  # bytes Ray reserves per model actor


def import_ray() -> Any:
    """The ``ray`` module, or a one-line error saying how to install it."""
    # The engine connects explicitly; a Ray call after it disconnected must fail,
    # never start a private Ray on this machine behind the user's back.
    os.environ.setdefault("RAY_ENABLE_AUTO_CONNECT", "0")
    try:
        import ray
        import ray.data  # noqa: F401 - Ray Data ships as an extra of ray
    except ImportError as err:
        raise ConfigError(
            f"the Ray engine needs Ray Data ({err.name} is not installed): {INSTALL_HINT}"
        ) from None
    return ray


def check_cluster(address: str | None) -> None:
    """Fail early, in one line, when Ray is missing or ``address`` takes no connection."""
    ray = import_ray()
    if address and not ray.is_initialized():
        _check_reachable(address)


def _check_reachable(address: str) -> None:
    """Fail in seconds, with one line, when ``host:port`` takes no connection.

    ``ray.init`` would otherwise retry for a minute and end in a long traceback.
    ``auto``, ``local`` and ``ray://`` (Ray Client) addresses are left to Ray.
    """
    if address in ("auto", "local") or "://" in address:
        return
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigError(f"--ray-address {address!r} is not HOST:PORT, auto or ray://HOST:PORT")
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=5).close()
    except OSError as err:
        raise ConfigError(f"cannot reach the Ray cluster at {address}: {err}") from None


# ---------------------------------------------------------------- on the cluster
@dataclass
class TrackResult:
    """What the cluster hands back for one track (pickled into one dataset cell)."""

    track_id: int
    error: str | None = None
    seconds: float = 0.0
    sampled: bool = False
    decode_s: float = 0.0
    frontend_s: float = 0.0
    model_s: float = 0.0
    patches: int = 0
    #: the Ray nodes that decoded the track and ran its models
    nodes: tuple[str, ...] = ()
    #: bundle id → (file-level logits ``[members, tags]`` float32, embeddings, patch count)
    outputs: dict[str, tuple[np.ndarray, list[np.ndarray], int]] = field(default_factory=dict)


def prepare_row(
    row: dict[str, Any], layouts: dict[str, PatchLayout], max_patches: int | None
) -> dict[str, Any]:
    """CPU task: one track row → its decoded patches (pickled ``PreparedTrack``)."""
    bundle_ids = str(row["bundles"]).split(",")
    duration = float(row["duration"])
    job = PatchJob(
        int(row["track_id"]),
        str(row["path"]),
        None if np.isnan(duration) else duration,
        tuple(dict.fromkeys(layouts[b] for b in bundle_ids)),
        max_patches,
    )
    try:
        prepared = prepare_track(job)
    except Exception as err:  # noqa: BLE001 - one bad file never stops the run
        prepared = PreparedTrack(job.track_id, job.path)
        prepared.error = f"{one_line(job.path)}: {type(err).__name__}: {reason_of(err)}"
    return {
        "track_id": job.track_id,
        "bundles": row["bundles"],
        "node": _node_id(),
        "prepared": pickle.dumps(prepared),
    }


def _node_id() -> str:
    import ray

    return str(ray.get_runtime_context().get_node_id())


class EnsembleActor:
    """Actor: the selected ensembles loaded once, run over batches of prepared tracks.

    Like the local engine, patches of several tracks share forward passes
    (``batch`` patches at a time), so short tracks still fill a GPU batch.
    """

    def __init__(self, bundles: list[Bundle], device: str | None, optimize: bool, batch: int):
        self.device = resolve_device(device)
        self.batch = batch
        self.node = _node_id()
        threads = thread_count(None)
        self.ensembles = {
            b.id: prepare_ensemble(
                b, self.device, threads=threads, optimize=optimize, mixed_precision=False
            )
            for b in bundles
        }

    def _forward(self, bundle_id: str, patches: np.ndarray) -> list[tuple[np.ndarray, ...]]:
        """Per member: float32 logits and embeddings of every patch, ``batch`` at a time."""
        ens = self.ensembles[bundle_id]
        outs: list[tuple[list[np.ndarray], list[np.ndarray]]] = [([], []) for _ in ens.members]
        for start in range(0, patches.shape[0], self.batch):
            part = patches[start : start + self.batch]
            for m, member in enumerate(ens.members):
                out = member(part)
                outs[m][0].append(out["logits"])
                outs[m][1].append(out["embedding"].reshape(part.shape[0], -1))
        return [(np.concatenate(lo), np.concatenate(em)) for lo, em in outs]

    def _run_bundle(self, bundle_id: str, tracks: list[tuple[TrackResult, np.ndarray]]) -> None:
        """One bundle over the patches of ``tracks`` (mixed in batches), averaged per track."""
        counts = [patches.shape[0] for _, patches in tracks]
        per_member = self._forward(bundle_id, np.concatenate([p for _, p in tracks]))
        offset = 0
        for (res, _), n in zip(tracks, counts, strict=True):
            part = [(lo[offset : offset + n], em[offset : offset + n]) for lo, em in per_member]
            logits = np.stack([file_logits(lo) for lo, _ in part]).astype(np.float32)
            embs = [(em.sum(0, dtype=np.float64) / n).astype(np.float32) for _, em in part]
            res.outputs[bundle_id] = (logits, embs, n)
            res.patches += n
            offset += n

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        results: list[TrackResult] = []
        work: dict[str, list[tuple[TrackResult, np.ndarray]]] = {b: [] for b in self.ensembles}
        rows = zip(
            batch["track_id"], batch["bundles"], batch["node"], batch["prepared"], strict=True
        )
        for track_id, bundles, node, blob in rows:
            prepared: PreparedTrack = pickle.loads(blob)
            res = TrackResult(
                int(track_id),
                prepared.error,
                prepared.seconds,
                prepared.sampled,
                prepared.decode_s,
                prepared.frontend_s,
                nodes=(str(node), self.node),
            )
            results.append(res)
            if res.error is not None:
                continue
            wanted = str(bundles).split(",")
            found = [prepared.patches.get(self.ensembles[b].layout) for b in wanted]
            if any(p is None or p.shape[0] == 0 for p in found):
                res.error = f"{one_line(prepared.path)}: too little audio to analyse"
                continue
            for bundle_id, patches in zip(wanted, found, strict=True):
                work[bundle_id].append((res, patches))
        t0 = time.perf_counter()
        for bundle_id, tracks in work.items():
            if tracks:
                self._run_bundle(bundle_id, tracks)
        busy = [r for r in results if r.outputs]
        for res in busy:  # the batch's model time, shared by its tracks
            res.model_s = (time.perf_counter() - t0) / len(busy)
        out = np.empty(len(results), dtype=object)
        out[:] = [pickle.dumps(r) for r in results]
        return {"track_id": np.asarray(batch["track_id"]), "result": out}


# ------------------------------------------------------------------- the driver
@dataclass
class RayReport(AnalysisReport):
    """The local engine's report, plus the cluster nodes that did the work."""

    nodes: list[str] = field(default_factory=list)


@dataclass
class ClusterPlan:
    """How the work is spread: actors, and the resources each task and actor asks for."""

    actors: int
    gpus_per_actor: float
    cpus_per_actor: float
    cpus_per_task: float


def plan_for(total: dict[str, float], actors: int | None, cpus_per_task: float) -> ClusterPlan:
    """One actor per GPU when the cluster has GPUs; else actors on three quarters of the CPUs.

    On CPUs the models cost about 30× what decoding does (docs/analysis.md), so
    most CPUs run actors; a quarter (at least one task's worth) stays for the
    decode tasks, which always find room: a one-CPU cluster would otherwise give
    its only CPU to an actor and wait forever for decoding.
    """
    cpus = float(total.get("CPU", 1))
    gpus = int(total.get("GPU", 0))
    if gpus:
        task_cpus = min(cpus_per_task, cpus / 2)
        return ClusterPlan(actors or gpus, 1.0, task_cpus, task_cpus)
    task_cpus = min(cpus_per_task, cpus / 4)
    for_actors = cpus - max(task_cpus, cpus / 4)
    n = actors or max(1, int(for_actors))
    return ClusterPlan(n, 0.0, min(cpus_per_task, for_actors / n), task_cpus)


def _rows(work: list[PendingTrack]) -> list[dict[str, Any]]:
    return [
        {
            "track_id": p.track_id,
            "path": p.path,
            "duration": float("nan") if p.duration is None else float(p.duration),
            "bundles": ",".join(p.bundle_ids),
        }
        for p in work
    ]


def _blocks(n_tracks: int) -> int:
    """Dataset blocks: one track each for small runs (decoding spreads at once), up to
    ``TRACKS_PER_BLOCK`` each for large ones (fewer, larger tasks)."""
    return max(1, min(n_tracks, max(MIN_BLOCKS, n_tracks // TRACKS_PER_BLOCK)))


def _stream(ds: Any, out: queue.Queue, stop: threading.Event) -> None:
    """Feed finished tracks to the driver thread (so waiting for Ray never blocks cancel)."""
    try:
        for row in ds.iter_rows():
            if stop.is_set():
                return
            out.put(row["result"])
        out.put(None)
    except Exception as err:  # noqa: BLE001 - handed to the driver thread to report
        out.put(err)


class _Writer:
    """Writes results to the library in batches and keeps the report and progress."""

    def __init__(
        self,
        library: Library,
        work: list[PendingTrack],
        versions: dict[str, tuple[str, list[str], PatchLayout]],
        report: RayReport,
        progress: ProgressFn | None,
        commit_every: int,
    ) -> None:
        self.library, self.report, self.progress = library, report, progress
        self.commit_every = commit_every
        self.items = {p.track_id: p for p in work}
        self.versions = versions
        self.buffer: list[TrackResult] = []
        self.seen: set[int] = set()
        self.total_audio = sum(p.duration or 0.0 for p in work)
        self.started = time.perf_counter()
        self.last_commit = time.monotonic()
        self.last_path = ""

    def add(self, result: TrackResult) -> None:
        if result.track_id in self.seen:  # a retried task may deliver a track twice
            return
        self.seen.add(result.track_id)
        self.buffer.append(result)
        for node in result.nodes:
            if node not in self.report.nodes:
                self.report.nodes.append(node)
        overdue = time.monotonic() - self.last_commit > COMMIT_INTERVAL_S
        if len(self.buffer) >= self.commit_every or overdue:
            self.commit()

    def commit(self) -> None:
        """Write every buffered track in one transaction (the unit a killed driver can lose)."""
        self.last_commit = time.monotonic()
        if not self.buffer:
            return
        rep = self.report
        buffer = list(self.buffer)

        def store(session: Session) -> None:
            for res in buffer:
                item = self.items[res.track_id]
                if res.error is not None:
                    for bundle_id in item.bundle_ids:
                        self._fail(session, item, bundle_id, res.error)
                    continue
                for bundle_id, (logits, embs, n) in res.outputs.items():
                    version, members, (config, frames, _hop) = self.versions[bundle_id]
                    if not np.isfinite(logits).all():
                        message = f"{item.path}: model {bundle_id} gave non-finite outputs"
                        self._fail(session, item, bundle_id, message)
                        continue
                    save_analysis(
                        session,
                        track_id=item.track_id,
                        bundle_id=bundle_id,
                        version=version,
                        key=item.key,
                        members=members,
                        member_logits=logits,
                        embeddings=embs,
                        n_patches=n,
                        seconds=n * frames * config.hop_length / config.sr,
                    )

        self.library.write(store, "storing analyses")
        for res in buffer:
            item = self.items[res.track_id]
            self.last_path = item.path
            rep.decode_s += res.decode_s
            rep.frontend_s += res.frontend_s
            rep.model_s += res.model_s
            rep.patches += res.patches
            if res.error is not None:
                rep.errors.append(res.error)
                continue
            for bundle_id, (logits, _embs, _n) in res.outputs.items():
                if not np.isfinite(logits).all():
                    rep.errors.append(f"{item.path}: model {bundle_id} gave non-finite outputs")
            rep.tracks_done += 1
            rep.analyzed_track_ids.append(item.track_id)
            rep.audio_seconds += res.seconds
            rep.tracks_sampled += int(res.sampled)
        self.buffer.clear()
        self.notify()

    def _fail(self, session: Any, item: PendingTrack, bundle_id: str, message: str) -> None:
        save_error(
            session,
            track_id=item.track_id,
            bundle_id=bundle_id,
            version=self.versions[bundle_id][0],
            key=item.key,
            error=message,
        )

    def notify(self) -> None:
        if self.progress is None:
            return
        elapsed = time.perf_counter() - self.started
        total = len(self.items)
        self.progress(progress_of(self.report, total, self.total_audio, elapsed, self.last_path))


def _connect(ray: Any, address: str | None) -> bool:
    """Join the cluster at ``address`` (None: a private one on this machine); True if we did."""
    if ray.is_initialized():
        return False
    try:
        ray.init(
            address=address or None,
            include_dashboard=False,
            log_to_driver=False,
            logging_level="WARNING",
            configure_logging=False,
        )
    except (ConnectionError, RuntimeError, ValueError) as err:
        where = address or "this machine"
        raise ConfigError(f"cannot start or join Ray at {where}: {err}".splitlines()[0]) from None
    return True


def _results(ds: Any, cancel: threading.Event) -> Iterator[TrackResult]:
    """Finished tracks as they arrive; stops the stream soon after ``cancel`` is set."""
    inbox: queue.Queue = queue.Queue()
    stop = threading.Event()
    feeder = threading.Thread(target=_stream, args=(ds, inbox, stop), daemon=True)
    feeder.start()
    try:
        while not cancel.is_set():
            try:
                item = inbox.get(timeout=0.2)
            except queue.Empty:
                continue
            if item is None:
                return
            if isinstance(item, Exception):
                message = str(item).strip().splitlines()
                raise TaggerError(f"the Ray cluster failed: {message[-1] if message else item!r}")
            yield pickle.loads(item)
    finally:
        stop.set()
        _stop_stream(ds, feeder)


def _stop_stream(ds: Any, feeder: threading.Thread) -> None:
    """End a stream the feeder may still be waiting on, before the driver disconnects.

    Ray Data 2.60 keeps the running executor on the dataset once the first output
    arrived; shutting it down wakes the feeder at once. Before that (actors still
    starting) the feeder is given until its next row.
    """
    executor = getattr(ds, "_current_executor", None)
    if executor is not None:
        executor.shutdown(force=True)
    feeder.join(timeout=STOP_WAIT_S)


def analyze_on_ray(
    library: Library,
    track_ids: Iterable[int] | None = None,
    bundles: Sequence[str | Bundle] = DEFAULT_BUNDLES,
    *,
    address: str | None = None,
    device: str | None = None,
    actors: int | None = None,
    cpus_per_task: float = 1.0,
    batch_size: int = DEFAULT_BATCH,
    max_patches: int | None = DEFAULT_MAX_PATCHES,
    force: bool = False,
    retry_errors: bool = False,
    optimize: bool = True,
    commit_every: int = COMMIT_EVERY,
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
    **_local_only: Any,
) -> RayReport:
    """Analyse tracks like :func:`tagger_core.listening.engine.analyze`, on a Ray cluster.

    ``address`` is a running cluster's ``HOST:PORT`` (or ``auto``); None starts a
    private Ray on this machine. ``actors`` model actors (default: one per GPU, or
    see :func:`plan_for`); ``cpus_per_task`` is what each decode task and CPU actor
    asks Ray for. Every node must see the audio files (and custom bundles) at the
    same paths; only the driver opens the library, writing every ``commit_every``
    tracks (or every two seconds) in one transaction. Options of the local engine
    that have no meaning here (``workers``, ``threads``, ``pool``,
    ``mixed_precision``) are accepted and ignored.
    """
    if batch_size < 1:
        raise ConfigError("batch size must be at least 1")
    if max_patches is not None and max_patches < 1:
        raise ConfigError("the patch limit must be at least 1 (or none)")
    if actors is not None and actors < 1:
        raise ConfigError("the Ray engine needs at least one model actor")
    check_cluster(address)
    ray = import_ray()
    cancel = cancel or threading.Event()
    started = time.perf_counter()
    loaded = load_bundles(bundles)
    work, considered = pending_work(library, loaded, track_ids, force, retry_errors)
    report = RayReport(bundles=[f"{b.id}@{b.version}" for b in loaded], pool="ray")
    report.tracks_total = len(work)
    report.tracks_skipped = max(0, considered - len(work))
    if not work or cancel.is_set():
        report.cancelled = cancel.is_set()
        report.seconds = time.perf_counter() - started
        return report
    needed = [b for b in loaded if any(b.id in p.bundle_ids for p in work)]
    layouts = {b.id: (b.frontend_config, b.patch_frames, b.patch_hop_frames) for b in needed}
    versions = {b.id: (b.version, list(b.member_names), layouts[b.id]) for b in needed}
    owned = _connect(ray, address)
    try:
        plan = plan_for(ray.cluster_resources(), actors, cpus_per_task)
        report.device = f"ray ({plan.actors} actor(s), {'GPU' if plan.gpus_per_actor else 'CPU'})"
        report.workers = plan.actors
        ray.data.DataContext.get_current().enable_progress_bars = False
        ds = ray.data.from_items(_rows(work), override_num_blocks=_blocks(len(work)))
        ds = ds.map(
            prepare_row,
            fn_kwargs={"layouts": layouts, "max_patches": max_patches},
            num_cpus=plan.cpus_per_task,
        )
        ds = ds.map_batches(
            EnsembleActor,
            fn_constructor_kwargs={
                "bundles": needed,
                "device": device if plan.gpus_per_actor else "cpu",
                "optimize": optimize,
                "batch": batch_size,
            },
            batch_size=TRACKS_PER_ACTOR_BATCH,
            compute=ray.data.ActorPoolStrategy(size=plan.actors),
            num_cpus=plan.cpus_per_actor,
            num_gpus=plan.gpus_per_actor,
            # what an actor holds (torch and the loaded members), so Ray places no more
            # actors on a node than fit; it also keeps Ray Data from fusing decoding into
            # the actors, so decoding spreads over every CPU of the cluster
            memory=ACTOR_MEMORY,
        )
        writer = _Writer(library, work, versions, report, progress, max(1, commit_every))
        writer.notify()
        for result in _results(ds, cancel):
            writer.add(result)
        writer.commit()
        report.cancelled = cancel.is_set()
    finally:
        if owned:
            ray.shutdown()
    report.seconds = time.perf_counter() - started
    return report


__all__ = ["RayReport", "analyze_on_ray", "check_cluster", "import_ray"]
