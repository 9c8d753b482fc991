"""Every table as a Core ``Table`` constant: the names the hot path's statements are written with."""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table

from . import models

USERS = cast(Table, models.User.__table__)
VERSIONS = cast(Table, models.ProcessVersion.__table__)
DRAFTS = cast(Table, models.ProcessDraft.__table__)
APPS = cast(Table, models.Application.__table__)
WF_TASKS = cast(Table, models.WorkflowTaskRow.__table__)
ITEMS = cast(Table, models.WorkItem.__table__)
EVENTS = cast(Table, models.AuditEvent.__table__)
DOCUMENTS = cast(Table, models.Document.__table__)
TOKENS = cast(Table, models.ApiToken.__table__)
NOTIFICATIONS = cast(Table, models.Notification.__table__)
SNAPSHOTS = cast(Table, models.DashboardSnapshot.__table__)
CAL_DAYS = cast(Table, models.CalendarDay.__table__)
CAL_YEARS = cast(Table, models.CalendarYear.__table__)
SEQUENCES = cast(Table, models.SequenceCounter.__table__)
STATIONS = cast(Table, models.Station.__table__)
STATION_DAYS = cast(Table, models.StationDay.__table__)
JOBS = cast(Table, models.FieldJob.__table__)
JOB_EVENTS = cast(Table, models.FieldJobEvent.__table__)
CALLBACKS = cast(Table, models.Callback.__table__)
MEETINGS = cast(Table, models.ReviewMeeting.__table__)
AGENDA = cast(Table, models.MeetingItem.__table__)
FIGURES = cast(Table, models.FigureCount.__table__)
OPEN_COUNTS = cast(Table, models.OpenTaskCount.__table__)
ENTRY_LAGS = cast(Table, models.EntryLag.__table__)
COMMENTS = cast(Table, models.Comment.__table__)
SUBSTITUTIONS = cast(Table, models.Substitution.__table__)
SAVED_FILTERS = cast(Table, models.SavedFilter.__table__)
CUSTOMER_NOTICES = cast(Table, models.CustomerNotice.__table__)
FIRMS = cast(Table, models.QualifiedFirm.__table__)
FIRM_EVENTS = cast(Table, models.FirmEvent.__table__)
FOLLOW_UPS = cast(Table, models.FollowUp.__table__)
COMPLAINTS = cast(Table, models.Complaint.__table__)
CLOCKS = cast(Table, models.PolicyClock.__table__)
CLOCK_OVERRIDES = cast(Table, models.ClockOverride.__table__)
CLOCK_OVERRIDE_CHANGES = cast(Table, models.ClockOverrideChange.__table__)
BLOBS = cast(Table, models.DocumentBlob.__table__)
ATTEMPTS = cast(Table, models.AttemptLimit.__table__)
SECRETS = cast(Table, models.SharedSecret.__table__)
