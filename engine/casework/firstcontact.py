"""When the customer first applied, in the customer's own words: the evidence against 体外循环.

An order held outside the system and entered late (seed 001) is invisible if the acceptance time is all there
is, and useless as evidence if the clerk who accepted also types the first-contact time. So the evidence comes
from elsewhere: an online application carries the time the channel received it (:func:`~engine.casework.steps.
first_contact_evidence`); for a counter application the customer confirms the date — on the progress page, or
by replying to the acceptance notice through the SMS channel. The customer's word replaces the clerk's once;
the channel's own clock is never replaced. A date after the acceptance, or in the future, is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time
from typing import NoReturn

from sqlalchemy import update

from ..errors import Conflict, FormValidationError, InvalidInput
from ..store import Store
from ..store.tables import APPS
from ..vocabulary import CONTACT_SOURCES, ContactSource, EventKind
from .audit import PendingEvent, append_only
from .rows import app_by_number

FIELD = "first_contact_on"
CUSTOMER_SOURCES = (ContactSource.CUSTOMER_PAGE, ContactSource.CUSTOMER_REPLY)


class FirstContacts:
    """The customer's confirmation of the application date."""

    def __init__(self, store: Store, clock: Callable[[], datetime]) -> None:
        self.store, self.clock = store, clock

    def confirm(self, app_no: str, day: date | str, source: str, by: str) -> datetime:
        """Record the day the customer says they first applied; FormValidationError (field
        ``first_contact_on``) for a day after the acceptance or in the future, Conflict once confirmed."""
        if source not in CUSTOMER_SOURCES:
            raise InvalidInput(f"客户确认的来源只能是：{'、'.join(CONTACT_SOURCES[s] for s in CUSTOMER_SOURCES)}")
        on = _day(day)
        now = self.clock()
        with self.store.begin() as conn:
            app = app_by_number(conn, app_no, lock=True)
            row = conn.execute(APPS.select().where(APPS.c.id == app.id)).one()
            if row.first_contact_source in (*CUSTOMER_SOURCES, ContactSource.API):
                raise Conflict(f"申请日期已由{CONTACT_SOURCES[row.first_contact_source]}"
                               f"（{row.first_contact_at:%Y-%m-%d}），不能再次更改")
            if on > now.date():
                _refuse(f"申请日期 {on.isoformat()} 是将来的日期，请填写您实际提出申请的那一天")
            if on > row.created_at.date():
                _refuse(f"申请日期 {on.isoformat()} 晚于受理日期 {row.created_at:%Y-%m-%d}："
                        "首次申请不可能在受理之后，请核对")
            moment = datetime.combine(on, time.min)
            conn.execute(update(APPS).where(APPS.c.id == app.id).values(first_contact_at=moment,
                                                                         first_contact_source=source))
            append_only(conn, app.id, PendingEvent(EventKind.FIRST_CONTACT_CONFIRMED, by, now, {
                "at": moment.isoformat(), "source": source,
                "before": row.first_contact_at.isoformat() if row.first_contact_at else None,
                "before_source": row.first_contact_source}))
        return moment


def _day(value: date | str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        _refuse(f"“{value}”不是有效日期（年-月-日）")


def _refuse(message: str) -> NoReturn:
    raise FormValidationError(message, {FIELD: message})

