"""The web chat's records: visitors, their sessions, the messages of each chat, uploads.

Tokens (session cookies, resume links) are random and kept only as SHA-256 hashes, so a
copy of the database does not let anyone into a conversation.
"""

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, delete, insert, or_, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from bot.domain.desk import Staff
from bot.domain.messages import UPLOAD_PREFIX, SharedFile
from storage.desk import SqlDeskRecords
from storage.dialogues import add_identity, create_dialogue
from storage.models import (
    Attachment,
    ChannelIdentity,
    Conversation,
    Invite,
    Person,
    Ticket,
    WebMessage,
    WebSession,
    WebUpload,
    WebVisitor,
)
from storage.sql import core
from storage.tokens import digest
from storage.youth import WEB

CHANNEL = WEB
HISTORY_LIMIT = 500


@dataclass(frozen=True)
class SignedIn:
    """A valid session: whose it is, its CSRF token, and whether a staff member holds it."""

    visitor_id: str
    csrf: str
    staff: bool


@dataclass(frozen=True)
class NewSession:
    """A session just opened: the cookie value (shown once) and what it stands for."""

    token: str
    signed_in: SignedIn


@dataclass(frozen=True)
class ChatEvent:
    """A message of a web chat as the page receives it."""

    id: int
    outgoing: bool
    body: dict[str, Any]
    replaces: int | None
    at: dt.datetime


def new_visitor(*, session: Session, now: dt.datetime) -> str:
    """Register a new visitor and return their id on the web channel."""
    visitor_id = secrets.token_urlsafe(16)
    session.add(WebVisitor(id=visitor_id, created_at=now))
    session.flush()
    return visitor_id


def open_session(
    *, session: Session, visitor_id: str, hours: int, now: dt.datetime, staff: bool = False
) -> NewSession:
    """Start a browser session for a visitor; it expires after `hours` without use."""
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    session.add(
        WebSession(
            token_hash=digest(token),
            visitor_id=visitor_id,
            csrf=csrf,
            lifetime_hours=hours,
            expires_at=now + dt.timedelta(hours=hours),
            created_at=now,
        )
    )
    return NewSession(token, SignedIn(visitor_id, csrf, staff))


def signed_in(*, session: Session, token: str, now: dt.datetime) -> SignedIn | None:
    """The session behind a cookie, kept alive by this use; None if unknown or expired."""
    live = live_session(session=session, token_hash=digest(token), now=now)
    return live.signed_in if live is not None else None


@dataclass(frozen=True)
class LiveSession:
    """A valid session and when it expires (unless used again)."""

    signed_in: SignedIn
    expires_at: dt.datetime


def live_session(*, session: Session, token_hash: str, now: dt.datetime) -> LiveSession | None:
    """The session with this token hash, kept alive by this use; None if unknown or expired."""
    found = session.execute(
        select(
            col(WebSession.visitor_id),
            col(WebSession.csrf),
            col(WebSession.expires_at),
            col(WebSession.lifetime_hours),
        ).where(col(WebSession.token_hash) == token_hash)
    ).first()
    if found is None or found.expires_at <= now:
        return None
    lifetime, expires_at = dt.timedelta(hours=found.lifetime_hours), found.expires_at
    # Written at most about once an hour of use, not on every request.
    if expires_at - now < lifetime - dt.timedelta(hours=1):
        expires_at = now + lifetime
        session.execute(
            update(WebSession)
            .where(col(WebSession.token_hash) == token_hash)
            .values(expires_at=expires_at)
        )
    staff_code = session.execute(
        select(Person.staff_code)
        .join(ChannelIdentity, col(ChannelIdentity.person_id) == col(Person.id))
        .where(ChannelIdentity.channel == CHANNEL, ChannelIdentity.external_id == found.visitor_id)
    ).first()
    staff = staff_code is not None and staff_code[0] is not None
    return LiveSession(SignedIn(found.visitor_id, found.csrf, staff), expires_at)


def end_expired_sessions(*, session: Session, now: dt.datetime) -> int:
    """Delete sessions that have expired; return how many."""
    result = session.exec(delete(WebSession).where(col(WebSession.expires_at) <= now))
    return int(result.rowcount or 0)


# ---- the chat itself ----------------------------------------------------------------------


# The chat's hot path (every turn and every reply): statements built once, rows as tuples.
_ADD_MESSAGE = insert(WebMessage).returning(col(WebMessage.id))
_MESSAGES_AFTER = (
    sa_select(
        col(WebMessage.id),
        col(WebMessage.outgoing),
        col(WebMessage.body),
        col(WebMessage.replaces),
        col(WebMessage.created_at),
    )
    .where(
        col(WebMessage.chat_id) == bindparam("p_chat"), col(WebMessage.id) > bindparam("p_after")
    )
    .order_by(col(WebMessage.id).desc())
    .limit(HISTORY_LIMIT)
)
_PERSON_OF_VISITOR = (
    sa_select(col(Person.consent_at), col(Person.staff_code))
    .join(ChannelIdentity, col(ChannelIdentity.person_id) == col(Person.id))
    .where(
        col(ChannelIdentity.channel) == CHANNEL,
        col(ChannelIdentity.external_id) == bindparam("p_visitor"),
    )
)


def add_message(
    *,
    session: Session,
    chat_id: str,
    outgoing: bool,
    body: dict[str, Any],
    now: dt.datetime,
    replaces: int | None = None,
) -> int:
    """Append a message (or a new version of one) to a chat; return its id."""
    row = {"chat_id": chat_id, "outgoing": outgoing, "body": body}
    added: int = core(
        session, _ADD_MESSAGE, row | {"replaces": replaces, "created_at": now}
    ).scalar_one()
    return added


def messages_after(*, session: Session, chat_id: str, after: int) -> list[ChatEvent]:
    """The chat's messages newer than a cursor, oldest first (the latest ones if many)."""
    rows = core(session, _MESSAGES_AFTER, {"p_chat": chat_id, "p_after": after}).all()
    return [ChatEvent(r[0], r[1], dict(r[2]), r[3], r[4]) for r in reversed(rows)]


def is_stranger(*, session: Session, visitor_id: str) -> bool:
    """Whether nothing of this visitor was handled yet: no person stands behind them."""
    return core(session, _PERSON_OF_VISITOR, {"p_visitor": visitor_id}).first() is None


def mark_pressed(*, session: Session, chat_id: str, message_id: int, choice: str) -> bool:
    """Note on the shown version of a message of this chat which of its buttons was pressed
    (the page shows its buttons as used, also after a reload); whether it had that button."""
    shown = session.exec(
        select(WebMessage)
        .where(
            WebMessage.chat_id == chat_id,
            or_(col(WebMessage.id) == message_id, col(WebMessage.replaces) == message_id),
        )
        .order_by(col(WebMessage.id).desc())
        .limit(1)
    ).first()
    if shown is None or not shown.outgoing:
        return False
    offered = [row_choice[0] for row in shown.body.get("choices") or [] for row_choice in row]
    if choice not in offered:
        return False
    shown.body = {**shown.body, "pressed": choice}  # a new dict, so the change is saved
    session.add(shown)
    return True


def keeps_words(*, session: Session, visitor_id: str) -> bool:
    """Whether the visitor's own words are kept in their chat: once they agreed to the
    processing of their data (staff always)."""
    found: Any = core(session, _PERSON_OF_VISITOR, {"p_visitor": visitor_id}).first()
    return found is not None and (found[0] is not None or found[1] is not None)


def message_exists(*, session: Session, chat_id: str, message_id: int) -> bool:
    """Whether a message belongs to this chat (an edit may only touch its own chat)."""
    row = session.get(WebMessage, message_id)
    return row is not None and row.chat_id == chat_id


def new_upload(
    *,
    session: Session,
    visitor_id: str,
    name: str,
    content_type: str,
    store_key: str,
    now: dt.datetime,
) -> int:
    """Record an upload about to be streamed to the file store; return its id.

    The row comes first, so the store never holds a file that no row accounts for."""
    row = WebUpload(
        visitor_id=visitor_id,
        name=name[:200],
        content_type=content_type[:100],
        size_bytes=0,
        store_key=store_key,
        created_at=now,
    )
    session.add(row)
    session.flush()
    assert row.id is not None
    return row.id


def upload_stored(*, session: Session, upload_id: int, size: int) -> None:
    """Note the size of an upload once the whole file is in the store."""
    session.exec(update(WebUpload).where(col(WebUpload.id) == upload_id).values(size_bytes=size))


def drop_upload(*, session: Session, upload_id: int) -> None:
    """Forget an upload whose file never arrived whole."""
    session.exec(delete(WebUpload).where(col(WebUpload.id) == upload_id))


@dataclass(frozen=True)
class UploadGate:
    """What decides whether a visitor may upload now: consent and where the dialogue is."""

    consented: bool
    flow: str | None
    step: str | None
    updated_at: dt.datetime | None


def upload_gate(*, session: Session, visitor_id: str) -> UploadGate:
    """The visitor's consent and dialogue step (no consent and no step for a stranger)."""
    consent = session.exec(
        select(Person.consent_at)
        .join(ChannelIdentity, col(ChannelIdentity.person_id) == col(Person.id))
        .where(ChannelIdentity.channel == CHANNEL, ChannelIdentity.external_id == visitor_id)
    ).first()
    dialogue = session.exec(
        select(Conversation).where(
            Conversation.channel == CHANNEL, Conversation.external_id == visitor_id
        )
    ).first()
    if dialogue is None:
        return UploadGate(consent is not None, None, None, None)
    return UploadGate(consent is not None, dialogue.flow, dialogue.step, dialogue.updated_at)


def delete_untaken_uploads(*, session: Session, before: dt.datetime) -> list[str]:
    """Delete uploads made before a time that no submission took; return their store keys."""
    old = session.exec(
        select(WebUpload.id, WebUpload.store_key).where(col(WebUpload.created_at) < before)
    ).all()
    refs = {f"{UPLOAD_PREFIX}{upload_id}": key for upload_id, key in old}
    taken = set(
        session.exec(select(Attachment.file_ref).where(col(Attachment.file_ref).in_(refs))).all()
    )
    gone = [ref for ref in refs if ref not in taken]
    ids = [int(ref.removeprefix(UPLOAD_PREFIX)) for ref in gone]
    session.exec(delete(WebUpload).where(col(WebUpload.id).in_(ids)))
    return [refs[ref] for ref in gone]


def delete_uploads_of(*, session: Session, visitor_id: str) -> list[str]:
    """Delete every upload of a visitor (they asked to be forgotten); return the store keys
    of their files, to delete from the store after the commit."""
    keys = session.exec(
        select(WebUpload.store_key).where(col(WebUpload.visitor_id) == visitor_id)
    ).all()
    session.exec(delete(WebUpload).where(col(WebUpload.visitor_id) == visitor_id))
    return list(keys)


def delete_uploads_by_ref(*, session: Session, refs: list[str]) -> list[str]:
    """Delete the uploads behind attachment references (web:<id>) of purged submissions;
    return their store keys."""
    ids = [int(r.removeprefix(UPLOAD_PREFIX)) for r in refs if _upload_id(r) is not None]
    keys = session.exec(select(WebUpload.store_key).where(col(WebUpload.id).in_(ids))).all()
    session.exec(delete(WebUpload).where(col(WebUpload.id).in_(ids)))
    return list(keys)


def stored_keys(*, session: Session) -> set[str]:
    """The store keys of every upload on record."""
    return set(session.exec(select(WebUpload.store_key)).all())


def file_shown(*, session: Session, chat_id: str, message_id: int) -> SharedFile | None:
    """The file a message of this chat shows, if it shows one."""
    row = session.get(WebMessage, message_id)
    if row is None or row.chat_id != chat_id:
        return None
    shown = row.body.get("file")
    if not isinstance(shown, dict):
        return None
    return SharedFile(str(shown["origin"]), str(shown["kind"]), str(shown["ref"]))


def upload_file(*, session: Session, ref: str) -> tuple[str, str] | None:
    """An upload's name and store key by its attachment reference (web:<id>), if it is kept
    and complete."""
    upload_id = _upload_id(ref)
    row = session.get(WebUpload, upload_id) if upload_id is not None else None
    return (row.name, row.store_key) if row is not None and row.size_bytes > 0 else None


def _upload_id(ref: str) -> int | None:
    number = ref.removeprefix(UPLOAD_PREFIX)
    return int(number) if ref.startswith(UPLOAD_PREFIX) and number.isdigit() else None


# ---- another device: the resume link, and staff sign-in ------------------------------------


def new_resume_link(*, session: Session, visitor_id: str) -> str:
    """A fresh private link token for this visitor; an earlier one stops working."""
    token = secrets.token_urlsafe(24)
    session.exec(
        update(WebVisitor)
        .where(col(WebVisitor.id) == visitor_id)
        .values(resume_hash=digest(token))
    )
    return token


def resume(*, session: Session, token: str, code: str) -> str | None:
    """The visitor a resume link belongs to, if the reference code is one of theirs."""
    visitor = session.exec(
        select(WebVisitor).where(WebVisitor.resume_hash == digest(token))
    ).first()
    if visitor is None:
        return None
    owner = session.exec(
        select(Ticket.id)
        .join(ChannelIdentity, col(ChannelIdentity.person_id) == col(Ticket.author_id))
        .where(
            ChannelIdentity.channel == CHANNEL,
            ChannelIdentity.external_id == visitor.id,
            col(Ticket.code) == code.strip().upper(),
        )
    ).first()
    return visitor.id if owner is not None else None


def sign_in_staff(
    *, session: Session, token: str, language: str, now: dt.datetime
) -> tuple[str, Staff] | None:
    """Use a one-time staff link: a new web visitor who is that staff member; None if the
    link is unknown, used or expired."""
    valid = session.exec(
        select(Invite.token_hash).where(
            Invite.token_hash == digest(token),
            col(Invite.used_at).is_(None),
            col(Invite.expires_at) > now,
        )
    ).first()
    if valid is None:
        return None
    desk = SqlDeskRecords(session=session)
    visitor_id = new_visitor(session=session, now=now)
    person_id = desk.invited_person(token, now)
    if person_id is None:
        person_id = create_dialogue(
            session=session,
            channel=CHANNEL,
            external_id=visitor_id,
            chat_id=visitor_id,
            language=language,
        ).person_id
    else:
        add_identity(
            session=session, person_id=person_id, channel=CHANNEL, external_id=visitor_id, now=now
        )
    name = f"web-{visitor_id[:6]}"
    staff = desk.accept_invite(token=token, person_id=person_id, name=name, now=now)
    if staff is None:
        return None
    desk.audit("", actor=staff, action="signed_in_web", before={}, after={}, now=now)
    return visitor_id, staff
