"""Showing times to people: stored in UTC, shown in the organisation's zone as dd/mm/yyyy."""

import datetime as dt
from zoneinfo import ZoneInfo

DEFAULT_ZONE = ZoneInfo("Asia/Ho_Chi_Minh")


def show_date(moment: dt.datetime, zone: dt.tzinfo = DEFAULT_ZONE) -> str:
    """'22/11/2026' for a UTC time, in the local zone."""
    return moment.astimezone(zone).strftime("%d/%m/%Y")


def show_datetime(moment: dt.datetime, zone: dt.tzinfo = DEFAULT_ZONE) -> str:
    """'07:30 22/11/2026' for a UTC time, in the local zone (24-hour clock)."""
    return moment.astimezone(zone).strftime("%H:%M %d/%m/%Y")
