"""Configuration from environment variables, with safe defaults for local use."""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _instance_dir() -> Path:
    path = Path(os.environ.get("SAGSFLOW_INSTANCE_DIR", PROJECT_ROOT / "instance"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def _secret_key(instance: Path) -> str:
    """SECRET_KEY from the environment; locally a random key kept in instance/ (never in git)."""
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    path = instance / "secret_key"
    if not path.exists():
        # Several processes may start at once on a new instance folder: write the key to a
        # file of our own, then link it into place; whoever links first wins, all read that.
        candidate = instance / f".secret_key.{os.getpid()}.{secrets.token_hex(4)}"
        candidate.write_text(secrets.token_hex(32))
        candidate.chmod(0o600)
        try:
            os.link(candidate, path)
        except FileExistsError:
            pass
        finally:
            candidate.unlink()
    return path.read_text().strip()


def _deadline_overrides(instance: Path) -> str | None:
    """The municipality's deadline overrides: the file SAGSFLOW_DEADLINE_OVERRIDES names (it
    must exist), else instance/deadlines.local.toml if it exists, else none."""
    if os.environ.get("SAGSFLOW_DEADLINE_OVERRIDES"):
        return os.environ["SAGSFLOW_DEADLINE_OVERRIDES"]
    default = instance / "deadlines.local.toml"
    return str(default) if default.exists() else None


def load_config(overrides: dict | None = None) -> dict:
    instance = _instance_dir()
    config = {
        "SQLALCHEMY_DATABASE_URI": os.environ.get(
            "DATABASE_URL", f"sqlite:///{instance / 'sagsflow.db'}"
        ),
        "SECRET_KEY": None,
        "PROCESSES_DIR": os.environ.get("SAGSFLOW_PROCESSES", str(PROJECT_ROOT / "processes")),
        "FORMS_DIR": os.environ.get("SAGSFLOW_FORMS", str(PROJECT_ROOT / "forms")),
        # Test runs the process designer saved as scenarios; `make test` replays them.
        "SCENARIOS_DIR": os.environ.get("SAGSFLOW_SCENARIOS",
                                        str(PROJECT_ROOT / "processes" / "scenarios")),
        "DEADLINE_OVERRIDES": _deadline_overrides(instance),
        "LETTERS_DIR": os.environ.get("SAGSFLOW_LETTERS", str(PROJECT_ROOT / "letters")),
        # The letterhead: a TOML file with a [kommune] table over letters/kommune.toml.
        "MUNICIPALITY_FILE": os.environ.get("SAGSFLOW_MUNICIPALITY") or (
            str(instance / "kommune.toml") if (instance / "kommune.toml").exists() else None),
        # How issued letters leave: folder (default), smtp, or python:module:Class.
        "DELIVERY": os.environ.get("SAGSFLOW_DELIVERY", "folder"),
        "OUTBOX_DIR": os.environ.get("SAGSFLOW_OUTBOX_DIR", str(instance / "outbox")),
        "SMTP_HOST": os.environ.get("SAGSFLOW_SMTP_HOST", "127.0.0.1"),
        "SMTP_PORT": int(os.environ.get("SAGSFLOW_SMTP_PORT", 25)),
        "SMTP_SENDER": os.environ.get("SAGSFLOW_SMTP_SENDER", "sagsflow@localhost"),
        "SMTP_MAILBOX": os.environ.get("SAGSFLOW_SMTP_MAILBOX"),
        "SMTP_STARTTLS": os.environ.get("SAGSFLOW_SMTP_STARTTLS", "") == "1",
        "SMTP_USERNAME": os.environ.get("SAGSFLOW_SMTP_USERNAME"),
        "SMTP_PASSWORD": os.environ.get("SAGSFLOW_SMTP_PASSWORD"),
        "MAX_CONTENT_LENGTH": int(os.environ.get("SAGSFLOW_MAX_BODY_BYTES", 1024 * 1024)),
        "TOKEN_LIFETIME_HOURS": float(os.environ.get("SAGSFLOW_TOKEN_HOURS", 12)),
        "SCHEDULER_INTERVAL_SECONDS": float(os.environ.get("SAGSFLOW_TICK_SECONDS", 5)),
        "DEMO": os.environ.get("SAGSFLOW_DEMO", "") == "1",
        # The pages' session cookie: never read by scripts, not sent cross-site, and only over
        # HTTPS where SAGSFLOW_SECURE_COOKIES=1 (set it in production behind TLS).
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": os.environ.get("SAGSFLOW_SECURE_COOKIES", "") == "1",
        "PERMANENT_SESSION_LIFETIME": timedelta(
            hours=float(os.environ.get("SAGSFLOW_SESSION_HOURS", 8))),
        # The REST API authenticates with bearer tokens: CSRF is checked for the pages only.
        "WTF_CSRF_CHECK_DEFAULT": False,
        "WTF_CSRF_TIME_LIMIT": None,
        "API_TITLE": "Sagsflow",
        "API_VERSION": "v1",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/api",
        "OPENAPI_JSON_PATH": "openapi.json",
    }
    config.update(overrides or {})
    if not config["SECRET_KEY"]:
        config["SECRET_KEY"] = _secret_key(instance)
    return config
