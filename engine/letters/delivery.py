"""How issued letters leave: delivery adapters behind one small interface.

- `FolderDrop` (the default): the PDF and a JSON description into a folder, written atomically;
  a print-and-post service or the municipality's document system picks them up.
- `SmtpDelivery`: an e-mail with the PDF attached, to the recipient's e-mail when the letter has
  one, else to the municipality's mailbox for letters.
- Digital Post (e-Boks, via the municipality's provider): a class of the municipality's own with
  a `deliver(outgoing)` method, named in configuration as `python:package.module:ClassName`
  (see `DigitalPost`).

An adapter raises DeliveryFailed with a reason a caseworker can read; the outbox then retries
with back-off and shows the reason."""

from __future__ import annotations

import importlib
import json
import os
import smtplib
from dataclasses import asdict, dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol


class DeliveryFailed(Exception):
    pass


@dataclass(frozen=True)
class Outgoing:
    letter_id: int
    case_number: str
    title: str
    version: int
    recipient_name: str
    recipient_address: str | None
    recipient_email: str | None
    sha256: str
    pdf: bytes

    @property
    def filename(self) -> str:
        return f"{self.case_number}-brev{self.letter_id}-v{self.version}.pdf"


class Delivery(Protocol):
    name: str

    def deliver(self, outgoing: Outgoing) -> None: ...


class DigitalPost:
    """Base for a municipality's Digital Post adapter: subclass it, implement deliver(), and
    set SAGSFLOW_DELIVERY=python:your.module:YourClass. Raise DeliveryFailed on failure."""

    name = "digital_post"

    def __init__(self, config: dict):
        self.config = config

    def deliver(self, outgoing: Outgoing) -> None:
        raise NotImplementedError("a Digital Post adapter must implement deliver()")


class FolderDrop:
    name = "folder"

    def __init__(self, folder: Path | str):
        self.folder = Path(folder)

    def deliver(self, outgoing: Outgoing) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            target = self.folder / outgoing.filename
            described = {k: v for k, v in asdict(outgoing).items() if k != "pdf"}
            for path, content in ((target, outgoing.pdf),
                                  (target.with_suffix(".json"),
                                   json.dumps(described, ensure_ascii=False, indent=2).encode())):
                partial = path.with_name(f".{path.name}.{os.getpid()}.part")
                partial.write_bytes(content)
                os.replace(partial, path)  # whole files only: a reader never sees half a PDF
        except OSError as exc:
            raise DeliveryFailed(f"cannot write to {self.folder}: {exc.strerror or exc}") from None


class SmtpDelivery:
    name = "smtp"

    def __init__(self, host: str, port: int, sender: str, mailbox: str | None,
                 timeout: float = 20.0, starttls: bool = False, username: str | None = None,
                 password: str | None = None):
        self.host, self.port, self.sender, self.mailbox = host, port, sender, mailbox
        self.timeout, self.starttls = timeout, starttls
        self.username, self.password = username, password

    def deliver(self, outgoing: Outgoing) -> None:
        to = outgoing.recipient_email or self.mailbox
        if not to:
            raise DeliveryFailed("the recipient has no e-mail address and no mailbox for "
                                 "letters is configured (SAGSFLOW_SMTP_MAILBOX)")
        message = EmailMessage()
        message["From"], message["To"] = self.sender, to
        message["Subject"] = f"{outgoing.title} (sag {outgoing.case_number})"
        message.set_content(f"Brev til {outgoing.recipient_name}.\n"
                            f"Sagsnummer: {outgoing.case_number}\n"
                            f"Kontrolsum (SHA-256): {outgoing.sha256}\n")
        message.add_attachment(outgoing.pdf, maintype="application", subtype="pdf",
                               filename=outgoing.filename)
        try:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            if self.starttls:
                smtp.starttls()
            if self.username:
                smtp.login(self.username, self.password or "")
            smtp.send_message(message)
        except (OSError, smtplib.SMTPException, ValueError) as exc:
            raise DeliveryFailed(f"SMTP {self.host}:{self.port}: {exc}") from None
        try:  # accepted by the server: a failing goodbye does not make it unsent
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            smtp.close()


def make_delivery(config: dict) -> Delivery:
    """The adapter SAGSFLOW_DELIVERY names: "folder" (default), "smtp" or
    "python:module:Class"."""
    kind = config.get("DELIVERY") or "folder"
    if kind == "folder":
        return FolderDrop(config["OUTBOX_DIR"])
    if kind == "smtp":
        return SmtpDelivery(config["SMTP_HOST"], int(config["SMTP_PORT"]),
                            config["SMTP_SENDER"], config.get("SMTP_MAILBOX"),
                            starttls=bool(config.get("SMTP_STARTTLS")),
                            username=config.get("SMTP_USERNAME"),
                            password=config.get("SMTP_PASSWORD"))
    if kind.startswith("python:"):
        module, _, cls = kind[len("python:"):].partition(":")
        try:
            return getattr(importlib.import_module(module), cls)(config)
        except (ImportError, AttributeError, ValueError) as exc:
            raise ValueError(f"SAGSFLOW_DELIVERY={kind}: cannot load the adapter: {exc}") from None
    raise ValueError(f"SAGSFLOW_DELIVERY={kind!r}: use folder, smtp or python:module:Class")
