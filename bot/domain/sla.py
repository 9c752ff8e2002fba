"""Answer deadlines in working days: Monday to Friday, public holidays excepted."""

import datetime as dt
from collections.abc import Container

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
