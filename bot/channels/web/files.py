"""Files on the web chat: a visitor's upload streamed to the file store, and the download of a
file their chat shows, through the channel it came from."""

import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import quote, unquote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bot.channels.base import FileSource
from bot.channels.web.events import media_event, media_kind
from bot.channels.web.guard import Guard, Refusal, event_id, refuse, row_id
from bot.channels.web.limits import HourlyCap
from bot.channels.web.thumbs import Thumbnails
from bot.config import OrgConfig
from bot.domain.i18n import text
from bot.domain.messages import Inbound, SharedFile
from bot.domain.text import clean
from bot.uploads import NewUpload, Uploads
from handlers import steps
from storage import web as records
from storage.db import Database
from storage.web import UploadGate

# Store an event and handle it in its chat's turn, with the visitor's words to show; whether
# they were kept.
Take = Callable[[Inbound, str | None], Awaitable[bool]]


@dataclass
class Files:
    """The upload and download routes."""

    db: Database
    config: OrgConfig
    clock: Callable[[], dt.datetime]
    guard: Guard
    uploads: Uploads
    # Per messenger channel, how to fetch a file that came through it (for staff on the web).
    file_sources: Mapping[str, FileSource]
    take: Take
    thumbnails: Thumbnails = field(default_factory=Thumbnails)

    def __post_init__(self) -> None:
        web = self.config.raw.channels.web
        self._per_session = HourlyCap(web.uploads_per_hour_session)
        self._per_address = HourlyCap(web.uploads_per_hour_address)

    async def upload(self, request: Request) -> Response:
        """A file, as the raw request body streamed to the file store; its name in
        X-File-Name (URL-encoded). Taken only after consent, at a step that takes files,
        within the hourly caps."""
        language = self.guard.language(request)
        limit_mb = self.config.raw.limits.attachment_max_mb
        too_big = Refusal(413, "web.too_big", mb=str(limit_mb))
        name = clean(unquote(request.headers.get("X-File-Name", "file")), one_line=True)[:200]
        name = name or "file"
        content_type = request.headers.get("Content-Type", "application/octet-stream")
        try:
            signed_in = await self.guard.check(request)
            given_id = event_id({"id": request.headers.get("X-Event-Id", "")})
            _check_declared(request, limit_mb * 1024 * 1024, too_big)
            await self._may_upload(request, signed_in.visitor_id)
            upload = NewUpload(signed_in.visitor_id, name, content_type)
            chunks = _file_chunks(request, limit_mb * 1024 * 1024, too_big)
            upload_id, size = await self.uploads.save(upload, chunks, self.clock())
        except Refusal as refusal:
            return refuse(refusal, language)
        kind = (media_kind(content_type), size)
        event = media_event(signed_in.visitor_id, given_id, upload_id, kind, language)
        await self.take(event, text("web.attached", language, name=name))
        return JSONResponse({"ok": True})

    async def _may_upload(self, request: Request, visitor_id: str) -> None:
        """Refuse an upload before anything is stored: no consent yet, not at a step that
        takes files, or over the hourly caps."""
        gate = await self.db.run(
            lambda session: records.upload_gate(session=session, visitor_id=visitor_id)
        )
        now = self.clock()
        refusal = upload_refusal(gate, now, self.config.raw.limits.dialogue_timeout_minutes)
        if refusal is not None:
            raise refusal
        address = self.guard.address(request)
        caps = ((self._per_address, address), (self._per_session, visitor_id))
        if any(cap.full(key, now) for cap, key in caps):
            raise Refusal(429, "web.upload_limit")
        for cap, key in caps:
            cap.take(key, now)

    async def may_locate(self, visitor_id: str, given: object) -> tuple[float, float]:
        """The location a visitor shares, if it is one and they may share it now (where
        they may upload a file: after consent, at a step that takes files)."""
        where = location_of(given)
        if where is None:
            raise Refusal(400, "web.bad_location")
        gate = await self.db.run(
            lambda session: records.upload_gate(session=session, visitor_id=visitor_id)
        )
        timeout = self.config.raw.limits.dialogue_timeout_minutes
        if upload_refusal(gate, self.clock(), timeout) is not None:
            raise Refusal(409, "web.location_not_now")
        return where

    async def file(self, request: Request) -> Response:
        """A file a message of the visitor's own chat shows (staff see a ticket's files so)."""
        language = self.guard.language(request)
        try:
            shown = await self._requested(request)
            found = await self._fetched(shown)
        except Refusal as refusal:
            return refuse(refusal, language)
        name, data = found
        return Response(
            data,
            media_type="application/octet-stream",
            headers={
                # Always a download, never rendered here: the bytes are someone's upload.
                "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}",
                "X-Content-Type-Options": "nosniff",
                "Cache-Control": "private, no-store",
            },
        )

    async def thumb(self, request: Request) -> Response:
        """A small JPEG of a photo a message of the visitor's own chat shows, made by us (so
        shown inline); a file that is not a decodable image has none."""
        language = self.guard.language(request)
        try:
            shown = await self._requested(request)
            if shown.kind != "photo":
                raise Refusal(404, "web.no_thumb")
            key = (shown.origin, shown.ref)
            known, made = self.thumbnails.cached(key)
            if known:
                await self._check_kept(shown)
            else:
                made = await self.thumbnails.make(key, (await self._fetched(shown))[1])
        except Refusal as refusal:
            return refuse(refusal, language)
        if made is None:
            return refuse(Refusal(404, "web.no_thumb"), language)
        return Response(
            made,
            media_type="image/jpeg",
            headers={
                "Content-Disposition": "inline",
                "X-Content-Type-Options": "nosniff",
                "Cache-Control": "private, max-age=3600",
            },
        )

    async def _requested(self, request: Request) -> SharedFile:
        """The file the requested message shows, if it is a message of the requester's own
        chat that shows one (within their rate limit)."""
        signed_in = await self.guard.signed_in(request)
        if signed_in is None:
            raise Refusal(401, "web.expired")
        self.guard.limit(request, signed_in.visitor_id)
        chat_id, message_id = signed_in.visitor_id, row_id(request.path_params["message_id"])
        shown = (
            await self.db.run(
                lambda session: records.file_shown(
                    session=session, chat_id=chat_id, message_id=message_id
                )
            )
            if message_id
            else None
        )
        if shown is None:
            raise Refusal(404, "web.no_file")
        return shown

    async def _check_kept(self, shown: SharedFile) -> None:
        """Refuse a cached thumbnail of a web upload erased since (/forget, a purge)."""
        if shown.origin != records.CHANNEL:
            return  # a messenger's file is the platform's: it lives as long as downloads do
        kept = await self.db.run(
            lambda session: records.upload_file(session=session, ref=shown.ref)
        )
        if kept is None:
            raise Refusal(404, "web.no_file")

    async def _fetched(self, shown: SharedFile) -> tuple[str, bytes]:
        """The name and bytes of a shown file, from the channel it came through (a web
        upload from our store)."""
        source = self.file_sources.get(shown.origin)
        found = await source(shown.ref) if source is not None else None
        if found is None:
            raise Refusal(404, "web.no_file")
        return found


def upload_refusal(gate: UploadGate, now: dt.datetime, timeout_minutes: int) -> Refusal | None:
    """Why a visitor may not upload now (no consent; not at a step that takes files, or
    silent so long that the dialogue has ended), or None when they may."""
    if not gate.consented:
        return Refusal(403, "web.upload_consent")
    idle = now - gate.updated_at if gate.updated_at is not None else None
    timeout = dt.timedelta(minutes=timeout_minutes)
    if not steps.takes_files(gate.flow, gate.step) or idle is None or idle > timeout:
        return Refusal(409, "web.upload_not_now")
    return None


def location_of(given: object) -> tuple[float, float] | None:
    """[latitude, longitude] as the page sends it, or None unless both are numbers in range."""
    if not isinstance(given, list) or len(given) != 2:
        return None
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in given):
        return None
    latitude, longitude = given
    # Compared before any conversion: NaN fails every comparison, a huge integer fits none.
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        return None
    return float(latitude), float(longitude)


def _check_declared(request: Request, limit: int, too_big: Refusal) -> None:
    """Refuse a body whose declared length is over the limit, or empty, before reading it."""
    declared = request.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_big
    if declared == "0":
        raise Refusal(400, "web.empty")


async def _file_chunks(request: Request, limit: int, too_big: Refusal) -> AsyncIterator[bytes]:
    """The body as it arrives, refused as soon as it passes the limit (or if empty)."""
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_big
        if chunk:
            yield chunk
    if size == 0:
        raise Refusal(400, "web.empty")
