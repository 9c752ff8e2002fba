"""The Zalo Official Account adapter (the Union's verified OA, API v3), on httpx.
What the webhook carries (signature, ids, translation) is in bot/channels/zalo_oa_events.py.

Quirks it lives with: webhook events are signed with a plain SHA-256 over the app id, the
raw body, the event's timestamp and the OA secret key (`X-ZEvent-Signature: mac=<hex>`);
ids are strings past 2^53, so numbers in an event are kept as text; application errors come
as HTTP 200 with `error != 0` (-216 a stale access token: refreshed and tried once more;
-32 too fast; -230 the person's last message is over 7 days old: the reply window closed).
Choices go as a template's `oa.query.show` buttons, whose payload comes back as the
person's own message; more choices than buttons, a numbered menu.
"""

import datetime as dt
import hmac
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from bot.channels.base import (
    Capabilities,
    FileSource,
    OutsideWindow,
    PermanentFailure,
    RateLimited,
    RecipientGone,
    TemporaryFailure,
    at_edge,
)
from bot.channels.kit import ChannelKit
from bot.channels.render import split_text
from bot.channels.zalo_bot import CHANNEL as ZALO_BOT
from bot.channels.zalo_bot import PhotoLinks, fetch, origin_of
from bot.channels.zalo_oa_auth import build_tokens, oa_credentials
from bot.channels.zalo_oa_events import (
    CHOICE_PREFIX,
    FOLLOW,
    TAKEN,
    UNFOLLOW,
    event_id,
    person_of,
    pressed,
    signature,
    translate,
)
from bot.config import ZaloOaChannel as Section
from bot.domain.messages import Inbound, InputKind, Rendered
from bot.web import json_object, read_at_most
from storage.db import Session
from storage.dialogues import last_activity
from storage.outbox import drop_unreachable, reachable_again

if TYPE_CHECKING:
    from bot.intake import Intake

CHANNEL = "zalo_oa"
WEBHOOK_PATH = "/zalo/oa/webhook"
FILE_PATH = "/zalo/oa/file/{token}"
SEND_PATH = "/v3.0/oa/message/cs"
SIGNATURE_HEADER = "X-ZEvent-Signature"
MAX_TEXT = 2000
MAX_TITLE = 100  # a button's title
MAX_PAYLOAD = 1000  # what a button sends back
MAX_EVENT_BYTES = 1_000_000
INVALID_TOKEN = -216
TOO_FAST = -32
OUTSIDE_WINDOW = -230
log = logging.getLogger(__name__)


class AccessTokens(Protocol):
    """The OA's access tokens (bot/channels/zalo_oa_auth.py keeps them fresh)."""

    async def start(self) -> None:
        """Load (or seed) the stored tokens, refreshing them if due."""
        ...

    async def access_token(self) -> str:
        """A token to call the OA API with."""
        ...

    async def rejected(self, token: str) -> str:
        """Zalo refused this token (-216): a new one."""
        ...

    def problem(self) -> str | None:
        """What keeps the tokens from working, for /healthz; None when all is well."""
        ...


class OaError(Exception):
    """The OA API answered `error != 0` (code: its error, else the HTTP status), or could
    not be reached (code 0)."""

    def __init__(self, code: int, description: str) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code


class ZaloOaApi:
    """Sends consultation messages with the header `access_token`, refreshing once."""

    def __init__(self, base_url: str, tokens: AccessTokens, client: httpx.AsyncClient) -> None:
        self._url = f"{base_url.rstrip('/')}{SEND_PATH}"
        self._tokens = tokens
        self.client = client

    async def send(self, user_id: str, message: dict[str, Any]) -> str | None:
        """Send one message; Zalo's id for it. A refused token is given up and the call
        made once more with a fresh one."""
        token = await self._tokens.access_token()
        try:
            return await self._post(token, user_id, message)
        except OaError as error:
            if error.code != INVALID_TOKEN:
                raise
        return await self._post(await self._tokens.rejected(token), user_id, message)

    async def _post(self, token: str, user_id: str, message: dict[str, Any]) -> str | None:
        body = {"recipient": {"user_id": user_id}, "message": message}
        try:
            response = await self.client.post(
                self._url, json=body, headers={"access_token": token}
            )
        except httpx.HTTPError as error:
            raise OaError(0, type(error).__name__) from error
        answer = json_object(response.content)
        if answer is None:
            raise OaError(response.status_code, "not an OA API answer")
        code = answer.get("error")
        if code == 0 and response.status_code == 200:
            data = answer.get("data")
            found = data.get("message_id") if isinstance(data, dict) else None
            return str(found) if found is not None else None
        code = code if type(code) is int and code else response.status_code
        raise OaError(code, str(answer.get("message") or ""))


class ZaloOaSender:
    """Delivers rendered messages as consultation messages: photos as image templates,
    choices as buttons on the last piece of text."""

    name = CHANNEL

    def __init__(
        self,
        api: ZaloOaApi,
        links: PhotoLinks,
        section: Section,
        heard: Callable[[str], Awaitable[dt.datetime | None]],
    ) -> None:
        self._api = api
        self._links = links
        self._section = section
        self._heard = heard
        self.capabilities = Capabilities(
            buttons=section.max_buttons > 0,
            edits=False,
            max_text=MAX_TEXT,
            media=frozenset({"photo"}),
            reply_window=dt.timedelta(days=section.reply_window_days),
            max_buttons=section.max_buttons or None,
        )

    async def send(self, chat_id: str, message: Rendered) -> str | None:
        """The photos first (the text with a lone one that it fits), then the text in
        pieces of at most 2000 characters, the buttons on the last."""
        try:
            return await self._send(chat_id, message)
        except OaError as error:
            raise await self._failure(chat_id, error) from error

    async def edit(self, chat_id: str, message_id: str, message: Rendered) -> str | None:
        """The OA cannot edit; the outbox sends edits as new messages."""
        return await self.send(chat_id, message)

    async def _send(self, chat_id: str, message: Rendered) -> str | None:
        photos = [(origin_of(ref), ref) for ref in message.photos]
        if message.file is not None and message.file.kind == "photo":
            photos.append((message.file.origin, message.file.ref))
        text = message.text
        if message.document is not None:  # the OA takes no documents here: its content
            text = f"{text}\n\n{message.document.content}" if text else message.document.content
        buttons = self._buttons(message)
        captioned = len(photos) == 1 and len(text) <= MAX_TEXT and not buttons
        sent: str | None = None
        for origin, ref in photos:
            url = ref if origin == ZALO_BOT else self._links.make(origin, ref)
            shown: dict[str, Any] = {"attachment": _image(url)}
            if captioned and text:
                shown["text"] = text
            sent = await self._api.send(chat_id, shown)
        if captioned:
            return sent
        pieces = split_text(text, MAX_TEXT) if text else []
        for index, piece in enumerate(pieces):
            last = index == len(pieces) - 1
            body: dict[str, Any] = {"text": piece}
            if last and buttons:
                body["attachment"] = {"type": "template", "payload": {"buttons": buttons}}
            sent = await self._api.send(chat_id, body)
        return sent

    def _buttons(self, message: Rendered) -> list[dict[str, str]]:
        options = [choice for row in message.choices for choice in row]
        return [
            {
                "title": label[:MAX_TITLE],
                "type": self._section.button_type,
                "payload": f"{CHOICE_PREFIX}{choice_id}"[:MAX_PAYLOAD],
            }
            for choice_id, label in options
        ]

    async def _failure(self, chat_id: str, error: OaError) -> Exception:
        if error.code == OUTSIDE_WINDOW:
            heard = await self._heard(chat_id)
            window = dt.timedelta(days=self._section.reply_window_days)
            return OutsideWindow(heard + window if heard is not None else None)
        if error.code == TOO_FAST:
            return RateLimited(self._section.rate_retry_seconds)
        if error.code in self._section.gone_error_codes:
            return RecipientGone(str(error))
        if error.code in (0, INVALID_TOKEN) or error.code >= 500:
            return TemporaryFailure(str(error))
        return PermanentFailure(str(error))


def _image(url: str) -> dict[str, Any]:
    """An image message's attachment (the media template, by URL)."""
    element = {"media_type": "image", "url": url}
    return {"type": "template", "payload": {"template_type": "media", "elements": [element]}}


class ZaloOaChannelAdapter:
    """The Union's Zalo Official Account: events by webhook, answers by the OA API."""

    name = CHANNEL

    def __init__(
        self,
        kit: ChannelKit,
        app_id: str,
        secret: str,
        tokens: Callable[[httpx.AsyncClient], AccessTokens],
    ) -> None:
        self.section = kit.config.raw.channels.zalo_oa
        self._db = kit.db
        self._app_id = app_id
        self._secret = secret
        client = httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=10.0))
        self._tokens = tokens(client)
        self.api = ZaloOaApi(kit.settings.zalo_oa_api_base_url, self._tokens, client)
        self.links = PhotoLinks(secret, self.section.photo_link_minutes, FILE_PATH)
        self.sender = ZaloOaSender(self.api, self.links, self.section, self._heard)
        self.files: FileSource | None = self._download
        self.concurrency = self.section.max_concurrent_updates
        self._sources = kit.files
        self._intake: Intake | None = None

    @property
    def capabilities(self) -> Capabilities:
        """Buttons (up to the section's number), no edits, 2000 characters, photos, and
        the 7-day reply window."""
        return self.sender.capabilities

    @property
    def problem(self) -> str | None:
        """What keeps the OA from working (its tokens), for /healthz."""
        return self._tokens.problem()

    def decode(self, payload: Mapping[str, Any]) -> Inbound | None:
        """The event a stored webhook event carries; None for an unfollow and the rest."""
        name = str(payload.get("event_name") or "")
        person = person_of(payload)
        found = event_id(payload)
        if person is None or found is None or name == UNFOLLOW:
            return None
        common: dict[str, Any] = {
            "channel": CHANNEL,
            "event_id": found,
            "user_id": person,
            "chat_id": person,
        }
        if name == FOLLOW:  # greeted as if they had typed /start
            return at_edge(Inbound(kind=InputKind.COMMAND, text="/start", **common))
        message = payload.get("message")
        event = translate(name, message if isinstance(message, dict) else {}, common)
        return at_edge(event) if event is not None else None

    def routes(self) -> list[BaseRoute]:
        """The webhook, and the photo links Zalo fetches."""
        return [
            Route(WEBHOOK_PATH, self._take_webhook, methods=["POST"]),
            Route(FILE_PATH, self._serve_file, methods=["GET"]),
        ]

    async def start(self, intake: "Intake", base_url: str) -> None:
        """Take events from now on (the webhook URL is set in Zalo's developer console),
        with the tokens loaded; lost tokens are reported (/healthz), not raised."""
        await self._tokens.start()
        self._intake = intake
        self.links.base_url = base_url.rstrip("/")

    async def acknowledge(self, event: Inbound) -> None:
        """Nothing to tell Zalo."""

    def start_link(self) -> str | None:
        """The OA's own page opens the chat; no start payload."""
        return None

    async def stop(self) -> None:
        """A webhook simply stops being served."""

    async def close(self) -> None:
        """Release the connections."""
        await self.api.client.aclose()

    async def _heard(self, user_id: str) -> dt.datetime | None:
        """When the person last wrote to the OA (the reply window runs from then)."""
        return await self._db.run(
            lambda session: last_activity(session=session, channel=CHANNEL, external_id=user_id)
        )

    async def _take_webhook(self, request: Request) -> Response:
        """Store a signed event before answering 200; refuse an unsigned or forged one
        with nothing stored; acknowledge the events we do not take."""
        if self._intake is None:
            return PlainTextResponse("not ready", status_code=503)
        body = await read_at_most(request, MAX_EVENT_BYTES)
        if body is None:
            return PlainTextResponse("too large", status_code=413)
        given = request.headers.get(SIGNATURE_HEADER, "")
        if not given:
            return PlainTextResponse("unauthorised", status_code=401)
        event = json_object(body, numbers_as_text=True)
        stamp = event.get("timestamp") if event is not None else None
        expected = signature(self._app_id, body, str(stamp or ""), self._secret)
        if not hmac.compare_digest(given.strip().encode(), expected.encode()) or not stamp:
            return PlainTextResponse("forbidden", status_code=403)
        assert event is not None
        found = event_id(event)
        if found is None or (event.get("event_name") not in TAKEN and not pressed(event)):
            return JSONResponse({"error": 0})
        await self._store(found, dict(event))
        return JSONResponse({"error": 0})

    async def _store(self, found: str, event: dict[str, Any]) -> None:
        """Record the event; an unfollow or a follow also changes, in the same transaction,
        whether we may send to the person."""
        assert self._intake is not None
        name, person = event.get("event_name"), person_of(event) or ""

        def reach(session: Session, new: set[str]) -> None:
            if found not in new:
                return
            if name == UNFOLLOW:
                drop_unreachable(session=session, channel=CHANNEL, chat_id=person, error=UNFOLLOW)
            elif name == FOLLOW:
                reachable_again(session=session, channel=CHANNEL, chat_id=person)

        new, _ = await self._intake.record(CHANNEL, [(found, event)], alongside=reach)
        if found in new:
            self._intake.queue(CHANNEL, found, event)

    async def _download(self, ref: str) -> tuple[str, bytes] | None:
        """A photo or file someone sent the OA (its URL), for the desk; None when it cannot
        be had."""
        return await fetch(self.api.client, ref, "file")

    async def _serve_file(self, request: Request) -> Response:
        """A file behind a signed, unexpired photo link; 404 for anything else."""
        return await self.links.serve(request.path_params["token"], self._sources)


def build(kit: ChannelKit) -> ZaloOaChannelAdapter | None:
    """The OA channel, when its app, its webhook secret and its OAuth credentials are set
    and its section does not turn it off."""
    settings = kit.settings
    app_id, secret = settings.zalo_oa_app_id, settings.zalo_oa_webhook_secret
    if not kit.config.raw.channels.zalo_oa.enabled or not app_id or secret is None:
        return None
    if not secret.get_secret_value() or oa_credentials(settings) is None:
        return None

    def tokens(client: httpx.AsyncClient) -> AccessTokens:
        made = build_tokens(settings, kit.db, client, clock=kit.clock, on_outbox=kit.on_outbox)
        assert made is not None, "the credentials were checked above"
        return made

    return ZaloOaChannelAdapter(kit, app_id, secret.get_secret_value(), tokens)
