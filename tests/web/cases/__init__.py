"""The completeness registries, one module per feature, so each feature adds its own rows.

tests/web/test_csrf.py and tests/web/test_roles.py merge these and fail when a POST rule has no
CSRF case, or a console page or POST is missing from the role table (DESIGN §7, I11). A feature
module exports any of:

- CSRF_CASES: {(face, endpoint): builder(bed) -> Case} — signs in whoever the form needs and returns
  a POST that would succeed with its token;
- PAGE_ACCESS: {rule path: roles that may open it} — console GET pages;
- POST_PERMISSIONS: {endpoint: Permission} — console POSTs;
- PATH_EXAMPLES: {variable name: builder(app) -> int} — a real id for `<int:name>` in a rule path,
  so an allowed role sees 200 rather than 404.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Case:
    """A POST ready to send: where, what, and the page whose form carries this session's token."""

    base_url: str
    path: str
    token_page: str
    data: dict = field(default_factory=dict)
    accepted_status: int = 302
