"""The process designer's work before it is deployed: drafts of BPMN and DMN files, what a
file references (forms, letters, deadlines) for the designer's links, and imported files.

A draft is one row per file name, saved with optimistic locking (`lock_version`): two tabs or
two designers saving over each other get a conflict, not a silent loss. Deploying a file
removes its draft (engine/bpmn/versions.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from lxml import etree
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..clock import now
from ..errors import Conflict, NotFound, ValidationFailed
from ..models import ProcessDraft, User
from ..permissions import require_designer
from .registry import latest_sources, process_files
from .validation import (
    CAMUNDA_NS,
    DEADLINE_CALL,
    LETTER_CALL,
    MAX_FILE_BYTES,
    load_xml,
)
from .versions import is_file_name


def check_file_name(name: str) -> str:
    if not is_file_name(name):
        raise ValidationFailed("invalid file name", {"file_name": [
            "a file name of letters, digits, '_', '-' and '.', ending in .bpmn or .dmn"]})
    return name


def check_xml(xml: object) -> str:
    if not isinstance(xml, str) or not xml.strip():
        raise ValidationFailed("no XML", {"xml": ["the file's XML text is required"]})
    if len(xml.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        raise ValidationFailed("file too large", {"xml": [
            f"the file may be at most {MAX_FILE_BYTES // (1024 * 1024)} MB"]})
    return xml


@dataclass
class DesignerFile:
    file_name: str
    xml: str
    draft: ProcessDraft | None  # None: the deployed text


_DECISION = re.compile(r"<(?:\w+:)?decision\b[^>]*\bid=\"([^\"]+)\"")
_CALLS = re.compile(r"""\b(?:calledElement|decisionRef)\s*=\s*["']([^"']+)["']""")


def new_files_named(session: Session, xml: str, deployed: dict[str, str]) -> dict[str, str]:
    """The drafts of new files (not deployed yet) that `xml` needs: the process a call
    activity calls or the decision a business rule task names, defined in no deployed file
    but in a draft. They are deployed with it (a new decision table has no version of its
    own until a process uses it)."""
    known = set(process_files(deployed))
    for text in deployed.values():
        known.update(_DECISION.findall(text))
    wanted = set(_CALLS.findall(xml)) - known
    found: dict[str, str] = {}
    if not wanted:
        return found
    for draft in session.scalars(select(ProcessDraft).where(
            ProcessDraft.file_name.not_in(list(deployed) or [""]))):
        defined = set(process_files({draft.file_name: draft.xml})) | set(
            _DECISION.findall(draft.xml))
        if defined & wanted:
            found[draft.file_name] = draft.xml
    return found


def list_files(session: Session, user: User) -> list[dict]:
    """Every deployed file and every draft: name, whether a draft exists and who saved it."""
    require_designer(user)
    drafts = {d.file_name: d for d in session.scalars(select(ProcessDraft))}
    names = sorted(set(latest_sources(session)) | set(drafts))
    return [{"file_name": name, "draft": drafts.get(name),
             "kind": "dmn" if name.endswith(".dmn") else "bpmn"} for name in names]


def open_file(session: Session, user: User, file_name: str, *, deployed: bool = False,
              sources: dict[str, str] | None = None) -> DesignerFile:
    """The draft of a file if there is one (unless `deployed`), else the deployed text.
    `sources`: the deployed files (latest_sources), when the caller has read them already."""
    require_designer(user)
    check_file_name(file_name)
    draft = None if deployed else session.scalar(
        select(ProcessDraft).where(ProcessDraft.file_name == file_name))
    if draft is not None:
        return DesignerFile(file_name, draft.xml, draft)
    text = (latest_sources(session) if sources is None else sources).get(file_name)
    if text is None:
        raise NotFound(f"no process file {file_name!r}")
    return DesignerFile(file_name, text, None)


def save_draft(session: Session, user: User, file_name: str, xml: str,
               lock_version: int | None) -> ProcessDraft:
    """Save a draft. `lock_version` is the version the designer's page holds (None for a
    file without a draft); another save in between gives Conflict."""
    require_designer(user)
    check_file_name(file_name)
    check_xml(xml)
    draft = session.scalar(select(ProcessDraft).where(ProcessDraft.file_name == file_name)
                           .with_for_update())
    moment = now()
    if draft is None:
        if lock_version not in (None, 0):
            raise Conflict("the draft was deployed or deleted meanwhile; reload the page",
                           current=None)
        draft = ProcessDraft(file_name=file_name, xml=xml, created_by=user.username,
                             updated_by=user.username, updated_at=moment)
        try:
            with session.begin_nested():
                session.add(draft)
                session.flush()
        except IntegrityError:
            raise Conflict("someone else saved a draft of this file meanwhile; reload the page",
                           current=None) from None
        return draft
    if lock_version != draft.lock_version:
        raise Conflict(f"{draft.updated_by} saved this draft meanwhile; reload the page",
                       current=draft.lock_version)
    draft.xml = xml
    draft.updated_by = user.username
    draft.updated_at = moment
    session.flush()  # the mapper counts lock_version up (ProcessDraft's version_id_col)
    return draft


def discard_draft(session: Session, user: User, file_name: str) -> None:
    require_designer(user)
    check_file_name(file_name)
    draft = session.scalar(select(ProcessDraft).where(ProcessDraft.file_name == file_name))
    if draft is None:
        raise NotFound(f"no draft of {file_name!r}")
    session.delete(draft)
    session.flush()


def parse_safely(xml: str):
    """The XML tree of a designer's file, with the validation's safety checks (size, no DTD
    or entities, well-formed), or ValidationFailed naming what is wrong."""
    tree, problems = load_xml("", xml)
    if tree is None:
        raise ValidationFailed("not safe, well-formed XML", {"xml": [problems[0].message]})
    return tree


def references(xml: str) -> dict[str, list[dict]]:
    """What each element of a BPMN file names: {element id: [{"kind": "form" | "letter" |
    "deadline" | "process", "key": ...}]}, from form keys, scripts, timers, conditions, due
    dates and the processes call activities call."""
    try:
        tree = parse_safely(xml)
    except ValidationFailed:
        return {}
    found: dict[str, list[dict]] = {}
    for element in tree.iter():
        if not isinstance(element.tag, str) or not element.get("id"):
            continue
        refs: list[tuple[str, str]] = []
        form_key = element.get(f"{{{CAMUNDA_NS}}}formKey")
        if form_key:
            refs.append(("form", form_key))
        if etree.QName(element).localname == "callActivity" and element.get("calledElement"):
            refs.append(("process", element.get("calledElement")))
        texts = [element.get(f"{{{CAMUNDA_NS}}}dueDate"),
                 element.get(f"{{{CAMUNDA_NS}}}followUpDate")]
        for child in element:
            if not isinstance(child.tag, str):
                continue
            local = etree.QName(child).localname
            if local in ("script", "conditionExpression"):
                texts.append(child.text)
            elif local == "timerEventDefinition":
                texts.extend(grand.text for grand in child if isinstance(grand.tag, str))
        for text in filter(None, texts):
            refs.extend(("letter", key) for key in LETTER_CALL.findall(text))
            refs.extend(("deadline", key) for key in DEADLINE_CALL.findall(text))
        if refs:
            found[element.get("id")] = [{"kind": kind, "key": key}
                                        for kind, key in dict.fromkeys(refs)]
    return found
