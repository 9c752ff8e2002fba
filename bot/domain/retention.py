"""How long data is kept: the moments before which the nightly job prunes, from the
configured periods and the time it runs."""

import calendar
import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class Cutoffs:
    """What was delivered before `delivered` loses its texts; what closed before `closed`
    keeps only anonymous counts."""

    delivered: dt.datetime
    closed: dt.datetime


def months_before(moment: dt.datetime, months: int) -> dt.datetime:
    """The same day and time `months` calendar months earlier (the month's last day when
    that month is shorter)."""
    index = moment.year * 12 + moment.month - 1 - months
    year, month = divmod(index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def cutoffs(now: dt.datetime, *, delivery_days: int, closed_months: int) -> Cutoffs:
    """The retention cut-offs as of `now`."""
    return Cutoffs(now - dt.timedelta(days=delivery_days), months_before(now, closed_months))
