from flask_smorest import Blueprint

from engine.db import transaction

from .auth import casework, current_user
from .extensions import db
from .schemas import ProcessOut

blp = Blueprint("processes", __name__, url_prefix="/api/v1/processes",
                description="Deployed processes and their versions")


@blp.get("")
@blp.doc(security=[{"bearer": []}])
@blp.response(200, ProcessOut(many=True))
def list_processes():
    """Deployed processes, each with its versions (newest first)."""
    with transaction(db.session) as session:
        return casework().list_processes(session, current_user())
