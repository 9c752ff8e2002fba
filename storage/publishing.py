"""The stories' records on the event's (or job's) transaction."""

import datetime as dt
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from bot.domain.kinds import PUBLIC_KINDS, Kind
from bot.domain.publishing import (
    DAILY_POST,
    WEEKLY_POST,
    Credit,
    Figures,
    Post,
    StoryState,
    StoryView,
    median_delay,
)
from storage.claims import claim_publication
from storage.models import Attachment, ChannelIdentity, Person, Publication, Story, Ticket


def _view(story: Story, ticket: Ticket, author_name: str | None) -> StoryView:
    return StoryView(
        code=ticket.code,
        kind=ticket.kind,
        state=StoryState(story.state),
        text=story.text,
        credit=Credit(story.credit),
        author_name=author_name if story.credit == Credit.NAMED else None,
        unit_code=ticket.unit_code,
        photo=story.photo_ref,
        photo_hidden=story.photo_hidden,
        created_at=story.created_at,
        approved_at=story.approved_at,
        published_at=story.published_at,
        reason=story.reason,
    )


class SqlPublishingRecords:
    """PublishingRecords on one session."""

    def __init__(self, *, session: Session) -> None:
        self._session = session

    def _rows(self, *conditions: Any) -> list[StoryView]:
        statement = (
            select(Story, Ticket, ChannelIdentity.display_name, Person.profile)
            .join(Ticket, col(Ticket.id) == col(Story.ticket_id))
            .join(Person, col(Person.id) == col(Ticket.author_id), isouter=True)
            .join(
                ChannelIdentity,
                col(ChannelIdentity.person_id) == col(Ticket.author_id),
                isouter=True,
            )
            .where(*conditions)
            .order_by(col(Story.id))
        )
        views: dict[str, StoryView] = {}
        for story, ticket, name, profile in self._session.exec(statement):
            # The name the author typed for this wins over a channel's display name.
            given = (profile or {}).get("given_name")
            views.setdefault(ticket.code, _view(story, ticket, given or name))
        return list(views.values())

    def story(self, code: str) -> StoryView | None:
        """A story by the code of its submission."""
        found = self._rows(col(Ticket.code) == code)
        return found[0] if found else None

    def change_story(self, code: str, expected: StoryState, **changes: object) -> bool:
        """Change a story if it is still in the expected state; False if someone was faster."""
        ticket_id = select(Ticket.id).where(col(Ticket.code) == code).scalar_subquery()
        result = self._session.exec(
            update(Story)
            .where(col(Story.ticket_id) == ticket_id, col(Story.state) == expected)
            .values(**changes)
        )
        return bool(result.rowcount)

    def pool(self) -> list[StoryView]:
        """Approved stories not yet published."""
        return self._rows(col(Story.state) == StoryState.APPROVED)

    def last_published_unit(self) -> str | None:
        """The unit of the most recently published story."""
        statement = (
            select(Ticket.unit_code)
            .join(Story, col(Story.ticket_id) == col(Ticket.id))
            .where(col(Story.state) == StoryState.PUBLISHED)
            .order_by(col(Story.published_at).desc(), col(Story.id).desc())
        )
        return self._session.exec(statement).first()

    def claim(self, kind: str, period: str, now: dt.datetime, status: str = "posted") -> bool:
        """Record a post of this kind for this period; False if it was made before."""
        return claim_publication(
            session=self._session, kind=kind, period=period, now=now, status=status
        )

    def record_post(
        self, kind: str, period: str, payload: dict[str, Any], now: dt.datetime
    ) -> None:
        """Keep a post for the public page and the feed."""
        claim_publication(
            session=self._session, kind=kind, period=period, now=now, payload=payload
        )

    def posts(self, limit: int) -> list[Post]:
        """The latest posts for the public page, newest first (erased ones left out)."""
        rows = self._session.exec(
            select(Publication)
            .where(col(Publication.kind).in_((DAILY_POST, WEEKLY_POST)))
            .order_by(col(Publication.created_at).desc(), col(Publication.id).desc())
            .limit(limit)
        )
        return [
            Post(
                row.kind,
                row.period,
                str(row.payload["text"]),
                row.created_at,
                title=str(row.payload["title"]) if row.payload.get("title") else None,
            )
            for row in rows
            if row.payload.get("text")
        ]

    def with_photo(self, codes: list[str]) -> set[str]:
        """Which of these published stories have a photo to show."""
        stories = self._rows(col(Ticket.code).in_(codes)) if codes else []
        return {s.code for s in stories if s.shown_photo and s.state is StoryState.PUBLISHED}

    def published_photo(self, code: str) -> tuple[str, str] | None:
        """A published story's shown photo and the channel it came in on (its file source)."""
        story = self.story(code)
        ref = story.shown_photo if story and story.state is StoryState.PUBLISHED else None
        if ref is None:
            return None
        channel = self._session.exec(
            select(Attachment.channel)
            .join(Ticket, col(Ticket.id) == col(Attachment.ticket_id))
            .where(col(Ticket.code) == code, col(Attachment.file_ref) == ref)
        ).first()
        return (ref, channel) if channel is not None else None

    def published_between(self, since: dt.datetime, until: dt.datetime) -> list[StoryView]:
        """Stories and ideas published in a period, oldest first."""
        found = self._rows(
            col(Story.state) == StoryState.PUBLISHED,
            col(Story.published_at) >= since,
            col(Story.published_at) < until,
        )
        return sorted(found, key=lambda s: s.published_at or since)

    def ideas_approved_between(self, since: dt.datetime, until: dt.datetime) -> list[StoryView]:
        """Ideas the moderators approved in a period (the week's best), oldest first."""
        return self._rows(
            col(Ticket.kind) == Kind.IDEA,
            col(Story.state).in_((StoryState.APPROVED, StoryState.PUBLISHED)),
            col(Story.approved_at) >= since,
            col(Story.approved_at) < until,
        )

    def figures(self, since: dt.datetime, until: dt.datetime) -> list[Figures]:
        """Per public kind (never confidential reports): submissions received and first
        answered in a period, and the median time to a first answer of those answered."""
        statement = select(Ticket.kind, Ticket.created_at, Ticket.first_answer_at).where(
            col(Ticket.kind).in_(PUBLIC_KINDS),
            (col(Ticket.created_at) >= since) & (col(Ticket.created_at) < until)
            | (col(Ticket.first_answer_at) >= since) & (col(Ticket.first_answer_at) < until),
        )
        received: dict[str, int] = dict.fromkeys(PUBLIC_KINDS, 0)
        delays: dict[str, list[dt.timedelta]] = {kind: [] for kind in PUBLIC_KINDS}
        for kind, created, answered in self._session.exec(statement):
            if since <= created < until:
                received[kind] += 1
            if answered is not None and since <= answered < until:
                delays[kind].append(answered - created)
        return [
            Figures(kind, received[kind], len(delays[kind]), median_delay(delays[kind]))
            for kind in PUBLIC_KINDS
        ]

    def subscribers(self, topic: str) -> list[tuple[str, str, str]]:
        """(channel, chat, language) of everyone reachable who subscribed to a topic, once
        each: a person with linked accounts on their first reachable one."""
        statement = (
            select(ChannelIdentity.channel, ChannelIdentity.chat_id, Person.language, Person)
            .join(Person, col(Person.id) == col(ChannelIdentity.person_id))
            .where(
                col(ChannelIdentity.reachable).is_(True),
                col(Person.stopped_at).is_(None),
                col(Person.banned).is_(False),
            )
            .order_by(col(ChannelIdentity.id))
        )
        found: dict[int | None, tuple[str, str, str]] = {}
        for channel, chat, language, person in self._session.exec(statement):
            if topic in person.subscriptions:
                found.setdefault(person.id, (channel, chat, language))
        return list(found.values())
