"""Schema objects that exist only in migrations, not in the models: the search indexes of migration
0003 (SQLite FTS5 tables and triggers, PostgreSQL trigram and functional indexes). Autogenerate and
the drift test leave exactly these out; everything else is compared."""

from __future__ import annotations

SEARCH_ONLY_PREFIXES = ("search_", "ix_search_")


def is_model_schema(name: str | None, type_: str, _parent_names: object = None) -> bool:
    """Alembic `include_name`: False for the search objects of migration 0003, True otherwise."""
    return not (type_ in {"table", "index"} and name and name.startswith(SEARCH_ONLY_PREFIXES))
