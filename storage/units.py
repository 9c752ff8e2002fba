"""Units (communes, wards, affiliated unions) as config.yaml declares them."""

from collections.abc import Iterable

from sqlmodel import Session

from storage.models import (
    Unit,
)


def sync_units(*, session: Session, units: Iterable[tuple[str, str, str, str]]) -> int:
    """Insert or update units (code, name, folded name, kind) from config; return how many."""
    count = 0
    for code, name, folded, kind in units:
        existing = session.get(Unit, code)
        if existing is None:
            session.add(Unit(code=code, name=name, folded_name=folded, kind=kind))
        else:
            existing.name, existing.folded_name, existing.kind = name, folded, kind
            session.add(existing)
        count += 1
    return count
