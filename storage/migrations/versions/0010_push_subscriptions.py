"""pushsubscription: the web chat's Web Push subscriptions, one per browser endpoint

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pushsubscription",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chat_id", sa.String(length=64), nullable=False),
        sa.Column("endpoint", sa.String(length=1000), nullable=False),
        sa.Column("p256dh", sa.String(length=200), nullable=False),
        sa.Column("auth", sa.String(length=100), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("endpoint"),
    )
    op.create_index("ix_pushsubscription_chat_id", "pushsubscription", ["chat_id"])
    op.create_index("ix_pushsubscription_last_used_at", "pushsubscription", ["last_used_at"])


def downgrade() -> None:
    op.drop_index("ix_pushsubscription_last_used_at", table_name="pushsubscription")
    op.drop_index("ix_pushsubscription_chat_id", table_name="pushsubscription")
    op.drop_table("pushsubscription")
