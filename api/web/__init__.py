"""The web application: server-rendered pages in Danish for caseworkers and leaders, calling
the same use cases as the REST API (engine.services). Sessions with Flask-Login, CSRF on every
form (Flask-WTF), Danish text through Flask-Babel.

Who may see and do what is decided in engine/permissions.py, as for the API; the pages only
render the answer. A use case's error becomes a page in Danish (or the form again with the field
messages), never a stack trace: the engine's messages are English (the REST API shows them), so
a page says in its own words what kind of error it was (_error_message) and shows the field
messages through form_render.danish_message (_danish_fields)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from urllib.parse import urlencode, urlsplit

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    session,
    url_for,
)
from flask_babel import Babel, get_locale, ngettext
from flask_babel import gettext as _
from flask_login import LoginManager, current_user, login_required, login_user, logout_user
from flask_wtf.csrf import CSRFError, CSRFProtect
from jinja2 import select_autoescape
from sqlalchemy import select
from werkzeug.exceptions import HTTPException

from engine import audit, oversight
from engine.accounts import authenticate
from engine.bpmn.registry import latest_versions, process_files
from engine.clock import LOCAL_TZ
from engine.cpr import mask_cpr
from engine.db import transaction
from engine.errors import (
    Conflict,
    Forbidden,
    Locked,
    NotFound,
    ProcessDefinitionError,
    SagsflowError,
    Unauthorized,
    ValidationFailed,
)
from engine.letters.render import clock, danish_date
from engine.models import (
    ADMIN,
    CASEWORKER,
    DESIGNER,
    LEADER,
    Case,
    Citizen,
    SavedFilter,
    Team,
    User,
)
from engine.permissions import require_role

from ..auth import casework
from ..errors import _page as error_page
from ..extensions import db
from ..oversight import deadline_rows_csv
from ..translations import N_
from . import form_render

bp = Blueprint("web", __name__, template_folder="../templates/web")
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()

LANGUAGES = ("da", "en")
TABS = {"mine": N_("Mine opgaver"), "team": N_("Mit teams"),
        "unassigned": N_("Ikke tildelt")}


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "web.login"
    login_manager.login_message = None
    login_manager.session_protection = "strong"
    csrf.init_app(app)
    from ..translations import directory as translations  # compiles a missing or stale .mo

    babel.init_app(app, locale_selector=_locale, default_locale="da",
                   default_translation_directories=translations())
    app.register_blueprint(bp)
    # Flask escapes only templates named .html; the pages are .html.j2.
    app.jinja_env.autoescape = select_autoescape(("html", "htm", "xml", "j2"))
    app.jinja_env.filters["masked_cpr"] = mask_cpr
    app.jinja_env.filters["dato"] = danish_date
    app.jinja_env.filters["klokken"] = clock

    @app.after_request
    def _no_framing(response):
        """No other site may show the pages in a frame (clickjacking)."""
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Content-Security-Policy", "frame-ancestors 'none'")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    @app.before_request
    def _csrf_for_pages():
        if not request.path.startswith("/api/") and request.method not in (
                "GET", "HEAD", "OPTIONS"):
            csrf.protect()


def _locale() -> str:
    wanted = request.args.get("sprog")
    if wanted in LANGUAGES:
        session["sprog"] = wanted
    return session.get("sprog", "da")


@login_manager.user_loader
def _load_user(user_id: str) -> User | None:
    """The session's user, unless the account is inactive or its sessions were ended (log-out
    ends them everywhere: a copied cookie is worth nothing after it)."""
    user = db.session.get(User, int(user_id)) if user_id.isdecimal() and \
        len(user_id) < 10 else None
    if user is None or not user.active:
        return None
    begun = session.get("begun")
    if user.sessions_valid_from is not None and (
            not begun or datetime.fromisoformat(begun) < user.sessions_valid_from):
        return None
    return user


def _number(value: str | None, default: int | None = None, limit: int = 2**31 - 1):
    """A whole number from a query or form value (ASCII digits only), or `default`."""
    value = (value or "").strip()
    if value.isascii() and value.isdigit() and len(value) <= 10 and 0 < int(value) <= limit:
        return int(value)
    return default


def _day(text: str):
    """A date typed as åååå-mm-dd, within years a case can have (1900-2999), else ValueError."""
    day = datetime.fromisoformat(text).date()
    if not 1900 <= day.year <= 2999:
        raise ValueError(f"{text!r} is out of range")
    return day


def _safe_next(target: str | None) -> str:
    """Only a path on this site (no scheme or host): no open redirect after log-in."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/") \
                and not target.startswith("//"):
            return target
    return url_for("web.home")


@bp.app_context_processor
def _layout_values():
    user = current_user if current_user.is_authenticated else None
    return {"user": user, "is_leader": bool(user and user.role == LEADER),
            "is_admin": bool(user and user.role == ADMIN),
            "is_designer": bool(user and user.role in (DESIGNER, ADMIN)),
            "does_casework": bool(user and user.role in (CASEWORKER, LEADER, ADMIN)),
            "lang": str(get_locale() or "da")}


# -- error pages -------------------------------------------------------------------------------
# The pages' own handlers (a blueprint's come before the application's, api/errors.py): the
# same error page (api/errors._page, its heading translated in the template), with a message
# in the page's language instead of the engine's or Werkzeug's English.

def _error_message(exc: SagsflowError) -> str:
    """What a page says for a kind of use-case error (never the engine's own text, which may
    name things the user may not see)."""
    if isinstance(exc, NotFound):
        return _("Det, du leder efter, findes ikke (længere).")
    if isinstance(exc, Forbidden):
        return _("Du har ikke adgang til det, du forsøgte at se eller gøre.")
    if isinstance(exc, Conflict):
        return _("Det kunne ikke lade sig gøre, fordi sagen eller opgaven er ændret imens. "
                 "Genindlæs siden, og prøv igen.")
    if isinstance(exc, ValidationFailed):
        return _("Oplysningerne kan ikke bruges.")
    if isinstance(exc, ProcessDefinitionError):
        return _("Processen eller formularen kan ikke bruges. Kontakt en administrator.")
    if isinstance(exc, Locked):
        return _("For mange forsøg. Prøv igen senere.")
    if isinstance(exc, Unauthorized):
        return _("Log ind for at fortsætte.")
    return _("Handlingen kunne ikke gennemføres.")


def _danish_fields(fields: dict[str, list[str]]) -> dict[str, list[str]]:
    """The engine's field messages (ValidationFailed.fields) as the pages show them."""
    return {name: [form_render.danish_message(m) for m in messages]
            for name, messages in fields.items()}


def _field_details(fields: dict[str, list[str]]) -> str:
    return "; ".join(f"{name}: {' '.join(messages)}"
                     for name, messages in _danish_fields(fields).items())


@bp.errorhandler(SagsflowError)
def _use_case_error(exc: SagsflowError):
    message = _error_message(exc)
    if isinstance(exc, ValidationFailed) and exc.fields:
        message += " " + _field_details(exc.fields)
    return error_page(exc.status, message)


# Werkzeug's descriptions are English; the pages say it by status.
def _http_message(code: int | None) -> str:
    if code == 404:
        return _("Siden findes ikke, eller den er flyttet.")
    if code == 403:
        return _("Du har ikke adgang til det, du forsøgte at se eller gøre.")
    if code == 413:
        return _("Det, der blev sendt, er for stort.")
    return _("Siden kunne ikke vises. Prøv igen, eller kontakt support.")


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    if isinstance(exc, CSRFError):
        return error_page(400, _("Formularen mangler sin sikkerhedsnøgle eller er udløbet: "
                                 "genindlæs siden, og prøv igen."))
    return error_page(exc.code or 500, _http_message(exc.code))


# -- log-in ------------------------------------------------------------------------------------

@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "GET":
        return render_template("login.html.j2", next=request.args.get("next", ""))
    username = (request.form.get("username") or "").strip()
    password = request.form.get("password") or ""
    error, status = None, 200
    if not username or not password:
        error, status = _("Skriv brugernavn og adgangskode."), 422
    else:
        try:
            user = authenticate(db.session, username, password)
        except Locked:
            error, status = _("Kontoen er spærret i et kvarter efter for mange forkerte "
                              "forsøg. Prøv igen senere."), 429
        except Unauthorized:
            error, status = _("Forkert brugernavn eller adgangskode."), 401
    if error:
        return render_template("login.html.j2", error=error, username=username,
                               next=request.form.get("next", "")), status
    language = session.get("sprog")
    session.clear()  # a new session on log-in (no fixation); the language chosen stays
    if language:
        session["sprog"] = language
    login_user(user)
    session["begun"] = _now().isoformat()
    session.permanent = True
    return redirect(_safe_next(request.form.get("next")))


@bp.post("/logout")
def logout():
    """Log out: this session, and every other session of the user (a cookie copied from it
    included), ends."""
    if current_user.is_authenticated:
        with transaction(db.session) as session_:
            user = session_.get(User, current_user.id)
            user.sessions_valid_from = _now()
    logout_user()
    session.clear()
    return redirect(url_for("web.login"))


# -- the inbox ---------------------------------------------------------------------------------

@bp.get("/")
@login_required
def home():
    """The start page of one's work: the designer's files for a process designer, else the
    inbox."""
    if current_user.role == DESIGNER:
        return redirect(url_for("designer.files"))
    return redirect(url_for("web.inbox"))


@bp.get("/indbakke")
@login_required
def inbox():
    tab = request.args.get("fane", "mine")
    if tab not in TABS:
        abort(404)
    if _cpr_digits(request.args.get("borger")):
        # An address from before CPR numbers left them (a bookmark, a saved filter, a link):
        # the same filters, the citizen by id.
        language = [("sprog", request.args["sprog"])] if request.args.get("sprog") else []
        return redirect(_inbox_url(_filter_query(request.args) + language))
    filters, errors = _inbox_filters(request.args)
    page = _number(request.args.get("side"), 1, 10000)
    service = casework()
    shown_citizen = None
    with transaction(db.session) as session_:
        citizen, citizen_id = filters.pop("citizen"), filters.pop("citizen_id")
        if citizen:  # the citizen's cases, looked up once for the counts and the list
            filters["case_ids"] = service.resolve_citizen(session_, current_user, citizen)
        elif citizen_id is not None:
            # By id: the cases the user may see of the citizen (resolve_citizen decides, as for
            # a CPR number typed); the citizen is named on the page only if there are any.
            person = session_.get(Citizen, citizen_id) if citizen_id else None
            filters["case_ids"] = service.resolve_citizen(
                session_, current_user, person.cpr) if person else []
            if filters["case_ids"]:
                shown_citizen = {"name": person.name, "cpr": person.cpr}
        counts = service.count_tabs(session_, current_user, tuple(TABS), **filters)
        listed = service.list_tasks(session_, current_user, tab, page=page, per_page=50,
                                    **filters)
        saved = list(session_.scalars(select(SavedFilter).where(
            SavedFilter.user_id == current_user.id).order_by(SavedFilter.name)))
    # the filter's choices come from the parsed processes, not from the database
    processes = sorted(pid for pid, d in service.registry.current.items() if d.startable)
    task_types = sorted({(t.bpmn_id, t.bpmn_name or t.bpmn_id)
                         for d in service.registry.current.values() for t in d.user_tasks},
                        key=lambda t: t[1])
    query = {k: request.args[k] for k in FILTER_KEYS if request.args.get(k)}
    without_citizen = {k: v for k, v in query.items() if k != "borger_id"}
    return render_template("inbox.html.j2", tab=tab, tabs=TABS, counts=counts, listed=listed,
                           processes=processes, task_types=task_types, saved=saved,
                           args=request.args, query=query, errors=errors, now=_now(),
                           citizen_id=citizen_id, shown_citizen=shown_citizen,
                           without_citizen=without_citizen), \
        422 if errors else 200


@bp.post("/indbakke")
@login_required
def filter_inbox():
    """The inbox's filter form. It is sent by POST (with its CSRF token) so that a CPR number
    typed in it goes into no address (history, logs, Referer); the answer is the inbox's
    address for the same filters, the citizen by id (_filter_query)."""
    return redirect(_inbox_url(_filter_query(request.form)))


def _inbox_filters(args) -> tuple[dict, dict]:
    """The inbox's filters from the page's query: process, task type, citizen (by name, or
    by id: borger_id), due before."""
    errors: dict[str, list[str]] = {}
    due_before = None
    if args.get("frist_foer"):
        try:
            due_before = datetime.combine(_day(args["frist_foer"]), datetime.min.time(),
                                          tzinfo=LOCAL_TZ)
        except (ValueError, OverflowError):
            errors["frist_foer"] = [_("Skriv datoen som åååå-mm-dd.")]
    citizen = (args.get("borger") or "").strip()[:200] or None
    citizen_id = _number(args.get("borger_id"), 0) if "borger_id" in args else None
    return {"process": args.get("proces") or None, "task_type": args.get("opgave") or None,
            "citizen": citizen, "citizen_id": citizen_id, "due_before": due_before}, errors


FILTER_KEYS = ("fane", "proces", "opgave", "borger", "borger_id", "frist_foer")


def _cpr_digits(text: str | None) -> str | None:
    """The ten digits of a citizen search that is a CPR number (with or without the dash),
    else None: what the engine searches as a CPR number (Casework._citizens_named), and any
    ten digits typed with spaces too."""
    digits = re.sub(r"[\s-]", "", text or "")
    return digits if len(digits) == 10 and digits.isascii() and digits.isdigit() else None


def _filter_query(source) -> list[tuple[str, str]]:
    """The inbox's filters from its form (or an old address) as they go into an address or a
    saved filter: a citizen searched by CPR number becomes borger_id, the id of the citizen
    if the user may see open tasks of theirs (as the search by CPR number decides), else 0,
    which finds nothing. A name stays as typed."""
    query = []
    for key in FILTER_KEYS:
        value = (source.get(key) or "").strip()
        if key == "borger" and _cpr_digits(value):
            query.append(("borger_id", str(_citizen_id(_cpr_digits(value)))))
        elif key == "borger_id":
            if value and not (source.get("borger") or "").strip():
                query.append((key, str(_number(value, 0))))
        elif value:
            query.append((key, value[:200]))
    return query


def _citizen_id(cpr: str) -> int:
    """The id of the citizen with this CPR number, if the user may see open tasks of theirs;
    else 0 (a citizen the user may not see is not told from one who does not exist)."""
    with transaction(db.session) as session_:
        case_ids = casework().resolve_citizen(session_, current_user, cpr)
        if not case_ids:
            return 0
        return session_.scalar(select(Case.citizen_id).where(Case.id == case_ids[0]))


def _inbox_url(query: list[tuple[str, str]]) -> str:
    return url_for("web.inbox") + ("?" + urlencode(query) if query else "")


@bp.post("/indbakke/filtre")
@login_required
def save_filter():
    """Keep the inbox's current filters under a name (the same name replaces them); a CPR
    number never (_filter_query)."""
    name = (request.form.get("navn") or "").strip()[:100]
    query = _filter_query(request.form)
    if not name:
        flash(_("Giv filteret et navn."), "error")
        return redirect(_inbox_url(query))
    stored = urlencode(query)[:1000]
    with transaction(db.session) as session_:
        found = session_.scalar(select(SavedFilter).where(
            SavedFilter.user_id == current_user.id, SavedFilter.name == name))
        if found is None:
            session_.add(SavedFilter(user_id=current_user.id, name=name, query=stored))
        else:
            found.query = stored
    flash(_("Filteret “%(name)s” er gemt.", name=name))
    return redirect(_inbox_url(query))


@bp.post("/indbakke/filtre/<int(max=2147483647):filter_id>/slet")
@login_required
def delete_filter(filter_id):
    with transaction(db.session) as session_:
        found = session_.get(SavedFilter, filter_id)
        if found is None or found.user_id != current_user.id:
            abort(404)
        session_.delete(found)
    flash(_("Filteret er slettet."))
    return redirect(url_for("web.inbox"))


# -- a task ------------------------------------------------------------------------------------

def _task_page(task, form, values, errors=None, status=200):
    tree = form_render.fields(form.schema, values, errors or {}, casework().forms)
    summary = form_render.error_summary(tree, errors) if errors else None
    return render_template("task.html.j2", task=task, form=form, fields=tree,
                           summary=summary, draft=getattr(task, "draft", None),
                           now=_now()), status


@bp.get("/opgaver/<task_id>")
@login_required
def task_page(task_id):
    """A task's form, pre-filled from the case with a saved draft over it."""
    service = casework()
    with transaction(db.session) as session_:
        task, values = service.get_task(session_, current_user, task_id)
        form = service.forms.get(task.form_key)
        if task.state != "ready" or form is None:
            return render_template("task_done.html.j2", task=task)
    return _task_page(task, form, values)


@bp.post("/opgaver/<task_id>/kladde")
@login_required
def save_draft(task_id):
    """Keep what is typed (the button, or the page's autosave every few seconds)."""
    service = casework()
    version = request.form.get("_version", "")
    autosave = bool(request.headers.get("X-Autosave"))
    with transaction(db.session) as session_:
        task, form = service.task_form(session_, current_user, task_id)
        if task.state != "ready":  # completed (e.g. in another tab) or cancelled meanwhile
            if autosave:
                return {"message": "closed"}, 409
            return redirect(url_for("web.task_page", task_id=task_id))
        data = form_render.parse(form.schema, request.form) if form else {}
        try:
            draft = service.save_draft(session_, current_user, task_id, data,
                                       _number(version, None) if version != "0" else 0)
            saved = (draft.version, draft.saved_at)
        except ValidationFailed as exc:
            if autosave:
                return {"fields": _danish_fields(exc.fields)}, 422
            return _task_page(task, form, data, exc.fields, 422)
        except Conflict:
            if autosave:
                return {"message": "stale"}, 409
            task, _values = service.get_task(session_, current_user, task_id)
            # What was typed stays on the page; saving again from here overwrites.
            flash(_("Kladden er gemt fra en anden fane eller af en anden, efter du åbnede "
                    "siden. Det, du har skrevet, står herunder: gem igen for at bruge det, "
                    "eller genindlæs siden for at se den gemte kladde."), "error")
            return _task_page(task, form, data, None, 409)
    if autosave:
        return {"version": saved[0], "saved_at": saved[1].isoformat()}
    flash(_("Kladden er gemt."))
    return redirect(url_for("web.task_page", task_id=task_id))


@bp.post("/opgaver/<task_id>/afslut")
@login_required
def complete_task(task_id):
    """Complete the task; then the case page, which shows what the process does next."""
    service = casework()
    with transaction(db.session) as session_:
        task, form = service.task_form(session_, current_user, task_id)
        data = form_render.parse(form.schema, request.form) if form else {}
    try:
        with transaction(db.session) as session_:
            done = service.complete_task(session_, current_user, task_id, data)
            case_id, name = done.case_id, done.name
            upcoming = [t.name for t in service.open_tasks_of_case(session_, done.case)]
    except ValidationFailed as exc:
        with transaction(db.session) as session_:
            task, _values = service.get_task(session_, current_user, task_id)
            return _task_page(task, form, data, exc.fields, 422)
    flash(_("“%(name)s” er afsluttet.", name=name) + " " + (
        _("Næste: %(next)s.", next=", ".join(upcoming)) if upcoming
        else _("Der er ingen åbne opgaver på sagen nu.")))
    return redirect(url_for("web.case_page", case_id=case_id))


@bp.post("/opgaver/<task_id>/<action>")
@login_required
def task_action(task_id, action):
    """Claim or give back a task from the inbox, then back to where the user was."""
    service = casework()
    methods = {"tag": service.claim, "frigiv": service.unclaim}
    if action not in methods:
        abort(404)
    try:
        with transaction(db.session) as session_:
            task = methods[action](session_, current_user, task_id)
        flash(_("Du har taget opgaven “%(name)s”.", name=task.name) if action == "tag"
              else _("Opgaven “%(name)s” er givet tilbage til teamet.", name=task.name))
    except SagsflowError as exc:
        flash(_error_message(exc), "error")
    return redirect(_safe_next(request.form.get("next")))


# -- a new case ------------------------------------------------------------------------------

def _new_case_kinds(session_) -> dict[str, str]:
    """What a case can be opened for here: the startable processes whose latest version says
    what is received (the process's camunda:property `ny_sag`, content in processes/), by
    process id."""
    registry = casework().registry
    kinds = {}
    for version in latest_versions(session_):
        label = registry.definition_for(version).properties.get("ny_sag") \
            if version.startable else None
        if label:
            kinds[version.process_id] = label
    return dict(sorted(kinds.items()))


@bp.route("/sager/ny", methods=["GET", "POST"])
@login_required
def new_case():
    """A notification (§ 50) or an application (§ 85), with the date and time it was
    received (back-dating is allowed and logged)."""
    require_role(current_user, CASEWORKER, LEADER, ADMIN)
    form = request.form if request.method == "POST" else {
        "proces": request.args.get("proces", "sel50")}
    errors: dict[str, list[str]] = {}
    with transaction(db.session) as session_:
        kinds = _new_case_kinds(session_)
    if request.method == "POST":
        kind = form.get("proces")
        if kind not in kinds:
            errors["proces"] = [_("Vælg, hvad der er modtaget.")]
        received = _received_at(form.get("modtaget_dato"), form.get("modtaget_tid"), errors)
        team_id = form.get("team")
        if not errors:
            try:
                with transaction(db.session) as session_:
                    case = casework().open_case(
                        session_, current_user, kind,
                        {"cpr": form.get("cpr", ""), "name": form.get("navn", ""),
                         "address": form.get("adresse") or None}, received,
                        team_id=_number(team_id))
                    case_id, number = case.id, case.number
                flash(_("Sag %(number)s er oprettet.", number=number))
                return redirect(url_for("web.case_page", case_id=case_id))
            except ValidationFailed as exc:
                names = {"citizen.cpr": "cpr", "citizen.name": "navn", "received_at":
                         "modtaget_dato", "team_id": "team"}
                for field, messages in _danish_fields(exc.fields).items():
                    errors.setdefault(names.get(field, field), []).extend(messages)
    if current_user.role == ADMIN:
        with transaction(db.session) as session_:
            teams = [(t.id, t.name) for t in session_.scalars(select(Team).order_by(Team.name))]
    else:
        teams = sorted(((m.team.id, m.team.name) for m in current_user.memberships),
                       key=lambda t: t[1])
    status = 422 if errors else 200
    return render_template("new_case.html.j2", kinds=kinds, form=form, errors=errors,
                           teams=teams, today=_now().astimezone(LOCAL_TZ)), status


def _received_at(day: str | None, clock: str | None, errors: dict):
    """The received moment from a date and an optional time (Danish time)."""
    try:
        moment = datetime.combine(_day(day or ""), datetime.fromisoformat(
            f"2000-01-01T{clock or '00:00'}").time())
    except (TypeError, ValueError, OverflowError):
        errors["modtaget_dato"] = [_("Skriv datoen som åååå-mm-dd og tiden som tt:mm.")]
        return None
    return moment.replace(tzinfo=LOCAL_TZ)


# -- the case page -----------------------------------------------------------------------------

# What each kind of event on a case's timeline is called on the page.
EVENT_NAMES = {
    "case_created": N_("Sagen er oprettet"),
    "case_reassigned": N_("Sagen er flyttet"),
    "process_deployed": N_("Processen er udrullet i en ny version"),
    "process_migrated": N_("Sagen er flyttet til en ny procesversion"),
    "citizen_updated": N_("Borgerens oplysninger er ændret"),
    "deadline_action_due": N_("Fristens handling skal udføres"),
    "deadline_breached": N_("Frist overskredet"),
    "deadline_changed": N_("Frist ændret"),
    "deadline_escalated": N_("Frist eskaleret til lederen"),
    "deadline_met": N_("Frist overholdt"),
    "deadline_paused": N_("Frist sat i bero"),
    "deadline_reminder": N_("Påmindelse om frist"),
    "deadline_resumed": N_("Frist genoptaget"),
    "deadline_started": N_("Frist startet"),
    "error": N_("Fejl i processen"),
    "letter_delivery_failed": N_("Brev kunne ikke sendes"),
    "letter_delivery_retried": N_("Brev forsøgt sendt igen"),
    "letter_edited": N_("Brev redigeret"),
    "letter_issued": N_("Brev udsendt"),
    "letter_prepared": N_("Brevkladde lavet"),
    "letter_requested": N_("Brev bestilt"),
    "letter_sent": N_("Brev sendt"),
    "message_received": N_("Besked modtaget på sagen"),
    "received_date_backdated": N_("Modtagelsesdato tilbagedateret"),
    "received_date_changed": N_("Modtagelsesdato ændret"),
    "retried": N_("Trin kørt igen"),
    "status_changed": N_("Sagens status ændret"),
    "task_assigned": N_("Opgave tildelt"),
    "task_cancelled": N_("Opgave bortfaldet"),
    "task_claimed": N_("Opgave taget"),
    "task_completed": N_("Opgave afsluttet"),
    "task_created": N_("Opgave oprettet"),
    "task_due_changed": N_("Opgavens frist ændret"),
    "task_unclaimed": N_("Opgave givet tilbage"),
    "timer_fired": N_("Tidsfrist i processen udløst"),
    "timer_moved": N_("Tidsfrist i processen flyttet"),
}

# A deadline's traffic light and its Danish word, by state.
DEADLINE_LIGHTS = {"met": ("groen", N_("Overholdt")),
                   "closed": ("graa", N_("Afsluttet med sagen")),
                   "paused": ("graa", N_("Sat i bero")), "overdue": ("roed", N_("Overskredet")),
                   "due_soon": ("gul", N_("Snart")), "open": ("groen", N_("I gang"))}


@bp.get("/sager/<int(max=2147483647):case_id>")
@login_required
def case_page(case_id):
    """One page for the whole case. Viewing it is logged (who, when, which case)."""
    service = casework()
    with transaction(db.session) as session_:
        case = service.get_case(session_, current_user, case_id)
        workflows = service.case_workflows(session_, case)
        page = {
            "case": case,
            "tasks": service.open_tasks_of_case(session_, case),
            "deadlines": service.case_deadlines(session_, case),
            "letters": current_app.extensions["letters"].list_letters(
                session_, current_user, case.id),
            "timeline": list(reversed(service.timeline(session_, case))),
            "record": (record := service.case_record(workflows)),
            # the parties the process settled on, or the custody holders known so far
            "parties": record.get("parter") or [
                {**holder, "rolle": "custody_holder"}
                for holder in record.get("foraeldremyndighed") or []],
            "positions": service.positions(workflows),
            "instances": [instance for instance, _workflow in workflows],
        }
    return render_template("case.html.j2", lights=DEADLINE_LIGHTS, events=EVENT_NAMES,
                           now=_now(),
                           diagram=_vendor_file("bpmn-viewer.js") is not None, **page)


def _letter_page(letter_id: int, errors: dict | None = None, status: int = 200,
                 typed=None):
    letters = current_app.extensions["letters"]
    with transaction(db.session) as session_:
        letter = letters.get(session_, current_user, letter_id)
        letter_type = letters.catalogue.get(letter.key)
        missing, preview = {}, None
        try:
            preview = letters.preview(session_, current_user, letter_id)
        except ValidationFailed as exc:
            missing = exc.fields
        values = [p.split(".", 1)[1] for p in letter_type.requires if p.startswith("data.")]
        page = render_template("letter.html.j2", letter=letter, letter_type=letter_type,
                               preview=preview, missing=missing,
                               errors=_danish_fields(errors or {}),
                               values=values, typed=typed or {})
    return page, status


@bp.get("/breve/<int(max=2147483647):letter_id>")
@login_required
def letter_page(letter_id):
    """A letter: its preview, and while a draft its free-text blocks and the values nothing
    on the case holds, to edit; then issue it."""
    return _letter_page(letter_id)


@bp.post("/breve/<int(max=2147483647):letter_id>")
@login_required
def edit_letter(letter_id):
    letters = current_app.extensions["letters"]
    with transaction(db.session) as session_:
        letter_type = letters.catalogue.get(letters.get(session_, current_user, letter_id).key)
    texts = {b.name: request.form.get(f"tekst.{b.name}", "") for b in letter_type.texts
             if f"tekst.{b.name}" in request.form}
    values = {k.split(".", 1)[1]: v for k, v in request.form.items()
              if k.startswith("data.") and v.strip()}
    try:
        with transaction(db.session) as session_:
            letters.update_draft(session_, current_user, letter_id, texts or None,
                                 None, values or None)
    except ValidationFailed as exc:
        return _letter_page(letter_id, exc.fields, 422, typed=request.form)
    if request.form.get("udsend"):
        try:
            with transaction(db.session) as session_:
                issued = letters.issue(session_, current_user, letter_id)
                case_id, title = issued.case_id, issued.title
        except ValidationFailed as exc:
            return _letter_page(letter_id, exc.fields, 422)
        flash(_("“%(title)s” er udsendt.", title=title))
        return redirect(url_for("web.case_page", case_id=case_id))
    flash(_("Brevet er gemt."))
    return redirect(url_for("web.letter_page", letter_id=letter_id))


# The files of bpmn-js the pages use, from node_modules (installed by make, never committed).
# Files from npm (package.json) the pages load, by the name a page asks for: the case page's
# diagram viewer, the designer's modeler, properties panel and decision-table editor. Public
# library files, no case data: served to anyone.
VENDOR = {
    "bpmn-viewer.js": "bpmn-js/dist/bpmn-viewer.production.min.js",
    "bpmn-modeler.js": "bpmn-js/dist/bpmn-modeler.production.min.js",
    "properties-panel.js": "bpmn-js-properties-panel/dist/bpmn-js-properties-panel.umd.js",
    "properties-panel.css": "@bpmn-io/properties-panel/dist/assets/properties-panel.css",
    "camunda.json": "camunda-bpmn-moddle/resources/camunda.json",
    "bpmn-js.css": "bpmn-js/dist/assets/bpmn-js.css",
    "diagram-js.css": "bpmn-js/dist/assets/diagram-js.css",
    "bpmn-font.css": "bpmn-js/dist/assets/bpmn-font/css/bpmn-embedded.css",
    "dmn-modeler.js": "dmn-js/dist/dmn-modeler.production.min.js",
    "dmn-js-shared.css": "dmn-js/dist/assets/dmn-js-shared.css",
    "dmn-js-drd.css": "dmn-js/dist/assets/dmn-js-drd.css",
    "dmn-js-decision-table.css": "dmn-js/dist/assets/dmn-js-decision-table.css",
    "dmn-js-decision-table-controls.css": "dmn-js/dist/assets/dmn-js-decision-table-controls.css",
    "dmn-js-literal-expression.css": "dmn-js/dist/assets/dmn-js-literal-expression.css",
    "dmn-font.css": "dmn-js/dist/assets/dmn-font/css/dmn-embedded.css",
}


def _vendor_file(name: str):
    """The installed file of a VENDOR name, or None (unknown, or npm not run)."""
    from api.config import PROJECT_ROOT

    path = PROJECT_ROOT / "node_modules" / VENDOR[name] if name in VENDOR else None
    return path if path is not None and path.is_file() else None


@bp.get("/vendor/<name>")
def vendor(name):
    path = _vendor_file(name)
    if path is None:
        abort(404)
    return send_file(path, max_age=86400)


@bp.get("/sager/<int(max=2147483647):case_id>/diagram.bpmn")
@login_required
def case_diagram(case_id):
    """The BPMN of the version the case runs on (for the diagram on the case page)."""
    service = casework()
    with transaction(db.session) as session_:
        case = service.get_case(session_, current_user, case_id, log=False)  # the page logs
        sources = case.process_version.sources
        body = sources.get(process_files(sources).get(case.process_id), "")
    return current_app.response_class(body, mimetype="application/xml")


@bp.get("/breve/<int(max=2147483647):letter_id>/pdf")
@login_required
def letter_pdf(letter_id):
    """An issued letter's PDF, as it was issued."""
    with transaction(db.session) as session_:
        letter = current_app.extensions["letters"].pdf(session_, current_user, letter_id)
        body, name = letter.pdf, f"brev-{letter.id}.pdf"
    return current_app.response_class(body, mimetype="application/pdf", headers={
        "Content-Disposition": f'inline; filename="{name}"'})


# -- the leaders' deadline queue -------------------------------------------------------------

GROUP_NAMES = {"team": N_("Team"), "caseworker": N_("Sagsbehandler"), "key": N_("Frist"),
               "process": N_("Proces")}
STATE_NAMES = {"overdue": N_("Overskredne"), "due_soon": N_("Snart forfaldne")}
QUEUE_KEYS = ("tilstand", "gruppe", "team", "sagsbehandler", "frist", "proces")


def _queue_filter():
    args = request.args
    state = args.get("tilstand", "overdue")
    group = args.get("gruppe") or "caseworker"
    if state not in STATE_NAMES or group not in GROUP_NAMES:
        abort(404)
    wanted = oversight.QueueFilter(state=state, team=args.get("team") or None,
                                   caseworker=args.get("sagsbehandler") or None,
                                   key=args.get("frist") or None,
                                   process=args.get("proces") or None)
    return wanted, group


@bp.get("/frister")
@login_required
def queue():
    """Overdue and due-soon deadlines: grouped, a traffic light per caseworker, drill down to
    the case, CSV export, and moving cases to another caseworker."""
    wanted, group = _queue_filter()
    page = _number(request.args.get("side"), 1, 10000)
    with transaction(db.session) as session_:
        result = oversight.deadline_queue(session_, current_user, wanted, group_by=group,
                                          page=page, per_page=50)
        people = [light for light in result["caseworkers"] if light["username"]]
    filters = {k: v for k, v in request.args.items() if k in QUEUE_KEYS}
    return render_template("queue.html.j2", result=result, wanted=wanted, group=group,
                           groups=GROUP_NAMES, states=STATE_NAMES, people=people,
                           args=filters)


@bp.get("/frister.csv")
@login_required
def queue_csv():
    """Every row of the queue as the filters give it, for Excel."""
    wanted, group = _queue_filter()
    with transaction(db.session) as session_:
        result = oversight.deadline_queue(session_, current_user, wanted, group_by=group,
                                          per_page=None)
        body = deadline_rows_csv(result["items"])
    return current_app.response_class(body, mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="frister-{wanted.state}.csv"'})


@bp.post("/frister/flyt")
@login_required
def reassign():
    """Move the chosen cases, or a caseworker's whole caseload, to another caseworker."""
    giver, taker = request.form.get("fra", ""), request.form.get("til", "")
    whole = request.form.get("hele") == "1"
    case_ids = [n for n in (_number(v) for v in request.form.getlist("sag")) if n]
    back = _safe_next(request.form.get("next"))
    if not whole and not case_ids:
        flash(_("Vælg de sager, der skal flyttes, eller flyt hele sagsstammen."), "error")
        return redirect(back)
    try:
        require_role(current_user, LEADER, ADMIN)
    except Forbidden:
        flash(_("Intet er flyttet: kun ledere og administratorer flytter sager."), "error")
        return redirect(back)
    try:
        with transaction(db.session) as session_:
            moved = oversight.reassign(session_, current_user, giver, taker,
                                       None if whole else case_ids)
        flash(ngettext("%(num)d sag er flyttet fra %(fra)s til %(til)s.",
                       "%(num)d sager er flyttet fra %(fra)s til %(til)s.",
                       len(moved["cases"]), fra=moved["from_name"], til=moved["to_name"]))
    except (Forbidden, NotFound):
        # The engine names the case (its number, or an id that does not exist): a case of a
        # team the user does not lead is none of their business, so say it of the choice.
        flash(_("Intet er flyttet: nogle af de valgte sager hører ikke til dine teams."),
              "error")
    except ValidationFailed as exc:
        # Named by case number (only cases the user leads get this far) or by fra/til.
        names = {"from": _("Fra"), "to": _("Til")}
        flash(_("Intet er flyttet: %(why)s", why=_field_details(
            {names.get(k, k): v for k, v in exc.fields.items()}) or _error_message(exc)),
            "error")
    except SagsflowError as exc:
        flash(_("Intet er flyttet: %(why)s", why=_error_message(exc)), "error")
    return redirect(back)


@bp.get("/sagsbyrde")
@login_required
def caseload():
    """Per caseworker: open cases, case age, tasks due this week, overdue tasks."""
    with transaction(db.session) as session_:
        rows = oversight.caseload(session_, current_user)
    return render_template("caseload.html.j2", rows=rows)


@bp.get("/adgangslog")
@login_required
def access_log():
    """Administrators search who looked at which case and when."""
    args = request.args
    errors: dict[str, list[str]] = {}
    bounds = {}
    for name in ("fra", "til"):
        if args.get(name):
            try:
                day = datetime.combine(_day(args[name]), datetime.min.time(), tzinfo=LOCAL_TZ)
                bounds[name] = day + (timedelta(days=1) if name == "til" else timedelta())
            except (ValueError, OverflowError):
                errors[name] = [_("Skriv datoen som åååå-mm-dd.")]
    rows = []
    with transaction(db.session) as session_:
        if not errors:
            rows = audit.search_access(
                session_, current_user, username=args.get("bruger") or None,
                case_number=args.get("sag") or None, since=bounds.get("fra"),
                until=bounds.get("til"))
        elif current_user.role != ADMIN:
            abort(403)
    return render_template("access_log.html.j2", rows=rows, args=args,
                           errors=errors), 422 if errors else 200


def _now():
    from engine.clock import now

    return now()


__all__ = ["init_app"]
