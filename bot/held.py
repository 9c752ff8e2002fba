"""Replies a channel kept back because its reply window closed (Zalo OA: 7 days after the
person's last message): the desk hears which answer could not be delivered and when the
window closed, and a person with a linked web chat finds the answer there at once. The
replies themselves wait in the outbox until the person writes again (the dispatcher
releases them)."""

import datetime as dt
from collections.abc import Callable, Mapping

from bot.channels.base import Capabilities
from bot.config import OrgConfig
from bot.dispatch import queue_replies
from bot.domain.clock import show_datetime
from bot.domain.i18n import text
from bot.domain.messages import Reply
from bot.outbox import Held
from handlers.cards import STAFF_LANGUAGE, to_cards
from storage.db import Database, Session
from storage.linking import linked_chat
from storage.outbox import enqueue_outbound
from storage.records import RecordsFactory


class HeldReplies:
    """Tells the desk about held replies and copies them to the person's web chat."""

    def __init__(
        self,
        *,
        db: Database,
        config: OrgConfig,
        records: RecordsFactory,
        capabilities: Mapping[str, Capabilities],
        clock: Callable[[], dt.datetime],
        on_outbox: Callable[[], None],
        web_channel: str | None,
    ) -> None:
        self._db = db
        self._config = config
        self._records = records
        self._capabilities = capabilities
        self._clock = clock
        self._on_outbox = on_outbox
        self._web = web_channel

    async def held(self, held: Held) -> None:
        """Say so in one transaction: a notice on every card of the submissions the held
        replies are about, and the replies in the linked web chat."""
        await self._db.run(lambda session: self._tell(session, held))
        self._on_outbox()

    def _tell(self, session: Session, held: Held) -> None:
        now = self._clock()
        codes = [code for p in held.payloads if (code := _code_of(p)) is not None]
        web_chat = self._web_chat(session, held)
        closed = show_datetime(held.closed_at) if held.closed_at is not None else "?"
        window = self._capabilities[held.channel].reply_window
        values = {
            "channel": text(f"channels.{held.channel}", STAFF_LANGUAGE),
            "days": str(window.days if window is not None else "?"),
            "closed": closed,
            "shown": text("held.on_web" if web_chat else "held.not_on_web", STAFF_LANGUAGE),
        }
        desk = self._records(session).desk
        replies: list[Reply] = []
        for code in dict.fromkeys(codes):
            replies += to_cards(
                self._config, desk, code, "held.undelivered", {**values, "code": code}
            )
        queue_replies(session, replies, now=now, capabilities=self._capabilities)
        about = [p for p in held.payloads if _code_of(p) is not None]
        if web_chat is not None and self._web is not None and about:
            enqueue_outbound(
                session=session, channel=self._web, chat_id=web_chat, payloads=about, now=now
            )

    def _web_chat(self, session: Session, held: Held) -> str | None:
        if self._web is None or held.channel == self._web:
            return None
        return linked_chat(
            session=session, channel=held.channel, chat_id=held.chat_id, other=self._web
        )


def _code_of(payload: Mapping[str, object]) -> str | None:
    """The submission a held reply is about (its reference code), if it is about one."""
    gist = payload.get("gist")
    code = gist.get("code") if isinstance(gist, dict) else None
    return str(code) if code else None
