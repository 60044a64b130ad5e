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

from sqlalchemy import ColumnElement, and_, exists, false, func, or_, select
from sqlalchemy.orm import Session, aliased

from tagger_core.db.models import Analysis, Track


def _ok(row: type[Analysis], bundle_id: str) -> ColumnElement[bool]:
    return and_(
        row.track_id == Track.id,
        row.bundle_id == bundle_id,
        row.status == "ok",
        row.member_logits.is_not(None),
    )


def outdated_condition(bundle_id: str, version: str) -> ColumnElement[bool]:
    """SQL condition on ``Track``: an ok analysis of ``bundle_id`` exists, none of ``version``."""
    old, current = aliased(Analysis), aliased(Analysis)
    return and_(
        exists().where(_ok(old, bundle_id), old.bundle_version != version),
        ~exists().where(_ok(current, bundle_id), current.bundle_version == version),
    )


def any_outdated_condition(installed: Mapping[str, str]) -> ColumnElement[bool]:
    """SQL condition on ``Track``: outdated for at least one of the ``installed`` bundles."""
    conditions = [outdated_condition(b, v) for b, v in sorted(installed.items())]
    return or_(*conditions) if conditions else false()


def outdated_counts(session: Session, installed: Mapping[str, str]) -> dict[str, int]:
    """``{bundle id: readable tracks whose analysis by it is outdated}`` (zero counts left out)."""
    out: dict[str, int] = {}
    stored = set(session.scalars(select(Analysis.bundle_id).distinct()))
    for bundle_id, version in sorted(installed.items()):
        if bundle_id not in stored:
            continue
        n = session.scalar(
            select(func.count(Track.id)).where(
                Track.status == "ok", outdated_condition(bundle_id, version)
            )
        )
        if n:
            out[bundle_id] = int(n)
    return out


def outdated_track_ids(session: Session, installed: Mapping[str, str]) -> list[int]:
    """Readable tracks whose analysis by some of the ``installed`` bundles is outdated."""
    return list(
        session.scalars(
            select(Track.id)
            .where(Track.status == "ok", any_outdated_condition(installed))
            .order_by(Track.id)
        )
    )


def outdated_versions(
    session: Session, bundle_id: str, version: str, track_ids: Iterable[int] | None = None
) -> dict[int, str]:
    """``{track id: version read}`` of tracks with no ok analysis of ``version`` but an older one.

    When a track was analysed by several other versions, the newest analysis wins.
    """
    current = aliased(Analysis)
    stmt = (
        select(Analysis.track_id, Analysis.bundle_version)
        .where(
            Analysis.bundle_id == bundle_id,
            Analysis.bundle_version != version,
            Analysis.status == "ok",
            Analysis.member_logits.is_not(None),
            ~exists().where(
                current.track_id == Analysis.track_id,
                current.bundle_id == bundle_id,
                current.bundle_version == version,
                current.status == "ok",
                current.member_logits.is_not(None),
            ),
        )
        .order_by(Analysis.track_id, Analysis.created_at, Analysis.id)
    )
    if track_ids is not None:
        stmt = stmt.where(Analysis.track_id.in_(sorted(set(track_ids))))
    # ascending order: the newest row of a track is written last and wins
    return {track_id: str(v) for track_id, v in session.execute(stmt)}


def outdated_for_tracks(
    session: Session, installed: Mapping[str, str], track_ids: Iterable[int]
) -> dict[tuple[int, str], str]:
    """``{(track id, bundle id): version}`` for the analyses that are outdated among ``track_ids``.

    Tracks analysed by the installed version (or not at all) are left out, so an
    empty answer means every prediction shown is current.
    """
    ids = sorted(set(track_ids))
    out: dict[tuple[int, str], str] = {}
    if not ids:
        return out
    for bundle_id, version in sorted(installed.items()):
        for track_id, old in outdated_versions(session, bundle_id, version, ids).items():
            out[(track_id, bundle_id)] = old
    return out


def outdated_note(bundle_id: str, version: str) -> str:
    """How every front end marks predictions read from an earlier bundle version."""
    return f"{bundle_id} {version} — outdated, re-analyse to update"
