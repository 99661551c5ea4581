"""API authentication: every /api/v1 route but the token route needs a bearer token.
The check happens here, once, before any view runs."""

from __future__ import annotations

from flask import current_app, g, request

from engine.accounts import user_for_token
from engine.errors import Unauthorized
from engine.models import User
from engine.services import Casework

from .extensions import db

PUBLIC_ENDPOINTS = {"auth.issue_token_view"}


def authenticate_request() -> None:
    if not request.path.startswith("/api/v1/"):
        return
    if request.endpoint in PUBLIC_ENDPOINTS or request.method == "OPTIONS":
        return
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("send an Authorization: Bearer <token> header "
                           "(get a token from POST /api/v1/auth/token)")
    g.token = token.strip()
    g.user = user_for_token(db.session, g.token)


def current_user() -> User:
    return g.user


def casework() -> Casework:
    return current_app.extensions["casework"]
