"""The records of one transaction, as the ports the dispatcher, the handlers and the jobs use.
The composition root (bot/app.py) chooses the factory; nothing else names the SQL classes."""

from collections.abc import Callable
from dataclasses import dataclass

from sqlmodel import Session

from bot.domain.broadcast_ops import BroadcastRecords
from bot.domain.desk import DeskRecords
from bot.domain.publishing import PublishingRecords
from bot.domain.tickets import YouthRecords
from storage.broadcast_desk import SqlBroadcastRecords
from storage.desk import SqlDeskRecords
from storage.publishing import SqlPublishingRecords
from storage.youth import SqlYouthRecords


@dataclass(frozen=True)
class Records:
    """The desk's, the stories' and the broadcasts' records on one session, and a person's
    youth records."""

    desk: DeskRecords
    publishing: PublishingRecords
    broadcasts: BroadcastRecords
    session: Session

    def youth(self, *, person_id: int, channel: str, external_id: str) -> YouthRecords:
        """The youth records of the person behind one channel account."""
        return SqlYouthRecords(
            session=self.session, person_id=person_id, channel=channel, external_id=external_id
        )


RecordsFactory = Callable[[Session], Records]


def sql_records(session: Session) -> Records:
    """The SQL records on a session."""
    return Records(
        desk=SqlDeskRecords(session=session),
        publishing=SqlPublishingRecords(session=session),
        broadcasts=SqlBroadcastRecords(session=session),
        session=session,
    )
