"""The § 20 investigation (Barnets lov, tidl. SEL § 50) end to end, through the API with time
travel: the 24-hour assessment and its escalation, the receipt to a professional notifier,
screening, consent or the committee, the talk with the child, information gathering (one request
per recipient, reminders, provenance), the 4-month deadline, hearing, decision, the child's plan,
the order and the first follow-up; a second notification and a withdrawn consent on the open
case."""

from datetime import datetime, timedelta

import pytest
import time_machine
from conftest import new_case_body, run_tick
from sqlalchemy import select

from engine.clock import local_date, now
from engine.models import Letter

CHILD = {"cpr": "0105134321", "name": "Ida Ærø", "address": "Havnegade 3, 8000 Aarhus C"}  # 2013
PARENTS = [{"navn": "Sara Ærø", "adresse": "Havnegade 3, 8000 Aarhus C", "relation": "mor"},
           {"navn": "Jonas Ærø", "adresse": "Skovvej 9, 8210 Aarhus V", "relation": "far"}]
FROM_SCHOOL = {"kilde": "fagperson", "fagperson_rolle": "Klasselærer",
               "underretter_navn": "Mette Holm", "indhold": "Ida kommer ofte sulten i skole.",
               "vold_eller_overgreb": False, "akut_fare": False, "foraeldremyndighed": PARENTS}
CONSENT = {"samtykke_formaal": "At afdække Idas trivsel i skole og hjem.", "samtykker": [
    {"part": p["navn"], "rolle": "foraeldremyndighed", "givet": True, "dato": "2026-11-02",
     "form": "skriftlig", "omfang": ["skole", "sundhedspleje"]} for p in PARENTS]}
TALK = {"afholdt": True, "samtale_dato": "2026-11-03", "bisidder_oplyst": True,
        "barnets_perspektiv": "Ida siger, at hun tit er sulten og træt."}
SCHOOL_REQUEST = {"behov": ["status_dagtilbud_skole", "fravaer_skole"], "modtager_type": "skole",
                  "modtager": "Vestre Skole", "spoergsmaal": "Hvordan trives Ida i skolen?",
                  "svarfrist_dage": 14, "grundlag": "samtykke"}
NURSE_REQUEST = {"behov": ["helbred"], "modtager_type": "sundhedspleje",
                 "modtager": "Sundhedsplejen Aarhus", "spoergsmaal": "Hvordan er Idas helbred?",
                 "svarfrist_dage": 10, "grundlag": "samtykke"}
PLAN = {"formaal": "At afdække Idas behov for støtte.", "anmodninger": []}
HEARING = {"undtagelse": False, "hoering_emne": "Familiebehandling 3 timer om ugen.",
           "hoering_oplysninger": "Skolens udtalelse og samtalen med Ida.", "svarfrist_dage": 14}
SUPPORT = {"udfald": "stoettende", "ydelse": "familiebehandling", "omfang": "3 timer om ugen",
           "periode": "1. januar til 30. juni 2027", "leverandoer": "Familiehuset Aarhus",
           "maal": "Ida kommer mæt og udhvilet i skole.", "hjemmel": "Barnets lov § 32, stk. 1, nr. 3",
           "begrundelse": "Undersøgelsen viser, at familien har brug for støtte i hverdagen."}
INVESTIGATE = {"betingelser": ["saerlig_stoette"], "beslutning": "undersoegelse"}
ANALYSIS = {"udvikling": "…", "foraeldrekompetence": "…", "familie_netvaerk": "…",
            "konklusion": "Ida har brug for støtte i hverdagen."}


def _open(api, received: datetime):
    worker = api("sagsbehandler")
    response = worker.post("/api/v1/cases", json={
        **new_case_body(received_at=received.isoformat(timespec="seconds")),
        "process": "sel50", "citizen": CHILD})
    assert response.status_code == 201, response.get_json()
    return worker, response.get_json()


def _task(client, case, bpmn_id):
    response = client.get(f"/api/v1/tasks?scope=all&case={case['id']}")
    assert response.status_code == 200, response.get_json()
    tasks = response.get_json()["items"]
    found = [t for t in tasks if t["bpmn_id"] == bpmn_id]
    assert found, f"{bpmn_id} is not open: {[t['bpmn_id'] for t in tasks]}"
    return found[0]


def _complete(client, case, bpmn_id, data, status=200):
    task = _task(client, case, bpmn_id)
    if task["assignee"] is None:
        client.post(f"/api/v1/tasks/{task['id']}/claim")
    response = client.post(f"/api/v1/tasks/{task['id']}/complete", json={"data": data})
    assert response.status_code == status, response.get_json()
    return response.get_json()


def _case(client, case):
    return client.get(f"/api/v1/cases/{case['id']}").get_json()


def _letters(session, case, key=None):
    session.expire_all()
    query = select(Letter).where(Letter.case_id == case["id"]).order_by(Letter.id)
    return [x for x in session.scalars(query) if key is None or x.key == key]


def _to_step(worker, case, step, plan=PLAN):
    """Walk a fresh case (opened by _open) to `step` along the usual path."""
    path = [("vurder_underretning", FROM_SCHOOL), ("screening", INVESTIGATE),
            ("samtykke", CONSENT), ("boernesamtale", TALK), ("plan_indhentning", plan),
            ("undersoegelse", ANALYSIS), ("partshoering", HEARING),
            ("bemaerkninger", {"bemaerkninger": []}), ("afgoerelse", SUPPORT)]
    for bpmn_id, data in path:
        if bpmn_id == step:
            return
        _complete(worker, case, bpmn_id, data)
    raise AssertionError(f"no step {step}")


def _deadline(body, key):
    [found] = [d for d in body["deadlines"] if d["key"] == key]
    return found


def local_today() -> str:
    return local_date(now()).isoformat()


def danish_date(moment: str) -> str:
    from engine.letters.render import danish_date as fmt

    return fmt(local_date(datetime.fromisoformat(moment)))


def _claim_and_complete(client, task, data, status=200):
    if task["assignee"] is None:
        client.post(f"/api/v1/tasks/{task['id']}/claim")
    response = client.post(f"/api/v1/tasks/{task['id']}/complete", json={"data": data})
    assert response.status_code == status, response.get_json()
    return response.get_json()


def test_from_a_professionals_notification_to_measures_plan_order_and_follow_up(
        app, api, session):
    received = (now() - timedelta(hours=2)).replace(microsecond=0)
    worker, case = _open(api, received)
    catalogue = app.extensions["deadlines"]
    [first] = case["open_tasks"]
    assert first["bpmn_id"] == "vurder_underretning"
    assert datetime.fromisoformat(first["due_at"]) == catalogue.due("underretning_24t", received)
    _complete(worker, case, "vurder_underretning", FROM_SCHOOL)
    body = _case(worker, case)
    assert _deadline(body, "underretning_24t")["state"] == "met"
    assert _deadline(body, "kvittering_6hd")["state"] in ("open", "due_soon")
    [receipt] = _letters(session, case, "kvittering_underretning")
    assert receipt.recipient["navn"] == "Mette Holm"  # nothing typed twice

    _complete(worker, case, "screening", INVESTIGATE)
    assert datetime.fromisoformat(_deadline(_case(worker, case), "sel50_4m")["due_at"]) == \
        catalogue.due("sel50_4m", received)
    # a consent form to each custody holder; the consent task lists both (Ida is 13)
    assert [x.recipient["navn"] for x in _letters(session, case, "samtykke")] == \
        ["Sara Ærø", "Jonas Ærø"]
    consent_task = worker.get(f"/api/v1/tasks/{_task(worker, case, 'samtykke')['id']}").get_json()
    assert [c["part"] for c in consent_task["data"]["samtykker"]] == ["Sara Ærø", "Jonas Ærø"]
    _complete(worker, case, "samtykke", CONSENT)
    _complete(worker, case, "boernesamtale", TALK)

    # a request the consent does not cover is refused with the reason, and nothing moves
    police = {**SCHOOL_REQUEST, "modtager_type": "politi", "modtager": "Østjyllands Politi",
              "behov": ["familieoverblik"]}
    refused = _complete(worker, case, "plan_indhentning",
                        {**PLAN, "anmodninger": [SCHOOL_REQUEST, police]}, status=422)
    assert "does not cover politi" in refused["fields"]["anmodninger.1.grundlag"][0]
    _complete(worker, case, "plan_indhentning",
              {**PLAN, "anmodninger": [SCHOOL_REQUEST, NURSE_REQUEST]})
    requests = _letters(session, case, "anmodning_oplysninger")
    assert [(x.recipient["navn"], x.values["spoergsmaal"]) for x in requests] == [
        ("Vestre Skole", "Hvordan trives Ida i skolen?"),
        ("Sundhedsplejen Aarhus", "Hvordan er Idas helbred?")]
    answers = [t for t in _case(worker, case)["open_tasks"] if t["bpmn_id"] == "registrer_svar"]
    assert len(answers) == 2

    # the nurse does not answer within 10 days: a reminder task, and a reminder letter
    with time_machine.travel(now() + timedelta(days=11), tick=False):
        assert run_tick(app)["timers"] == 1
    _complete(worker, case, "ryk_for_svar", {"rykket_dato": local_today(), "svarfrist_dage": 7})
    reminder = _letters(session, case, "anmodning_oplysninger")[-1]
    assert reminder.values["rykker"] is True
    assert reminder.recipient["navn"] == "Sundhedsplejen Aarhus"
    for answer in [t for t in _case(worker, case)["open_tasks"]
                   if t["bpmn_id"] == "registrer_svar"]:
        detail = worker.get(f"/api/v1/tasks/{answer['id']}").get_json()
        _claim_and_complete(worker, answer, {
            "svar_dato": local_today(), "svar": f"Svar fra {detail['data']['modtager']}"})
    # the analysis sees every answer with its source, date and basis (provenance)
    analysis = worker.get(
        f"/api/v1/tasks/{_task(worker, case, 'undersoegelse')['id']}").get_json()
    gathered = analysis["data"]["anmodninger"]
    assert [(a["modtager"], a["status"], a["svar"], a["grundlag"]) for a in gathered] == [
        ("Vestre Skole", "besvaret", "Svar fra Vestre Skole", "samtykke"),
        ("Sundhedsplejen Aarhus", "besvaret", "Svar fra Sundhedsplejen Aarhus", "samtykke")]
    assert all(a["svar_dato"] == local_today() for a in gathered)
    assert gathered[1]["rykket"] == local_today()
    _complete(worker, case, "undersoegelse", ANALYSIS)
    assert _deadline(_case(worker, case), "sel50_4m")["state"] == "met"

    _complete(worker, case, "partshoering", HEARING)
    body = _case(worker, case)
    hearing = _deadline(body, "partshoering_svar")
    hearings = _letters(session, case, "partshoering")
    assert [x.recipient["navn"] for x in hearings] == ["Sara Ærø", "Jonas Ærø"]
    assert hearings[0].texts["sagen"] == HEARING["hoering_emne"]
    [for_ida] = _letters(session, case, "partshoering_barn")
    assert for_ida.recipient == {"navn": "Ida Ærø", "adresse": CHILD["address"],
                                 "email": None, "rolle": "child"}
    issued = worker.post(f"/api/v1/letters/{hearings[0].id}/issue")
    assert issued.status_code == 200, issued.get_json()
    assert danish_date(hearing["due_at"]) in _letters(session, case, "partshoering")[0].html
    _complete(worker, case, "bemaerkninger", {"bemaerkninger": [
        {"part": "Sara Ærø", "modtaget": local_today(), "indhold": "Vi er enige."}]})
    assert _deadline(_case(worker, case), "partshoering_svar")["state"] == "met"

    _complete(worker, case, "afgoerelse", SUPPORT)
    decisions = _letters(session, case, "afgoerelse_stoette")
    assert [x.recipient["navn"] for x in decisions] == ["Sara Ærø", "Jonas Ærø"]
    assert decisions[0].texts["begrundelse"] == SUPPORT["begrundelse"]
    assert len(_letters(session, case, "afgoerelse_barn")) == 1
    _complete(worker, case, "barnets_plan", {
        "maal": SUPPORT["maal"], "indsats": "Familiebehandling i hjemmet.",
        "barnets_perspektiv": "Ida vil gerne have ro om morgenen.",
        "aftaler": "Opfølgning om 3 måneder."})
    assert len(_letters(session, case, "handleplan")) == 2
    _complete(worker, case, "bestilling", {
        "leverandoer_adresse": "Søndergade 1, 8000 Aarhus C", "indsats_start": "2027-01-04",
        "opgave": "Familiebehandling 3 timer om ugen i hjemmet."})
    [order] = _letters(session, case, "bestilling_leverandoer")
    assert (order.recipient["navn"], order.recipient["rolle"]) == (
        "Familiehuset Aarhus", "provider")
    follow_up = _deadline(_case(worker, case), "foerste_opfoelgning")
    _complete(worker, case, "opfoelgning", {
        "opfoelgning_dato": local_today(), "status": "Det går bedre.",
        "vurdering": "fortsaet", "begrundelse": "Indsatsen virker."})

    # every letter the case prepared can be issued from what the case holds; only free-text
    # blocks nothing pre-fills are the caseworker's to write
    for draft in [x for x in _letters(session, case) if x.state == "draft"]:
        response = worker.post(f"/api/v1/letters/{draft.id}/issue")
        if response.status_code == 422:
            missing = response.get_json()["fields"]
            assert all(k.startswith("tekst.") for k in missing), (draft.key, missing)
            worker.patch(f"/api/v1/letters/{draft.id}", json={"texts": {
                k.split(".", 1)[1]: "Skrevet af sagsbehandleren." for k in missing}})
            response = worker.post(f"/api/v1/letters/{draft.id}/issue")
        assert response.status_code == 200, (draft.key, response.get_json())
    body = _case(worker, case)
    assert {d["key"]: d["state"] for d in body["deadlines"]} == {
        "underretning_24t": "met", "kvittering_6hd": "met", "sel50_4m": "met",
        "partshoering_svar": "met", "barnets_plan_3m": "met", "foerste_opfoelgning": "met"}
    assert follow_up["due_at"] > hearing["due_at"]
    assert [i["status"] for i in body["instances"]] == ["completed"]
    done = [e["data"]["bpmn_id"] for e in body["timeline"] if e["kind"] == "task_completed"]
    for step in ("vurder_underretning", "screening", "samtykke", "boernesamtale",
                 "plan_indhentning", "ryk_for_svar", "registrer_svar", "undersoegelse",
                 "partshoering", "bemaerkninger", "afgoerelse", "barnets_plan", "bestilling",
                 "opfoelgning"):
        assert step in done, step
    issued_keys = {e["data"]["letter"] for e in body["timeline"] if e["kind"] == "letter_issued"}
    assert issued_keys == {
        "kvittering_underretning", "samtykke", "anmodning_oplysninger", "partshoering",
        "partshoering_barn", "afgoerelse_stoette", "afgoerelse_barn", "handleplan",
        "bestilling_leverandoer"}


def test_a_notification_not_assessed_in_24_hours_is_escalated_to_the_leader(app, api, session):
    worker, case = _open(api, now() - timedelta(hours=30))
    # already late when opened (back-dated): the process's timer fires as it starts, the
    # watcher breaches the deadline at the next tick
    assert {t["bpmn_id"] for t in _case(worker, case)["open_tasks"]} == {
        "vurder_underretning", "eskaler_24t"}
    assert run_tick(app)["deadlines"] == 1
    leader = api("leder")
    escalation = _task(leader, case, "eskaler_24t")
    assert escalation["candidate_groups"] == ["leder"]
    queue = leader.get("/api/v1/queues/deadlines?key=underretning_24t").get_json()
    assert [i["case_number"] for i in queue["items"]] == [case["number"]]
    # the caseworker's assessment is still open beside the escalation
    assert _task(worker, case, "vurder_underretning")
    _complete(leader, case, "eskaler_24t", {"handling": "sagsbehandler_kontaktet"})


def test_the_4_month_deadline_gives_a_provisional_assessment_and_a_letter(app, api, session):
    received = (now() - timedelta(days=125)).replace(microsecond=0)
    worker, case = _open(api, received)
    _complete(worker, case, "vurder_underretning", {**FROM_SCHOOL, "kilde": "anonym"})
    _complete(worker, case, "screening", INVESTIGATE)
    run_tick(app)
    _task(worker, case, "foreloebig")
    drafts = [letter.key for letter in session.scalars(
        select(Letter).where(Letter.case_id == case["id"]))]
    assert "undersoegelse_forsinket" in drafts and "kvittering_underretning" not in drafts
    _complete(worker, case, "foreloebig", {"vurdering": "Ida trives ikke i skolen.",
                                            "forventet_afslutning": "2027-01-15"})
    _complete(worker, case, "undersoegelse", ANALYSIS)
    body = _case(worker, case)
    assert _deadline(body, "sel50_4m")["state"] == "met"
    assert any(e["kind"] == "deadline_met" and e["data"]["late"] for e in body["timeline"])


@pytest.mark.parametrize("form_step, data, field", [
    ("vurder_underretning", {**FROM_SCHOOL, "fagperson_rolle": None}, "fagperson_rolle"),
    ("vurder_underretning", {**FROM_SCHOOL, "akut_fare": True}, "akutte_foranstaltninger"),
    ("screening", {"betingelser": ["vold_overgreb"], "beslutning": "luk"}, "begrundelse"),
])
def test_forms_name_the_field_that_is_missing_and_change_nothing(api, form_step, data, field):
    worker, case = _open(api, now() - timedelta(hours=1))
    if form_step == "screening":
        _complete(worker, case, "vurder_underretning", FROM_SCHOOL)
    data = {k: v for k, v in data.items() if v is not None}
    refused = _complete(worker, case, form_step, data, status=422)
    assert field in refused["fields"], refused
    assert _task(worker, case, form_step)["state"] == "ready"


def test_closing_at_screening_with_a_reason_ends_the_process(api):
    worker, case = _open(api, now() - timedelta(hours=1))
    _complete(worker, case, "vurder_underretning", FROM_SCHOOL)
    _complete(worker, case, "screening", {"betingelser": ["saerlig_stoette"], "beslutning": "luk",
                                          "begrundelse": "Forholdene er afklaret med skolen."})
    body = _case(worker, case)
    assert [i["status"] for i in body["instances"]] == ["completed"]
    assert "sel50_4m" not in [d["key"] for d in body["deadlines"]]


def test_the_escalation_comes_when_the_24_hours_pass(app, api, session):
    from engine.models import Task

    worker, case = _open(api, now() - timedelta(hours=2))
    assert {t["bpmn_id"] for t in _case(worker, case)["open_tasks"]} == {"vurder_underretning"}
    with time_machine.travel(now() + timedelta(hours=23), tick=False):
        moved = run_tick(app)
    assert moved["timers"] == 1 and moved["deadlines"] == 1
    open_tasks = {t.bpmn_id for t in session.scalars(
        select(Task).where(Task.case_id == case["id"], Task.state == "ready"))}
    assert open_tasks == {"vurder_underretning", "eskaler_24t"}
