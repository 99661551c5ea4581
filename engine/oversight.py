"""What leaders use to keep deadlines: the queue of overdue and due-soon deadlines of their
teams, a traffic light per caseworker, and moving a caseworker's cases and tasks to another.

The queue reads the deadline rows alone (team, process and responsible caseworker are copied
onto them), through the partial index of deadlines that still run."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from . import audit
from .clock import LOCAL_TZ, local_date, now
from .errors import Forbidden, NotFound, ValidationFailed
from .models import (
    ADMIN,
    CASEWORKER,
    LEADER,
    READY,
    Case,
    CaseDeadline,
    Membership,
    Task,
    Team,
    User,
)
from .permissions import (
    is_candidate,
    may_be_responsible,
    queue_scope,
    require_can_reassign,
    require_role,
)

QUEUE_STATES = ("overdue", "due_soon")
GROUPS = ("team", "caseworker", "key", "process")
RED, YELLOW, GREEN = "red", "yellow", "green"


@dataclass
class QueueFilter:
    state: str = "overdue"
    team: str | None = None  # team key
    caseworker: str | None = None  # username of the responsible caseworker
    key: str | None = None  # deadline key
    process: str | None = None


def _running():
    """Deadlines that still run: not met, case not closed, not paused (the partial index's
    condition plus the pause)."""
    return [CaseDeadline.met_at.is_(None), CaseDeadline.closed_at.is_(None),
            CaseDeadline.paused_at.is_(None)]


def _scope_conditions(session: Session, user: User, wanted: QueueFilter) -> list:
    """What the user may see, narrowed by the filter's team, caseworker, key and process.
    Unknown names are refused by name (never an empty queue that hides a typo)."""
    teams, responsible_id = queue_scope(user)
    conditions = _running()
    problems: dict[str, list[str]] = {}
    if wanted.team is not None:
        team_id = session.scalar(select(Team.id).where(Team.key == wanted.team))
        if team_id is None:
            problems["team"] = [f"no team {wanted.team!r}"]
        elif teams is not None and team_id not in teams:
            raise Forbidden(f"you may not see the deadlines of team {wanted.team!r}")
        teams = {team_id}
    if wanted.caseworker is not None:
        worker = select(User.id).where(User.username == wanted.caseworker)
        if teams is not None:  # whether someone exists outside one's teams is not one's business
            worker = worker.join(Membership).where(Membership.team_id.in_(teams or {-1}))
        worker_id = session.scalar(worker.limit(1))
        if worker_id is None:
            problems["caseworker"] = [f"no caseworker {wanted.caseworker!r} in your teams"]
        elif responsible_id is not None and worker_id != responsible_id:
            raise Forbidden("a caseworker sees only their own deadlines")
        responsible_id = worker_id
    if problems:
        raise ValidationFailed("cannot show the queue", problems)
    if teams is not None:
        conditions.append(CaseDeadline.team_id.in_(teams or {-1}))
    if responsible_id is not None:
        conditions.append(CaseDeadline.responsible_id == responsible_id)
    if wanted.key is not None:
        conditions.append(CaseDeadline.key == wanted.key)
    if wanted.process is not None:
        conditions.append(CaseDeadline.process_id == wanted.process)
    return conditions


def _state_conditions(state: str, moment: datetime) -> list:
    if state == "overdue":
        return [CaseDeadline.due_at < moment]
    return [CaseDeadline.due_at >= moment, CaseDeadline.warn_at <= moment]


def deadline_queue(session: Session, user: User, wanted: QueueFilter, *,
                   group_by: str | None = None, page: int = 1,
                   per_page: int | None = 50) -> dict:
    """The queue: deadlines in `wanted.state` the user may see, the most overdue (or the
    soonest due) first, with counts per group and a traffic light per caseworker.
    `per_page=None` returns every row (the CSV export)."""
    if wanted.state not in QUEUE_STATES:
        raise ValidationFailed("unknown state", {"state": [f"must be one of {QUEUE_STATES}"]})
    if group_by is not None and group_by not in GROUPS:
        raise ValidationFailed("unknown grouping", {"group_by": [f"must be one of {GROUPS}"]})
    moment = now()
    scope = _scope_conditions(session, user, wanted)
    conditions = scope + _state_conditions(wanted.state, moment)
    # One grouped read of the index per state gives the lights, the total and the groups.
    columns = _tallied(group_by)
    tallies = _tallies(session, scope, moment, columns)
    counts = _counts_per_caseworker(tallies)
    which = 0 if wanted.state == "overdue" else 1
    total = sum(c[which] for c in counts.values())
    query = (select(CaseDeadline).where(*conditions)
             .options(joinedload(CaseDeadline.case).joinedload(Case.team))
             .order_by(CaseDeadline.due_at, CaseDeadline.id))
    if per_page is not None:
        query = query.limit(per_page).offset((page - 1) * per_page)
    items = list(session.scalars(query))
    audit.log_list_access(session, user, [d.case_id for d in items], "deadline_queue")
    today = local_date(moment)
    for item in items:
        item.days_late = max(0, (today - local_date(item.due_at)).days) \
            if item.due_at < moment else 0
    return {
        "state": wanted.state, "items": items, "total": total, "page": page,
        "per_page": per_page,
        "groups": _groups(session, tallies[which], columns, group_by) if group_by else [],
        "caseworkers": _traffic_lights(session, user, counts, wanted),
    }


# The column of each grouping; team and responsible caseworker are always tallied (the
# traffic lights need them), the deadline key or the process only when the queue is grouped
# by it (on SQLite that doubles the cost of the read).
_COLUMN = {"team": CaseDeadline.team_id, "caseworker": CaseDeadline.responsible_id,
           "key": CaseDeadline.key, "process": CaseDeadline.process_id}


def _tallied(group_by: str | None) -> tuple:
    columns = (CaseDeadline.team_id, CaseDeadline.responsible_id)
    if group_by in ("key", "process"):
        columns += (_COLUMN[group_by],)
    return columns


def _tallies(session: Session, scope: list, moment: datetime, columns: tuple) -> tuple:
    """Per state (overdue, due soon): rows of (*columns, count, earliest due date) over the
    deadlines in scope. Each state is one range of its own index, which holds every column
    read, so nothing but the index is read; the rows are few (teams x caseworkers x deadline
    keys)."""
    return tuple(
        session.execute(select(*columns, func.count(), func.min(CaseDeadline.due_at))
                        .where(*scope, *_state_conditions(state, moment))
                        .group_by(*columns)).all()
        for state in QUEUE_STATES)


def _counts_per_caseworker(tallies: tuple) -> dict:
    """responsible id -> (overdue, due soon, earliest overdue due date, earliest due-soon due
    date)."""
    counts: dict = {}
    for which, rows in enumerate(tallies):
        for row in rows:
            worker, count, earliest = row[1], row[-2], row[-1]
            entry = counts.setdefault(worker, [0, 0, None, None])
            entry[which] += count
            if entry[which + 2] is None or earliest < entry[which + 2]:
                entry[which + 2] = earliest
    return {worker: tuple(entry) for worker, entry in counts.items()}


def _groups(session: Session, rows: list, columns: tuple, group_by: str) -> list[dict]:
    """The queue's deadlines in groups of one column, from the tally of their state."""
    at = next(i for i, column in enumerate(columns) if column is _COLUMN[group_by])
    merged: dict = {}
    for row in rows:
        count, earliest = row[-2], row[-1]
        entry = merged.setdefault(row[at], [0, earliest])
        entry[0] += count
        entry[1] = min(entry[1], earliest)
    labels: dict = {}
    if group_by == "team":
        labels = dict(session.execute(select(Team.id, Team.key)
                                      .where(Team.id.in_(list(merged) or [-1]))).all())
    elif group_by == "caseworker":
        ids = [value for value in merged if value is not None]
        labels = dict(session.execute(select(User.id, User.username)
                                      .where(User.id.in_(ids or [-1]))).all())
    groups = [{"group": labels.get(value, value) if group_by in ("team", "caseworker")
               else value, "count": count, "earliest_due_at": earliest}
              for value, (count, earliest) in merged.items()]
    return sorted(groups, key=lambda g: (g["earliest_due_at"], str(g["group"])))


def _traffic_lights(session: Session, user: User, all_counts: dict,
                    wanted: QueueFilter) -> list[dict]:
    """Every caseworker in scope: red with an overdue deadline, yellow with one due soon (in
    its reminder window), else green; with their counts."""
    counts = {worker: c[:2] for worker, c in all_counts.items()}
    teams, responsible_id = queue_scope(user)
    people = select(User).where(User.active.is_(True), User.role.in_((CASEWORKER, LEADER)))
    if wanted.team is not None:
        people = people.join(Membership).join(Team).where(Team.key == wanted.team)
    elif teams is not None:
        people = people.join(Membership).where(Membership.team_id.in_(teams or {-1}))
    if wanted.caseworker is not None:
        people = people.where(User.username == wanted.caseworker)
    elif responsible_id is not None:
        people = people.where(User.id == responsible_id)
    lights = []
    for person in session.scalars(people.distinct().order_by(User.username)):
        late, soon = counts.pop(person.id, (0, 0))
        lights.append(_light(person.username, person.full_name, late, soon))
    late, soon = counts.pop(None, (0, 0))
    if late or soon:  # deadlines of cases nobody is responsible for
        lights.append(_light(None, "Ingen sagsbehandler", late, soon))
    for worker_id, (late, soon) in counts.items():  # responsible, but no longer in the team
        person = session.get(User, worker_id)
        lights.append(_light(person.username, person.full_name, late, soon))
    order = {RED: 0, YELLOW: 1, GREEN: 2}
    return sorted(lights, key=lambda light: (order[light["light"]], -light["overdue"],
                                             light["username"] or ""))


def _light(username, full_name, late: int, soon: int) -> dict:
    light = RED if late else YELLOW if soon else GREEN
    return {"username": username, "full_name": full_name, "light": light, "overdue": late,
            "due_soon": soon}


# -- moving a caseload ---------------------------------------------------------------------


def reassign(session: Session, user: User, from_username: str, to_username: str,
             case_ids: list[int] | None = None) -> dict:
    """Move the open cases of one caseworker (all of them in the teams the user leads, or the
    given ones) to another: the case's responsible caseworker, its running deadlines and the
    open tasks assigned to the first. One audit event per case. All or nothing: a case that
    cannot move stops the whole move, with the reason per case."""
    require_role(user, LEADER, ADMIN)
    people = {u.username: u for u in session.scalars(
        select(User).where(User.username.in_((from_username, to_username))))}
    problems = {}
    if from_username not in people:
        problems["from"] = [f"no user {from_username!r}"]
    if to_username not in people:
        problems["to"] = [f"no user {to_username!r}"]
    elif from_username == to_username:
        problems["to"] = ["is the same caseworker as from"]
    if problems:
        raise ValidationFailed("cannot reassign", problems)
    giver, taker = people[from_username], people[to_username]
    open_case = Case.status != "closed"
    if case_ids is None:
        teams, _ = queue_scope(user)
        query = select(Case).where(open_case, Case.caseworker_id == giver.id)
        if teams is not None:
            query = query.where(Case.team_id.in_(teams or {-1}))
        cases = list(session.scalars(query.order_by(Case.id)))
    else:
        found = {c.id: c for c in session.scalars(select(Case).where(Case.id.in_(case_ids)))}
        missing = [i for i in case_ids if i not in found]
        if missing:
            raise NotFound("no case with id " + ", ".join(map(str, missing)))
        cases = [found[i] for i in dict.fromkeys(case_ids)]
    refused: dict[str, list[str]] = {}
    for item in cases:
        require_can_reassign(user, item)
        if item.status == "closed":
            refused[item.number] = ["the case is closed"]
        elif item.caseworker_id != giver.id:
            refused[item.number] = [f"{from_username} is not the case's caseworker"]
        elif not may_be_responsible(taker, item.team_id):
            refused[item.number] = [f"{to_username} is not an active caseworker of the "
                                    "case's team"]
    if refused:
        raise ValidationFailed("cannot reassign these cases", refused)
    moved_tasks, left_tasks = 0, []
    for item in cases:
        item.caseworker_id, item.caseworker = taker.id, taker
        for row in session.scalars(select(CaseDeadline).where(
                CaseDeadline.case_id == item.id, CaseDeadline.met_at.is_(None))):
            row.responsible_id, row.responsible = taker.id, taker
        moved, left = [], []
        for task in session.scalars(select(Task).where(
                Task.case_id == item.id, Task.state == READY, Task.assignee_id == giver.id)):
            if is_candidate(taker, task):
                task.assignee_id, task.assignee = taker.id, taker
                moved.append(task.name)
            else:  # back to the team's candidates rather than to someone who may not do it
                task.assignee_id, task.assignee = None, None
                left.append(task.name)
        audit.record(session, item.id, "case_reassigned", user, old=from_username,
                     new=to_username, tasks_moved=moved, tasks_unassigned=left)
        moved_tasks += len(moved)
        left_tasks += [{"case": item.number, "task": name} for name in left]
    if case_ids is None:
        # The whole caseload: also tasks of other cases the caseworker had taken.
        teams, _ = queue_scope(user)
        query = select(Task).where(Task.state == READY, Task.assignee_id == giver.id,
                                   Task.case_id.not_in([c.id for c in cases] or [-1]))
        if teams is not None:
            query = query.where(Task.team_id.in_(teams or {-1}))
        for task in session.scalars(query):
            taken = is_candidate(taker, task) and taker.active and task.team_id in taker.team_ids
            task.assignee_id, task.assignee = (taker.id, taker) if taken else (None, None)
            audit.record(session, task.case_id, "task_assigned", user, task.id, task=task.name,
                         assignee=to_username if taken else None, previous=from_username)
            if taken:
                moved_tasks += 1
            else:
                left_tasks.append({"case": task.case.number, "task": task.name})
    session.flush()
    return {"from": from_username, "to": to_username, "from_name": giver.full_name,
            "to_name": taker.full_name,
            "cases": [c.number for c in cases], "tasks_moved": moved_tasks,
            "tasks_unassigned": left_tasks}


# -- caseload ------------------------------------------------------------------------------


def caseload(session: Session, user: User) -> list[dict]:
    """Per caseworker of the teams the user leads (all for an administrator): open cases,
    the age of the oldest and the median open case (days since received), tasks due this
    week (to Sunday) and overdue tasks assigned to them, and a traffic light (red with an
    overdue task, yellow with tasks due this week)."""
    require_role(user, LEADER, ADMIN)
    teams, _ = queue_scope(user)
    moment = now()
    today = local_date(moment)
    week_end = datetime.combine(today + timedelta(days=6 - today.weekday()), time.max,
                                tzinfo=LOCAL_TZ)
    people = select(User).where(User.active.is_(True), User.role.in_((CASEWORKER, LEADER)))
    if teams is not None:
        people = people.join(Membership).where(Membership.team_id.in_(teams or {-1}))
    people = list(session.scalars(people.distinct().order_by(User.full_name)))
    ids = [p.id for p in people] or [-1]
    open_cases = Case.status.in_(("active", "expected", "dormant"))
    case_filter = [Case.caseworker_id.in_(ids), open_cases]
    if teams is not None:
        case_filter.append(Case.team_id.in_(teams or {-1}))
    received: dict[int, list] = {}
    for worker, at in session.execute(select(Case.caseworker_id, Case.received_at)
                                      .where(*case_filter)):
        received.setdefault(worker, []).append(at)
    task_filter = [Task.state == READY, Task.assignee_id.in_(ids)]
    if teams is not None:
        task_filter.append(Task.team_id.in_(teams or {-1}))
    due = dict(session.execute(select(Task.assignee_id, func.count()).where(
        *task_filter, Task.due_at >= moment, Task.due_at <= week_end)
        .group_by(Task.assignee_id)).all())
    late = dict(session.execute(select(Task.assignee_id, func.count()).where(
        *task_filter, Task.due_at < moment).group_by(Task.assignee_id)).all())
    rows = []
    for person in people:
        ages = sorted((today - local_date(at)).days for at in received.get(person.id, []))
        overdue, this_week = late.get(person.id, 0), due.get(person.id, 0)
        rows.append({
            "username": person.username, "full_name": person.full_name,
            "open_cases": len(ages), "oldest_days": ages[-1] if ages else None,
            "median_days": ages[len(ages) // 2] if ages else None,
            "due_this_week": this_week, "overdue": overdue,
            "light": RED if overdue else YELLOW if this_week else GREEN})
    return rows  # counts only, no case or citizen: nothing to log
