"""Claims that make a post or another once-only send happen once, across processes."""

import datetime as dt
from typing import Any

from sqlmodel import Session, col

from storage.models import (
    Publication,
)
from storage.sql import core, upsert_insert


def claim_publication(
    *,
    session: Session,
    kind: str,
    period: str,
    now: dt.datetime,
    status: str = "posted",
    payload: dict[str, Any] | None = None,
) -> bool:
    """Record that a post of this kind for this period is being made; False if it was before
    (by this or another process), so nothing is ever sent twice."""
    statement = (
        upsert_insert(session)(Publication)
        .values(kind=kind, period=period, status=status, payload=payload or {}, created_at=now)
        .on_conflict_do_nothing(index_elements=["kind", "period"])
        .returning(col(Publication.id))
    )
    return core(session, statement).scalar_one_or_none() is not None
