"""broadcast topics: a person's subscriptions as rows, the age group as a column, and the
outside-window count of a broadcast

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 1000
_person = sa.table(
    "person",
    sa.column("id", sa.Integer()),
    sa.column("subscriptions", sa.JSON()),
    sa.column("profile", sa.JSON()),
    sa.column("age_group", sa.String()),
)
_topic = sa.table("persontopic", sa.column("topic", sa.String()), sa.column("person_id", sa.Integer()))


def upgrade() -> None:
    with op.batch_alter_table("person") as batch:
        batch.add_column(sa.Column("age_group", sa.String(length=20), nullable=True))
    op.create_index("ix_person_age_group", "person", ["age_group"])
    op.create_table(
        "persontopic",
        sa.Column("topic", sa.String(length=40), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"]),
        sa.PrimaryKeyConstraint("topic", "person_id"),
    )
    op.create_index("ix_persontopic_person_id", "persontopic", ["person_id"])
    with op.batch_alter_table("broadcast") as batch:
        batch.add_column(
            sa.Column("outside_window", sa.Integer(), nullable=False, server_default="0")
        )
    with op.batch_alter_table("broadcast") as batch:
        batch.alter_column("outside_window", server_default=None)
    _backfill(op.get_bind())


def _backfill(bind: sa.Connection) -> None:
    """Each person's subscriptions become rows; the age group moves out of the profile."""
    last = 0
    while True:
        found: list[Any] = list(
            bind.execute(
                sa.select(_person.c.id, _person.c.subscriptions, _person.c.profile)
                .where(_person.c.id > last)
                .order_by(_person.c.id)
                .limit(BATCH)
            )
        )
        if not found:
            return
        topics = [
            {"topic": topic, "person_id": row[0]} for row in found for topic in set(row[1] or [])
        ]
        if topics:
            bind.execute(sa.insert(_topic), topics)
        for person_id, _, profile in found:
            if (profile or {}).get("age_group") is not None:
                rest = {k: v for k, v in profile.items() if k != "age_group"}
                bind.execute(
                    sa.update(_person)
                    .where(_person.c.id == person_id)
                    .values(age_group=profile["age_group"], profile=rest)
                )
        last = found[-1][0]


def downgrade() -> None:
    bind = op.get_bind()
    aged: list[Any] = list(
        bind.execute(
            sa.select(_person.c.id, _person.c.profile, _person.c.age_group).where(
                _person.c.age_group.is_not(None)
            )
        )
    )
    for person_id, profile, age_group in aged:
        bind.execute(
            sa.update(_person)
            .where(_person.c.id == person_id)
            .values(profile={**(profile or {}), "age_group": age_group})
        )
    with op.batch_alter_table("broadcast") as batch:
        batch.drop_column("outside_window")
    op.drop_index("ix_persontopic_person_id", table_name="persontopic")
    op.drop_table("persontopic")
    op.drop_index("ix_person_age_group", table_name="person")
    with op.batch_alter_table("person") as batch:
        batch.drop_column("age_group")
