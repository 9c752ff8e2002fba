"""broadcasts: the outbox's priority lanes, broadcasts and their recipients

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outboxmessage") as batch:
        batch.add_column(sa.Column("priority", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("recipient_id", sa.Integer(), nullable=True))
        batch.create_unique_constraint("uq_outboxmessage_recipient_id", ["recipient_id"])
    with op.batch_alter_table("outboxmessage") as batch:
        batch.alter_column("priority", server_default=None)
    op.create_index(
        "ix_outbox_lane", "outboxmessage", ["priority", "status", "next_attempt_at"]
    )
    op.create_table(
        "broadcast",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("photo_ref", sa.String(length=512), nullable=True),
        sa.Column("link", sa.String(length=1000), nullable=True),
        sa.Column("audience", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("created_by", sa.String(length=40), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("scheduled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        *(
            sa.Column(name, sa.Integer(), nullable=False)
            for name in (
                "plan_cursor",
                "planned",
                "sent",
                "failed",
                "blocked",
                "stopped",
                "remaining",
            )
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_broadcast_status", "broadcast", ["status"])
    op.create_table(
        "broadcastrecipient",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("broadcast_id", sa.Integer(), nullable=False),
        sa.Column("identity_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("chat_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.ForeignKeyConstraint(["broadcast_id"], ["broadcast.id"]),
        sa.ForeignKeyConstraint(["identity_id"], ["channelidentity.id"]),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("broadcast_id", "identity_id"),
    )
    op.create_index(
        "ix_recipient_next", "broadcastrecipient", ["broadcast_id", "status", "id"]
    )
    op.create_index(
        "ix_broadcastrecipient_person_id", "broadcastrecipient", ["person_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_broadcastrecipient_person_id", table_name="broadcastrecipient")
    op.drop_index("ix_recipient_next", table_name="broadcastrecipient")
    op.drop_table("broadcastrecipient")
    op.drop_index("ix_broadcast_status", table_name="broadcast")
    op.drop_table("broadcast")
    op.drop_index("ix_outbox_lane", table_name="outboxmessage")
    with op.batch_alter_table("outboxmessage") as batch:
        batch.drop_constraint("uq_outboxmessage_recipient_id", type_="unique")
        batch.drop_column("recipient_id")
        batch.drop_column("priority")
