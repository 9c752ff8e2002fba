"""The stories' records on the event's (or job's) transaction."""

import datetime as dt
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from bot.domain.publishing import Credit, StoryState, StoryView
from storage.models import ChannelIdentity, Person, Story, Ticket
from storage.repositories import claim_publication


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
            select(Story, Ticket, ChannelIdentity.display_name)
            .join(Ticket, col(Ticket.id) == col(Story.ticket_id))
            .join(
                ChannelIdentity,
                col(ChannelIdentity.person_id) == col(Ticket.author_id),
                isouter=True,
            )
            .where(*conditions)
            .order_by(col(Story.id))
        )
        views: dict[str, StoryView] = {}
        for story, ticket, name in self._session.exec(statement):
            views.setdefault(ticket.code, _view(story, ticket, name))
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

    def subscribers(self, topic: str) -> list[tuple[str, str, str]]:
        """(channel, chat, language) of everyone reachable who subscribed to a topic."""
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
        return [
            (channel, chat, language)
            for channel, chat, language, person in self._session.exec(statement)
            if topic in person.subscriptions
        ]
