"""Who may see and do what: every check lives here, and every use case calls it."""

from __future__ import annotations

from .errors import Forbidden
from .models import ADMIN, CASEWORKER, DESIGNER, LEADER, Case, Task, User


def visible_team_ids(user: User) -> set[int] | None:
    """Teams whose cases the user may see; None means all (administrators)."""
    if user.role == ADMIN:
        return None
    if user.role == LEADER:
        # A leader sees the teams they lead, and any they are an ordinary member of.
        return user.team_ids
    if user.role == CASEWORKER:
        return user.team_ids
    return set()


def user_groups(user: User) -> set[str]:
    """The candidate groups a user answers to: their role and the keys of their teams."""
    groups = {user.role}
    groups.update(m.team.key for m in user.memberships)
    if user.led_team_ids:
        groups.add(LEADER)
    return groups


def require_role(user: User, *roles: str) -> None:
    if user.role not in roles:
        raise Forbidden(f"this needs the role {' or '.join(roles)}")


def require_designer(user: User) -> None:
    """Deploying processes, comparing their versions and moving running cases to a new
    version: process designers and administrators."""
    if user.role not in (DESIGNER, ADMIN):
        raise Forbidden("only process designers and administrators may deploy processes and "
                        "move cases between their versions")


def require_case_access(user: User, case: Case) -> None:
    teams = visible_team_ids(user)
    if teams is not None and case.team_id not in teams:
        raise Forbidden("the case belongs to a team you are not part of")



def require_team(user: User, team_id: int) -> None:
    teams = visible_team_ids(user)
    if teams is not None and team_id not in teams:
        raise Forbidden("you are not part of that team")


def may_be_responsible(user: User | None, team_id: int) -> bool:
    """May the user be a case's responsible caseworker in that team?"""
    return user is not None and user.active and user.role in (CASEWORKER, LEADER) \
        and team_id in user.team_ids


def may_work_on(user: User, task: Task) -> bool:
    try:
        require_can_work(user, task)
    except Forbidden:
        return False
    return True


def require_can_retry(user: User, case: Case) -> None:
    """A case in error is retried by its own caseworker, a leader of its team or an
    administrator."""
    require_case_access(user, case)
    if user.role == ADMIN or case.team_id in user.led_team_ids or case.caseworker_id == user.id:
        return
    raise Forbidden("only the case's caseworker or a leader of its team can retry it")


def is_candidate(user: User, task: Task) -> bool:
    groups = task.groups
    # The role is always one of the user's groups: checked first, it spares loading the
    # user's memberships (a query) for the usual task offered to a role.
    return not groups or user.role in groups or bool(user_groups(user) & set(groups))


def require_can_work(user: User, task: Task) -> None:
    """May the user claim or complete the task?"""
    require_case_access(user, task.case)
    if user.role not in (CASEWORKER, LEADER):
        raise Forbidden("only caseworkers and leaders work on tasks")
    if task.assignee_id is not None and task.assignee_id != user.id:
        raise Forbidden("the task is assigned to someone else")
    if task.assignee_id is None and not is_candidate(user, task):
        raise Forbidden(
            "the task is for " + ", ".join(task.groups) + ", which you are not part of"
        )


def require_can_act_on_case(user: User, case: Case) -> None:
    """Changing a case's deadlines, writing and issuing its letters: the caseworkers and leaders
    of its team."""
    require_case_access(user, case)
    if user.role not in (CASEWORKER, LEADER):
        raise Forbidden("only caseworkers and leaders of the case's team do this")


def queue_scope(user: User) -> tuple[set[int] | None, int | None]:
    """The deadlines a user may see in the queue: (teams or None for all, and a caseworker they
    are limited to or None). Leaders see the teams they lead, caseworkers their own
    deadlines, administrators all."""
    if user.role == ADMIN:
        return None, None
    if user.role == LEADER:
        return user.led_team_ids, None
    if user.role == CASEWORKER:
        return user.team_ids, user.id
    raise Forbidden("the deadline queue is for caseworkers, leaders and administrators")


def require_can_reassign(user: User, case: Case) -> None:
    """Moving a case to another caseworker: a leader of its team, or an administrator."""
    if user.role == ADMIN or case.team_id in user.led_team_ids:
        return
    # Named by the id the caller gave, never its number: the case is not theirs to see.
    raise Forbidden(f"case {case.id} is not in a team you lead: only its team's leaders "
                    "can move it")


def require_can_assign(user: User, task: Task, assignee: User | None) -> None:
    """Leaders of the case's team (and administrators) assign tasks to its members."""
    require_case_access(user, task.case)
    if user.role != ADMIN and task.team_id not in user.led_team_ids:
        raise Forbidden("only a leader of the case's team can assign its tasks")
    if assignee is not None:
        if task.team_id not in assignee.team_ids:
            raise Forbidden(f"{assignee.username} is not a member of the case's team")
        if not is_candidate(assignee, task):
            raise Forbidden(f"{assignee.username} is not among the task's candidate groups")


def require_not_involved(user: User, involved_user_ids) -> None:
    """A step that must be taken by someone not previously involved in the case (a new
    notification about violence or abuse, Barnets lov § 137): nobody who completed a task of
    the case may take it."""
    if user.id in set(involved_user_ids):
        raise Forbidden("this step must be taken by someone not previously involved in the case "
                        "(it concerns violence or abuse); ask your leader to assign it")
