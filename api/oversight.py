"""Leaders' oversight: the deadline queue (JSON or CSV), moving caseloads, and the caseworkers'
calendar feeds."""

from __future__ import annotations

import csv
import io

from flask import Blueprint as FlaskBlueprint
from flask import Response, request, url_for
from flask_smorest import Blueprint

from engine import calendar_feed, oversight
from engine.clock import LOCAL_TZ
from engine.db import transaction
from engine.errors import NotFound

from .auth import current_user
from .extensions import db
from .schemas import CalendarOut, QueueOut, QueueQuery, ReassignIn, ReassignOut

blp = Blueprint("oversight", __name__, url_prefix="/api/v1", description="Deadlines and caseloads")
feeds = FlaskBlueprint("calendar_feeds", __name__)

CSV_COLUMNS = ("Sag", "Team", "Proces", "Sagsbehandler", "Frist", "Titel", "Hjemmel",
               "Forfalder", "Dage over fristen", "Status", "Rykket", "Overskredet")
STATE_NAMES = {"overdue": "Overskredet", "due_soon": "Snart", "open": "Åben",
               "paused": "Sat i bero", "met": "Overholdt", "closed": "Lukket"}


def _wants_csv(query) -> bool:
    if query["format"] == "csv":
        return True
    best = request.accept_mimetypes.best_match(["application/json", "text/csv"])
    return best == "text/csv" and request.accept_mimetypes["text/csv"] > \
        request.accept_mimetypes["application/json"]


@blp.get("/queues/deadlines")
@blp.doc(security=[{"bearer": []}])
@blp.arguments(QueueQuery, location="query")
@blp.response(200, QueueOut)
@blp.alt_response(200, description="text/csv: every row, with `format=csv` or Accept: text/csv",
                  content_type="text/csv", success=True)
def deadline_queue(query):
    """Overdue (or due-soon) deadlines: a leader's teams, a caseworker's own, all for an
    administrator. Latest first; counts per group; a traffic light per caseworker."""
    wanted = oversight.QueueFilter(state=query["state"], team=query["team"],
                                   caseworker=query["caseworker"], key=query["key"],
                                   process=query["process"])
    as_csv = _wants_csv(query)
    with transaction(db.session) as session:
        result = oversight.deadline_queue(
            session, current_user(), wanted, group_by=query["group_by"], page=query["page"],
            per_page=None if as_csv else query["per_page"])
        if not as_csv:
            return result
        body = deadline_rows_csv(result["items"])
    filename = f"frister-{query['state']}.csv"
    return Response(body, mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def _local(moment) -> str:
    return moment.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M") if moment else ""


def deadline_rows_csv(items) -> str:
    """Semicolon-separated with a byte order mark: what Danish Excel opens as columns."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for d in items:
        writer.writerow([_cell(str(value)) for value in (
            d.case.number, d.case.team.key, d.process_id,
            d.responsible.username if d.responsible else "", d.key, d.title,
            d.legal_basis, _local(d.due_at), d.days_late, STATE_NAMES[d.state],
            _local(d.reminded_at), _local(d.breached_at))])
    return out.getvalue()


def _cell(text: str) -> str:
    """No formula injection: a cell that a spreadsheet would run starts with a quote."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@blp.post("/reassignments")
@blp.doc(security=[{"bearer": []}])
@blp.arguments(ReassignIn)
@blp.response(200, ReassignOut)
def reassign(body):
    """Move a caseworker's open cases (all in your teams, or the ones named) and their open
    tasks to another caseworker of the same team. All or nothing; one audit event per case."""
    with transaction(db.session) as session:
        return oversight.reassign(session, current_user(), body["from_"], body["to"],
                                  body["case_ids"])


@blp.post("/me/calendar")
@blp.doc(security=[{"bearer": []}])
@blp.response(201, CalendarOut)
def create_calendar():
    """A new secret address for your deadlines and due tasks as an iCalendar feed; the previous
    address stops working."""
    with transaction(db.session) as session:
        token = calendar_feed.create_feed(session, current_user())
    return {"url": url_for("calendar_feeds.read_feed", token=token, _external=True)}


@blp.delete("/me/calendar")
@blp.doc(security=[{"bearer": []}])
@blp.response(204)
def revoke_calendar():
    """Revoke your calendar address: it stops working at once."""
    with transaction(db.session) as session:
        if not calendar_feed.revoke_feed(session, current_user()):
            raise NotFound("you have no calendar address")


@feeds.get("/calendar/<string(maxlength=64):token>.ics")
def read_feed(token):
    """The feed itself: the secret address is the key (calendar programs send no token)."""
    with transaction(db.session) as session:
        user = calendar_feed.feed_user(session, token)
        body = calendar_feed.render_feed(session, user)
    return Response(body, mimetype="text/calendar",
                    headers={"Cache-Control": "private, max-age=300"})
