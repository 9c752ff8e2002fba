"""The youth dialogue's records, scoped to one person: their submissions, data and erasure."""

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, update
from sqlmodel import Session, col, select

from bot.domain.kinds import Kind
from bot.domain.lifecycle import Status
from bot.domain.linking import LinkCode
from bot.domain.messages import Recipient
from bot.domain.tickets import (
    AttachmentRef,
    StaffCopy,
    Submission,
    ThreadEntry,
    TicketSummary,
)
from storage import erasure, linking, menus, push
from storage.models import (
    Attachment,
    AuditEntry,
    BroadcastRecipient,
    ChannelIdentity,
    Conversation,
    Counter,
    Invite,
    OutboxMessage,
    Person,
    StaffMember,
    Story,
    Ticket,
    TicketMessage,
    Unit,
    WebMessage,
    WebVisitor,
)
from storage.sql import upsert_insert
from storage.topics import keep_topics

SENDER = "youth"
PUBLISHABLE = (Kind.STORY, Kind.IDEA)
PUBLISH_CREDITS = ("named", "anonymous")
WEB = erasure.WEB  # the web chat's channel name (storage.web imports this module)


def _summary(ticket: Ticket) -> TicketSummary:
    return TicketSummary(
        code=ticket.code,
        kind=Kind(ticket.kind),
        category=ticket.category,
        status=Status(ticket.status),
        created_at=ticket.created_at,
        updated_at=ticket.updated_at,
        due_at=ticket.due_at,
        first_answer_at=ticket.first_answer_at,
        closed_at=ticket.closed_at,
        rating=ticket.rating,
        assigned=ticket.assignee_id is not None,
    )


class SqlYouthRecords:
    """YouthRecords on the dispatcher's session, for the person behind one channel account."""

    def __init__(
        self, *, session: Session, person_id: int, channel: str, external_id: str
    ) -> None:
        self._session = session
        self._person_id = person_id
        self._channel = channel
        self._external_id = external_id

    def next_number(self, sequence: str) -> int:
        """The next number of a code sequence (an atomic upsert; never handed out twice)."""
        statement = (
            upsert_insert(self._session)(Counter)
            .values(name=sequence, value=1)
            .on_conflict_do_update(index_elements=["name"], set_={"value": Counter.value + 1})
            .returning(col(Counter.value))
        )
        number: int = self._session.exec(statement).scalar_one()
        return number

    def submit(self, submission: Submission, *, now: dt.datetime) -> None:
        """File a submission with its first thread entry and its attachments."""
        ticket = Ticket(
            code=submission.code,
            kind=submission.kind,
            category=submission.category,
            unit_code=submission.unit_code,
            author_id=self._person_id,
            channel=self._channel,
            anonymous=submission.anonymous,
            publish_consent=submission.publish,
            language=submission.language,
            text=submission.text,
            created_at=now,
            updated_at=now,
            due_at=submission.due_at,
        )
        self._session.add(ticket)
        self._session.flush()
        self._add_message(ticket, submission.text, submission.attachments, now)
        self._offer_for_publication(ticket, submission, now)
        if submission.display_name and not submission.anonymous:
            self._identity().display_name = submission.display_name[:200]

    def _offer_for_publication(
        self, ticket: Ticket, submission: Submission, now: dt.datetime
    ) -> None:
        """A story or idea whose author agreed to publication waits for moderation."""
        if submission.kind not in PUBLISHABLE or submission.publish not in PUBLISH_CREDITS:
            return
        assert ticket.id is not None
        photos = [a.file_ref for a in submission.attachments if a.media_kind == "photo"]
        self._session.add(
            Story(
                ticket_id=ticket.id,
                text=submission.text,
                credit=submission.publish,
                photo_ref=photos[0] if photos else None,
                created_at=now,
            )
        )

    def submissions_since(self, since: dt.datetime) -> int:
        """How many submissions this person filed since a moment."""
        statement = (
            select(func.count())
            .select_from(Ticket)
            .where(Ticket.author_id == self._person_id, Ticket.created_at >= since)
        )
        return self._session.exec(statement).one()

    def my_tickets(self, limit: int) -> list[TicketSummary]:
        """This person's latest submissions, most recently active first."""
        statement = (
            select(Ticket)
            .where(Ticket.author_id == self._person_id)
            .order_by(col(Ticket.updated_at).desc(), col(Ticket.id).desc())
            .limit(limit)
        )
        return [_summary(t) for t in self._session.exec(statement)]

    def my_ticket(self, code: str) -> TicketSummary | None:
        """One of this person's submissions; None for anyone else's."""
        ticket = self._own(code)
        return _summary(ticket) if ticket else None

    def thread(self, code: str) -> list[ThreadEntry]:
        """The sender's and staff's public messages on their submission, oldest first."""
        ticket = self._own(code)
        if ticket is None:
            return []
        counts = dict(
            self._session.exec(
                select(Attachment.message_id, func.count())
                .where(Attachment.ticket_id == ticket.id)
                .group_by(col(Attachment.message_id))
            ).all()
        )
        messages = self._session.exec(
            select(TicketMessage)
            .where(TicketMessage.ticket_id == ticket.id, col(TicketMessage.internal).is_(False))
            .order_by(col(TicketMessage.id))
        )
        return [
            ThreadEntry(m.author_role != SENDER, m.body, m.created_at, counts.get(m.id, 0))
            for m in messages
        ]

    def add_to_ticket(
        self,
        code: str,
        text: str,
        attachments: tuple[AttachmentRef, ...],
        status: Status,
        now: dt.datetime,
    ) -> None:
        """Append the sender's message to their submission."""
        ticket = self._own(code)
        if ticket is None:
            return
        self._add_message(ticket, text, attachments, now)
        ticket.status = status
        ticket.updated_at = now
        self._session.add(ticket)

    def set_status(self, code: str, status: Status, now: dt.datetime) -> None:
        """Close or reopen this person's submission."""
        ticket = self._own(code)
        if ticket is None:
            return
        ticket.status = status
        ticket.updated_at = now
        ticket.closed_at = now if status is Status.CLOSED else None
        self._session.add(ticket)

    def rate(self, code: str, rating: int, comment: str | None, now: dt.datetime) -> None:
        """Record the sender's rating of the answer."""
        ticket = self._own(code)
        if ticket is None:
            return
        ticket.rating = rating
        ticket.rating_comment = comment
        ticket.updated_at = now
        self._session.add(ticket)

    def export(self) -> dict[str, Any]:
        """Everything we hold about this person, for them to take away."""
        person = self._session.get_one(Person, self._person_id)
        unit = self._session.get(Unit, person.unit_code) if person.unit_code else None
        identities = self._session.exec(
            select(ChannelIdentity).where(ChannelIdentity.person_id == self._person_id)
        )
        tickets = self._session.exec(
            select(Ticket).where(Ticket.author_id == self._person_id).order_by(col(Ticket.id))
        ).all()
        return {
            "person": {
                "language": person.language,
                "unit": unit.name if unit else None,
                "profile": person.profile,
                "age_group": person.age_group,
                "consent_at": _iso(person.consent_at),
                "always_anonymous": person.always_anonymous,
                "subscriptions": person.subscriptions,
                "stopped_at": _iso(person.stopped_at),
                "created_at": _iso(person.created_at),
            },
            "accounts": [
                {"channel": i.channel, "id": i.external_id, "name": i.display_name}
                for i in identities
            ],
            "submissions": [self._export_ticket(t) for t in tickets],
        }

    def forget(self, now: dt.datetime, *, tombstone: str) -> list[StaffCopy]:
        """Delete this person and everything they wrote, everywhere it was copied; their
        submissions stay only as anonymous counts (kind, category, unit, status, dates)."""
        session = self._session
        tickets = session.exec(select(Ticket).where(Ticket.author_id == self._person_id)).all()
        identities = session.exec(
            select(ChannelIdentity).where(ChannelIdentity.person_id == self._person_id)
        ).all()
        codes = [t.code for t in tickets]
        profile = session.get_one(Person, self._person_id).profile
        typed = [profile.get("given_name"), profile.get("contact")]
        found = erasure.needles(
            codes, [*(i.display_name for i in identities), *typed], self._texts_written(tickets)
        )
        for identity in identities:
            self._forget_account(identity)
        copies = erasure.tombstone_copies(session, codes, found, tombstone)
        erasure.scrub_inbox(session, [*found, *(i.external_id for i in identities)])
        erasure.strip_tickets(session, [t.id for t in tickets if t.id is not None], now)
        self._unlink_person()
        return copies

    def _texts_written(self, tickets: Sequence[Ticket]) -> list[str | None]:
        """Everything this person wrote: submissions, thread messages, stories, comments."""
        bodies = self._session.exec(
            select(TicketMessage.body).where(TicketMessage.author_id == self._person_id)
        ).all()
        ids = [t.id for t in tickets]
        stories = self._session.exec(select(Story.text).where(col(Story.ticket_id).in_(ids)))
        comments = [t.rating_comment for t in tickets]
        return [*(t.text for t in tickets), *bodies, *stories, *comments]

    def _forget_account(self, identity: ChannelIdentity) -> None:
        """One channel account: what was sent to it, its dialogue, its web chat."""
        session = self._session
        session.exec(
            delete(OutboxMessage).where(
                col(OutboxMessage.channel) == identity.channel,
                col(OutboxMessage.chat_id) == identity.chat_id,
            )
        )
        session.exec(
            delete(Conversation).where(
                col(Conversation.channel) == identity.channel,
                col(Conversation.external_id) == identity.external_id,
            )
        )
        menus.forget_chat(session=session, channel=identity.channel, chat_id=identity.chat_id)
        if identity.channel == WEB:
            _forget_web_chat(session, identity.external_id)
        session.exec(
            delete(BroadcastRecipient).where(col(BroadcastRecipient.identity_id) == identity.id)
        )
        session.delete(identity)

    def _unlink_person(self) -> None:
        """Delete the person; rows that only pointed at them (as staff, say) stay, unlinked."""
        session, me = self._session, self._person_id
        session.exec(
            update(TicketMessage).where(col(TicketMessage.author_id) == me).values(author_id=None)
        )
        session.exec(update(Ticket).where(col(Ticket.assignee_id) == me).values(assignee_id=None))
        session.exec(
            update(AuditEntry).where(col(AuditEntry.actor_id) == me).values(actor_id=None)
        )
        session.exec(
            update(StaffMember).where(col(StaffMember.person_id) == me).values(person_id=None)
        )
        session.exec(update(Invite).where(col(Invite.used_by) == me).values(used_by=None))
        linking.forget_codes(session=session, person_id=me)
        session.flush()
        keep_topics(session=session, person_id=me, topics=())
        session.exec(delete(Person).where(col(Person.id) == me))

    # ---- linking accounts ------------------------------------------------------------

    def new_link_code(self, code: str, *, expires: dt.datetime, now: dt.datetime) -> bool:
        """Give this person `code` for linking, told in this account's chat (replacing any
        earlier code of theirs); False when someone else's live code is the same."""
        return linking.new_code(
            session=self._session,
            person_id=self._person_id,
            account=self._identity(),
            code=code,
            expires=expires,
            now=now,
        )

    def link_code(self, code: str) -> LinkCode | None:
        """The stored code these digits are, whoever's it is."""
        return linking.find_code(session=self._session, code=code)

    def join(self, code: str, *, now: dt.datetime) -> Recipient:
        """Move this account's person, with all their accounts and submissions, to the
        maker of a live code, and use the code up; the chat it was given in, to be told."""
        return linking.join(session=self._session, person_id=self._person_id, code=code, now=now)

    def unlink(self) -> bool:
        """Give this account a new person of its own (the submissions stay); False when it
        is its person's only account."""
        return linking.unlink(session=self._session, account=self._identity())

    # ---- helpers ---------------------------------------------------------------------

    def _own(self, code: str) -> Ticket | None:
        statement = select(Ticket).where(Ticket.code == code, Ticket.author_id == self._person_id)
        return self._session.exec(statement).first()

    def _identity(self) -> ChannelIdentity:
        statement = select(ChannelIdentity).where(
            ChannelIdentity.channel == self._channel,
            ChannelIdentity.external_id == self._external_id,
        )
        return self._session.exec(statement).one()

    def _add_message(
        self,
        ticket: Ticket,
        text: str,
        attachments: tuple[AttachmentRef, ...],
        now: dt.datetime,
    ) -> None:
        assert ticket.id is not None
        message = TicketMessage(
            ticket_id=ticket.id,
            author_id=self._person_id,
            author_role=SENDER,
            body=text,
            created_at=now,
        )
        self._session.add(message)
        self._session.flush()
        for item in attachments:
            self._session.add(
                Attachment(
                    ticket_id=ticket.id,
                    message_id=message.id,
                    channel=self._channel,
                    media_kind=item.media_kind,
                    file_ref=item.file_ref,
                    size_bytes=item.size_bytes,
                    created_at=now,
                )
            )

    def _export_ticket(self, ticket: Ticket) -> dict[str, Any]:
        return {
            "code": ticket.code,
            "kind": ticket.kind,
            "category": ticket.category,
            "status": ticket.status,
            "anonymous": ticket.anonymous,
            "created_at": _iso(ticket.created_at),
            "rating": ticket.rating,
            "thread": [
                {
                    "from": "staff" if e.from_staff else "you",
                    "text": e.body,
                    "at": _iso(e.at),
                }
                for e in self.thread(ticket.code)
            ],
        }


def _forget_web_chat(session: Session, visitor_id: str) -> None:
    """A web visitor's chat, uploads, push subscriptions and resume link (their browser
    session stays, empty)."""
    session.exec(delete(WebMessage).where(col(WebMessage.chat_id) == visitor_id))
    erasure.note_forgotten_visitor(session, visitor_id)
    erasure.delete_uploads(session, visitor_id=visitor_id)
    push.forget_chat(session=session, chat_id=visitor_id)
    session.exec(
        update(WebVisitor).where(col(WebVisitor.id) == visitor_id).values(resume_hash=None)
    )


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.isoformat() if moment else None
