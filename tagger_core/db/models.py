"""SQLAlchemy 2 ORM models of the library database.

Paths are stored twice: ``path`` holds the exact bytes the file system uses
(``os.fsencode``), so names that are not UTF-8 survive; ``path_text`` is a
readable rendering for display, sorting and search. Arrays of model outputs are
stored as compact little-endian binary blobs (see ``tagger_core.db.blob_codec``):
``BLOB`` on SQLite, ``bytea`` on PostgreSQL. Sizes, nanosecond mtimes and tag
numbers are ``BigInteger``: PostgreSQL's ``integer`` is 32-bit (SQLite's is
always 64-bit, so existing SQLite files need no change).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> dt.datetime:
    """Timezone-aware now; every timestamp in the database is UTC."""
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class LibraryRoot(Base):
    """A folder the librarian added; scans walk it recursively."""

    __tablename__ = "library_roots"

    id: Mapped[int] = mapped_column(primary_key=True)
    path: Mapped[bytes] = mapped_column(LargeBinary, unique=True)
    path_text: Mapped[str] = mapped_column(Text)
    added_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_scan_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class Track(Base):
    """One audio file: where it is, what it is, and the tags it already carries."""

    __tablename__ = "tracks"

    id: Mapped[int] = mapped_column(primary_key=True)
    root_id: Mapped[int | None] = mapped_column(
        ForeignKey("library_roots.id", ondelete="SET NULL"), index=True
    )
    path: Mapped[bytes] = mapped_column(LargeBinary, unique=True)
    path_text: Mapped[str] = mapped_column(Text, index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    mtime_ns: Mapped[int] = mapped_column(BigInteger)
    fingerprint: Mapped[str | None] = mapped_column(String(64), index=True)
    format: Mapped[str | None] = mapped_column(String(16), index=True)
    codec: Mapped[str | None] = mapped_column(String(32))
    duration: Mapped[float | None] = mapped_column(Float)
    sample_rate: Mapped[int | None] = mapped_column(Integer)
    channels: Mapped[int | None] = mapped_column(Integer)
    bitrate: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="ok", index=True)
    error: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    first_seen: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_seen: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Existing tags, normalised.
    title: Mapped[str | None] = mapped_column(Text, index=True)
    artist: Mapped[str | None] = mapped_column(Text, index=True)
    album: Mapped[str | None] = mapped_column(Text, index=True)
    album_artist: Mapped[str | None] = mapped_column(Text)
    #: ``tagger_core.library.album_identity.album_key``: MusicBrainz id or tags + folder.
    album_key: Mapped[str | None] = mapped_column(String(64), index=True)
    year: Mapped[int | None] = mapped_column(BigInteger)
    track_no: Mapped[int | None] = mapped_column(BigInteger)
    disc_no: Mapped[int | None] = mapped_column(BigInteger)
    comment: Mapped[str | None] = mapped_column(Text)
    genres: Mapped[list[Any]] = mapped_column(JSON, default=list)
    genre_text: Mapped[str | None] = mapped_column(Text, index=True)
    raw_tags: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    root: Mapped[LibraryRoot | None] = relationship()

    @property
    def display_name(self) -> str:
        return self.title or self.path_text.rsplit("/", 1)[-1]


class Setting(Base):
    """Small named JSON values (review policy, export defaults…)."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Analysis(Base):
    """Raw outputs of one model bundle on one track: stored once, recalibrated many times.

    ``member_logits`` is an (members × raw tags) float32 array, ``embedding`` an
    (members × dims) float16 array of pooled penultimate features.
    """

    __tablename__ = "analyses"
    __table_args__ = (UniqueConstraint("track_id", "bundle_id", "bundle_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    track_id: Mapped[int] = mapped_column(ForeignKey("tracks.id", ondelete="CASCADE"), index=True)
    bundle_id: Mapped[str] = mapped_column(String(64), index=True)
    bundle_version: Mapped[str] = mapped_column(String(32))
    fingerprint: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="ok")
    error: Mapped[str | None] = mapped_column(Text)
    members: Mapped[list[Any]] = mapped_column(JSON, default=list)
    #: form each member ran in (``float32``/``int8``/``float16``); None for older rows
    member_forms: Mapped[list[Any] | None] = mapped_column(JSON)
    n_patches: Mapped[int] = mapped_column(Integer, default=0)
    seconds_analysed: Mapped[float] = mapped_column(Float, default=0.0)
    member_logits: Mapped[bytes | None] = mapped_column(LargeBinary)
    embedding: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    track: Mapped[Track] = relationship()


class Calibration(Base):
    """A fitted calibration of one bundle: method, parameters, and how good it is."""

    __tablename__ = "calibrations"

    id: Mapped[int] = mapped_column(primary_key=True)
    bundle_id: Mapped[str] = mapped_column(String(64), index=True)
    bundle_version: Mapped[str] = mapped_column(String(32))
    method: Mapped[str] = mapped_column(String(32))
    fit_criterion: Mapped[str] = mapped_column(String(16))
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    fitted_on: Mapped[list[Any]] = mapped_column(JSON, default=list)
    metrics_before: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    metrics_after: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


#: How ``Prediction.summary`` starts when no label clears the threshold.
SUMMARY_NOT_FOUND = "not found"


class Prediction(Base):
    """Calibrated label confidences and review flags of one track for one bundle."""

    __tablename__ = "predictions"
    __table_args__ = (UniqueConstraint("track_id", "bundle_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    track_id: Mapped[int] = mapped_column(ForeignKey("tracks.id", ondelete="CASCADE"), index=True)
    bundle_id: Mapped[str] = mapped_column(String(64), index=True)
    calibration_id: Mapped[int | None] = mapped_column(
        ForeignKey("calibrations.id", ondelete="SET NULL")
    )
    confidences: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    spread: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    summary: Mapped[str | None] = mapped_column(Text)
    flagged: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    flag_reasons: Mapped[list[Any]] = mapped_column(JSON, default=list)
    uncertainty: Mapped[float] = mapped_column(Float, default=0.0, index=True)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ReviewDecision(Base):
    """A person's decision on a track: accept/reject/add a label, or mark it reviewed.

    Decisions are never deleted; undo sets ``undone_at`` so history survives.
    ``decided_by`` names the librarian (None for decisions made before it was recorded).
    """

    __tablename__ = "review_decisions"
    __table_args__ = (Index("ix_review_track_task", "track_id", "task"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    track_id: Mapped[int] = mapped_column(ForeignKey("tracks.id", ondelete="CASCADE"))
    task: Mapped[str] = mapped_column(String(16))
    label: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(16))
    confidence: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    undone_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    decided_by: Mapped[str | None] = mapped_column(String(64))


class ReviewClaim(Base):
    """A librarian holding a flagged track to review it, until ``expires_at``.

    One row per track at most (the unique ``track_id``): two librarians can never both
    hold a track, whatever the timing of their claims. Expired rows are free to take.
    """

    __tablename__ = "review_claims"

    id: Mapped[int] = mapped_column(primary_key=True)
    track_id: Mapped[int] = mapped_column(ForeignKey("tracks.id", ondelete="CASCADE"), unique=True)
    claimed_by: Mapped[str] = mapped_column(String(64), index=True)
    claimed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)


class ExportBatch(Base):
    """One export run; its items keep every file's previous tags for undo."""

    __tablename__ = "export_batches"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), default="export")
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="running")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class ExportItem(Base):
    """One file in an export batch: tags before and after, and what happened."""

    __tablename__ = "export_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(
        ForeignKey("export_batches.id", ondelete="CASCADE"), index=True
    )
    track_id: Mapped[int | None] = mapped_column(ForeignKey("tracks.id", ondelete="SET NULL"))
    path: Mapped[bytes] = mapped_column(LargeBinary)
    old_tags: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    new_tags: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    message: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
