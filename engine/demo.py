"""Demo data: teams, the users the README lists (all with password "demo") and a handful of
cases at different steps. Loaded only in demo mode."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from .accounts import create_team, create_user
from .clock import now
from .models import ADMIN, CASEWORKER, DESIGNER, LEADER, Task, User
from .services import Casework

DEMO_PASSWORD = "demo"
DEMO_USERS = (
    ("sagsbehandler", "Sara Sagsbehandler", CASEWORKER),
    ("leder", "Lars Leder", LEADER),
    ("sagsbehandler2", "Søren Sagsbehandler", CASEWORKER),
    ("designer", "Dorthe Designer", DESIGNER),
    ("admin", "Anne Administrator", ADMIN),
)

# (cpr, name, address, days since received, steps to take: (bpmn id, data))
DEMO_CASES = (
    ("0102031234", "Emil Hansen", "Algade 1, 4000 Roskilde", 1, []),
    ("1506884321", "Fatima Ali", "Bygaden 7, 4000 Roskilde", 3, [
        ("vurder_henvendelse", {"henvendelse": "Ønsker hjælp til struktur i hverdagen.",
                                "ydelse": "socialpædagogisk støtte efter servicelovens § 85",
                                "udfald": "afvis", "begrundelse": "Behovet dækkes af tilbud i "
                                "almenområdet."}),
    ]),
    ("2302951122", "Jonas Nielsen", "Havnevej 3, 4000 Roskilde", 6, [
        ("vurder_henvendelse", {"henvendelse": "Skolen er bekymret for fravær.",
                                "udfald": "oplys"}),
        ("anmod_oplysninger", {"modtager": "Roskilde Skole", "spoergsmaal": "Beskriv fraværet.",
                               "svarfrist_dage": 14}),
    ]),
    ("0811907788", "Maja Jensen", "Skovvej 12, 4000 Roskilde", 20, [
        ("vurder_henvendelse", {"henvendelse": "Ansøger om bostøtte.", "udfald": "oplys"}),
        ("anmod_oplysninger", {"modtager": "Egen læge", "spoergsmaal": "Helbredsoplysninger.",
                               "svarfrist_dage": 10}),
        ("registrer_svar", {"svar_dato": "2026-11-20", "svar": "Lægen bekræfter behovet."}),
        ("traef_afgoerelse", {"afgoerelse": "bevilling",
                              "begrundelse": "Behovet er dokumenteret af egen læge."}),
    ]),
    # For the leaders' queue: the 8-week decision deadline is passed for one, due soon for
    # the other.
    ("2904851357", "Ida Larsen", "Møllevej 5, 4000 Roskilde", 62, [
        ("vurder_henvendelse", {"henvendelse": "Ansøger om hjælp efter indlæggelse.",
                                "udfald": "oplys"}),
    ]),
    ("0307921598", "Karl Mortensen", "Kirkestræde 9, 4000 Roskilde", 48, []),
)


def load_demo(session: Session, casework: Casework) -> bool:
    """Load the demo data once. Returns False when it is already there."""
    if session.scalar(select(User.id).where(User.username == "admin")):
        return False
    north = create_team(session, "boern_unge_nord", "Børn og Unge Nord")
    west = create_team(session, "voksen_vest", "Voksenområdet Vest")
    users = {}
    for username, full_name, role in DEMO_USERS:
        teams = {"sagsbehandler": [north], "leder": [north], "sagsbehandler2": [west]}
        users[username] = create_user(
            session, username, DEMO_PASSWORD, role, full_name, teams=teams.get(username, []),
            leads=[north] if username == "leder" else [], email=f"{username}@kommune.example",
        )
    casework.registry.deploy(session, "demo")
    for i, (cpr, name, address, days, steps) in enumerate(DEMO_CASES):
        worker = users["sagsbehandler2"] if i == 2 else users["sagsbehandler"]
        case = casework.open_case(
            session, worker, "henvendelse", {"cpr": cpr, "name": name, "address": address},
            now() - timedelta(days=days),
        )
        for bpmn_id, data in steps:
            task = session.scalar(select(Task).where(Task.case_id == case.id,
                                                     Task.bpmn_id == bpmn_id,
                                                     Task.state == "ready"))
            casework.complete_task(session, worker, task.id, data)
        if i == 1 and casework.letters is not None:
            # The refusal letter, drafted from what was entered, waiting to be issued.
            casework.letters.create_draft(session, worker, case.id, "afgoerelse_afslag")
    casework.open_case(
        session, users["sagsbehandler"], "henvendelse",
        {"cpr": "1010101234", "name": "Oliver Berg", "address": "Vænget 2, 4000 Roskilde"},
        now() - timedelta(days=2), status="expected",
    )
    # Child welfare (Barnets lov § 20): a fresh notification, and one not assessed in 24 hours
    # (the leader has the escalation).
    for cpr, name, hours in (("0305151234", "Liva Holm", 3), ("1207141234", "Noah Krogh", 30)):
        casework.open_case(session, users["sagsbehandler"], "sel50",
                           {"cpr": cpr, "name": name, "address": "Skolevej 4, 4000 Roskilde"},
                           now() - timedelta(hours=hours))
    session.flush()
    return True
