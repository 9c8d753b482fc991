"""The working-day calendar: which days count towards a time limit, and where that knowledge comes from.

A day's status is looked up in this order, and never guessed:

1. days an administrator entered (table ``calendar_days``, from the State Council's yearly notice); a year
   whose whole schedule was imported (table ``calendar_years``) is *confirmed*: its other days follow the
   plain rule (Monday to Friday work, weekends rest);
2. ``chinesecalendar`` for the years it knows (statutory holidays and make-up working weekends, 调休);
3. ``holidays`` (statutory holidays only, no 调休 known): such a year is *provisional*;
4. otherwise :class:`CalendarNotCovered`, which says how to fix it (``baozhuang calendar import``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache

import time as monotonic_time

import chinese_calendar  # type: ignore[import-untyped]  # ships no type information
import holidays as holidays_lib
from sqlalchemy import Connection, delete, insert, select

from ..errors import ConfigurationError, InvalidInput
from ..store import Store
from ..store.tables import CAL_DAYS, CAL_YEARS

END_OF_DAY = time(23, 59, 59)
SOURCE_ENTERED = "entered"
SOURCE_CHINESECALENDAR = "chinesecalendar"
SOURCE_HOLIDAYS = "holidays"
SOURCE_NONE = "none"
# The longest run of rest days a Chinese calendar has had (Spring Festival 2026: 9 days) plus margin: a
# search for the next working day that goes further than this means the data is wrong, not the calendar.
MAX_REST_RUN = 31


class CalendarNotCovered(ConfigurationError):
    """No source knows whether a day is a working day: an administrator must enter that year's schedule."""

    def __init__(self, day: date) -> None:
        super().__init__(
            f"工作日历未覆盖 {day.isoformat()}（{day.year} 年）：没有任何来源知道这一天是否为工作日。"
            f"请管理员按国务院办公厅公布的 {day.year} 年放假安排录入：baozhuang calendar import 文件.json")
        self.day = day


@dataclass(frozen=True)
class YearStatus:
    """Where a year's working days come from; provisional when its make-up working days (调休) are unknown."""

    year: int
    source: str
    provisional: bool


@dataclass(frozen=True)
class EnteredDay:
    """A day an administrator entered from the official schedule."""

    day: date
    workday: bool
    name: str
    entered_by: str = ""
    entered_at: datetime | None = None


@dataclass(frozen=True)
class DayStatus:
    """One day: working or not, its name (holiday, 调休) if any, and the source that said so."""

    day: date
    workday: bool
    name: str
    source: str

    @property
    def standard(self) -> bool:
        """True when the day follows the plain rule (weekdays work, weekends rest)."""
        return self.workday == (self.day.weekday() < 5)


@lru_cache(maxsize=64)
def _statutory_holidays(year: int) -> Mapping[date, str]:
    return dict(holidays_lib.country_holidays("CN", years=year))


_CC_FIRST = min(chinese_calendar.holidays).year
_CC_LAST = max(max(chinese_calendar.holidays).year, max(chinese_calendar.workdays).year)
_HOLIDAYS_FIRST = holidays_lib.China.start_year
_HOLIDAYS_LAST = holidays_lib.China.end_year


class WorkingCalendar:
    """Working days by the official Chinese calendar, with administrator-entered days taking precedence."""

    def __init__(self, entered: Iterable[EnteredDay] = (), confirmed_years: Iterable[int] = ()) -> None:
        self.entered: dict[date, EnteredDay] = {d.day: d for d in entered}
        self.confirmed_years = frozenset(confirmed_years)
        # A calendar never changes once built (new entries build a new one), so each day is looked up once:
        # due dates count working days one by one on every step.
        self._days: dict[date, DayStatus] = {}

    # ------------------------------------------------------------------ one day, one year

    def year_status(self, year: int) -> YearStatus:
        """Which source decides a year's days, and whether the year is provisional."""
        if year in self.confirmed_years:
            return YearStatus(year, SOURCE_ENTERED, False)
        if _CC_FIRST <= year <= _CC_LAST:
            return YearStatus(year, SOURCE_CHINESECALENDAR, False)
        if _HOLIDAYS_FIRST <= year <= _HOLIDAYS_LAST:
            return YearStatus(year, SOURCE_HOLIDAYS, True)
        return YearStatus(year, SOURCE_NONE, True)

    def day(self, d: date) -> DayStatus:
        """A day's status and where it came from; CalendarNotCovered when no source knows it."""
        known = self._days.get(d)
        if known is None:
            known = self._days[d] = self._look_up(d)
        return known

    def _look_up(self, d: date) -> DayStatus:
        entered = self.entered.get(d)
        if entered is not None:
            return DayStatus(d, entered.workday, entered.name, SOURCE_ENTERED)
        weekday = d.weekday() < 5
        source = self.year_status(d.year).source
        if source == SOURCE_ENTERED:
            return DayStatus(d, weekday, "", SOURCE_ENTERED)
        if source == SOURCE_CHINESECALENDAR:
            try:
                on_holiday, name = chinese_calendar.get_holiday_detail(d)
            except NotImplementedError as exc:
                raise CalendarNotCovered(d) from exc
            workday = not on_holiday
            label = str(name or "")
            if label and workday:
                label = f"{label}（调休上班）"
            return DayStatus(d, workday, label, SOURCE_CHINESECALENDAR)
        if source == SOURCE_HOLIDAYS:
            name = _statutory_holidays(d.year).get(d)
            return DayStatus(d, weekday and name is None, name or "", SOURCE_HOLIDAYS)
        raise CalendarNotCovered(d)

    def is_workday(self, d: date) -> bool:
        """True when ``d`` is a working day."""
        return self.day(d).workday

    def coverage(self, years: Iterable[int] | None = None, today: date | None = None) -> list["YearStatus"]:
        """The status of the given years (default: last year, this year, next year and any entered year)."""
        if years is None:
            this = (today or date.today()).year
            years = {this - 1, this, this + 1} | {y for y in self.confirmed_years if y >= this - 1}
        return [self.year_status(y) for y in sorted(set(years))]

    def special_days(self, year: int) -> list[DayStatus]:
        """The days of a year that differ from the plain rule, or carry a name (holidays, 调休)."""
        out = []
        d = date(year, 1, 1)
        while d.year == year:
            status = self.day(d)
            if not status.standard or d in self.entered or (status.name and status.source != SOURCE_ENTERED):
                out.append(status)
            d += timedelta(days=1)
        return out

    # ------------------------------------------------------------------ arithmetic

    def next_workday(self, d: date) -> date:
        """The first working day strictly after ``d``."""
        for _ in range(MAX_REST_RUN):
            d += timedelta(days=1)
            if self.is_workday(d):
                return d
        raise ConfigurationError(f"工作日历在 {d.isoformat()} 之前连续 {MAX_REST_RUN} 天没有工作日，请检查录入的日历")

    def previous_workday(self, d: date) -> date:
        """The last working day strictly before ``d``."""
        for _ in range(MAX_REST_RUN):
            d -= timedelta(days=1)
            if self.is_workday(d):
                return d
        raise ConfigurationError(f"工作日历在 {d.isoformat()} 之后连续 {MAX_REST_RUN} 天没有工作日，请检查录入的日历")

    def add_working_days(self, start: datetime, days: int) -> datetime:
        """The due moment: the end (23:59:59) of the ``days``-th working day after the start day. A start on a
        rest day counts from the next working day (that day is the first); 0 days = the end of the start day
        if it is a working day, else of the next working day."""
        if days < 0:
            raise ValueError(f"working days must not be negative: {days}")
        d = start.date()
        if days == 0:
            return datetime.combine(d if self.is_workday(d) else self.next_workday(d), END_OF_DAY)
        for _ in range(days):
            d = self.next_workday(d)
        return datetime.combine(d, END_OF_DAY)

    def subtract_working_days(self, moment: datetime, days: int) -> datetime:
        """The moment ``days`` working days before ``moment`` (the end of that earlier working day when
        ``moment`` is the end of a day): where a warning ahead of a due date falls."""
        if days <= 0:
            return moment
        d = moment.date()
        for _ in range(days):
            d = self.previous_workday(d)
        return datetime.combine(d, moment.time())

    def working_days_after(self, a: date, b: date) -> int:
        """How many working days fall after ``a`` up to and including ``b`` (0 when ``b`` is not after ``a``):
        the whole-day count a time limit is measured in, ``add_working_days``'s inverse."""
        count = 0
        d = a
        while d < b:
            d += timedelta(days=1)
            count += self.is_workday(d)
        return count

    def provisional_between(self, first: date, last: date) -> bool:
        """Whether any year from ``first`` to ``last`` is provisional (its make-up working days unknown)."""
        return any(self.year_status(y).provisional for y in range(first.year, max(first, last).year + 1))

    def working_days_between(self, a: datetime, b: datetime) -> float:
        """Working time from ``a`` to ``b`` in working days (fractions of a day count; negative if b < a)."""
        if b < a:
            return -self.working_days_between(b, a)
        total = 0.0
        d = a.date()
        while d <= b.date():
            if self.is_workday(d):
                begin = max(a, datetime.combine(d, time.min))
                end = min(b, datetime.combine(d + timedelta(days=1), time.min))
                total += (end - begin).total_seconds() / 86400
            d += timedelta(days=1)
        return total


def parse_schedule(raw: object) -> tuple[int, list[EnteredDay]]:
    """Check an administrator's year schedule ({"year": 2027, "days": [{"date", "workday", "name"}]}):
    return the year and its days, or raise InvalidInput listing every problem."""
    problems: list[str] = []
    if not isinstance(raw, Mapping):
        raise InvalidInput("日历文件必须是 JSON 对象：{\"year\": 2027, \"days\": [...]}")
    year = raw.get("year")
    if not isinstance(year, int) or isinstance(year, bool) or not 1950 <= year <= 2200:
        problems.append(f"year 必须是年份整数，实际为 {year!r}")
        year = None
    entries = raw.get("days")
    if not isinstance(entries, list) or not entries:
        problems.append("days 必须是非空列表")
        entries = []
    unknown = sorted(set(raw) - {"year", "days", "source", "note"})
    if unknown:
        problems.append(f"未知的字段：{', '.join(unknown)}")
    days: list[EnteredDay] = []
    seen: set[date] = set()
    for index, entry in enumerate(entries, start=1):
        where = f"第 {index} 项"
        if not isinstance(entry, Mapping):
            problems.append(f"{where}：必须是对象")
            continue
        try:
            d = date.fromisoformat(str(entry.get("date")))
        except ValueError:
            problems.append(f"{where}：日期 {entry.get('date')!r} 无效（格式 YYYY-MM-DD）")
            continue
        where = f"{where}（{d.isoformat()}）"
        workday = entry.get("workday")
        name = entry.get("name", "")
        if year is not None and d.year != year:
            problems.append(f"{where}：不属于 {year} 年")
        if not isinstance(workday, bool):
            problems.append(f"{where}：workday 必须是 true 或 false")
        if not isinstance(name, str) or not name.strip():
            problems.append(f"{where}：name 必须写明节日或调休名称")
        if d in seen:
            problems.append(f"{where}：重复")
        seen.add(d)
        if isinstance(workday, bool) and isinstance(name, str):
            days.append(EnteredDay(d, workday, name.strip()))
    if problems or year is None:
        raise InvalidInput(f"日历文件有 {len(problems)} 处问题：" + "；".join(problems))
    return year, days


CALENDAR_TTL_SECONDS = 60.0  # another process may import a year: re-read the entered days this often


class CalendarSource:
    """The working calendar with the administrator's entries, re-read from the database now and then."""

    def __init__(self, store: Store, ttl: float = CALENDAR_TTL_SECONDS) -> None:
        self.store, self.ttl = store, ttl
        self._calendar: WorkingCalendar | None = None
        self._loaded = 0.0

    def get(self, conn: Connection | None = None) -> WorkingCalendar:
        """The current calendar (entries at most ``ttl`` seconds old); pass the connection of an open
        transaction to read through it (SQLite allows one writer: a second session would wait on it)."""
        if self._calendar is None or monotonic_time.monotonic() - self._loaded > self.ttl:
            if conn is not None:
                self._calendar = self._load(conn)
            else:
                with self.store.reading() as s:
                    self._calendar = self._load(s.connection())
            self._loaded = monotonic_time.monotonic()
        return self._calendar

    @staticmethod
    def _load(conn: Connection) -> WorkingCalendar:
        entered = [EnteredDay(r.day, r.workday, r.name, r.entered_by, r.entered_at)
                   for r in conn.execute(select(CAL_DAYS))]
        years = [int(y) for y in conn.execute(select(CAL_YEARS.c.year)).scalars()]
        return WorkingCalendar(entered, years)

    def invalidate(self) -> None:
        """Forget the cached entries (after an import)."""
        self._calendar = None

    def import_year(self, raw: object, by: str, now: datetime,
                    then: Callable[[Connection, WorkingCalendar], None] | None = None) -> tuple[YearStatus, int]:
        """Replace a year's entered days with an official schedule and mark the year confirmed; ``then`` runs
        in the same transaction with the new calendar (moving the open deadlines). Returns the year's status
        and how many days were entered."""
        year, days = parse_schedule(raw)
        with self.store.begin() as conn:
            conn.execute(delete(CAL_DAYS).where(CAL_DAYS.c.day >= date(year, 1, 1), CAL_DAYS.c.day <= date(year, 12, 31)))
            conn.execute(insert(CAL_DAYS), [{"day": d.day, "workday": d.workday, "name": d.name, "entered_by": by,
                                              "entered_at": now} for d in days])
            conn.execute(delete(CAL_YEARS).where(CAL_YEARS.c.year == year))
            conn.execute(insert(CAL_YEARS), {"year": year, "entered_by": by, "entered_at": now})
            if then is not None:
                then(conn, self._load(conn))
        self.invalidate()
        return self.get().year_status(year), len(days)
