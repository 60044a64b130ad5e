"""Which bundle version a track's analysis comes from, and which analyses are outdated.

Analyses are kept per (track, bundle id, bundle version), so after a bundle is
upgraded a track analysed only by the earlier version still has that version's
outputs. Its predictions are read from them (the newest such version) until it is
analysed again, and it counts as *outdated*: ``status`` counts such tracks and
``analyze --outdated`` re-analyses exactly them. The installed versions come from
the caller (``labels.bundles.installed_versions``): this module reads only the
database.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import ColumnElement, Select, case, exists, false, func, select, tuple_
from sqlalchemy.orm import Session, aliased

from tagger_core.db.models import Analysis, Track


def _outdated_rows(installed: Mapping[str, str]) -> Select[tuple[int, str, str]]:
    """(track id, bundle id, version) of ok analyses by another version than the installed
    one, of tracks the installed version has not analysed successfully."""
    if not installed:
        return select(Analysis.track_id, Analysis.bundle_id, Analysis.bundle_version).where(
            false()
        )
    wanted = case(dict(installed), value=Analysis.bundle_id)
    current = aliased(Analysis)
    name = Analysis.bundle_id + ""  # off the bundle_id index: see _with_other_versions
    return select(Analysis.track_id, Analysis.bundle_id, Analysis.bundle_version).where(
        tuple_(name, Analysis.bundle_version).not_in(sorted(installed.items())),
        name.in_(sorted(installed)),
        Analysis.status == "ok",
        ~exists().where(
            current.track_id == Analysis.track_id,
            current.bundle_id == Analysis.bundle_id,
            current.bundle_version == wanted,
            current.status == "ok",
        ),
    )


def _with_other_versions(session: Session, installed: Mapping[str, str]) -> dict[str, str]:
    """The ``installed`` bundles that have any stored analysis by another version.

    The usual answer is none, and finding that must be cheap: ``bundle_id || ''``
    keeps SQLite off the ``bundle_id`` index, whose use reads every analysis row
    (blobs and all; about 1 s on 100,000 tracks), so that the unique (track,
    bundle, version) index answers by itself (about 0.1 s).
    """
    if not installed:
        return {}
    name = Analysis.bundle_id + ""
    found = session.scalars(
        select(name)
        .where(
            tuple_(name, Analysis.bundle_version).not_in(sorted(installed.items())),
            name.in_(sorted(installed)),
        )
        .distinct()
    )
    return {b: installed[b] for b in found}


def _readable() -> ColumnElement[bool]:
    """The analysis's track is readable, said as "not among the few unreadable tracks" so
    that the query still starts from the analyses, not from every track."""
    return Analysis.track_id.not_in(select(Track.id).where(Track.status != "ok"))


def outdated_condition(installed: Mapping[str, str]) -> ColumnElement[bool]:
    """SQL condition on ``Track``: outdated for at least one of the ``installed`` bundles."""
    return Track.id.in_(_outdated_rows(installed).with_only_columns(Analysis.track_id))


def outdated_counts(session: Session, installed: Mapping[str, str]) -> dict[str, int]:
    """``{bundle id: readable tracks whose analysis by it is outdated}`` (zero counts left out)."""
    installed = _with_other_versions(session, installed)
    stmt = (
        _outdated_rows(installed)
        .with_only_columns(Analysis.bundle_id, func.count(Analysis.track_id.distinct()))
        .where(_readable())
        .group_by(Analysis.bundle_id)
    )
    return {str(b): int(n) for b, n in session.execute(stmt) if n}


def outdated_track_ids(session: Session, installed: Mapping[str, str]) -> list[int]:
    """Readable tracks whose analysis by some of the ``installed`` bundles is outdated."""
    installed = _with_other_versions(session, installed)
    stmt = (
        _outdated_rows(installed)
        .with_only_columns(Analysis.track_id)
        .where(_readable())
        .distinct()
        .order_by(Analysis.track_id)
    )
    return list(session.scalars(stmt))


def outdated_for_tracks(
    session: Session, installed: Mapping[str, str], track_ids: Iterable[int] | None = None
) -> dict[tuple[int, str], str]:
    """``{(track id, bundle id): version read}`` for the outdated analyses (of ``track_ids``).

    Tracks analysed by the installed version (or not at all) are left out, so an
    empty answer means every prediction shown is current. When a track was analysed
    by several other versions, its newest analysis is the one read.
    """
    if track_ids is None:
        installed = _with_other_versions(session, installed)
    stmt = _outdated_rows(installed).order_by(Analysis.track_id, Analysis.created_at, Analysis.id)
    if track_ids is not None:
        ids = sorted(set(track_ids))
        if not ids:
            return {}
        stmt = stmt.where(Analysis.track_id.in_(ids))
    # ascending order: the newest row of a track is written last and wins
    return {(t, str(b)): str(v) for t, b, v in session.execute(stmt)}


def outdated_versions(
    session: Session, bundle_id: str, version: str, track_ids: Iterable[int] | None = None
) -> dict[int, str]:
    """``{track id: version read}`` of tracks with no ok analysis of ``version`` but another."""
    found = outdated_for_tracks(session, {bundle_id: version}, track_ids)
    return {t: v for (t, _b), v in found.items()}


def outdated_note(bundle_id: str, version: str) -> str:
    """How every front end marks predictions read from an earlier bundle version."""
    return f"{bundle_id} {version} — outdated, re-analyse to update"
