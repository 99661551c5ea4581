"""The service layer: every use case that HTTP handlers, CLI commands, the scheduler and tests
call. Each runs inside one unit of work (see `transaction`): load the instance, run
SpiffWorkflow, save the instance, update task rows and write audit events, or nothing at all."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import and_, func, or_, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload, lazyload

from . import audit
from .bpmn import runtime
from .bpmn.registry import ProcessRegistry
from .bpmn.sandbox import create_script_engine
from .bpmn.specs import describe_element
from .clock import local_date, now
from .cpr import birth_date, normalize_cpr
from .db import claim_next
from .deadlines import watch
from .deadlines.catalogue import DeadlineCatalogue
from .deadlines.functions import (
    change_entry,
    deadline_functions,
    edit_deadlines,
    restart_deadlines,
    started_deadlines,
)
from .errors import Conflict, NotFound, ValidationFailed
from .form_checks import age_on
from .forms import FormCatalog
from .letters.render import danish_date
from .letters.requests import letter_request_factory, requested_letters
from .models import (
    ADMIN,
    CANCELLED,
    CASE_STATUSES,
    CASEWORKER,
    COMPLETED,
    DONE,
    ERROR,
    LEADER,
    READY,
    RUNNING,
    AuditEvent,
    Case,
    CaseDeadline,
    Citizen,
    Instance,
    Letter,
    ProcessVersion,
    Task,
    TaskDraft,
    Team,
    User,
)
from .permissions import (
    is_candidate,
    may_be_responsible,
    may_work_on,
    require_can_act_on_case,
    require_can_assign,
    require_can_retry,
    require_can_work,
    require_case_access,
    require_not_involved,
    require_role,
    require_team,
    user_groups,
    visible_team_ids,
)


@dataclass
class Page:
    items: list
    total: int
    page: int
    per_page: int


TASK_SCOPES = ("mine", "team", "unassigned", "all")
# Task data the case itself provides; not to be set by forms or retries.
CASE_DATA_KEYS = ("sagsnummer", "borger_navn", "borger_adresse", "borger_foedselsdato",
                  "modtaget_dato", "modtaget_tidspunkt")


def age_factory(store: dict):
    def alder(foedselsdato=None):
        """The citizen's age today in whole years (or that of another birth date)."""
        return age_on(foedselsdato or store.get("borger_foedselsdato"))

    return alder


# Where a process step leaves its request to close the case when the process ends.
CLOSE_KEY = "sag_lukkes"


def close_request_factory(store: dict):
    def luk_sag(aarsag):
        """Close the case when this process ends (its open deadlines are settled)."""
        store[CLOSE_KEY] = {"aarsag": str(aarsag), "tid": now().isoformat()}

    return luk_sag


def _moment(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value).astimezone(timezone.utc) if value else None


def _deadline_values(entry: dict) -> dict:
    """A deadline row's columns from its entry in the process data."""
    return {"start_at": _moment(entry["start"]), "due_at": _moment(entry["due"]),
            "met_at": _moment(entry.get("met")), "paused_at": _moment(entry.get("paused")),
            "pause_reason": entry.get("pause_reason")}


def _received_at_problem(received_at: datetime) -> str | None:
    if received_at.tzinfo is None:
        return "must include a time zone offset"
    if received_at > now():
        return "cannot be in the future"
    return None


def _like_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class Casework:
    """The use cases. Holds the parsed processes and forms; holds no per-request state."""

    def __init__(self, registry: ProcessRegistry, forms: FormCatalog,
                 deadlines: DeadlineCatalogue | None = None, letters=None):
        self.registry = registry
        self.forms = forms
        self.deadlines = deadlines
        self.letters = letters  # engine.letters.service.Letters
        if letters is not None:
            letters.issued_hooks.append(self._letter_issued)
        # Scripts and expressions reach the deadline catalogue (and letters) through these.
        functions = deadline_functions(deadlines) if deadlines else {}
        functions["prepare_letter"] = letter_request_factory
        functions["alder"] = age_factory
        functions["i_dag"] = lambda _store: lambda: local_date(now()).isoformat()
        functions["ffb"] = lambda _store: self._ffb_display
        functions["dansk_dato"] = lambda _store: danish_date
        functions["luk_sag"] = close_request_factory
        self.script_engine = create_script_engine(context_functions=functions)

    def _ffb_display(self, code):
        """The Danish name of an FFB code (the code itself if the code system lacks it);
        a list of codes gives a list of names."""
        if isinstance(code, list):
            return [self._ffb_display(c) for c in code]
        return self.forms.codes.display.get(code, code)

    # -- processes -----------------------------------------------------------------------

    def list_processes(self, session: Session, user: User) -> list[dict]:
        """Deployed processes, each with its versions, newest first."""
        versions = session.scalars(
            select(ProcessVersion)
            .order_by(ProcessVersion.process_id, ProcessVersion.version.desc())
        ).all()
        by_process: dict[str, dict] = {}
        for v in versions:
            entry = by_process.setdefault(v.process_id, {
                "process_id": v.process_id, "name": v.name, "startable": v.startable,
                "latest_version": v.version, "versions": [],
            })
            entry["versions"].append(v)
        return list(by_process.values())

    # -- cases ---------------------------------------------------------------------------

    def open_case(self, session: Session, user: User, process_id: str, citizen: dict,
                  received_at: datetime, team_id: int | None = None,
                  caseworker_id: int | None = None, status: str = "active") -> Case:
        """Open a case and start its process on the latest deployed version."""
        require_role(user, CASEWORKER, LEADER, ADMIN)
        fields: dict[str, list[str]] = {}
        try:
            cpr = normalize_cpr(citizen.get("cpr", ""))
        except ValueError as exc:
            fields["citizen.cpr"] = [str(exc)]
        if not (citizen.get("name") or "").strip():
            fields["citizen.name"] = ["required field is missing"]
        problem = _received_at_problem(received_at)
        if problem:
            fields["received_at"] = [problem]
        if status not in CASE_STATUSES or status == "closed":
            fields["status"] = ["must be one of expected, active, dormant"]
        if team_id is None:
            teams = user.team_ids
            if len(teams) != 1:
                fields["team_id"] = ["you belong to no team; name the team" if not teams else
                                     "you belong to several teams; name the team"]
            team_id = next(iter(teams)) if len(teams) == 1 else None
        elif session.get(Team, team_id) is None:
            fields["team_id"] = [f"no team with id {team_id}"]
        if fields:
            raise ValidationFailed("cannot open the case", fields)
        require_team(user, team_id)
        caseworker = None
        if caseworker_id is None and user.role == CASEWORKER:
            caseworker = user
        elif caseworker_id is not None:
            caseworker = session.get(User, caseworker_id)
            if not may_be_responsible(caseworker, team_id):
                raise ValidationFailed("cannot open the case",
                                       {"caseworker_id": ["is not a caseworker of the team"]})
        received_at = received_at.astimezone(timezone.utc)
        version = self.registry.startable_version(session, process_id)
        definition = self.registry.definition_for(version)

        person, changes = self._citizen(session, cpr, citizen)
        created = now()
        case = Case(process_id=process_id, process_version_id=version.id, citizen=person,
                    team_id=team_id, caseworker_id=caseworker.id if caseworker else None,
                    status=status, received_at=received_at, created_at=created,
                    created_by_id=user.id)
        session.add(case)
        session.flush()
        case.number = f"{created.year}-{case.id:06d}"
        audit.record(session, case.id, "case_created", user, process=process_id,
                     version=version.version, received_at=received_at.isoformat())
        if changes:
            # The citizen is shared by all their cases: each of them records the change.
            for case_id in session.scalars(select(Case.id).where(Case.citizen_id == person.id)):
                audit.record(session, case_id, "citizen_updated", user, **changes)
        if local_date(received_at) < local_date(created):
            audit.record(session, case.id, "received_date_backdated", user,
                         received_at=received_at.isoformat(), created_at=created.isoformat())

        workflow = runtime.start(definition, self._case_data(case), self.script_engine)
        instance = Instance(case_id=case.id, process_version_id=version.id, status=RUNNING,
                            serialized="", updated_at=created)
        session.add(instance)
        session.flush()
        failure = runtime.run_engine(workflow)
        self._save(session, case, instance, workflow, failure)
        return case

    @staticmethod
    def _citizen(session: Session, cpr: str, given: dict) -> tuple[Citizen, dict]:
        """The citizen with this CPR number, created or updated from what was given, and the
        changes made to an existing one."""
        name, address = given["name"].strip(), given.get("address") or None
        person = session.scalar(select(Citizen).where(Citizen.cpr == cpr))
        if person is None:
            try:
                with session.begin_nested():  # two new cases for one new citizen at once
                    person = Citizen(cpr=cpr, name=name, address=address)
                    session.add(person)
                return person, {}
            except IntegrityError:
                person = session.scalar(select(Citizen).where(Citizen.cpr == cpr))
        changes = {}
        if name != person.name:
            changes["name"] = {"old": person.name, "new": name}
            person.name = name
        if address and address != person.address:
            changes["address"] = {"old": person.address, "new": address}
            person.address = address
        return person, changes

    @staticmethod
    def _case_data(case: Case) -> dict:
        """What the process knows about the case (CASE_DATA_KEYS); forms pre-fill from it."""
        return {
            "sagsnummer": case.number,
            "borger_navn": case.citizen.name,
            "borger_adresse": case.citizen.address,
            "borger_foedselsdato": birth_date(case.citizen.cpr).isoformat(),
            "modtaget_dato": local_date(case.received_at).isoformat(),
            "modtaget_tidspunkt": case.received_at.isoformat(),
        }

    def get_case(self, session: Session, user: User, case_id: int,
                 log: bool = True) -> Case:
        """The case, if the user may see it; the view is logged (`log=False` for a request
        that is part of a view already logged, e.g. the diagram of the case page)."""
        case = session.get(Case, case_id)
        if case is None:
            raise NotFound(f"no case with id {case_id}")
        require_case_access(user, case)
        if log:
            audit.log_access(session, user, case.id, "view_case")
        return case

    def list_cases(self, session: Session, user: User, page: int = 1, per_page: int = 50,
                   status: str | None = None, process: str | None = None) -> Page:
        query = select(Case)
        teams = visible_team_ids(user)
        if teams is not None:
            query = query.where(Case.team_id.in_(teams))
        if status:
            query = query.where(Case.status == status)
        if process:
            query = query.where(Case.process_id == process)
        total = session.scalar(select(func.count()).select_from(query.subquery()))
        items = list(session.scalars(
            query.options(joinedload(Case.team), joinedload(Case.caseworker),
                          joinedload(Case.process_version))
            .order_by(Case.received_at.desc(), Case.id.desc())
            .limit(per_page).offset((page - 1) * per_page)
        ))
        audit.log_list_access(session, user, [c.id for c in items], "list_cases")
        return Page(items, total, page, per_page)

    def update_case(self, session: Session, user: User, case_id: int, *,
                    status: str | None = None, received_at: datetime | None = None) -> Case:
        """Change a case's status (closing sets the closing date) or its received date.
        Both are audited with the old and the new value."""
        case = self.get_case(session, user, case_id)
        if case.status == "closed" and status is None:
            raise Conflict(f"case {case.number} is closed; reopen it first")
        require_role(user, CASEWORKER, LEADER, ADMIN)
        if received_at is not None:
            problem = _received_at_problem(received_at)
            if problem:
                raise ValidationFailed("cannot change the received date",
                                       {"received_at": [problem]})
            received_at = received_at.astimezone(timezone.utc)
            audit.record(session, case.id, "received_date_changed", user,
                         old=case.received_at.isoformat(), new=received_at.isoformat())
            previous, case.received_at = case.received_at, received_at
            self._update_case_data(session, case, previous)
        if status is not None and status != case.status:
            if status not in CASE_STATUSES:
                raise ValidationFailed("unknown status",
                                       {"status": [f"must be one of {', '.join(CASE_STATUSES)}"]})
            if status == "closed":
                running = [i for i in self.case_instances(session, case) if i.status != COMPLETED]
                if running:
                    raise Conflict(f"case {case.number} cannot be closed while its process is "
                                   f"{running[0].status}")
                case.closed_at = now()
            else:
                case.closed_at = None
            if self.deadlines is not None and (status == "closed" or case.status == "closed"):
                watch.close_case_deadlines(session, self.deadlines, case, case.closed_at,
                                           keep=self._owed_by_letters(session, case))
            audit.record(session, case.id, "status_changed", user, old=case.status, new=status)
            case.status = status
        session.flush()
        return case

    def _owed_by_letters(self, session: Session, case: Case) -> set[str]:
        """Deadlines a closing case still owes: those a letter drafted on it meets when issued
        (e.g. the receipt to a professional notifier, also when the case closes at once)."""
        if self.letters is None:
            return set()
        drafts = session.scalars(select(Letter.key).where(Letter.case_id == case.id,
                                                          Letter.state == "draft"))
        return {self.letters.catalogue.get(key).meets for key in drafts
                if key in self.letters.catalogue and self.letters.catalogue.get(key).meets}

    def _close_case(self, session: Session, case: Case, actor: User | None,
                    reason: str) -> None:
        """The process ended with luk_sag(...): the case closes and its open deadlines are
        settled (no longer watched, shown as closed)."""
        case.closed_at = now()
        if self.deadlines is not None:
            watch.close_case_deadlines(session, self.deadlines, case, case.closed_at,
                                       keep=self._owed_by_letters(session, case))
        audit.record(session, case.id, "status_changed", actor, old=case.status, new="closed",
                     reason=reason, by="process")
        case.status = "closed"

    def _update_case_data(self, session: Session, case: Case, previous_received: datetime) -> None:
        """Give the running processes of a case what it now knows about itself; deadlines
        that ran from the old received date run from the new one."""
        for instance in self.case_instances(session, case):
            if instance.status == COMPLETED:
                continue
            workflow = self._load(instance)
            runtime.update_data(workflow, self._case_data(case))
            if self.deadlines is not None:
                restart_deadlines(workflow, self.deadlines, previous_received, case.received_at)
            self._save(session, case, instance, workflow, None, ran=False)

    def change_deadline(self, session: Session, user: User, case_id: int, key: str,
                        action: str, reason: str | None = None) -> CaseDeadline:
        """Meet, pause (for a reason the catalogue allows) or resume a deadline of a case, in
        the process data that carries it, so that the process and the rows agree."""
        case = self.get_case(session, user, case_id)
        require_can_act_on_case(user, case)
        return self._change_deadline(session, user, case, key, action, reason)

    def _letter_issued(self, session: Session, user: User, letter) -> None:
        """A letter that answers a deadline (letters.toml `meets`) meets it when issued."""
        key = self.letters.catalogue.get(letter.key).meets
        if key is None or self.deadlines is None:
            return
        row = session.scalar(select(CaseDeadline).where(
            CaseDeadline.case_id == letter.case_id, CaseDeadline.key == key,
            CaseDeadline.met_at.is_(None), CaseDeadline.closed_at.is_(None)))
        if row is not None:
            self._change_deadline(session, user, letter.case, key, "meet")

    def _change_deadline(self, session: Session, user: User, case: Case, key: str,
                         action: str, reason: str | None = None) -> CaseDeadline:
        if self.deadlines is None:
            raise NotFound("this installation has no deadline catalogue")
        row = session.scalar(select(CaseDeadline).where(CaseDeadline.case_id == case.id,
                                                        CaseDeadline.key == key))
        if row is None:
            raise NotFound(f"case {case.number} has no deadline {key!r}")
        if row.closed_at is not None:
            raise Conflict(f"case {case.number} is closed; reopen it first")
        for instance in self.case_instances(session, case):
            workflow = self._load(instance)
            latest = workflow.recorded_deadlines.get(key)
            if latest is None:
                continue
            changed = change_entry(self.deadlines, key, latest, action, reason)
            edit_deadlines(workflow, lambda k, _entry, new=changed: new if k == key else None)
            self._save(session, case, instance, workflow, None, actor=user, ran=False)
            return row
        raise NotFound(f"no process of case {case.number} holds deadline {key!r}")

    def send_message(self, session: Session, user: User, case_id: int, name: str,
                     data: dict, received_at: datetime | None = None) -> Case:
        """Something new arrives on an open case (e.g. a second notification): the message
        `name`, its data checked against the form of the same name in forms/, goes to the
        case's process that waits for it. The step that takes it finds the data, with the case
        data and when it was received, under `name`."""
        case = self.get_case(session, user, case_id)
        require_can_act_on_case(user, case)
        if case.status == "closed":
            raise Conflict(f"case {case.number} is closed; reopen it first")
        form = self.forms.get(name)
        if form is None:
            raise NotFound(f"no message {name!r}: forms/ has no form of that name")
        data = form.validate(data)
        moment = now()
        received = received_at or moment
        problem = _received_at_problem(received)
        if problem:
            raise ValidationFailed(f"received_at {problem}", {"received_at": [problem]})
        payload = {**self._case_data(case), **data,
                   "modtaget_tidspunkt": received.isoformat(),
                   "modtaget_dato": local_date(received).isoformat()}
        for instance in self.case_instances(session, case):
            if instance.status != RUNNING:
                continue
            session.refresh(instance, with_for_update=True)
            workflow = self._load(instance)
            if name not in runtime.accepted_messages(workflow):
                continue
            failure = runtime.send_message(workflow, name, payload, name)
            audit.record(session, case.id, "message_received", user, message=name,
                         received_at=received.isoformat(), data=data)
            self._save(session, case, instance, workflow, failure, actor=user)
            return case
        raise Conflict(f"no process of case {case.number} takes the message {name!r} now")

    @staticmethod
    def _message_fields(session: Session, case_id: int, form) -> dict:
        """Fields marked `"x-messages": "<name>"` show what arrived on the case as that
        message (send_message), newest first, each with when it was received."""
        wanted = {name: field["x-messages"] for name, field in form.fields.items()
                  if field.get("x-messages")}
        if not wanted:
            return {}
        events = session.scalars(select(AuditEvent).where(
            AuditEvent.case_id == case_id, AuditEvent.kind == "message_received")
            .order_by(AuditEvent.id.desc()))
        found: dict[str, list] = {name: [] for name in wanted}
        for event in events:
            for name, message in wanted.items():
                if event.data.get("message") == message:
                    found[name].append({"modtaget": event.data.get("received_at"),
                                        **(event.data.get("data") or {})})
        return found

    @staticmethod
    def _messages(session: Session, case_id: int) -> dict[str, list[dict]]:
        """What arrived on the case by message (send_message), by name, oldest first."""
        found: dict[str, list[dict]] = {}
        for event in session.scalars(select(AuditEvent).where(
                AuditEvent.case_id == case_id, AuditEvent.kind == "message_received")
                .order_by(AuditEvent.id)):
            found.setdefault(event.data["message"], []).append(event.data.get("data") or {})
        return found

    # What the case page shows of a case's process data (the rest is in the timeline).
    RECORD_KEYS = ("parter", "foraeldremyndighed", "samtykker", "anmodninger", "indsatsmaal",
                   "opfoelgninger", "udfald", "ydelse", "omfang", "leverandoer")

    def case_workflows(self, session: Session, case: Case) -> list[tuple[Instance, object]]:
        """Every process instance of the case with its workflow, loaded once for a page."""
        return [(instance, self._load(instance))
                for instance in self.case_instances(session, case)]

    def case_record(self, workflows: list[tuple[Instance, object]]) -> dict:
        """What the case's processes know that the case page shows: parties, consents,
        requests for information and their status, goals, follow-ups, the decision. Read from
        the process data as its latest step left it; FFB codes with their Danish names.
        `workflows`: case_workflows."""
        record: dict = {}
        for _instance, workflow in workflows:
            tasks = sorted((t for t in workflow.get_tasks() if t.data),
                           key=lambda t: t.last_state_change)
            requests: dict[tuple, dict] = {}
            for task in tasks:
                for key in self.RECORD_KEYS:
                    if task.data.get(key) is not None:
                        record[key] = task.data[key]
                # a request still under way keeps its status in its own instance's data
                one = task.data.get("anmodning")
                if isinstance(one, dict):
                    requests[(one.get("modtager"), one.get("spoergsmaal"))] = one
            if requests and record.get("anmodninger"):
                record["anmodninger"] = [
                    requests.get((a.get("modtager"), a.get("spoergsmaal")), a)
                    if not a.get("status") else a for a in record["anmodninger"]]
        if record.get("ydelse"):
            record["ydelse_navn"] = self._ffb_display(record["ydelse"])
        return record

    @staticmethod
    def positions(workflows: list[tuple[Instance, object]]) -> list[dict]:
        """Where each running process of the case stands: its waiting and ready BPMN
        elements (for the process diagram). `workflows`: case_workflows."""
        found = []
        for instance, workflow in workflows:
            if instance.status == COMPLETED:
                continue
            for task in runtime.current_elements(workflow):
                found.append({"process": task.workflow.spec.name,
                              "element": task.task_spec.bpmn_id,
                              "name": task.task_spec.bpmn_name})
        return found

    def case_instances(self, session: Session, case: Case) -> list[Instance]:
        return list(session.scalars(select(Instance).where(Instance.case_id == case.id)))

    def open_tasks_of_case(self, session: Session, case: Case) -> list[Task]:
        return list(session.scalars(
            select(Task).where(Task.case_id == case.id, Task.state == READY)
            .order_by(Task.due_at.asc().nulls_last(), Task.id)
        ))

    def timeline(self, session: Session, case: Case):
        return audit.timeline(session, case.id)

    # -- tasks ---------------------------------------------------------------------------

    def count_tasks(self, session: Session, user: User, scope: str, **filters) -> int:
        """How many open tasks list_tasks would give (nothing shown, nothing logged)."""
        return session.scalar(select(func.count()).select_from(Task).where(
            *self._task_conditions(user, scope, **filters)))

    def count_tabs(self, session: Session, user: User, scopes=("mine", "team", "unassigned"),
                   **filters) -> dict[str, int]:
        """count_tasks for several scopes in one read (the inbox's tab counts)."""
        base = [Task.state == READY, *self._filter_conditions(**filters)]
        teams = visible_team_ids(user)
        if teams is not None:
            base.append(Task.team_id.in_(teams or {-1}))
        columns = [func.count().filter(and_(*self._scope_conditions(user, scope) or [true()]))
                   for scope in scopes]
        row = session.execute(select(*columns).select_from(Task).where(*base)).one()
        return dict(zip(scopes, row, strict=True))

    def resolve_citizen(self, session: Session, user: User, citizen: str | None):
        """The ids of the cases with open tasks the user may see whose citizen a filter names
        (read once per page), or None for no filter. For a user who sees some teams the
        search starts from those teams' open tasks (thousands), not from every citizen of the
        municipality (tens of thousands)."""
        if not citizen:
            return None
        teams = visible_team_ids(user)
        if teams is None:
            return list(session.scalars(select(Case.id).where(
                Case.citizen_id.in_(self._citizens_named(citizen)))))
        named = self._citizens_named(citizen).where(Citizen.id == Case.citizen_id).exists()
        return list(session.scalars(
            select(Case.id).distinct().join(Task, Task.case_id == Case.id)
            .where(Task.state == READY, Task.team_id.in_(teams or {-1}), named)))

    def _task_conditions(self, user: User, scope: str, **filters) -> list:
        """Open tasks the user may see in `scope`, narrowed by the filters."""
        if scope not in TASK_SCOPES:
            raise ValidationFailed("unknown scope", {"scope": [f"must be one of {TASK_SCOPES}"]})
        conditions = [Task.state == READY]
        teams = visible_team_ids(user)
        if teams is not None:
            conditions.append(Task.team_id.in_(teams or {-1}))
        return conditions + self._scope_conditions(user, scope) + \
            self._filter_conditions(**filters)

    @staticmethod
    def _scope_conditions(user: User, scope: str) -> list:
        """What a scope adds to the tasks the user may see: the user's own, their teams' (of
        those), or the unassigned ones meant for one of their groups."""
        if scope == "mine":
            return [Task.assignee_id == user.id]
        if scope == "team":
            return [Task.team_id.in_(user.team_ids or {-1})]
        if scope == "unassigned":
            return [Task.assignee_id.is_(None), or_(
                Task.candidate_groups == "",
                *[Task.candidate_groups.like(f"%,{_like_escape(g)},%", escape="\\")
                  for g in user_groups(user)])]
        return []

    def _filter_conditions(self, *, process: str | None = None, case_id: int | None = None,
                           overdue: bool = False, due_before: datetime | None = None,
                           task_type: str | None = None, citizen: str | None = None,
                           case_ids: list | None = None) -> list:
        conditions = []
        if process:
            conditions.append(Task.process_id == process)
        if case_id is not None:
            conditions.append(Task.case_id == case_id)
        if overdue:
            conditions.append(Task.due_at < now())
        if due_before is not None:
            conditions.append(Task.due_at < due_before)
        if task_type:
            conditions.append(Task.bpmn_id == task_type)
        if citizen:
            conditions.append(Task.case_id.in_(select(Case.id).where(
                Case.citizen_id.in_(self._citizens_named(citizen)))))
        if case_ids is not None:
            conditions.append(Task.case_id.in_(case_ids or [-1]))
        return conditions

    @staticmethod
    def _citizens_named(citizen: str):
        """Citizens a filter names: the CPR number it is, or whose name contains it."""
        digits = citizen.replace("-", "").strip()
        return select(Citizen.id).where(
            Citizen.cpr == digits if digits.isdigit() and len(digits) == 10 else
            func.lower(Citizen.name).like(f"%{_like_escape(citizen.strip().lower())}%",
                                          escape="\\"))

    def list_tasks(self, session: Session, user: User, scope: str = "team", *,
                   page: int = 1, per_page: int = 50, **filters) -> Page:
        """The inbox: open tasks the user may see, soonest due first. Reads task rows only
        (a citizen filter also the case's citizen: a name contains it, or the CPR number is
        it). Filters: process, case_id, overdue, due_before, task_type, citizen."""
        conditions = self._task_conditions(user, scope, **filters)
        total = session.scalar(select(func.count()).select_from(Task).where(*conditions))
        # NULLS LAST is the index's own order on PostgreSQL, so the page is read off the
        # (team, state, due) index instead of sorting every open task of the team.
        items = list(session.scalars(
            select(Task).where(*conditions)
            .order_by(Task.due_at.asc().nulls_last(), Task.id)
            .limit(per_page).offset((page - 1) * per_page)
        ))
        audit.log_list_access(session, user, [t.case_id for t in items], "list_tasks")
        return Page(items, total, page, per_page)

    def _task(self, session: Session, user: User, task_id: str) -> Task:
        task = session.get(Task, task_id)
        if task is None:
            raise NotFound(f"no task with id {task_id}")
        require_case_access(user, task.case)
        return task

    def get_task(self, session: Session, user: User, task_id: str) -> tuple[Task, dict]:
        """The task with its form and the values that pre-fill it: what the case knows, with
        a saved draft over it. `task.draft` is the draft row (or None)."""
        task = self._task(session, user, task_id)
        audit.log_access(session, user, task.case_id, "view_task")
        form = self.forms.get(task.form_key)
        prefill = {}
        task.draft = session.get(TaskDraft, task.id) if task.state == READY else None
        if task.state == READY and form is not None:
            instance = session.get(Instance, task.instance_id)
            workflow = self._load(instance)
            spiff_task = runtime.find_task(workflow, task.id)
            prefill = form.prefill(spiff_task.data)
            prefill.update(self._message_fields(session, task.case_id, form))
            if task.draft is not None:
                prefill.update(task.draft.data)
        return task, prefill

    def task_form(self, session: Session, user: User, task_id: str):
        """A task the user may see, with its form (None if the form is gone); not logged: for
        a request that is part of a view already logged (saving what the form shows)."""
        task = self._task(session, user, task_id)
        return task, self.forms.get(task.form_key)

    def save_draft(self, session: Session, user: User, task_id: str, data: dict,
                   version: int | None = None) -> TaskDraft:
        """Keep what was typed into a task's form without completing it: any fields, in any
        order; the values given must fit the form, nothing is required yet. `version`: the
        draft version the user started from; if someone saved since, 409 (nothing is
        overwritten)."""
        task, form = self._task_to_work_on(session, user, task_id)
        data = form.validate_draft(data)
        draft = session.get(TaskDraft, task.id, with_for_update=True)
        if draft is None:
            if version not in (None, 0):
                raise Conflict("the draft you edited no longer exists; reload the task")
            try:
                with session.begin_nested():  # two first saves at once: one wins
                    draft = TaskDraft(task_id=task.id, version=0, data={}, saved_at=now(),
                                      saved_by_id=user.id)
                    session.add(draft)
            except IntegrityError:
                raise Conflict("someone saved a draft of this task at the same moment; reload "
                               "the task to see it") from None
        elif version is not None and version != draft.version:
            raise Conflict(f"{draft.saved_by.username} saved the draft at "
                           f"{draft.saved_at.isoformat()} after you opened it; reload the task "
                           "to see their changes")
        draft.data, draft.saved_at, draft.saved_by_id = data, now(), user.id
        draft.saved_by = user
        draft.version += 1
        session.flush()
        return draft

    def claim(self, session: Session, user: User, task_id: str) -> Task:
        task = self._open_task(session, user, task_id)
        if task.assignee_id == user.id:
            return task
        if task.assignee_id is not None:
            raise Conflict(f"the task is already claimed by {task.assignee.username}")
        require_can_work(user, task)
        self._require_uninvolved_if_needed(session, user, task)
        task.assignee_id, task.assignee = user.id, user
        audit.record(session, task.case_id, "task_claimed", user, task.id, task=task.name)
        return task

    def _require_uninvolved_if_needed(self, session: Session, user: User, task: Task,
                                      spiff_task=None) -> None:
        if spiff_task is None:
            # A claim: load the workflow (to evaluate the rule on the task's data) only for a
            # task whose definition carries the rule, not on every claim.
            instance = session.get(Instance, task.instance_id)
            version = session.get(ProcessVersion, instance.process_version_id)
            definition = self.registry.definition_for(version)
            specs = (definition.spec, *definition.subprocess_specs.values())
            if not any(getattr(spec.task_specs.get(task.bpmn_id), "extensions", {}).get(
                    "uafhaengig_hvis") for spec in specs):
                return
            spiff_task = runtime.find_task(self._load(instance), task.id)
        if self._needs_someone_uninvolved(spiff_task):
            require_not_involved(user, session.scalars(select(Task.completed_by_id).where(
                Task.case_id == task.case_id, Task.completed_by_id.is_not(None))))

    def unclaim(self, session: Session, user: User, task_id: str) -> Task:
        task = self._open_task(session, user, task_id)
        if task.assignee_id is None:
            return task
        if task.assignee_id != user.id:
            require_can_assign(user, task, None)
        audit.record(session, task.case_id, "task_unclaimed", user, task.id, task=task.name,
                     previous=task.assignee.username)
        task.assignee_id, task.assignee = None, None
        return task

    def assign(self, session: Session, user: User, task_id: str, username: str | None) -> Task:
        task = self._open_task(session, user, task_id)
        assignee = None
        if username is not None:
            assignee = session.scalar(select(User).where(User.username == username))
            if assignee is None:
                raise ValidationFailed("cannot assign", {"assignee": [f"no user {username!r}"]})
        require_can_assign(user, task, assignee)
        task.assignee_id, task.assignee = (assignee.id if assignee else None), assignee
        audit.record(session, task.case_id, "task_assigned", user, task.id, task=task.name,
                     assignee=username)
        return task

    def _open_task(self, session: Session, user: User, task_id: str) -> Task:
        task = self._task(session, user, task_id)
        if task.state != READY:
            raise Conflict(f"the task is {task.state}, no longer open")
        return task

    def _task_to_work_on(self, session: Session, user: User, task_id: str):
        """An open task the user may work on, with its form."""
        task = self._open_task(session, user, task_id)
        require_can_work(user, task)
        form = self.forms.get(task.form_key)
        if form is None:
            raise NotFound(f"the task's form {task.form_key!r} does not exist")
        return task, form

    def complete_task(self, session: Session, user: User, task_id: str, data: dict) -> Task:
        """Complete a user task with data valid for its form, and run the process on."""
        task, form = self._task_to_work_on(session, user, task_id)
        data = form.validate(data)
        instance = session.get(Instance, task.instance_id)
        if instance.status == ERROR:
            raise Conflict(f"the case is in error and must be retried first: "
                           f"{instance.error_message}")
        workflow = self._load(instance)
        spiff_task = runtime.find_task(workflow, task.id)
        if form.checks:
            form.check(data, spiff_task.data, self._messages(session, task.case_id))
        self._require_uninvolved_if_needed(session, user, task, spiff_task)
        # Every field of the form is a name later steps may use: one left empty is None
        # (unless the case already holds a value under that name).
        filled = {**{name: None for name, field in form.fields.items()
                     if not field.get("readOnly") and name not in spiff_task.data}, **data}
        failure = runtime.complete_user_task(workflow, task.id, filled)
        moment = now()
        task.state = DONE
        task.completed_by_id = user.id
        task.completed_at = moment
        if task.assignee_id is None:
            task.assignee_id, task.assignee = user.id, user
        audit.record(session, task.case_id, "task_completed", user, task.id,
                     task=task.name, bpmn_id=task.bpmn_id, data=data)
        draft = session.get(TaskDraft, task.id)
        if draft is not None:
            session.delete(draft)
        self._save(session, task.case, instance, workflow, failure)
        return task

    # -- timers and errors ---------------------------------------------------------------

    def due_instance_ids(self, session: Session, limit: int = 100) -> list[int]:
        return list(session.scalars(
            select(Instance.id)
            .where(Instance.status == RUNNING, Instance.next_due_at <= now())
            .order_by(Instance.next_due_at).limit(limit)
        ))

    def fire_due_timers(self, session: Session, instance_id: int) -> list:
        """Fire the due timers of one instance. Run one instance per transaction; on
        PostgreSQL the row is claimed with SKIP LOCKED so that concurrent schedulers never
        fire the same timer twice."""
        claimed = self._claim_due(session, Instance.id == instance_id)
        if claimed is None:
            return []  # another scheduler took it, or it is no longer due
        return self.fire_claimed(session, *claimed)

    def claim_next_due(self, session: Session, skip=()) -> tuple[Instance, Case] | None:
        """The next due instance (earliest first) with its case, locked for this transaction;
        on PostgreSQL rows other schedulers hold are skipped (SKIP LOCKED), so that any
        number of them can each take the next one without waiting or colliding. `skip`:
        instance ids not to take (this tick could not fire them)."""
        return self._claim_due(session, Instance.id.not_in(sorted(skip)) if skip else None,
                               order=True)

    def _claim_due(self, session: Session, condition=None, order: bool = False):
        # The instance and its case in one statement; the case's citizen is not needed here.
        query = claim_next(
            session, select(Instance, Case).join(Case, Case.id == Instance.case_id)
            .where(Instance.status == RUNNING, Instance.next_due_at <= now())
            .options(lazyload(Case.citizen)),
            of=Instance, condition=condition,
            order_by=Instance.next_due_at if order else None)
        row = session.execute(query).first()
        return None if row is None else (row[0], row[1])

    def fire_next_due(self, session: Session, skip=(), claimed: list | None = None) -> bool:
        """Claim the next due instance and fire its timers: what the scheduler does in each
        transaction. False when nothing is due (or everything due is skipped or held by other
        schedulers). The claimed id is appended to `claimed` before firing, so that a caller
        can put it in error when firing fails."""
        found = self.claim_next_due(session, skip)
        if found is None:
            return False
        if claimed is not None:
            claimed.append(found[0].id)
        self.fire_claimed(session, *found)
        return True

    def fire_claimed(self, session: Session, instance: Instance, case: Case) -> list:
        """Fire the due timers of an instance claimed with claim_next_due (or as above)."""
        workflow = self._load(instance)
        fired, failure = runtime.fire_due_timers(workflow)
        for spec in fired:
            audit.record(session, case.id, "timer_fired", None, timer=spec.bpmn_id,
                         name=spec.bpmn_name)
        self._save(session, case, instance, workflow, failure)
        return fired

    def mark_error(self, session: Session, instance_id: int, message: str) -> None:
        """Put an instance in the error state after a failure outside the engine (e.g. while
        saving), so that it shows on the case and no longer holds up the timer queue."""
        instance = session.get(Instance, instance_id)
        if instance is None or instance.status == ERROR:
            return
        message = f"firing a timer failed: {message}"
        instance.status = ERROR
        instance.error_message = message
        audit.record(session, instance.case_id, "error", None, message=message, element=None)

    def retry(self, session: Session, user: User, case_id: int, data: dict | None = None) -> Case:
        """Run the failed step of a case in error again, optionally with corrected data."""
        case = self.get_case(session, user, case_id)
        require_can_retry(user, case)
        bad = [k for k in (data or {}) if not k.isidentifier() or k.startswith("_")
               or k in CASE_DATA_KEYS]
        if bad:
            raise ValidationFailed("cannot retry with that data", {
                k: ["must be a plain name (letters, digits, _), not start with _, and not be "
                    "case data (" + ", ".join(CASE_DATA_KEYS) + ")"] for k in bad})
        instance = session.scalar(
            select(Instance).where(Instance.case_id == case.id, Instance.status == ERROR))
        if instance is None:
            raise Conflict(f"case {case.number} is not in error")
        workflow = self._load(instance)
        failure = runtime.retry(workflow, data)
        audit.record(session, case.id, "retried", user, data=data or {})
        self._save(session, case, instance, workflow, failure)
        return case

    # -- saving --------------------------------------------------------------------------

    def _load(self, instance: Instance):
        workflow = runtime.load(self.registry.serializer, instance.serialized,
                                self.script_engine)
        # What was started before this run: rows need writing only when it changes.
        workflow.recorded_deadlines = started_deadlines(workflow)
        workflow.recorded_letters = requested_letters(workflow)
        return workflow

    def _save(self, session: Session, case: Case, instance: Instance, workflow,
              failure: runtime.EngineFailure | None, actor: User | None = None,
              ran: bool = True) -> None:
        """Persist the workflow and bring the task and deadline rows in line with it. `ran`:
        the engine ran (so the outcome sets the instance's status); False when only data
        changed."""
        moment = now()
        if not ran:
            pass
        elif failure is not None:
            instance.status = ERROR
            instance.error_message = failure.message
            instance.error_element = failure.element
            audit.record(session, case.id, "error", None, message=failure.message,
                         element=failure.element)
        elif workflow.is_completed():
            instance.status = COMPLETED
            instance.error_message = instance.error_element = None
        else:
            instance.status = RUNNING
            instance.error_message = instance.error_element = None
        self._project_tasks(session, case, instance, workflow, moment)
        # Deadlines may move timers, so the workflow is written after them.
        self._record_deadlines(session, case, instance, workflow, moment, actor)
        self._prepare_requested_letters(session, case, workflow)
        if ran and failure is None and workflow.is_completed() and case.status != "closed":
            # luk_sag may have run on any branch; the latest request gives the reason.
            requests = [t.data[CLOSE_KEY] for t in workflow.get_tasks() if t.data.get(CLOSE_KEY)]
            if requests:
                self._close_case(session, case, actor, max(requests, key=lambda r: r["tid"])[
                    "aarsag"])
        instance.serialized = runtime.dump(self.registry.serializer, workflow)
        instance.updated_at = moment
        instance.next_due_at = runtime.next_timer_due(workflow)
        session.flush()

    def _record_deadlines(self, session: Session, case: Case, instance: Instance, workflow,
                          moment: datetime, actor: User | None = None) -> None:
        """Deadlines the process started or changed become (or update) rows of the case; a
        deadline that moved moves the due dates of open tasks and the timers that name it."""
        started = started_deadlines(workflow)
        if self.deadlines is None or started == getattr(workflow, "recorded_deadlines", {}):
            return
        rows = {row.key: row for row in session.scalars(
            select(CaseDeadline).where(CaseDeadline.case_id == case.id))}
        moved = False
        for key, entry in started.items():
            values = _deadline_values(entry)
            row = rows.get(key)
            if row is None:
                catalogued = self.deadlines.get(key)
                row = CaseDeadline(
                    case_id=case.id, team_id=case.team_id, process_id=case.process_id,
                    responsible_id=case.caseworker_id, key=key, title=catalogued.title,
                    legal_basis="; ".join(str(ref) for ref in catalogued.legal_basis),
                    reminders_sent=0, created_at=moment, **values)
                row.responsible = case.caseworker
                session.add(row)
                audit.record(session, case.id, "deadline_started", actor, key=key,
                             due_at=row.due_at.isoformat())
            elif any(getattr(row, name) != value for name, value in values.items()):
                moved |= row.due_at != values["due_at"]
                self._deadline_changed(session, case, row, values, moment, actor)
            else:
                continue
            watch.schedule(self.deadlines, row)
        if moved:
            # Every task sees the deadlines as they are now (a parallel branch too).
            edit_deadlines(workflow, lambda k, e: started[k] if e != started.get(k, e) else None)
            self._move_due_dates(session, case, instance, workflow)
        workflow.recorded_deadlines = started

    def _prepare_requested_letters(self, session: Session, case: Case, workflow) -> None:
        """Letters a process step asked for (prepare_letter) become drafts on the case, in
        the order asked."""
        requested = requested_letters(workflow)
        recorded = getattr(workflow, "recorded_letters", {})
        new = sorted((entry["tid"], entry.get("nr", 0), request_id)
                     for request_id, entry in requested.items() if request_id not in recorded)
        if new and self.letters is not None:
            for _at, _nr, request_id in new:
                entry = requested[request_id]
                key = entry["brev"]
                if key not in self.letters.catalogue:
                    audit.record(session, case.id, "error", None, element=None,
                                 message=f"prepare_letter: no letter {key!r} in "
                                         "letters/letters.toml")
                    continue
                self.letters.prepare(session, case, key, "process",
                                     recipient=entry.get("modtager"),
                                     values=entry.get("data"))
        workflow.recorded_letters = requested

    def _deadline_changed(self, session: Session, case: Case, row: CaseDeadline, values: dict,
                          moment: datetime, actor: User | None) -> None:
        key = row.key
        if values["met_at"] is not None and row.met_at is None:
            audit.record(session, case.id, "deadline_met", actor, key=key,
                         late=values["met_at"] > row.due_at)
        if values["paused_at"] is not None and row.paused_at is None:
            audit.record(session, case.id, "deadline_paused", actor, key=key,
                         reason=values["pause_reason"])
        if values["paused_at"] is None and row.paused_at is not None and \
                values["met_at"] is None:
            audit.record(session, case.id, "deadline_resumed", actor, key=key,
                         due_at=values["due_at"].isoformat())
        if (row.start_at, row.due_at) != (values["start_at"], values["due_at"]):
            audit.record(session, case.id, "deadline_changed", actor, key=key,
                         old=row.due_at.isoformat(), new=values["due_at"].isoformat())
            # A new due date: its reminders still ahead are given (not those already
            # passed), and it is breached again if it passes again.
            row.reminders_sent = sum(
                1 for m in watch.reminder_moments(self.deadlines, row.key, values["due_at"])
                if m <= moment)
            if values["due_at"] > moment:
                row.breached_at = None
        for name, value in values.items():
            setattr(row, name, value)

    def _move_due_dates(self, session: Session, case: Case, instance: Instance,
                        workflow) -> None:
        """Open tasks and waiting timers whose date names a deadline follow it."""
        for spiff_task, old, new in runtime.move_timers(workflow):
            audit.record(session, case.id, "timer_moved", None, str(spiff_task.id),
                         timer=spiff_task.task_spec.bpmn_id, old=old, new=new)
        rows = session.scalars(select(Task).where(Task.instance_id == instance.id,
                                                  Task.state == READY))
        for row in rows:
            spiff_task = runtime.find_task(workflow, row.id)
            try:
                due = runtime.resolve_date(spiff_task, spiff_task.task_spec.due_date,
                                           row.created_at)
            except Exception:  # noqa: BLE001 - it was resolvable before; keep the old date
                continue
            if due != row.due_at:
                audit.record(session, case.id, "task_due_changed", None, row.id,
                             task=row.name, old=row.due_at.isoformat() if row.due_at else None,
                             new=due.isoformat() if due else None)
                row.due_at = due

    def case_deadlines(self, session: Session, case: Case) -> list[CaseDeadline]:
        return list(session.scalars(select(CaseDeadline).where(CaseDeadline.case_id == case.id)
                                    .order_by(CaseDeadline.due_at)))

    def _project_tasks(self, session: Session, case: Case, instance: Instance, workflow,
                       moment: datetime) -> None:
        ready = {str(t.id): t for t in runtime.ready_user_tasks(workflow)}
        # No autoflush: everything of this unit of work goes to the database in one flush at
        # the end of _save (audit rows in one multi-row INSERT). Rows changed in this session
        # but not flushed yet keep their new state in the identity map: filter on it.
        with session.no_autoflush:
            rows = {row.id: row for row in session.scalars(
                select(Task).where(Task.instance_id == instance.id, Task.state == READY)
                .options(lazyload(Task.case))) if row.state == READY}
            self._project_rows(session, case, instance, ready, rows, moment)

    def _project_rows(self, session: Session, case: Case, instance: Instance, ready: dict,
                      rows: dict, moment: datetime) -> None:
        for row_id, row in rows.items():
            if row_id not in ready:
                row.state = CANCELLED
                draft = session.get(TaskDraft, row_id)
                if draft is not None:  # what was typed for a task that will not come back
                    session.delete(draft)
                audit.record(session, case.id, "task_cancelled", None, row.id, task=row.name)
        for task_id, spiff_task in ready.items():
            if task_id in rows:
                continue
            spec = spiff_task.task_spec
            row = Task(id=task_id, instance_id=instance.id, case_id=case.id,
                       team_id=case.team_id, process_id=case.process_id, created_at=moment,
                       state=READY, case=case)
            self.fill_task_row(session, case, row, spiff_task)
            if self._needs_someone_uninvolved(spiff_task):
                row.assignee_id = None  # left for the team: not the caseworker already involved
            else:
                row.assignee_id = self._default_assignee(session, case, spec, row)
            session.add(row)
            audit.record(session, case.id, "task_created", None, task_id, task=row.name,
                         due_at=row.due_at.isoformat() if row.due_at else None)

    @staticmethod
    def fill_task_row(session: Session, case: Case, row: Task, spiff_task) -> None:
        """A task row takes what its BPMN step says: id, name, lane, candidate groups, form,
        and the due and follow-up dates counted from the row's creation (a bad date
        expression is recorded as an error on the case and does not hide the task)."""
        spec = spiff_task.task_spec
        row.bpmn_id, row.name, row.lane = spec.bpmn_id, spec.bpmn_name or spec.bpmn_id, spec.lane
        row.candidate_groups = ("," + ",".join(spec.candidate_groups) + ","
                                if spec.candidate_groups else "")
        row.form_key = (spec.form.key if spec.form else None) or None
        try:
            row.due_at = runtime.resolve_date(spiff_task, spec.due_date, row.created_at)
            row.follow_up_at = runtime.resolve_date(spiff_task, spec.follow_up_date,
                                                    row.created_at)
        except Exception as exc:  # noqa: BLE001 - the task shows, the case says why
            audit.record(session, case.id, "error", None, row.id,
                         message=f"cannot compute the due date: {runtime.error_text(exc)}",
                         element=describe_element(spec))

    @staticmethod
    def _needs_someone_uninvolved(spiff_task) -> bool:
        """camunda:property `uafhaengig_hvis`: an expression on the task data; when true, only
        someone who has not completed a task of the case may complete this one."""
        condition = spiff_task.task_spec.extensions.get("uafhaengig_hvis")
        return bool(condition) and bool(
            spiff_task.workflow.script_engine.evaluate(spiff_task, condition))

    @staticmethod
    def _default_assignee(session: Session, case: Case, spec, row: Task) -> int | None:
        """`camunda:assignee` names a user; otherwise the case's caseworker takes the tasks
        meant for them."""
        if spec.assignee:
            user = session.scalar(select(User).where(User.username == spec.assignee))
            if user is not None and may_work_on(user, row):
                return user.id
            audit.record(session, case.id, "error", None, row.id, element=spec.bpmn_id,
                         message=f"camunda:assignee {spec.assignee!r} cannot work on this case; "
                                 "the task is left for its candidate groups")
            return None
        if case.caseworker is not None and row.groups and is_candidate(case.caseworker, row):
            return case.caseworker_id
        return None
