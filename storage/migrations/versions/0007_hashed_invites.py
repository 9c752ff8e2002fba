"""invitations kept only as hashes; confidential counts taken out of the stored digests

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

import hashlib
import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The weekly digest's line for confidential reports, as it was posted in Vietnamese.
CONFIDENTIAL_FIGURE = "• Báo cáo sai phạm:"


def upgrade() -> None:
    with op.batch_alter_table("invite", schema=None) as batch_op:
        batch_op.alter_column(
            "token",
            new_column_name="token_hash",
            existing_type=sa.String(length=40),
            type_=sa.String(length=64),
            existing_nullable=False,
        )
    bind = op.get_bind()
    for (token,) in bind.execute(sa.text("SELECT token_hash FROM invite")).all():
        bind.execute(
            sa.text("UPDATE invite SET token_hash = :hash WHERE token_hash = :token"),
            {"hash": hashlib.sha256(token.encode()).hexdigest(), "token": token},
        )
    _scrub_digests(bind)


def _scrub_digests(bind: sa.Connection) -> None:
    """Take the confidential reports' figure out of every weekly digest kept for /news."""
    posts = bind.execute(
        sa.text("SELECT id, payload FROM publication WHERE kind = 'weekly-post'")
    ).all()
    for post_id, raw in posts:
        payload = raw if isinstance(raw, dict) else json.loads(raw)
        lines = str(payload.get("text", "")).split("\n")
        kept = [line for line in lines if not line.startswith(CONFIDENTIAL_FIGURE)]
        if kept != lines:
            payload["text"] = "\n".join(kept)
            bind.execute(
                sa.text("UPDATE publication SET payload = :payload WHERE id = :id"),
                {"payload": json.dumps(payload, ensure_ascii=False), "id": post_id},
            )


def downgrade() -> None:
    # A hash cannot be turned back into its link: open invitations end, used ones stay
    # as history under a shortened hash.
    op.execute("DELETE FROM invite WHERE used_at IS NULL")
    op.execute("UPDATE invite SET token_hash = substr(token_hash, 1, 40)")
    with op.batch_alter_table("invite", schema=None) as batch_op:
        batch_op.alter_column(
            "token_hash",
            new_column_name="token",
            existing_type=sa.String(length=64),
            type_=sa.String(length=40),
            existing_nullable=False,
        )
