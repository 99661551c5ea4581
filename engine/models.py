"""The persistent model. Plain SQLAlchemy: the API binds it through Flask-SQLAlchemy,
the CLI, scheduler and benchmarks use it directly."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from .clock import now


class UTCDateTime(TypeDecorator):
    """Stores naive UTC, returns aware UTC, on SQLite and PostgreSQL alike."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc)


class Base(DeclarativeBase):
    pass


# Roles (Danish keys, as users and BPMN candidate groups name them).
CASEWORKER = "sagsbehandler"
LEADER = "leder"
DESIGNER = "procesdesigner"
ADMIN = "administrator"
ROLES = (CASEWORKER, LEADER, DESIGNER, ADMIN)

# Where a process version came from (ProcessVersion.origin).
ORIGIN_FOLDER, ORIGIN_DESIGNER = "folder", "designer"

# Case statuses; expected and dormant cases do not count as active.
CASE_STATUSES = ("expected", "active", "dormant", "closed")

# Instance statuses.
RUNNING, COMPLETED, ERROR = "running", "completed", "error"

# Task row states.
READY, DONE, CANCELLED = "ready", "completed", "cancelled"


class Team(Base):
    __tablename__ = "teams"
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    full_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Failed log-ins in a row, and until when the account is locked after too many.
    failed_logins: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0",
                                               default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Web sessions begun before this moment no longer count (log-out, a new password).
    sessions_valid_from: Mapped[datetime | None] = mapped_column(UTCDateTime)
    memberships: Mapped[list[Membership]] = relationship(
        back_populates="user", cascade="all, delete-orphan"
    )

    # What a session library (Flask-Login) asks of a user.
    is_authenticated = True
    is_anonymous = False

    @property
    def is_active(self) -> bool:
        return self.active

    def get_id(self) -> str:
        return str(self.id)

    @property
    def team_ids(self) -> set[int]:
        return {m.team_id for m in self.memberships}

    @property
    def led_team_ids(self) -> set[int]:
        return {m.team_id for m in self.memberships if m.leads}


class Membership(Base):
    __tablename__ = "memberships"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"), primary_key=True)
    leads: Mapped[bool] = mapped_column(Boolean, default=False)
    user: Mapped[User] = relationship(back_populates="memberships")
    team: Mapped[Team] = relationship(lazy="joined")


class ApiToken(Base):
    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ProcessVersion(Base):
    """One deployment of a process: its number, content hash and the source files."""

    __tablename__ = "process_versions"
    __table_args__ = (UniqueConstraint("process_id", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    process_id: Mapped[str] = mapped_column(String(128), index=True)
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    content_hash: Mapped[str] = mapped_column(String(64))
    # The BPMN files of the version: loaded only when a definition is parsed from them.
    sources: Mapped[dict] = mapped_column(JSON, deferred=True)
    startable: Mapped[bool] = mapped_column(Boolean, default=True)
    deployed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    deployed_by: Mapped[str] = mapped_column(String(64))
    # Where it came from: the processes/ folder at a start, or a designer's deployment from the
    # browser. A start deploys the folder only when it differs from the latest folder version,
    # so that it never deploys the folder back over a designer's version.
    origin: Mapped[str] = mapped_column(String(16), nullable=False, server_default=ORIGIN_FOLDER,
                                        default=ORIGIN_FOLDER)


class ProcessDraft(Base):
    """A BPMN/DMN file a designer is editing in the browser and has not deployed yet. One per
    file name; `lock_version` tells a second editor that someone saved in between."""

    __tablename__ = "process_drafts"
    id: Mapped[int] = mapped_column(primary_key=True)
    file_name: Mapped[str] = mapped_column(String(200), unique=True)
    process_id: Mapped[str | None] = mapped_column(String(128))
    xml: Mapped[str] = mapped_column(Text)
    # The deployed version the draft started from (None: a new file).
    based_on_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("process_versions.id", ondelete="SET NULL"))
    created_by: Mapped[str] = mapped_column(String(64))
    updated_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    lock_version: Mapped[int] = mapped_column(Integer, nullable=False)

    __mapper_args__ = {"version_id_col": lock_version}


class Citizen(Base):
    __tablename__ = "citizens"
    id: Mapped[int] = mapped_column(primary_key=True)
    cpr: Mapped[str] = mapped_column(String(10), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str | None] = mapped_column(String(300))


class Case(Base):
    __tablename__ = "cases"
    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str | None] = mapped_column(String(32), unique=True)
    process_id: Mapped[str] = mapped_column(String(128))
    process_version_id: Mapped[int] = mapped_column(ForeignKey("process_versions.id"))
    citizen_id: Mapped[int] = mapped_column(ForeignKey("citizens.id"), index=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"), index=True)
    caseworker_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="active")
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # Task rows join their case and citizen for the inbox; the rest loads when asked for.
    citizen: Mapped[Citizen] = relationship(lazy="joined", innerjoin=True)
    team: Mapped[Team] = relationship()
    caseworker: Mapped[User | None] = relationship(foreign_keys=[caseworker_id])
    process_version: Mapped[ProcessVersion] = relationship()


class Instance(Base):
    """One process instance: the serialized workflow under an optimistic version counter."""

    __tablename__ = "instances"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    process_version_id: Mapped[int] = mapped_column(ForeignKey("process_versions.id"))
    status: Mapped[str] = mapped_column(String(16), default=RUNNING)
    serialized: Mapped[str] = mapped_column(Text)
    next_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    error_message: Mapped[str | None] = mapped_column(Text)
    error_element: Mapped[str | None] = mapped_column(String(200))
    lock_version: Mapped[int] = mapped_column(Integer, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __mapper_args__ = {"version_id_col": lock_version}


class Task(Base):
    """The projection of one human task; inbox queries read only these rows."""

    __tablename__ = "tasks"
    __table_args__ = (
        Index("ix_tasks_team_state_due", "team_id", "state", "due_at"),
        Index("ix_tasks_assignee_state_due", "assignee_id", "state", "due_at"),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    process_id: Mapped[str] = mapped_column(String(128))
    bpmn_id: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(200))
    lane: Mapped[str | None] = mapped_column(String(200))
    candidate_groups: Mapped[str] = mapped_column(String(500), default="")
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    state: Mapped[str] = mapped_column(String(16), default=READY)
    form_key: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    follow_up_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Claims and assignments change only the task row: its own counter catches two at once.
    lock_version: Mapped[int] = mapped_column(Integer, nullable=False, server_default="1")

    __mapper_args__ = {"version_id_col": lock_version}

    case: Mapped[Case] = relationship(lazy="joined", innerjoin=True)
    assignee: Mapped[User | None] = relationship(foreign_keys=[assignee_id], lazy="joined")

    @property
    def groups(self) -> list[str]:
        return [g for g in self.candidate_groups.split(",") if g]


class SavedFilter(Base):
    """An inbox filter a user named and keeps: the page's query string."""

    __tablename__ = "saved_filters"
    __table_args__ = (UniqueConstraint("user_id", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    query: Mapped[str] = mapped_column(String(1000))


class TaskDraft(Base):
    """What a user typed into a task's form and saved without completing it (any part of it,
    in any order): the form opens with it, so a timeout or a closed tab loses nothing. Kept
    apart from the task rows so that inbox queries never read it; gone once the task is done."""

    __tablename__ = "task_drafts"
    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"),
                                         primary_key=True)
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    saved_at: Mapped[datetime] = mapped_column(UTCDateTime)
    saved_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    # Two tabs saving at once: the second is told, not silently overwritten.
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    saved_by: Mapped[User] = relationship()


RUNNING_DEADLINE = "met_at IS NULL AND closed_at IS NULL"
QUEUED = RUNNING_DEADLINE + " AND paused_at IS NULL"


class CaseDeadline(Base):
    """A statutory deadline of a case, started by its process (see engine/deadlines).

    Start, due, met and pause mirror what the process recorded (its data under `frister`);
    reminders and breach are the deadline watcher's (engine.deadlines.watch). Team, process
    and responsible caseworker are copied from the case so that the leaders' queue reads this
    table alone."""

    __tablename__ = "case_deadlines"
    __table_args__ = (
        UniqueConstraint("case_id", "key"),
        # The queue reads these alone (on PostgreSQL by index-only scans): a team's running
        # deadlines by due date (overdue) and by warning date (due soon), with the responsible
        # caseworker, the key and the process in the index, so that one grouped read gives the
        # counts, the traffic lights and the groups.
        Index("ix_case_deadlines_team_running", "team_id", "due_at", "responsible_id", "key",
              "process_id", postgresql_where=text(QUEUED), sqlite_where=text(QUEUED)),
        Index("ix_case_deadlines_team_warn", "team_id", "warn_at", "due_at", "responsible_id",
              "key", "process_id", postgresql_where=text(QUEUED), sqlite_where=text(QUEUED)),
        # A caseworker's deadlines, paused ones too (the calendar feed).
        Index("ix_case_deadlines_responsible_running", "responsible_id", "due_at",
              postgresql_where=text(RUNNING_DEADLINE), sqlite_where=text(RUNNING_DEADLINE)),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    process_id: Mapped[str] = mapped_column(String(128))
    responsible_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    key: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200))
    legal_basis: Mapped[str] = mapped_column(String(500))
    start_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    # From the first reminder on, the deadline is "due soon" (yellow).
    warn_at: Mapped[datetime] = mapped_column(UTCDateTime)
    met_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    pause_reason: Mapped[str | None] = mapped_column(String(200))
    reminders_sent: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    breached_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The case was closed: the deadline is no longer watched.
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the watcher must look at it next (a reminder or the breach); None = nothing to do.
    next_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    case: Mapped[Case] = relationship(lazy="joined", innerjoin=True)
    responsible: Mapped[User | None] = relationship(lazy="joined")

    @property
    def state(self) -> str:
        """met, closed, paused, overdue, due_soon or open."""
        if self.met_at is not None:
            return "met"
        if self.closed_at is not None:
            return "closed"
        if self.paused_at is not None:
            return "paused"
        moment = now()
        if self.due_at < moment:
            return "overdue"
        return "due_soon" if self.warn_at <= moment else "open"


class CalendarFeed(Base):
    """A caseworker's iCalendar feed: read with a secret URL, revoked by deleting the row."""

    __tablename__ = "calendar_feeds"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(lazy="joined", innerjoin=True)


class Letter(Base):
    """A letter of a case: a draft (prepared, its free-text blocks editable) or issued. An issued
    letter never changes: its HTML, PDF, checksum and the data it was rendered from are kept as
    they were; a correction is a new letter that names the one it corrects."""

    __tablename__ = "letters"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    key: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))  # draft | issued
    version: Mapped[int | None] = mapped_column(Integer)  # per case and key, when issued
    recipient: Mapped[dict] = mapped_column(JSON)
    texts: Mapped[dict] = mapped_column(JSON, default=dict)
    # What the step that asked for the letter gave it (prepare_letter(key, data=...)): read as
    # `data.*` before the case's own data, e.g. the one request for information it is for.
    values: Mapped[dict | None] = mapped_column(JSON)
    origin: Mapped[str] = mapped_column(String(32))  # caseworker | process | deadline
    corrects_id: Mapped[int | None] = mapped_column(ForeignKey("letters.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    issued_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    context: Mapped[dict | None] = mapped_column(JSON, deferred=True)
    html: Mapped[str | None] = mapped_column(Text, deferred=True)
    pdf: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    sha256: Mapped[str | None] = mapped_column(String(64))

    case: Mapped[Case] = relationship(lazy="joined", innerjoin=True)
    issued_by: Mapped[User | None] = relationship(foreign_keys=[issued_by_id], lazy="joined")
    outbox: Mapped[OutboxItem | None] = relationship(back_populates="letter", lazy="joined",
                                                     uselist=False)


class OutboxItem(Base):
    """An issued letter on its way out: queued, sent, or failed with the reason (retried with
    back-off; after the last attempt it waits for someone to retry it, never dropped)."""

    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(primary_key=True)
    letter_id: Mapped[int] = mapped_column(ForeignKey("letters.id"), unique=True)
    channel: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # queued | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    letter: Mapped[Letter] = relationship(back_populates="outbox")


class AuditEvent(Base):
    """Append-only history of a case: what happened, who did it, with what data."""

    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(32))
    task_id: Mapped[str | None] = mapped_column(String(36))
    data: Mapped[dict] = mapped_column(JSON, default=dict)

    actor: Mapped[User | None] = relationship(lazy="joined")


class AccessLog(Base):
    """Who looked at which case or citizen, and when."""

    __tablename__ = "access_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    action: Mapped[str] = mapped_column(String(64))
