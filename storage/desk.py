"""The staff desk's records on the event's transaction: staff, tickets, cards, audit."""

import datetime as dt
import secrets
from typing import Any

from sqlalchemy import and_, func, not_, update
from sqlmodel import Session, col, select

from bot.domain.desk import CARD_PREFIX, AuditLine, Change, Staff, TicketView, card_key
from bot.domain.grants import Grant, may_grant
from bot.domain.kinds import Kind, Role
from bot.domain.lifecycle import OPEN, Status
from bot.domain.messages import Recipient, SharedFile
from bot.domain.tickets import ThreadEntry
from storage.dialogues import add_identity, create_dialogue, load_dialogue
from storage.models import (
    Attachment,
    AuditEntry,
    ChannelIdentity,
    Invite,
    OutboxMessage,
    Person,
    StaffMember,
    Story,
    Ticket,
    TicketMessage,
    utcnow,
)
from storage.tokens import digest
from storage.youth import SENDER


def _staff(row: StaffMember) -> Staff:
    return Staff(
        code=row.code,
        name=row.name,
        roles=frozenset(row.roles),
        units=frozenset(row.units),
        categories=frozenset(row.categories),
        person_id=row.person_id,
        active=row.active,
    )


class SqlDeskRecords:
    """DeskRecords on one session."""

    def __init__(self, *, session: Session) -> None:
        self._session = session

    # ---- staff ----------------------------------------------------------------------

    def staff(self, code: str) -> Staff | None:
        """A staff member by code, active or not."""
        row = self._session.get(StaffMember, code)
        return _staff(row) if row else None

    def staff_of_person(self, person_id: int) -> Staff | None:
        """The active staff member a person is, if any."""
        row = self._session.exec(
            select(StaffMember).where(
                StaffMember.person_id == person_id, col(StaffMember.active).is_(True)
            )
        ).first()
        return _staff(row) if row else None

    def all_staff(self) -> list[Staff]:
        """Every active staff member, by name."""
        rows = self._session.exec(
            select(StaffMember)
            .where(col(StaffMember.active).is_(True))
            .order_by(col(StaffMember.name))
        )
        return [_staff(r) for r in rows]

    def chats_of(self, code: str) -> list[tuple[str, str]]:
        """The reachable (channel, chat) pairs of a staff member."""
        statement = (
            select(ChannelIdentity.channel, ChannelIdentity.chat_id)
            .join(StaffMember, col(StaffMember.person_id) == col(ChannelIdentity.person_id))
            .where(
                StaffMember.code == code,
                col(StaffMember.active).is_(True),
                col(ChannelIdentity.reachable).is_(True),
            )
            .order_by(col(ChannelIdentity.id))
        )
        return [(channel, chat) for channel, chat in self._session.exec(statement)]

    def create_invite(
        self, *, token: str, roles: list[str], units: list[str], by: Staff, expires: dt.datetime
    ) -> None:
        """Store a one-time invitation (only the hash of its token)."""
        self._session.add(
            Invite(
                token_hash=digest(token),
                roles=roles,
                units=units,
                created_by=by.code,
                expires_at=expires,
            )
        )

    def accept_invite(
        self, *, token: str, person_id: int, name: str, now: dt.datetime
    ) -> Staff | None:
        """Turn an unused, unexpired invitation into a staff member; None if it is not valid.

        An invitation bound to a staff member signs that member in; the first person to use
        one becomes the member's person, so the member keeps their chats on every channel.
        Any other invitation holds only while its maker may still give its roles.
        """
        invite = self._session.get(Invite, digest(token))
        if invite is None or (invite.staff_code is None and not self._may_give(invite)):
            return None
        used = self._session.exec(
            update(Invite)
            .where(
                col(Invite.token_hash) == invite.token_hash,
                col(Invite.used_at).is_(None),
                col(Invite.expires_at) > now,
            )
            .values(used_at=now, used_by=person_id)
        )
        if not used.rowcount:
            return None
        if invite.staff_code is not None:
            row = self._session.get(StaffMember, invite.staff_code)
            if row is None or not row.active:
                return None
            row.person_id = row.person_id or person_id
        else:
            code = f"p{person_id}"
            row = self._session.get(StaffMember, code) or StaffMember(
                code=code, name=name, source="invite"
            )
            row.name, row.roles, row.units, row.active = (
                name[:200],
                invite.roles,
                invite.units,
                True,
            )
            row.person_id = person_id
        self._session.add(row)
        self._set_person_staff(person_id, row.code)
        return _staff(row)

    def _may_give(self, invite: Invite) -> bool:
        maker = self.staff(invite.created_by)
        return maker is not None and may_grant(maker, invite.roles, Grant.INVITE)

    def invited_person(self, token: str, now: dt.datetime) -> int | None:
        """The person already behind the staff member a valid invitation signs in, if any."""
        return self._session.exec(
            select(StaffMember.person_id)
            .join(Invite, col(Invite.staff_code) == col(StaffMember.code))
            .where(
                col(Invite.token_hash) == digest(token),
                col(Invite.used_at).is_(None),
                col(Invite.expires_at) > now,
            )
        ).first()

    def revoke(self, code: str) -> bool:
        """Take a staff member's roles away; False if there is no such active member."""
        row = self._session.get(StaffMember, code)
        if row is None or not row.active:
            return False
        row.active = False
        self._session.add(row)
        if row.person_id is not None:
            self._set_person_staff(row.person_id, None)
        return True

    def set_banned(self, code: str, *, banned: bool) -> bool:
        """Ban or unban the sender of a submission; False if it has no sender any more."""
        ticket = self._row(code)
        if ticket is None or ticket.author_id is None:
            return False
        self._session.exec(
            update(Person).where(col(Person.id) == ticket.author_id).values(banned=banned)
        )
        return True

    def _set_person_staff(self, person_id: int, code: str | None) -> None:
        self._session.exec(
            update(Person).where(col(Person.id) == person_id).values(staff_code=code)
        )

    # ---- tickets --------------------------------------------------------------------

    def ticket(self, code: str) -> TicketView | None:
        """A submission by code."""
        row = self._row(code)
        return self._views([row])[0] if row else None

    def open_tickets(self, unit_codes: frozenset[str] | None, limit: int) -> list[TicketView]:
        """Open submissions the desk works on (in these units, or all), earliest deadline
        first. A story offered for publication is the moderators' work, not the desk's."""
        moderated = select(Story.id).where(col(Story.ticket_id) == Ticket.id).exists()
        statement = select(Ticket).where(
            col(Ticket.status).in_([s.value for s in OPEN]),
            not_(and_(col(Ticket.kind) == Kind.STORY.value, moderated)),
        )
        if unit_codes is not None:
            statement = statement.where(col(Ticket.unit_code).in_(sorted(unit_codes)))
        statement = statement.order_by(col(Ticket.due_at), col(Ticket.id)).limit(limit)
        return self._views(list(self._session.exec(statement)))

    def thread(self, code: str, *, internal: bool) -> list[ThreadEntry]:
        """A submission's messages, internal notes included when asked."""
        ticket = self._row(code)
        if ticket is None:
            return []
        statement = select(TicketMessage).where(TicketMessage.ticket_id == ticket.id)
        if not internal:
            statement = statement.where(col(TicketMessage.internal).is_(False))
        messages = self._session.exec(statement.order_by(col(TicketMessage.id)))
        return [
            ThreadEntry(m.author_role != SENDER, m.body, m.created_at, internal=m.internal)
            for m in messages
        ]

    def files(self, code: str) -> list[SharedFile]:
        """The files and locations the sender attached to a submission, oldest first."""
        ticket = self._row(code)
        if ticket is None:
            return []
        attached = self._session.exec(
            select(Attachment)
            .where(Attachment.ticket_id == ticket.id)
            .order_by(col(Attachment.id))
        )
        return [SharedFile(a.channel, a.media_kind, a.file_ref) for a in attached]

    def change(self, code: str, *, expected: Status, change: Change, now: dt.datetime) -> bool:
        """Apply a change if the submission is still in the expected status (one statement,
        so two staff acting at once cannot both succeed)."""
        values: dict[str, Any] = {"status": change.status.value, "updated_at": now}
        if change.assignee_code is not None:
            member = self._session.get_one(StaffMember, change.assignee_code)
            values["assignee_id"] = member.person_id
        if change.clear_assignee:
            values["assignee_id"] = None
        if change.unit_code is not None:
            values["unit_code"] = change.unit_code
        if change.answered:
            values["first_answer_at"] = func.coalesce(Ticket.first_answer_at, now)
        if change.status is not expected:
            ended = change.status in (Status.CLOSED, Status.REJECTED)
            values["closed_at"] = now if ended else None
        result = self._session.exec(
            update(Ticket)
            .where(col(Ticket.code) == code, col(Ticket.status) == expected.value)
            .values(**values)
        )
        return bool(result.rowcount)

    def add_message(
        self, code: str, *, author: Staff, body: str, internal: bool, now: dt.datetime
    ) -> None:
        """Add a staff message or internal note to a submission's thread."""
        ticket = self._row(code)
        assert ticket is not None
        assert ticket.id is not None
        self._session.add(
            TicketMessage(
                ticket_id=ticket.id,
                author_id=author.person_id,
                author_role="staff",
                internal=internal,
                body=body,
                created_at=now,
            )
        )

    def audit(
        self,
        code: str,
        *,
        actor: Staff,
        action: str,
        before: dict[str, str],
        after: dict[str, str],
        now: dt.datetime,
    ) -> None:
        """Record a staff action (the actor's code is kept with the entry)."""
        ticket = self._row(code)
        self._session.add(
            AuditEntry(
                at=now,
                actor_id=actor.person_id,
                action=action,
                ticket_id=ticket.id if ticket else None,
                before=before,
                after={**after, "by": actor.code},
            )
        )

    def audit_log(self, code: str) -> list[AuditLine]:
        """The recorded actions on a submission, oldest first."""
        ticket = self._row(code)
        if ticket is None:
            return []
        entries = self._session.exec(
            select(AuditEntry)
            .where(AuditEntry.ticket_id == ticket.id)
            .order_by(col(AuditEntry.id))
        )
        lines = []
        for entry in entries:
            after = dict(entry.after)
            actor = self.staff(str(after.pop("by", "")))
            lines.append(
                AuditLine(
                    entry.at, actor.name if actor else "?", entry.action, entry.before, after
                )
            )
        return lines

    def sender(self, code: str) -> Recipient | None:
        """Where the sender of a submission can be reached, in their language: on the
        channel they filed it on while that account is reachable, else their first one."""
        ticket = self._row(code)
        if ticket is None or ticket.author_id is None:
            return None
        row = self._session.exec(
            select(ChannelIdentity.channel, ChannelIdentity.chat_id, Person.language)
            .join(Person, col(Person.id) == col(ChannelIdentity.person_id))
            .where(
                ChannelIdentity.person_id == ticket.author_id,
                col(ChannelIdentity.reachable).is_(True),
            )
            # Linked accounts: the one on the channel it was filed on first.
            .order_by(col(ChannelIdentity.channel) != (ticket.channel or ""))
            .order_by(col(ChannelIdentity.id))
        ).first()
        return Recipient(row[0], row[1], row[2]) if row else None

    # ---- cards ----------------------------------------------------------------------

    def card_chats(self, code: str) -> list[tuple[str, str]]:
        """The (channel, chat) pairs that show a card of this submission."""
        statement = (
            select(OutboxMessage.channel, OutboxMessage.chat_id)
            .where(OutboxMessage.message_key == card_key(code))
            .group_by(col(OutboxMessage.channel), col(OutboxMessage.chat_id))
            .order_by(func.min(OutboxMessage.id))
        )
        return [(channel, chat) for channel, chat in self._session.exec(statement)]

    def card_replied_to(self, channel: str, chat_id: str, message_id: str) -> str | None:
        """The code of the submission whose card is this message, if it is one."""
        key = self._session.exec(
            select(OutboxMessage.message_key).where(
                OutboxMessage.chat_id == chat_id,
                col(OutboxMessage.message_key).startswith(CARD_PREFIX),
                OutboxMessage.channel == channel,
                OutboxMessage.external_message_id == message_id,
            )
        ).first()
        return key.removeprefix(CARD_PREFIX) if key else None

    # ---- helpers --------------------------------------------------------------------

    def _row(self, code: str) -> Ticket | None:
        return self._session.exec(select(Ticket).where(Ticket.code == code)).first()

    def _senders(self, shown: set[int]) -> tuple[dict[int, str], dict[int, str]]:
        """Named senders' names and contacts: the name they typed wins over a channel's."""
        names: dict[int, str] = {}
        for person_id, name in self._session.exec(
            select(ChannelIdentity.person_id, ChannelIdentity.display_name).where(
                col(ChannelIdentity.person_id).in_(shown)
            )
        ):
            if name:
                names.setdefault(person_id, name)
        contacts: dict[int, str] = {}
        for author, profile in self._session.exec(
            select(Person.id, Person.profile).where(col(Person.id).in_(shown))
        ):
            if author is not None and profile.get("given_name"):
                names[author] = profile["given_name"]
            if author is not None and profile.get("contact"):
                contacts[author] = profile["contact"]
        return names, contacts

    def _views(self, tickets: list[Ticket]) -> list[TicketView]:
        """Tickets as staff see them, with holders, file counts and names read in one query
        each, however many tickets there are (the sweep and /queue read hundreds)."""
        ids = [t.id for t in tickets]
        holders = {t.assignee_id for t in tickets if t.assignee_id is not None}
        staff = {
            row.person_id: row
            for row in self._session.exec(
                select(StaffMember).where(col(StaffMember.person_id).in_(holders))
            )
        }
        files: dict[int | None, int] = dict(
            self._session.exec(
                select(Attachment.ticket_id, func.count())
                .where(col(Attachment.ticket_id).in_(ids))
                .group_by(col(Attachment.ticket_id))
            ).all()
        )
        shown = {t.author_id for t in tickets if not _hidden(t) and t.author_id is not None}
        names, contacts = self._senders(shown)
        views = []
        for t in tickets:
            holder = staff.get(t.assignee_id)
            named = not _hidden(t) and t.author_id is not None
            views.append(
                TicketView(
                    code=t.code,
                    kind=Kind(t.kind),
                    category=t.category,
                    unit_code=t.unit_code,
                    status=Status(t.status),
                    text=t.text,
                    attachments=files.get(t.id, 0),
                    created_at=t.created_at,
                    updated_at=t.updated_at,
                    due_at=t.due_at,
                    assignee_code=holder.code if holder else None,
                    assignee_name=holder.name if holder else None,
                    sender_name=names.get(t.author_id) if named and t.author_id else None,
                    sender_contact=contacts.get(t.author_id) if named and t.author_id else None,
                    anonymous=_hidden(t),
                    language=t.language,
                )
            )
        return views


def _hidden(ticket: Ticket) -> bool:
    """Anonymous and confidential senders are never named to staff."""
    return ticket.anonymous or ticket.kind == Kind.CONFIDENTIAL


def sync_staff(*, session: Session, members: list[tuple[Staff, dict[str, str]]]) -> None:
    """Make the staff table match config.yaml: add and update its members (with their
    account on each channel), and deactivate config members that were removed from it."""
    declared = {staff.code for staff, _ in members}
    for staff, identities in members:
        row = session.get(StaffMember, staff.code) or StaffMember(
            code=staff.code, name=staff.name, source="config"
        )
        row.name, row.roles, row.source, row.active = (
            staff.name,
            sorted(staff.roles),
            "config",
            True,
        )
        row.units, row.categories = sorted(staff.units), sorted(staff.categories)
        if identities:
            row.person_id = _link_identities(session, identities)
        session.add(row)
        session.flush()
        if row.person_id is not None:
            session.exec(
                update(Person).where(col(Person.id) == row.person_id).values(staff_code=row.code)
            )
    removed = session.exec(
        select(StaffMember).where(
            StaffMember.source == "config", col(StaffMember.code).not_in(declared)
        )
    )
    for row in removed:
        row.active = False
        session.add(row)
        if row.person_id is not None:
            session.exec(
                update(Person).where(col(Person.id) == row.person_id).values(staff_code=None)
            )


def _link_identities(session: Session, identities: dict[str, str]) -> int:
    """The one person behind a member's declared accounts: the first known account's person
    (else a new one); every other account is made theirs, so cards reach each channel."""
    known = {
        channel: load_dialogue(session=session, channel=channel, external_id=external_id)
        for channel, external_id in identities.items()
    }
    found = next((d.person_id for d in known.values() if d is not None), None)
    for channel, external_id in identities.items():
        dialogue = known[channel]
        if found is None:
            found = create_dialogue(
                session=session,
                channel=channel,
                external_id=external_id,
                chat_id=external_id,
                language="vi",
            ).person_id
        elif dialogue is None:
            add_identity(
                session=session,
                person_id=found,
                channel=channel,
                external_id=external_id,
                now=utcnow(),
            )
        elif dialogue.person_id != found:
            # Config is the authority on whose account this is (e.g. used before as a youth).
            session.exec(
                update(ChannelIdentity)
                .where(
                    col(ChannelIdentity.channel) == channel,
                    col(ChannelIdentity.external_id) == external_id,
                )
                .values(person_id=found)
            )
    assert found is not None
    return found


def create_sign_in(*, session: Session, staff_code: str, expires: dt.datetime) -> str | None:
    """A one-time invitation that signs in an existing staff member; None if there is none."""
    row = session.get(StaffMember, staff_code)
    if row is None or not row.active:
        return None
    token = secrets.token_urlsafe(12)
    session.add(
        Invite(
            token_hash=digest(token),
            roles=row.roles,
            units=row.units,
            created_by="cau-noi",
            expires_at=expires,
            staff_code=staff_code,
        )
    )
    return token


def admin_recipients(*, session: Session) -> list[Recipient]:
    """Every reachable chat of an active admin, with the language its person reads."""
    statement = (
        select(
            StaffMember.roles, ChannelIdentity.channel, ChannelIdentity.chat_id, Person.language
        )
        .join(ChannelIdentity, col(ChannelIdentity.person_id) == col(StaffMember.person_id))
        .join(Person, col(Person.id) == col(StaffMember.person_id))
        .where(col(StaffMember.active).is_(True), col(ChannelIdentity.reachable).is_(True))
        .order_by(col(StaffMember.code), col(ChannelIdentity.id))
    )
    return [
        Recipient(channel, chat_id, language)
        for roles, channel, chat_id, language in session.exec(statement)
        if Role.ADMIN in roles
    ]
