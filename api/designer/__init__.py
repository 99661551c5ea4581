"""The process designer's pages (/designer): the BPMN modeler with the Camunda properties
panel and the DMN editor, drafts, import and export, validation with the problems shown on the
diagram, deployment, versions and their differences, moving running cases to a new version,
and test runs that can be saved as scenarios.

Only process designers and administrators may use them: checked once, before every request of
the blueprint (engine.permissions.require_designer), and again by each use case. The pages are
Danish; the JSON endpoints the modeler page calls answer errors as JSON with the message."""

from __future__ import annotations

import json
from pathlib import Path

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.exceptions import HTTPException

from engine.bpmn import drafts
from engine.bpmn.registry import latest_sources, latest_versions, process_files
from engine.bpmn.validation import BPMN_NS, MAX_FILE_BYTES
from engine.db import transaction
from engine.errors import (
    Conflict,
    Forbidden,
    NotFound,
    ProcessDefinitionError,
    SagsflowError,
    Unauthorized,
    ValidationFailed,
)
from engine.permissions import require_designer

from ..auth import casework
from ..errors import _page
from ..extensions import db
from ..translations import N_

bp = Blueprint("designer", __name__, url_prefix="/designer",
               template_folder="../templates/designer")
# A test run: at most this many steps, each replay stopped after this many seconds.
MAX_TRIAL_STEPS = 200
TRIAL_SECONDS = 20



def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    # First of all before-request functions: the CSRF check reads the body already.
    app.before_request_funcs.setdefault(None, []).insert(0, _room_for_a_file)


def _room_for_a_file():
    """A designer sends whole files: a body of the designer's may hold one file of the largest
    size validation accepts (as JSON, with room for escaping), more than the app's limit for
    other requests."""
    if request.blueprint == "designer":
        request.max_content_length = max(current_app.config["MAX_CONTENT_LENGTH"] or 0,
                                         3 * MAX_FILE_BYTES)


def _wants_json() -> bool:
    return request.is_json or request.accept_mimetypes.best == "application/json"


@bp.before_request
def _designers_only():
    """Every designer route: logged in, and a process designer or administrator."""
    if not current_user.is_authenticated:
        if _wants_json():
            raise Unauthorized("log in first")
        return redirect(url_for("web.login", next=request.full_path.rstrip("?")))
    require_designer(current_user)
    return None


def _danish(exc: SagsflowError) -> str:
    """What went wrong, in Danish, for a designer: the kind of error, the fields, and the
    engine's own message as technical detail (a designer may see everything here)."""
    from api.web import _field_details

    if isinstance(exc, Conflict):
        text = _("Det kunne ikke lade sig gøre, fordi en anden har gemt eller udrullet imens "
                 "(eller det findes allerede). Genindlæs siden, og prøv igen.")
    elif isinstance(exc, NotFound):
        text = _("Det, du leder efter, findes ikke.")
    elif isinstance(exc, Forbidden):
        text = _("Kun procesdesignere og administratorer har adgang til procesdesigneren.")
    elif isinstance(exc, ProcessDefinitionError):
        text = _("Filen kan ikke bruges, som den er: se problemerne.")
    elif isinstance(exc, ValidationFailed):
        text = _("Oplysningerne kan ikke bruges.")
    elif isinstance(exc, Unauthorized):
        text = _("Log ind for at fortsætte.")
    else:
        text = _("Handlingen kunne ikke gennemføres.")
    fields = getattr(exc, "fields", None)
    if fields:
        text += " " + _field_details(fields)
    return text + " " + _("Teknisk besked: %(message)s", message=exc.message)


@bp.errorhandler(SagsflowError)
def _error(exc: SagsflowError):
    if _wants_json():
        body = {"message": exc.message, "besked": _danish(exc)}
        if getattr(exc, "fields", None):
            body["fields"] = exc.fields
        if getattr(exc, "problems", None):
            body["problems"] = [_problem_json(p) for p in exc.problems]
        return jsonify(body), exc.status
    return _page(exc.status, _danish(exc))


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    from api.web import _http_error as page_error
    from api.web import _http_message

    if _wants_json():
        return jsonify({"message": exc.description or exc.name,
                        "besked": _http_message(exc.code)}), exc.code or 500
    return page_error(exc)


# What each validation rule (engine.bpmn.validation.Problem.rule) is about, in Danish.
RULE_TITLES = {
    "xml": N_("Ikke gyldig eller ikke sikker XML"), "size": N_("Filen er for stor"),
    "spiff": N_("BPMN-fejl"), "bpmn": N_("BPMN-fejl"),
    "executable": N_("Processen er ikke eksekverbar"),
    "implicit-split": N_("Skjult forgrening (brug en gateway)"),
    "implicit-merge": N_("Skjult sammenløb (brug en gateway)"),
    "hearing": N_("Afgørelse uden partshøring"), "sandbox": N_("Scriptet er ikke tilladt"),
    "condition": N_("Betingelsen kan ikke bruges"), "timer": N_("Timeren kan ikke bruges"),
    "deadline": N_("Ukendt frist"), "letter": N_("Ukendt brev"),
    "form": N_("Formularen mangler eller findes ikke"),
    "assignment": N_("Ingen kandidatgruppe eller ansvarlig"), "date": N_("Ugyldig dato"),
    "length": N_("Id eller navn er for langt"),
    "camunda-import": N_("Kan ikke omskrives fra Camunda Modeler"),
}


def _problem_json(problem) -> dict:
    rule = getattr(problem, "rule", None)
    return {"file": getattr(problem, "file", None),
            "element_id": getattr(problem, "element_id", None),
            "element_name": getattr(problem, "element_name", None),
            "rule": rule, "regel": _(RULE_TITLES[rule]) if rule in RULE_TITLES else None,
            "message": getattr(problem, "message", str(problem))}


def _json_body() -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ValidationFailed("a JSON object is required", {"body": ["send a JSON object"]})
    return body


# -- the files ---------------------------------------------------------------------------------

@bp.get("/")
def files():
    with transaction(db.session) as session:
        rows = drafts.list_files(session, current_user)
        processes = _deployed_processes(session)
    return render_template("designer_files.html.j2", rows=rows, processes=processes,
                           scenarios=_scenarios())


def _deployed_processes(session) -> list[dict]:
    return [{"process_id": v.process_id, "latest": v.version}
            for v in sorted(latest_versions(session), key=lambda v: v.process_id)]


@bp.post("/importer")
def import_file():
    """A .bpmn or .dmn file from disk (also from the desktop Camunda Modeler) becomes a draft.
    Camunda's bare ISO timers and simple ${...} conditions are turned into Python; what cannot
    be turned is refused, naming the element."""
    from engine.bpmn.camunda_import import from_camunda_modeler

    upload = request.files.get("fil")
    if upload is None or not upload.filename:
        raise ValidationFailed("no file", {"fil": [_("Vælg en .bpmn- eller .dmn-fil.")]})
    name = Path(upload.filename).name
    drafts.check_file_name(name)
    raw = upload.read(MAX_FILE_BYTES + 1)
    if len(raw) > MAX_FILE_BYTES:
        raise ValidationFailed("file too large", {"fil": [_("Filen er større end 2 MB.")]})
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationFailed("not UTF-8", {"fil": [_("Filen er ikke UTF-8-tekst.")]}) from None
    notes: list[str] = []
    if name.endswith(".bpmn"):
        text, notes = from_camunda_modeler(text, name)
    root = drafts.parse_safely(text)
    wanted = "BPMN" if name.endswith(".bpmn") else "DMN"
    if root.tag.rsplit("}", 1)[-1] != "definitions" or wanted not in (
            root.tag.split("}", 1)[0].upper()):
        raise ValidationFailed("not a BPMN or DMN file", {"fil": [
            _("%(name)s er ikke en %(kind)s-fil (dens rod skal være <definitions> i %(kind)s' "
              "navnerum).", name=name, kind=wanted)]})
    with transaction(db.session) as session:
        existing = session.scalar(_draft_query(name))
        if existing is not None and not request.form.get("overskriv"):
            raise Conflict(f"there is already a draft of {name}: tick 'overwrite' to replace it")
        drafts.save_draft(session, current_user, name, text,
                          existing.lock_version if existing is not None else None)
    flash(_("%(name)s er importeret som kladde.", name=name))
    for note in notes:
        flash(note)
    return redirect(url_for("designer.editor", file_name=name))


def _draft_query(name: str):
    from sqlalchemy import select

    from engine.models import ProcessDraft

    return select(ProcessDraft).where(ProcessDraft.file_name == name)


@bp.get("/filer/<file_name>")
def editor(file_name):
    with transaction(db.session) as session:
        sources = latest_sources(session)
        opened = drafts.open_file(session, current_user, file_name, sources=sources)
        draft = opened.draft
        meta = {"lock_version": draft.lock_version if draft else None,
                "updated_by": draft.updated_by if draft else None,
                "updated_at": draft.updated_at if draft else None}
    return render_template("designer_editor.html.j2", file_name=file_name, draft=meta,
                           references=_reference_links(file_name, opened.xml, sources),
                           process_ids=_process_ids(opened.xml))


def _process_ids(xml: str) -> list[str]:
    try:
        tree = drafts.parse_safely(xml)
    except ValidationFailed:
        return []
    return [p.get("id") for p in tree.iter(f"{{{BPMN_NS}}}process") if p.get("id")]


def _reference_links(file_name: str, xml: str, sources: dict[str, str]) -> dict:
    """What each element of a BPMN file names, with the page that shows it and whether it
    exists (an unknown name is also a validation problem); a call activity's process is
    looked up among `sources` (the deployed files)."""
    if not file_name.endswith(".bpmn"):
        return {}
    refs = drafts.references(xml)
    files = process_files(sources)
    forms = casework().forms
    letters = current_app.extensions["letters"].catalogue
    deadlines = current_app.extensions["deadlines"]
    known = {"form": forms, "letter": letters, "deadline": deadlines, "process": files}

    def url(ref):
        if ref["kind"] == "process":
            return url_for("designer.editor", file_name=files[ref["key"]]) \
                if ref["key"] in files else None
        endpoint = {"form": "designer.form", "letter": "designer.letter",
                    "deadline": "designer.deadline"}[ref["kind"]]
        return url_for(endpoint, key=ref["key"])

    return {element: [{**ref, "exists": ref["key"] in known[ref["kind"]], "url": url(ref)}
                      for ref in element_refs]
            for element, element_refs in refs.items()}


@bp.get("/filer/<file_name>/xml")
def file_xml(file_name):
    """The file's text for the modeler: the draft, or with ?udrullet=1 the deployed text."""
    with transaction(db.session) as session:
        opened = drafts.open_file(session, current_user, file_name,
                                  deployed=bool(request.args.get("udrullet")))
    return current_app.response_class(opened.xml, mimetype="application/xml",
                                      headers={"Cache-Control": "no-store"})


@bp.get("/filer/<file_name>/eksport")
def export(file_name):
    with transaction(db.session) as session:
        opened = drafts.open_file(session, current_user, file_name,
                                  deployed=bool(request.args.get("udrullet")))
    return current_app.response_class(
        opened.xml, mimetype="application/xml",
        headers={"Content-Disposition": f'attachment; filename="{file_name}"',
                 "Cache-Control": "no-store"})


@bp.post("/filer/<file_name>/kladde")
def save(file_name):
    body = _json_body()
    lock_version = body.get("lock_version")
    if lock_version is not None and (not isinstance(lock_version, int)
                                     or isinstance(lock_version, bool)):
        raise ValidationFailed("invalid lock_version", {"lock_version": ["must be a number"]})
    with transaction(db.session) as session:
        draft = drafts.save_draft(session, current_user, file_name, body.get("xml"),
                                  lock_version)
        answer = {"lock_version": draft.lock_version, "updated_by": draft.updated_by,
                  "updated_at": draft.updated_at.isoformat()}
        if file_name.endswith(".bpmn"):
            answer["references"] = _reference_links(file_name, body["xml"],
                                                    latest_sources(session))
    return jsonify(answer)


@bp.post("/filer/<file_name>/kasser")
def discard(file_name):
    with transaction(db.session) as session:
        drafts.discard_draft(session, current_user, file_name)
    flash(_("Kladden af %(name)s er kasseret.", name=file_name))
    return redirect(url_for("designer.files"))


def _sources_with(session, file_name: str, xml: str) -> dict[str, str]:
    sources = latest_sources(session)
    sources[file_name] = xml
    return sources


def _validate(sources: dict[str, str]) -> list:
    """Every problem of the files, checked against what the running processes may name (the
    registry's forms, deadlines and letters, as a deploy checks them)."""
    from engine.bpmn.validation import validate_sources

    registry = casework().registry
    return validate_sources(sources, registry.forms, registry.deadline_keys,
                            registry.letter_keys)


@bp.post("/filer/<file_name>/valider")
def validate(file_name):
    """Validate the modeler's text together with the other deployed files (call activities
    and decision tables resolve as they would on deployment). Nothing is saved."""
    body = _json_body()
    drafts.check_file_name(file_name)
    xml = drafts.check_xml(body.get("xml"))
    with transaction(db.session) as session:
        sources = _sources_with(session, file_name, xml)
    problems = _validate(sources)
    answer = {"ok": not problems, "problems": [_problem_json(p) for p in problems]}
    if file_name.endswith(".bpmn"):
        answer["references"] = _reference_links(file_name, xml, sources)
    return jsonify(answer)


@bp.post("/filer/<file_name>/udrul")
def deploy(file_name):
    """Deploy the modeler's text: validated with every other file, a new version of each
    process whose content changed; the draft goes. A draft saved by someone else since the
    page loaded (`lock_version`) refuses it, as a save would. A new decision table or called
    process the file names is taken along from its draft. Problems refuse it, nothing
    deployed, the drafts kept."""
    from engine.bpmn.versions import deploy_sources

    body = _json_body()
    drafts.check_file_name(file_name)
    xml = drafts.check_xml(body.get("xml"))
    lock_version = body.get("lock_version")
    with transaction(db.session) as session:
        draft = session.scalar(_draft_query(file_name).with_for_update())
        if draft is not None and lock_version != draft.lock_version:
            raise Conflict(f"{draft.updated_by} saved a newer draft of {file_name} meanwhile; "
                           "reload the page")
        if draft is None and lock_version not in (None, 0):
            raise Conflict(f"the draft of {file_name} was deployed or discarded meanwhile; "
                           "reload the page")
        files = {**drafts.new_files_named(session, xml, latest_sources(session)),
                 file_name: xml}
        created = deploy_sources(session, casework().registry, current_user, files)
        for name in files:
            taken = session.scalar(_draft_query(name))
            if taken is not None:
                session.delete(taken)
        versions = [{"process_id": v.process_id, "version": v.version} for v in created]
    return jsonify({"versions": versions, "files": sorted(files),
                    "message": _("Udrullet: %(what)s.", what=", ".join(
                        f"{v['process_id']} version {v['version']}" for v in versions))
                    if versions else _("Intet er ændret; der er ikke udrullet en ny version.")})


# -- versions and running cases ---------------------------------------------------------------

def _version_number(value, name: str) -> int:
    text = (value or "").strip()
    if not (text.isascii() and text.isdigit() and 0 < len(text) <= 9):
        raise ValidationFailed("invalid version", {name: [_("Angiv et versionsnummer.")]})
    return int(text)


@bp.get("/processer/<process_id>/versioner")
def versions(process_id):
    from engine.bpmn import versions as service

    with transaction(db.session) as session:
        rows = service.list_versions(session, current_user, process_id)
        running = service.running_per_version(session, process_id)
    return render_template("designer_versions.html.j2", process_id=process_id, versions=rows,
                           running=running)


@bp.get("/processer/<process_id>/forskel")
def diff(process_id):
    from engine.bpmn import versions as service

    a = _version_number(request.args.get("fra"), "fra")
    b = _version_number(request.args.get("til"), "til")
    with transaction(db.session) as session:
        result = service.diff_versions(session, casework().registry, current_user,
                                       process_id, a, b)
    return render_template("designer_diff.html.j2", process_id=process_id, a=a, b=b,
                           diff=result)


@bp.get("/processer/<process_id>/flyt")
def migration(process_id):
    """The dry run: per running case on an older version, whether it can move and why not."""
    from engine.bpmn import versions as service

    to_version = _version_number(request.args.get("til"), "til")
    with transaction(db.session) as session:
        plan = service.migration_plan(session, casework(), current_user, process_id,
                                      to_version)
    return render_template("designer_migration.html.j2", process_id=process_id,
                           to_version=to_version, plan=plan)


@bp.post("/processer/<process_id>/flyt")
def migrate(process_id):
    from engine.bpmn import versions as service

    to_version = _version_number(request.form.get("til"), "til")
    with transaction(db.session) as session:
        result = service.migrate_cases(session, casework(), current_user, process_id,
                                       to_version)
    moved, stayed = len(result["moved"]), len(result["stayed"])
    flash(_("Flyttet til version %(n)s: %(moved)s. Blev, hvor de var: %(stayed)s.",
            moved=moved, n=to_version, stayed=stayed))
    return redirect(url_for("designer.migration", process_id=process_id, til=to_version))


# -- test runs -------------------------------------------------------------------------------

def _trial_sources(session, file_name: str) -> dict[str, str]:
    """What a test run of a file runs: every deployed file, with this file's draft if any."""
    sources = latest_sources(session)
    sources[file_name] = drafts.open_file(session, current_user, file_name,
                                          sources=sources).xml
    return sources


def _steps_from_form() -> list:
    try:
        steps = json.loads(request.form.get("_steps") or "[]")
    except ValueError:
        steps = None
    if not isinstance(steps, list) or not all(isinstance(s, dict) for s in steps):
        raise ValidationFailed("invalid steps", {"_steps": [_("Prøvekørslens trin er ugyldige.")]})
    if len(steps) > MAX_TRIAL_STEPS:
        raise ValidationFailed("too many steps", {"_steps": [
            _("En prøvekørsel har højst %(n)s trin.", n=MAX_TRIAL_STEPS)]})
    return steps


def _replay(sources, steps):
    """A test run replayed in a process of its own, stopped after TRIAL_SECONDS (a designer's
    endless loop must not hold a server thread for long)."""
    from engine.bpmn.trial import replay_in_subprocess

    return replay_in_subprocess(sources, steps, config=current_app.config,
                                timeout=TRIAL_SECONDS)


def _new_step(action: str, steps: list) -> dict:
    """The step the designer asked for, from the page's form."""
    from api.web import form_render

    form = request.form
    if action == "start":
        process = (form.get("proces") or "").strip()
        citizen = {"cpr": (form.get("cpr") or "").strip(), "name": (form.get("navn") or "").strip()}
        received = (form.get("modtaget") or "").strip()
        args = {"process": process, "citizen": {k: v for k, v in citizen.items() if v}}
        if received:  # 09:00 Danish time (the run reads a time without offset as Danish)
            args["at"] = received if "T" in received else f"{received}T09:00:00"
        return {"start": args}
    if action == "complete":
        task = (form.get("_task") or "").strip()
        form_key = (form.get("_form") or "").strip()
        definition = casework().forms.get(form_key)
        data = form_render.parse(definition.schema, form) if definition else {}
        return {"complete": {"task": task, "data": data}}
    if action == "advance":
        days = (form.get("dage") or "").strip()
        until = (form.get("indtil") or "").strip()
        if until:
            return {"advance": {"until": until}}
        if not (days.isascii() and days.isdigit() and 0 < int(days) <= 3660):
            raise ValidationFailed("invalid days", {"dage": [_("Skriv et antal dage (1-3660).")]})
        return {"advance": {"days": int(days)}}
    if action == "message":
        try:
            data = json.loads(form.get("data") or "{}")
        except ValueError:
            raise ValidationFailed("invalid data", {"data": [_("Data skal være JSON.")]}) \
                from None
        return {"message": {"name": (form.get("besked") or "").strip(), "data": data}}
    raise ValidationFailed("unknown action", {"_action": [_("Ukendt handling.")]})


def _render_trial(file_name, sources, steps, result, *, status=200, open_task=None,
                  values=None, errors=None):
    from api.web import form_render
    from engine.bpmn.trial import SAMPLE_CITIZEN

    final = result.final if result is not None else None
    task_form = None
    if open_task is not None:
        definition = casework().forms.get(open_task.get("form"))
        if definition is not None:
            tree = form_render.fields(definition.schema, values or {}, errors or {},
                                      casework().forms)
            task_form = {"task": open_task, "form": definition, "fields": tree,
                         "summary": form_render.error_summary(tree, errors) if errors else None}
    return render_template("designer_trial.html.j2", file_name=file_name,
                           process_ids=_process_ids(sources.get(file_name, "")),
                           steps=steps, result=result, final=final, task_form=task_form,
                           sample=SAMPLE_CITIZEN, steps_json=json.dumps(steps, ensure_ascii=False)
                           ), status


@bp.get("/filer/<file_name>/proevekoersel")
def trial(file_name):
    with transaction(db.session) as session:
        sources = _trial_sources(session, file_name)
    return _render_trial(file_name, sources, [], None)


@bp.post("/filer/<file_name>/proevekoersel")
def trial_step(file_name):
    """Take one more step: the whole run is replayed from its start in a sandbox process (its
    own database and clock), and the page shows where the process stands."""
    steps = _steps_from_form()
    action = request.form.get("_action") or ""
    with transaction(db.session) as session:
        sources = _trial_sources(session, file_name)
    if action == "save":
        return _save_scenario(file_name, sources, steps)
    if action == "fill":  # show the form of an open task; nothing is run
        result = _replay(sources, steps) if steps else None
        wanted = request.form.get("_task")
        task = next((t for t in (result.final or {}).get("open_tasks", [])
                     if t["id"] == wanted), None) if result else None
        if task is None:
            error = {"step": None, "kind": "fill", "fields": {},
                     "message": _("Opgaven %(task)s er ikke åben.", task=wanted or "")}
            return _render_trial(file_name, sources, steps, _with_error(result, error),
                                 status=422)
        return _render_trial(file_name, sources, steps, result, open_task=task)
    if action == "undo":
        steps = steps[:-1]
        result = _replay(sources, steps) if steps else None
        return _render_trial(file_name, sources, steps, result)
    if action == "restart":
        return _render_trial(file_name, sources, [], None)
    try:
        step = _new_step(action, steps)
    except ValidationFailed as exc:  # the run as it was, with what is wrong in the step
        result = _replay(sources, steps) if steps else None
        error = {"step": len(steps), "kind": action, "message": exc.message,
                 "fields": exc.fields}
        return _render_trial(file_name, sources, steps, _with_error(result, error), status=422)
    tried = steps + [step] if action != "start" else [step]
    result = _replay(sources, tried)
    if result.ok:
        start = tried[0]["start"]
        start.setdefault("at", result.started_at)  # every replay starts at the same moment
        return _render_trial(file_name, sources, tried, result)
    # The step that failed is not kept: the page shows the run before it, with the error
    # (and the task's form again with what was typed and the field messages).
    failed_at = result.error.get("step")
    if not isinstance(failed_at, int):
        return _render_trial(file_name, sources, steps, _with_error(None, result.error),
                             status=422)
    kept = tried[:failed_at]
    shown = _with_error(result, result.error)
    shown.steps = shown.steps[:failed_at]
    task = None
    if action == "complete" and failed_at == len(tried) - 1 and shown.steps:
        task = next((t for t in shown.steps[-1]["open_tasks"]
                     if t["id"] == step["complete"]["task"]), None)
    if task is not None:
        return _render_trial(file_name, sources, kept, shown, status=422, open_task=task,
                             values=step["complete"]["data"],
                             errors=result.error.get("fields") or None)
    return _render_trial(file_name, sources, kept, shown, status=422)


def _with_error(result, error):
    from engine.bpmn.trial import TrialResult

    result = result or TrialResult()
    result.error = {k: v for k, v in error.items() if k != "state"}
    return result


def _save_scenario(file_name, sources, steps):
    from engine.bpmn.trial import save_scenario

    name = (request.form.get("scenarie") or "").strip()
    description = (request.form.get("beskrivelse") or "").strip()
    if not steps:
        raise ValidationFailed("no steps", {"_steps": [_("Prøvekør mindst ét trin først.")]})
    result = _replay(sources, steps)
    if not result.ok:
        return _render_trial(file_name, sources, steps, result, status=422)
    from engine.bpmn.registry import read_folder

    try:
        path = save_scenario(current_app.config["SCENARIOS_DIR"], name, steps, result,
                             description=description,
                             overwrite=bool(request.form.get("overskriv")))
    except (ValidationFailed, Conflict) as exc:  # the run stays on the page, with why
        error = {"step": None, "kind": "save", "message": _danish(exc),
                 "fields": getattr(exc, "fields", {})}
        return _render_trial(file_name, sources, steps, _with_error(result, error),
                             status=exc.status)
    flash(_("Prøvekørslen er gemt som scenariet %(name)s (%(path)s); make test afspiller det "
            "mod filerne i processes/.", name=name, path=path))
    folder = read_folder(Path(current_app.config["PROCESSES_DIR"]))
    if folder.get(file_name) != sources.get(file_name):
        flash(_("%(file)s i processes/ er ikke den fil, prøvekørslen brugte: eksportér filen "
                "til processes/, så make test afspiller scenariet mod den samme proces.",
                file=file_name), "error")
    return _render_trial(file_name, sources, steps, result)


# -- scenarios -----------------------------------------------------------------------------------

def _scenarios() -> list[dict]:
    from engine.bpmn.trial import load_scenarios

    return load_scenarios(current_app.config["SCENARIOS_DIR"])


@bp.post("/filer/<file_name>/scenarier")
def replay_scenarios(file_name):
    """Replay the saved scenarios of the file's processes against the file as it is now (its
    draft, if any, with the other deployed files): does the change still take the paths the
    scenarios recorded? Each runs in a sandbox process; nothing is saved."""
    from engine.bpmn.trial import compare

    with transaction(db.session) as session:
        sources = _trial_sources(session, file_name)
        has_draft = session.scalar(_draft_query(file_name)) is not None
    processes = set(_process_ids(sources.get(file_name, "")))
    results = []
    for scenario in _scenarios():
        if "broken" in scenario:
            results.append({**scenario, "problems": [scenario["broken"]]})
            continue
        if scenario.get("process") not in processes:
            continue
        result = _replay(sources, scenario["steps"])
        results.append({**scenario, "problems": compare(scenario.get("expect") or {}, result)})
    return render_template("designer_scenarios.html.j2", file_name=file_name, results=results,
                           draft=has_draft)


# -- what the elements reference ------------------------------------------------------------

@bp.get("/formularer/<key>")
def form(key):
    definition = casework().forms.get(key)
    if definition is None:
        abort(404, description=_("Formularen %(key)s findes ikke.", key=key))
    return render_template("designer_reference.html.j2", kind="form", key=key,
                           title=definition.schema.get("title") or key,
                           source=json.dumps(definition.schema, ensure_ascii=False, indent=2))


@bp.get("/breve/<key>")
def letter(key):
    catalogue = current_app.extensions["letters"].catalogue
    if key not in catalogue:
        abort(404, description=_("Brevet %(key)s findes ikke.", key=key))
    letter_type = catalogue.get(key)
    template = Path(catalogue.folder) / letter_type.template
    source = template.read_text(encoding="utf-8") if template.is_file() else ""
    return render_template("designer_reference.html.j2", kind="letter", key=key,
                           title=letter_type.title, letter=letter_type, source=source)


@bp.get("/frister/<key>")
def deadline(key):
    catalogue = current_app.extensions["deadlines"]
    if key not in catalogue:
        abort(404, description=_("Fristen %(key)s findes ikke.", key=key))
    entry = catalogue.get(key)
    return render_template("designer_reference.html.j2", kind="deadline", key=key,
                           title=entry.title, deadline=entry, source=None)


__all__ = ["bp", "init_app"]
