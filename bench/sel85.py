"""`python -m bench.sel85`: one case of social-pedagogical support for adults (SEL § 85,
processes/sel85.bpmn) walked from the enquiry to the order and through its first follow-up,
through the use cases, on SQLite in a fresh instance folder, N times. Prints the median and p95
of each step (complete_task: validate, load the workflow, run it, save it, project tasks,
mirror deadlines, prepare letters, commit; the VUM assessment is first saved as two drafts with
save_draft), of the scheduler tick that fires the follow-up timer (the clock moved with
time_machine to an hour after the first follow-up's deadline turns yellow, as the tests do) and
of the whole walk. The step data is that of tests/test_sel85.py."""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from bench.stats import print_walk

ROOT = Path(__file__).resolve().parent.parent
THEMES = ("mentale_funktioner", "sundhedsforhold", "fysiske_funktioner", "sociale_forhold",
          "relationer", "kommunikation", "mobilitet", "egenomsorg", "samfundsliv",
          "praktiske_opgaver", "omgivelser")
NAME = "Peter Madsen"


def step_data(ffb, today: str, in_days) -> dict:
    """The data of each step before the follow-up, from tests/test_sel85.py. `ffb(parent,
    name)` is the FFB code of a name; `in_days(n)` the ISO date n days from now."""
    support = ffb("Socialpædagogisk støtte", "Støtte til daglige opgaver i hjemmet")
    moderate = ffb("Funktionsevneniveau", "Moderat nedsat funktionsevne")
    not_assessed = ffb("Funktionsevneniveau", "Ikke vurderet")
    need_moderate = ffb("Støttebehovsniveau", "Moderat støttebehov")
    need_none = ffb("Støttebehovsniveau", "Ikke vurderet")
    goals = [{"maal": "Peter handler selv ind og laver mad tre dage om ugen.",
              "maaltype": ffb("Måltype", "Udvikle funktionsevne")},
             {"maal": "Peter åbner og betaler sin post.",
              "maaltype": ffb("Måltype", "Udvikle funktionsevne")}]
    conditions = {}
    for theme in THEMES:
        reduced = theme in ("praktiske_opgaver", "egenomsorg")
        conditions[theme] = {"funktionsevneniveau": moderate if reduced else not_assessed,
                             "stoettebehov": need_moderate if reduced else need_none,
                             "beskrivelse": "Har svært ved at komme i gang." if reduced else ""}
    assessment = {"tilstande": conditions,
                  "maalgruppe_primaer": ffb("Funktionsnedsættelse", "Depression"),
                  "maalgrupper_sekundaere": [ffb("Socialt problem", "Social isolation")],
                  "borgerens_oensker": "Jeg vil gerne kunne klare mig selv i min lejlighed.",
                  "indsatsmaal": goals, "samlet_stoettebehov": need_moderate}
    half = dict(list(conditions.items())[:len(THEMES) // 2])
    return {
        "registrer_henvendelse": {
            "kilde": "borger", "ansoegt_om": "Hjælp til at klare hverdagen i egen bolig.",
            "borgerens_situation": "Bor alene efter udskrivning fra psykiatrien."},
        "samtykke": {"samtykke_formaal": "At udrede Peters behov for støtte.", "samtykker": [
            {"part": NAME, "rolle": "borger", "givet": True, "dato": "2026-11-02",
             "form": "skriftlig", "omfang": ["egen_laege", "psykiatri"]}]},
        "plan_indhentning": {"formaal": "Udredning.", "anmodninger": [
            {"behov": ["helbred"], "modtager_type": "egen_laege",
             "modtager": "Lægerne i Søndergade", "spoergsmaal": "Hvordan er Peters helbred?",
             "svarfrist_dage": 14, "grundlag": "samtykke"}]},
        "registrer_svar": {"svar_dato": today, "svar": "Stabil, i behandling."},
        # what the caseworker has typed when saving: half the themes and the citizen's wish,
        # then everything but the overall need
        "udredning draft 1": {"tilstande": half,
                              "borgerens_oensker": assessment["borgerens_oensker"]},
        "udredning draft 2": {k: v for k, v in assessment.items()
                              if k != "samlet_stoettebehov"},
        "udredning": assessment,
        "indstilling": {"faglig_vurdering": "Moderat nedsat funktionsevne i praktiske opgaver.",
                        "indstilling": "bevilling", "ydelse": support, "omfang": "4 timer om ugen",
                        "timer_pr_uge": 4,
                        "begrundelse": "Støtten kan gøre Peter selvhjulpen."},
        "visitation": {"moede_dato": "2026-11-20",
                       "deltagere": ["Lene Holm, teamleder", "Ali Khan, rådgiver"],
                       "udfald": "bevilling", "ydelse": support, "omfang": "4 timer om ugen"},
        "partshoering": {"undtagelse": False,
                         "hoering_oplysninger": "Udredningen og lægens udtalelse.",
                         "svarfrist_dage": 14,
                         "hoering_emne": "Vi overvejer at bevilge støtte."},
        "bemaerkninger": {"bemaerkninger": [
            {"part": NAME, "modtaget": today, "indhold": "Jeg er enig."}]},
        "afgoerelse": {"udfald": "bevilling", "ydelse": support, "omfang": "4 timer om ugen",
                       "timer_pr_uge": 4, "periode_fra": in_days(14),
                       "periode_til": in_days(380), "leverandoer": "Bostøtten Aarhus",
                       "leverandoer_adresse": "Vestergade 4, 8000 Aarhus C",
                       "indsatsmaal": goals, "hjemmel": "Serviceloven § 85",
                       "begrundelse": "Du har brug for støtte til at klare praktiske opgaver."},
        "handleplan": {"tilbudt_dato": "2026-11-24", "svar": "accepteret",
                       "formaal": "At Peter kan klare sig selv i egen bolig.",
                       "forventet_varighed": "1 år"},
        "bestilling": {"leverandoer": "Bostøtten Aarhus",
                       "leverandoer_adresse": "Vestergade 4, 8000 Aarhus C", "opstart": in_days(14),
                       "opgave": "Socialpædagogisk støtte 4 timer om ugen i hjemmet."},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=30, help="cases to walk (default 30)")
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="sagsflow-bench-sel85-")
    os.environ["SAGSFLOW_INSTANCE_DIR"] = folder
    import time_machine
    from sqlalchemy import select

    from api import create_app, scheduler
    from api.cli import upgrade_database
    from api.extensions import db
    from engine.accounts import create_team, create_user
    from engine.clock import local_date, now
    from engine.db import transaction
    from engine.forms import CodeSystem
    from engine.models import CASEWORKER, RUNNING, CaseDeadline, Instance, Task, User

    codes = CodeSystem.load(ROOT / "forms" / "codes" / "ffb.json")

    def ffb(parent: str, display: str) -> str:
        [code] = [c for c, name in codes.codes(parent) if name == display]
        return code

    continue_ = ffb("Status på indsats", "Træf afgørelse om fortsættelse af indsats")

    app = create_app()
    with app.app_context():
        upgrade_database(app.config["SQLALCHEMY_DATABASE_URI"])
        casework = app.extensions["casework"]
        with transaction(db.session) as session:
            team = create_team(session, "voksen", "Voksenhandicap")
            worker_id = create_user(session, "sb", "bench-kodeord-1", CASEWORKER,
                                    "Sagsbehandler", teams=[team]).id
            casework.registry.deploy(session, "bench")
        timings: dict[str, list[float]] = {}

        def timed(name: str, work) -> None:
            begun = time.perf_counter()
            with transaction(db.session) as session:
                work(session)
            timings.setdefault(name, []).append(time.perf_counter() - begun)

        def ready(case_id: int, bpmn_id: str) -> str:
            with transaction(db.session) as session:
                [task_id] = session.scalars(select(Task.id).where(
                    Task.case_id == case_id, Task.bpmn_id == bpmn_id, Task.state == "ready"))
            return task_id

        def complete(worker: User, case_id: int, bpmn_id: str, data: dict,
                     name: str | None = None) -> None:
            task_id = ready(case_id, bpmn_id)
            timed(name or bpmn_id,
                  lambda session: casework.complete_task(session, worker, task_id, data))

        def save_draft(worker: User, case_id: int, name: str, data: dict,
                       version: int | None) -> None:
            task_id = ready(case_id, "udredning")
            timed(name, lambda session: casework.save_draft(session, worker, task_id, data,
                                                            version))

        def prefill(worker: User, case_id: int, bpmn_id: str) -> dict:
            with transaction(db.session) as session:
                return casework.get_task(session, worker, ready(case_id, bpmn_id))[1]

        walks = []
        for i in range(args.n):
            # the user as a request loads it, in this walk's session
            worker = db.session.get(User, worker_id)
            started = time.perf_counter()
            today = local_date(now()).isoformat()
            steps = step_data(ffb, today, lambda days: (now() + timedelta(days=days)).date()
                              .isoformat())
            citizen = {"cpr": f"{1 + i % 28:02d}0380{1000 + i % 9000:04d}", "name": NAME,
                       "address": "Åboulevarden 12, 8000 Aarhus C"}
            with transaction(db.session) as session:
                case_id = casework.open_case(session, worker, "sel85", citizen,
                                             now() - timedelta(days=2)).id
            timings.setdefault("open_case", []).append(time.perf_counter() - started)
            for bpmn_id, data in steps.items():
                if bpmn_id.startswith("udredning draft"):
                    # the second save names the version the first one made, as the form does
                    save_draft(worker, case_id, bpmn_id, data,
                               1 if bpmn_id.endswith("2") else None)
                else:
                    complete(worker, case_id, bpmn_id, data)
            # the follow-up's timer fires an hour after its deadline turns yellow
            with transaction(db.session) as session:
                warn_at = session.scalar(select(CaseDeadline.warn_at).where(
                    CaseDeadline.case_id == case_id, CaseDeadline.key == "foerste_opfoelgning"))
            with time_machine.travel(warn_at + timedelta(hours=1), tick=False):
                begun = time.perf_counter()
                moved = scheduler.tick(app)
                timings.setdefault("follow-up timer (tick)", []).append(
                    time.perf_counter() - begun)
                assert moved["timers"] == 1, moved
                today = local_date(now()).isoformat()
                complete(worker, case_id, "registrer_status", {
                    "status_modtaget": True, "status_dato": today,
                    "status_tekst": "Borgeren møder stabilt op og tager selv initiativ."})
                goals = prefill(worker, case_id, "vurder_maal")["maal_vurdering"]
                complete(worker, case_id, "vurder_maal", {"maal_vurdering": [
                    {**g, "vurdering": "delvist", "kommentar": "Godt på vej."} for g in goals]})
                complete(worker, case_id, "borgerens_syn", {
                    "samtale_dato": today,
                    "borgerens_syn": "Jeg har det bedre, men har brug for mere."})
                months = prefill(worker, case_id, "konkluder")["naeste_opfoelgning_maaneder"]
                complete(worker, case_id, "konkluder", {
                    "status": continue_, "juster_indsats": False,
                    "konklusion": "Indsatsen virker.", "naeste_opfoelgning_maaneder": months,
                    "interval_begrundelse": "Stabil udvikling; kommunens standardinterval."},
                    "konkluder (continue)")
                finished = time.perf_counter()
            # not timed: the case now waits, running, for its next follow-up
            with transaction(db.session) as session:
                left = list(session.scalars(select(Task.bpmn_id).where(
                    Task.case_id == case_id, Task.state == "ready")))
                statuses = list(session.scalars(select(Instance.status).where(
                    Instance.case_id == case_id)))
                keys = set(session.scalars(select(CaseDeadline.key).where(
                    CaseDeadline.case_id == case_id, CaseDeadline.met_at.is_(None))))
            assert (left, statuses, keys) == ([], [RUNNING], {"naeste_opfoelgning"}), \
                (left, statuses, keys)
            walks.append(finished - started)
            db.session.remove()
    print_walk(f"sel85 walk on SQLite, {args.n} cases ({folder})", timings, walks, 26)

if __name__ == "__main__":
    main()
