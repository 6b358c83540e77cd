"""Email: composed from templates when the change happens, queued in the outbox, sent by
the worker through SMTP (`MAIL_BACKEND=smtp`) or written to MAIL_DIR (`file`, for development).

A message is rendered in full at enqueue time (subject, text and HTML), so a retry days later sends
exactly what the customer would have received at once. Mail templates live in templates/mail/:
`<name>.txt` (first line `Subject: …`) and `<name>.html`.
"""

from __future__ import annotations

import json
import logging
import smtplib
import ssl
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

from flask import current_app

from impersonator.models import OutboxMessage
from impersonator.services.delivery import outbox
from impersonator.services.delivery.outbox import DeliveryFailed, Outgoing

log = logging.getLogger("impersonator.mail")


@dataclass(frozen=True)
class Mail:
    """A message ready to send."""

    to: str
    subject: str
    text: str
    html: str

    def to_json(self) -> str:
        return json.dumps({"to": self.to, "subject": self.subject, "text": self.text, "html": self.html})

    @classmethod
    def from_json(cls, payload: str) -> Mail:
        data = json.loads(payload)
        return cls(data["to"], data["subject"], data["text"], data["html"])


def compose(template: str, *, to: str, **context: Any) -> Mail:
    """Render templates/mail/<template>.txt and .html; the text's first line is `Subject: …`."""
    env = current_app.jinja_env
    text = env.get_template(f"mail/{template}.txt").render(**context)
    html = env.get_template(f"mail/{template}.html").render(**context)
    first, _, body = text.partition("\n")
    if not first.startswith("Subject:"):
        raise ValueError(f"templates/mail/{template}.txt must start with a Subject: line")
    subject = " ".join(first.removeprefix("Subject:").split())  # no header injection via newlines
    return Mail(to, subject, body.lstrip("\n"), html)


def enqueue(mail: Mail, *, event_type: str, now: datetime) -> OutboxMessage:
    """Queue a message in the caller's transaction."""
    return outbox.enqueue("mail", event_type=event_type, destination=mail.to, payload=mail.to_json(), now=now)


def build_message(mail: Mail, *, message_id: str, now: datetime) -> EmailMessage:
    """The MIME message: text first, HTML as the alternative."""
    message = EmailMessage()
    message["From"] = current_app.config["MAIL_SENDER"]
    message["To"] = mail.to
    message["Subject"] = mail.subject
    message["Date"] = formatdate(now.timestamp(), usegmt=True)
    message["Message-ID"] = make_msgid(idstring=message_id.removeprefix("msg_"), domain="impersonator")
    message.set_content(mail.text)
    message.add_alternative(mail.html, subtype="html")
    return message


def send(message: Outgoing, now: datetime) -> None:
    """Deliver one queued mail with the configured backend, or DeliveryFailed."""
    mail = Mail.from_json(message.payload)
    email = build_message(mail, message_id=message.message_id, now=now)
    if current_app.config["MAIL_BACKEND"] == "file":
        _write_file(email, message.message_id)
    else:
        _send_smtp(email)


def _write_file(email: EmailMessage, message_id: str) -> None:
    folder = Path(current_app.config["MAIL_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{message_id}.eml"
    path.write_bytes(bytes(email))
    log.info("mail written to %s subject=%r", path, email["Subject"])


def _send_smtp(email: EmailMessage) -> None:
    config = current_app.config
    timeout = config["DELIVERY_TIMEOUT_SECONDS"]
    host, port = config["MAIL_SERVER"], config["MAIL_PORT"]
    try:
        if config["MAIL_USE_SSL"]:
            client = smtplib.SMTP_SSL(host, port, timeout=timeout, context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(host, port, timeout=timeout)
        with client:
            if config["MAIL_USE_TLS"]:
                client.starttls(context=ssl.create_default_context())
            if config["MAIL_USERNAME"]:
                client.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"] or "")
            client.send_message(email)
    except (OSError, smtplib.SMTPException) as failure:
        raise DeliveryFailed(f"SMTP {host}:{port}: {type(failure).__name__}: {failure}") from failure
