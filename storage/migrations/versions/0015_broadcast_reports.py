"""broadcast reports: where a broadcast's progress goes, and who cancelled it when

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("broadcast") as batch:
        batch.add_column(sa.Column("report_channel", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("report_chat_id", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("report_language", sa.String(length=8), nullable=True))
        batch.add_column(sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("cancelled_by", sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("broadcast") as batch:
        for name in (
            "cancelled_by",
            "cancelled_at",
            "report_language",
            "report_chat_id",
            "report_channel",
        ):
            batch.drop_column(name)
