"""A person's subscriptions as rows (PersonTopic), kept in step with Person.subscriptions
wherever those change, so that a broadcast filters its audience by topic in SQL."""

from collections.abc import Iterable

from sqlalchemy import delete, insert
from sqlmodel import Session, col

from storage.models import PersonTopic
from storage.sql import core


def keep_topics(*, session: Session, person_id: int, topics: Iterable[str]) -> None:
    """Make the person's topic rows exactly these."""
    core(session, delete(PersonTopic).where(col(PersonTopic.person_id) == person_id))
    rows = [{"topic": topic, "person_id": person_id} for topic in sorted(set(topics))]
    if rows:
        core(session, insert(PersonTopic), rows)
