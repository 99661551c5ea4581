"""Named checks a form asks for with `"x-checks": [...]`: rules that need what the case already
knows, beyond what JSON Schema can say about one submission. Each check takes the submitted
data, the task's data (`known`) and the messages that arrived on the case (name -> list of their
data) and returns field path -> problems; an empty dict passes.

The forms name them; the rules themselves are law, not layout, so they live here with tests."""

from __future__ import annotations

from collections import Counter
from datetime import date

from .clock import LOCAL_TZ, now


def age_on(birth: str | None, day: date | None = None) -> int | None:
    """Whole years from an ISO birth date to `day` (today in Copenhagen by default)."""
    if not birth:
        return None
    born = date.fromisoformat(birth)
    day = day or now().astimezone(LOCAL_TZ).date()
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def _person(name) -> str:
    return str(name or "").strip().casefold()


def _withdrawn(messages: dict) -> set[str]:
    """Parties whose consent was withdrawn (the message samtykke_tilbagekaldt on the case)."""
    return {_person(m.get("part")) for m in messages.get("samtykke_tilbagekaldt", [])}


def consent_from_every_party(submitted: dict, known: dict, messages: dict) -> dict:
    """Consent is asked of each custody holder, and of the young person from 15 (Barnets lov;
    Retssikkerhedsloven § 11 c): each must have an answer, given or refused."""
    answered = {_person(c.get("part")) for c in submitted.get("samtykker") or []}
    parties = [str(p.get("navn", "")).strip() for p in known.get("foraeldremyndighed") or []]
    age = age_on(known.get("borger_foedselsdato"))
    if age is not None and age >= 15:
        parties.append(str(known.get("borger_navn", "")).strip())
    missing = [p for p in parties if p and _person(p) not in answered]
    if missing:
        return {"samtykker": [f"no answer recorded from {', '.join(missing)} (each custody "
                              "holder, and the young person from 15, is asked)"]}
    return {}


def consent_covers_requests(submitted: dict, known: dict, messages: dict) -> dict:
    """A request for information needs a basis: the consent of every party that covers its
    recipient (and was not withdrawn), the children and youth committee's decision, or a
    legal basis named in the request. Asking the same recipient type for the same data twice
    is more than the purpose requires."""
    problems: dict[str, list[str]] = {}
    consents = known.get("samtykker") or []
    withdrawn = _withdrawn(messages)
    seen: set[tuple[str, str]] = set()
    for index, request in enumerate(submitted.get("anmodninger") or []):
        basis, kind = request.get("grundlag"), request.get("modtager_type")
        where = f"anmodninger.{index}.grundlag"
        if basis == "samtykke":
            if not consents:
                problems.setdefault(where, []).append(
                    "no consent is recorded on the case: choose another legal basis")
            lacking = [str(c.get("part")) for c in consents
                       if not c.get("givet") or _person(c.get("part")) in withdrawn
                       or kind not in (c.get("omfang") or [])]
            if lacking:
                problems.setdefault(where, []).append(
                    f"the consent of {', '.join(lacking)} does not cover {kind} (refused, "
                    "withdrawn or outside its scope): choose another legal basis or leave the "
                    "request out")
        elif basis == "udvalg" and known.get("udvalg_beslutning") != "tilladt":
            problems.setdefault(where, []).append(
                "the children and youth committee has not decided that information may be "
                "gathered without consent")
        for need in request.get("behov") or []:
            if (kind, need) in seen:
                problems.setdefault(f"anmodninger.{index}.behov", []).append(
                    f"{need} is already asked of {kind} in this case: ask once")
            seen.add((kind, need))
    return problems


def every_goal_followed_up(submitted: dict, known: dict, messages: dict) -> dict:
    """A follow-up goes goal by goal: every goal of the decision (as the step pre-filled them)
    is assessed, once, and none is added (new goals come with a new decision)."""
    expected = Counter(str(g.get("maal", "")).strip() for g in known.get("maal_vurdering") or [])
    given = Counter(str(g.get("maal", "")).strip() for g in submitted.get("maal_vurdering") or [])
    problems = []
    missing = expected - given
    if missing:
        problems.append("no assessment of the goal(s) " + "; ".join(f"'{g}'" for g in missing))
    added = given - expected
    if added:
        problems.append("not a goal of the decision, or assessed twice: "
                        + "; ".join(f"'{g}'" for g in added)
                        + " (new goals come with a new decision: answer that the intervention "
                          "must change)")
    return {"maal_vurdering": problems} if problems else {}


def interval_within_the_law(submitted: dict, known: dict, messages: dict) -> dict:
    """The next follow-up comes no later than the law allows: the longest interval and its
    legal basis come from the decision table the follow-up module asks
    (processes/opfoelgningsinterval.dmn: laengste_opfoelgning_maaneder, opfoelgning_hjemmel)."""
    months, longest = (submitted.get("naeste_opfoelgning_maaneder"),
                       known.get("laengste_opfoelgning_maaneder"))
    if months is not None and longest is not None and months > longest:
        return {"naeste_opfoelgning_maaneder": [
            f"at most {longest} months ({known.get('opfoelgning_hjemmel') or 'the law'})"]}
    return {}


def period_in_order(submitted: dict, known: dict, messages: dict) -> dict:
    """A granted period ends on or after the day it begins."""
    start, end = submitted.get("periode_fra"), submitted.get("periode_til")
    if start and end and end < start:  # ISO dates compare as text
        return {"periode_til": [f"ends before the period begins ({start})"]}
    return {}


CHECKS = {
    "interval_efter_loven": interval_within_the_law,
    "periode_i_orden": period_in_order,
    "alle_maal_fulgt_op": every_goal_followed_up,
    "samtykke_fra_alle_parter": consent_from_every_party,
    "samtykke_daekker_anmodninger": consent_covers_requests,
}
