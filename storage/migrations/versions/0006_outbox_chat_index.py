"""outbox: one index for a chat's pending messages and their retry times

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outboxmessage", schema=None) as batch_op:
        batch_op.create_index(
            "ix_outbox_chat_status", ["chat_id", "status", "next_attempt_at"], unique=False
        )
        batch_op.drop_index("ix_outboxmessage_chat_id")


def downgrade() -> None:
    with op.batch_alter_table("outboxmessage", schema=None) as batch_op:
        batch_op.create_index("ix_outboxmessage_chat_id", ["chat_id"], unique=False)
        batch_op.drop_index("ix_outbox_chat_status")
