"""What an export writes and how: one immutable record, stored with each batch."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from tagger_core.errors import TaggerError
from tagger_core.labels.tasks import TASKS

POLICIES = ("merge", "replace")
MP4_STYLES = ("multi", "joined")


@dataclass(frozen=True)
class ExportOptions:
    """Choices of one export.

    ``policy`` ``merge`` keeps a file's existing genres (minus the ones a person
    rejected) and adds the accepted ones; ``replace`` writes the accepted ones
    only. ``min_confidence`` also takes labels whose calibrated confidence
    reaches it; ``conformal_sets`` instead takes each track's conformal label
    set (labels the active calibration's conformal threshold admits; see
    ``tagger_core.trust.conformal``); ``only_reviewed`` restricts to tracks
    marked reviewed. ``album_genres`` writes one genre set to every track of an
    album (``writing.album_plan``) instead of each track's own.
    """

    tasks: tuple[str, ...] = TASKS
    policy: str = "merge"
    min_confidence: float | None = None
    conformal_sets: bool = False
    only_reviewed: bool = False
    id3_version: int = 4
    id3v23_separator: str = "; "
    mp4_genre_style: str = "multi"
    mp4_separator: str = "; "
    instruments_field: str = "INSTRUMENTS"
    provenance: bool = False
    provenance_field: str = "MUSIC_TAGGER_PROVENANCE"
    apev2_for_mp3: bool = False
    album_genres: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        bad = [t for t in self.tasks if t not in TASKS]
        if bad or not self.tasks:
            raise TaggerError(f"unknown export task(s) {bad}; expected genre and/or instruments")
        if self.policy not in POLICIES:
            raise TaggerError(f"unknown genre policy {self.policy!r}; expected merge or replace")
        if self.id3_version not in (3, 4):
            raise TaggerError("ID3 version must be 3 or 4")
        if self.id3_version == 3 and not self.id3v23_separator:
            raise TaggerError("ID3v2.3 needs a non-empty separator")
        if self.mp4_genre_style not in MP4_STYLES:
            raise TaggerError(f"unknown MP4 genre style {self.mp4_genre_style!r}")
        if self.min_confidence is not None and not 0.0 <= self.min_confidence <= 1.0:
            raise TaggerError("--min-confidence must lie between 0 and 1")
        if self.conformal_sets and self.min_confidence is not None:
            raise TaggerError("write conformal sets or labels above a confidence, not both")
        for name in (self.instruments_field, self.provenance_field):
            if not name or not name.isascii() or "=" in name or "\x00" in name:
                raise TaggerError(f"bad custom field name {name!r} (ASCII, no '=')")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["tasks"] = list(self.tasks)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExportOptions:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        if "tasks" in known:
            known["tasks"] = tuple(known["tasks"])
        return cls(**known)
