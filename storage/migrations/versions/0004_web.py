"""web chat: visitors, sessions, messages, uploads; invitations bound to a staff member

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "webvisitor",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("resume_hash", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_webvisitor_resume_hash", "webvisitor", ["resume_hash"])
    op.create_table(
        "websession",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("visitor_id", sa.String(length=40), nullable=False),
        sa.Column("csrf", sa.String(length=64), nullable=False),
        sa.Column("lifetime_hours", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["visitor_id"], ["webvisitor.id"]),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    op.create_index("ix_websession_visitor_id", "websession", ["visitor_id"])
    op.create_index("ix_websession_expires_at", "websession", ["expires_at"])
    op.create_table(
        "webmessage",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chat_id", sa.String(length=64), nullable=False),
        sa.Column("outgoing", sa.Boolean(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("replaces", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_webmessage_chat_id", "webmessage", ["chat_id"])
    op.create_table(
        "webupload",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("visitor_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_webupload_visitor_id", "webupload", ["visitor_id"])
    with op.batch_alter_table("invite", schema=None) as batch_op:
        batch_op.add_column(sa.Column("staff_code", sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("invite", schema=None) as batch_op:
        batch_op.drop_column("staff_code")
    op.drop_index("ix_webupload_visitor_id", table_name="webupload")
    op.drop_table("webupload")
    op.drop_index("ix_webmessage_chat_id", table_name="webmessage")
    op.drop_table("webmessage")
    op.drop_index("ix_websession_expires_at", table_name="websession")
    op.drop_index("ix_websession_visitor_id", table_name="websession")
    op.drop_table("websession")
    op.drop_index("ix_webvisitor_resume_hash", table_name="webvisitor")
    op.drop_table("webvisitor")
