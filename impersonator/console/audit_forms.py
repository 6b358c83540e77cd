"""Forms of the security team's pages."""

from __future__ import annotations

from wtforms import StringField

from impersonator.forms import Readable, TextForm
from impersonator.services.impersonation.live_sessions import NOTE_MAX_CHARS


class TerminateForm(TextForm):
    """*Terminate* on a live session: why, in a sentence the audit trail keeps."""

    reason = StringField("Reason", validators=[Readable("Reason", NOTE_MAX_CHARS)])
