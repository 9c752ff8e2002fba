"""The Telegram adapter: the only code that knows python-telegram-bot's types."""

import asyncio
import contextlib
import datetime as dt
import logging
import os
import ssl
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

# Opt in to PTB's announced behaviour (durations as timedelta); without it PTB itself warns
# on every RetryAfter it builds. Set before any Bot API call; read by PTB at call time.
os.environ.setdefault("PTB_TIMEDELTA", "1")

from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    InputMediaPhoto,
    Message,
    Update,
)
from telegram.error import (
    BadRequest,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import BaseUpdateProcessor
from telegram.request import BaseRequest, HTTPXRequest, RequestData

from bot.channels.base import (
    CannotEdit,
    Capabilities,
    FileSource,
    PermanentFailure,
    RateLimited,
    RecipientGone,
    TemporaryFailure,
    at_edge,
)
from bot.channels.render import split_text
from bot.domain.messages import (
    UPLOAD_PREFIX,
    Inbound,
    InputKind,
    Media,
    Rendered,
    SharedFile,
)

if TYPE_CHECKING:
    from telegram._utils.types import ODVInput

CHANNEL = "telegram"
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
        return Inbound(kind=InputKind.CHOICE, choice=data[:MAX_CALLBACK_BYTES], **common)
    if update.message is not None:
        reply_to = update.message.reply_to_message
        common["reply_to"] = str(reply_to.message_id) if reply_to else None
        return _from_message(update.message, common)
    return None


def chat_key(update: object) -> int | None:
    """The chat whose updates must be handled one after another."""
    if isinstance(update, Update):
        if update.effective_chat is not None:
            return update.effective_chat.id
        if update.effective_user is not None:
            return update.effective_user.id
    return None


Events = list[tuple[str, dict[str, Any]]]


class DurableUpdateQueue(asyncio.Queue[object]):
    """PTB's update queue, but an update is stored in the inbox before it is queued.

    The poller stores each batch before its next getUpdates call confirms it to Telegram,
    and our webhook route awaits put() before it answers 200: so nothing Telegram considers
    delivered exists only in memory. A redelivered update is stored once and queued once.
    """

    def __init__(self, record: Callable[[Events], Awaitable[set[str]]]) -> None:
        super().__init__()
        self._record = record

    async def put(self, item: object) -> None:
        """Store an update, then queue it unless it was stored before."""
        if isinstance(item, Update):
            await self.put_batch([item])
        else:
            await super().put(item)

    async def put_batch(self, updates: Sequence[Update]) -> None:
        """Store updates in one transaction, then queue, in order, those that are new."""
        new = await self._record([(str(u.update_id), u.to_dict()) for u in updates])
        for update in updates:
            key = str(update.update_id)
            if key in new:
                new.discard(key)
                self.put_nowait(update)

    def replay(self, update: Update) -> None:
        """Queue an update that is already stored (recovery after a restart)."""
        self.put_nowait(update)


class Poller:
    """Long polling that stores each batch of updates in one transaction.

    PTB's Updater awaits one put() per update, so each update would cost a transaction of
    its own. Here a batch is stored at once, and the offset that confirms it to Telegram is
    sent only with the next getUpdates call, after the batch is stored.
    """

    def __init__(self, bot: Bot, queue: DurableUpdateQueue, allowed_updates: list[str]) -> None:
        self._bot = bot
        self._queue = queue
        self._allowed_updates = allowed_updates
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
                await self._queue.put_batch(updates)
                self._offset = updates[-1].update_id + 1

    async def _fetch(self) -> tuple[Update, ...]:
        return await self._bot.get_updates(
            offset=self._offset, timeout=POLL_SECONDS, allowed_updates=self._allowed_updates
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


class PerChatUpdateProcessor(BaseUpdateProcessor):
    """Handles each chat's updates in arrival order, different chats concurrently."""

    def __init__(self, max_concurrent_updates: int) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[int, asyncio.Lock] = {}
        self._holders: dict[int, int] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Run the update's coroutine once earlier updates of the same chat are done."""
        key = chat_key(update)
        if key is None:
            await coroutine
            return
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._holders[key] = self._holders.get(key, 0) + 1
        try:
            async with lock:
                await coroutine
        finally:
            self._holders[key] -= 1
            if not self._holders[key]:
                del self._holders[key], self._locks[key]

    async def initialize(self) -> None:
        """Nothing to prepare."""

    async def shutdown(self) -> None:
        """Nothing to release."""
