"""review_decisions.decided_by and review_claims: several librarians on one library

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 17:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Older decisions keep NULL: who made them was never recorded.
    with op.batch_alter_table("review_decisions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("decided_by", sa.String(length=64), nullable=True))
    op.create_table(
        "review_claims",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("track_id", sa.Integer(), nullable=False),
        sa.Column("claimed_by", sa.String(length=64), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["track_id"], ["tracks.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("track_id"),
    )
    with op.batch_alter_table("review_claims", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_review_claims_claimed_by"), ["claimed_by"])
        batch_op.create_index(batch_op.f("ix_review_claims_expires_at"), ["expires_at"])


def downgrade() -> None:
    with op.batch_alter_table("review_claims", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_review_claims_expires_at"))
        batch_op.drop_index(batch_op.f("ix_review_claims_claimed_by"))
    op.drop_table("review_claims")
    with op.batch_alter_table("review_decisions", schema=None) as batch_op:
        batch_op.drop_column("decided_by")
