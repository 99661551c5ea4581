"""Demo data: teams, the users the README lists (all with password "demo") and a handful of
cases at different steps. Loaded only in demo mode.

Cases are back-dated by their received date, and every step is then taken today. The first
follow-up counts from the day the intervention began, which the order gives: the cases in
follow-up began weeks or months ago. The demo then does what the scheduler would have done by
now: due timers fire, and the deadline watcher reminds, breaches, drafts letters and
escalates."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from .accounts import create_team, create_user
from .clock import local_date, now
from .deadlines import watch
from .models import ADMIN, CASEWORKER, DESIGNER, LEADER, Case, Task, User
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
# A child in the follow-up module: the intervention began 80 days ago and the first follow-up
# (3 months) is due soon: the provider is asked for status. Received within 4 months (else the
# investigation's deadline would have passed: a provisional assessment too).
SEL50_FOLLOW_UP = ("1108134321", "Johan Dahl", 115, 80)  # cpr, name, received, began days ago


def _sel50_order(began: date) -> tuple[str, dict]:
    return ("bestilling", {"leverandoer_adresse": "Stationsvej 2, 4000 Roskilde",
                           "indsats_start": began.isoformat(),
                           "opgave": "Familiebehandling 3 timer om ugen i hjemmet."})


# Social-pedagogical support for adults (SEL § 85). The step each case is left at (its open
# task), or "afslag": refused at the decision, and the case closed by the process.
# (cpr, name, address, received days ago, step)
SEL85_CASES = (
    ("0304781234", "Bente Andersen", "Østergade 4, 4000 Roskilde", 1, "registrer_henvendelse"),
    ("1209654321", "Henrik Poulsen", "Ringstedvej 20, 4000 Roskilde", 4, "samtykke"),
    ("2511901234", "Lone Kristensen", "Hyrdehøj 8, 4000 Roskilde", 8, "plan_indhentning"),
    # waiting for the GP's answer to the request for information
    ("0702854321", "Mikkel Thomsen", "Ved Ringen 3, 4000 Roskilde", 15, "registrer_svar"),
    # the VUM assessment half done, saved as a draft
    ("1906924321", "Sofie Rasmussen", "Sankt Ols Gade 6, 4000 Roskilde", 24, "udredning"),
    ("3008704321", "Jesper Møller", "Køgevej 41, 4000 Roskilde", 30, "indstilling"),
    ("1412884321", "Hanne Olsen", "Læderstræde 2, 4000 Roskilde", 36, "visitation"),
    ("0905694321", "Kasper Christiansen", "Boserupvej 9, 4000 Roskilde", 40, "partshoering"),
    # the hearing letter is out; the citizen has 14 days to answer
    ("2203754321", "Mette Larsen", "Fælledvej 15, 4000 Roskilde", 44, "bemaerkninger"),
    ("1710834321", "Anders Petersen", "Holbækvej 70, 4000 Roskilde", 48, "afgoerelse"),
    ("0601794321", "Camilla Sørensen", "Skomagergade 11, 4000 Roskilde", 50, "handleplan"),
    ("2807914321", "Thomas Jørgensen", "Jernbanegade 5, 4000 Roskilde", 53, "bestilling"),
    ("0408724321", "Louise Frederiksen", "Byparken 1, 4000 Roskilde", 40, "afslag"),
    # received 9 weeks ago and no decision yet: the municipality's 8 weeks are passed (the
    # watcher drafts the letter about when the decision can be expected, and escalates)
    ("1103674321", "Rasmus Berg", "Maglegårdsvej 12, 4000 Roskilde", 64, "indstilling"),
)
# § 85 cases past the order, in the follow-up module (cpr, name, address, days since the
# intervention began, follow-ups held, the provider's status report a week ago or None). The
# first follow-up is 3 months after the start.
SEL85_FOLLOW_UPS = (
    # the provider is asked for status (one report came already); due within days
    ("2102804321", "Poul Madsen", "Frederiksborgvej 3, 4000 Roskilde", 80, 0,
     "Poul handler nu selv ind to gange om ugen; posten ligger stadig uåbnet."),
    # not held in time: overdue, escalated to the leader
    ("1510764321", "Jytte Holm", "Gartnervej 7, 4000 Roskilde", 110, 0, None),
    # long overdue: the provider reported, nobody followed up
    ("0304714321", "Birgit Lund", "Ringstedvej 40, 4000 Roskilde", 140, 0,
     "Birgit deltager fast i fællesspisning; hun ønsker at tale om mere støtte."),
    # held, the support continues: the next follow-up in 12 months
    ("0911684321", "Niels Bach", "Kornerupvej 22, 4000 Roskilde", 80, 1, None),
)
# The themes of the VUM assessment (FFB tilstande), as the form sel85_udredning names them.
SEL85_THEMES = ("mentale_funktioner", "sundhedsforhold", "fysiske_funktioner",
                "sociale_forhold", "relationer", "kommunikation", "mobilitet", "egenomsorg",
                "samfundsliv", "praktiske_opgaver", "omgivelser")


def _ffb(casework: Casework, parent: str, display: str) -> str:
    """The FFB code of `display` among the codes below `parent` (forms/codes/ffb.json)."""
    [code] = [c for c, name in casework.forms.codes.codes(parent) if name == display]
    return code


def _sel85_path(casework: Casework, name: str, received: date, began: date,
                refused: bool = False) -> list[tuple[str, dict]]:
    """The usual path of a § 85 case from the enquiry to the order, as a caseworker would fill
    it in: one request for information (the GP), a VUM assessment with FFB codes, a grant of 4
    hours a week (or a refusal). `began`: the day the intervention begins."""
    today = local_date(now())

    def day(after: int) -> str:  # a date of the case's past: `after` days after receipt
        return min(received + timedelta(days=after), today).isoformat()

    def ffb(parent: str, display: str) -> str:
        return _ffb(casework, parent, display)

    support = ffb("Socialpædagogisk støtte", "Støtte til daglige opgaver i hjemmet")
    moderate, not_assessed = (ffb("Funktionsevneniveau", "Moderat nedsat funktionsevne"),
                              ffb("Funktionsevneniveau", "Ikke vurderet"))
    need, no_need = (ffb("Støttebehovsniveau", "Moderat støttebehov"),
                     ffb("Støttebehovsniveau", "Ikke vurderet"))
    conditions = {theme: {"funktionsevneniveau": moderate, "stoettebehov": need,
                          "beskrivelse": "Har svært ved at komme i gang."}
                  if theme in ("praktiske_opgaver", "egenomsorg") else
                  {"funktionsevneniveau": not_assessed, "stoettebehov": no_need,
                   "beskrivelse": ""} for theme in SEL85_THEMES}
    develop = ffb("Måltype", "Udvikle funktionsevne")
    goals = [{"maal": "Handler selv ind og laver mad tre dage om ugen.", "maaltype": develop},
             {"maal": "Åbner og betaler sin post.", "maaltype": develop}]
    period = {"periode_fra": began.isoformat(),
              "periode_til": (began + timedelta(days=365)).isoformat()}
    outcome = "afslag" if refused else "bevilling"
    recommendation = {
        "faglig_vurdering": "Moderat nedsat funktionsevne i praktiske opgaver og egenomsorg.",
        "indstilling": outcome, "begrundelse": "Støtten kan gøre borgeren selvhjulpen."}
    decision = {"udfald": "bevilling", "ydelse": support, "omfang": "4 timer om ugen",
                "timer_pr_uge": 4, **period, "leverandoer": "Bostøtten Roskilde",
                "leverandoer_adresse": "Ny Østergade 9, 4000 Roskilde",
                "indsatsmaal": goals, "hjemmel": "Serviceloven § 85",
                "begrundelse": "Du har brug for støtte til at klare praktiske opgaver."}
    hearing = "Vi overvejer at bevilge dig støtte til daglige opgaver i hjemmet efter " \
              "servicelovens § 85, i et omfang på 4 timer om ugen."
    if refused:
        recommendation["begrundelse"] = "Behovet kan dækkes af tilbud i almenområdet."
        decision = {"udfald": "afslag", "ydelse": support, "hjemmel": "Serviceloven § 85",
                    "begrundelse": "Din funktionsevne er ikke nedsat i et omfang, der giver ret "
                                   "til støtte. Du kan bruge væresteder og frivillige tilbud."}
        hearing = "Vi overvejer at give afslag på din ansøgning om socialpædagogisk støtte " \
                  "efter servicelovens § 85."
    else:
        recommendation |= {"ydelse": support, "omfang": "4 timer om ugen", "timer_pr_uge": 4}
    meeting = {"moede_dato": day(35), "udfald": outcome,
               "deltagere": ["Lars Leder, teamleder", "Sara Sagsbehandler, rådgiver"]}
    if not refused:
        meeting |= {"ydelse": support, "omfang": "4 timer om ugen", "timer_pr_uge": 4}
    return [
        ("registrer_henvendelse", {
            "kilde": "borger", "ansoegt_om": "Hjælp til at klare hverdagen i egen bolig.",
            "borgerens_situation": "Bor alene efter udskrivning fra psykiatrien."}),
        ("samtykke", {"samtykke_formaal": "At udrede behovet for støtte.", "samtykker": [
            {"part": name, "rolle": "borger", "givet": True, "dato": day(3),
             "form": "skriftlig", "omfang": ["egen_laege", "psykiatri"]}]}),
        ("plan_indhentning", {"formaal": "Udredning af funktionsevne og støttebehov.",
                              "anmodninger": [{
                                  "behov": ["helbred"], "modtager_type": "egen_laege",
                                  "modtager": "Lægehuset Algade",
                                  "spoergsmaal": "Hvordan er borgerens helbred?",
                                  "svarfrist_dage": 14, "grundlag": "samtykke"}]}),
        ("registrer_svar", {"svar_dato": day(12), "svar": "Stabil, i behandling."}),
        ("udredning", {
            "tilstande": conditions,
            "maalgruppe_primaer": ffb("Funktionsnedsættelse", "Depression"),
            "maalgrupper_sekundaere": [ffb("Socialt problem", "Social isolation")],
            "borgerens_oensker": "Jeg vil gerne kunne klare mig selv i min lejlighed.",
            "indsatsmaal": goals, "samlet_stoettebehov": need}),
        ("indstilling", recommendation),
        ("visitation", meeting),
        ("partshoering", {"undtagelse": False, "hoering_emne": hearing, "svarfrist_dage": 14,
                          "hoering_oplysninger": "Udredningen og lægens udtalelse."}),
        ("bemaerkninger", {"bemaerkninger": [] if refused else [
            {"part": name, "modtaget": day(45), "indhold": "Jeg er enig."}]}),
        ("afgoerelse", decision),
        ("handleplan", {"tilbudt_dato": day(50), "svar": "accepteret",
                        "formaal": "At kunne klare sig selv i egen bolig.",
                        "forventet_varighed": "1 år"}),
        ("bestilling", {"leverandoer": "Bostøtten Roskilde",
                        "leverandoer_adresse": "Køgevej 5, 4000 Roskilde",
                        "opstart": began.isoformat(),
                        "opgave": "Socialpædagogisk støtte 4 timer om ugen i hjemmet."}),
    ]



def _follow_up(casework: Casework, goals: list[dict]) -> list[tuple[str, dict]]:
    """The four steps of a follow-up held today: the support continues, next time in a year."""
    today = local_date(now()).isoformat()
    return [
        ("registrer_status", {"status_modtaget": True, "status_dato": today,
                              "status_tekst": "Borgeren møder stabilt op og tager selv "
                                              "initiativ."}),
        ("vurder_maal", {"maal_vurdering": [
            {"maal": g["maal"], "maaltype": g["maaltype"], "vurdering": "delvist",
             "kommentar": "Godt på vej."} for g in goals]}),
        ("borgerens_syn", {"samtale_dato": today,
                           "borgerens_syn": "Jeg har det bedre, men har brug for mere."}),
        ("konkluder", {"status": _ffb(casework, "Status på indsats",
                                      "Træf afgørelse om fortsættelse af indsats"),
                       "juster_indsats": False, "konklusion": "Indsatsen virker.",
                       "naeste_opfoelgning_maaneder": 12,
                       "interval_begrundelse": "Stabil udvikling; kommunens standardinterval."}),
    ]


def _take_steps(session: Session, casework: Casework, worker: User, case: Case,
                steps: list[tuple[str, dict]]) -> None:
    """Complete each step's open tasks (several of one kind, e.g. answers, alike)."""
    for bpmn_id, data in steps:
        tasks = list(session.scalars(select(Task).where(
            Task.case_id == case.id, Task.bpmn_id == bpmn_id, Task.state == "ready")))
        if not tasks:
            raise RuntimeError(f"demo case {case.number}: no open task {bpmn_id}")
        for task in tasks:
            casework.complete_task(session, worker, task.id, data)


def _open_task(session: Session, case: Case, bpmn_id: str) -> Task:
    return session.scalar(select(Task).where(Task.case_id == case.id, Task.bpmn_id == bpmn_id,
                                             Task.state == "ready"))


def _catch_up(session: Session, casework: Casework) -> None:
    """What the scheduler's tick would have done by now (api.scheduler.tick), in this
    transaction: fire the due timers, then remind of and breach the deadlines whose moment has
    come (letters drafted, leaders told)."""
    queues = [casework.fire_next_due]
    if casework.deadlines is not None:
        queues.append(lambda s, skip, claimed: watch.watch_next(
            s, casework.deadlines, skip, claimed, casework.letters))
    for work_next in queues:
        done: list[int] = []  # what was claimed: each item is taken once
        while work_next(session, set(done), done):
            pass


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
    worker = users["sagsbehandler"]
    for cpr, name, days, until in SEL50_CASES:
        case = casework.open_case(session, worker, "sel50", {
            "cpr": cpr, "name": name, "address": "Byvej 12, 4000 Roskilde"},
            now() - timedelta(days=days))
        _take_steps(session, casework, worker, case, SEL50_STEPS[:until])
    today = local_date(now())
    cpr, name, days, began = SEL50_FOLLOW_UP
    case = casework.open_case(session, worker, "sel50", {
        "cpr": cpr, "name": name, "address": "Byvej 12, 4000 Roskilde"},
        now() - timedelta(days=days))
    _take_steps(session, casework, worker, case,
                [*SEL50_STEPS, _sel50_order(today - timedelta(days=began))])
    _catch_up(session, casework)  # the follow-up's timer, due by now

    # Social-pedagogical support for adults (SEL § 85) at every step.
    for cpr, name, address, days, step in SEL85_CASES:
        received = now() - timedelta(days=days)
        case = casework.open_case(session, worker, "sel85",
                                  {"cpr": cpr, "name": name, "address": address}, received)
        path = _sel85_path(casework, name, local_date(received), today + timedelta(days=14),
                           refused=step == "afslag")
        steps = [bpmn_id for bpmn_id, _data in path]
        stop = steps.index("afgoerelse") + 1 if step == "afslag" else steps.index(step)
        _take_steps(session, casework, worker, case, path[:stop])
        if step == "udredning":
            # Half the assessment is written: the citizen's wishes, the goals and two themes.
            assessment = dict(path)["udredning"]
            casework.save_draft(session, worker, _open_task(session, case, "udredning").id, {
                "borgerens_oensker": assessment["borgerens_oensker"],
                "indsatsmaal": assessment["indsatsmaal"],
                "tilstande": {k: v for k, v in assessment["tilstande"].items()
                              if k in ("praktiske_opgaver", "egenomsorg")}})
    for cpr, name, address, began, held, report in SEL85_FOLLOW_UPS:
        received = now() - timedelta(days=began + 60)
        case = casework.open_case(session, worker, "sel85",
                                  {"cpr": cpr, "name": name, "address": address}, received)
        path = _sel85_path(casework, name, local_date(received), today - timedelta(days=began))
        _take_steps(session, casework, worker, case, path)
        if report:
            casework.send_message(session, worker, case.id, "status_fra_udfoerer", {
                "afsender": "Bostøtten Roskilde", "status": report},
                now() - timedelta(days=7))
        _catch_up(session, casework)  # the follow-up's timer, due by now
        for _ in range(held):
            _take_steps(session, casework, worker, case,
                        _follow_up(casework, dict(path)["udredning"]["indsatsmaal"]))
    _catch_up(session, casework)
    session.flush()
    return True
