"""The letter catalogue (`letters/letters.toml`) and the municipality's letterhead: data a
municipality edits, validated at start-up so that a wrong entry stops the start with a message
naming the letter and field."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from ..errors import NotFound, SagsflowError

CATALOGUE_FILE = "letters.toml"
LAYOUT = "_layout.html.j2"
KINDS = ("decision", "letter")
RECIPIENTS = ("citizen", "notifier", "provider", "other", "parties")
# The context's top-level names (see engine.letters.context).
CONTEXT_ROOTS = ("kommune", "sag", "borger", "modtager", "sagsbehandler", "dato", "data",
                 "frister", "brev", "tekst")
_KEY = re.compile(r"^[a-z][a-z0-9_]*$")
_PATH = re.compile(r"^[a-z_][a-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$")


class LetterCatalogueError(SagsflowError):
    status = 500


@dataclass(frozen=True)
class TextBlock:
    name: str
    title: str
    prefill: str | None = None


@dataclass(frozen=True)
class LetterType:
    key: str
    title: str
    kind: str
    template: str
    recipient: str
    legal_basis: str | None
    requires: tuple[str, ...]
    texts: tuple[TextBlock, ...]
    meets: str | None = None  # a deadline that issuing the letter meets (e.g. kvittering_6hd)
    recipient_name: str | None = None  # a context path naming the recipient (data.modtager)

    @property
    def is_decision(self) -> bool:
        return self.kind == "decision"


class LetterCatalogue:
    def __init__(self, folder: Path, entries: dict[str, LetterType], municipality: dict):
        self.folder = folder
        self._entries = MappingProxyType(entries)
        self.municipality = MappingProxyType(municipality)

    def __iter__(self):
        return iter(self._entries.values())

    def __contains__(self, key) -> bool:
        return key in self._entries

    def keys(self) -> list[str]:
        return list(self._entries)

    def get(self, key: str) -> LetterType:
        try:
            return self._entries[key]
        except (KeyError, TypeError):
            raise NotFound(f"no letter {key!r} in the letter catalogue "
                           f"(known: {', '.join(self._entries)})") from None


MUNICIPALITY_FIELDS = ("navn", "forvaltning", "adresse", "postnr_by", "telefon", "email", "web",
                       "logo")


def _context_path(path: str) -> bool:
    return bool(_PATH.match(path)) and path.split(".")[0] in CONTEXT_ROOTS


def _problem(where: str, message: str) -> LetterCatalogueError:
    return LetterCatalogueError(f"{where}: {message}")


def _text(raw: dict, name: str, where: str, required: bool = True) -> str | None:
    value = raw.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise _problem(where, f"{name}: must be a non-empty text")
    return value.strip()


def _entry(raw, folder: Path, source: str, index: int) -> LetterType:
    where = f"{source}: letter {raw.get('key', index)!r}" if isinstance(raw, dict) else \
        f"{source}: letter {index}"
    if not isinstance(raw, dict):
        raise _problem(where, "must be a table")
    unknown = set(raw) - {"key", "title", "kind", "template", "recipient", "legal_basis",
                          "requires", "texts", "meets", "recipient_name"}
    if unknown:
        raise _problem(where, f"unknown field(s) {', '.join(sorted(unknown))}")
    key = _text(raw, "key", where)
    if not _KEY.match(key):
        raise _problem(where, "key: use lower-case letters, digits and _ only")
    kind = raw.get("kind")
    if kind not in KINDS:
        raise _problem(where, f"kind: must be one of {', '.join(KINDS)}, got {kind!r}")
    recipient = raw.get("recipient", "citizen")
    if recipient not in RECIPIENTS:
        raise _problem(where, f"recipient: must be one of {', '.join(RECIPIENTS)}, "
                              f"got {recipient!r}")
    template = _text(raw, "template", where)
    if "/" in template or "\\" in template or template.startswith("."):
        raise _problem(where, "template: a file name in the letters folder")
    if not (folder / template).is_file():
        raise _problem(where, f"template: {template} does not exist in {folder}")
    requires = raw.get("requires", [])
    if not isinstance(requires, list) or not all(isinstance(p, str) for p in requires):
        raise _problem(where, "requires: must be a list of dotted paths such as data.ydelse")
    for path in requires:
        if not _context_path(path):
            raise _problem(where, f"requires: {path!r} is not a path into the letter context "
                                  f"({', '.join(CONTEXT_ROOTS)})")
    recipient_name = _text(raw, "recipient_name", where, required=False)
    if recipient_name is not None and not _context_path(recipient_name):
        raise _problem(where, f"recipient_name: {recipient_name!r} is not a path into the "
                              "context")
    texts = []
    for i, block in enumerate(raw.get("texts", []) or []):
        block_where = f"{where}: texts[{i}]"
        if not isinstance(block, dict) or set(block) - {"name", "title", "prefill"}:
            raise _problem(block_where, "must be { name, title, prefill }")
        name = _text(block, "name", block_where)
        if not _KEY.match(name):
            raise _problem(block_where, "name: use lower-case letters, digits and _ only")
        prefill = _text(block, "prefill", block_where, required=False)
        if prefill is not None and not _context_path(prefill):
            raise _problem(block_where, f"prefill: {prefill!r} is not a path into the context")
        texts.append(TextBlock(name, _text(block, "title", block_where), prefill))
    if len({t.name for t in texts}) != len(texts):
        raise _problem(where, "texts: two blocks with the same name")
    return LetterType(key=key, title=_text(raw, "title", where), kind=kind, template=template,
                      recipient=recipient,
                      legal_basis=_text(raw, "legal_basis", where, required=False),
                      requires=tuple(requires), texts=tuple(texts),
                      meets=_text(raw, "meets", where, required=False),
                      recipient_name=recipient_name)


def load_letters(folder: Path | str, municipality_file: str | None = None) -> LetterCatalogue:
    """The catalogue of `folder`/letters.toml with the letterhead: `municipality_file` (a TOML
    file with a [kommune] table) over the shipped `folder`/kommune.toml."""
    folder = Path(folder)
    source = str(folder / CATALOGUE_FILE)
    try:
        raw = tomllib.loads((folder / CATALOGUE_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LetterCatalogueError(f"{source}: the letter catalogue is missing") from None
    except tomllib.TOMLDecodeError as exc:
        raise LetterCatalogueError(f"{source}: not valid TOML: {exc}") from None
    if not (folder / LAYOUT).is_file():
        raise LetterCatalogueError(f"{folder / LAYOUT}: the shared layout is missing")
    entries: dict[str, LetterType] = {}
    for i, item in enumerate(raw.get("letter", [])):
        entry = _entry(item, folder, source, i)
        if entry.key in entries:
            raise _problem(f"{source}: letter {entry.key!r}", "key: used twice")
        entries[entry.key] = entry
    municipality = {name: None for name in MUNICIPALITY_FIELDS}
    for path in (folder / "kommune.toml", Path(municipality_file) if municipality_file else None):
        if path is None:
            continue
        try:
            table = tomllib.loads(path.read_text(encoding="utf-8")).get("kommune", {})
        except FileNotFoundError:
            raise LetterCatalogueError(f"{path}: the municipality file is missing") from None
        except tomllib.TOMLDecodeError as exc:
            raise LetterCatalogueError(f"{path}: not valid TOML: {exc}") from None
        unknown = set(table) - set(MUNICIPALITY_FIELDS)
        if unknown:
            raise LetterCatalogueError(f"{path}: [kommune] has unknown field(s) "
                                       f"{', '.join(sorted(unknown))}")
        municipality.update(table)
    if not municipality["navn"]:
        raise LetterCatalogueError(f"{folder / 'kommune.toml'}: [kommune] navn is missing")
    return LetterCatalogue(folder, entries, municipality)
