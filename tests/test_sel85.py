"""Social-pedagogical support for adults (SEL § 85) end to end, through the API with time travel:
the enquiry and the municipality's case-processing deadline, consent, information gathering, the
VUM 2.0 assessment with FFB codes (drafts, any order, completeness named), the recommendation
and the allocation meeting, hearing, decision and its letter, the action plan, the order, and
years of guided follow-ups (continue, adjust with a new decision, end)."""

from datetime import datetime, timedelta
from pathlib import Path

import time_machine
from conftest import run_tick
from scenario import (
    CONTINUE,
    END,
    _case,
    _complete,
    _deadline,
    _letters,
    _task,
    follow_up,
    local_today,
)

from engine.clock import now
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


ORDER = {"leverandoer": "Bostøtten Aarhus",
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


def _issue_every_draft(worker, session, case):
    for draft in [x for x in _letters(session, case) if x.state == "draft"]:
        response = worker.post(f"/api/v1/letters/{draft.id}/issue")
        if response.status_code == 422:
            missing = response.get_json()["fields"]
            assert all(k.startswith("tekst.") for k in missing), (draft.key, missing)
            worker.patch(f"/api/v1/letters/{draft.id}", json={"texts": {
                k.split(".", 1)[1]: "Skrevet af sagsbehandleren." for k in missing}})
            response = worker.post(f"/api/v1/letters/{draft.id}/issue")
        assert response.status_code == 200, (draft.key, response.get_json())


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
    _issue_every_draft(worker, session, case)
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
        _issue_every_draft(worker, session, case)
    finally:
        travel.stop()

    # 2nd follow-up (a year on): the goals come with last time's assessment; continue
    travel, _second = _when_due(app, case, worker, "naeste_opfoelgning")
    try:
        goals, _ = follow_up(worker, case, CONTINUE, months=12,
                             grades={GOALS[1]["maal"]: "opnaaet"})
        assert {g["forrige_vurdering"] for g in goals} == {"delvist"}
        _issue_every_draft(worker, session, case)
    finally:
        travel.stop()

    # 3rd follow-up: the intervention must change: a new decision path on the same case
    travel, _third = _when_due(app, case, worker, "naeste_opfoelgning")
    try:
        follow_up(worker, case, CONTINUE, adjust=True)
        assert [t["bpmn_id"] for t in _case(worker, case)["open_tasks"]] == ["partshoering"]
        _complete(worker, case, "partshoering", {
            **HEARING, "hoering_emne": "Vi overvejer at sætte støtten ned til 2 timer om ugen."})
        _complete(worker, case, "bemaerkninger", {"bemaerkninger": []})
        _complete(worker, case, "afgoerelse", grant(omfang="2 timer om ugen", timer_pr_uge=2))
        decisions = _letters(session, case, "afgoerelse_bevilling")
        assert [d.values["omfang"] for d in decisions] == ["4 timer om ugen", "2 timer om ugen"]
        _complete(worker, case, "handleplan", {**PLAN, "svar": "afslaaet"})
        assert len(_letters(session, case, "handleplan")) == 1  # declined: no new plan
        _complete(worker, case, "bestilling", {**ORDER, "opstart": local_today()})
        assert len(_letters(session, case, "bestilling_leverandoer")) == 2
        _issue_every_draft(worker, session, case)
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
        _issue_every_draft(worker, session, case)
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
