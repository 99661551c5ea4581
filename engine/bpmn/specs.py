"""A user task spec that keeps the Camunda 7 attributes SpiffWorkflow's parser drops.

`CamundaParser` reads `camunda:formKey` and `camunda:properties` but ignores who may do a
task and when it is due. Casework needs exactly those, so the user-task parser below reads
`camunda:assignee`, `candidateGroups`, `candidateUsers`, `dueDate`, `followUpDate` and
`priority`, and the converter keeps them through serialization.
"""

from __future__ import annotations

from SpiffWorkflow.bpmn.parser.BpmnParser import full_tag
from SpiffWorkflow.camunda.parser.CamundaParser import CamundaParser
from SpiffWorkflow.camunda.parser.task_spec import UserTaskParser
from SpiffWorkflow.camunda.serializer.task_spec import UserTaskConverter
from SpiffWorkflow.camunda.specs.user_task import UserTask

_CAMUNDA_NAMES = {
    "assignee": "assignee",
    "candidate_groups": "candidateGroups",
    "candidate_users": "candidateUsers",
    "due_date": "dueDate",
    "follow_up_date": "followUpDate",
    "priority": "priority",
}


ASSIGNMENT_ATTRIBUTES = tuple(_CAMUNDA_NAMES)


def describe_element(spec) -> str:
    """How messages name a BPMN element: its id, and its name when it has one."""
    name = getattr(spec, "bpmn_name", None)
    bpmn_id = getattr(spec, "bpmn_id", None) or spec.name
    return f"{bpmn_id} ({name})" if name else str(bpmn_id)


def split_list(value: str | None) -> list[str]:
    """Camunda writes group and user lists comma-separated."""
    if not value:
        return []
    return [item.strip() for item in value.split(",") if item.strip()]


class CaseUserTask(UserTask):
    """A user task with assignment and due-date attributes."""

    def __init__(
        self,
        wf_spec,
        name,
        form,
        assignee=None,
        candidate_groups=None,
        candidate_users=None,
        due_date=None,
        follow_up_date=None,
        priority=None,
        **kwargs,
    ):
        super().__init__(wf_spec, name, form, **kwargs)
        self.assignee = assignee
        self.candidate_groups = list(candidate_groups or [])
        self.candidate_users = list(candidate_users or [])
        self.due_date = due_date
        self.follow_up_date = follow_up_date
        self.priority = priority


class CaseUserTaskParser(UserTaskParser):
    def create_task(self):
        attrs = {}
        for attr, camunda_name in _CAMUNDA_NAMES.items():
            value = self.node.get(f"{{{self.nsmap['camunda']}}}{camunda_name}")
            if attr in ("candidate_groups", "candidate_users"):
                value = split_list(value)
            attrs[attr] = value
        return self.spec_class(
            self.spec, self.bpmn_id, form=self.get_form(), **attrs, **self.bpmn_attributes
        )


class CaseUserTaskConverter(UserTaskConverter):
    def to_dict(self, spec):
        dct = super().to_dict(spec)
        for attr in ASSIGNMENT_ATTRIBUTES:
            dct[attr] = getattr(spec, attr)
        return dct


class CaseParser(CamundaParser):
    """CamundaParser that keeps assignment and due-date attributes on user tasks."""

    OVERRIDE_PARSER_CLASSES = {
        **CamundaParser.OVERRIDE_PARSER_CLASSES,
        full_tag("userTask"): (CaseUserTaskParser, CaseUserTask),
    }
