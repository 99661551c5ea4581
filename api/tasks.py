from flask_smorest import Blueprint

from engine.db import transaction

from .auth import casework, current_user
from .extensions import db
from .schemas import (
    AssignIn,
    CompleteIn,
    DraftIn,
    DraftOut,
    TaskDetail,
    TaskOut,
    TaskPage,
    TaskQuery,
)

blp = Blueprint("tasks", __name__, url_prefix="/api/v1/tasks", description="Task lists")


@blp.get("")
@blp.doc(security=[{"bearer": []}])
@blp.arguments(TaskQuery, location="query")
@blp.response(200, TaskPage)
def list_tasks(query):
    """Open tasks, soonest due first: mine, my teams', unassigned ones I may take, or all I
    may see."""
    with transaction(db.session) as session:
        return casework().list_tasks(
            session, current_user(), query["scope"], process=query["process"],
            case_id=query["case"], overdue=query["overdue"], due_before=query["due_before"],
            page=query["page"], per_page=query["per_page"],
        )


@blp.get("/<task_id>")
@blp.doc(security=[{"bearer": []}])
@blp.response(200, TaskDetail)
def get_task(task_id):
    """A task with its form (JSON Schema and display hints) and the pre-filled values."""
    service = casework()
    with transaction(db.session) as session:
        task, prefill = service.get_task(session, current_user(), task_id)
        form = service.forms.get(task.form_key)
    task.form = form.schema if form else {}
    task.data = prefill
    return task


def _action(method, *args):
    with transaction(db.session) as session:
        return method(session, current_user(), *args)


@blp.put("/<task_id>/draft")
@blp.doc(security=[{"bearer": []}])
@blp.arguments(DraftIn)
@blp.response(200, DraftOut)
def save_draft(body, task_id):
    """Save the form as it is, without completing the task: any fields, in any order. Values
    must fit the form (422 names the field); what is missing is named only on completion.
    409 if someone saved the draft after the given version."""
    return _action(casework().save_draft, task_id, body["data"], body["version"])


@blp.post("/<task_id>/claim")
@blp.doc(security=[{"bearer": []}])
@blp.response(200, TaskOut)
def claim(task_id):
    """Take an unassigned task."""
    return _action(casework().claim, task_id)


@blp.post("/<task_id>/unclaim")
@blp.doc(security=[{"bearer": []}])
@blp.response(200, TaskOut)
def unclaim(task_id):
    """Give a task back to the team."""
    return _action(casework().unclaim, task_id)


@blp.post("/<task_id>/assign")
@blp.doc(security=[{"bearer": []}])
@blp.arguments(AssignIn)
@blp.response(200, TaskOut)
def assign(body, task_id):
    """A leader assigns a task to a member of the case's team (or to nobody)."""
    return _action(casework().assign, task_id, body["assignee"])


@blp.post("/<task_id>/complete")
@blp.doc(security=[{"bearer": []}])
@blp.arguments(CompleteIn)
@blp.response(200, TaskOut)
def complete(body, task_id):
    """Complete a task with data valid for its form. 409 if it is no longer ready, 422 on
    invalid data, 403 if it is not yours to do."""
    return _action(casework().complete_task, task_id, body["data"])
