"""webupload: files move from the database to the file store (webupload.data goes)

Each stored blob is written to the directory store (FILE_STORE_URL when it names a
directory, else data/files) under a new key kept in webupload.store_key; then the column
holding the bytes is dropped. A deployment with an object store copies that directory to
its bucket afterwards (e.g. `aws s3 sync data/files s3://bucket/prefix`).

Revision ID: 0008
Revises: 0006
Create Date: 2026-12-02
"""

import os
import secrets
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEFAULT_DIRECTORY = "data/files"

uploads = sa.table(
    "webupload",
    sa.column("id", sa.Integer()),
    sa.column("data", sa.LargeBinary()),
    sa.column("store_key", sa.String(64)),
)


def _directory() -> Path:
    url = os.environ.get("FILE_STORE_URL") or DEFAULT_DIRECTORY
    if urlsplit(url).scheme == "s3":
        return Path(DEFAULT_DIRECTORY)
    return Path(urlsplit(url).path if url.startswith("file:") else url)


def upgrade() -> None:
    with op.batch_alter_table("webupload", schema=None) as batch_op:
        batch_op.add_column(sa.Column("store_key", sa.String(length=64), nullable=True))
    connection = op.get_bind()
    root = _directory()
    ids = connection.execute(sa.select(uploads.c.id)).scalars().all()
    for upload_id in ids:  # one blob in memory at a time
        data = connection.execute(
            sa.select(uploads.c.data).where(uploads.c.id == upload_id)
        ).scalar_one()
        key = f"uploads/{secrets.token_hex(16)}"
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        connection.execute(
            sa.update(uploads).where(uploads.c.id == upload_id).values(store_key=key)
        )
    with op.batch_alter_table("webupload", schema=None) as batch_op:
        batch_op.alter_column("store_key", existing_type=sa.String(length=64), nullable=False)
        batch_op.drop_column("data")


def downgrade() -> None:
    with op.batch_alter_table("webupload", schema=None) as batch_op:
        batch_op.add_column(sa.Column("data", sa.LargeBinary(), nullable=True))
    connection = op.get_bind()
    root = _directory()
    rows = connection.execute(sa.select(uploads.c.id, uploads.c.store_key)).all()
    for upload_id, key in rows:
        path = root / key
        data = path.read_bytes() if path.is_file() else b""
        connection.execute(sa.update(uploads).where(uploads.c.id == upload_id).values(data=data))
    with op.batch_alter_table("webupload", schema=None) as batch_op:
        batch_op.alter_column("data", existing_type=sa.LargeBinary(), nullable=False)
        batch_op.drop_column("store_key")
