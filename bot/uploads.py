"""The web chat's uploads: a record in the database, the bytes in the file store.

Every reader of an upload (web chat downloads, the news page's photos, the Telegram adapter
sending a web photo) reads through `source()`; everything that deletes uploads deletes their
files too (after the commit, so a rolled-back transaction never loses a file).
"""

import datetime as dt
import logging
from collections.abc import AsyncIterable
from dataclasses import dataclass

from bot.channels.base import FileSource
from storage import web as records
from storage.db import Database
from storage.files import UPLOADS, FileStore, new_upload_key

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NewUpload:
    """What the visitor sent: who, the file's name and type."""

    visitor_id: str
    name: str
    content_type: str


@dataclass
class Uploads:
    """Uploads kept in a file store, recorded in the database."""

    db: Database
    store: FileStore

    async def save(
        self, upload: NewUpload, chunks: AsyncIterable[bytes], now: dt.datetime
    ) -> tuple[int, int]:
        """Stream a file into the store and return its upload id and size; if the stream
        raises (too big, the visitor went away), neither the row nor the file is kept."""
        key = new_upload_key()
        upload_id = await self.db.run(
            lambda session: records.new_upload(
                session=session,
                visitor_id=upload.visitor_id,
                name=upload.name,
                content_type=upload.content_type,
                store_key=key,
                now=now,
            )
        )
        try:
            size = await self.store.write(key, chunks)
        except BaseException:
            await self._drop(upload_id, key)
            raise
        await self.db.run(
            lambda session: records.upload_stored(session=session, upload_id=upload_id, size=size)
        )
        return upload_id, size

    async def _drop(self, upload_id: int, key: str) -> None:
        await self.store.delete(key)
        await self.db.run(
            lambda session: records.drop_upload(session=session, upload_id=upload_id)
        )

    def source(self) -> FileSource:
        """The uploads by attachment reference (web:<id>): name and bytes, from the store."""

        async def read(ref: str) -> tuple[str, bytes] | None:
            """An upload's name and bytes; None once erased."""
            found = await self.db.run(
                lambda session: records.upload_file(session=session, ref=ref)
            )
            if found is None:
                return None
            data = await self.store.read(found[1])
            return (found[0], data) if data is not None else None

        return read

    async def forget_visitor(self, visitor_id: str) -> int:
        """Delete every upload of a web visitor, rows and files (for /forget); return how
        many files went."""
        keys = await self.db.run(
            lambda session: records.delete_uploads_of(session=session, visitor_id=visitor_id)
        )
        return await self._delete(keys)

    async def forget_refs(self, refs: list[str]) -> int:
        """Delete the uploads behind attachment references (web:<id>) of purged
        submissions, rows and files; return how many files went."""
        keys = await self.db.run(
            lambda session: records.delete_uploads_by_ref(session=session, refs=refs)
        )
        return await self._delete(keys)

    async def clean(self, now: dt.datetime, keep_hours: int) -> int:
        """Delete uploads that no submission took within `keep_hours`, and files no upload
        accounts for any more (e.g. of people forgotten in a transaction); return how many
        files went."""
        before = now - dt.timedelta(hours=keep_hours)
        keys = await self.db.run(
            lambda session: records.delete_untaken_uploads(session=session, before=before)
        )
        # The store first: a file written after this listing has its row already.
        held = await self.store.keys()
        known = await self.db.run(lambda session: records.stored_keys(session=session))
        ours = (key for key in held if key.startswith(f"{UPLOADS}/"))
        orphans = [key for key in ours if key not in known and key not in keys]
        return await self._delete([*keys, *orphans])

    async def _delete(self, keys: list[str]) -> int:
        for key in keys:
            await self.store.delete(key)
        if keys:
            log.info("deleted uploaded files", extra={"count": len(keys)})
        return len(keys)
