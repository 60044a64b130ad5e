"""Model bundles: a directory of weights + ``manifest.json``, found through one registry.

Why bundles: the app ships pretrained ensembles and later adds its own trained
ones; everything that inference, calibration and the GUI need to know about a
model (labels, preprocessing, members, licence, provenance) travels with the
weights, so no code change is needed to add one.

Layout of ``<root>/<bundle_id>/``::

    manifest.json        # see below
    <member>.safetensors # one file per ensemble member
    LICENSE.txt          # licence text of the weights

``manifest.json`` keys: ``format`` (1), ``id``, ``version``, ``task``
(``"genre"`` | ``"instruments"`` | …), ``description``, ``raw_labels`` (the
tags every member outputs, in logit order), ``preprocessing``
(``FrontendConfig`` fields), ``patch_frames``, ``patch_hop_frames``,
``taxonomy`` (file name under ``resources/taxonomies``), ``members`` (list of
``{name, architecture, params, weights, sha256, embedding_dim, …}``;
``architecture`` is a key of ``tagger_core.listening.models.ARCHITECTURES``),
``licence`` (``{name, file, attribution}``) and ``provenance`` (free mapping).
Optional: ``calibration`` (the scaler dict the trainer fitted on validation data)
and ``previous_versions``: ``{"1.0.0": {"calibration": {…scaler dict…},
"raw_labels": […]}}``, what earlier versions of the bundle shipped, so analyses a
library stored under them stay readable with their own calibration after an
upgrade (``trust.predictions``; both keys optional, ``raw_labels`` defaults to
the current ones).

Reading a manifest needs no torch; building the members and loading their weights is
``tagger_core.listening.weights``'s job.

Bundle roots: the shipped ``resources/models`` and any folders listed in
``$MUSIC_TAGGER_BUNDLES`` (``os.pathsep``-separated), searched in that order.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from tagger_core.errors import ConfigError
from tagger_core.labels.frontend_config import FrontendConfig
from tagger_core.resources import resource_path

if TYPE_CHECKING:  # listing bundles needs no NumPy: ``status`` starts without it
    from tagger_core.labels.taxonomy import BoundTaxonomy

MANIFEST = "manifest.json"
SUPPORTED_FORMAT = 1
_REQUIRED = ("id", "version", "task", "raw_labels", "preprocessing", "patch_frames", "members")


class BundleError(ConfigError):
    """A model bundle that is missing, malformed or does not match its manifest."""


@dataclass(frozen=True)
class PreviousVersion:
    """What an earlier version of a bundle shipped: its raw labels and calibration."""

    version: str
    raw_labels: tuple[str, ...]
    calibration: dict | None


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks (weights files are large)."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def bundle_roots() -> list[Path]:
    """Folders searched for bundles, in priority order."""
    roots = [resource_path("models")]
    extra = os.environ.get("MUSIC_TAGGER_BUNDLES", "")
    roots.extend(Path(p) for p in extra.split(os.pathsep) if p)
    return roots


@dataclass(frozen=True)
class MemberSpec:
    """One ensemble member as described by the manifest."""

    name: str
    architecture: str
    params: dict
    weights: str
    sha256: str | None = None
    embedding_dim: int | None = None
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class BundleInfo:
    """What a bundle listing shows without loading any weights."""

    id: str
    version: str
    task: str
    description: str
    path: Path
    member_names: tuple[str, ...]


def _read_manifest(directory: Path) -> dict:
    path = directory / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BundleError(f"no {MANIFEST} in {directory}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise BundleError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise BundleError(f"{path}: manifest must be a JSON object")
    missing = [key for key in _REQUIRED if key not in data]
    if missing:
        raise BundleError(f"{path}: manifest lacks {', '.join(missing)}")
    if data.get("format", SUPPORTED_FORMAT) > SUPPORTED_FORMAT:
        raise BundleError(f"{path}: bundle format {data['format']} is newer than this app")
    if not data["members"]:
        raise BundleError(f"{path}: manifest lists no members")
    return data


def _info(directory: Path, data: dict) -> BundleInfo:
    return BundleInfo(
        id=data["id"],
        version=str(data["version"]),
        task=data["task"],
        description=data.get("description", ""),
        path=directory,
        member_names=tuple(m["name"] for m in data["members"]),
    )


def list_bundles() -> list[BundleInfo]:
    """Every readable bundle in the bundle roots (first root wins on duplicate ids)."""
    found: dict[str, BundleInfo] = {}
    for root in bundle_roots():
        if not root.is_dir():
            continue
        for manifest in sorted(root.glob(f"*/{MANIFEST}")):
            try:
                info = _info(manifest.parent, _read_manifest(manifest.parent))
            except (BundleError, KeyError, TypeError):
                continue
            found.setdefault(info.id, info)
    return list(found.values())


class Bundle:
    """A loaded manifest; weights are read only by ``listening.weights.load_members``."""

    def __init__(self, directory: Path, manifest: dict, taxonomy_path: Path | None = None):
        self.path = directory
        self.manifest = manifest
        self._taxonomy_path = taxonomy_path
        try:
            self.id: str = manifest["id"]
            self.version: str = str(manifest["version"])
            self.task: str = manifest["task"]
            self.description: str = manifest.get("description", "")
            self.raw_labels: tuple[str, ...] = tuple(manifest["raw_labels"])
            self.frontend_config = FrontendConfig.from_dict(manifest["preprocessing"])
            self.patch_frames: int = int(manifest["patch_frames"])
            self.patch_hop_frames: int = int(manifest.get("patch_hop_frames", self.patch_frames))
            self.members: tuple[MemberSpec, ...] = tuple(
                MemberSpec(
                    name=m["name"],
                    architecture=m["architecture"],
                    params=dict(m.get("params", {})),
                    weights=m["weights"],
                    sha256=m.get("sha256"),
                    embedding_dim=m.get("embedding_dim"),
                    extra={k: v for k, v in m.items() if k not in MemberSpec.__dataclass_fields__},
                )
                for m in manifest["members"]
            )
        except (KeyError, TypeError, ValueError) as err:
            raise BundleError(f"{directory / MANIFEST}: malformed manifest ({err})") from None
        self.licence: dict = manifest.get("licence", {})
        self.provenance: dict = manifest.get("provenance", {})

    @property
    def reads_embedding(self) -> bool:
        """Whether this bundle's members read another bundle's stored embedding, not audio."""
        source = self.manifest.get("input")
        return isinstance(source, dict) and "embedding_of" in source

    @property
    def member_names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.members)

    def previous_version(self, version: str) -> PreviousVersion:
        """Raw labels and shipped calibration of an earlier ``version`` of this bundle.

        A version the manifest does not describe is taken to have had the current
        raw labels and no shipped calibration.
        """
        described = self.manifest.get("previous_versions") or {}
        entry = described.get(version, {}) if isinstance(described, dict) else None
        if not isinstance(entry, dict):
            raise BundleError(f"{self.path / MANIFEST}: malformed previous_versions")
        labels = entry.get("raw_labels")
        return PreviousVersion(
            version=version,
            raw_labels=tuple(labels) if labels else self.raw_labels,
            calibration=entry.get("calibration") or None,
        )

    @cached_property
    def taxonomy(self) -> BoundTaxonomy:
        """The task's taxonomy resolved against this bundle's raw labels."""
        return self.taxonomy_for(self.raw_labels)

    def taxonomy_for(self, raw_labels: tuple[str, ...]) -> BoundTaxonomy:
        """The task's taxonomy resolved against ``raw_labels`` (an earlier version's too)."""
        from tagger_core.labels.taxonomy import task_taxonomy  # NumPy

        path = self._taxonomy_path
        use_manifest = "taxonomy" in self.manifest and "MUSIC_TAGGER_TAXONOMY" not in os.environ
        if path is None and "taxonomy_file" in self.manifest:
            # A bundle trained on the librarian's own vocabulary carries its taxonomy.
            path = self.path / self.manifest["taxonomy_file"]
        elif path is None and use_manifest:
            path = resource_path("taxonomies", self.manifest["taxonomy"])
        return task_taxonomy(self.task, path).bind(raw_labels)

    def __repr__(self) -> str:
        return f"Bundle(id={self.id!r}, version={self.version!r}, members={self.member_names})"


def bundle_tasks() -> dict[str, str]:
    """``{bundle id: task}`` of every installed bundle, as its manifest states it."""
    return {info.id: info.task for info in list_bundles()}


def installed_versions() -> dict[str, str]:
    """``{bundle id: version}`` of every installed bundle (analyses of others are outdated)."""
    return {info.id: info.version for info in list_bundles()}


def find_bundle_dir(bundle_id: str) -> Path:
    """Directory of the bundle ``bundle_id`` (``BundleError`` if no root has it)."""
    for info in list_bundles():
        if info.id == bundle_id:
            return info.path
    known = ", ".join(sorted(i.id for i in list_bundles())) or "none"
    raise BundleError(f"no model bundle {bundle_id!r} (available: {known})")


def load_bundle(bundle_id: str, *, taxonomy_path: str | Path | None = None) -> Bundle:
    """Load the manifest of ``bundle_id`` (weights: ``listening.weights.load_members``)."""
    directory = find_bundle_dir(bundle_id)
    return Bundle(
        directory, _read_manifest(directory), Path(taxonomy_path) if taxonomy_path else None
    )


def combined_taxonomy(
    task: str, bundles: list[Bundle], taxonomy_path: str | Path | None = None
) -> BoundTaxonomy:
    """``task``'s taxonomy bound to the raw labels of several bundles, concatenated.

    Apply its ``label_logits`` to the bundles' raw logits concatenated in the same
    order. Why: the MSD tags of ``genre`` carry no classical tag while the MTT
    tags of ``instruments`` do; together they cover all 15 genre labels.
    """
    from tagger_core.labels.taxonomy import task_taxonomy  # NumPy

    raw_labels = tuple(name for bundle in bundles for name in bundle.raw_labels)
    return task_taxonomy(task, taxonomy_path).bind(raw_labels)


def load_bundle_dir(directory: str | Path) -> Bundle:
    """Load a bundle from an explicit directory (for tools and tests)."""
    directory = Path(directory)
    return Bundle(directory, _read_manifest(directory))
