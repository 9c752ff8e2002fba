"""People, their channel identities and their dialogue state, loaded and saved per event."""

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    JSON,
    and_,
    bindparam,
    insert,
    true,
    update,
)
from sqlalchemy import select as sa_select
from sqlalchemy import text as sql_text
from sqlmodel import Session, col

from bot.domain.people import Profile
from storage.inbox import CLAIM, claim_inbound
from storage.models import (
    ChannelIdentity,
    Conversation,
    Person,
    utcnow,
)
from storage.sql import core, on_postgres
from storage.topics import keep_topics

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
        col(Person.age_group),
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
        age_group=bindparam("p_age_group"),
    )
)


def load_dialogue(*, session: Session, channel: str, external_id: str) -> Dialogue | None:
    """The person behind a channel account with their dialogue state, if we know them."""
    params = {"p_channel": channel, "p_external": external_id}
    row: Any = core(session, _LOAD_DIALOGUE, params).first()
    return None if row is None else _dialogue(row)


def _dialogue(row: Any) -> Dialogue:
    (person_id, conversation_id, language, stopped_at, flow, step, draft, updated_at) = row[:8]
    unit_code, consent_at, extra, always_anonymous, subscriptions, banned, staff_code = row[8:15]
    profile = Profile(
        unit_code=unit_code,
        consented_at=consent_at,
        age_group=row[15],
        workplace=extra.get("workplace"),
        given_name=extra.get("given_name"),
        contact=extra.get("contact"),
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


# On PostgreSQL the claim and the load are one round trip: UPDATE … RETURNING as a CTE.
_CLAIMED = CLAIM.cte("claimed")
_KNOWN = _LOAD_DIALOGUE.subquery("known")
_CLAIM_AND_LOAD = sa_select(_CLAIMED.c.id, *_KNOWN.c).select_from(
    _CLAIMED.outerjoin(_KNOWN, true())
)


def claim_with_dialogue(
    *, session: Session, channel: str, event_id: str, external_id: str
) -> tuple[int, Dialogue | None] | None:
    """Claim a pending event and load its sender's dialogue (None if not known yet), in the
    caller's transaction; None when the event was handled already."""
    if not on_postgres(session):  # sqlite3 has no DML in CTEs; two local statements are cheap
        inbox_id = claim_inbound(session=session, channel=channel, event_id=event_id)
        if inbox_id is None:
            return None
        return inbox_id, load_dialogue(session=session, channel=channel, external_id=external_id)
    params = {"p_channel": channel, "p_event": event_id, "p_external": external_id}
    row: Any = core(session, _CLAIM_AND_LOAD, params | {"p_now": utcnow()}).first()
    if row is None:
        return None
    return row[0], (None if row[1] is None else _dialogue(row[1:]))


_NEW_PERSON = insert(Person).returning(col(Person.id))
_NEW_CONVERSATION = insert(Conversation).returning(col(Conversation.id))


# The three inserts as one statement (data-modifying CTEs); foreign keys are checked at its end.
_NEW_DIALOGUE_PG = sql_text(
    """
    WITH new_person AS (
        INSERT INTO person
            (language, roles, subscriptions, profile, banned, always_anonymous, created_at)
        VALUES (:p_language, '[]', '[]', '{}', false, false, :p_now)
        RETURNING id
    ), new_identity AS (
        INSERT INTO channelidentity
            (channel, external_id, chat_id, person_id, reachable, created_at)
        SELECT :p_channel, :p_external, :p_chat, id, true, :p_now FROM new_person
    ), new_conversation AS (
        INSERT INTO conversation (channel, external_id, draft, updated_at)
        VALUES (:p_channel, :p_external, '{}', :p_now)
        RETURNING id
    )
    SELECT new_person.id, new_conversation.id FROM new_person, new_conversation
    """
)


def create_dialogue(
    *, session: Session, channel: str, external_id: str, chat_id: str, language: str
) -> Dialogue:
    """Register a new person with their first channel account and an empty dialogue."""
    now = utcnow()
    params: dict[str, Any] = {"p_channel": channel, "p_external": external_id, "p_chat": chat_id}
    params |= {"p_language": language, "p_now": now}
    if on_postgres(session):
        row: Any = core(session, _NEW_DIALOGUE_PG, params).one()
        person_id, conversation_id = row
    else:
        person_id, conversation_id = _insert_dialogue(session, params)
    return Dialogue(
        person_id, conversation_id, language, None, None, None, {}, Profile(), now, True
    )


def _insert_dialogue(session: Session, params: dict[str, Any]) -> tuple[int, int]:
    now, channel, external_id = params["p_now"], params["p_channel"], params["p_external"]
    person: dict[str, Any] = {"language": params["p_language"], "roles": [], "subscriptions": []}
    person |= {"profile": {}, "banned": False, "always_anonymous": False, "created_at": now}
    person_id: int = core(session, _NEW_PERSON, person).scalar_one()
    identity: dict[str, Any] = {"channel": channel, "external_id": external_id}
    identity |= {"chat_id": params["p_chat"], "person_id": person_id, "reachable": True}
    core(session, insert(ChannelIdentity), identity | {"created_at": now})
    conversation: dict[str, Any] = {"channel": channel, "external_id": external_id}
    conversation |= {"draft": {}, "updated_at": now}
    conversation_id: int = core(session, _NEW_CONVERSATION, conversation).scalar_one()
    return person_id, conversation_id


def save_dialogue(
    *, session: Session, dialogue: Dialogue, before: Dialogue, now: dt.datetime
) -> None:
    """Store the dialogue state and last activity; touch the person only if they changed."""
    core(
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
        extra = {"workplace": profile.workplace}
        extra |= {"given_name": profile.given_name, "contact": profile.contact}
        params = {
            "p_id": dialogue.person_id,
            "p_language": dialogue.language,
            "p_stopped": dialogue.stopped_at,
            "p_unit": profile.unit_code,
            "p_consent": profile.consented_at,
            "p_profile": {k: v for k, v in extra.items() if v is not None},
            "p_anonymous": profile.always_anonymous,
            "p_subscriptions": profile.subscriptions,
            "p_age_group": profile.age_group,
        }
        core(session, _SAVE_PERSON, params)
        if profile.subscriptions != before.profile.subscriptions:
            keep_topics(
                session=session, person_id=dialogue.person_id, topics=profile.subscriptions
            )


def add_identity(
    *, session: Session, person_id: int, channel: str, external_id: str, now: dt.datetime
) -> None:
    """Give an existing person an account (and an empty dialogue) on one more channel."""
    identity = ChannelIdentity(
        channel=channel,
        external_id=external_id,
        chat_id=external_id,
        person_id=person_id,
        created_at=now,
    )
    session.add(identity)
    session.add(Conversation(channel=channel, external_id=external_id, updated_at=now))
