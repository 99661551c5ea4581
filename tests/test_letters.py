"""Letters filled from case data: the shipped templates pass the lint, drafts are pre-filled,
missing data is named, free text is escaped, issued letters are immutable PDFs with a checksum,
corrections are new letters, and the outbox delivers (folder, SMTP) with retries."""

from __future__ import annotations

import hashlib
import io
import shutil
import threading
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from conftest import new_case_body, run_tick
from pypdf import PdfReader
from sqlalchemy import select

from api import scheduler
from api.extensions import db
from engine.clock import now
from engine.letters.delivery import DeliveryFailed, FolderDrop, Outgoing, SmtpDelivery
from engine.letters.lint import lint
from engine.models import AuditEvent, Letter, OutboxItem

LETTERS = Path(__file__).resolve().parent.parent / "letters"
CITIZEN = {"cpr": "0102031234", "name": "Søren Ærø Åberg"}
REFUSAL = {"henvendelse": "Ønsker hjælp til struktur i hverdagen.", "udfald": "afvis",
           "ydelse": "socialpædagogisk støtte efter servicelovens § 85",
           "begrundelse": "Behovet dækkes af tilbud i almenområdet."}


def _refused_case(api):
    """A case whose caseworker assessed the enquiry and proposed a refusal with reasons."""
    worker = api("sagsbehandler")
    case = worker.post("/api/v1/cases", json={**new_case_body(), "citizen": CITIZEN}).get_json()
    [task] = case["open_tasks"]
    done = worker.post(f"/api/v1/tasks/{task['id']}/complete", json={"data": REFUSAL})
    assert done.status_code == 200, done.get_json()
    return worker, case


def _draft(worker, case, key="afgoerelse_afslag", **body):
    response = worker.post(f"/api/v1/cases/{case['id']}/letters", json={"letter": key, **body})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


# -- the lint ------------------------------------------------------------------------------


def test_the_shipped_letters_pass_the_lint():
    assert [str(p) for p in lint(LETTERS)] == []


def _copy(tmp_path) -> Path:
    folder = tmp_path / "letters"
    shutil.copytree(LETTERS, folder)
    return folder


def test_lint_names_file_line_and_rule(tmp_path):
    folder = _copy(tmp_path)
    refusal = folder / "afgoerelse_afslag.html.j2"
    text = refusal.read_text(encoding="utf-8")
    start = text.index("{% block klagevejledning %}")
    end = text.index("{% endblock %}", start) + len("{% endblock %}")
    refusal.write_text(text[:start] + text[end:], encoding="utf-8")
    (folder / "lukning.html.j2").write_text('{% extends "_layout.html.j2" %}\n'
                                           "{% block indhold %}\n{% if %}\n{% endblock %}\n",
                                           encoding="utf-8")
    layout = folder / "_layout.html.j2"
    layout.write_text(layout.read_text(encoding="utf-8").replace("sag.nummer", "sag.proces"),
                      encoding="utf-8")
    problems = [str(p) for p in lint(folder)]
    assert any(p.startswith("afgoerelse_afslag.html.j2:1: decision: a decision needs the "
                            "complaint guidance") for p in problems), problems
    assert any(p.startswith("lukning.html.j2:3: syntax:") for p in problems), problems
    assert any(p.startswith("_layout.html.j2:1: every-letter: the layout does not print the "
                            "case number") for p in problems), problems


def test_lint_command_exits_nonzero_on_a_broken_folder(tmp_path):
    import subprocess
    import sys

    command = [str(Path(sys.executable).parent / "sagsflow"), "letters", "lint"]
    folder = _copy(tmp_path)
    ok = subprocess.run([*command, str(folder)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.startswith(f"ok: {len(list(folder.glob('*.j2')))} templates")
    (folder / "afgoerelse_afslag.html.j2").write_text("{{ oops", encoding="utf-8")
    bad = subprocess.run([*command, str(folder)], capture_output=True, text=True)
    assert bad.returncode == 1
    assert "afgoerelse_afslag.html.j2:1: syntax:" in bad.stdout


# -- drafts, preview, issue --------------------------------------------------------------------


def test_a_refusal_is_filled_from_the_case_and_issued_as_a_pdf(app, api, session):
    worker, case = _refused_case(api)
    draft = _draft(worker, case)
    assert draft["state"] == "draft" and draft["origin"] == "caseworker"
    assert draft["texts"]["begrundelse"] == REFUSAL["begrundelse"]  # nothing typed twice
    assert draft["recipient"]["navn"] == CITIZEN["name"]
    preview = worker.get(f"/api/v1/letters/{draft['id']}/preview")
    assert preview.status_code == 200 and preview.mimetype == "text/html"
    html = preview.get_data(as_text=True)
    for expected in (CITIZEN["name"], case["number"], REFUSAL["begrundelse"], "Ankestyrelsen",
                     "Eksempel Kommune"):
        assert expected in html
    issued = worker.post(f"/api/v1/letters/{draft['id']}/issue")
    assert issued.status_code == 200, issued.get_json()
    letter = issued.get_json()
    assert (letter["state"], letter["version"], letter["issued_by"]) == (
        "issued", 1, "sagsbehandler")
    assert letter["outbox"]["status"] == "queued"
    pdf = worker.get(f"/api/v1/letters/{letter['id']}/pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert hashlib.sha256(pdf.data).hexdigest() == letter["sha256"]
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.data)).pages)
    assert "Søren Ærø Åberg" in text and case["number"] in text
    stored = session.scalar(select(Letter).where(Letter.id == letter["id"]))
    assert stored.context["data"]["begrundelse"] == REFUSAL["begrundelse"]
    assert stored.context["sag"]["nummer"] == case["number"]
    kinds = [e["kind"] for e in worker.get(f"/api/v1/cases/{case['id']}").get_json()["timeline"]]
    assert "letter_prepared" in kinds and "letter_issued" in kinds


def test_free_text_is_escaped(api):
    worker, case = _refused_case(api)
    draft = _draft(worker, case, texts={"begrundelse": '<script>alert("x")</script>\n\nNyt afsnit'})
    html = worker.get(f"/api/v1/letters/{draft['id']}/preview").get_data(as_text=True)
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert "<p>Nyt afsnit</p>" in html


def test_a_letter_that_needs_data_the_case_lacks_names_what_is_missing(api):
    worker = api("sagsbehandler")
    case = worker.post("/api/v1/cases", json=new_case_body()).get_json()
    draft = _draft(worker, case, "bestilling_leverandoer",
                   recipient={"navn": "Bostøtten ApS", "rolle": "provider"})
    refused = worker.post(f"/api/v1/letters/{draft['id']}/issue")
    assert refused.status_code == 422
    message = refused.get_json()["message"]
    assert "data.ydelse" in message and "data.periode" in message
    letter = worker.get(f"/api/v1/letters/{draft['id']}").get_json()
    assert letter["state"] == "draft" and letter["outbox"] is None


@pytest.mark.parametrize("body, status, words", [
    ({"letter": "findes_ikke"}, 404, "no letter 'findes_ikke'"),
    ({"letter": "afgoerelse_afslag", "texts": {"ukendt": "x"}}, 422, "no text block"),
    ({"letter": "afgoerelse_afslag", "texts": {"begrundelse": 5}}, 422, "must be text"),
    ({"letter": "afgoerelse_afslag", "recipient": {"email": "ikke en adresse"}}, 422, "email"),
    ({}, 422, "letter"),
])
def test_bad_drafts_are_refused_by_name(api, body, status, words):
    worker, case = _refused_case(api)
    response = worker.post(f"/api/v1/cases/{case['id']}/letters", json=body)
    assert response.status_code == status, response.get_json()
    assert words in str(response.get_json())


def test_an_issued_letter_never_changes_and_a_correction_is_a_new_letter(api, session):
    worker, case = _refused_case(api)
    draft = _draft(worker, case)
    first = worker.post(f"/api/v1/letters/{draft['id']}/issue").get_json()
    edit = worker.client.patch(f"/api/v1/letters/{first['id']}", headers=worker.headers,
                               json={"texts": {"begrundelse": "Ændret"}})
    assert edit.status_code == 409
    assert worker.post(f"/api/v1/letters/{first['id']}/issue").status_code == 409
    correction = worker.post(f"/api/v1/letters/{first['id']}/correct")
    assert correction.status_code == 201
    fixed = correction.get_json()
    assert fixed["corrects_id"] == first["id"] and fixed["state"] == "draft"
    assert worker.client.patch(f"/api/v1/letters/{fixed['id']}", headers=worker.headers,
                               json={"texts": {"begrundelse": "Rettet begrundelse"}}
                               ).status_code == 200
    second = worker.post(f"/api/v1/letters/{fixed['id']}/issue").get_json()
    assert second["version"] == 2
    html = worker.get(f"/api/v1/letters/{second['id']}/preview").get_data(as_text=True)
    assert "Rettet begrundelse" in html and str(first["id"]) in html
    again = worker.get(f"/api/v1/letters/{first['id']}").get_json()
    assert again["sha256"] == first["sha256"] and again["texts"] == first["texts"]


def test_only_the_team_writes_letters(api):
    worker, case = _refused_case(api)
    assert api("sagsbehandler2").post(f"/api/v1/cases/{case['id']}/letters",
                                      json={"letter": "afgoerelse_afslag"}).status_code == 403
    assert api("designer").get(f"/api/v1/cases/{case['id']}/letters").status_code == 403
    assert api("admin").post(f"/api/v1/cases/{case['id']}/letters",
                             json={"letter": "afgoerelse_afslag"}).status_code == 403


# -- letters asked for by processes and deadlines ---------------------------------------------


def test_a_breached_decision_deadline_prepares_the_letter_to_the_citizen(app, api, session):
    long_ago = (now() - timedelta(weeks=9)).isoformat(timespec="seconds")
    case = api("sagsbehandler").post("/api/v1/cases",
                                     json=new_case_body(received_at=long_ago)).get_json()
    run_tick(app)
    session.expire_all()
    [draft] = session.scalars(select(Letter).where(Letter.case_id == case["id"])).all()
    assert (draft.key, draft.origin, draft.state) == ("forventet_afgoerelsestidspunkt",
                                                      "deadline", "draft")
    [requested] = session.scalars(select(AuditEvent).where(
        AuditEvent.case_id == case["id"], AuditEvent.kind == "letter_requested")).all()
    assert requested.data["letter_id"] == draft.id


def test_a_process_step_prepares_a_letter(app, session, build_casework):
    from bpmn_helpers import CITIZEN as PERSON
    from bpmn_helpers import linear, script_task, user_task
    from conftest import get_user

    from engine.db import transaction

    casework = build_casework({"hoering.bpmn": linear(
        "hoering", ("brev", script_task("brev", 'prepare_letter("partshoering")')),
        ("vent", user_task("vent")))}, deadlines=app.extensions["deadlines"],
        letters=app.extensions["letters"])
    with transaction(session):
        case = casework.open_case(session, get_user(session, "sagsbehandler"), "hoering",
                                  PERSON, now())
    [draft] = session.scalars(select(Letter).where(Letter.case_id == case.id)).all()
    assert (draft.key, draft.origin) == ("partshoering", "process")


# -- the outbox ------------------------------------------------------------------------------


def _issued(api):
    worker, case = _refused_case(api)
    draft = _draft(worker, case)
    return worker, worker.post(f"/api/v1/letters/{draft['id']}/issue").get_json()


def test_the_outbox_drops_issued_letters_in_the_folder_once(app, api, session):
    worker, letter = _issued(api)
    assert run_tick(app)["letters"] == 1
    assert run_tick(app)["letters"] == 0
    sent = worker.get(f"/api/v1/letters/{letter['id']}").get_json()["outbox"]
    assert sent["status"] == "sent" and sent["attempts"] == 1
    folder = Path(app.config["OUTBOX_DIR"])
    [pdf] = folder.glob(f"*-brev{letter['id']}-v1.pdf")
    assert hashlib.sha256(pdf.read_bytes()).hexdigest() == letter["sha256"]
    assert pdf.with_suffix(".json").exists()


def test_a_failed_delivery_shows_its_reason_and_is_retried_with_back_off(
        app, api, session, tmp_path):
    worker, letter = _issued(api)
    letters = app.extensions["letters"]
    blocked = tmp_path / "blocked"
    blocked.write_text("not a folder")
    original = letters.delivery
    letters.delivery = FolderDrop(blocked / "sub")
    try:
        assert run_tick(app)["letters"] == 1
        failed = worker.get(f"/api/v1/letters/{letter['id']}").get_json()["outbox"]
        assert failed["status"] == "failed" and "cannot write" in failed["last_error"]
        assert failed["next_attempt_at"] is not None
        assert run_tick(app)["letters"] == 0  # not before its time
    finally:
        letters.delivery = original
    with time_machine.travel(now() + timedelta(minutes=5), tick=False):
        assert run_tick(app)["letters"] == 1
    sent = worker.get(f"/api/v1/letters/{letter['id']}").get_json()["outbox"]
    assert (sent["status"], sent["attempts"]) == ("sent", 2)
    listed = api("leder").get("/api/v1/outbox?status=sent").get_json()
    assert [i["letter_id"] for i in listed] == [letter["id"]]


def test_smtp_delivery_sends_the_pdf_to_a_real_smtp_server():
    from aiosmtpd.controller import Controller

    received = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
            received.append(envelope)
            return "250 OK"

    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        outgoing = Outgoing(letter_id=7, case_number="2026-000007", title="Afgørelse",
                            version=1, recipient_name="Søren", recipient_address=None,
                            recipient_email="soeren@example.org", sha256="ab" * 32,
                            pdf=b"%PDF-1.7 test")
        SmtpDelivery("127.0.0.1", port, "sagsflow@kommune.example", None).deliver(outgoing)
        [envelope] = received
        assert envelope.rcpt_tos == ["soeren@example.org"]
        assert b"2026-000007-brev7-v1.pdf" in envelope.content
        with pytest.raises(DeliveryFailed, match="no e-mail address"):
            SmtpDelivery("127.0.0.1", port, "s@k.example", None).deliver(
                Outgoing(**{**outgoing.__dict__, "recipient_email": None}))
    finally:
        controller.stop()
    with pytest.raises(DeliveryFailed, match="SMTP 127.0.0.1"):
        SmtpDelivery("127.0.0.1", port, "s@k.example", None, timeout=2).deliver(outgoing)


def test_concurrent_ticks_send_each_letter_once(app, api, session):
    for _ in range(3):
        _issued(api)
    db.session.commit()
    results, threads = [], []
    for _ in range(3):
        thread = threading.Thread(target=lambda: results.append(scheduler.tick(app)["letters"]))
        threads.append(thread)
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sum(results) == 3
    session.expire_all()
    assert [i.attempts for i in session.scalars(select(OutboxItem))] == [1, 1, 1]


# -- review fixes: robustness ------------------------------------------------------------------


def test_an_adapter_that_breaks_counts_its_attempts_and_stops(app, api, session):
    worker, letter = _issued(api)
    letters = app.extensions["letters"]

    class Broken:
        name = "broken"

        def deliver(self, outgoing):
            raise RuntimeError("the Digital Post client crashed")

    original, letters.delivery = letters.delivery, Broken()
    try:
        assert run_tick(app)["letters"] == 0  # failed, not done
        failed = worker.get(f"/api/v1/letters/{letter['id']}").get_json()["outbox"]
        assert failed["status"] == "failed" and failed["attempts"] == 1
        assert "the Digital Post client crashed" in failed["last_error"]
        assert run_tick(app)["letters"] == 0  # not again before its back-off
        item = session.scalar(select(OutboxItem))
        assert item.next_attempt_at > now()
    finally:
        letters.delivery = original


def test_patching_the_recipient_keeps_what_was_not_given(api):
    worker, case = _refused_case(api)
    draft = _draft(worker, case)
    patched = worker.client.patch(f"/api/v1/letters/{draft['id']}", headers=worker.headers,
                                  json={"recipient": {"email": "soeren@example.org"}})
    assert patched.status_code == 200, patched.get_json()
    recipient = patched.get_json()["recipient"]
    assert recipient["navn"] == CITIZEN["name"] and recipient["email"] == "soeren@example.org"


def test_reading_an_issued_letter_is_logged(app, api):
    from engine.models import AccessLog

    worker, letter = _issued(api)
    worker.get(f"/api/v1/letters/{letter['id']}/preview")
    worker.get(f"/api/v1/letters/{letter['id']}/pdf")
    with app.app_context():
        actions = db.session.scalars(select(AccessLog.action).where(
            AccessLog.case_id == letter["case_id"])).all()
        db.session.remove()
    assert "preview_letter" in actions and "view_letter" in actions


def _render(tmp_path, body: str, data: dict):
    from engine.letters.catalogue import LetterType
    from engine.letters.render import make_environment, render_html

    class Catalogue:
        folder = tmp_path

    (tmp_path / "t.html.j2").write_text(body, encoding="utf-8")
    letter = LetterType(key="t", title="T", kind="letter", template="t.html.j2",
                        recipient="citizen", legal_basis=None, requires=(), texts=())
    return render_html(make_environment(Catalogue), letter, {"data": data})


@pytest.mark.parametrize("body, data, expected", [
    ("{% if data.x %}ja{% else %}nej{% endif %}", {}, "nej"),
    ("{{ data.x or 'ingen' }}", {}, "ingen"),
    ("{% if data.x.y is defined %}ja{% else %}nej{% endif %}", {}, "nej"),
    ("{{ data.d | dato }} {{ data.d | klokken }}", {"d": "2026-03-29T12:30:00+00:00"},
     "29. marts 2026 kl. 14.30"),
    ("{{ data.n | kr }}", {"n": 1234.5}, "1.234,50 kr."),
])
def test_templates_may_test_for_values_without_failing(tmp_path, body, data, expected):
    assert _render(tmp_path, body, data) == expected


@pytest.mark.parametrize("body, data, words", [
    ("{{ data.x | dato }}", {}, "x"),
    ("{{ data.x + 1 }}", {}, "x"),
    ("{{ data.x.y }}", {}, "x.y"),
    ("{{ data.d | dato }}", {"d": "næste tirsdag"}, "needs a date, but the case has"),
    ("{{ data.n | kr }}", {"n": "abc"}, "needs an amount, but the case has"),
    ("{% for p in data.people %}{{ p }}{% endfor %}", {"people": 3}, "cannot be made"),
])
def test_a_value_a_template_cannot_use_is_named_not_a_server_error(tmp_path, body, data, words):
    from engine.errors import ValidationFailed

    with pytest.raises(ValidationFailed, match=words):
        _render(tmp_path, body, data)


def test_letters_load_data_uris_only():
    from engine.letters.render import letter_url_fetcher

    fetcher = letter_url_fetcher()
    for url in ("file:///etc/passwd", "http://127.0.0.1:9/x.png"):
        with pytest.raises(ValueError, match="disallowed protocol"):
            fetcher.fetch(url)
    assert fetcher.fetch("data:text/plain,hej").read() == b"hej"


def test_lint_refuses_turning_escaping_off(tmp_path):
    folder = _copy(tmp_path)
    closing = folder / "lukning.html.j2"
    closing.write_text(closing.read_text(encoding="utf-8").replace(
        "{{ tekst.aarsag | afsnit }}", "{{ tekst.aarsag | safe }}"), encoding="utf-8")
    problems = [str(p) for p in lint(folder)]
    assert any("lukning.html.j2" in p and "escaping: |safe" in p for p in problems), problems


def test_deploy_refuses_a_process_preparing_an_unknown_letter(app, forms):
    from bpmn_helpers import linear, script_task

    from engine.bpmn.registry import parse_sources
    from engine.errors import ProcessDefinitionError

    keys = set(app.extensions["letters"].catalogue.keys())
    bad = linear("breve", ("brev", script_task("brev", 'prepare_letter("findes_ikke")',
                                              name="Forbered brev")))
    with pytest.raises(ProcessDefinitionError,
                       match=r"element brev \(Forbered brev\): unknown letter 'findes_ikke'"):
        parse_sources({"brev.bpmn": bad}, forms, None, keys)
    good = linear("breve", ("brev", script_task("brev", 'prepare_letter("lukning")')))
    assert "breve" in parse_sources({"brev.bpmn": good}, forms, None, keys)


def test_issuing_the_receipt_meets_its_deadline(app, session, api, build_casework):
    from bpmn_helpers import CITIZEN as PERSON
    from bpmn_helpers import linear, script_task, user_task
    from conftest import get_user

    from engine.db import transaction
    from engine.models import CaseDeadline

    casework = build_casework({"kvittering.bpmn": linear(
        "kvittering", ("frist", script_task(
            "frist", 'start_deadline("kvittering_6hd", modtaget_tidspunkt)\n'
                     'prepare_letter("kvittering_underretning")')),
        ("vent", user_task("vent")))}, deadlines=app.extensions["deadlines"],
        letters=app.extensions["letters"])
    worker = get_user(session, "sagsbehandler")
    with transaction(session):
        case = casework.open_case(session, worker, "kvittering", PERSON, now())
    [draft] = session.scalars(select(Letter).where(Letter.case_id == case.id)).all()
    letters = app.extensions["letters"]
    with transaction(session):
        letters.update_draft(session, worker, draft.id,
                             recipient={"navn": "Skolelærer Hansen", "rolle": "notifier"})
        letters.issue(session, worker, draft.id)
    session.expire_all()
    row = session.scalar(select(CaseDeadline).where(CaseDeadline.case_id == case.id))
    assert row.key == "kvittering_6hd" and row.state == "met"
    kinds = [e.kind for e in session.scalars(select(AuditEvent).where(
        AuditEvent.case_id == case.id).order_by(AuditEvent.id))]
    assert kinds.index("letter_issued") < kinds.index("deadline_met")


def test_the_catalogue_names_who_receives_a_request_for_information(api):
    worker = api("sagsbehandler")
    case = worker.post("/api/v1/cases", json=new_case_body()).get_json()
    [task] = case["open_tasks"]
    worker.post(f"/api/v1/tasks/{task['id']}/complete",
                json={"data": {"henvendelse": "Bekymring", "udfald": "oplys"}})
    [ask] = worker.get(f"/api/v1/cases/{case['id']}").get_json()["open_tasks"]
    assert ask["bpmn_id"] == "anmod_oplysninger"
    worker.post(f"/api/v1/tasks/{ask['id']}/complete", json={"data": {
        "modtager": "Roskilde Skole", "spoergsmaal": "Beskriv fraværet.", "svarfrist_dage": 10}})
    draft = _draft(worker, case, "anmodning_oplysninger")
    assert draft["recipient"] == {"navn": "Roskilde Skole", "adresse": None, "email": None,
                                  "rolle": "other"}
