"""Letters of a case: prepare a draft (by a caseworker, a process step or a breached
deadline), edit its free-text blocks, preview it, issue it as an immutable PDF, correct it with a
new letter, and send it through the outbox."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .. import audit
from ..clock import now
from ..db import claim_next
from ..errors import Conflict, NotFound, ValidationFailed
from ..models import Case, Letter, OutboxItem, User
from ..permissions import require_can_act_on_case, require_case_access, visible_team_ids
from .catalogue import LetterCatalogue, LetterType
from .delivery import Delivery, DeliveryFailed, Outgoing
from .render import (
    _lookup,
    case_context,
    make_environment,
    render_html,
    render_pdf,
    with_values,
)

DRAFT, ISSUED = "draft", "issued"
QUEUED, SENT, FAILED = "queued", "sent", "failed"
MAX_ATTEMPTS = 10
MAX_TEXT = 20000


def backoff(attempts: int) -> timedelta:
    """1, 2, 4 … minutes after each failed attempt, at most 6 hours."""
    return min(timedelta(minutes=2 ** (attempts - 1)), timedelta(hours=6))


class Letters:
    def __init__(self, catalogue: LetterCatalogue, delivery: Delivery | None = None):
        self.catalogue = catalogue
        self.env = make_environment(catalogue)
        self.delivery = delivery
        # Called with (session, user, letter) when a letter is issued, in its transaction
        # (the casework meets the deadline the letter answers).
        self.issued_hooks: list = []

    # -- drafts ----------------------------------------------------------------------------

    def _case(self, session: Session, user: User, case_id: int) -> Case:
        case = session.get(Case, case_id)
        if case is None:
            raise NotFound(f"no case with id {case_id}")
        require_case_access(user, case)
        return case

    def _letter(self, session: Session, user: User, letter_id: int) -> Letter:
        letter = session.get(Letter, letter_id)
        if letter is None:
            raise NotFound(f"no letter with id {letter_id}")
        require_case_access(user, letter.case)
        return letter

    @staticmethod
    def _recipient(letter: LetterType, context: dict, given: dict | None) -> dict:
        role = (given or {}).get("rolle") or letter.recipient
        if given and given.get("navn"):
            return {"navn": given["navn"], "adresse": given.get("adresse"),
                    "email": given.get("email"), "rolle": role}
        if role == "citizen":
            return {**context["borger"], "email": None, "rolle": role}
        # Someone else: the name the case has for them (letters.toml recipient_name, e.g. the
        # school asked for information), if any; else the caseworker names them.
        named = _lookup(context, letter.recipient_name) if letter.recipient_name else None
        return {"navn": _as_text(named) or None, "adresse": None, "email": None, "rolle": role}

    def prepare(self, session: Session, case: Case, key: str, origin: str,
                actor: User | None = None, recipient: dict | None = None,
                texts: dict | None = None, corrects: Letter | None = None,
                values: dict | None = None) -> Letter:
        """A draft of letter `key` for the case, its free-text blocks pre-filled from the case
        (and from `values`, what the step that asked for it gave)."""
        letter_type = self.catalogue.get(key)
        moment = now()
        context = with_values(case_context(session, self.catalogue, case, moment), values)
        prefilled = {block.name: _as_text(_lookup(context, block.prefill))
                     if block.prefill else "" for block in letter_type.texts}
        prefilled.update(self._checked_texts(letter_type, texts))
        draft = Letter(case_id=case.id, case=case, key=key, title=letter_type.title,
                       kind=letter_type.kind, state=DRAFT,
                       recipient=self._recipient(letter_type, context, recipient),
                       texts=prefilled, values=values or None, origin=origin,
                       created_at=moment,
                       created_by_id=actor.id if actor else None,
                       corrects_id=corrects.id if corrects else None)
        session.add(draft)
        session.flush()
        audit.record(session, case.id, "letter_prepared", actor, letter=key,
                     letter_id=draft.id, origin=origin)
        return draft

    @staticmethod
    def _checked_texts(letter_type: LetterType, texts: dict | None) -> dict:
        if not texts:
            return {}
        declared = {t.name for t in letter_type.texts}
        problems = {}
        for name, value in texts.items():
            if name not in declared:
                problems[f"texts.{name}"] = [
                    f"{letter_type.key} has no text block {name!r} "
                    f"(blocks: {', '.join(sorted(declared)) or 'none'})"]
            elif not isinstance(value, str):
                problems[f"texts.{name}"] = ["must be text"]
            elif len(value) > MAX_TEXT:
                problems[f"texts.{name}"] = [f"at most {MAX_TEXT} characters"]
        if problems:
            raise ValidationFailed("cannot use these texts", problems)
        return dict(texts)

    @staticmethod
    def _checked_values(letter_type: LetterType, values: dict) -> dict:
        """Values a draft needs that nothing on the case holds (e.g. the expected decision date
        of forventet_afgoerelsestidspunkt): only those the letter requires (`data.*`), as
        text."""
        allowed = {path.split(".", 1)[1] for path in letter_type.requires
                   if path.startswith("data.")}
        fields = {}
        for name, value in values.items():
            if name not in allowed:
                fields[f"values.{name}"] = [
                    "not a value this letter takes (it takes: "
                    + (", ".join(sorted(allowed)) or "none") + ")"]
            elif not isinstance(value, str) or not value.strip() or len(value) > 2000:
                fields[f"values.{name}"] = ["must be text of 1 to 2000 characters"]
        if fields:
            raise ValidationFailed(f"invalid values for letter {letter_type.key}", fields)
        return {name: value.strip() for name, value in values.items()}

    def create_draft(self, session: Session, user: User, case_id: int, key: str,
                     recipient: dict | None = None, texts: dict | None = None) -> Letter:
        case = self._case(session, user, case_id)
        require_can_act_on_case(user, case)
        if case.status == "closed":
            raise Conflict(f"case {case.number} is closed; reopen it first")
        return self.prepare(session, case, key, "caseworker", user, recipient, texts)

    def update_draft(self, session: Session, user: User, letter_id: int,
                     texts: dict | None = None, recipient: dict | None = None,
                     values: dict | None = None) -> Letter:
        letter = self._letter(session, user, letter_id)
        require_can_act_on_case(user, letter.case)
        if letter.state != DRAFT:
            raise Conflict(f"letter {letter.id} is issued and can no longer change; "
                           "correct it with a new letter")
        letter_type = self.catalogue.get(letter.key)
        if texts is not None:
            letter.texts = {**letter.texts, **self._checked_texts(letter_type, texts)}
        if recipient is not None:  # only what was given changes
            letter.recipient = {**letter.recipient,
                                **{k: v for k, v in recipient.items() if v is not None}}
        if values is not None:
            letter.values = {**(letter.values or {}), **self._checked_values(letter_type, values)}
        audit.record(session, letter.case_id, "letter_edited", user, letter=letter.key,
                     letter_id=letter.id)
        return letter

    # -- rendering and issuing -------------------------------------------------------------

    def _context(self, session: Session, letter: Letter, moment: datetime,
                 version: int | None) -> dict:
        letter_type = self.catalogue.get(letter.key)
        context = with_values(case_context(session, self.catalogue, letter.case, moment,
                                           letter.recipient), letter.values)
        corrected = session.get(Letter, letter.corrects_id) if letter.corrects_id else None
        context["brev"] = {"titel": letter.title, "noegle": letter.key,
                           "hjemmel": letter_type.legal_basis, "version": version,
                           "retter": corrected.id if corrected else None}
        context["tekst"] = dict(letter.texts)
        return context

    def _render(self, session: Session, letter: Letter, moment: datetime,
                version: int | None) -> tuple[str, dict]:
        context = self._context(session, letter, moment, version)
        letter_type = self.catalogue.get(letter.key)
        if not (letter.recipient or {}).get("navn"):
            raise ValidationFailed(f"letter {letter.key!r} needs data the case does not have: "
                                   "modtager.navn (give the recipient)",
                                   {"recipient.navn": ["missing"]})
        return render_html(self.env, letter_type, context), context

    def preview(self, session: Session, user: User, letter_id: int) -> str:
        letter = self._letter(session, user, letter_id)
        audit.log_access(session, user, letter.case_id, "preview_letter")
        if letter.state == ISSUED:
            return letter.html
        html, _ = self._render(session, letter, now(), None)
        return html

    def issue(self, session: Session, user: User, letter_id: int) -> Letter:
        """Render the draft once more, make the PDF and keep both for good, with the data they
        came from; the letter goes to the outbox."""
        letter = self._letter(session, user, letter_id)
        require_can_act_on_case(user, letter.case)
        # Two clicks on "issue" at once: the second waits here, then sees the letter issued.
        session.execute(select(Letter.id).where(Letter.id == letter.id).with_for_update())
        session.refresh(letter)
        if letter.state != DRAFT:
            raise Conflict(f"letter {letter.id} is already issued; correct it with a new letter")
        moment = now()
        version = (session.scalar(select(func.count()).select_from(Letter).where(
            Letter.case_id == letter.case_id, Letter.key == letter.key,
            Letter.state == ISSUED)) or 0) + 1
        html, context = self._render(session, letter, moment, version)
        pdf = render_pdf(html)
        letter.state, letter.version = ISSUED, version
        letter.issued_at, letter.issued_by_id, letter.issued_by = moment, user.id, user
        letter.html, letter.pdf = html, pdf
        letter.sha256 = hashlib.sha256(pdf).hexdigest()
        letter.context = _jsonable(context)
        session.add(OutboxItem(letter_id=letter.id, letter=letter,
                               channel=self.delivery.name if self.delivery else "none",
                               status=QUEUED, attempts=0, next_attempt_at=moment,
                               created_at=moment))
        audit.record(session, letter.case_id, "letter_issued", user, letter=letter.key,
                     letter_id=letter.id, version=version, sha256=letter.sha256,
                     corrects=letter.corrects_id)
        session.flush()
        for hook in self.issued_hooks:
            hook(session, user, letter)
        return letter

    def correct(self, session: Session, user: User, letter_id: int) -> Letter:
        """A new draft that corrects an issued letter (the issued one stays as it was)."""
        old = self._letter(session, user, letter_id)
        require_can_act_on_case(user, old.case)
        if old.state != ISSUED:
            raise Conflict(f"letter {old.id} is a draft: edit it instead")
        return self.prepare(session, old.case, old.key, "caseworker", user,
                            old.recipient, dict(old.texts), corrects=old,
                            values=old.values)

    # -- reading ---------------------------------------------------------------------------

    def list_letters(self, session: Session, user: User, case_id: int) -> list[Letter]:
        case = self._case(session, user, case_id)
        audit.log_access(session, user, case.id, "list_letters")
        return list(session.scalars(select(Letter).where(Letter.case_id == case.id)
                                    .order_by(Letter.id)))

    def get(self, session: Session, user: User, letter_id: int) -> Letter:
        letter = self._letter(session, user, letter_id)
        audit.log_access(session, user, letter.case_id, "view_letter")
        return letter

    def pdf(self, session: Session, user: User, letter_id: int) -> Letter:
        letter = self.get(session, user, letter_id)
        if letter.state != ISSUED:
            raise Conflict(f"letter {letter.id} is a draft: preview it, or issue it first")
        return letter

    # -- the outbox ------------------------------------------------------------------------

    def outbox(self, session: Session, user: User, status: str | None = None) -> list:
        teams = visible_team_ids(user)
        query = select(OutboxItem).join(Letter).join(Case)
        if teams is not None:
            query = query.where(Case.team_id.in_(teams or {-1}))
        if status is not None:
            query = query.where(OutboxItem.status == status)
        items = list(session.scalars(query.order_by(OutboxItem.id.desc()).limit(500)))
        audit.log_list_access(session, user, [i.letter.case_id for i in items], "outbox")
        return items

    def retry_delivery(self, session: Session, user: User, letter_id: int) -> Letter:
        letter = self._letter(session, user, letter_id)
        require_can_act_on_case(user, letter.case)
        item = session.scalar(select(OutboxItem).where(OutboxItem.letter_id == letter.id)
                              .with_for_update())  # not while the scheduler is sending it
        if item is None or item.status == SENT:
            raise Conflict(f"letter {letter.id} is not waiting to be sent")
        item.status, item.next_attempt_at = QUEUED, now()
        audit.record(session, letter.case_id, "letter_delivery_retried", user,
                     letter_id=letter.id)
        return letter

    def send_next(self, session: Session, skip=(), claimed: list | None = None) -> bool:
        """Claim the next letter due to go out and hand it to the delivery adapter (the
        scheduler's outbox queue; see Casework.fire_next_due for `skip` and `claimed`)."""
        if self.delivery is None:
            return False
        item = session.scalars(claim_next(
            session, select(OutboxItem).where(OutboxItem.status.in_((QUEUED, FAILED)),
                                              OutboxItem.next_attempt_at <= now()),
            of=OutboxItem,
            condition=OutboxItem.id.not_in(sorted(skip)) if skip else None,
            order_by=OutboxItem.next_attempt_at)).first()
        if item is None:
            return False
        if claimed is not None:
            claimed.append(item.id)
        letter = session.get(Letter, item.letter_id)
        outgoing = Outgoing(letter_id=letter.id, case_number=letter.case.number,
                            title=letter.title, version=letter.version,
                            recipient_name=letter.recipient.get("navn") or "",
                            recipient_address=letter.recipient.get("adresse"),
                            recipient_email=letter.recipient.get("email"),
                            sha256=letter.sha256, pdf=letter.pdf)
        item.attempts += 1
        moment = now()
        try:
            self.delivery.deliver(outgoing)
        except DeliveryFailed as exc:
            item.status, item.last_error = FAILED, str(exc)
            item.next_attempt_at = (moment + backoff(item.attempts)
                                    if item.attempts < MAX_ATTEMPTS else None)
            audit.record(session, letter.case_id, "letter_delivery_failed", None,
                         letter_id=letter.id, attempt=item.attempts, reason=str(exc),
                         next_attempt_at=item.next_attempt_at.isoformat()
                         if item.next_attempt_at else None)
            return True
        item.status, item.sent_at, item.next_attempt_at = SENT, moment, None
        audit.record(session, letter.case_id, "letter_sent", None, letter_id=letter.id,
                     channel=item.channel, attempt=item.attempts)
        return True


def mark_failed(session: Session, item_id: int, message: str) -> None:
    """A letter the delivery adapter broke on (not a DeliveryFailed): failed, retried later."""
    item = session.get(OutboxItem, item_id)
    if item is None:
        return
    item.attempts += 1  # the attempt itself was rolled back with the failure
    item.status, item.last_error = FAILED, f"delivery broke: {message}"
    item.next_attempt_at = (now() + backoff(item.attempts)
                            if item.attempts < MAX_ATTEMPTS else None)
    audit.record(session, item.letter.case_id, "letter_delivery_failed", None,
                 letter_id=item.letter_id, attempt=item.attempts, reason=item.last_error)


def _as_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return "\n".join(str(v) for v in value)
    return str(value)


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def check_breach_letters(deadlines, catalogue: LetterCatalogue) -> None:
    """Every letter a deadline's breach prepares exists in the letter catalogue, and every
    deadline a letter meets exists in the deadline catalogue."""
    from .catalogue import LetterCatalogueError

    for letter in catalogue:
        if letter.meets and deadlines is not None and letter.meets not in deadlines:
            raise LetterCatalogueError(
                f"letters/letters.toml: letter {letter.key!r}: meets: no deadline "
                f"{letter.meets!r} in processes/deadlines.toml")
    for entry in deadlines or ():
        for action in entry.on_breach:
            if action.action == "letter" and action.params["letter"] not in catalogue:
                raise LetterCatalogueError(
                    f"processes/deadlines.toml: deadline {entry.key!r}: on_breach letter "
                    f"{action.params['letter']!r} is not in letters/letters.toml")
