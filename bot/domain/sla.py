"""Answer deadlines in working days: Monday to Friday, public holidays excepted."""

import datetime as dt
from collections.abc import Container
from dataclasses import dataclass
from enum import StrEnum

END_OF_WORKING_DAY = dt.time(17, 0)


def is_working_day(day: dt.date, holidays: Container[dt.date]) -> bool:
    """Monday to Friday and not a public holiday."""
    return day.weekday() < 5 and day not in holidays


def add_working_days(start: dt.date, days: int, holidays: Container[dt.date]) -> dt.date:
    """The date `days` working days after `start` (the start day itself does not count)."""
    day = start
    remaining = days
    while remaining > 0:
        day += dt.timedelta(days=1)
        if is_working_day(day, holidays):
            remaining -= 1
    return day


def due_at(
    received: dt.datetime, days: int, holidays: Container[dt.date], zone: dt.tzinfo
) -> dt.datetime:
    """When an answer is due: the end of the working day `days` working days later, in UTC."""
    local_day = received.astimezone(zone).date()
    due_day = add_working_days(local_day, days, holidays)
    return dt.datetime.combine(due_day, END_OF_WORKING_DAY, tzinfo=zone).astimezone(dt.UTC)


def shift_working_days(
    moment: dt.datetime, days: int, holidays: Container[dt.date], zone: dt.tzinfo
) -> dt.datetime:
    """The same local time `days` working days later (earlier when negative), in UTC."""
    local = moment.astimezone(zone)
    day, step = local.date(), 1 if days >= 0 else -1
    remaining = abs(days)
    while remaining > 0:
        day += dt.timedelta(days=step)
        if is_working_day(day, holidays):
            remaining -= 1
    return dt.datetime.combine(day, local.timetz().replace(tzinfo=None), tzinfo=zone).astimezone(
        dt.UTC
    )


class Nudge(StrEnum):
    """What the deadline sweep sends about an open submission."""

    REMIND = "remind"
    ESCALATE = "escalate"
    ESCALATE_ADMIN = "escalate_admin"


@dataclass(frozen=True)
class NudgePolicy:
    """When each nudge is due, in working days around the deadline."""

    remind_before: int
    admin_after: int
    holidays: Container[dt.date]
    zone: dt.tzinfo

    def moments(self, due: dt.datetime) -> list[tuple[Nudge, dt.datetime]]:
        """Each nudge with the moment it becomes due, in order."""
        return [
            (Nudge.REMIND, shift_working_days(due, -self.remind_before, self.holidays, self.zone)),
            (Nudge.ESCALATE, due),
            (
                Nudge.ESCALATE_ADMIN,
                shift_working_days(due, self.admin_after, self.holidays, self.zone),
            ),
        ]

    def latest(self, due: dt.datetime, now: dt.datetime) -> Nudge | None:
        """The most advanced nudge that is due now (earlier ones are superseded)."""
        reached = [nudge for nudge, moment in self.moments(due) if moment <= now]
        return reached[-1] if reached else None
