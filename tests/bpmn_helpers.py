"""Small BPMN documents for engine tests: Camunda namespace, executable processes, elements
joined by sequence flows. Only the tests import this module."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from xml.sax.saxutils import escape, quoteattr

NAMESPACES = ('xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
              'xmlns:camunda="http://camunda.org/schema/1.0/bpmn"')


def definitions(*processes: str, prolog: str = "") -> str:
    return (f'<?xml version="1.0" encoding="UTF-8"?>{prolog}\n'
            f'<bpmn:definitions {NAMESPACES} id="Definitions_test" '
            f'targetNamespace="http://sagsflow.dk/test">\n'
            + "\n".join(processes) + "\n</bpmn:definitions>\n")


def process(process_id: str, *elements: str, name: str | None = None,
            executable: bool = True) -> str:
    return (f'<bpmn:process id="{process_id}" name={quoteattr(name or process_id)} '
            f'isExecutable="{"true" if executable else "false"}">\n'
            + "\n".join(elements) + "\n</bpmn:process>")


def start(element_id: str = "start") -> str:
    return f'<bpmn:startEvent id="{element_id}" />'


def end(element_id: str = "end") -> str:
    return f'<bpmn:endEvent id="{element_id}" />'


def user_task(element_id: str, name: str | None = None, form: str | None = "godkend",
              groups: str | None = "sagsbehandler", **camunda: str) -> str:
    """camunda attributes by their Camunda names, e.g. dueDate="P2D", assignee="leder"."""
    attrs = {"formKey": form, "candidateGroups": groups, **camunda}
    rendered = " ".join(f"camunda:{k}={quoteattr(v)}" for k, v in attrs.items() if v is not None)
    return (f'<bpmn:userTask id="{element_id}" name={quoteattr(name or element_id)} '
            f"{rendered} />")


def script_task(element_id: str, script: str, name: str | None = None) -> str:
    return (f'<bpmn:scriptTask id="{element_id}" name={quoteattr(name or element_id)} '
            f'scriptFormat="python"><bpmn:script>{escape(script)}</bpmn:script>'
            "</bpmn:scriptTask>")


def gateway(element_id: str, name: str | None = None, default: str | None = None) -> str:
    default_attr = f' default="{default}"' if default else ""
    return (f'<bpmn:exclusiveGateway id="{element_id}" name={quoteattr(name or element_id)}'
            f"{default_attr} />")


def timer_event(element_id: str, expression: str, kind: str = "timeDuration") -> str:
    return (f'<bpmn:intermediateCatchEvent id="{element_id}" name="{element_id}">'
            f"<bpmn:timerEventDefinition><bpmn:{kind}>{escape(expression)}</bpmn:{kind}>"
            "</bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>")


def flow(source: str, target: str, condition: str | None = None,
         flow_id: str | None = None) -> str:
    flow_id = flow_id or f"f_{source}_{target}"
    if condition is None:
        return f'<bpmn:sequenceFlow id="{flow_id}" sourceRef="{source}" targetRef="{target}" />'
    return (f'<bpmn:sequenceFlow id="{flow_id}" sourceRef="{source}" targetRef="{target}">'
            f"<bpmn:conditionExpression>{escape(condition)}</bpmn:conditionExpression>"
            "</bpmn:sequenceFlow>")


def chain(*element_ids: str) -> list[str]:
    """Sequence flows from each element to the next."""
    return [flow(a, b) for a, b in pairwise(element_ids)]


def linear(process_id: str, *middle: tuple[str, str], name: str | None = None) -> str:
    """A whole document: start, the (id, xml) elements in order, end."""
    ids = ["start", *(element_id for element_id, _xml in middle), "end"]
    return definitions(process(process_id, start(), *(xml for _id, xml in middle), end(),
                               *chain(*ids), name=name))


def received_yesterday() -> datetime:
    return datetime.now(UTC) - timedelta(days=1)


CITIZEN = {"cpr": "0102031234", "name": "Emil Hansen"}
