from flask_smorest import Blueprint

from engine.bpmn import versions as designer
from engine.db import transaction

from .auth import casework, current_user
from .extensions import db
from .schemas import (
    DeployIn,
    DiffOut,
    DiffQuery,
    MigrationIn,
    MigrationPlanOut,
    MigrationQuery,
    MigrationResultOut,
    ProcessOut,
    ProcessVersionOut,
)

blp = Blueprint("processes", __name__, url_prefix="/api/v1/processes",
                description="Deployed processes and their versions")

# A process id as BPMN files give it (ProcessVersion.process_id holds up to 128 characters).
PROCESS = "<string(maxlength=128):process_id>"


@blp.get("")
@blp.doc(security=[{"bearer": []}])
@blp.response(200, ProcessOut(many=True))
def list_processes():
    """Deployed processes, each with its versions (newest first)."""
    with transaction(db.session) as session:
        return casework().list_processes(session, current_user())


@blp.post("/deploy")
@blp.doc(security=[{"bearer": []}])
@blp.arguments(DeployIn)
@blp.response(200, ProcessVersionOut(many=True))
def deploy(body):
    """Deploy changed BPMN/DMN files (process designers and administrators).

    The files replace their namesakes among the latest deployed files and everything is
    validated as at a start; every process whose content changed gets its next version.
    Running cases stay on their version, new cases start on the new one. Returns the new
    versions (an empty list when nothing changed); 422 names the file and element of the
    first problem."""
    with transaction(db.session) as session:
        return designer.deploy_sources(session, casework().registry, current_user(),
                                       body["files"])


@blp.get(f"/{PROCESS}/versions")
@blp.doc(security=[{"bearer": []}])
@blp.response(200, ProcessVersionOut(many=True))
def list_versions(process_id):
    """Every version of a process, newest first: number, who deployed it when, from where
    (folder or designer) and its content hash."""
    with transaction(db.session) as session:
        return designer.list_versions(session, current_user(), process_id)


@blp.get(f"/{PROCESS}/diff")
@blp.doc(security=[{"bearer": []}])
@blp.arguments(DiffQuery, location="query")
@blp.response(200, DiffOut)
def diff(query, process_id):
    """What changed between two versions: added, removed and changed elements, and a
    unified diff of the files."""
    with transaction(db.session) as session:
        return designer.diff_versions(session, casework().registry, current_user(),
                                      process_id, query["from_"], query["to"])


@blp.get(f"/{PROCESS}/migration")
@blp.doc(security=[{"bearer": []}])
@blp.arguments(MigrationQuery, location="query")
@blp.response(200, MigrationPlanOut)
def migration_plan(query, process_id):
    """Dry run: the running cases on older versions, whether each can move to version `to`,
    and why not. Nothing changes."""
    with transaction(db.session) as session:
        cases = designer.migration_plan(session, casework(), current_user(), process_id,
                                        query["to"])
    movable = sum(1 for c in cases if c["movable"])
    return {"process_id": process_id, "to_version": query["to"], "movable": movable,
            "unmovable": len(cases) - movable, "cases": cases}


@blp.post(f"/{PROCESS}/migration")
@blp.doc(security=[{"bearer": []}])
@blp.arguments(MigrationIn)
@blp.response(200, MigrationResultOut)
def migrate(body, process_id):
    """Move every movable case on an older version to version `to`, in one action; each
    moved case's history records it. Cases that cannot move stay, listed with the reasons."""
    with transaction(db.session) as session:
        return designer.migrate_cases(session, casework(), current_user(), process_id,
                                      body["to"])
