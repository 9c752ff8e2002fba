"""Erasing personal data: a person's, when they ask (/forget), and a closed submission's,
when its retention ends. Submissions keep only what the reports count.

Stored messages are found by what they quote: JSON columns are searched as their text, in
which json.dumps wrote every non-ASCII character as an escape, so each needle is searched in
the same form.
"""

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Text, cast, delete, false, or_, update
from sqlmodel import Session, col, select

from bot.domain.desk import card_key
from bot.domain.messages import UPLOAD_PREFIX
from bot.domain.publishing import DAILY_POST, post_key, story_key
from bot.domain.tickets import StaffCopy
from storage.models import (
    Attachment,
    AuditEntry,
    InboxEvent,
    OutboxMessage,
    Publication,
    Story,
    Ticket,
    TicketMessage,
    WebMessage,
    WebUpload,
)

WEB = "web"
MAX_NEEDLES = 200
# A text is recognised by the start of its first line; shorter ones would match too much.
NEEDLE_CHARS, MIN_NEEDLE_CHARS = 24, 12
# Only the status survives in the audit of an erased submission (who acted, and when, stay).
AUDIT_KEPT = ("status",)
# Copies shown with a photo or a file cannot become text where they are shown.
UNEDITABLE = ("photos", "file", "document")


def delete_uploads(
    session: Session, *, visitor_id: str | None = None, refs: Iterable[str] = ()
) -> None:
    """Delete web chat uploads: a visitor's, and those attachments refer to (web:<id>).
    The one place uploads of a person or a submission are deleted."""
    ids = [int(r.removeprefix(UPLOAD_PREFIX)) for r in refs if _is_upload(r)]
    if ids:
        session.exec(delete(WebUpload).where(col(WebUpload.id).in_(ids)))
    if visitor_id is not None:
        session.exec(delete(WebUpload).where(col(WebUpload.visitor_id) == visitor_id))


def strip_tickets(session: Session, ticket_ids: Sequence[int], now: dt.datetime) -> None:
    """Keep submissions as anonymous counts only (kind, category, unit, status, dates,
    rating): no sender, text, thread, files, story or free-text comment."""
    if not ticket_ids:
        return
    refs = session.exec(
        select(Attachment.file_ref).where(col(Attachment.ticket_id).in_(ticket_ids))
    ).all()
    delete_uploads(session, refs=refs)
    session.exec(delete(Story).where(col(Story.ticket_id).in_(ticket_ids)))
    session.exec(delete(Attachment).where(col(Attachment.ticket_id).in_(ticket_ids)))
    session.exec(delete(TicketMessage).where(col(TicketMessage.ticket_id).in_(ticket_ids)))
    session.exec(
        update(Ticket)
        .where(col(Ticket.id).in_(ticket_ids))
        .values(
            author_id=None,
            anonymous=True,
            text="",
            rating_comment=None,
            publish_consent=None,
            updated_at=now,
        )
    )
    _strip_audit(session, ticket_ids)


def _strip_audit(session: Session, ticket_ids: Sequence[int]) -> None:
    entries = session.exec(select(AuditEntry).where(col(AuditEntry.ticket_id).in_(ticket_ids)))
    for entry in entries:
        entry.before = {k: v for k, v in entry.before.items() if k in AUDIT_KEPT}
        entry.after = {k: v for k, v in entry.after.items() if k in AUDIT_KEPT}
        session.add(entry)


def needles(
    codes: Sequence[str], names: Iterable[str | None], texts: Iterable[str | None]
) -> list[str]:
    """What identifies a person's data in stored messages: their submissions' codes, their
    names, and the start of each text they sent."""
    found = [*codes, *(n for n in names if n and len(n) >= 3)]
    for written in texts:
        first = (written or "").strip().split("\n", 1)[0].strip()[:NEEDLE_CHARS]
        if len(first) >= MIN_NEEDLE_CHARS:
            found.append(first)
    return list(dict.fromkeys(found))[:MAX_NEEDLES]


def mentions(column: Any, found: Sequence[str]) -> ColumnElement[bool]:
    """Whether a JSON column quotes any of the needles."""
    fragments = [json.dumps(n)[1:-1] for n in found]
    return or_(false(), *(cast(column, Text).contains(f, autoescape=True) for f in fragments))


def tombstone_copies(
    session: Session, codes: Sequence[str], found: Sequence[str], tombstone: str
) -> list[StaffCopy]:
    """Replace every stored message that quotes the needles (cards, notices, posts, pages)
    with the tombstone; the keyed ones that can be edited where they are shown."""
    keys = [key(code) for code in codes for key in (card_key, story_key, post_key)]
    rows = session.exec(
        select(OutboxMessage).where(
            or_(col(OutboxMessage.message_key).in_(keys), mentions(OutboxMessage.payload, found))
        )
    ).all()
    copies: list[StaffCopy] = []
    web_ids: list[int] = []
    for row in rows:
        if row.message_key and row.status == "sent" and row.external_message_id:
            if not any(row.payload.get(k) for k in UNEDITABLE):
                copies.append(StaffCopy(row.channel, row.chat_id, row.message_key))
            if row.channel == WEB and row.external_message_id.isdigit():
                web_ids.append(int(row.external_message_id))
        row.payload = _tombstone(tombstone, row.message_key)
        session.add(row)
    _tombstone_web(session, web_ids, found, tombstone)
    _tombstone_publications(session, codes, found, tombstone)
    return list(dict.fromkeys(copies))


def _tombstone(text: str, key: str | None) -> dict[str, Any]:
    payload: dict[str, Any] = {"text": text, "choices": []}
    return payload | ({"key": key} if key else {})


def _tombstone_web(
    session: Session, shown: Sequence[int], found: Sequence[str], tombstone: str
) -> None:
    """Web chats keep their own copy of each message, with its later versions."""
    session.exec(
        update(WebMessage)
        .where(
            or_(
                col(WebMessage.id).in_(shown),
                col(WebMessage.replaces).in_(shown),
                mentions(WebMessage.body, found),
            )
        )
        .values(body=_tombstone(tombstone, None))
    )


def _tombstone_publications(
    session: Session, codes: Sequence[str], found: Sequence[str], tombstone: str
) -> None:
    """A story already posted stays counted, but leaves the public page and feed; a digest
    that quoted it keeps only the tombstone."""
    session.exec(
        update(Publication)
        .where(col(Publication.kind) == DAILY_POST, col(Publication.period).in_(codes))
        .values(payload={})
    )
    session.exec(
        update(Publication)
        .where(col(Publication.kind) != DAILY_POST, mentions(Publication.payload, found))
        .values(payload={"text": tombstone})
    )


def scrub_inbox(session: Session, found: Sequence[str]) -> None:
    """Failed inbound events keep their payload for a look; not one that quotes the needles.
    (A handled event's payload is dropped when it is claimed.)"""
    session.exec(
        update(InboxEvent)
        .where(col(InboxEvent.status) == "failed", mentions(InboxEvent.payload, found))
        .values(payload={})
    )


def _is_upload(ref: str) -> bool:
    return ref.startswith(UPLOAD_PREFIX) and ref.removeprefix(UPLOAD_PREFIX).isdigit()


FORGOTTEN_VISITORS = "erasure.forgotten_web_visitors"  # in a session's info, once committed


def note_forgotten_visitor(session: Session, visitor_id: str) -> None:
    """Note for whoever keeps this web visitor's sessions in memory (Database.on_commit)
    that the person behind them was forgotten in this transaction."""
    session.info.setdefault(FORGOTTEN_VISITORS, set()).add(visitor_id)
