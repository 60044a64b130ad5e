"""tracks.album_key: the indexed album identity that album views group by

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 15:20:00

Existing rows get their key from what the database already holds: the MusicBrainz
album id in the raw ID3/Vorbis/APE/ASF tags, else album artist, album and folder.
(MP4 freeform ids were stored unreadably before this revision; those tracks get the
tag-based key until the file changes and is read again.)
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

from tagger_core.library.album_identity import album_key

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_MB_RAW_KEYS = ("txxx:musicbrainz album id", "musicbrainz_albumid", "musicbrainz/album id")


def _mb_id(raw_tags: object) -> str | None:
    raw = json.loads(raw_tags) if isinstance(raw_tags, str) else raw_tags
    if not isinstance(raw, dict):
        return None
    for key, values in raw.items():
        if str(key).casefold() in _MB_RAW_KEYS and values:
            return str(values[0])
    return None


def upgrade() -> None:
    with op.batch_alter_table("tracks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("album_key", sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f("ix_tracks_album_key"), ["album_key"], unique=False)
    conn = op.get_bind()
    # Every row is read: a JSON column cannot be filtered with LIKE on PostgreSQL.
    rows = conn.execute(sa.text("SELECT id, raw_tags, album, album_artist, path_text FROM tracks"))
    update = sa.text("UPDATE tracks SET album_key = :key WHERE id = :id")
    batch: list[dict[str, object]] = []
    for row in rows:
        key = album_key(_mb_id(row.raw_tags), row.album, row.album_artist, row.path_text)
        if key is not None:
            batch.append({"key": key, "id": row.id})
    if batch:
        conn.execute(update, batch)


def downgrade() -> None:
    with op.batch_alter_table("tracks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tracks_album_key"))
        batch_op.drop_column("album_key")
