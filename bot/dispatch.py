"""The one path every inbound event takes: claim, handle, save, queue the replies."""

import copy
import datetime as dt
import itertools
import time
from collections.abc import Callable, Mapping
from dataclasses import replace

from bot.channels.base import Capabilities
from bot.channels.render import Offer, chosen, fit_menus
from bot.config import OrgConfig
from bot.domain.i18n import render, supported
from bot.domain.language import first_language
from bot.domain.messages import Inbound, InputKind, Recipient, Reply
from bot.metrics import Metrics
from handlers.context import Context
from storage import dialogues, inbox, menus
from storage.db import Database, Session
from storage.outbox import enqueue_outbound, release_held
from storage.records import RecordsFactory

Handler = Callable[[Inbound, Context], list[Reply]]


class Dispatcher:
    """Runs the conversation handler for each inbound event, exactly once.

    The handler runs inside the event's transaction, so its effects, its replies and the
    inbox mark commit together. Handlers are therefore plain functions that never wait on
    the network: on SQLite the transaction holds the one connection.
    """

    def __init__(
        self,
        *,
        db: Database,
        handler: Handler,
        config: OrgConfig,
        metrics: Metrics,
        on_outbox: Callable[[], None],
        clock: Callable[[], dt.datetime],
        capabilities: Mapping[str, Capabilities] | None = None,
        records: RecordsFactory,
    ) -> None:
        self._db = db
        self._records = records
        # What each channel can show, by its name; a channel not in it has buttons.
        self.capabilities: Mapping[str, Capabilities] = (
            capabilities if capabilities is not None else {}
        )
        self._handler = handler
        self._config = config
        self._metrics = metrics
        self._on_outbox = on_outbox
        self._clock = clock
        # Per channel, a link that opens the bot with a start payload; set once it is known.
        self.links: dict[str, str] = {}

    async def dispatch(self, event: Inbound) -> bool:
        """Handle a stored event; False when it had been handled already."""
        started = time.perf_counter()
        try:
            handled = await self._db.run(lambda session: self._handle(session, event))
        except Exception:
            await self._db.run(lambda session: self._fail(session, event))
            self._on_outbox()
            self._metrics.updates.labels(event.channel, "error").inc()
            raise
        self._metrics.updates.labels(event.channel, "ok" if handled else "duplicate").inc()
        self._metrics.handler_seconds.labels(event.channel).observe(time.perf_counter() - started)
        if handled:
            self._on_outbox()
        return handled

    async def skip(self, channel: str, event_id: str) -> None:
        """Mark an event that carries nothing for us (e.g. a chat-member change) as handled."""
        await self._db.run(
            lambda session: inbox.claim_inbound(
                session=session, channel=channel, event_id=event_id
            )
        )
        self._metrics.updates.labels(channel, "skipped").inc()

    def _handle(self, session: Session, event: Inbound) -> bool:
        claimed = dialogues.claim_with_dialogue(
            session=session,
            channel=event.channel,
            event_id=event.event_id,
            external_id=event.user_id,
        )
        if claimed is None:
            return False
        inbox_id, known = claimed
        self._release_held(session, event)
        event = self._as_choice(session, event)
        before = known or dialogues.create_dialogue(
            session=session,
            channel=event.channel,
            external_id=event.user_id,
            chat_id=event.chat_id,
            language=self._first_language(event),
        )
        now = self._clock()
        records = self._records(session)
        ctx = Context(
            language=before.language,
            first_contact=before.first_contact,
            org=self._config,
            records=records.youth(
                person_id=before.person_id, channel=event.channel, external_id=event.user_id
            ),
            desk=records.desk,
            publishing=records.publishing,
            broadcasts=records.broadcasts,
            now=now,
            person_id=before.person_id,
            staff_code=before.staff_code,
            links=self.links,
            channels=self.capabilities,
            profile=copy.deepcopy(before.profile),
            flow=before.flow,
            step=before.step,
            draft=copy.deepcopy(before.draft),
            stopped=before.stopped_at is not None,
            idle=now - before.updated_at,
        )
        replies = self._handler(event, ctx)
        after = replace(
            before,
            language=ctx.language,
            stopped_at=(before.stopped_at or now) if ctx.stopped else None,
            flow=ctx.flow,
            step=ctx.step,
            draft=ctx.stored_draft(),
            profile=ctx.profile,
        )
        dialogues.save_dialogue(session=session, dialogue=after, before=before, now=now)
        self._enqueue(session, event, replies, ctx, inbox_id)
        return True

    def _enqueue(
        self, session: Session, event: Inbound, replies: list[Reply], ctx: Context, inbox_id: int
    ) -> None:
        sender = Recipient(event.channel, event.chat_id, ctx.language)
        queue_replies(
            session,
            replies,
            now=ctx.now,
            sender=sender,
            source_event_id=inbox_id,
            capabilities=self.capabilities,
        )

    def _as_choice(self, session: Session, event: Inbound) -> Inbound:
        """On a channel that shows numbered menus (no buttons, or not that many), a typed
        answer to the menu last offered in the chat is that choice; anything else stays what
        it was."""
        shown = self.capabilities.get(event.channel)
        if event.kind is not InputKind.TEXT or shown is None or not shown.numbered_menus:
            return event
        offer = menus.offered(session=session, channel=event.channel, chat_id=event.chat_id)
        choice = chosen(event.text, offer) if offer else None
        if choice is None:
            return event
        return replace(event, kind=InputKind.CHOICE, choice=choice, text="")

    def _release_held(self, session: Session, event: Inbound) -> None:
        """The person wrote again: what waited for the channel's reply window goes now,
        before the answer to this message (queued after it)."""
        shown = self.capabilities.get(event.channel)
        if shown is not None and shown.reply_window is not None:
            release_held(
                session=session, channel=event.channel, chat_id=event.chat_id, now=self._clock()
            )

    def _first_language(self, event: Inbound) -> str:
        typed = event.text if event.kind is InputKind.TEXT else ""
        default = self._config.raw.organisation.language
        return first_language(typed, event.language_hint, default)

    def _fail(self, session: Session, event: Inbound) -> None:
        """Set the event aside and apologise (the caller re-raises, and PTB logs it)."""
        inbox.fail_inbound(
            session=session, channel=event.channel, event_id=event.event_id, error="handler"
        )
        apology = render(Reply("errors.internal"), supported(event.language_hint))
        enqueue_outbound(
            session=session,
            channel=event.channel,
            chat_id=event.chat_id,
            payloads=[apology.to_payload()],
            now=self._clock(),
        )


def queue_replies(
    session: Session,
    replies: list[Reply],
    *,
    now: dt.datetime,
    sender: Recipient | None = None,
    source_event_id: int | None = None,
    capabilities: Mapping[str, Capabilities] | None = None,
) -> None:
    """Queue replies in order, each rendered in its recipient's language; a reply without
    `to` goes to the sender. On a channel without buttons, or with fewer than a message has
    choices (by `capabilities`), they become numbered menus, and what each chat was offered is
    kept to read the typed answer."""

    def destination(reply: Reply) -> Recipient:
        to = reply.to or sender
        assert to is not None, "a reply without a recipient needs a sender"
        return to

    shown = capabilities or {}
    offers: dict[tuple[str, str], Offer] = {}
    for to, group in itertools.groupby(replies, key=destination):
        messages = [render(reply, to.language) for reply in group]
        chat = (to.channel, to.chat_id)
        can = shown.get(to.channel)
        if can is not None and can.numbered_menus:
            fitted = fit_menus(messages, can, to.language, offers.get(chat, ()))
            messages, offers[chat] = list(fitted.messages), fitted.offer
        enqueue_outbound(
            session=session,
            channel=to.channel,
            chat_id=to.chat_id,
            payloads=[message.to_payload() for message in messages],
            source_event_id=source_event_id,
            now=now,
        )
    _remember_offers(session, offers, sender, now)


def _remember_offers(
    session: Session,
    offers: Mapping[tuple[str, str], Offer],
    sender: Recipient | None,
    now: dt.datetime,
) -> None:
    """Keep what each chat without buttons was just offered, to read its typed answer."""
    answered = (sender.channel, sender.chat_id) if sender is not None else None
    for (channel, chat_id), options in offers.items():
        # An answer to the person replaces their menu, even with none; a message to anyone
        # else (a notice, a card) replaces it only with a menu of its own.
        if options or (channel, chat_id) == answered:
            menus.offer(
                session=session, channel=channel, chat_id=chat_id, options=options, now=now
            )
