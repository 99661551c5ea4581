"""Social-pedagogical support for adults (SEL § 85) end to end, through the API with time travel:
the enquiry and the municipality's case-processing deadline, consent, information gathering, the
VUM 2.0 assessment with FFB codes (drafts, any order, completeness named), the recommendation
and the allocation meeting, hearing, decision and its letter, the action plan, the order, and
years of guided follow-ups (continue, adjust with a new decision, end)."""

from datetime import datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from conftest import run_tick
from scenario import (
    CONTINUE,
    END,
    END_AND_REFER,
    _case,
    _complete,
    _deadline,
    _letters,
    _task,
    follow_up,
    issue_every_draft,
    local_today,
    refused_and_unchanged,
)

from engine.clock import LOCAL_TZ, now
from engine.forms import CodeSystem

FFB = CodeSystem.load(Path(__file__).resolve().parent.parent / "forms" / "codes" / "ffb.json")


def ffb(parent: str, display: str) -> str:
    """The FFB code of `display` among the codes below `parent` (names repeat across the
    code system, e.g. "Ikke vurderet")."""
    [code] = [c for c, name in FFB.codes(parent) if name == display]
    return code


CITIZEN = {"cpr": "1503801237", "name": "Peter Madsen", "address": "Åboulevarden 12, 8000 Aarhus C"}
SUPPORT = ffb("Socialpædagogisk støtte", "Støtte til daglige opgaver i hjemmet")
ENQUIRY = {"kilde": "borger", "ansoegt_om": "Hjælp til at klare hverdagen i egen bolig.",
           "borgerens_situation": "Bor alene efter udskrivning fra psykiatrien."}
CONSENT = {"samtykke_formaal": "At udrede Peters behov for støtte.", "samtykker": [
    {"part": "Peter Madsen", "rolle": "borger", "givet": True, "dato": "2026-11-02",
     "form": "skriftlig", "omfang": ["egen_laege", "psykiatri"]}]}
GP_REQUEST = {"behov": ["helbred"], "modtager_type": "egen_laege",
              "modtager": "Lægerne i Søndergade", "spoergsmaal": "Hvordan er Peters helbred?",
              "svarfrist_dage": 14, "grundlag": "samtykke"}
MODERATE = ffb("Funktionsevneniveau", "Moderat nedsat funktionsevne")
NOT_ASSESSED = ffb("Funktionsevneniveau", "Ikke vurderet")
NEED_MODERATE = ffb("Støttebehovsniveau", "Moderat støttebehov")
NEED_NONE = ffb("Støttebehovsniveau", "Ikke vurderet")
THEMES = ("mentale_funktioner", "sundhedsforhold", "fysiske_funktioner", "sociale_forhold",
          "relationer", "kommunikation", "mobilitet", "egenomsorg", "samfundsliv",
          "praktiske_opgaver", "omgivelser")
GOALS = [{"maal": "Peter handler selv ind og laver mad tre dage om ugen.",
          "maaltype": ffb("Måltype", "Udvikle funktionsevne")},
         {"maal": "Peter åbner og betaler sin post.",
          "maaltype": ffb("Måltype", "Udvikle funktionsevne")}]


def assessment(themes=THEMES):
    """The VUM assessment: practical tasks and self-care reduced, the other themes not
    assessed (a valid answer)."""
    conditions = {}
    for theme in themes:
        reduced = theme in ("praktiske_opgaver", "egenomsorg")
        conditions[theme] = {"funktionsevneniveau": MODERATE if reduced else NOT_ASSESSED,
                             "stoettebehov": NEED_MODERATE if reduced else NEED_NONE,
                             "beskrivelse": "Har svært ved at komme i gang." if reduced else ""}
    return {"tilstande": conditions,
            "maalgruppe_primaer": ffb("Funktionsnedsættelse", "Depression"),
            "maalgrupper_sekundaere": [ffb("Socialt problem", "Social isolation")],
            "borgerens_oensker": "Jeg vil gerne kunne klare mig selv i min lejlighed.",
            "indsatsmaal": GOALS, "samlet_stoettebehov": NEED_MODERATE}


RECOMMENDATION = {"faglig_vurdering": "Moderat nedsat funktionsevne i praktiske opgaver.",
                  "indstilling": "bevilling", "ydelse": SUPPORT, "omfang": "4 timer om ugen",
                  "timer_pr_uge": 4, "begrundelse": "Støtten kan gøre Peter selvhjulpen."}
MEETING = {"moede_dato": "2026-11-20", "deltagere": ["Lene Holm, teamleder", "Ali Khan, rådgiver"],
           "udfald": "bevilling"}
HEARING = {"undtagelse": False, "hoering_oplysninger": "Udredningen og lægens udtalelse.",
           "svarfrist_dage": 14}


def grant(**changes):
    return {"udfald": "bevilling", "ydelse": SUPPORT, "omfang": "4 timer om ugen",
            "timer_pr_uge": 4, "periode_fra": (now() + timedelta(days=14)).date().isoformat(),
            "periode_til": (now() + timedelta(days=380)).date().isoformat(),
            "leverandoer": "Bostøtten Aarhus", "leverandoer_adresse": "Vestergade 4, 8000 Aarhus C",
            "indsatsmaal": GOALS, "hjemmel": "Serviceloven § 85",
            "begrundelse": "Du har brug for støtte til at klare praktiske opgaver.", **changes}


ORDER = {"leverandoer": "Bostøtten Aarhus", "leverandoer_adresse": "Vestergade 4, 8000 Aarhus C",
         "opstart": (now() + timedelta(days=14)).date().isoformat(),
         "opgave": "Socialpædagogisk støtte 4 timer om ugen i hjemmet."}
PLAN = {"tilbudt_dato": "2026-11-24", "svar": "accepteret",
        "formaal": "At Peter kan klare sig selv i egen bolig.", "forventet_varighed": "1 år"}


def _open(api):
    worker = api("sagsbehandler")
    response = worker.post("/api/v1/cases", json={
        "process": "sel85", "citizen": CITIZEN,
        "received_at": (now() - timedelta(days=2)).isoformat(timespec="seconds")})
    assert response.status_code == 201, response.get_json()
    return worker, response.get_json()


def _to_step(worker, case, step):
    """Walk a fresh case (opened by _open) to `step` along the usual path (no requests)."""
    path = [("registrer_henvendelse", ENQUIRY), ("samtykke", CONSENT),
            ("plan_indhentning", {"formaal": "Udredning.", "anmodninger": []}),
            ("udredning", assessment()), ("indstilling", RECOMMENDATION),
            ("visitation", {**MEETING, "ydelse": SUPPORT, "omfang": "4 timer om ugen"}),
            ("partshoering", {**HEARING, "hoering_emne": "Vi overvejer at bevilge støtte."}),
            ("bemaerkninger", {"bemaerkninger": []}), ("afgoerelse", grant()),
            ("handleplan", PLAN), ("bestilling", ORDER)]
    for bpmn_id, data in path:
        if bpmn_id == step:
            return
        _complete(worker, case, bpmn_id, data)
    if step != "opfoelgning":
        raise AssertionError(f"no step {step}")


def _prefilled(worker, case, bpmn_id):
    return worker.get(f"/api/v1/tasks/{_task(worker, case, bpmn_id)['id']}").get_json()["data"]


def _when_due(app, case, worker, key):
    """Travel to an hour after deadline `key` turns yellow (the follow-up's timer) and fire
    the timers; returns the travel context, still entered."""
    deadline = _deadline(_case(worker, case), key)
    travel = time_machine.travel(datetime.fromisoformat(deadline["warn_at"]) + timedelta(hours=1),
                                 tick=False)
    travel.start()
    assert run_tick(app)["timers"] == 1
    return travel, deadline


def test_from_enquiry_to_grant_plan_order_and_three_years_of_follow_ups(app, api, session):
    worker, case = _open(api)
    body = _case(worker, case)
    deadline = _deadline(body, "sel85_afgoerelse")
    received = datetime.fromisoformat(case["received_at"])
    assert datetime.fromisoformat(deadline["due_at"]).date() >= \
        (received + timedelta(weeks=8)).date()
    assert [t["bpmn_id"] for t in body["open_tasks"]] == ["registrer_henvendelse"]

    _complete(worker, case, "registrer_henvendelse", ENQUIRY)
    [consent_letter] = _letters(session, case, "samtykke")
    assert consent_letter.recipient["navn"] == "Peter Madsen"
    consent_task = worker.get(f"/api/v1/tasks/{_task(worker, case, 'samtykke')['id']}").get_json()
    assert consent_task["data"]["samtykker"] == [{"part": "Peter Madsen", "rolle": "borger"}]
    _complete(worker, case, "samtykke", CONSENT)
    # a request the consent does not cover is refused, naming the request
    job_centre = {**GP_REQUEST, "modtager_type": "jobcenter", "modtager": "Jobcenter Aarhus",
                  "behov": ["maal_beskaeftigelsesplan"]}
    refused = _complete(worker, case, "plan_indhentning", {
        "formaal": "Udredning.", "anmodninger": [GP_REQUEST, job_centre]}, status=422)
    assert "does not cover jobcenter" in refused["fields"]["anmodninger.1.grundlag"][0]
    _complete(worker, case, "plan_indhentning", {"formaal": "Udredning.",
                                                 "anmodninger": [GP_REQUEST]})
    [request] = _letters(session, case, "anmodning_oplysninger")
    assert request.recipient["navn"] == "Lægerne i Søndergade"
    _complete(worker, case, "registrer_svar", {"svar_dato": local_today(),
                                               "svar": "Stabil, i behandling."})

    _complete(worker, case, "udredning", assessment())
    _complete(worker, case, "indstilling", RECOMMENDATION)
    meeting = worker.get(f"/api/v1/tasks/{_task(worker, case, 'visitation')['id']}").get_json()
    assert (meeting["data"]["ydelse"], meeting["data"]["omfang"]) == (SUPPORT, "4 timer om ugen")
    _complete(worker, case, "visitation", {**meeting["data"], **MEETING})
    hearing_task = worker.get(
        f"/api/v1/tasks/{_task(worker, case, 'partshoering')['id']}").get_json()
    proposal = hearing_task["data"]["hoering_emne"]
    assert "støtte til daglige opgaver i hjemmet" in proposal and "4 timer om ugen" in proposal
    _complete(worker, case, "partshoering", {**HEARING, "hoering_emne": proposal})
    [hearing_letter] = _letters(session, case, "partshoering")
    assert hearing_letter.texts["sagen"] == proposal
    _complete(worker, case, "bemaerkninger", {"bemaerkninger": [
        {"part": "Peter Madsen", "modtaget": local_today(), "indhold": "Jeg er enig."}]})
    decision_task = worker.get(
        f"/api/v1/tasks/{_task(worker, case, 'afgoerelse')['id']}").get_json()
    assert decision_task["data"]["indsatsmaal"] == GOALS  # from the assessment
    assert decision_task["due_at"] == deadline["due_at"]  # the municipality's deadline
    _complete(worker, case, "afgoerelse", grant())
    [decision] = _letters(session, case, "afgoerelse_bevilling")
    assert decision.values["ydelse"] == "Støtte til daglige opgaver i hjemmet"  # FFB name
    assert decision.values["leverandoer"] == "Bostøtten Aarhus"
    assert decision.texts["begrundelse"] == grant()["begrundelse"]
    assert _deadline(_case(worker, case), "sel85_afgoerelse")["state"] == "met"

    _complete(worker, case, "handleplan", PLAN)
    [plan] = _letters(session, case, "handleplan")
    assert plan.texts["perspektiv"] == assessment()["borgerens_oensker"]
    assert GOALS[0]["maal"] in plan.texts["maal"]
    _complete(worker, case, "bestilling", ORDER)
    [order] = _letters(session, case, "bestilling_leverandoer")
    assert (order.recipient["navn"], order.recipient["rolle"]) == ("Bostøtten Aarhus", "provider")
    assert GOALS[1]["maal"] in order.values["maal"]
    # the first follow-up counts from the day the intervention begins (the order says when)
    first_follow_up = _deadline(_case(worker, case), "foerste_opfoelgning")
    began = datetime.fromisoformat(first_follow_up["start_at"]).astimezone(LOCAL_TZ)
    assert (began.date().isoformat(), began.hour, began.minute) == (ORDER["opstart"], 0, 0)
    issue_every_draft(worker, session, case)
    started = now()

    # the provider reports on the order; the report waits for the follow-up
    reported = worker.post(f"/api/v1/cases/{case['id']}/messages/status_fra_udfoerer", json={
        "data": {"afsender": "Bostøtten Aarhus", "status": "Peter handler nu selv ind."}})
    assert reported.status_code == 200, reported.get_json()

    # 1st follow-up (3 months): continue; the DMN table proposes 12 months (moderate need)
    travel, first = _when_due(app, case, worker, "foerste_opfoelgning")
    try:
        status_task = worker.get(
            f"/api/v1/tasks/{_task(worker, case, 'registrer_status')['id']}").get_json()
        assert status_task["due_at"] == first["due_at"]
        assert [r["status"] for r in status_task["data"]["statusrapporter"]] == [
            "Peter handler nu selv ind."]
        [asked] = _letters(session, case, "anmodning_status")
        assert asked.recipient["navn"] == "Bostøtten Aarhus"
        goals, conclusion = follow_up(worker, case, CONTINUE)
        assert [g["maal"] for g in goals] == [g["maal"] for g in GOALS]
        assert conclusion["naeste_opfoelgning_maaneder"] == 12
        body = _case(worker, case)
        assert _deadline(body, "foerste_opfoelgning")["state"] == "met"
        nxt = _deadline(body, "naeste_opfoelgning")
        assert datetime.fromisoformat(nxt["due_at"]) > now() + timedelta(days=360)
        [summary] = _letters(session, case, "opfoelgning_resume")
        assert GOALS[0]["maal"] + ": delvist opnået" in summary.texts["vurdering"]
        assert summary.texts["videre"].startswith("Indsatsen fortsætter.")
        issue_every_draft(worker, session, case)
    finally:
        travel.stop()

    # 2nd follow-up (a year on): the goals come with last time's assessment; continue
    travel, _second = _when_due(app, case, worker, "naeste_opfoelgning")
    try:
        goals, _ = follow_up(worker, case, CONTINUE, months=12,
                             grades={GOALS[1]["maal"]: "opnaaet"})
        assert {g["forrige_vurdering"] for g in goals} == {"delvist"}
        issue_every_draft(worker, session, case)
    finally:
        travel.stop()

    # 3rd follow-up: the intervention must change: a new decision path on the same case
    travel, _third = _when_due(app, case, worker, "naeste_opfoelgning")
    try:
        follow_up(worker, case, CONTINUE, adjust=True)
        assert [t["bpmn_id"] for t in _case(worker, case)["open_tasks"]] == ["partshoering"]
        # the new hearing is pre-filled from the follow-up, not from the first decision
        hearing = _prefilled(worker, case, "partshoering")
        assert hearing["hoering_emne"].startswith("Efter opfølgningen den ")
        assert hearing["hoering_emne"].endswith("Indsatsen virker.")
        _complete(worker, case, "partshoering", hearing)
        assert "bemaerkninger" not in _prefilled(worker, case, "bemaerkninger")
        _complete(worker, case, "bemaerkninger", {"bemaerkninger": []})
        # the decision's pre-filled values are valid as they stand; only the extent changes
        decision = _prefilled(worker, case, "afgoerelse")
        assert decision["indsatsmaal"] == GOALS
        _complete(worker, case, "afgoerelse", {**decision, "omfang": "2 timer om ugen",
                                               "timer_pr_uge": 2})
        decisions = _letters(session, case, "afgoerelse_bevilling")
        assert [d.values["omfang"] for d in decisions] == ["4 timer om ugen", "2 timer om ugen"]
        _complete(worker, case, "handleplan", {**PLAN, "svar": "afslaaet"})
        assert len(_letters(session, case, "handleplan")) == 1  # declined: no new plan
        assert "opstart" not in _prefilled(worker, case, "bestilling")  # a new start day
        _complete(worker, case, "bestilling", {**ORDER, "opstart": local_today()})
        assert len(_letters(session, case, "bestilling_leverandoer")) == 2
        issue_every_draft(worker, session, case)
    finally:
        travel.stop()

    # 4th follow-up: the goals are met; the intervention ends and the case closes
    travel, _fourth = _when_due(app, case, worker, "foerste_opfoelgning")
    try:
        follow_up(worker, case, END, grades={g["maal"]: "opnaaet" for g in GOALS})
        body = _case(worker, case)
        assert body["status"] == "closed"
        assert now() - started > timedelta(days=2 * 365 + 90)
        [closing] = _letters(session, case, "lukning")
        assert "Træf afgørelse om afslutning af indsats" in closing.texts["aarsag"]
        issue_every_draft(worker, session, case)
        body = _case(worker, case)
    finally:
        travel.stop()
    assert {d["key"]: d["state"] for d in body["deadlines"]} == {
        "sel85_afgoerelse": "met", "partshoering_svar": "met", "foerste_opfoelgning": "met",
        "naeste_opfoelgning": "met"}
    assert [i["status"] for i in body["instances"]] == ["completed"]
    done = [e["data"]["bpmn_id"] for e in body["timeline"] if e["kind"] == "task_completed"]
    assert done.count("konkluder") == 4 and done.count("afgoerelse") == 2
    for step in ("registrer_henvendelse", "samtykke", "plan_indhentning", "registrer_svar",
                 "udredning", "indstilling", "visitation", "partshoering", "bemaerkninger",
                 "handleplan", "bestilling", "registrer_status", "vurder_maal", "borgerens_syn"):
        assert step in done, step
    issued = [e["data"]["letter"] for e in body["timeline"] if e["kind"] == "letter_issued"]
    assert sorted(set(issued)) == sorted({
        "samtykke", "anmodning_oplysninger", "partshoering", "afgoerelse_bevilling",
        "handleplan", "bestilling_leverandoer", "anmodning_status", "opfoelgning_resume",
        "lukning"})
    assert issued.count("opfoelgning_resume") == 4
    closed = [e for e in body["timeline"] if e["kind"] == "status_changed"]
    assert closed[-1]["data"]["new"] == "closed" and closed[-1]["data"]["by"] == "process"


def test_a_refusal_sends_the_refusal_letter_and_closes_the_case(api, session):
    worker, case = _open(api)
    _to_step(worker, case, "afgoerelse")
    _complete(worker, case, "afgoerelse", {
        "udfald": "afslag", "ydelse": SUPPORT, "hjemmel": "Serviceloven § 85",
        "begrundelse": "Din funktionsevne er ikke nedsat i et omfang, der giver ret til støtte."})
    [refusal] = _letters(session, case, "afgoerelse_afslag")
    assert refusal.values["ydelse"] == "Støtte til daglige opgaver i hjemmet"
    assert "omfang" not in refusal.values  # nothing granted
    body = _case(worker, case)
    assert body["status"] == "closed" and body["open_tasks"] == []
    assert _deadline(body, "sel85_afgoerelse")["state"] == "met"
    assert not _letters(session, case, "handleplan")
    issue_every_draft(worker, session, case)
    [issued] = _letters(session, case, "afgoerelse_afslag")
    assert "klage" in issued.html.lower() and "Serviceloven § 85" in issued.html


def test_the_municipal_deadline_breached_gives_the_letter_and_the_leaders_queue(
        app, api, session):
    worker = api("sagsbehandler")
    received = now() - timedelta(weeks=9)
    response = worker.post("/api/v1/cases", json={
        "process": "sel85", "citizen": CITIZEN,
        "received_at": received.isoformat(timespec="seconds")})
    assert response.status_code == 201, response.get_json()
    case = response.get_json()
    _complete(worker, case, "registrer_henvendelse", ENQUIRY)
    assert run_tick(app)["deadlines"] >= 1
    body = _case(worker, case)
    assert _deadline(body, "sel85_afgoerelse")["state"] == "overdue"
    assert any(e["kind"] == "deadline_escalated" and e["data"]["key"] == "sel85_afgoerelse"
               for e in body["timeline"])
    queue = api("leder").get("/api/v1/queues/deadlines?key=sel85_afgoerelse").get_json()
    assert [i["case_number"] for i in queue["items"]] == [case["number"]]
    [letter] = _letters(session, case, "forventet_afgoerelsestidspunkt")
    assert letter.recipient["navn"] == "Peter Madsen"
    # the expected date is the caseworker's to give; nothing else on the case holds it
    refused = worker.post(f"/api/v1/letters/{letter.id}/issue")
    assert refused.status_code == 422, refused.get_json()
    wrong = worker.patch(f"/api/v1/letters/{letter.id}", json={"values": {"ydelse": "x"}})
    assert wrong.status_code == 422 and "values.ydelse" in wrong.get_json()["fields"]
    expected = (now() + timedelta(weeks=3)).date().isoformat()
    edited = worker.patch(f"/api/v1/letters/{letter.id}",
                          json={"values": {"forventet_afgoerelse": expected}})
    assert edited.status_code == 200, edited.get_json()
    issued = worker.post(f"/api/v1/letters/{letter.id}/issue")
    assert issued.status_code == 200, issued.get_json()
    session.expire_all()
    [letter] = _letters(session, case, "forventet_afgoerelsestidspunkt")
    from engine.letters.render import danish_date
    assert danish_date(expected) in letter.html
    # the case goes on; the decision, when it comes, is late
    _complete(worker, case, "samtykke", CONSENT)
    _task(worker, case, "plan_indhentning")


def test_a_withdrawn_consent_gives_a_task_and_no_longer_covers_requests(api):
    worker, case = _open(api)
    _to_step(worker, case, "plan_indhentning")
    response = worker.post(f"/api/v1/cases/{case['id']}/messages/samtykke_tilbagekaldt", json={
        "data": {"part": "Peter Madsen", "dato": local_today(), "form": "mundtlig"}})
    assert response.status_code == 200, response.get_json()
    _task(worker, case, "vurder_tilbagekaldelse")
    refused = _complete(worker, case, "plan_indhentning",
                        {"formaal": "Udredning.", "anmodninger": [GP_REQUEST]}, status=422)
    assert "Peter Madsen" in refused["fields"]["anmodninger.0.grundlag"][0]
    # a request on another legal basis is still possible
    _complete(worker, case, "plan_indhentning", {"formaal": "Udredning.", "anmodninger": [
        {**GP_REQUEST, "grundlag": "lov", "hjemmel_tekst": "Serviceloven § 11 c, stk. 2"}]})
    _complete(worker, case, "vurder_tilbagekaldelse", {
        "beslutning": "andet_grundlag", "begrundelse": "Kun det, loven giver adgang til."})
    _task(worker, case, "registrer_svar")


def test_the_assessment_is_saved_in_any_order_and_completeness_names_what_is_missing(api):
    worker, case = _open(api)
    _to_step(worker, case, "udredning")
    task = _task(worker, case, "udredning")
    url = f"/api/v1/tasks/{task['id']}"
    full = assessment()
    # goals first, then the citizen's wishes, then some themes: drafts, any order
    saved = worker.put(f"{url}/draft", json={"data": {"indsatsmaal": GOALS}, "version": 0})
    assert saved.status_code == 200, saved.get_json()
    version = saved.get_json()["version"]
    partial = {"indsatsmaal": GOALS, "borgerens_oensker": full["borgerens_oensker"],
               "tilstande": {k: v for k, v in full["tilstande"].items()
                             if k in ("praktiske_opgaver", "egenomsorg")}}
    saved = worker.put(f"{url}/draft", json={"data": partial, "version": version})
    assert saved.status_code == 200, saved.get_json()
    # a second tab with the old version is told, and overwrites nothing
    stale = worker.put(f"{url}/draft", json={"data": {"indsatsmaal": []}, "version": version})
    assert stale.status_code == 409
    # a wrong value in a draft is refused, naming it
    bad = worker.put(f"{url}/draft", json={"data": {"tilstande": {"mobilitet": {
        "funktionsevneniveau": "meget"}}}})
    assert bad.status_code == 422 and "tilstande.mobilitet.funktionsevneniveau" in \
        bad.get_json()["fields"]
    detail = worker.get(url).get_json()
    assert detail["data"]["indsatsmaal"] == GOALS
    assert set(detail["data"]["tilstande"]) == {"praktiske_opgaver", "egenomsorg"}
    # completing what is there names every missing section and theme; the draft stays
    refused = worker.post(f"{url}/complete", json={"data": detail["data"]})
    assert refused.status_code == 422
    fields = refused.get_json()["fields"]
    assert {"maalgruppe_primaer", "samlet_stoettebehov", "tilstande.mobilitet",
            "tilstande.mentale_funktioner"} <= set(fields)
    assert "tilstande.egenomsorg" not in fields
    assert worker.get(url).get_json()["draft"]["data"] == partial
    done = worker.post(f"{url}/complete", json={"data": {**detail["data"], **full}})
    assert done.status_code == 200, done.get_json()
    assert worker.get(url).get_json()["draft"] is None
    _task(worker, case, "indstilling")


def test_an_overdue_follow_up_is_escalated_to_the_leader(app, api, session):
    worker, case = _open(api)
    _to_step(worker, case, "opfoelgning")
    due = _deadline(_case(worker, case), "foerste_opfoelgning")
    with time_machine.travel(datetime.fromisoformat(due["due_at"]) + timedelta(days=2),
                             tick=False):
        run_tick(app)
        body = _case(worker, case)
        assert _deadline(body, "foerste_opfoelgning")["state"] == "overdue"
        assert any(e["kind"] == "deadline_escalated" and e["data"]["key"] ==
                   "foerste_opfoelgning" for e in body["timeline"])
        inbox = worker.get("/api/v1/tasks?scope=mine&overdue=true").get_json()["items"]
        assert [t["bpmn_id"] for t in inbox if t["case_id"] == case["id"]] == [
            "registrer_status"]
        queue = api("leder").get(
            "/api/v1/queues/deadlines?key=foerste_opfoelgning").get_json()
        assert [i["case_number"] for i in queue["items"]] == [case["number"]]
        # held late, the follow-up still meets its deadline (late) and schedules the next
        follow_up(worker, case, CONTINUE)
        body = _case(worker, case)
        assert any(e["kind"] == "deadline_met" and e["data"]["key"] == "foerste_opfoelgning"
                   and e["data"]["late"] for e in body["timeline"])
        assert _deadline(body, "naeste_opfoelgning")["state"] in ("open", "due_soon")


@pytest.mark.parametrize("step, data, field, problem", [
    ("registrer_henvendelse", {"kilde": "naboen", "ansoegt_om": "Hjælp"}, "kilde", "one of"),
    ("registrer_henvendelse", {"kilde": "borger"}, "ansoegt_om", "missing"),
    ("samtykke", {**CONSENT, "samtykker": []}, "samtykker", None),
    ("samtykke", {**CONSENT, "samtykker": [{**CONSENT["samtykker"][0], "dato": "2099-01-01"}]},
     "samtykker.0.dato", "cannot be in the future"),
    ("plan_indhentning", {"formaal": "x", "anmodninger": [{**GP_REQUEST, "grundlag": "udvalg"}]},
     "anmodninger.0.grundlag", "one of"),
    ("udredning", {**assessment(), "indsatsmaal": [{"maal": "Mål uden type"}]},
     "indsatsmaal.0.maaltype", "missing"),
    ("udredning", {**assessment(), "maalgruppe_primaer": "ikke-en-kode"},
     "maalgruppe_primaer", "one of"),
    ("indstilling", {**RECOMMENDATION, "ydelse": None}, "ydelse", "missing"),
    ("visitation", {**MEETING, "deltagere": []}, "deltagere", None),
    ("visitation", {**MEETING, "moede_dato": "2099-01-01", "ydelse": SUPPORT, "omfang": "4"},
     "moede_dato", "cannot be in the future"),
    ("partshoering", {"undtagelse": True}, "undtagelse_begrundelse", "missing"),
    ("afgoerelse", grant(periode_til="2020-01-01"), "periode_til", "before the period"),
    ("afgoerelse", grant(leverandoer=None), "leverandoer", "missing"),
    ("afgoerelse", grant(udfald="delvis"), "ikke_bevilget", "missing"),
    ("handleplan", {**PLAN, "svar": "maaske"}, "svar", "one of"),
    ("bestilling", {**ORDER, "opstart": "1. januar"}, "opstart", "date"),
])
def test_bad_input_on_the_forms_names_the_field_and_changes_nothing(api, step, data, field,
                                                                    problem):
    worker, case = _open(api)
    _to_step(worker, case, step)
    refused_and_unchanged(worker, case, step, {k: v for k, v in data.items() if v is not None},
                          field, problem)


@pytest.mark.parametrize("step, data, field, problem", [
    ("registrer_status", {"status_modtaget": True, "status_tekst": "Fint."}, "status_dato",
     "missing"),
    ("vurder_maal", {"maal_vurdering": [{"maal": GOALS[0]["maal"], "vurdering": "opnaaet"}]},
     "maal_vurdering", "no assessment of the goal"),
    ("vurder_maal", {"maal_vurdering": [{"maal": g["maal"], "vurdering": "godt"}
                                        for g in GOALS]}, "maal_vurdering.0.vurdering",
     "one of"),
    ("borgerens_syn", {"samtale_dato": "2099-01-01", "borgerens_syn": "Godt."}, "samtale_dato",
     "cannot be in the future"),
    ("konkluder", {"status": CONTINUE, "juster_indsats": False, "konklusion": "Godt."},
     "interval_begrundelse", "missing"),
    ("konkluder", {"status": CONTINUE, "juster_indsats": False, "konklusion": "Godt.",
                   "naeste_opfoelgning_maaneder": 36, "interval_begrundelse": "Stabil."},
     "naeste_opfoelgning_maaneder", "36"),
    ("konkluder", {"status": "fortsaet", "juster_indsats": False, "konklusion": "Godt."},
     "status", "one of"),
])
def test_bad_input_in_a_follow_up_names_the_field_and_changes_nothing(app, api, session, step,
                                                                      data, field, problem):
    worker, case = _open(api)
    _to_step(worker, case, "opfoelgning")
    travel, _due = _when_due(app, case, worker, "foerste_opfoelgning")
    try:
        order = ["registrer_status", "vurder_maal", "borgerens_syn", "konkluder"]
        goals = [{**g, "vurdering": "delvist"} for g in GOALS]
        valid = {"registrer_status": {"status_modtaget": False, "status_tekst": "Ingen status."},
                 "vurder_maal": {"maal_vurdering": goals},
                 "borgerens_syn": {"samtale_dato": local_today(), "borgerens_syn": "Godt."}}
        for earlier in order[:order.index(step)]:
            _complete(worker, case, earlier, valid[earlier])
        refused_and_unchanged(worker, case, step, data, field, problem)
    finally:
        travel.stop()


def test_a_refusal_path_saves_its_pre_filled_forms_as_they_stand(api):
    """Fields left empty earlier are empty again, never null: a form saved or sent as it
    was pre-filled is valid."""
    worker, case = _open(api)
    _to_step(worker, case, "indstilling")
    _complete(worker, case, "indstilling", {"faglig_vurdering": "Ingen nedsat funktionsevne.",
                                            "indstilling": "afslag", "begrundelse": "Klarer sig."})
    meeting = _prefilled(worker, case, "visitation")
    assert "ydelse" not in meeting and "timer_pr_uge" not in meeting
    _complete(worker, case, "visitation", {**meeting, **MEETING, "udfald": "afslag"})
    hearing = _prefilled(worker, case, "partshoering")
    assert "afslag" in hearing["hoering_emne"]
    task = _task(worker, case, "partshoering")
    saved = worker.put(f"/api/v1/tasks/{task['id']}/draft", json={"data": hearing})
    assert saved.status_code == 200, saved.get_json()
    _complete(worker, case, "partshoering", hearing)
    _complete(worker, case, "bemaerkninger", {"bemaerkninger": []})
    decision = _prefilled(worker, case, "afgoerelse")
    assert None not in decision.values()
    refused = _complete(worker, case, "afgoerelse", {**decision, "udfald": "afslag",
                                                     "begrundelse": "Klarer sig selv."}, 422)
    assert refused["fields"] == {"ydelse": ["required field is missing"]}  # what was refused


def test_a_follow_up_deadline_met_by_hand_does_not_stop_the_follow_up(app, api, session):
    worker, case = _open(api)
    _to_step(worker, case, "opfoelgning")
    travel, _due = _when_due(app, case, worker, "foerste_opfoelgning")
    try:
        met = worker.post(f"/api/v1/cases/{case['id']}/deadlines/foerste_opfoelgning",
                          json={"action": "meet"})
        assert met.status_code == 200, met.get_json()
        follow_up(worker, case, CONTINUE)
        body = _case(worker, case)
        assert [i["status"] for i in body["instances"]] == ["running"]
        assert _deadline(body, "naeste_opfoelgning")["state"] in ("open", "due_soon")
        assert len(_letters(session, case, "opfoelgning_resume")) == 1
    finally:
        travel.stop()


def test_ended_and_referred_then_refused_closes_with_a_closing_letter(app, api, session):
    worker, case = _open(api)
    _to_step(worker, case, "opfoelgning")
    travel, _due = _when_due(app, case, worker, "foerste_opfoelgning")
    try:
        follow_up(worker, case, END_AND_REFER)
        _complete(worker, case, "partshoering", _prefilled(worker, case, "partshoering"))
        _complete(worker, case, "bemaerkninger", {"bemaerkninger": []})
        _complete(worker, case, "afgoerelse", {
            **_prefilled(worker, case, "afgoerelse"), "udfald": "afslag",
            "begrundelse": "Du har nået målene og har ikke længere brug for støtten."})
        body = _case(worker, case)
        assert body["status"] == "closed"
        closed = [e for e in body["timeline"] if e["kind"] == "status_changed"][-1]
        assert closed["data"]["reason"] == "Støtten ophører efter ny afgørelse"
        [closing] = _letters(session, case, "lukning")
        assert closing.texts["aarsag"].endswith("har ikke længere brug for støtten.")
        assert len(_letters(session, case, "afgoerelse_afslag")) == 1
    finally:
        travel.stop()


def test_a_draft_of_a_task_the_process_cancels_goes_with_it(app, api, session):
    from engine.models import TaskDraft

    worker, case = _open(api)
    _to_step(worker, case, "bemaerkninger")
    task = _task(worker, case, "bemaerkninger")
    saved = worker.put(f"/api/v1/tasks/{task['id']}/draft", json={"data": {"bemaerkninger": [
        {"part": "Peter Madsen", "indhold": "Halvt skrevet"}]}})
    assert saved.status_code == 200, saved.get_json()
    due = _deadline(_case(worker, case), "partshoering_svar")["due_at"]
    with time_machine.travel(datetime.fromisoformat(due) + timedelta(minutes=1), tick=False):
        assert run_tick(app)["timers"] == 1  # no answer in time: on to the decision
    assert worker.get(f"/api/v1/tasks/{task['id']}").get_json()["state"] == "cancelled"
    session.expire_all()
    assert session.get(TaskDraft, task["id"]) is None
    _task(worker, case, "afgoerelse")


def test_the_case_page_shows_consents_requests_and_issued_letters(app, api, session):
    from web_helpers import _login

    worker, case = _open(api)
    _complete(worker, case, "registrer_henvendelse", ENQUIRY)
    _complete(worker, case, "samtykke", CONSENT)
    _complete(worker, case, "plan_indhentning", {"formaal": "Udredning.",
                                                 "anmodninger": [GP_REQUEST]})
    [consent_letter] = _letters(session, case, "samtykke")
    worker.patch(f"/api/v1/letters/{consent_letter.id}",
                 json={"texts": {"formaal": "At udrede dit behov for støtte."}})
    assert worker.post(f"/api/v1/letters/{consent_letter.id}/issue").status_code == 200
    client = app.test_client()
    _login(client)
    page = client.get(f"/sager/{case['id']}").get_data(as_text=True)
    assert "Samtykker" in page and "egen_laege, psykiatri" in page
    assert "Lægerne i Søndergade" in page and "Afventer svar" in page
    assert "Registrér svar" in page  # the open task of the request
    assert f"/breve/{consent_letter.id}/pdf" in page
    pdf = client.get(f"/breve/{consent_letter.id}/pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
