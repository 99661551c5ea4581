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


_PARENTS = [{"navn": "Camilla Dahl", "adresse": "Byvej 12, 4000 Roskilde", "relation": "mor"},
            {"navn": "Peter Dahl", "adresse": "Hedevej 3, 4000 Roskilde", "relation": "far"}]
# The usual path of a § 20 investigation, step by step, as a caseworker would fill it in.
SEL50_STEPS = [
    ("vurder_underretning", {
        "kilde": "fagperson", "fagperson_rolle": "Klasselærer", "underretter_navn": "Mette Holm",
        "indhold": "Barnet kommer ofte sulten og træt i skole.", "vold_eller_overgreb": False,
        "akut_fare": False, "foraeldremyndighed": _PARENTS}),
    ("screening", {"betingelser": ["saerlig_stoette"], "beslutning": "undersoegelse"}),
    ("samtykke", {"samtykke_formaal": "At afdække barnets trivsel i skole og hjem.",
                  "samtykker": [{"part": p["navn"], "rolle": "foraeldremyndighed",
                                 "givet": True, "dato": "2026-06-02", "form": "skriftlig",
                                 "omfang": ["skole", "sundhedspleje", "egen_laege"]}
                                for p in _PARENTS]}),
    ("boernesamtale", {"afholdt": True, "samtale_dato": "2026-06-05", "bisidder_oplyst": True,
                       "barnets_perspektiv": "Jeg vil gerne have mere ro derhjemme."}),
    ("plan_indhentning", {"formaal": "At afdække barnets behov for støtte.", "anmodninger": [
        {"behov": ["status_dagtilbud_skole", "fravaer_skole"], "modtager_type": "skole",
         "modtager": "Roskilde Skole", "spoergsmaal": "Hvordan trives barnet i skolen?",
         "svarfrist_dage": 14, "grundlag": "samtykke"},
        {"behov": ["helbred"], "modtager_type": "egen_laege", "modtager": "Lægehuset Algade",
         "spoergsmaal": "Er der helbredsforhold, vi skal kende?", "svarfrist_dage": 14,
         "grundlag": "samtykke"}]}),
    ("registrer_svar", {"svar_dato": "2026-06-20", "svar": "Barnet trives fagligt, men er træt."}),
    ("undersoegelse", {"udvikling": "Alderssvarende, men træt og uoplagt.",
                       "foraeldrekompetence": "Forældrene er omsorgsfulde, men overbelastede.",
                       "familie_netvaerk": "Lille netværk; mormor hjælper.",
                       "konklusion": "Familien har brug for støtte i hverdagen."}),
    ("partshoering", {"undtagelse": False, "hoering_emne": "Familiebehandling 3 timer om ugen.",
                      "hoering_oplysninger": "Skolens udtalelse og samtalen med barnet.",
                      "svarfrist_dage": 14}),
    ("bemaerkninger", {"bemaerkninger": []}),
    ("afgoerelse", {"udfald": "stoettende", "ydelse": "familiebehandling",
                    "omfang": "3 timer om ugen", "periode": "6 måneder",
                    "leverandoer": "Familiehuset Roskilde", "maal": "Faste rutiner om morgenen.",
                    "hjemmel": "Barnets lov § 32, stk. 1, nr. 3",
                    "begrundelse": "Undersøgelsen viser et behov for støtte i hjemmet."}),
    ("barnets_plan", {"maal": "Faste rutiner om morgenen.", "indsats": "Familiebehandling.",
                      "barnets_perspektiv": "Mere ro derhjemme.",
                      "aftaler": "Opfølgning efter 3 måneder."}),
]
# (cpr, name, received days ago, how many of SEL50_STEPS are done)
SEL50_CASES = [
    ("1404164321", "Alma Dahl", 2, 1),        # at screening
    ("0909154321", "Viggo Dahl", 6, 2),       # consent to obtain
    ("2112144321", "Freja Dahl", 10, 3),      # the talk with the child
    ("0502134321", "Malthe Dahl", 20, 5),     # waiting for answers from school and doctor
    ("1703124321", "Ella Dahl", 130, 6),      # analysis, 4 months passed: provisional assessment
    ("3001134321", "Lucas Dahl", 60, 7),      # hearing
    ("1810134321", "Clara Dahl", 70, 9),      # decision
    ("0706144321", "Oscar Dahl", 80, 10),     # the child's plan
    ("2409124321", "Agnes Dahl", 100, 11),    # the order to the provider
]


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
    # Child welfare (Barnets lov § 20): a fresh notification, one not assessed in 24 hours (the
    # leader has the escalation), and investigations at every later step, some overdue.
    for cpr, name, hours in (("0305154321", "Liva Holm", 3), ("1207144321", "Noah Krogh", 30)):
        casework.open_case(session, users["sagsbehandler"], "sel50",
                           {"cpr": cpr, "name": name, "address": "Skolevej 4, 4000 Roskilde"},
                           now() - timedelta(hours=hours))
    for cpr, name, days, until in SEL50_CASES:
        worker = users["sagsbehandler"]
        case = casework.open_case(session, worker, "sel50", {
            "cpr": cpr, "name": name, "address": "Byvej 12, 4000 Roskilde"},
            now() - timedelta(days=days))
        for bpmn_id, data in SEL50_STEPS[:until]:
            for task in session.scalars(select(Task).where(
                    Task.case_id == case.id, Task.bpmn_id == bpmn_id, Task.state == "ready")):
                casework.complete_task(session, worker, task.id, data)
    session.flush()
    return True
