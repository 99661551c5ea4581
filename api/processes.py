from flask_smorest import Blueprint
from sqlalchemy import select

from engine.models import ProcessVersion

from .extensions import db
from .schemas import ProcessOut

blp = Blueprint("processes", __name__, url_prefix="/api/v1/processes",
                description="Deployed processes and their versions")


@blp.get("")
@blp.doc(security=[{"bearer": []}])
@blp.response(200, ProcessOut(many=True))
def list_processes():
    """Deployed processes, each with its versions (newest first)."""
    versions = db.session.scalars(
        select(ProcessVersion).order_by(ProcessVersion.process_id, ProcessVersion.version.desc())
    ).all()
    by_process: dict[str, dict] = {}
    for v in versions:
        entry = by_process.setdefault(v.process_id, {
            "process_id": v.process_id, "name": v.name, "startable": v.startable,
            "latest_version": v.version, "versions": [],
        })
        entry["versions"].append(v)
    return list(by_process.values())
