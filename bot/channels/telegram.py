"""The Telegram adapter: the only code that imports python-telegram-bot."""

import asyncio
import contextlib
import datetime as dt
import logging
import os
import ssl
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar
from zoneinfo import ZoneInfo

# Opt in to PTB's announced behaviour (durations as timedelta); without it PTB itself warns
# on every RetryAfter it builds. Set before any Bot API call; read by PTB at call time.
os.environ.setdefault("PTB_TIMEDELTA", "1")

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from telegram.error import (
    BadRequest,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import AIORateLimiter, Defaults, ExtBot
from telegram.request import BaseRequest, HTTPXRequest, RequestData

from bot.channels.base import (
    CannotEdit,
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
from bot.domain.i18n import LANGUAGES, text
from bot.domain.messages import (
    UPLOAD_PREFIX,
    Inbound,
    InputKind,
    Media,
    Rendered,
    SharedFile,
)
from bot.web import webhook_object
from storage.inbox import record_failed_inbound
from telegram import (
    Bot,
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    InputMediaPhoto,
    Message,
    Update,
)

if TYPE_CHECKING:
    from telegram._utils.types import ODVInput

    from bot.intake import Intake

CHANNEL = "telegram"
ALLOWED_UPDATES = ["message", "callback_query"]
WEBHOOK_PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)
MAX_UPDATE_BYTES = 1_000_000
MAX_UPDATE_ID = 2**63 - 1
MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_BYTES = 64
MAX_ALBUM = 10
POLL_SECONDS = 10
FIRST_RETRY_SECONDS = 1.0
MAX_RETRY_SECONDS = 30.0
T = TypeVar("T")
log = logging.getLogger(__name__)


class ConnectionLanes(BaseRequest):
    """Bot API requests over many single-connection lanes; each request takes a free lane.

    httpx's pool rescans all its connections and waiting requests on every event, so one
    big pool costs CPU in proportion to its size. A lane holds one connection and one
    request at a time: nothing ever waits inside httpx, and a free lane is found in O(1).
    """

    def __init__(self, lanes: int, *, pool_timeout: float = 10.0) -> None:
        # One certificate store for all lanes: httpx would otherwise load one per client.
        tls = ssl.create_default_context()
        self._lanes = [
            HTTPXRequest(connection_pool_size=1, httpx_kwargs={"verify": tls})
            for _ in range(lanes)
        ]
        self._pool_timeout = pool_timeout
        # Last in, first out: the busiest lanes stay warm; the others' connections expire.
        self._free: asyncio.LifoQueue[HTTPXRequest] = asyncio.LifoQueue()
        for lane in self._lanes:
            self._free.put_nowait(lane)

    @property
    def read_timeout(self) -> float | None:
        """The lanes' default read timeout."""
        return self._lanes[0].read_timeout

    async def initialize(self) -> None:
        """Open every lane's client."""
        await asyncio.gather(*(lane.initialize() for lane in self._lanes))

    async def shutdown(self) -> None:
        """Close every lane's client."""
        await asyncio.gather(*(lane.shutdown() for lane in self._lanes))

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: "ODVInput[float]" = BaseRequest.DEFAULT_NONE,
        write_timeout: "ODVInput[float]" = BaseRequest.DEFAULT_NONE,
        connect_timeout: "ODVInput[float]" = BaseRequest.DEFAULT_NONE,
        pool_timeout: "ODVInput[float]" = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Send one request on a free lane, waiting for one at most the pool timeout."""
        wait = pool_timeout if isinstance(pool_timeout, float | int) else self._pool_timeout
        try:
            # Not asyncio.wait_for: on Python 3.11 it can swallow a cancellation that arrives
            # as a free lane does (the poller then never stopped).
            async with asyncio.timeout(wait):
                lane = await self._free.get()
        except TimeoutError as error:
            raise TimedOut("every connection to the Bot API is busy") from error
        try:
            return await lane.do_request(
                url,
                method,
                request_data,
                read_timeout=read_timeout,
                write_timeout=write_timeout,
                connect_timeout=connect_timeout,
            )
        finally:
            self._free.put_nowait(lane)


class TelegramSender:
    """Delivers rendered messages through the Bot API."""

    name = CHANNEL
    capabilities = Capabilities(buttons=True, edits=True, max_text=MAX_TEXT)

    def __init__(self, bot: Bot, read_upload: FileSource) -> None:
        self._bot = bot
        self._read_upload = read_upload
        # Telegram's file id for each web upload sent once, so it is uploaded only once.
        self._uploaded: dict[str, str] = {}

    async def download(self, file_id: str) -> tuple[str, bytes] | None:
        """A file sent through Telegram: its name and bytes; None when Telegram cannot give it
        (gone, or over the Bot API's 20 MB download limit)."""
        try:
            found = await self._bot.get_file(file_id)
            data = await found.download_as_bytearray()
        except TelegramError:
            return None
        return (found.file_path or file_id).rsplit("/", 1)[-1], bytes(data)

    async def send(self, chat_id: str, message: Rendered) -> str | None:
        """Send text (split when too long) with the choices as buttons under the last piece;
        a document goes last, with the text as its caption when it fits."""
        try:
            sent = await self._send(chat_id, message)
        except RetryAfter as error:
            raise RateLimited(_seconds(error)) from error
        except Forbidden as error:
            raise RecipientGone(error.message) from error
        except BadRequest as error:
            if "chat not found" in error.message.lower():
                raise RecipientGone(error.message) from error
            raise PermanentFailure(error.message) from error
        except (NetworkError, TelegramError) as error:
            raise TemporaryFailure(str(error)) from error
        return str(sent.message_id) if sent else None

    async def edit(self, chat_id: str, message_id: str, message: Rendered) -> str | None:
        """Replace an earlier message's text and buttons; CannotEdit when it is gone."""
        try:
            await self._bot.edit_message_text(
                chat_id=chat_id,
                message_id=int(message_id),
                text=message.text[:MAX_TEXT],
                reply_markup=_keyboard(message),
            )
        except RetryAfter as error:
            raise RateLimited(_seconds(error)) from error
        except Forbidden as error:
            raise RecipientGone(error.message) from error
        except BadRequest as error:
            if "not modified" in error.message.lower():
                return message_id
            raise CannotEdit(error.message) from error
        except (NetworkError, TelegramError) as error:
            raise TemporaryFailure(str(error)) from error
        return message_id

    async def _send(self, chat_id: str, message: Rendered) -> Message | None:
        keyboard = _keyboard(message)
        if message.file is not None:
            return await self._send_file(chat_id, message.file, message, keyboard)
        found = [(ref, await self._file_input(ref)) for ref in message.photos[:MAX_ALBUM]]
        photos = [(ref, photo) for ref, photo in found if photo is not None]
        if photos:
            return await self._send_photos(chat_id, photos, message, keyboard)
        document = message.document
        caption_fits = document is not None and len(message.text) <= MAX_CAPTION
        pieces = [] if caption_fits else split_text(message.text, self.capabilities.max_text)
        sent: Message | None = None
        for index, piece in enumerate(pieces):
            last = index == len(pieces) - 1 and document is None
            sent = await self._bot.send_message(
                chat_id=chat_id, text=piece, reply_markup=keyboard if last else None
            )
        if document is not None:
            sent = await self._bot.send_document(
                chat_id=chat_id,
                document=InputFile(document.content.encode(), filename=document.name),
                caption=message.text if caption_fits else None,
                reply_markup=keyboard,
            )
        return sent

    async def _file_input(self, ref: str) -> str | InputFile | None:
        """A file to send: a Telegram file id, or a web chat upload's bytes (its Telegram file
        id once sent; None once the sender's data was erased)."""
        if not ref.startswith(UPLOAD_PREFIX):
            return ref
        if ref in self._uploaded:
            return self._uploaded[ref]
        upload = await self._read_upload(ref)
        return InputFile(upload[1], filename=upload[0]) if upload else None

    def _remember(self, refs: Sequence[str], sent: Sequence[Message]) -> None:
        """Keep Telegram's file id of each photo uploaded from the web chat."""
        for ref, message in zip(refs, sent, strict=False):
            if ref.startswith(UPLOAD_PREFIX) and message.photo:
                self._uploaded[ref] = message.photo[-1].file_id

    async def _send_file(
        self,
        chat_id: str,
        shared: SharedFile,
        message: Rendered,
        keyboard: InlineKeyboardMarkup | None,
    ) -> Message:
        """A file with the text as its caption: by its file id when it came through Telegram,
        else uploaded from the web chat's store."""
        caption = message.text[:MAX_CAPTION]
        bot = self._bot
        sendable = await self._file_input(shared.ref)
        if sendable is None:  # erased since (the sender asked to forget their data)
            return await bot.send_message(chat_id, caption, reply_markup=keyboard)
        if shared.kind == "photo":
            sent = await bot.send_photo(chat_id, sendable, caption, reply_markup=keyboard)
            self._remember([shared.ref], [sent])
            return sent
        if shared.kind == "voice":
            return await bot.send_voice(chat_id, sendable, caption=caption, reply_markup=keyboard)
        if shared.kind == "audio":
            return await bot.send_audio(chat_id, sendable, caption=caption, reply_markup=keyboard)
        if shared.kind == "video":
            return await bot.send_video(chat_id, sendable, caption=caption, reply_markup=keyboard)
        if shared.kind == "video_note":  # takes no caption
            await bot.send_message(chat_id, caption)
            return await bot.send_video_note(chat_id, sendable, reply_markup=keyboard)
        return await bot.send_document(chat_id, sendable, caption, reply_markup=keyboard)

    async def _send_photos(
        self,
        chat_id: str,
        photos: list[tuple[str, str | InputFile]],
        message: Rendered,
        keyboard: InlineKeyboardMarkup | None,
    ) -> Message:
        """One photo with the text as its caption, or an album followed by the text."""
        refs = [ref for ref, _ in photos]
        if len(photos) == 1 and len(message.text) <= MAX_CAPTION:
            sent = await self._bot.send_photo(
                chat_id=chat_id, photo=photos[0][1], caption=message.text, reply_markup=keyboard
            )
            self._remember(refs, [sent])
            return sent
        if len(photos) == 1:
            self._remember(refs, [await self._bot.send_photo(chat_id, photos[0][1])])
        else:
            album = [InputMediaPhoto(photo) for _, photo in photos]
            self._remember(refs, await self._bot.send_media_group(chat_id, album))
        sent_text: Message | None = None
        pieces = split_text(message.text, self.capabilities.max_text)
        for index, piece in enumerate(pieces):
            last = index == len(pieces) - 1
            sent_text = await self._bot.send_message(
                chat_id=chat_id, text=piece, reply_markup=keyboard if last else None
            )
        assert sent_text is not None
        return sent_text


def _seconds(error: RetryAfter) -> float:
    wait = error.retry_after
    return wait.total_seconds() if isinstance(wait, dt.timedelta) else float(wait)


def _keyboard(message: Rendered) -> InlineKeyboardMarkup | None:
    if not message.choices:
        return None
    rows = [
        [InlineKeyboardButton(label, callback_data=choice_id) for choice_id, label in row]
        for row in message.choices
    ]
    return InlineKeyboardMarkup(rows)


def _media(message: Message) -> Media | None:
    caption = message.caption
    if message.photo:
        largest = message.photo[-1]
        return Media(largest.file_id, "photo", largest.file_size, caption)
    for kind in ("document", "voice", "audio", "video", "video_note"):
        item = getattr(message, kind)
        if item is not None:
            return Media(item.file_id, kind, item.file_size, caption)
    return None


def _from_message(message: Message, common: dict[str, Any]) -> Inbound:
    """A message as it came (at_edge cleans it and reads commands)."""
    if message.text is not None:
        return Inbound(kind=InputKind.TEXT, text=message.text, **common)
    media = _media(message)
    if media is not None:
        return Inbound(kind=InputKind.MEDIA, media=media, text=media.caption or "", **common)
    if message.location is not None:
        location = (message.location.latitude, message.location.longitude)
        return Inbound(kind=InputKind.LOCATION, location=location, **common)
    return Inbound(kind=InputKind.UNSUPPORTED, **common)


def to_inbound(update: Update) -> Inbound | None:
    """Translate an update into a neutral event, cleaned at the edge; None for updates that
    carry nothing for us."""
    event = _translate(update)
    return at_edge(event) if event is not None else None


def _translate(update: Update) -> Inbound | None:
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None or user.is_bot:
        return None
    common: dict[str, Any] = {
        "channel": CHANNEL,
        "event_id": str(update.update_id),
        "user_id": str(user.id),
        "chat_id": str(chat.id),
        "language_hint": user.language_code,
        "display_name": user.full_name,
        "private_chat": chat.type == chat.PRIVATE,
    }
    if update.callback_query is not None:
        data = update.callback_query.data or ""
        pressed = data[:MAX_CALLBACK_BYTES]
        receipt = update.callback_query.id
        return Inbound(kind=InputKind.CHOICE, choice=pressed, receipt=receipt, **common)
    if update.message is not None:
        reply_to = update.message.reply_to_message
        common["reply_to"] = str(reply_to.message_id) if reply_to else None
        return _from_message(update.message, common)
    return None


class Poller:
    """Long polling that stores each batch of updates in one transaction.

    The offset that confirms a batch to Telegram is sent only with the next getUpdates call,
    after the batch is stored: so nothing Telegram considers delivered exists only in memory.
    """

    def __init__(self, bot: Bot, intake: "Intake") -> None:
        self._bot = bot
        self._intake = intake
        self._offset: int | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def start(self) -> None:
        """Start polling in the background."""
        self._task = asyncio.create_task(self._run(), name="telegram-polling")

    async def stop(self) -> None:
        """Stop polling. A batch stored but not yet confirmed comes again after a restart,
        and is stored and handled once."""
        if self._task is None:
            return
        self._stopping = True  # in case a library swallows the cancellation
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def _run(self) -> None:
        await self._retrying(self._bot.delete_webhook)
        while not self._stopping:
            updates = await self._retrying(self._fetch)
            if updates:
                await self._intake.receive(
                    CHANNEL, [(str(u.update_id), u.to_dict()) for u in updates]
                )
                self._offset = updates[-1].update_id + 1

    async def _fetch(self) -> tuple[Update, ...]:
        return await self._bot.get_updates(
            offset=self._offset, timeout=POLL_SECONDS, allowed_updates=ALLOWED_UPDATES
        )

    async def _retrying(self, call: Callable[[], Awaitable[T]]) -> T:
        """Call until it succeeds: after a flood wait as long as asked, after other errors
        with a growing pause (Telegram unreachable, token revoked, another instance polling)."""
        pause = FIRST_RETRY_SECONDS
        while True:
            try:
                return await call()
            except RetryAfter as error:
                await asyncio.sleep(_seconds(error))
            except TimedOut:
                continue  # a long poll the network cut short: simply poll again
            except TelegramError as error:
                log.warning("polling failed", extra={"error": str(error), "retry_in": pause})
                await asyncio.sleep(pause)
                pause = min(pause * 2, MAX_RETRY_SECONDS)


def _read(updates: Sequence[Update]) -> list[Inbound | None] | None:
    """The events PTB's parsed updates carry, so the intake need not parse them again; None
    if one cannot be read (the intake then reads each stored payload and sets aside what fails)."""
    try:
        return [to_inbound(update) for update in updates]
    except Exception:  # a translation bug must not stop polling
        log.exception("update unreadable")
        return None


class TelegramChannel:
    """Telegram through the Bot API: long polling, or a webhook on our HTTP port."""

    name = CHANNEL

    def __init__(self, kit: ChannelKit, token: str) -> None:
        settings, section = kit.settings, kit.config.raw.channels.telegram
        self.bot = ExtBot(
            token,
            base_url=settings.telegram_api_base_url,
            base_file_url=settings.telegram_api_base_url.replace("/bot", "/file/bot"),
            request=ConnectionLanes(section.connections),
            defaults=Defaults(tzinfo=ZoneInfo(kit.config.raw.organisation.timezone)),
            rate_limiter=AIORateLimiter(
                overall_max_rate=section.rate_limit_per_second, max_retries=0
            ),
        )
        self.sender = TelegramSender(self.bot, kit.uploads.source())
        self.files: FileSource | None = self.sender.download
        self.concurrency = section.max_concurrent_updates
        self._webhook = settings.webhook()
        self._commands = kit.commands
        self._db = kit.db
        self._poller: Poller | None = None
        self._intake: Intake | None = None

    @property
    def capabilities(self) -> Capabilities:
        """What Telegram can show."""
        return self.sender.capabilities

    def decode(self, payload: Mapping[str, Any]) -> Inbound | None:
        """The event a stored update carries, or None for updates that carry nothing for us."""
        return to_inbound(Update.de_json(dict(payload), self.bot))

    def routes(self) -> list[BaseRoute]:
        """The webhook route, in webhook mode."""
        if self._webhook is None:
            return []
        return [Route(WEBHOOK_PATH, self._take_webhook, methods=["POST"])]

    async def start(self, intake: "Intake", base_url: str) -> None:
        """Connect, publish the command menu, then take updates by webhook or polling."""
        self._intake = intake
        try:
            await self.bot.initialize()
        except InvalidToken as error:
            message = "TELEGRAM_BOT_TOKEN was refused by Telegram: check the token with @BotFather"
            raise ChannelUnavailable(message) from error
        except TelegramError as error:
            raise ChannelUnavailable(f"could not reach the Telegram Bot API: {error}") from error
        await self._set_commands()
        if self._webhook is not None:
            url, secret = self._webhook
            await self.bot.set_webhook(
                url=url.rstrip("/") + WEBHOOK_PATH,
                secret_token=secret,
                allowed_updates=ALLOWED_UPDATES,
            )
        else:
            self._poller = Poller(self.bot, intake)
            self._poller.start()

    async def acknowledge(self, event: Inbound) -> None:
        """Stop a pressed button's spinner."""
        if event.receipt:
            with contextlib.suppress(TelegramError):
                await self.bot.answer_callback_query(event.receipt)

    def start_link(self) -> str | None:
        """t.me's deep link to the bot."""
        return f"https://t.me/{self.bot.username}?start={{}}"

    async def stop(self) -> None:
        """Stop polling (a webhook simply stops being served)."""
        if self._poller is not None:
            await self._poller.stop()

    async def close(self) -> None:
        """Release the Bot API connections."""
        with contextlib.suppress(TelegramError, RuntimeError):
            await self.bot.shutdown()

    async def _set_commands(self) -> None:
        """Publish the command menu; cosmetic, so a failure is logged and ignored."""
        try:
            for language in LANGUAGES:
                commands = [BotCommand(c, text(f"commands.{c}", language)) for c in self._commands]
                await self.bot.set_my_commands(
                    commands, language_code=None if language == "vi" else language
                )
        except TelegramError as error:
            log.warning("could not set the command menu", extra={"error": str(error)})

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
        if not _is_update_id(data.get("update_id")):
            return PlainTextResponse("not an update", status_code=400)
        event_id = str(data["update_id"])
        try:
            Update.de_json(data, self.bot)
        except Exception as error:  # PTB's readers raise anything on a malformed update
            reason = f"{type(error).__name__}: {error}"[:500]
            await self._db.run(
                lambda session: record_failed_inbound(
                    session=session, channel=CHANNEL, event_id=event_id, payload=data, error=reason
                )
            )
            log.warning("webhook update unreadable", extra={"update_id": event_id})
            return PlainTextResponse("not an update", status_code=400)
        await self._intake.receive(CHANNEL, [(event_id, data)])
        return PlainTextResponse("ok")


def _is_update_id(value: object) -> bool:
    return type(value) is int and 0 <= value <= MAX_UPDATE_ID


def build(kit: ChannelKit) -> TelegramChannel | None:
    """Telegram, when a bot token is set."""
    token = kit.settings.telegram_bot_token
    if token is None or not kit.settings.telegram_enabled:
        return None
    return TelegramChannel(kit, token.get_secret_value())
