"""Request and response schemas of the REST API (marshmallow; flask-smorest turns them
into the OpenAPI document)."""

from __future__ import annotations

from datetime import timezone

from marshmallow import Schema, ValidationError, fields, validate

from engine.clock import now
from engine.cpr import format_cpr, mask_cpr
from engine.models import CASE_STATUSES
from engine.services import TASK_SCOPES

# Row ids are 32-bit integers on PostgreSQL; a larger number is refused here, not by the driver.
ROW_ID = validate.Range(min=1, max=2**31 - 1)


def in_utc_range(value):
    """A moment must exist in UTC too (year 1 at +01:00 does not)."""
    try:
        value.astimezone(timezone.utc)
    except OverflowError:
        raise ValidationError("is outside the supported date range") from None


class TokenRequest(Schema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=64))
    password = fields.String(required=True, validate=validate.Length(min=1, max=1024))


class UserBrief(Schema):
    id = fields.Integer()
    username = fields.String()
    full_name = fields.String()


class UserOut(UserBrief):
    role = fields.String()
    teams = fields.Function(lambda u: [
        {"id": m.team.id, "key": m.team.key, "name": m.team.name, "leads": m.leads}
        for m in u.memberships
    ])


class TokenResponse(Schema):
    token = fields.String()
    token_type = fields.String(dump_default="Bearer")
    expires_at = fields.DateTime()
    user = fields.Nested(UserOut)


class TeamOut(Schema):
    id = fields.Integer()
    key = fields.String()
    name = fields.String()


class VersionOut(Schema):
    version = fields.Integer()
    content_hash = fields.String()
    deployed_at = fields.DateTime()
    deployed_by = fields.String()
    origin = fields.String(metadata={"description": "folder (processes/ at a start) or "
                                                    "designer (deployed from the browser)"})


class ProcessOut(Schema):
    process_id = fields.String()
    name = fields.String()
    startable = fields.Boolean()
    latest_version = fields.Integer()
    versions = fields.List(fields.Nested(VersionOut))


# -- the process designer: deploying, versions, differences, moving running cases ------------

VERSION_NUMBER = validate.Range(min=1, max=2**31 - 1)


class DeployIn(Schema):
    files = fields.Dict(
        keys=fields.String(validate=validate.Length(min=1, max=200)),
        values=fields.String(), required=True,
        validate=validate.Length(min=1, max=50),
        metadata={"description": "the changed (or new) files, {file name: BPMN or DMN XML}; "
                                 "they replace their namesakes among the latest deployed files"})


class ProcessVersionOut(VersionOut):
    process_id = fields.String()
    name = fields.String()
    startable = fields.Boolean()


# Version numbers are required, but checked after the caller's role (403 before 422).
class DiffQuery(Schema):
    from_ = fields.Integer(load_default=None, data_key="from", validate=VERSION_NUMBER,
                           metadata={"description": "the version to compare from (required)"})
    to = fields.Integer(load_default=None, validate=VERSION_NUMBER,
                        metadata={"description": "the version to compare with (required)"})


class ElementOut(Schema):
    process = fields.String(metadata={"description": "the process (or called process) id"})
    id = fields.String()
    name = fields.String(allow_none=True)
    type = fields.String()


class ChangedElementOut(ElementOut):
    changes = fields.List(fields.String(), metadata={
        "description": "what changed (e.g. candidate_groups, event_definition, typename)"})
    old_id = fields.String(metadata={"description": "the id in the older version, when the "
                                                    "element was matched by its place"})


class DiffOut(Schema):
    process_id = fields.String()
    from_ = fields.Integer(data_key="from", attribute="from")
    to = fields.Integer()
    added = fields.List(fields.Nested(ElementOut))
    removed = fields.List(fields.Nested(ElementOut))
    changed = fields.List(fields.Nested(ChangedElementOut))
    text_diff = fields.String(attribute="text",
                              metadata={"description": "unified diff of the source files"})


class MigrationQuery(Schema):
    to = fields.Integer(load_default=None, validate=VERSION_NUMBER,
                        metadata={"description": "the version to move the cases to (required)"})


class MigrationIn(MigrationQuery):
    pass


class MigrationCaseOut(Schema):
    case_id = fields.Integer()
    case_number = fields.String()
    instance_id = fields.Integer()
    status = fields.String()
    from_version = fields.Integer()
    to_version = fields.Integer()
    current = fields.List(fields.String(), metadata={
        "description": "the elements the case stands at (before moving)"})
    movable = fields.Boolean()
    reasons = fields.List(fields.String(), metadata={"description": "why it cannot move"})


class MigrationPlanOut(Schema):
    process_id = fields.String()
    to_version = fields.Integer()
    movable = fields.Integer(metadata={"description": "how many cases can move"})
    unmovable = fields.Integer(metadata={"description": "how many cannot"})
    cases = fields.List(fields.Nested(MigrationCaseOut))


class MigrationResultOut(Schema):
    process_id = fields.String()
    to_version = fields.Integer()
    moved = fields.List(fields.Nested(MigrationCaseOut))
    stayed = fields.List(fields.Nested(MigrationCaseOut), metadata={
        "description": "cases that could not move, with the reasons; they are unchanged"})


class CitizenIn(Schema):
    cpr = fields.String(required=True, metadata={"description": "10 digits, DDMMÅÅXXXX"})
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    address = fields.String(load_default=None, validate=validate.Length(max=300))


class CaseCreate(Schema):
    process = fields.String(required=True, validate=validate.Length(min=1, max=128))
    citizen = fields.Nested(CitizenIn, required=True)
    received_at = fields.AwareDateTime(
        required=True, validate=in_utc_range,
        metadata={"description": "when the municipality became aware (ISO 8601)"},
    )
    team_id = fields.Integer(load_default=None, validate=ROW_ID)
    caseworker_id = fields.Integer(load_default=None, validate=ROW_ID)
    status = fields.String(load_default="active",
                           validate=validate.OneOf([s for s in CASE_STATUSES if s != "closed"]))


class CaseUpdate(Schema):
    status = fields.String(validate=validate.OneOf(CASE_STATUSES),
                           metadata={"description": "closed sets the closing date"})
    received_at = fields.AwareDateTime(
        validate=in_utc_range,
        metadata={"description": "corrected received date; the change is audited"})


class OnCase(Schema):
    """A list row of something on a case (a task, a deadline): its case and citizen, the CPR
    number masked."""

    case_id = fields.Integer()
    case_number = fields.Function(lambda row: row.case.number)
    citizen_name = fields.Function(lambda row: row.case.citizen.name)
    citizen_cpr = fields.Function(lambda row: mask_cpr(row.case.citizen.cpr),
                                  metadata={"description": "masked in lists"})


class TaskOut(OnCase):
    id = fields.String()
    process = fields.String(attribute="process_id")
    bpmn_id = fields.String()
    name = fields.String()
    lane = fields.String(allow_none=True)
    candidate_groups = fields.Function(lambda t: t.groups)
    assignee = fields.Function(lambda t: t.assignee.username if t.assignee else None)
    state = fields.String()
    form_key = fields.String(allow_none=True)
    created_at = fields.DateTime()
    due_at = fields.DateTime(allow_none=True)
    follow_up_at = fields.DateTime(allow_none=True)
    overdue = fields.Function(lambda t: bool(t.due_at and t.state == "ready" and t.due_at < now()))
    completed_by_id = fields.Integer(allow_none=True)
    completed_at = fields.DateTime(allow_none=True)


class DraftOut(Schema):
    data = fields.Dict(metadata={"description": "the values saved so far"})
    version = fields.Integer(metadata={"description": "send it back with the next save"})
    saved_at = fields.DateTime()
    saved_by = fields.Function(lambda d: d.saved_by.username)


class TaskDetail(TaskOut):
    form = fields.Dict(metadata={"description": "the form's JSON Schema with display hints"})
    data = fields.Dict(metadata={"description": "values that pre-fill the form (a saved draft "
                                                "over what the case knows)"})
    draft = fields.Nested(DraftOut, allow_none=True,
                          metadata={"description": "the saved draft, if any"})


class DraftIn(Schema):
    data = fields.Dict(required=True, keys=fields.String())
    version = fields.Integer(load_default=None, validate=validate.Range(min=0, max=2**31 - 1),
                             metadata={"description": "the draft version the form was opened "
                                                      "with (0: none); 409 if someone saved "
                                                      "since"})


class TaskPage(Schema):
    items = fields.List(fields.Nested(TaskOut))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


class TaskQuery(Schema):
    scope = fields.String(load_default="team", validate=validate.OneOf(TASK_SCOPES))
    process = fields.String(load_default=None)
    case = fields.Integer(load_default=None, validate=ROW_ID)
    overdue = fields.Boolean(load_default=False)
    due_before = fields.AwareDateTime(load_default=None, validate=in_utc_range)
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100000))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class CompleteIn(Schema):
    data = fields.Dict(required=True, keys=fields.String())


class AssignIn(Schema):
    assignee = fields.String(required=True, allow_none=True,
                             metadata={"description": "username, or null to unassign"})


class RetryIn(Schema):
    data = fields.Dict(load_default=None, keys=fields.String(),
                       metadata={"description": "corrected data for the failed step"})


class CitizenOut(Schema):
    cpr = fields.Function(lambda c: format_cpr(c.cpr))
    name = fields.String()
    address = fields.String(allow_none=True)


class CitizenMasked(CitizenOut):
    cpr = fields.Function(lambda c: mask_cpr(c.cpr))


class InstanceOut(Schema):
    id = fields.Integer()
    status = fields.String()
    next_due_at = fields.DateTime(allow_none=True)
    error_message = fields.String(allow_none=True)
    error_element = fields.String(allow_none=True)


class EventOut(Schema):
    at = fields.DateTime()
    kind = fields.String()
    actor = fields.Function(lambda e: e.actor.username if e.actor else None)
    task_id = fields.String(allow_none=True)
    data = fields.Dict()


class CaseSummary(Schema):
    id = fields.Integer()
    number = fields.String()
    process = fields.String(attribute="process_id")
    process_version = fields.Function(lambda c: c.process_version.version)
    status = fields.String()
    received_at = fields.DateTime()
    created_at = fields.DateTime()
    closed_at = fields.DateTime(allow_none=True)
    team = fields.Nested(TeamOut)
    caseworker = fields.Nested(UserBrief, allow_none=True)
    citizen = fields.Nested(CitizenMasked)


class DeadlineOut(Schema):
    key = fields.String()
    title = fields.String()
    legal_basis = fields.String()
    start_at = fields.DateTime()
    due_at = fields.DateTime()
    warn_at = fields.DateTime(metadata={"description": "from then on the deadline is due soon "
                                                      "(its first reminder)"})
    state = fields.String(metadata={
        "description": "open, due_soon, overdue, paused, met, or closed (the case was closed)"})
    met_at = fields.DateTime(allow_none=True)
    paused_at = fields.DateTime(allow_none=True)
    pause_reason = fields.String(allow_none=True)
    reminded_at = fields.DateTime(allow_none=True)
    breached_at = fields.DateTime(allow_none=True)
    responsible = fields.Function(lambda d: d.responsible.username if d.responsible else None)


class DeadlineChange(Schema):
    action = fields.String(required=True, validate=validate.OneOf(("meet", "pause", "resume")))
    reason = fields.String(load_default=None, validate=validate.Length(min=1, max=200),
                           metadata={"description": "why it is paused: one of the reasons "
                                                    "the catalogue allows for the deadline"})


class MessageIn(Schema):
    data = fields.Dict(required=True, keys=fields.String(),
                       metadata={"description": "the message's data, checked against the form "
                                                "of the same name in forms/"})
    received_at = fields.AwareDateTime(load_default=None, validate=in_utc_range, metadata={
        "description": "when the municipality received it (default: now); with a time zone"})


class CaseOut(CaseSummary):
    citizen = fields.Nested(CitizenOut)
    deadlines = fields.List(fields.Nested(DeadlineOut))
    open_tasks = fields.List(fields.Nested(TaskOut))
    instances = fields.List(fields.Nested(InstanceOut))
    timeline = fields.List(fields.Nested(EventOut))


class CasePage(Schema):
    items = fields.List(fields.Nested(CaseSummary))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


class CaseQuery(Schema):
    status = fields.String(load_default=None, validate=validate.OneOf(CASE_STATUSES))
    process = fields.String(load_default=None)
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100000))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class QueueQuery(Schema):
    state = fields.String(load_default="overdue", validate=validate.OneOf(("overdue", "due_soon")))
    team = fields.String(load_default=None, validate=validate.Length(min=1, max=64),
                         metadata={"description": "team key"})
    caseworker = fields.String(load_default=None, validate=validate.Length(min=1, max=64),
                               metadata={"description": "username of the responsible caseworker"})
    key = fields.String(load_default=None, validate=validate.Length(min=1, max=64),
                        metadata={"description": "deadline key"})
    process = fields.String(load_default=None, validate=validate.Length(min=1, max=128))
    group_by = fields.String(load_default=None,
                             validate=validate.OneOf(("team", "caseworker", "key", "process")))
    format = fields.String(load_default="json", validate=validate.OneOf(("json", "csv")),
                           metadata={"description": "csv: every row as CSV (also with "
                                                    "Accept: text/csv)"})
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100000))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


class QueueItem(DeadlineOut, OnCase):
    id = fields.Integer()
    team = fields.Function(lambda d: d.case.team.key)
    process = fields.String(attribute="process_id")
    days_late = fields.Integer(metadata={"description": "whole days past the due day"})


class QueueGroup(Schema):
    group = fields.Raw(metadata={"description": "team key, username, deadline key or process"})
    count = fields.Integer()
    earliest_due_at = fields.DateTime()


class TrafficLight(Schema):
    username = fields.String(allow_none=True)
    full_name = fields.String()
    light = fields.String(metadata={"description": "red: an overdue deadline; yellow: one due "
                                                   "soon (in its reminder window); green"})
    overdue = fields.Integer()
    due_soon = fields.Integer()


class QueueOut(Schema):
    state = fields.String()
    items = fields.List(fields.Nested(QueueItem))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()
    groups = fields.List(fields.Nested(QueueGroup))
    caseworkers = fields.List(fields.Nested(TrafficLight))


class ReassignIn(Schema):
    from_ = fields.String(required=True, data_key="from", validate=validate.Length(min=1, max=64),
                          metadata={"description": "username of the caseworker to move from"})
    to = fields.String(required=True, validate=validate.Length(min=1, max=64))
    case_ids = fields.List(fields.Integer(validate=validate.Range(min=1, max=2147483647)),
                           load_default=None, validate=validate.Length(min=1, max=10000),
                           metadata={"description": "the cases to move; all open cases of the "
                                                    "caseworker in your teams when left out"})


class ReassignOut(Schema):
    from_ = fields.String(data_key="from", attribute="from")
    to = fields.String()
    cases = fields.List(fields.String(), metadata={"description": "case numbers moved"})
    tasks_moved = fields.Integer()
    tasks_unassigned = fields.List(fields.Dict(), metadata={
        "description": "tasks the new caseworker may not do: back to the team's candidates"})


class CalendarOut(Schema):
    url = fields.String(metadata={"description": "secret address of the iCalendar feed; "
                                                 "anyone with it can read the feed"})


class RecipientIn(Schema):
    navn = fields.String(load_default=None, validate=validate.Length(min=1, max=200))
    adresse = fields.String(load_default=None, validate=validate.Length(max=500))
    email = fields.Email(load_default=None)
    rolle = fields.String(load_default=None, validate=validate.OneOf(
        ("citizen", "notifier", "provider", "other", "parties")))


class LetterCreate(Schema):
    letter = fields.String(required=True, validate=validate.Length(min=1, max=64),
                           metadata={"description": "key in letters/letters.toml"})
    recipient = fields.Nested(RecipientIn, load_default=None)
    texts = fields.Dict(keys=fields.String(), values=fields.Raw(), load_default=None,
                        metadata={"description": "free-text blocks by name"})


class LetterUpdate(Schema):
    recipient = fields.Nested(RecipientIn, load_default=None)
    texts = fields.Dict(keys=fields.String(), values=fields.Raw(), load_default=None)
    values = fields.Dict(keys=fields.String(), values=fields.Raw(), load_default=None,
                         metadata={"description": "values the letter requires (its data.* "
                                                  "paths) that the case does not hold"})


class OutboxOut(Schema):
    letter_id = fields.Integer()
    channel = fields.String()
    status = fields.String(metadata={"description": "queued, sent or failed"})
    attempts = fields.Integer()
    next_attempt_at = fields.DateTime(allow_none=True)
    last_error = fields.String(allow_none=True)
    sent_at = fields.DateTime(allow_none=True)


class LetterOut(Schema):
    id = fields.Integer()
    case_id = fields.Integer()
    case_number = fields.Function(lambda letter: letter.case.number)
    key = fields.String()
    title = fields.String()
    kind = fields.String()
    state = fields.String(metadata={"description": "draft or issued (never changes again)"})
    version = fields.Integer(allow_none=True)
    recipient = fields.Dict()
    texts = fields.Dict()
    origin = fields.String(metadata={"description": "caseworker, process or deadline"})
    corrects_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime()
    issued_at = fields.DateTime(allow_none=True)
    issued_by = fields.Function(lambda letter: letter.issued_by.username
                                if letter.issued_by else None)
    sha256 = fields.String(allow_none=True)
    outbox = fields.Nested(OutboxOut, allow_none=True)


class OutboxQuery(Schema):
    status = fields.String(load_default=None,
                           validate=validate.OneOf(("queued", "sent", "failed")))
