"""Letters from case data: the rendering context, the Jinja environment, HTML and PDF.

Nothing is typed twice: the context is built from the case (citizen, caseworker, team, dates),
the data entered in its completed tasks and its deadlines. A template that needs a value the
case does not have fails with the list of what is missing, never with a blank in a letter."""

from __future__ import annotations

from contextvars import ContextVar
from datetime import date, datetime
from decimal import Decimal

from jinja2 import Environment, FileSystemLoader, TemplateSyntaxError, Undefined, select_autoescape
from markupsafe import Markup, escape
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..clock import LOCAL_TZ, local_date
from ..cpr import format_cpr
from ..errors import ValidationFailed
from ..models import AuditEvent, Case, CaseDeadline
from .catalogue import LetterCatalogue, LetterType

MONTHS = ("januar", "februar", "marts", "april", "maj", "juni", "juli", "august", "september",
          "oktober", "november", "december")


def _moment(value, what: str):
    """A date or datetime from a value of the case (a date, a datetime or an ISO string)."""
    if isinstance(value, _Missing):
        return value
    try:
        if isinstance(value, str):
            return datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
        if isinstance(value, date):
            return value
    except ValueError:
        pass
    raise ValidationFailed(f"the letter needs {what}, but the case has {value!r}",
                           {"letter": [f"{value!r} is not {what}"]})


def danish_date(value) -> str:
    value = _moment(value, "a date")
    if isinstance(value, _Missing):
        return str(value)
    if isinstance(value, datetime):
        value = value.astimezone(LOCAL_TZ).date() if value.tzinfo else value.date()
    return f"{value.day}. {MONTHS[value.month - 1]} {value.year}"


def clock(value) -> str:
    """The Danish time of day of a datetime ("kl. 14.30"), or nothing for a date."""
    value = _moment(value, "a date and time")
    if isinstance(value, _Missing):
        return str(value)
    if not isinstance(value, datetime):
        return ""
    local = value.astimezone(LOCAL_TZ) if value.tzinfo else value
    return f"kl. {local:%H.%M}"


def paragraphs(text) -> Markup:
    """Plain text as escaped paragraphs: no HTML or script from a caseworker gets through."""
    blocks = [b.strip() for b in str(text).replace("\r\n", "\n").split("\n\n") if b.strip()]
    return Markup("").join(
        Markup("<p>") + Markup("<br>").join(escape(line) for line in block.split("\n"))
        + Markup("</p>") for block in blocks)


def kroner(value) -> str:
    if isinstance(value, _Missing):
        return str(value)
    try:
        amount = Decimal(str(value)).quantize(Decimal("0.01"))
    except ArithmeticError:
        raise ValidationFailed(f"the letter needs an amount, but the case has {value!r}",
                               {"letter": [f"{value!r} is not an amount"]}) from None
    whole, _, cents = f"{amount:,.2f}".partition(".")
    return f"{whole.replace(',', '.')},{cents} kr."


_collected: ContextVar[list | None] = ContextVar("missing_letter_values", default=None)


class _Missing(Undefined):
    """A value the case does not have: remembered, printed as nothing; the rendering then
    fails with every missing name (see render_html)."""

    __slots__ = ()

    def _record(self):
        missing = _collected.get()
        if missing is not None:
            missing.append(self._undefined_name or "?")
        return ""

    def __str__(self):
        return self._record()

    def __iter__(self):
        self._record()
        return iter(())

    def __bool__(self):  # a test ({% if data.x %}) is not a use
        return False

    def __len__(self):
        self._record()
        return 0

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return type(self)(name=f"{self._undefined_name}.{name}")

    def __getitem__(self, key):
        return type(self)(name=f"{self._undefined_name}[{key!r}]")

    def _fail_with_undefined_error(self, *args, **kwargs):
        self._record()
        return ""

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __truediv__ = \
        __rtruediv__ = __floordiv__ = __rfloordiv__ = __mod__ = __rmod__ = __pos__ = \
        __neg__ = __call__ = __lt__ = __le__ = __gt__ = __ge__ = __int__ = __float__ = \
        __complex__ = __pow__ = __rpow__ = _fail_with_undefined_error


def make_environment(catalogue: LetterCatalogue) -> Environment:
    env = Environment(loader=FileSystemLoader(str(catalogue.folder)),
                      autoescape=select_autoescape(default=True, default_for_string=True),
                      undefined=_Missing, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(dato=danish_date, afsnit=paragraphs, kr=kroner, klokken=clock)
    return env


def _lookup(context: dict, path: str):
    value = context
    for part in path.split("."):
        if not isinstance(value, dict) or value.get(part) in (None, ""):
            return None
        value = value[part]
    return value


def missing_paths(context: dict, paths) -> list[str]:
    return [path for path in paths if _lookup(context, path) is None]


def case_context(session: Session, catalogue: LetterCatalogue, case: Case, moment: datetime,
                 recipient: dict | None = None) -> dict:
    """Everything a letter may print about the case (see letters/README.md)."""
    data: dict = {}
    for event in session.scalars(select(AuditEvent).where(
            AuditEvent.case_id == case.id, AuditEvent.kind == "task_completed")
            .order_by(AuditEvent.id)):
        data.update((event.data or {}).get("data") or {})
    data = _answered(data)
    deadlines = {row.key: {"titel": row.title, "forfald": local_date(row.due_at),
                           "hjemmel": row.legal_basis}
                 for row in session.scalars(select(CaseDeadline)
                                            .where(CaseDeadline.case_id == case.id))}
    citizen = {"navn": case.citizen.name, "cpr": format_cpr(case.citizen.cpr),
               "adresse": case.citizen.address}
    worker = case.caseworker
    return {
        "kommune": dict(catalogue.municipality),
        "sag": {"nummer": case.number, "modtaget": local_date(case.received_at),
                "proces": case.process_id, "team": case.team.name},
        "borger": citizen,
        "modtager": recipient or {**citizen, "rolle": "citizen"},
        "sagsbehandler": {"navn": worker.full_name if worker else None,
                          "email": worker.email if worker else None, "telefon": None},
        "dato": local_date(moment),
        "data": data,
        "frister": deadlines,
    }


def _answered(values: dict) -> dict:
    """An empty answer is no answer: a letter that prints it fails, naming it."""
    return {k: v for k, v in values.items() if v not in (None, "", [])}


def with_values(context: dict, values: dict | None) -> dict:
    """The case context with what the step that asked for the letter gave it read first under
    `data` (e.g. the one request for information the letter is for)."""
    if values:
        context["data"] = {**context["data"], **_answered(values)}
    return context


def render_html(env: Environment, letter: LetterType, context: dict) -> str:
    """The letter as HTML. Raises ValidationFailed naming every value the case lacks."""
    lacking = missing_paths(context, letter.requires)
    lacking += [f"tekst.{t.name}" for t in letter.texts
                if not str((context.get("tekst") or {}).get(t.name) or "").strip()]
    if lacking:
        raise ValidationFailed(
            f"letter {letter.key!r} needs data the case does not have: {', '.join(lacking)}",
            {path: ["missing"] for path in lacking})
    collected: list[str] = []
    token = _collected.set(collected)
    try:
        html = env.get_template(letter.template).render(context)
    except ValidationFailed:
        raise
    except Exception as exc:  # a value of the case the template cannot use
        raise ValidationFailed(
            f"letter {letter.key!r} cannot be made from the case's data: "
            f"{exc.__class__.__name__}: {exc}", {"letter": [str(exc)]}) from None
    finally:
        _collected.reset(token)
    missing = list(dict.fromkeys(collected))
    if missing:
        raise ValidationFailed(
            f"letter {letter.key!r} needs data the case does not have: {', '.join(missing)}",
            {name: ["missing"] for name in missing})
    return html


def letter_url_fetcher():
    """Letters may embed data: URIs (the logo) and nothing else: no files, no network."""
    from weasyprint.urls import URLFetcher

    return URLFetcher(allowed_protocols={"data"}, allow_redirects=False)


def render_pdf(html: str) -> bytes:
    from weasyprint import HTML

    return HTML(string=html, url_fetcher=letter_url_fetcher()).write_pdf()


__all__ = ["TemplateSyntaxError", "case_context", "danish_date", "make_environment",
           "missing_paths", "paragraphs", "render_html", "render_pdf"]
