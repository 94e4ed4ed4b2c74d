"""Values every machine of a cluster shares, set once: the first writer wins and every
later reader, on any machine, gets what it wrote."""

from __future__ import annotations

from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import IntegrityError

from refuge.storage.catalog.db import now_iso
from refuge.storage.catalog.schema import shared_values


def first_value(engine: Engine, name: str, offer: str) -> str:
    """The value NAME holds in the catalog; OFFER becomes it when it holds none yet."""
    with engine.connect() as conn:
        found = conn.execute(select(shared_values.c.value).where(shared_values.c.name == name)).scalar()
    if found is not None:
        return found
    try:
        with engine.begin() as conn:
            conn.execute(insert(shared_values).values(name=name, value=offer, created=now_iso()))
        return offer
    except IntegrityError:  # another process set it first: theirs stands
        with engine.connect() as conn:
            return conn.execute(select(shared_values.c.value).where(shared_values.c.name == name)).scalar_one()
