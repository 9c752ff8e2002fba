"""People, their channel identities and their dialogue state, loaded and saved per event."""

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    JSON,
    and_,
    bindparam,
    insert,
    update,
)
from sqlalchemy import select as sa_select
from sqlmodel import Session, col

from bot.domain.people import Profile
from storage.models import (
    ChannelIdentity,
    Conversation,
    Person,
    utcnow,
)
from storage.sql import core

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
    row: Any = core(session, _LOAD_DIALOGUE, params).first()
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
    person_id: int = core(session, _NEW_PERSON, person).scalar_one()
    identity: dict[str, Any] = {"channel": channel, "external_id": external_id}
    identity |= {"chat_id": chat_id, "person_id": person_id, "reachable": True, "created_at": now}
    core(session, insert(ChannelIdentity), identity)
    conversation: dict[str, Any] = {"channel": channel, "external_id": external_id}
    conversation |= {"draft": {}, "updated_at": now}
    conversation_id: int = core(session, _NEW_CONVERSATION, conversation).scalar_one()
    return Dialogue(
        person_id, conversation_id, language, None, None, None, {}, Profile(), now, True
    )


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
        core(session, _SAVE_PERSON, params)
