"""Review mode through claims: the librarian's name, their batch, who holds the rest.

On a shared library several librarians review at once. Review mode then works
through the librarian's claims: entering it (or switching task, or pressing
*Claim more*) tops their claims up to a batch of waiting tracks nobody else
holds, the queue shows only those, and the list below it says who holds the
other waiting tracks until when. On a single-user SQLite file this is off by
default (the whole queue is yours); the ``review/claims`` setting turns it on
for every library (``always``) or keeps it to shared ones (``shared``).
"""

from __future__ import annotations

from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QGroupBox, QListWidget, QListWidgetItem, QVBoxLayout, QWidget
from sqlalchemy import select

from tagger_core.db import Library
from tagger_core.db.models import Track
from tagger_core.trust.claims import CLAIM_BATCH, CLAIM_HOURS, Claim, live_claims
from tagger_core.trust.librarians import default_user
from tagger_core.trust.review import waiting_bundles, waiting_ids

#: Most tracks the "held by others" list shows (a big team may hold thousands).
OTHERS_SHOWN = 500


def librarian(settings: QSettings) -> str:
    """The name decisions are recorded under: the setting, else the OS login."""
    name = str(settings.value("review/user") or "").strip()
    return name or default_user()


def through_claims(settings: QSettings, library: Library) -> bool:
    """Whether review mode works through claims: on shared libraries, or always if set."""
    mode = str(settings.value("review/claims") or "shared")
    return mode == "always" or (mode == "shared" and library.dialect != "sqlite")


def claim_batch(settings: QSettings) -> tuple[int, float]:
    """(tracks per batch, hours a claim lasts) from the settings, defaults where unset."""
    try:
        batch = int(settings.value("review/claim_batch") or CLAIM_BATCH)
        hours = float(settings.value("review/claim_hours") or CLAIM_HOURS)
    except (TypeError, ValueError):
        return CLAIM_BATCH, CLAIM_HOURS
    return max(batch, 1), hours if 0 < hours <= 720 else CLAIM_HOURS


def until(claim: Claim) -> str:
    """``HH:MM`` of a claim's expiry in local time."""
    return f"{claim.expires_at.astimezone():%H:%M}"


def claims_of_task(library: Library, task: str) -> dict[int, Claim]:
    """Live claims of tracks waiting in ``task``'s queue, by track."""
    with library.session() as s:
        waiting = set(s.scalars(waiting_ids(waiting_bundles(s, task))))
        return {c.track_id: c for c in live_claims(s) if c.track_id in waiting}


class HeldByOthers(QGroupBox):
    """Waiting tracks other librarians hold: "Title — bob until 14:30"."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Held by others", parent)
        self.list = QListWidget()
        self.list.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.list.setToolTip("Tracks in this queue other librarians have claimed, and until when")
        QVBoxLayout(self).addWidget(self.list)
        self.shown: dict[int, str] = {}

    def show_claims(self, library: Library, claims: list[Claim]) -> None:
        """List ``claims`` (others' only), soonest to expire first."""
        claims = sorted(claims, key=lambda c: (c.expires_at, c.track_id))[:OTHERS_SHOWN]
        ids = [c.track_id for c in claims]
        with library.session() as s:
            names = {
                tid: title or path.rsplit("/", 1)[-1]
                for tid, title, path in s.execute(
                    select(Track.id, Track.title, Track.path_text).where(Track.id.in_(ids))
                ).all()
            }
        self.list.clear()
        self.shown = {}
        for c in claims:
            text = f"{names.get(c.track_id, c.track_id)} — {c.user} until {until(c)}"
            item = QListWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, c.track_id)
            item.setToolTip(
                f"Held by {c.user} since {c.claimed_at.astimezone():%H:%M}, "
                f"until {until(c)} ({c.expires_at:%Y-%m-%d %H:%M} UTC)"
            )
            self.list.addItem(item)
            self.shown[c.track_id] = text
        self.setTitle(f"Held by others ({len(claims)})")
