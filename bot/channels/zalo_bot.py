"""The Zalo Bot API adapter (a bot made in Zalo Bot Creator), on httpx: the API is shaped
like Telegram's but its objects differ, so no Telegram library can drive it.

Quirks it lives with: every answer is `{ok, result, error_code, description}` and only `ok`
counts (a refused token is HTTP 200 with error_code 401; an idle long poll is HTTP 408);
getUpdates gives one update and no offset (the inbox deduplicates on message_id); ids are
strings and dates milliseconds; no buttons, no edits, texts up to 2000 characters.
"""

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import logging
import mimetypes
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from bot.channels.base import (
    Capabilities,
    ChannelUnavailable,
    FileSource,
    PermanentFailure,
    RateLimited,
    RecipientGone,
    TemporaryFailure,
    at_edge,
)
from bot.channels.kit import ChannelKit
from bot.channels.render import split_text
from bot.config import ZaloBotChannel as Section
from bot.domain.messages import UPLOAD_PREFIX, Inbound, InputKind, Media, Rendered
from bot.web import webhook_object

if TYPE_CHECKING:
    from bot.intake import Intake

CHANNEL = "zalo_bot"
WEBHOOK_PATH = "/zalo/bot/webhook"
FILE_PATH = "/zalo/bot/file/{token}"
SECRET_HEADER = "X-Bot-Api-Secret-Token"  # noqa: S105 (a header name)
MAX_TEXT = 2000
MAX_UPDATE_BYTES = 1_000_000
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024
IDLE = 408  # an idle long poll: normal, poll again
REFUSED = 401
QUOTA = 429
FIRST_RETRY_SECONDS = 1.0
MAX_RETRY_SECONDS = 300.0
TEXT_EVENT = "message.text.received"
IMAGE_EVENT = "message.image.received"
STICKER_EVENT = "message.sticker.received"
WITHHELD_EVENT = "message.unsupported.received"
log = logging.getLogger(__name__)


class ZaloError(Exception):
    """The Bot API answered ok:false (code: its error_code, else the HTTP status), or could
    not be reached (code 0)."""

    def __init__(self, code: int, description: str) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description


class ZaloBotApi:
    """Calls `<base>/bot<TOKEN>/<method>` with JSON and reads the envelope."""

    def __init__(self, base_url: str, token: str) -> None:
        self._url = f"{base_url.rstrip('/')}/bot{token}"
        self.client = httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=10.0))

    async def call(self, method: str, *, wait: float = 0, **params: Any) -> Any:
        """One method's result; ZaloError when `ok` is not true (whatever the HTTP status)."""
        try:
            response = await self.client.post(
                f"{self._url}/{method}", json=params, timeout=30.0 + wait
            )
        except httpx.HTTPError as error:
            raise ZaloError(0, type(error).__name__) from error
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise ZaloError(response.status_code, "not a Bot API answer")
        if body.get("ok") is True:
            return body.get("result")
        code = body.get("error_code")
        code = code if type(code) is int else response.status_code
        raise ZaloError(code, str(body.get("description") or ""))


class PhotoLinks:
    """Signed, expiring links to files we hold, for sendPhoto (Zalo fetches photos by URL).

    The link carries the file's origin channel, reference and expiry, signed with HMAC-SHA256
    under a key derived from the bot token: nothing to store, nothing new to configure, and
    no one without the token can make one; a reset token retires every link at once."""

    def __init__(self, token: str, minutes: int, path: str = FILE_PATH) -> None:
        self._key = hmac.new(token.encode(), b"cau-noi zalo photo links", hashlib.sha256).digest()
        self._seconds = minutes * 60
        self._path = path
        self.base_url = ""

    def make(self, origin: str, ref: str) -> str:
        """A link to one file, valid for the configured minutes."""
        payload = json.dumps([origin, ref, int(time.time()) + self._seconds]).encode()
        body = base64.urlsafe_b64encode(payload).decode().rstrip("=")
        return f"{self.base_url}{self._path.format(token=f'{body}.{self._sign(body)}')}"

    def read(self, token: str) -> tuple[str, str] | None:
        """The origin and reference a link names, if its signature holds and it is unexpired."""
        body, _, signature = token.partition(".")
        if not hmac.compare_digest(signature.encode(), self._sign(body).encode()):
            return None
        try:
            origin, ref, expires = json.loads(
                base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            )
        except (ValueError, TypeError):
            return None
        if not isinstance(expires, int) or expires < time.time():
            return None
        return str(origin), str(ref)

    async def serve(self, token: str, sources: Mapping[str, FileSource]) -> Response:
        """The file behind a signed, unexpired link; 404 for anything else."""
        named = self.read(token)
        source = sources.get(named[0]) if named is not None else None
        found = await source(named[1]) if source is not None and named is not None else None
        if found is None:
            return PlainTextResponse("not found", status_code=404)
        kind = mimetypes.guess_type(found[0])[0] or "image/jpeg"
        return Response(found[1], media_type=kind, headers={"Cache-Control": "private"})

    def _sign(self, body: str) -> str:
        return hmac.new(self._key, body.encode(), hashlib.sha256).hexdigest()[:32]


async def fetch(client: httpx.AsyncClient, ref: str, fallback: str) -> tuple[str, bytes] | None:
    """A file someone sent on Zalo (its URL: name and bytes), at most MAX_DOWNLOAD_BYTES; None
    when it cannot be had."""
    if not ref.startswith(("https://", "http://")):
        return None
    try:
        async with client.stream("GET", ref) as response:
            if response.status_code != 200:
                return None
            data = bytearray()
            async for chunk in response.aiter_bytes():
                data += chunk
                if len(data) > MAX_DOWNLOAD_BYTES:
                    return None
    except httpx.HTTPError:
        return None
    return ref.split("?", 1)[0].rsplit("/", 1)[-1] or fallback, bytes(data)


def origin_of(ref: str) -> str:
    """The channel a bare photo reference came through: web uploads say so, Zalo's are the
    URLs it gave; Telegram's file ids are neither."""
    if ref.startswith(UPLOAD_PREFIX):
        return "web"
    return CHANNEL if ref.startswith(("https://", "http://")) else "telegram"


class ZaloBotSender:
    """Delivers rendered messages through sendMessage and sendPhoto."""

    name = CHANNEL
    capabilities = Capabilities(
        buttons=False, edits=False, max_text=MAX_TEXT, media=frozenset({"photo"})
    )

    def __init__(self, api: ZaloBotApi, links: PhotoLinks, section: Section) -> None:
        self._api = api
        self._links = links
        self._section = section

    async def send(self, chat_id: str, message: Rendered) -> str | None:
        """The photos first (the text as the caption of a lone one that it fits), then the
        text in pieces of at most 2000 characters."""
        try:
            return await self._send(chat_id, message)
        except ZaloError as error:
            raise self._failure(error) from error

    async def edit(self, chat_id: str, message_id: str, message: Rendered) -> str | None:
        """Zalo cannot edit; the outbox sends edits as new messages."""
        return await self.send(chat_id, message)

    async def _send(self, chat_id: str, message: Rendered) -> str | None:
        photos = [(origin_of(ref), ref) for ref in message.photos]
        if message.file is not None and message.file.kind == "photo":
            photos.append((message.file.origin, message.file.ref))
        text = message.text
        if message.document is not None:  # Zalo takes no documents: its content as text
            text = f"{text}\n\n{message.document.content}" if text else message.document.content
        sent: str | None = None
        captioned = len(photos) == 1 and len(text) <= MAX_TEXT
        for origin, ref in photos:
            url = ref if origin == CHANNEL else self._links.make(origin, ref)
            params: dict[str, Any] = {"chat_id": chat_id, "photo": url}
            if captioned and text:
                params["caption"] = text
            sent = _message_id(await self._api.call("sendPhoto", **params))
        if captioned:
            return sent
        for piece in split_text(text, MAX_TEXT) if text else []:
            sent = _message_id(await self._api.call("sendMessage", chat_id=chat_id, text=piece))
        return sent

    def _failure(self, error: ZaloError) -> Exception:
        if error.code == QUOTA:
            return RateLimited(self._section.quota_retry_seconds)
        if error.code in self._section.gone_error_codes:
            return RecipientGone(error.description)
        if error.code in (0, REFUSED, IDLE) or error.code >= 500:
            return TemporaryFailure(str(error))
        return PermanentFailure(str(error))


def _message_id(result: Any) -> str | None:
    found = result.get("message_id") if isinstance(result, dict) else None
    return str(found) if found is not None else None


def event_id(update: Mapping[str, Any]) -> str | None:
    """The id the inbox deduplicates an update on: its message's id (updates have none)."""
    message = update.get("message")
    found = message.get("message_id") if isinstance(message, dict) else None
    return str(found) if isinstance(found, str | int) and str(found) else None


def unwrap(body: Mapping[str, Any]) -> Mapping[str, Any]:
    """A webhook body as the update it carries: documented as {ok, result}, seen flat."""
    result = body.get("result")
    return result if isinstance(result, dict) else body


def _photo(message: Mapping[str, Any]) -> str | None:
    """The photo's URL, wherever this message keeps it."""
    for key in ("photo_url", "photo", "url"):
        value = message.get(key)
        if isinstance(value, dict):
            value = value.get("url")
        if isinstance(value, str) and value:
            return value
    return None


class Poller:
    """Long polling: each update is stored before the next poll; a refused token is said
    once (the log, /healthz) and retried ever more slowly, never in a hot loop."""

    def __init__(self, channel: "ZaloBotChannelAdapter", intake: "Intake") -> None:
        self._channel = channel
        self._intake = intake
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start polling in the background."""
        self._task = asyncio.create_task(self._run(), name="zalo-bot-polling")

    async def stop(self) -> None:
        """Stop polling; an update stored is handled, one not yet fetched comes next time."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        pause = FIRST_RETRY_SECONDS
        wait = self._channel.section.poll_seconds
        while True:
            try:
                result = await self._channel.api.call("getUpdates", wait=wait, timeout=wait)
            except ZaloError as error:
                if error.code == IDLE:
                    self._channel.problem = None
                    continue
                self._channel.trouble(error)
                await asyncio.sleep(pause)
                pause = min(pause * 2, MAX_RETRY_SECONDS)
                continue
            pause = FIRST_RETRY_SECONDS
            self._channel.problem = None
            try:
                await self._store(result)
            except Exception:  # the database away: this update is lost to us, polling is not
                log.exception("zalo update not stored")
                await asyncio.sleep(FIRST_RETRY_SECONDS)

    async def _store(self, result: Any) -> None:
        updates = result if isinstance(result, list) else [result]
        received = [(found, u) for u in updates if isinstance(u, dict) and (found := event_id(u))]
        if received:
            await self._intake.receive(CHANNEL, received)


class ZaloBotChannelAdapter:
    """Zalo through the Bot API: long polling, or a webhook on our HTTP port."""

    name = CHANNEL

    def __init__(self, kit: ChannelKit, token: str) -> None:
        self.section = kit.config.raw.channels.zalo_bot
        self.api = ZaloBotApi(kit.settings.zalo_bot_api_base_url, token)
        self.links = PhotoLinks(token, self.section.photo_link_minutes)
        self.sender = ZaloBotSender(self.api, self.links, self.section)
        self.files: FileSource | None = self._download
        self.concurrency = self.section.max_concurrent_updates
        self.problem: str | None = None
        self._sources = kit.files
        self._bot_ids = {token.split(":", 1)[0]}
        self._misconfigured: ChannelUnavailable | None = None
        try:
            self._webhook = self._webhook_of(kit)
        except ChannelUnavailable as error:  # said at start, where the app reports it
            self._webhook, self._misconfigured = None, error
        self._poller: Poller | None = None
        self._intake: Intake | None = None

    def _webhook_of(self, kit: ChannelKit) -> tuple[str, str] | None:
        webhook = kit.settings.webhook()
        mode = self.section.mode
        if mode == "webhook" and webhook is None:
            raise ChannelUnavailable("channels.zalo_bot.mode is webhook: set WEBHOOK_URL too")
        if mode == "polling" or webhook is None:
            return None
        if len(webhook[1]) < 8:
            raise ChannelUnavailable("Zalo wants a WEBHOOK_SECRET of 8 to 256 characters")
        return webhook

    @property
    def capabilities(self) -> Capabilities:
        """No buttons, no edits, 2000 characters, photos."""
        return self.sender.capabilities

    def trouble(self, error: ZaloError) -> None:
        """Note what keeps the channel from working; logged once while it lasts."""
        if error.code == REFUSED:
            problem = "ZALO_BOT_TOKEN was refused by Zalo: check it in Zalo Bot Creator"
        else:
            problem = f"the Zalo Bot API failed: {error}"
        if problem != self.problem:  # said once while it lasts, not on every retry
            level = logging.ERROR if error.code == REFUSED else logging.WARNING
            log.log(level, "zalo bot unavailable", extra={"problem": problem})
        self.problem = problem

    def decode(self, payload: Mapping[str, Any]) -> Inbound | None:
        """The event a stored update carries; None for echoes, bots and other events."""
        message = payload.get("message")
        sender = message.get("from") if isinstance(message, dict) else None
        if not isinstance(message, dict) or not isinstance(sender, dict):
            return None
        user = str(sender.get("id") or "")
        if not user or sender.get("is_bot") is True or user in self._bot_ids:
            return None
        found = message.get("chat")
        chat: Mapping[str, Any] = found if isinstance(found, dict) else {}
        common: dict[str, Any] = {
            "channel": CHANNEL,
            "event_id": str(message.get("message_id")),
            "user_id": user,
            "chat_id": str(chat.get("id") or user),
            "display_name": sender.get("display_name") or None,
            "private_chat": str(chat.get("chat_type") or "PRIVATE").upper() == "PRIVATE",
        }
        event = _translate(str(payload.get("event_name") or ""), message, common)
        return at_edge(event) if event is not None else None

    def routes(self) -> list[BaseRoute]:
        """The photo links Zalo fetches, and the webhook in webhook mode."""
        routes: list[BaseRoute] = [Route(FILE_PATH, self._serve_file, methods=["GET"])]
        if self._webhook is not None:
            routes.append(Route(WEBHOOK_PATH, self._take_webhook, methods=["POST"]))
        return routes

    async def start(self, intake: "Intake", base_url: str) -> None:
        """Learn who the bot is, then take updates by webhook or polling; a refused token
        leaves the channel waiting and retrying, not the app down."""
        if self._misconfigured is not None:
            raise self._misconfigured
        self._intake = intake
        self.links.base_url = base_url.rstrip("/")
        try:
            me = await self.api.call("getMe")
            if isinstance(me, dict) and me.get("id"):
                self._bot_ids.add(str(me["id"]))
            if self._webhook is not None:
                url, secret = self._webhook
                await self.api.call(
                    "setWebhook", url=url.rstrip("/") + WEBHOOK_PATH, secret_token=secret
                )
            else:  # a webhook left from an earlier run would keep getUpdates empty
                await self.api.call("deleteWebhook")
        except ZaloError as error:
            self.trouble(error)
        if self._webhook is None:
            self._poller = Poller(self, intake)
            self._poller.start()

    async def acknowledge(self, event: Inbound) -> None:
        """Nothing to tell Zalo."""

    def start_link(self) -> str | None:
        """Zalo offers no link with a start payload."""
        return None

    async def stop(self) -> None:
        """Stop polling (a webhook simply stops being served)."""
        if self._poller is not None:
            await self._poller.stop()

    async def close(self) -> None:
        """Release the connections."""
        await self.api.client.aclose()

    async def _download(self, ref: str) -> tuple[str, bytes] | None:
        """A photo someone sent on Zalo (its URL), for the desk; None when it cannot be had."""
        return await fetch(self.api.client, ref, "photo.jpg")

    async def _serve_file(self, request: Request) -> Response:
        """A file behind a signed, unexpired photo link; 404 for anything else."""
        return await self.links.serve(request.path_params["token"], self._sources)

    async def _take_webhook(self, request: Request) -> Response:
        """Store a webhook update before answering 200; refuse what is not one."""
        assert self._webhook is not None
        if self._intake is None:
            return PlainTextResponse("unauthorised", status_code=401)
        data = await webhook_object(
            request, header=SECRET_HEADER, secret=self._webhook[1], limit=MAX_UPDATE_BYTES
        )
        if isinstance(data, Response):
            return data
        update = unwrap(data)
        found = event_id(update)
        if found is None:
            return PlainTextResponse("not an update", status_code=400)
        await self._intake.receive(CHANNEL, [(found, dict(update))])
        return JSONResponse({"ok": True})


def _translate(name: str, message: Mapping[str, Any], common: dict[str, Any]) -> Inbound | None:
    """A message as it came (at_edge cleans it and reads commands)."""
    if name == TEXT_EVENT or (not name and isinstance(message.get("text"), str)):
        return Inbound(kind=InputKind.TEXT, text=str(message.get("text") or ""), **common)
    if name == IMAGE_EVENT:
        url = _photo(message)
        caption = message.get("caption") if isinstance(message.get("caption"), str) else None
        if url is None:
            return Inbound(kind=InputKind.UNSUPPORTED, notice="zalo_bot.withheld", **common)
        media = Media(url, "photo", None, caption)
        return Inbound(kind=InputKind.MEDIA, media=media, text=caption or "", **common)
    if name == STICKER_EVENT:
        return Inbound(kind=InputKind.UNSUPPORTED, notice="zalo_bot.sticker", **common)
    if name == WITHHELD_EVENT:
        return Inbound(kind=InputKind.UNSUPPORTED, notice="zalo_bot.withheld", **common)
    return None


def build(kit: ChannelKit) -> ZaloBotChannelAdapter | None:
    """The Zalo Bot channel, when a token is set and its section does not turn it off."""
    token = kit.settings.zalo_bot_token
    if (
        token is None
        or not token.get_secret_value()
        or not kit.config.raw.channels.zalo_bot.enabled
    ):
        return None
    return ZaloBotChannelAdapter(kit, token.get_secret_value())
