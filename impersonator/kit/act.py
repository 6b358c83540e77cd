"""`act_token(audience)`: for the host app's own code, during a request, to call one of the product's
own back-ends on behalf of a ghost session (DESIGN §12). Outside a ghost session it returns None, so
a back-end can never be told that staff acted when nobody did::

    token = act_token("projects-api")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
"""

from __future__ import annotations

from impersonator import clock
from impersonator.kit.ghost import current_impersonation
from impersonator.services.impersonation import act_tokens


def act_token(audience: str) -> str | None:
    """A signed act token for `audience` while this request is a ghost session's, else None.

    The ghost guard has checked the session on the server for this request before any view runs.
    Raises AudienceNotAllowed for a back-end not in ACT_TOKEN_AUDIENCES and NoSigningKey before the
    first key exists (`flask act-keys rotate`)."""
    ghost = current_impersonation()
    if ghost is None:
        return None
    return act_tokens.mint(ghost, audience=audience, now=clock.now())
