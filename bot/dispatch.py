"""The one path every inbound event takes: claim, handle, save, queue the replies."""

import logging
import time
from collections.abc import Awaitable, Callable

from bot.domain.i18n import render, supported
from bot.domain.language import detect_language
from bot.domain.messages import Inbound, InputKind, Reply
from bot.metrics import Metrics
from handlers.context import Context
from storage import repositories as repo
from storage.db import Database
from storage.models import utcnow

Handler = Callable[[Inbound, Context], Awaitable[list[Reply]]]
log = logging.getLogger(__name__)


class Dispatcher:
    """Runs the conversation handler for each inbound event, exactly once.

    The handler runs inside the event's transaction, so its effects, its replies and the
    inbox mark commit together. Handlers therefore never wait on the network: on SQLite
    the transaction holds the one connection, and a slow handler would stall every chat.
    """

    def __init__(
        self,
        *,
        db: Database,
        handler: Handler,
        organisation_names: dict[str, str],
        metrics: Metrics,
        on_outbox: Callable[[], None],
    ) -> None:
        self._db = db
        self._handler = handler
        self._names = organisation_names
        self._metrics = metrics
        self._on_outbox = on_outbox

    async def record(self, event_id: str, channel: str, payload: dict[str, object]) -> bool:
        """Store an event durably; False if it was stored before."""
        async with self._db.session() as session:
            return await repo.record_inbound(
                session=session, channel=channel, event_id=event_id, payload=payload
            )

    async def dispatch(self, event: Inbound) -> bool:
        """Handle a stored event; False when it had been handled already."""
        started = time.perf_counter()
        try:
            handled = await self._handle(event)
        except Exception:
            await self._fail(event)
            self._metrics.updates.labels(event.channel, "error").inc()
            raise
        self._metrics.updates.labels(event.channel, "ok" if handled else "duplicate").inc()
        self._metrics.handler_seconds.labels(event.channel).observe(time.perf_counter() - started)
        if handled:
            self._on_outbox()
        return handled

    async def skip(self, channel: str, event_id: str) -> None:
        """Mark an event that carries nothing for us (e.g. a chat-member change) as handled."""
        async with self._db.session() as session:
            await repo.claim_inbound(session=session, channel=channel, event_id=event_id)
        self._metrics.updates.labels(channel, "skipped").inc()

    async def _handle(self, event: Inbound) -> bool:
        async with self._db.session() as session:
            inbox_id = await repo.claim_inbound(
                session=session, channel=event.channel, event_id=event.event_id
            )
            if inbox_id is None:
                return False
            known = await repo.identity_with_person(
                session=session, channel=event.channel, external_id=event.user_id
            )
            first_contact = known is None
            if known is None:
                language = self._first_language(event)
                known = await repo.create_person(
                    session=session,
                    channel=event.channel,
                    external_id=event.user_id,
                    chat_id=event.chat_id,
                    language=language,
                )
            _, person = known
            conversation = await repo.conversation_for(
                session=session, channel=event.channel, external_id=event.user_id
            )
            ctx = Context(
                language=person.language,
                first_contact=first_contact,
                organisation_name=self._names[person.language],
                flow=conversation.flow,
                step=conversation.step,
                draft=dict(conversation.draft),
                stopped=person.stopped_at is not None,
            )
            replies = await self._handler(event, ctx)
            person.language = ctx.language
            person.stopped_at = (person.stopped_at or utcnow()) if ctx.stopped else None
            conversation.flow, conversation.step = ctx.flow, ctx.step
            conversation.draft = ctx.draft
            conversation.updated_at = utcnow()
            session.add_all([person, conversation])
            for reply in replies:
                repo.enqueue_outbound(
                    session=session,
                    channel=event.channel,
                    chat_id=event.chat_id,
                    payload=render(reply, ctx.language).to_payload(),
                    source_event_id=inbox_id,
                )
            return True

    def _first_language(self, event: Inbound) -> str:
        hinted = supported(event.language_hint)
        if event.language_hint:
            return hinted
        if event.kind is InputKind.TEXT:
            return detect_language(event.text, fallback=hinted)
        return hinted

    async def _fail(self, event: Inbound) -> None:
        """Set the event aside and apologise, in a transaction of its own (the caller logs)."""
        async with self._db.session() as session:
            await repo.fail_inbound(
                session=session, channel=event.channel, event_id=event.event_id, error="handler"
            )
            language = supported(event.language_hint)
            repo.enqueue_outbound(
                session=session,
                channel=event.channel,
                chat_id=event.chat_id,
                payload=render(Reply("errors.internal"), language).to_payload(),
            )
        self._on_outbox()
