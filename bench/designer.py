"""`python -m bench.designer`: validating and deploying a 100-element process, as the process
designer's "Validér" and "Udrul" do (engine.bpmn.validation.validate_sources and
engine.bpmn.versions.deploy_sources), on SQLite in a fresh instance folder.

The process is generated: a start event, 19 blocks of (user task with a form, script task,
exclusive split with a condition, a user task on one branch, the merge), a timer, two more
script tasks and an end event: 100 flow nodes (and 118 sequence flows), with diagram shapes and
edges as bpmn-js writes them. Each round changes the process's name, so that every deployment
is a new version. Validation is measured for the file alone and together with the shipped files
(what the designer page does: call activities and decision tables resolve against them)."""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from bench.stats import summarize

ROOT = Path(__file__).resolve().parent.parent
BLOCKS = 19


def hundred_element_process(name: str) -> str:
    """A BPMN file with 100 flow nodes that passes every casework rule."""
    nodes: list[tuple[str, str]] = []  # (id, XML) in order
    flows: list[tuple[str, str, str, str | None]] = []  # (id, source, target, condition)
    shapes: dict[str, tuple[int, int, int, int]] = {}

    def node(node_id: str, xml: str, x: int, y: int, w: int = 100, h: int = 80) -> None:
        nodes.append((node_id, xml))
        shapes[node_id] = (x, y, w, h)

    def flow(source: str, target: str, condition: str | None = None) -> str:
        flow_id = f"f{len(flows) + 1}"
        flows.append((flow_id, source, target, condition))
        return flow_id

    x = 0
    node("start", '<bpmn:startEvent id="start" name="Start">{io}</bpmn:startEvent>', x, 100, 36, 36)
    previous = "start"
    for i in range(1, BLOCKS + 1):
        x += 150
        node(f"opgave_{i}", f'<bpmn:userTask id="opgave_{i}" name="Opgave {i}" '
             f'camunda:formKey="sel85_henvendelse" camunda:candidateGroups="sagsbehandler" '
             f'camunda:dueDate="P3D">{{io}}</bpmn:userTask>', x, 80)
        flow(previous, f"opgave_{i}")
        x += 150
        node(f"script_{i}", f'<bpmn:scriptTask id="script_{i}" name="Beregn {i}" '
             f'scriptFormat="python">{{io}}<bpmn:script>trin_{i} = {i} * 2</bpmn:script>'
             f'</bpmn:scriptTask>', x, 80)
        flow(f"opgave_{i}", f"script_{i}")
        x += 150
        node(f"valg_{i}", f'<bpmn:exclusiveGateway id="valg_{i}" name="Valg {i}?" '
             f'default="{{default}}">{{io}}</bpmn:exclusiveGateway>', x, 95, 50, 50)
        flow(f"script_{i}", f"valg_{i}")
        x += 150
        node(f"gren_{i}", f'<bpmn:userTask id="gren_{i}" name="Gren {i}" '
             f'camunda:formKey="sel85_henvendelse" camunda:candidateGroups="sagsbehandler">'
             f'{{io}}</bpmn:userTask>', x, 200)
        flow(f"valg_{i}", f"gren_{i}", f"trin_{i} &gt; 100")
        x += 150
        node(f"samling_{i}", f'<bpmn:exclusiveGateway id="samling_{i}" name="Samling {i}">'
             f'{{io}}</bpmn:exclusiveGateway>', x, 95, 50, 50)
        flow(f"valg_{i}", f"samling_{i}")
        flow(f"gren_{i}", f"samling_{i}")
        previous = f"samling_{i}"
    x += 150
    node("vent", '<bpmn:intermediateCatchEvent id="vent" name="Vent en uge">{io}'
         '<bpmn:timerEventDefinition id="vent_def"><bpmn:timeDuration>"P7D"</bpmn:timeDuration>'
         '</bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>', x, 100, 36, 36)
    flow(previous, "vent")
    previous = "vent"
    for j in (1, 2):
        x += 150
        node(f"afslut_{j}", f'<bpmn:scriptTask id="afslut_{j}" name="Afslut {j}" '
             f'scriptFormat="python">{{io}}<bpmn:script>afsluttet_{j} = True</bpmn:script>'
             f'</bpmn:scriptTask>', x, 80)
        flow(previous, f"afslut_{j}")
        previous = f"afslut_{j}"
    x += 150
    node("slut", '<bpmn:endEvent id="slut" name="Slut">{io}</bpmn:endEvent>', x, 100, 36, 36)
    flow(previous, "slut")
    assert len(nodes) == 100, len(nodes)

    incoming: dict[str, list[str]] = {}
    outgoing: dict[str, list[str]] = {}
    for flow_id, source, target, _c in flows:
        outgoing.setdefault(source, []).append(flow_id)
        incoming.setdefault(target, []).append(flow_id)
    body = []
    for node_id, xml in nodes:
        io = "".join(f"<bpmn:incoming>{f}</bpmn:incoming>" for f in incoming.get(node_id, [])) + \
            "".join(f"<bpmn:outgoing>{f}</bpmn:outgoing>" for f in outgoing.get(node_id, []))
        default = next((f for f, s, _t, c in flows if s == node_id and c is None), "")
        body.append("    " + xml.replace("{io}", io).replace("{default}", default))
    for flow_id, source, target, condition in flows:
        if condition:
            body.append(f'    <bpmn:sequenceFlow id="{flow_id}" sourceRef="{source}" '
                        f'targetRef="{target}"><bpmn:conditionExpression '
                        f'xsi:type="bpmn:tFormalExpression">{condition}'
                        f'</bpmn:conditionExpression></bpmn:sequenceFlow>')
        else:
            body.append(f'    <bpmn:sequenceFlow id="{flow_id}" sourceRef="{source}" '
                        f'targetRef="{target}" />')
    di = []
    for node_id, (sx, sy, w, h) in shapes.items():
        di.append(f'      <bpmndi:BPMNShape id="{node_id}_di" bpmnElement="{node_id}">'
                  f'<dc:Bounds x="{sx}" y="{sy}" width="{w}" height="{h}" /></bpmndi:BPMNShape>')
    for flow_id, source, target, _c in flows:
        (ax, ay, aw, ah), (bx, by, _bw, bh) = shapes[source], shapes[target]
        di.append(f'      <bpmndi:BPMNEdge id="{flow_id}_di" bpmnElement="{flow_id}">'
                  f'<di:waypoint x="{ax + aw}" y="{ay + ah // 2}" />'
                  f'<di:waypoint x="{bx}" y="{by + bh // 2}" /></bpmndi:BPMNEdge>')
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI"
  xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" xmlns:di="http://www.omg.org/spec/DD/20100524/DI"
  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
  xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="defs_bench" targetNamespace="https://sagsflow.dk/bench">
  <bpmn:process id="bench_hundrede" name="{name}" isExecutable="true">
{chr(10).join(body)}
  </bpmn:process>
  <bpmndi:BPMNDiagram id="diagram"><bpmndi:BPMNPlane id="plane" bpmnElement="bench_hundrede">
{chr(10).join(di)}
  </bpmndi:BPMNPlane></bpmndi:BPMNDiagram>
</bpmn:definitions>
"""


def _row(title: str, samples: list[float]) -> str:
    figures = summarize(samples)
    return f"{title:<44}{figures['median_ms']:>10.1f}{figures['p95_ms']:>10.1f}{figures['n']:>6}"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.designer", description=__doc__)
    parser.add_argument("--n", type=int, default=30, help="timed rounds (default 30)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed rounds first")
    args = parser.parse_args(argv)
    folder = tempfile.mkdtemp(prefix="sagsflow-bench-designer-")
    os.environ["SAGSFLOW_INSTANCE_DIR"] = folder

    from api import create_app
    from api.cli import upgrade_database
    from api.extensions import db
    from engine.accounts import create_user
    from engine.bpmn.validation import validate_sources
    from engine.bpmn.versions import deploy_sources, latest_sources
    from engine.db import transaction
    from engine.models import DESIGNER

    app = create_app()
    with app.app_context():
        upgrade_database(app.config["SQLALCHEMY_DATABASE_URI"])
        registry = app.extensions["casework"].registry
        with transaction(db.session) as session:
            designer = create_user(session, "designer", "bench-kodeord-1", DESIGNER, "Designer")
            registry.deploy(session, "bench")
        with transaction(db.session) as session:
            shipped = latest_sources(session)
        forms = registry.forms
        deadlines = app.extensions["deadlines"].process_actions()
        letters = set(app.extensions["letters"].catalogue.keys())
        text = hundred_element_process("Benchmark 0")
        print(f"the process: {text.count('<bpmn:sequenceFlow')} sequence flows, "
              f"{len(text.encode()) / 1024:.0f} KiB; the shipped files: {len(shipped)}")
        assert validate_sources({"bench.bpmn": text}, forms, deadlines, letters) == []

        timings: dict[str, list[float]] = {"alone": [], "with": [], "deploy": []}
        for round_ in range(args.warmup + args.n):
            text = hundred_element_process(f"Benchmark {round_}")
            begun = time.perf_counter()
            problems = validate_sources({"bench.bpmn": text}, forms, deadlines, letters)
            alone = time.perf_counter() - begun
            begun = time.perf_counter()
            problems += validate_sources({**shipped, "bench.bpmn": text}, forms, deadlines,
                                         letters)
            together = time.perf_counter() - begun
            assert not problems, problems
            begun = time.perf_counter()
            with transaction(db.session) as session:
                user = session.merge(designer)
                created = deploy_sources(session, registry, user, {"bench.bpmn": text})
            deploy = time.perf_counter() - begun
            assert [v.process_id for v in created] == ["bench_hundrede"], created
            if round_ >= args.warmup:
                timings["alone"].append(alone)
                timings["with"].append(together)
                timings["deploy"].append(deploy)
        print(f"{'100-element process (SQLite)':<44}{'median ms':>10}{'p95 ms':>10}{'n':>6}")
        print(_row("validate the file alone", timings["alone"]))
        print(_row("validate with the shipped files (the page)", timings["with"]))
        print(_row("deploy: validate, new version, commit", timings["deploy"]))


if __name__ == "__main__":
    main()
