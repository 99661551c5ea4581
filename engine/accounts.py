"""Users, teams, passwords and API tokens."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from .clock import now
from .db import transaction
from .errors import Locked, Unauthorized, ValidationFailed
from .models import ROLES, ApiToken, Membership, Team, User

_hasher = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """Verified against when the user does not exist, so timing does not tell who does."""
    return _hasher.hash("sagsflow-no-such-user")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def create_team(session: Session, key: str, name: str) -> Team:
    team = Team(key=key, name=name)
    session.add(team)
    session.flush()
    return team


def create_user(session: Session, username: str, password: str, role: str, full_name: str,
                teams: list[Team] = (), leads: list[Team] = (), email: str | None = None) -> User:
    fields = {}
    if role not in ROLES:
        fields["role"] = [f"must be one of {', '.join(ROLES)}"]
    if not username or len(username) > 64:
        fields["username"] = ["must be 1 to 64 characters"]
    elif session.scalar(select(User.id).where(User.username == username)):
        fields["username"] = ["is already taken"]
    if len(password) < 4:
        fields["password"] = ["must be at least 4 characters"]
    if fields:
        raise ValidationFailed("cannot create the user", fields)
    user = User(username=username, full_name=full_name, role=role, email=email,
                password_hash=hash_password(password))
    session.add(user)
    session.flush()
    for team in teams:
        session.add(Membership(user_id=user.id, team_id=team.id, leads=team in leads))
    session.flush()
    session.refresh(user)
    return user


# After this many failed log-ins in a row an account is locked for LOCK_MINUTES; each further
# failure after the lock ends locks it again. A successful log-in starts the count afresh.
MAX_FAILED_LOGINS = 5
LOCK_MINUTES = 15


def authenticate(session: Session, username: str, password: str) -> User:
    """The active user with this name and password, or Unauthorized. Repeated failures lock
    the account for a while (Locked). Each attempt is counted before the password is checked,
    in a transaction of its own (the row locked), so that a burst of parallel guesses cannot
    slip past the limit; a success then starts the count afresh. The password check is slow on
    purpose and runs outside any transaction (on SQLite a transaction holds the write lock)."""
    with transaction(session):
        user = session.scalar(select(User).where(User.username == username)
                              .with_for_update())
        if user is not None:
            if user.locked_until is not None and user.locked_until > now():
                raise Locked(f"the account is locked after {MAX_FAILED_LOGINS} failed log-ins; "
                             f"try again after "
                             f"{user.locked_until.isoformat(timespec='minutes')}",
                             until=user.locked_until)
            user.failed_logins += 1
            if user.failed_logins >= MAX_FAILED_LOGINS:
                user.locked_until = now() + timedelta(minutes=LOCK_MINUTES)
    try:
        _hasher.verify(user.password_hash if user else _dummy_hash(), password)
        failed = False
    except (VerificationError, InvalidHashError):
        failed = True
    if user is not None and not failed:
        with transaction(session):
            session.refresh(user, with_for_update=True)
            user.failed_logins, user.locked_until = 0, None
    if failed or user is None or not user.active:
        raise Unauthorized("wrong username or password")
    return user


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(session: Session, user: User, lifetime: timedelta) -> tuple[str, ApiToken]:
    raw = secrets.token_urlsafe(32)
    issued = now()
    token = ApiToken(token_hash=_digest(raw), user_id=user.id, created_at=issued,
                     expires_at=issued + lifetime)
    session.add(token)
    return raw, token


def user_for_token(session: Session, raw: str) -> User:
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == _digest(raw)))
    if token is None or token.expires_at <= now():
        raise Unauthorized("the token is unknown or has expired")
    user = session.get(User, token.user_id)
    if user is None or not user.active:
        raise Unauthorized("the token's user is not active")
    return user


def revoke_token(session: Session, raw: str) -> None:
    session.execute(delete(ApiToken).where(ApiToken.token_hash == _digest(raw)))


def set_password(session: Session, user: User, password: str) -> None:
    if len(password) < 4:
        raise ValidationFailed("cannot set the password",
                               {"password": ["must be at least 4 characters"]})
    user.password_hash = hash_password(password)
    user.sessions_valid_from = now()  # every web session of the user ends
    session.execute(delete(ApiToken).where(ApiToken.user_id == user.id))


def deactivate(session: Session, user: User) -> None:
    """The user can no longer log in; their tokens stop working at once."""
    user.active = False
    session.execute(delete(ApiToken).where(ApiToken.user_id == user.id))


def purge_expired_tokens(session: Session) -> int:
    """Delete tokens past their lifetime (they no longer work anyway)."""
    return session.execute(delete(ApiToken).where(ApiToken.expires_at <= now())).rowcount
