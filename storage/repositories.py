"""Every query the application makes. Functions take the session as a keyword argument."""

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    JSON,
    CursorResult,
    Executable,
    and_,
    bindparam,
    delete,
    func,
    insert,
    update,
)
from sqlalchemy import select as sa_select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from bot.domain.people import Profile
from storage.models import (
    ChannelIdentity,
    Conversation,
    InboxEvent,
    OutboxMessage,
    Person,
    Publication,
    Unit,
    utcnow,
)

# Hot-path statements run as Core on the session's connection: the ORM's DML machinery and
# rebuilding statements per message were most of the cost of handling one.


def _core(session: Session, statement: Executable, params: Any = None) -> CursorResult[Any]:
    return session.connection().execute(statement, params)


def upsert_insert(session: Session) -> Any:
    """The dialect's INSERT that supports ON CONFLICT (PostgreSQL's or SQLite's)."""
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


# ---- inbox -------------------------------------------------------------------------------


def record_inbound(
    *, session: Session, channel: str, event_id: str, payload: dict[str, Any]
) -> bool:
    """Store an inbound event once; False when it was stored before (a redelivery)."""
    return bool(
        record_inbound_many(session=session, channel=channel, events=[(event_id, payload)])
    )


def record_inbound_many(
    *, session: Session, channel: str, events: Sequence[tuple[str, dict[str, Any]]]
) -> set[str]:
    """Store inbound events once each, in one statement; the ids of those that are new."""
    if not events:
        return set()
    now = utcnow()
    rows = [
        {
            "channel": channel,
            "event_id": event_id,
            "payload": payload,
            "status": "pending",
            "received_at": now,
        }
        for event_id, payload in events
    ]
    statement = (
        upsert_insert(session)(InboxEvent)
        .on_conflict_do_nothing(index_elements=["channel", "event_id"])
        # RETURNING, not rowcount: through psycopg a skipped insert did not report 0 rows.
        .returning(col(InboxEvent.event_id))
    )
    return set(_core(session, statement, rows).scalars())


_CLAIM = (
    update(InboxEvent)
    .where(
        col(InboxEvent.channel) == bindparam("p_channel"),
        col(InboxEvent.event_id) == bindparam("p_event"),
        col(InboxEvent.status) == "pending",
    )
    # The payload (names, texts) is needed only until the event is handled: keep no copy.
    .values(status="done", processed_at=bindparam("p_now"), payload={})
    .returning(col(InboxEvent.id))
)


def claim_inbound(*, session: Session, channel: str, event_id: str) -> int | None:
    """Mark a pending event done inside the caller's transaction; None if already handled."""
    params = {"p_channel": channel, "p_event": event_id, "p_now": utcnow()}
    found: int | None = _core(session, _CLAIM, params).scalar_one_or_none()
    return found


def fail_inbound(*, session: Session, channel: str, event_id: str, error: str) -> None:
    """Set aside an event whose handling failed, so a restart does not loop on it."""
    session.exec(
        update(InboxEvent)
        .where(col(InboxEvent.channel) == channel, col(InboxEvent.event_id) == event_id)
        .values(status="failed", processed_at=utcnow(), error=error[:2000])
    )


def record_failed_inbound(
    *, session: Session, channel: str, event_id: str, payload: dict[str, Any], error: str
) -> None:
    """Store an event that cannot be handled at all as failed at once (unless it was stored
    before: then it keeps its state)."""
    if record_inbound(session=session, channel=channel, event_id=event_id, payload=payload):
        fail_inbound(session=session, channel=channel, event_id=event_id, error=error)


def pending_inbound(*, session: Session, channel: str) -> Sequence[InboxEvent]:
    """Events stored but not handled, oldest first (to replay after a crash)."""
    statement = (
        select(InboxEvent)
        .where(InboxEvent.channel == channel, InboxEvent.status == "pending")
        .order_by(col(InboxEvent.id))
    )
    return session.exec(statement).all()


def inbox_depth(*, session: Session) -> int:
    """How many inbound events wait to be handled."""
    statement = select(func.count()).select_from(InboxEvent).where(InboxEvent.status == "pending")
    return session.exec(statement).one()


# ---- outbox ------------------------------------------------------------------------------


_HELD_UNTIL = sa_select(func.max(col(OutboxMessage.next_attempt_at))).where(
    col(OutboxMessage.channel) == bindparam("p_channel"),
    col(OutboxMessage.chat_id) == bindparam("p_chat"),
    col(OutboxMessage.status) == "pending",
)


def enqueue_outbound(
    *,
    session: Session,
    channel: str,
    chat_id: str,
    payloads: Sequence[dict[str, Any]],
    source_event_id: int | None = None,
    now: dt.datetime | None = None,
) -> None:
    """Add messages for one chat to the outbox, in order, in the caller's transaction;
    they are due at `now` (the caller's clock), by default at once."""
    if not payloads:
        return
    now = now or utcnow()
    # A message of this chat waiting for a retry holds back what comes after it.
    params = {"p_channel": channel, "p_chat": chat_id}
    held: dt.datetime | None = _core(session, _HELD_UNTIL, params).scalar_one_or_none()
    due = max(now, held) if held is not None else now
    rows = [
        {
            "channel": channel,
            "chat_id": chat_id,
            "payload": payload,
            "status": "pending",
            "attempts": 0,
            "source_event_id": source_event_id,
            "created_at": now,
            "next_attempt_at": due,
            "message_key": payload.get("key"),
        }
        for payload in payloads
    ]
    _core(session, insert(OutboxMessage), rows)


@dataclass(frozen=True)
class Outgoing:
    """A due outbox message, as the sender needs it."""

    id: int
    channel: str
    chat_id: str
    payload: dict[str, Any]
    attempts: int


_EARLIER_WITH_KEY = (
    sa_select(col(OutboxMessage.external_message_id))
    .where(
        col(OutboxMessage.chat_id) == bindparam("p_chat"),
        col(OutboxMessage.message_key) == bindparam("p_key"),
        col(OutboxMessage.channel) == bindparam("p_channel"),
        col(OutboxMessage.status) == "sent",
        col(OutboxMessage.external_message_id).is_not(None),
    )
    .order_by(col(OutboxMessage.id).desc())
    .limit(1)
)


def sent_with_key(*, session: Session, channel: str, chat_id: str, key: str) -> str | None:
    """The channel's id of the latest message sent to a chat under this key, if any."""
    params = {"p_chat": chat_id, "p_key": key, "p_channel": channel}
    found: str | None = _core(session, _EARLIER_WITH_KEY, params).scalar_one_or_none()
    return found


_DUE = (
    sa_select(
        col(OutboxMessage.id),
        col(OutboxMessage.channel),
        col(OutboxMessage.chat_id),
        col(OutboxMessage.payload),
        col(OutboxMessage.attempts),
    )
    .where(
        col(OutboxMessage.status) == "pending",
        col(OutboxMessage.next_attempt_at) <= bindparam("p_now"),
        col(OutboxMessage.chat_id).not_in(bindparam("p_skip", expanding=True)),
    )
    .order_by(col(OutboxMessage.id))
    .limit(bindparam("p_limit"))
)


def due_outbound(
    *, session: Session, now: dt.datetime, skip_chats: Iterable[str], limit: int
) -> list[Outgoing]:
    """Pending messages whose time has come, oldest first, leaving out busy chats."""
    params = {"p_now": now, "p_skip": list(skip_chats), "p_limit": limit}
    rows: list[Any] = list(_core(session, _DUE, params))
    return [Outgoing(row[0], row[1], row[2], row[3], row[4]) for row in rows]


_MARK_SENT = (
    update(OutboxMessage)
    .where(col(OutboxMessage.id) == bindparam("p_id"))
    .values(status="sent", sent_at=bindparam("p_at"), external_message_id=bindparam("p_external"))
)


@dataclass(frozen=True)
class Delivery:
    """A message the channel accepted: our id for it, the channel's, and when."""

    message_id: int
    external_id: str | None
    at: dt.datetime
    # Delivered, then deleted: nothing of it is kept (see Reply.erase_when_sent).
    erase: bool = False


_ERASE_SENT = delete(OutboxMessage).where(col(OutboxMessage.id) == bindparam("p_id"))


def mark_sent(*, session: Session, deliveries: Sequence[Delivery]) -> None:
    """Record delivered messages, each with the channel's id for it, in one statement;
    delete those that are not to be kept."""
    params = [
        {"p_id": d.message_id, "p_at": d.at, "p_external": d.external_id}
        for d in deliveries
        if not d.erase
    ]
    if params:
        _core(session, _MARK_SENT, params)
    erased = [{"p_id": d.message_id} for d in deliveries if d.erase]
    if erased:
        _core(session, _ERASE_SENT, erased)


def reschedule(
    *, session: Session, message_id: int, at: dt.datetime, error: str, give_up: bool
) -> None:
    """Try a message again later, or give up on it. Later messages to the same chat wait
    for it, so a chat's messages never overtake one another."""
    message = session.get_one(OutboxMessage, message_id)
    message.status = "failed" if give_up else "pending"
    message.next_attempt_at = at
    message.attempts += 1
    message.error = error[:500]
    session.add(message)
    if give_up:
        return
    session.exec(
        update(OutboxMessage)
        .where(
            col(OutboxMessage.channel) == message.channel,
            col(OutboxMessage.chat_id) == message.chat_id,
            col(OutboxMessage.status) == "pending",
            col(OutboxMessage.id) > message_id,
            col(OutboxMessage.next_attempt_at) < at,
        )
        .values(next_attempt_at=at)
    )


def drop_unreachable(*, session: Session, channel: str, chat_id: str, error: str) -> None:
    """The recipient blocked us or is gone: stop everything queued for them, for good."""
    session.exec(
        update(OutboxMessage)
        .where(
            col(OutboxMessage.channel) == channel,
            col(OutboxMessage.chat_id) == chat_id,
            col(OutboxMessage.status) == "pending",
        )
        .values(status="dropped", error=error[:500])
    )
    identities = session.exec(
        select(ChannelIdentity).where(
            ChannelIdentity.channel == channel, ChannelIdentity.chat_id == chat_id
        )
    )
    for identity in identities:
        identity.reachable = False
        person = session.get(Person, identity.person_id)
        if person is not None:
            person.subscriptions = []
        session.add(identity)


def outbox_depth(*, session: Session) -> int:
    """How many messages wait to be sent."""
    statement = (
        select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == "pending")
    )
    return session.exec(statement).one()


# ---- people and dialogue ----------------------------------------------------------------
# Hot path: statements are built once with bind parameters, and rows come back as plain
# tuples, because rebuilding statements and ORM objects per message was most of its cost.


@dataclass
class Dialogue:
    """A person's settings and dialogue state on one channel, as the dispatcher needs them."""

    person_id: int
    conversation_id: int
    language: str
    stopped_at: dt.datetime | None
    flow: str | None
    step: str | None
    draft: dict[str, Any]
    profile: Profile
    updated_at: dt.datetime
    first_contact: bool = False
    staff_code: str | None = None


_LOAD_DIALOGUE = (
    sa_select(
        col(ChannelIdentity.person_id),
        col(Conversation.id),
        col(Person.language),
        col(Person.stopped_at),
        col(Conversation.flow),
        col(Conversation.step),
        col(Conversation.draft),
        col(Conversation.updated_at),
        col(Person.unit_code),
        col(Person.consent_at),
        col(Person.profile),
        col(Person.always_anonymous),
        col(Person.subscriptions),
        col(Person.banned),
        col(Person.staff_code),
    )
    .join(Person, col(Person.id) == col(ChannelIdentity.person_id))
    .join(
        Conversation,
        and_(
            col(Conversation.channel) == col(ChannelIdentity.channel),
            col(Conversation.external_id) == col(ChannelIdentity.external_id),
        ),
    )
    .where(
        col(ChannelIdentity.channel) == bindparam("p_channel"),
        col(ChannelIdentity.external_id) == bindparam("p_external"),
    )
)
_SAVE_CONVERSATION = (
    update(Conversation)
    .where(col(Conversation.id) == bindparam("p_id"))
    .values(
        flow=bindparam("p_flow"),
        step=bindparam("p_step"),
        draft=bindparam("p_draft", type_=JSON),
        updated_at=bindparam("p_now"),
    )
)
_SAVE_PERSON = (
    update(Person)
    .where(col(Person.id) == bindparam("p_id"))
    .values(
        language=bindparam("p_language"),
        stopped_at=bindparam("p_stopped"),
        unit_code=bindparam("p_unit"),
        consent_at=bindparam("p_consent"),
        profile=bindparam("p_profile", type_=JSON),
        always_anonymous=bindparam("p_anonymous"),
        subscriptions=bindparam("p_subscriptions", type_=JSON),
    )
)


def load_dialogue(*, session: Session, channel: str, external_id: str) -> Dialogue | None:
    """The person behind a channel account with their dialogue state, if we know them."""
    params = {"p_channel": channel, "p_external": external_id}
    row: Any = _core(session, _LOAD_DIALOGUE, params).first()
    if row is None:
        return None
    (person_id, conversation_id, language, stopped_at, flow, step, draft, updated_at) = row[:8]
    unit_code, consent_at, extra, always_anonymous, subscriptions, banned, staff_code = row[8:]
    profile = Profile(
        unit_code=unit_code,
        consented_at=consent_at,
        age_group=extra.get("age_group"),
        workplace=extra.get("workplace"),
        always_anonymous=always_anonymous,
        subscriptions=list(subscriptions),
        banned=banned,
    )
    return Dialogue(
        person_id,
        conversation_id,
        language,
        stopped_at,
        flow,
        step,
        dict(draft),
        profile,
        updated_at,
        staff_code=staff_code,
    )


_NEW_PERSON = insert(Person).returning(col(Person.id))
_NEW_CONVERSATION = insert(Conversation).returning(col(Conversation.id))


def create_dialogue(
    *, session: Session, channel: str, external_id: str, chat_id: str, language: str
) -> Dialogue:
    """Register a new person with their first channel account and an empty dialogue."""
    now = utcnow()
    person: dict[str, Any] = {"language": language, "roles": [], "subscriptions": []}
    person |= {"profile": {}, "banned": False, "always_anonymous": False, "created_at": now}
    person_id: int = _core(session, _NEW_PERSON, person).scalar_one()
    identity: dict[str, Any] = {"channel": channel, "external_id": external_id}
    identity |= {"chat_id": chat_id, "person_id": person_id, "reachable": True, "created_at": now}
    _core(session, insert(ChannelIdentity), identity)
    conversation: dict[str, Any] = {"channel": channel, "external_id": external_id}
    conversation |= {"draft": {}, "updated_at": now}
    conversation_id: int = _core(session, _NEW_CONVERSATION, conversation).scalar_one()
    return Dialogue(
        person_id, conversation_id, language, None, None, None, {}, Profile(), now, True
    )


def save_dialogue(
    *, session: Session, dialogue: Dialogue, before: Dialogue, now: dt.datetime
) -> None:
    """Store the dialogue state and last activity; touch the person only if they changed."""
    _core(
        session,
        _SAVE_CONVERSATION,
        {
            "p_id": dialogue.conversation_id,
            "p_flow": dialogue.flow,
            "p_step": dialogue.step,
            "p_draft": dialogue.draft,
            "p_now": now,
        },
    )
    person = (dialogue.language, dialogue.stopped_at, dialogue.profile)
    if person != (before.language, before.stopped_at, before.profile):
        profile = dialogue.profile
        extra = {"age_group": profile.age_group, "workplace": profile.workplace}
        params = {
            "p_id": dialogue.person_id,
            "p_language": dialogue.language,
            "p_stopped": dialogue.stopped_at,
            "p_unit": profile.unit_code,
            "p_consent": profile.consented_at,
            "p_profile": {k: v for k, v in extra.items() if v is not None},
            "p_anonymous": profile.always_anonymous,
            "p_subscriptions": profile.subscriptions,
        }
        _core(session, _SAVE_PERSON, params)


# ---- units -------------------------------------------------------------------------------


def sync_units(*, session: Session, units: Iterable[tuple[str, str, str, str]]) -> int:
    """Insert or update units (code, name, folded name, kind) from config; return how many."""
    count = 0
    for code, name, folded, kind in units:
        existing = session.get(Unit, code)
        if existing is None:
            session.add(Unit(code=code, name=name, folded_name=folded, kind=kind))
        else:
            existing.name, existing.folded_name, existing.kind = name, folded, kind
            session.add(existing)
        count += 1
    return count


# ---- publications and other once-only sends ---------------------------------------------


def claim_publication(
    *,
    session: Session,
    kind: str,
    period: str,
    now: dt.datetime,
    status: str = "posted",
    payload: dict[str, Any] | None = None,
) -> bool:
    """Record that a post of this kind for this period is being made; False if it was before
    (by this or another process), so nothing is ever sent twice."""
    statement = (
        upsert_insert(session)(Publication)
        .values(kind=kind, period=period, status=status, payload=payload or {}, created_at=now)
        .on_conflict_do_nothing(index_elements=["kind", "period"])
        .returning(col(Publication.id))
    )
    return _core(session, statement).scalar_one_or_none() is not None
