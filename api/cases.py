from flask_smorest import Blueprint

from engine.db import transaction

from .auth import casework, current_user
from .extensions import db
from .schemas import (
    CaseCreate,
    CaseOut,
    CasePage,
    CaseQuery,
    CaseUpdate,
    DeadlineChange,
    MessageIn,
    RetryIn,
)

blp = Blueprint("cases", __name__, url_prefix="/api/v1/cases", description="Cases")


def _case_body(session, case):
    service = casework()
    return {
        **{k: getattr(case, k) for k in (
            "id", "number", "process_id", "process_version", "status", "received_at",
            "created_at", "closed_at", "team", "caseworker", "citizen")},
        "open_tasks": service.open_tasks_of_case(session, case),
        "deadlines": service.case_deadlines(session, case),
        "instances": service.case_instances(session, case),
        "timeline": service.timeline(session, case),
    }


class _Obj(dict):
    """Lets marshmallow read dict keys as attributes for the nested Function fields."""

    __getattr__ = dict.get


@blp.post("")
@blp.doc(security=[{"bearer": []}])
@blp.arguments(CaseCreate)
@blp.response(201, CaseOut)
def open_case(body):
    """Open a case; its process starts at once on the latest deployed version."""
    with transaction(db.session) as session:
        case = casework().open_case(
            session, current_user(), body["process"], body["citizen"], body["received_at"],
            team_id=body["team_id"], caseworker_id=body["caseworker_id"], status=body["status"],
        )
        result = _Obj(_case_body(session, case))
    return result


@blp.get("")
@blp.doc(security=[{"bearer": []}])
@blp.arguments(CaseQuery, location="query")
@blp.response(200, CasePage)
def list_cases(query):
    """Cases of the caller's teams, newest received first. CPR numbers are masked."""
    with transaction(db.session) as session:
        page = casework().list_cases(session, current_user(), page=query["page"],
                                     per_page=query["per_page"], status=query["status"],
                                     process=query["process"])
    return page


@blp.get("/<int(max=2147483647):case_id>")
@blp.doc(security=[{"bearer": []}])
@blp.response(200, CaseOut)
def get_case(case_id):
    """One case: citizen, open tasks, instances and the timeline. The view is logged."""
    with transaction(db.session) as session:
        case = casework().get_case(session, current_user(), case_id)
        result = _Obj(_case_body(session, case))
    return result


@blp.post("/<int(max=2147483647):case_id>/retry")
@blp.doc(security=[{"bearer": []}])
@blp.arguments(RetryIn)
@blp.response(200, CaseOut)
def retry_case(body, case_id):
    """Run the failed step of a case in error again, optionally with corrected data."""
    with transaction(db.session) as session:
        case = casework().retry(session, current_user(), case_id, body.get("data"))
        result = _Obj(_case_body(session, case))
    return result


@blp.patch("/<int(max=2147483647):case_id>")
@blp.doc(security=[{"bearer": []}])
@blp.arguments(CaseUpdate)
@blp.response(200, CaseOut)
def update_case(body, case_id):
    """Change the status (expected, active, dormant, closed) or the received date."""
    with transaction(db.session) as session:
        case = casework().update_case(session, current_user(), case_id,
                                      status=body.get("status"),
                                      received_at=body.get("received_at"))
        result = _Obj(_case_body(session, case))
    return result


@blp.post("/<int(max=2147483647):case_id>/deadlines/<string(maxlength=64):key>")
@blp.doc(security=[{"bearer": []}])
@blp.arguments(DeadlineChange)
@blp.response(200, CaseOut)
def change_deadline(body, case_id, key):
    """Meet, pause (with a reason the deadline catalogue allows) or resume a deadline of the
    case. Resuming moves the due date on by the paused time."""
    with transaction(db.session) as session:
        service = casework()
        service.change_deadline(session, current_user(), case_id, key, body["action"],
                                body.get("reason"))
        case = service.get_case(session, current_user(), case_id)
        result = _Obj(_case_body(session, case))
    return result


@blp.post("/<int(max=2147483647):case_id>/messages/<string(maxlength=64):name>")
@blp.doc(security=[{"bearer": []}])
@blp.arguments(MessageIn)
@blp.response(200, CaseOut)
def send_message(body, case_id, name):
    """Something new on an open case, such as a new notification (`ny_underretning`): the
    data is checked against the form of the same name and goes to the case's process that
    takes that message (409 when none does now)."""
    with transaction(db.session) as session:
        service = casework()
        service.send_message(session, current_user(), case_id, name, body["data"],
                             body.get("received_at"))
        case = service.get_case(session, current_user(), case_id)
        result = _Obj(_case_body(session, case))
    return result
