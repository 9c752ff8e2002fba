"""The one path every inbound event takes: claim, handle, save, queue the replies."""

import time
from collections.abc import Callable
from dataclasses import replace

from sqlmodel import Session

from bot.domain.i18n import render, supported
from bot.domain.language import detect_language
from bot.domain.messages import Inbound, InputKind, Reply
from bot.metrics import Metrics
from handlers.context import Context
from storage import repositories as repo
from storage.db import Database
from storage.models import utcnow

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
        return await self._db.run(
            lambda session: repo.record_inbound(
                session=session, channel=channel, event_id=event_id, payload=payload
            )
        )

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
            lambda session: repo.claim_inbound(session=session, channel=channel, event_id=event_id)
        )
        self._metrics.updates.labels(channel, "skipped").inc()

    def _handle(self, session: Session, event: Inbound) -> bool:
        inbox_id = repo.claim_inbound(
            session=session, channel=event.channel, event_id=event.event_id
        )
        if inbox_id is None:
            return False
        before = repo.load_dialogue(
            session=session, channel=event.channel, external_id=event.user_id
        ) or repo.create_dialogue(
            session=session,
            channel=event.channel,
            external_id=event.user_id,
            chat_id=event.chat_id,
            language=self._first_language(event),
        )
        ctx = Context(
            language=before.language,
            first_contact=before.first_contact,
            organisation_name=self._names[before.language],
            flow=before.flow,
            step=before.step,
            draft=dict(before.draft),
            stopped=before.stopped_at is not None,
        )
        replies = self._handler(event, ctx)
        now = utcnow()
        after = replace(
            before,
            language=ctx.language,
            stopped_at=(before.stopped_at or now) if ctx.stopped else None,
            flow=ctx.flow,
            step=ctx.step,
            draft=ctx.draft,
        )
        repo.save_dialogue(session=session, dialogue=after, before=before, now=now)
        repo.enqueue_outbound(
            session=session,
            channel=event.channel,
            chat_id=event.chat_id,
            payloads=[render(reply, ctx.language).to_payload() for reply in replies],
            source_event_id=inbox_id,
        )
        return True

    def _first_language(self, event: Inbound) -> str:
        hinted = supported(event.language_hint)
        if event.language_hint or event.kind is not InputKind.TEXT:
            return hinted
        return detect_language(event.text, fallback=hinted)

    def _fail(self, session: Session, event: Inbound) -> None:
        """Set the event aside and apologise (the caller re-raises, and PTB logs it)."""
        repo.fail_inbound(
            session=session, channel=event.channel, event_id=event.event_id, error="handler"
        )
        apology = render(Reply("errors.internal"), supported(event.language_hint))
        repo.enqueue_outbound(
            session=session,
            channel=event.channel,
            chat_id=event.chat_id,
            payloads=[apology.to_payload()],
        )
