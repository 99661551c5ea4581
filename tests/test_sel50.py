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
from scenario import (
    END,
    _case,
    _claim_and_complete,
    _complete,
    _deadline,
    _letters,
    _task,
    danish_date,
    issue_every_draft,
    local_today,
    refused_and_unchanged,
)
from scenario import (
    follow_up as follow_up_steps,
)
from sqlalchemy import select

from engine.clock import now
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
           "maal": "Ida kommer mæt og udhvilet i skole.",
           "hjemmel": "Barnets lov § 32, stk. 1, nr. 3",
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
    issue_every_draft(worker, session, case)
    # the follow-up module takes over: its first step appears when the deadline turns yellow
    assert not [t for t in _case(worker, case)["open_tasks"] if t["bpmn_id"] == "registrer_status"]
    with time_machine.travel(datetime.fromisoformat(follow_up["warn_at"]) + timedelta(hours=1),
                             tick=False):
        assert run_tick(app)["timers"] == 1
        status_task = _task(worker, case, "registrer_status")
        assert status_task["due_at"] == follow_up["due_at"]
        [asked] = _letters(session, case, "anmodning_status")
        assert asked.recipient["navn"] == "Familiehuset Aarhus"
        goals, conclusion = follow_up_steps(worker, case, END)
        assert [g["maal"] for g in goals] == [SUPPORT["maal"]]
        assert conclusion["naeste_opfoelgning_maaneder"] == 6  # DMN: children every 6 months
        body = _case(worker, case)
        assert body["status"] == "closed"
        assert [x.recipient["navn"] for x in _letters(session, case, "lukning")] == \
            ["Sara Ærø", "Jonas Ærø"]
        assert len(_letters(session, case, "opfoelgning_resume")) == 2
        issue_every_draft(worker, session, case)  # the closing letters too, on the closed case
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
                 "registrer_status", "vurder_maal", "borgerens_syn", "konkluder"):
        assert step in done, step
    issued_keys = {e["data"]["letter"] for e in body["timeline"] if e["kind"] == "letter_issued"}
    assert issued_keys == {
        "kvittering_underretning", "samtykke", "anmodning_oplysninger", "partshoering",
        "partshoering_barn", "afgoerelse_stoette", "afgoerelse_barn", "handleplan",
        "bestilling_leverandoer", "anmodning_status", "opfoelgning_resume", "lukning"}


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
    _complete(worker, case, "samtykke", CONSENT)
    _complete(worker, case, "boernesamtale", TALK)
    _complete(worker, case, "plan_indhentning", PLAN)
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
    _task(worker, case, "partshoering")  # the case goes on


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
    # the process closes the case, with its reason on the timeline
    assert body["status"] == "closed"
    [closed] = [e for e in body["timeline"] if e["kind"] == "status_changed"]
    assert closed["data"]["reason"] == "Lukket ved screeningen: Forholdene er afklaret med skolen."


def test_a_case_closed_at_screening_still_owes_the_notifier_a_receipt(api, session):
    worker, case = _open(api, now() - timedelta(hours=1))
    _complete(worker, case, "vurder_underretning", FROM_SCHOOL)
    _complete(worker, case, "screening", {"betingelser": ["saerlig_stoette"], "beslutning": "luk",
                                          "begrundelse": "Forholdene er afklaret med skolen."})
    body = _case(worker, case)
    assert body["status"] == "closed"
    # the receipt is still owed: its deadline keeps running until the letter is issued
    assert _deadline(body, "kvittering_6hd")["state"] in ("open", "due_soon")
    [receipt] = _letters(session, case, "kvittering_underretning")
    assert worker.post(f"/api/v1/letters/{receipt.id}/issue").status_code == 200
    assert _deadline(_case(worker, case), "kvittering_6hd")["state"] == "met"


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


def test_without_consent_the_committee_decides_and_requests_need_its_decision(api, session):
    worker, case = _open(api, now() - timedelta(hours=3))
    _to_step(worker, case, "samtykke")
    # everyone asked must answer: leaving out a custody holder is refused
    one = {**CONSENT, "samtykker": CONSENT["samtykker"][:1]}
    refused = _complete(worker, case, "samtykke", one, status=422)
    assert "Jonas Ærø" in refused["fields"]["samtykker"][0]
    refusal = [CONSENT["samtykker"][0], {"part": "Jonas Ærø", "rolle": "foraeldremyndighed",
                                         "givet": False, "dato": "2026-11-02"}]
    _complete(worker, case, "samtykke", {**CONSENT, "samtykker": refusal})
    _task(worker, case, "udvalg")  # not silently on: the committee path
    _complete(worker, case, "udvalg", {"moede_dato": "2026-11-10",
                                       "udvalg_beslutning": "ikke_tilladt",
                                       "begrundelse": "Ikke tilstrækkeligt grundlag."})
    _complete(worker, case, "boernesamtale", TALK)
    for basis in ("samtykke", "udvalg"):
        refused = _complete(worker, case, "plan_indhentning", {
            **PLAN, "anmodninger": [{**SCHOOL_REQUEST, "grundlag": basis}]}, status=422)
        assert "anmodninger.0.grundlag" in refused["fields"], refused
    assert "Jonas Ærø" in refused["fields"]["anmodninger.0.grundlag"][0] or basis == "udvalg"
    # a named legal basis is the caseworker's responsibility, and it is kept on the request
    _complete(worker, case, "plan_indhentning", {**PLAN, "anmodninger": [{
        **SCHOOL_REQUEST, "grundlag": "lov", "hjemmel_tekst": "Barnets lov § 20, stk. 5"}]})
    [request] = _letters(session, case, "anmodning_oplysninger")
    assert request.values["hjemmel_tekst"] == "Barnets lov § 20, stk. 5"


def test_a_committee_that_allows_gathering_is_a_basis_for_requests(api, session):
    worker, case = _open(api, now() - timedelta(hours=3))
    _to_step(worker, case, "samtykke")
    _complete(worker, case, "samtykke", {**CONSENT, "samtykker": [
        {**c, "givet": False} for c in CONSENT["samtykker"]]})
    _complete(worker, case, "udvalg", {"moede_dato": "2026-11-10", "udvalg_beslutning": "tilladt",
                                       "begrundelse": "Barnets sundhed er i fare."})
    _complete(worker, case, "boernesamtale", TALK)
    _complete(worker, case, "plan_indhentning", {
        **PLAN, "anmodninger": [{**SCHOOL_REQUEST, "grundlag": "udvalg"}]})
    assert len(_letters(session, case, "anmodning_oplysninger")) == 1


def test_a_withdrawn_consent_is_recorded_and_no_longer_covers_requests(api):
    worker, case = _open(api, now() - timedelta(hours=3))
    _to_step(worker, case, "plan_indhentning")
    response = worker.post(f"/api/v1/cases/{case['id']}/messages/samtykke_tilbagekaldt", json={
        "data": {"part": "Jonas Ærø", "dato": local_today(), "form": "mundtlig"}})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert any(e["kind"] == "message_received" and e["data"]["message"] ==
               "samtykke_tilbagekaldt" for e in body["timeline"])
    _task(worker, case, "vurder_tilbagekaldelse")  # the caseworker decides what now
    refused = _complete(worker, case, "plan_indhentning",
                        {**PLAN, "anmodninger": [SCHOOL_REQUEST]}, status=422)
    assert "Jonas Ærø" in refused["fields"]["anmodninger.0.grundlag"][0]
    _complete(worker, case, "vurder_tilbagekaldelse", {
        "beslutning": "forelaeg_udvalg", "begrundelse": "Far ønsker ikke, at skolen spørges."})


def test_the_talk_with_the_child_waived_needs_a_reason_that_stays_on_the_case(api):
    worker, case = _open(api, now() - timedelta(hours=3))
    _to_step(worker, case, "boernesamtale")
    refused = _complete(worker, case, "boernesamtale", {"afholdt": False}, status=422)
    assert "frafald_begrundelse" in refused["fields"]
    # held, but the child was not told of the right to a supporter: refused
    refused = _complete(worker, case, "boernesamtale", {**TALK, "bisidder_oplyst": False},
                        status=422)
    assert "bisidder_oplyst" in refused["fields"]
    reason = "Ida er indlagt og kan ikke tale med os i denne periode."
    _complete(worker, case, "boernesamtale", {"afholdt": False, "frafald_begrundelse": reason})
    timeline = _case(worker, case)["timeline"]
    assert any(e["kind"] == "task_completed" and e["data"]["bpmn_id"] == "boernesamtale"
               and e["data"]["data"]["frafald_begrundelse"] == reason for e in timeline)


def test_no_measures_ends_with_decision_letters_and_no_plan(api, session):
    worker, case = _open(api, now() - timedelta(hours=3))
    _to_step(worker, case, "afgoerelse")
    refused = _complete(worker, case, "afgoerelse", {"udfald": "stoettende",
                                                     "begrundelse": "…"}, status=422)
    assert {"ydelse", "leverandoer", "maal"} <= set(refused["fields"])
    _complete(worker, case, "afgoerelse", {"udfald": "ingen_foranstaltning",
                                           "begrundelse": "Familien klarer sig selv."})
    assert [x.recipient["navn"] for x in _letters(
        session, case, "afgoerelse_ingen_foranstaltning")] == ["Sara Ærø", "Jonas Ærø"]
    [child] = _letters(session, case, "afgoerelse_barn")
    assert worker.post(f"/api/v1/letters/{child.id}/issue").status_code == 422  # its text
    worker.patch(f"/api/v1/letters/{child.id}", json={"texts": {"forklaring": "Vi har lyttet."}})
    assert worker.post(f"/api/v1/letters/{child.id}/issue").status_code == 200
    body = _case(worker, case)
    assert [i["status"] for i in body["instances"]] == ["completed"]
    assert "barnets_plan_3m" not in [d["key"] for d in body["deadlines"]]
    assert body["status"] == "closed"  # letters of a closed case can still be issued


def test_an_unanswered_hearing_goes_on_to_the_decision_at_its_deadline(app, api, session):
    worker, case = _open(api, now() - timedelta(hours=3))
    _to_step(worker, case, "partshoering")
    _complete(worker, case, "partshoering", {**HEARING, "svarfrist_dage": 10})
    due = datetime.fromisoformat(_deadline(_case(worker, case), "partshoering_svar")["due_at"])
    with time_machine.travel(due + timedelta(minutes=1), tick=False):
        moved = run_tick(app)
    assert moved["timers"] == 1
    body = _case(worker, case)
    assert _deadline(body, "partshoering_svar")["breached_at"] is not None
    assert {t["bpmn_id"] for t in body["open_tasks"]} == {"afgoerelse"}


def test_a_hearing_can_be_left_out_only_with_a_reason(api, session):
    worker, case = _open(api, now() - timedelta(hours=3))
    _to_step(worker, case, "partshoering")
    refused = _complete(worker, case, "partshoering", {"undtagelse": True}, status=422)
    assert "undtagelse_begrundelse" in refused["fields"]
    _complete(worker, case, "partshoering", {
        "undtagelse": True, "undtagelse_begrundelse": "Afgørelsen giver parterne fuldt medhold."})
    assert _letters(session, case, "partshoering") == []
    _task(worker, case, "afgoerelse")


def test_a_new_notification_on_the_open_case_is_assessed_again_within_24_hours(api, session):
    worker, case = _open(api, now() - timedelta(hours=5))
    _to_step(worker, case, "samtykke")
    new = {"kilde": "fagperson", "fagperson_rolle": "Sundhedsplejerske",
           "underretter_navn": "Lise Bak", "indhold": "Ida har blå mærker på armene.",
           "vold_eller_overgreb": True}
    received = (now() - timedelta(hours=1)).replace(microsecond=0)
    bad = worker.post(f"/api/v1/cases/{case['id']}/messages/ny_underretning",
                      json={"data": {**new, "kilde": "nabo"}})
    assert bad.status_code == 422 and "kilde" in bad.get_json()["fields"]
    response = worker.post(f"/api/v1/cases/{case['id']}/messages/ny_underretning",
                           json={"data": new, "received_at": received.isoformat()})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert _deadline(body, "underretning_24t")["state"] in ("open", "due_soon")
    assert datetime.fromisoformat(_deadline(body, "underretning_24t")["start_at"]) == received
    assert {t["bpmn_id"] for t in body["open_tasks"]} == {"samtykke", "genvurder"}
    assessment = {"akut_fare": False, "vurdering": "Indgår i undersøgelsen.",
                  "konsekvens": "indgaar_i_undersoegelsen"}
    assert _task(worker, case, "genvurder")["assignee"] is None  # for the team, not the caseworker
    # about abuse: not by someone already involved in the case, neither claimed nor completed
    task = _task(worker, case, "genvurder")
    refused = worker.post(f"/api/v1/tasks/{task['id']}/claim")
    assert refused.status_code == 403 and "not previously involved" in \
        refused.get_json()["message"]
    refused = worker.post(f"/api/v1/tasks/{task['id']}/complete", json={"data": assessment})
    assert refused.status_code == 403 and "not previously involved" in \
        refused.get_json()["message"]
    _complete(api("sagsbehandler3"), case, "genvurder", assessment)
    body = _case(worker, case)
    assert _deadline(body, "underretning_24t")["state"] == "met"
    receipts = _letters(session, case, "kvittering_underretning")
    assert [x.recipient["navn"] for x in receipts] == ["Mette Holm", "Lise Bak"]
    _task(worker, case, "samtykke")  # the investigation goes on where it was


def test_an_anonymous_notification_gets_no_receipt(api, session):
    worker, case = _open(api, now() - timedelta(hours=1))
    anonymous = {k: v for k, v in FROM_SCHOOL.items()
                 if k not in ("fagperson_rolle", "underretter_navn")}
    _complete(worker, case, "vurder_underretning", {**anonymous, "kilde": "anonym"})
    body = _case(worker, case)
    assert "kvittering_6hd" not in [d["key"] for d in body["deadlines"]]
    assert _letters(session, case) == []
    _task(worker, case, "screening")


@pytest.mark.parametrize("step, data, field, problem", [
    ("vurder_underretning", {**FROM_SCHOOL, "foraeldremyndighed": [
        {**PARENTS[0], "cpr": "3102101234"}]}, "foraeldremyndighed.0.cpr", "real date"),
    ("vurder_underretning", {**FROM_SCHOOL, "foraeldremyndighed": []}, "foraeldremyndighed",
     None),
    ("samtykke", {**CONSENT, "samtykker": [{**c, "dato": "2099-01-01"}
                                           for c in CONSENT["samtykker"]]},
     "samtykker.0.dato", "cannot be in the future"),
    ("boernesamtale", {**TALK, "samtale_dato": "2099-01-01"}, "samtale_dato",
     "cannot be in the future"),
    ("plan_indhentning", {**PLAN, "anmodninger": [{**SCHOOL_REQUEST, "grundlag": "lov"}]},
     "anmodninger.0.hjemmel_tekst", "missing"),
    ("plan_indhentning", {**PLAN, "anmodninger": [SCHOOL_REQUEST, SCHOOL_REQUEST]},
     "anmodninger.1.behov", "ask once"),
    ("partshoering", {"undtagelse": False}, "hoering_emne", "missing"),
    ("afgoerelse", {"udfald": "adoption", "begrundelse": "…"}, "udfald", "one of"),
    ("afgoerelse", {**SUPPORT, "maal": "  \n "}, "maal", "must not be blank"),
])
def test_bad_input_on_the_forms_names_the_field_and_changes_nothing(api, step, data, field,
                                                                    problem):
    worker, case = _open(api, now() - timedelta(hours=3))
    _to_step(worker, case, step)
    refused_and_unchanged(worker, case, step, data, field, problem)
