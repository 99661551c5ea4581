from datetime import timedelta

from flask import current_app, g
from flask_smorest import Blueprint

from engine.accounts import authenticate, issue_token, revoke_token
from engine.db import transaction

from .extensions import db
from .schemas import TokenRequest, TokenResponse

blp = Blueprint("auth", __name__, url_prefix="/api/v1/auth", description="Authentication")


@blp.post("/token")
@blp.arguments(TokenRequest)
@blp.response(200, TokenResponse)
def issue_token_view(body):
    """Exchange a username and password for a bearer token."""
    with transaction(db.session) as session:
        user = authenticate(session, body["username"], body["password"])
        lifetime = timedelta(hours=current_app.config["TOKEN_LIFETIME_HOURS"])
        raw, token = issue_token(session, user, lifetime)
    return {"token": raw, "token_type": "Bearer", "expires_at": token.expires_at, "user": user}


@blp.post("/logout")
@blp.doc(security=[{"bearer": []}])
@blp.response(204)
def logout():
    """Revoke the token this request was made with."""
    with transaction(db.session) as session:
        revoke_token(session, g.token)
