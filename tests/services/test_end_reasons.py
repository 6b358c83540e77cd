"""How an impersonation ended (DESIGN §3) is worded wherever it is shown: the ghost's "impersonation
ended" page (and the console's live sessions and detail pages, which reuse its messages), the staff
member's My impersonations, and the customer's access history. A reason without words would show a
raw code, or a wrong fallback, to the people who read these pages."""

from __future__ import annotations

import pytest

from impersonator.console.impersonations import END_LABELS
from impersonator.models import END_REASONS
from impersonator.services.consent.access_history import END_TEXT
from impersonator.services.impersonation.ghost import END_MESSAGES


@pytest.mark.parametrize(
    ("wording", "name"),
    [(END_MESSAGES, "ghost.END_MESSAGES"), (END_LABELS, "END_LABELS"), (END_TEXT, "END_TEXT")],
    ids=["ghost-and-console", "my-impersonations", "access-history"],
)
def test_every_end_reason_has_words_and_no_word_lacks_a_reason(wording, name):
    assert set(wording) == set(END_REASONS), name


def test_a_totp_reset_is_worded_as_such():
    assert "authenticator was reset" in END_MESSAGES["totp_reset"]
    assert END_LABELS["totp_reset"] == "your authenticator was reset"
    assert END_TEXT["totp_reset"] == "ended: the support agent's sign-in was reset"
