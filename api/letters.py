"""Letters: drafts from case data, preview as HTML, issue as PDF, corrections, the outbox."""

from __future__ import annotations

from flask import Response, current_app
from flask_smorest import Blueprint

from engine.db import transaction

from .auth import current_user
from .extensions import db
from .schemas import LetterCreate, LetterOut, LetterUpdate, OutboxOut, OutboxQuery

blp = Blueprint("letters", __name__, url_prefix="/api/v1", description="Letters")
ID = "<int(max=2147483647):letter_id>"
CASE = "<int(max=2147483647):case_id>"


def letters():
    return current_app.extensions["letters"]


@blp.get(f"/cases/{CASE}/letters")
@blp.doc(security=[{"bearer": []}])
@blp.response(200, LetterOut(many=True))
def list_letters(case_id):
    """The case's letters, drafts and issued, oldest first."""
    with transaction(db.session) as session:
        return letters().list_letters(session, current_user(), case_id)


@blp.post(f"/cases/{CASE}/letters")
@blp.doc(security=[{"bearer": []}])
@blp.arguments(LetterCreate)
@blp.response(201, LetterOut)
def create_letter(body, case_id):
    """A draft of a letter from the catalogue, filled from the case; its free-text blocks are
    pre-filled and can be edited before it is issued."""
    with transaction(db.session) as session:
        return letters().create_draft(session, current_user(), case_id, body["letter"],
                                      body["recipient"], body["texts"])


@blp.get(f"/letters/{ID}")
@blp.doc(security=[{"bearer": []}])
@blp.response(200, LetterOut)
def get_letter(letter_id):
    with transaction(db.session) as session:
        return letters().get(session, current_user(), letter_id)


@blp.patch(f"/letters/{ID}")
@blp.doc(security=[{"bearer": []}])
@blp.arguments(LetterUpdate)
@blp.response(200, LetterOut)
def update_letter(body, letter_id):
    """Edit a draft's free-text blocks, recipient or required values (an issued letter never
    changes)."""
    with transaction(db.session) as session:
        return letters().update_draft(session, current_user(), letter_id, body["texts"],
                                      body["recipient"], body["values"])


@blp.get(f"/letters/{ID}/preview")
@blp.doc(security=[{"bearer": []}])
@blp.alt_response(200, description="the letter as HTML", content_type="text/html",
                  success=True)
def preview_letter(letter_id):
    """The letter as it would be issued now, as HTML (an issued letter: as it was issued)."""
    with transaction(db.session) as session:
        html = letters().preview(session, current_user(), letter_id)
    return Response(html, mimetype="text/html")


@blp.post(f"/letters/{ID}/issue")
@blp.doc(security=[{"bearer": []}])
@blp.response(200, LetterOut)
def issue_letter(letter_id):
    """Issue the draft: PDF, checksum and the data it came from are kept for good; the letter
    goes to the outbox."""
    with transaction(db.session) as session:
        return letters().issue(session, current_user(), letter_id)


@blp.post(f"/letters/{ID}/correct")
@blp.doc(security=[{"bearer": []}])
@blp.response(201, LetterOut)
def correct_letter(letter_id):
    """A new draft that corrects an issued letter; the issued one stays as it was."""
    with transaction(db.session) as session:
        return letters().correct(session, current_user(), letter_id)


@blp.get(f"/letters/{ID}/pdf")
@blp.doc(security=[{"bearer": []}])
@blp.alt_response(200, description="the issued PDF", content_type="application/pdf",
                  success=True)
def letter_pdf(letter_id):
    with transaction(db.session) as session:
        letter = letters().pdf(session, current_user(), letter_id)
        body, name = letter.pdf, f"{letter.case.number}-brev{letter.id}-v{letter.version}.pdf"
    return Response(body, mimetype="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{name}"'})


@blp.post(f"/letters/{ID}/retry-delivery")
@blp.doc(security=[{"bearer": []}])
@blp.response(200, LetterOut)
def retry_delivery(letter_id):
    """Send a letter whose delivery failed again, now."""
    with transaction(db.session) as session:
        return letters().retry_delivery(session, current_user(), letter_id)


@blp.get("/outbox")
@blp.doc(security=[{"bearer": []}])
@blp.arguments(OutboxQuery, location="query")
@blp.response(200, OutboxOut(many=True))
def outbox(query):
    """Letters on their way out in the caller's teams (newest first): queued, sent, failed."""
    with transaction(db.session) as session:
        return letters().outbox(session, current_user(), query["status"])
