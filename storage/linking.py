"""Link codes and what using one does: one person's accounts and history become another's
(the rule is bot/domain/linking.py's)."""

import datetime as dt

from sqlalchemy import delete, update
from sqlmodel import Session, col, select

from bot.domain.linking import LinkCode as Code
from bot.domain.messages import Recipient
from storage.models import (
    AuditEntry,
    ChannelIdentity,
    Invite,
    LinkCode,
    Person,
    Ticket,
    TicketMessage,
)
from storage.tokens import digest
from storage.topics import keep_topics


def new_code(
    *,
    session: Session,
    person_id: int,
    account: ChannelIdentity,
    code: str,
    expires: dt.datetime,
    now: dt.datetime,
) -> bool:
    """Store a person's one code, given in an account's chat; False if it is someone else's
    live code (a spent one with the same digits makes way)."""
    hashed = digest(code)
    clash = session.exec(select(LinkCode).where(LinkCode.code_hash == hashed)).first()
    if clash is not None and clash.person_id != person_id:
        if clash.used_at is None and clash.expires_at > now:
            return False
        session.delete(clash)
    forget_codes(session=session, person_id=person_id)
    session.flush()
    session.add(
        LinkCode(
            person_id=person_id,
            code_hash=hashed,
            channel=account.channel,
            chat_id=account.chat_id,
            created_at=now,
            expires_at=expires,
        )
    )
    return True


def find_code(*, session: Session, code: str) -> Code | None:
    """A stored code by its digits, with whether its maker is staff."""
    row = session.exec(
        select(LinkCode, Person.staff_code)
        .join(Person, col(Person.id) == col(LinkCode.person_id))
        .where(LinkCode.code_hash == digest(code))
    ).first()
    if row is None:
        return None
    found, staff_code = row
    return Code(found.person_id, found.expires_at, found.used_at, staff_code is not None)


def join(*, session: Session, person_id: int, code: str, now: dt.datetime) -> Recipient:
    """Merge a person into the maker of a code and use the code up (the caller judged it)."""
    found = session.exec(select(LinkCode).where(LinkCode.code_hash == digest(code))).one()
    found.used_at = now
    session.add(found)
    target = session.get_one(Person, found.person_id)
    _merge_settings(target, session.get_one(Person, person_id))
    keep_topics(session=session, person_id=person_id, topics=())
    keep_topics(session=session, person_id=found.person_id, topics=target.subscriptions)
    _move_rows(session, person_id, target_id=found.person_id)
    forget_codes(session=session, person_id=person_id)
    session.flush()
    session.exec(delete(Person).where(col(Person.id) == person_id))
    return Recipient(found.channel, found.chat_id, target.language)


def _merge_settings(target: Person, joining: Person) -> None:
    """The code maker's settings stand; what only the joining person said fills the gaps, and
    the stricter of the two wins where it protects them (anonymity, a ban)."""
    target.profile = {**joining.profile, **target.profile}
    target.unit_code = target.unit_code or joining.unit_code
    target.age_group = target.age_group or joining.age_group
    target.always_anonymous = target.always_anonymous or joining.always_anonymous
    target.banned = target.banned or joining.banned
    if target.stopped_at is None:
        target.subscriptions = sorted({*target.subscriptions, *joining.subscriptions})


def _move_rows(session: Session, person_id: int, *, target_id: int) -> None:
    """Everything that points at the joining person points at the code maker instead."""
    moves = (
        (ChannelIdentity, ChannelIdentity.person_id),
        (Ticket, Ticket.author_id),
        (TicketMessage, TicketMessage.author_id),
        (AuditEntry, AuditEntry.actor_id),
        (Invite, Invite.used_by),
    )
    for table, column in moves:
        session.exec(update(table).where(col(column) == person_id).values({column: target_id}))


def unlink(*, session: Session, account: ChannelIdentity) -> bool:
    """Give an account a new, empty person (its submissions stay with the old one); False if
    it is its person's only account."""
    others = session.exec(
        select(ChannelIdentity.id).where(
            ChannelIdentity.person_id == account.person_id, ChannelIdentity.id != account.id
        )
    ).first()
    if others is None:
        return False
    old = session.get_one(Person, account.person_id)
    alone = Person(language=old.language)
    session.add(alone)
    session.flush()
    assert alone.id is not None
    account.person_id = alone.id
    session.add(account)
    return True


def forget_codes(*, session: Session, person_id: int) -> None:
    """Delete a person's codes (a new one replaces them; erasure and merging end them)."""
    session.exec(delete(LinkCode).where(col(LinkCode.person_id) == person_id))


def prune_codes(*, session: Session, before: dt.datetime) -> None:
    """Delete codes that expired before a moment (with the chat each was given in)."""
    session.exec(delete(LinkCode).where(col(LinkCode.expires_at) < before))
