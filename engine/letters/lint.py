"""`sagsflow letters lint`: the rules every letter must keep, checked on the templates' syntax
trees before anything is sent.

- Every template parses (Jinja syntax).
- Every letter shows its recipient, date, case number and the caseworker's contact: the shared
  layout prints them and every letter extends it (or prints them itself).
- Every decision (kind = "decision") has its legal basis (block `hjemmel`), reasons (block
  `begrundelse`: FVL §§ 22, 24) and complaint guidance (block `klagevejledning`: FVL § 25),
  each with content.
- Every free-text block a template prints is declared in the catalogue, and the other way round.
- Nothing turns escaping off (`|safe`, `{% autoescape false %}`): case data and free text are
  always escaped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment, TemplateSyntaxError, nodes

from .catalogue import LAYOUT, LetterCatalogueError, load_letters

DECISION_BLOCKS = {
    "hjemmel": "the legal basis (hjemmel)",
    "begrundelse": "the reasons (begrundelse, Forvaltningsloven §§ 22 and 24)",
    "klagevejledning": "the complaint guidance (klagevejledning, Forvaltningsloven § 25)",
}
EVERY_LETTER = {
    "modtager": "the recipient (modtager)",
    "dato": "the date (dato)",
    "sag.nummer": "the case number (sag.nummer)",
    "sagsbehandler": "the caseworker's contact (sagsbehandler)",
}


@dataclass(frozen=True)
class Problem:
    file: str
    line: int
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.rule}: {self.message}"


def _references(tree) -> set[str]:
    """Names and one-level attributes the template reads: {"sag", "sag.nummer", …}."""
    found = {n.name for n in tree.find_all(nodes.Name) if n.ctx == "load"}
    for node in tree.find_all(nodes.Getattr):
        if isinstance(node.node, nodes.Name):
            found.add(f"{node.node.name}.{node.attr}")
    return found


def _has_output(block: nodes.Block) -> bool:
    if any(True for _ in block.find_all(nodes.Include)):
        return True  # a shared text, such as _klagevejledning.html.j2
    for node in block.find_all(nodes.Output):
        for child in node.nodes:
            if not isinstance(child, nodes.TemplateData) or child.data.strip():
                return True
    return False


def lint(folder: Path | str) -> list[Problem]:
    folder = Path(folder)
    env = Environment()
    problems: list[Problem] = []
    trees = {}
    for path in sorted(folder.glob("*.j2")):
        try:
            trees[path.name] = env.parse(path.read_text(encoding="utf-8"), path.name,
                                         str(path))
        except TemplateSyntaxError as exc:
            problems.append(Problem(path.name, exc.lineno or 0, "syntax", exc.message or ""))
        except UnicodeDecodeError as exc:
            problems.append(Problem(path.name, 0, "encoding", f"not UTF-8 text: {exc}"))
    try:
        catalogue = load_letters(folder)
    except LetterCatalogueError as exc:
        problems.append(Problem("letters.toml", 0, "catalogue", exc.message))
        return problems
    layout = trees.get(LAYOUT)
    layout_refs = _references(layout) if layout is not None else set()
    if layout is not None:
        for ref, what in EVERY_LETTER.items():
            if ref not in layout_refs:
                problems.append(Problem(LAYOUT, 1, "every-letter",
                                        f"the layout does not print {what}"))
    for letter in catalogue:
        tree = trees.get(letter.template)
        if tree is None:
            continue  # a syntax error, reported above
        extends = [n for n in tree.find_all(nodes.Extends)
                   if isinstance(n.template, nodes.Const)]
        refs = _references(tree)
        if not any(n.template.value == LAYOUT for n in extends):
            for ref, what in EVERY_LETTER.items():
                if ref not in refs:
                    problems.append(Problem(letter.template, 1, "every-letter",
                                            f"neither extends {LAYOUT} nor prints {what}"))
        else:
            refs |= layout_refs
        blocks = {b.name: b for b in tree.find_all(nodes.Block)}
        if letter.is_decision:
            for name, what in DECISION_BLOCKS.items():
                block = blocks.get(name)
                if block is None:
                    problems.append(Problem(letter.template, 1, "decision",
                                            f"a decision needs {what}: "
                                            f"add {{% block {name} %}}…{{% endblock %}}"))
                elif not _has_output(block):
                    problems.append(Problem(letter.template, block.lineno, "decision",
                                            f"block {name} is empty: a decision needs {what}"))
        for node in tree.find_all(nodes.Filter):
            if node.name == "safe":
                problems.append(Problem(letter.template, node.lineno, "escaping",
                                        "|safe prints case data unescaped: leave it out"))
        for node in tree.find_all(nodes.ScopedEvalContextModifier):
            problems.append(Problem(letter.template, node.lineno, "escaping",
                                    "{% autoescape %} blocks are not allowed in letters"))
        declared = {t.name for t in letter.texts}
        used = {ref.split(".", 1)[1] for ref in refs if ref.startswith("tekst.")}
        for name in sorted(used - declared):
            line = next((n.lineno for n in tree.find_all(nodes.Getattr)
                         if isinstance(n.node, nodes.Name) and n.node.name == "tekst"
                         and n.attr == name), 1)
            problems.append(Problem(letter.template, line, "texts",
                                    f"prints tekst.{name}, which letters.toml does not declare "
                                    f"for {letter.key}"))
        for name in sorted(declared - used):
            problems.append(Problem(letter.template, 1, "texts",
                                    f"letters.toml declares the text block {name!r} for "
                                    f"{letter.key}, but the template never prints it"))
    return problems
