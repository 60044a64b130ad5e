"""The Ray engine on a real two-node Ray cluster started on this machine.

The cluster (a head and a worker node, one logical CPU and a small object store
each) is started once for the module; decode tasks and model actors ask for a
half CPU each so the head alone can finish a run after the worker is killed.
Outputs are compared with the local engine's on the same files.

The library under test comes from ``cluster_library``, parametrised over
``LIBRARY_BACKENDS``: each name ``X`` there needs a fixture ``X_library``
yielding a fresh, migrated :class:`tagger_core.db.Library` (SQLite, and the
throw-away PostgreSQL server that ``make test`` starts).
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from audio_files import make_audio
from sqlalchemy import func, select
from tiny_bundle import make_tiny_bundle

from tagger_core.db import Library, open_library
from tagger_core.db.blob_codec import unpack
from tagger_core.db.models import Analysis, Track
from tagger_core.errors import ConfigError
from tagger_core.labels.bundles import load_bundle
from tagger_core.library.scan import scan
from tagger_core.listening.engine import analyze
from tagger_core.listening.main_job import analyze_and_predict

try:
    import ray.data  # noqa: F401 - the cluster extra, which the dev extra includes
except ImportError:
    if os.environ.get("CI"):  # CI installs the dev extra: never skip these there
        raise
    pytest.skip("the cluster extra (ray) is not installed", allow_module_level=True)

from ray.cluster_utils import Cluster  # noqa: E402

from tagger_core.listening.ray_engine import analyze_on_ray, plan_for  # noqa: E402

LIBRARY_BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
NODE = {"num_cpus": 1, "object_store_memory": 100 * 2**20}
CLUSTER_OPTIONS = {"actors": 1, "cpus_per_task": 0.5, "commit_every": 1}
TINY = {"optimize": False}  # the tiny members run as loaded, on both engines
TOLERANCE = 1e-5
TRACKS = 10


# ------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def cluster():
    """A head and one worker node, as separate raylets on this machine."""
    os.environ.setdefault("RAY_memory_monitor_refresh_ms", "0")  # shared machine: no OOM kills
    head = {**NODE, "include_dashboard": False}
    c = Cluster(initialize_head=True, connect=False, head_node_args=head)
    c.add_node(**NODE)
    c.wait_for_nodes()
    yield c
    c.shutdown()


@pytest.fixture
def two_nodes(cluster):
    """The module's cluster with exactly one worker node (re-added if a test killed it)."""
    if not cluster.worker_nodes:
        cluster.add_node(**NODE)
        cluster.wait_for_nodes()
    return cluster


@pytest.fixture
def sqlite_library(tmp_path: Path):
    lib = open_library(tmp_path / "cluster.db")
    yield lib
    lib.close()


@pytest.fixture
def postgresql_library(pg_url: str):
    """A fresh library on the session's throw-away PostgreSQL server (tests/conftest.py)."""
    lib = open_library(pg_url)
    yield lib
    lib.close()


@pytest.fixture(params=LIBRARY_BACKENDS)
def cluster_library(request: pytest.FixtureRequest) -> Library:
    """The library the cluster writes to, on each backend in ``LIBRARY_BACKENDS``."""
    return request.getfixturevalue(f"{request.param}_library")


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("bundles")
    return [make_tiny_bundle(root, "tiny-a", seed=1), make_tiny_bundle(root, "tiny-b", seed=2)]


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Ten short clips, one long enough to be sampled with two patches a track."""
    folder = tmp_path_factory.mktemp("clips")
    styles = ["rock", "jazz", "piano", "ambient", "strings"]
    for i in range(9):
        make_audio(folder / f"clip{i}.flac", seconds=2.5 + i % 3, seed=i, style=styles[i % 5])
    make_audio(folder / "long.ogg", seconds=12.0, seed=11, style="rock")
    return folder


@pytest.fixture
def scanned(clips: Path, cluster_library: Library, tmp_path: Path):
    """The clips scanned into the cluster's library and a local one; then one goes missing.

    ``clip0.flac`` is deleted after the scan, so both engines must record the
    same per-track error for it and go on.
    """
    music = tmp_path / "music"
    shutil.copytree(clips, music)
    local = open_library(tmp_path / "local.db")
    scan(cluster_library, [music])
    scan(local, [music])
    (music / "clip0.flac").unlink()
    yield music, local
    local.close()


def _outputs(library: Library) -> dict[tuple[str, str, str], Analysis]:
    """(file name, bundle, version) → its row; fails on a duplicate."""
    out: dict[tuple[str, str, str], Analysis] = {}
    with library.session() as s:
        rows = s.execute(select(Analysis, Track.path_text).join(Track)).all()
    for row, path in rows:
        key = (Path(path).name, row.bundle_id, row.bundle_version)
        assert key not in out, f"duplicate analysis {key}"
        out[key] = row
    return out


def _assert_same_as_local(library: Library, local: Library, bundles, **opts) -> None:
    """Every stored output equals the local engine's on the same files (≤ 1e-5)."""
    analyze(local, bundles=bundles, workers=1, **opts)
    want, got = _outputs(local), _outputs(library)
    assert set(got) == set(want)
    for key, ref in want.items():
        row = got[key]
        assert (row.status, row.n_patches, row.members) == (ref.status, ref.n_patches, ref.members)
        assert row.seconds_analysed == pytest.approx(ref.seconds_analysed)
        if ref.status != "ok":
            assert row.error == ref.error
            continue
        diff = np.abs(unpack(row.member_logits) - unpack(ref.member_logits)).max()
        assert diff <= TOLERANCE, f"{key}: logits differ by {diff}"
        emb, emb_ref = unpack(row.embedding), unpack(ref.embedding)  # stored as float16
        assert np.array_equal(np.isnan(emb), np.isnan(emb_ref))
        assert np.allclose(emb, emb_ref, rtol=2e-3, atol=1e-4, equal_nan=True)


# --------------------------------------------------------------------- tests
def test_two_nodes_match_the_local_engine_and_resume_after_cancel(
    two_nodes, cluster_library, scanned, bundles
) -> None:
    _music, local = scanned
    cancel = threading.Event()

    def stop_after_first(p) -> None:
        if p.done >= 1:
            cancel.set()

    first = analyze_on_ray(
        cluster_library,
        bundles=bundles,
        address=two_nodes.address,
        cancel=cancel,
        progress=stop_after_first,
        **CLUSTER_OPTIONS,
        **TINY,
    )
    finished_first = first.tracks_done + len(first.errors)
    assert first.cancelled and 1 <= finished_first < TRACKS
    assert len(_outputs(cluster_library)) == 2 * finished_first
    report = analyze_on_ray(
        cluster_library, bundles=bundles, address=two_nodes.address, **CLUSTER_OPTIONS, **TINY
    )
    assert not report.cancelled
    assert (report.tracks_total, report.tracks_skipped) == (TRACKS - finished_first, finished_first)
    errors = first.errors + report.errors
    assert len(errors) == 1 and "clip0.flac" in errors[0] and "\n" not in errors[0]
    assert len(report.nodes) == 2, "both nodes should have done work"
    _assert_same_as_local(cluster_library, local, bundles, **TINY)
    again = analyze_on_ray(
        cluster_library, bundles=bundles, address=two_nodes.address, **CLUSTER_OPTIONS, **TINY
    )
    assert again.tracks_total == 0 and again.tracks_skipped == TRACKS


def test_the_main_job_runs_a_shipped_bundle_on_ray_like_the_local_engine(
    two_nodes, cluster_library, tmp_path
) -> None:
    folder = tmp_path / "music"
    folder.mkdir()
    make_audio(folder / "a.flac", seconds=8.0, seed=3, style="rock")
    make_audio(folder / "b.ogg", seconds=6.0, seed=4, style="jazz")
    local = open_library(tmp_path / "local.db")
    scan(cluster_library, [folder])
    scan(local, [folder])
    genre = [load_bundle("genre")]
    report = analyze_and_predict(
        cluster_library,
        bundles=genre,
        engine="ray",
        address=two_nodes.address,
        max_patches=2,
        **CLUSTER_OPTIONS,
    )
    assert report.pool == "ray" and report.tracks_done == 2 and not report.errors
    assert report.predictions_refreshed == 2, report.predictions_error
    _assert_same_as_local(cluster_library, local, genre, max_patches=2)
    local.close()


def test_killing_a_worker_node_midway_loses_and_duplicates_nothing(
    two_nodes, cluster_library, scanned, bundles
) -> None:
    _music, local = scanned
    victim = next(iter(two_nodes.worker_nodes))
    killed_at: list[int] = []

    def kill_midway(p) -> None:
        if p.done >= 2 and not killed_at:
            killed_at.append(p.done)
            two_nodes.remove_node(victim, allow_graceful=False)

    report = analyze_on_ray(
        cluster_library,
        bundles=bundles,
        address=two_nodes.address,
        progress=kill_midway,
        max_patches=2,
        **CLUSTER_OPTIONS,
        **TINY,
    )
    assert killed_at and killed_at[0] < TRACKS, "the worker node was not killed midway"
    assert not two_nodes.worker_nodes
    assert not report.cancelled and report.tracks_done == TRACKS - 1 and len(report.errors) == 1
    assert report.tracks_sampled == 1  # long.ogg has 5 patches, 2 kept
    with cluster_library.session() as s:
        keys = (Analysis.track_id, Analysis.bundle_id, Analysis.bundle_version)
        per_key = s.execute(select(*keys, func.count()).group_by(*keys)).all()
        tracks = s.scalar(select(func.count(Track.id)))
    assert tracks == TRACKS and len(per_key) == 2 * TRACKS and all(n == 1 for *_, n in per_key)
    _assert_same_as_local(cluster_library, local, bundles, max_patches=2, **TINY)


# ------------------------------------------------------------- no cluster
@pytest.mark.parametrize(
    ("resources", "actors", "expected"),
    [
        ({"CPU": 16.0}, None, (12, 0.0, 1.0, 1.0)),
        ({"CPU": 2.0}, None, (1, 0.0, 1.0, 0.5)),
        ({"CPU": 1.0}, None, (1, 0.0, 0.75, 0.25)),
        ({"CPU": 32.0, "GPU": 4.0}, None, (4, 1.0, 1.0, 1.0)),
        ({"CPU": 2.0}, 3, (3, 0.0, 0.5, 0.5)),
    ],
)
def test_the_plan_always_leaves_room_for_decoding(resources, actors, expected) -> None:
    plan = plan_for(resources, actors, 1.0)
    got = (plan.actors, plan.gpus_per_actor, plan.cpus_per_actor, plan.cpus_per_task)
    assert got == pytest.approx(expected)
    if not plan.gpus_per_actor:
        assert plan.actors * plan.cpus_per_actor + plan.cpus_per_task <= resources["CPU"]


def test_an_unreachable_address_is_one_line(library, bundles) -> None:
    with pytest.raises(ConfigError, match=r"^cannot reach the Ray cluster at 127\.0\.0\.1:9") as e:
        analyze_on_ray(library, bundles=bundles, address="127.0.0.1:9")
    assert "\n" not in str(e.value)
    with pytest.raises(ConfigError, match="is not HOST:PORT"):
        analyze_on_ray(library, bundles=bundles, address="somewhere")


def test_without_ray_the_error_says_how_to_install_it(
    library, bundles, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # what an install without the extra sees
    with pytest.raises(ConfigError, match=r"pip install 'music-archive-tagger\[cluster\]'$"):
        analyze_on_ray(library, bundles=bundles)


def test_an_unknown_engine_is_refused(library) -> None:
    with pytest.raises(ConfigError, match="unknown engine 'spark'"):
        analyze_and_predict(library, engine="spark")
