"""A real SMTP server for the tests (aiosmtpd) on 127.0.0.1: it keeps every message it accepts, and it
can be stopped and started again on the same port to play a mail server that is down for a while."""

from __future__ import annotations

import email
import email.policy
from dataclasses import dataclass, field
from email.message import EmailMessage

from aiosmtpd.controller import Controller

from tests.support.postgres import free_port


@dataclass(frozen=True)
class Received:
    """One message as the server got it: the SMTP envelope and the parsed message."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def text(self) -> str:
        return self.message.get_body(("plain",)).get_content()

    @property
    def html(self) -> str:
        return self.message.get_body(("html",)).get_content()


class _Keeper:
    """aiosmtpd handler: accept every message and keep it."""

    def __init__(self, inbox: list[Received]) -> None:
        self.inbox = inbox

    async def handle_DATA(self, server, session, envelope) -> str:  # aiosmtpd names its hooks so
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.inbox.append(Received(envelope.mail_from, tuple(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"


@dataclass
class SmtpServer:
    """`start()`, `stop()`, `start()` again on the same port; `inbox` keeps what arrived."""

    port: int = field(default_factory=free_port)
    inbox: list[Received] = field(default_factory=list)
    _controller: Controller | None = None

    def start(self) -> None:
        if self._controller is None:
            self._controller = Controller(_Keeper(self.inbox), hostname="127.0.0.1", port=self.port)
            self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def running(self) -> bool:
        return self._controller is not None

    def config(self) -> dict:
        """App config overrides that send mail here with SMTP (no TLS, no login)."""
        return {
            "MAIL_BACKEND": "smtp",
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": self.port,
            "MAIL_USE_TLS": False,
            "MAIL_USE_SSL": False,
            "MAIL_USERNAME": None,
            "DELIVERY_TIMEOUT_SECONDS": 5,
        }

    def to(self, address: str) -> list[Received]:
        """The messages that reached `address`, in order."""
        return [received for received in self.inbox if address in received.rcpt_tos]
