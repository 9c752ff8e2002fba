"""The file store: uploaded files live here, never in database rows.

One interface, two implementations: a directory (the default, `data/files`) and an
S3-compatible object store for deployments with several machines (FILE_STORE_URL=
s3://bucket/prefix; endpoint and credentials from the usual AWS_* environment variables).
Files arrive as a stream of chunks and are written in blocks off the event loop, so memory
stays flat however large the file and other requests are not held up.
"""

import asyncio
import os
import re
import secrets
import tempfile
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path
from typing import IO, Any, Protocol
from urllib.parse import urlsplit

import boto3

DEFAULT_DIRECTORY = "data/files"
UPLOADS = "uploads"
# Chunks are gathered into blocks this big before each write (one thread hop per block).
BLOCK_BYTES = 1024 * 1024
KEY = re.compile(r"^[a-z0-9_-]+(/[a-z0-9_-]+)*$")
PARTIAL = ".part"


class FileStore(Protocol):
    """Where files are kept, by key (e.g. 'uploads/3f2a…')."""

    async def write(self, key: str, chunks: AsyncIterable[bytes]) -> int:
        """Store the chunks under the key and return the size; nothing is kept if the
        stream raises (e.g. a size check failing as it streams)."""
        ...

    async def read(self, key: str) -> bytes | None:
        """The file's bytes; None if there is none."""
        ...

    async def delete(self, key: str) -> None:
        """Remove the file (nothing happens if it is already gone)."""
        ...

    async def keys(self) -> list[str]:
        """Every key the store holds."""
        ...


def new_upload_key() -> str:
    """A fresh, unguessable key for an upload."""
    return f"{UPLOADS}/{secrets.token_hex(16)}"


def open_store(url: str) -> FileStore:
    """The store for FILE_STORE_URL: s3://bucket/prefix, else a directory (path or file://)."""
    parts = urlsplit(url)
    if parts.scheme == "s3":
        return S3Store(parts.netloc, parts.path.strip("/"))
    if parts.scheme == "file":
        return DirectoryStore(Path(parts.path))
    return DirectoryStore(Path(url))


def _checked(key: str) -> str:
    if not KEY.match(key):
        raise ValueError(f"not a file store key: {key!r}")
    return key


async def blocks(chunks: AsyncIterable[bytes], size: int = BLOCK_BYTES) -> AsyncIterator[bytes]:
    """The chunks regrouped into blocks of about `size` bytes (the last may be smaller)."""
    pending: list[bytes] = []
    held = 0
    async for chunk in chunks:
        pending.append(chunk)
        held += len(chunk)
        if held >= size:
            yield b"".join(pending)
            pending, held = [], 0
    if pending:
        yield b"".join(pending)


async def _spool(chunks: AsyncIterable[bytes], target: IO[bytes]) -> int:
    """Write the chunks into an open file block by block, each write on a thread."""
    size = 0
    async for block in blocks(chunks):
        await asyncio.to_thread(target.write, block)
        size += len(block)
    return size


class DirectoryStore:
    """Files under one directory, one file per key; written to a temporary name and renamed
    when complete, so a reader never sees half a file."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / _checked(key)

    async def write(self, key: str, chunks: AsyncIterable[bytes]) -> int:
        """Stream the chunks to disk and return the size."""
        path = self._path(key)
        partial = path.with_name(path.name + PARTIAL)
        await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
        target = await asyncio.to_thread(partial.open, "wb")
        try:
            size = await _spool(chunks, target)
            await asyncio.to_thread(target.close)
            await asyncio.to_thread(os.replace, partial, path)
        except BaseException:
            target.close()
            partial.unlink(missing_ok=True)
            raise
        return size

    async def read(self, key: str) -> bytes | None:
        """The file's bytes, read on a thread."""
        path = self._path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            return None

    async def delete(self, key: str) -> None:
        """Remove the file."""
        await asyncio.to_thread(self._path(key).unlink, missing_ok=True)

    async def keys(self) -> list[str]:
        """Every complete file under the directory, as keys."""
        return await asyncio.to_thread(self._walk)

    def _walk(self) -> list[str]:
        if not self.root.is_dir():
            return []
        found = (p.relative_to(self.root).as_posix() for p in self.root.rglob("*") if p.is_file())
        return sorted(key for key in found if KEY.match(key))


class S3Store:
    """Objects in an S3-compatible bucket under a prefix, through boto3 (on threads)."""

    def __init__(self, bucket: str, prefix: str = "", client: Any | None = None) -> None:
        self.bucket = bucket
        self.prefix = f"{prefix}/" if prefix else ""
        self._client = client

    @property
    def client(self) -> Any:
        """The S3 client, made on first use from the environment (AWS_ENDPOINT_URL,
        AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION…)."""
        if self._client is None:
            self._client = boto3.client("s3")
        return self._client

    def _name(self, key: str) -> str:
        return self.prefix + _checked(key)

    async def write(self, key: str, chunks: AsyncIterable[bytes]) -> int:
        """Spool the chunks to a temporary file (memory only for a small one), then upload
        it (in parts when large)."""
        name = self._name(key)
        with tempfile.SpooledTemporaryFile(max_size=BLOCK_BYTES) as spooled:
            size = await _spool(chunks, spooled)
            spooled.seek(0)
            await asyncio.to_thread(self.client.upload_fileobj, spooled, self.bucket, name)
        return size

    async def read(self, key: str) -> bytes | None:
        """The object's bytes."""
        return await asyncio.to_thread(self._get, self._name(key))

    def _get(self, name: str) -> bytes | None:
        client = self.client
        try:
            answer = client.get_object(Bucket=self.bucket, Key=name)
        except client.exceptions.NoSuchKey:
            return None
        return bytes(answer["Body"].read())

    async def delete(self, key: str) -> None:
        """Remove the object."""
        name = self._name(key)
        await asyncio.to_thread(self.client.delete_object, Bucket=self.bucket, Key=name)

    async def keys(self) -> list[str]:
        """Every object under the prefix, as keys."""
        return await asyncio.to_thread(self._list)

    def _list(self) -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix
        )
        names = (item["Key"] for page in pages for item in page.get("Contents", []))
        # Anything else put under the prefix by hand is not ours to list (or delete).
        return sorted(k for k in (n.removeprefix(self.prefix) for n in names) if KEY.match(k))
