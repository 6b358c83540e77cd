"""`flask db upgrade` builds the whole schema from nothing, and the migrations match the models (on
tests/conftest.py's `fresh_app`, a brand-new database per test)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from impersonator.extensions import db
from impersonator.models.migration_only import is_model_schema
from tests.conftest import flask_db


# The search objects of migration 0003 have no model by design; `is_model_schema` (shared with
# migrations/env.py) leaves exactly those out of the comparisons.
def model_tables() -> set[str]:
    return set(db.metadata.tables)


def all_tables_in(app) -> set[str]:
    with app.app_context():
        return set(inspect(db.engine).get_table_names())


def tables_in(app) -> set[str]:
    """The tables that have a model (plus alembic_version), leaving out the search objects."""
    return {name for name in all_tables_in(app) if is_model_schema(name, "table")}


def drift(app) -> list:
    """What autogenerate would put in a new migration: the differences between models and schema."""
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={"compare_type": True, "compare_server_default": True, "include_name": is_model_schema},
        )
        return compare_metadata(context, db.metadata)


def test_upgrade_builds_every_table_from_nothing(fresh_app):
    assert all_tables_in(fresh_app) == set()
    flask_db(fresh_app, "upgrade")
    assert tables_in(fresh_app) == model_tables() | {"alembic_version"}


def test_migrations_match_the_models(fresh_app):
    flask_db(fresh_app, "upgrade")
    assert drift(fresh_app) == []


def test_downgrade_to_base_and_upgrade_again(fresh_app):
    flask_db(fresh_app, "upgrade")
    flask_db(fresh_app, "downgrade", "base")
    assert all_tables_in(fresh_app) - {"alembic_version"} == set()
    flask_db(fresh_app, "upgrade")
    assert tables_in(fresh_app) == model_tables() | {"alembic_version"}
    assert drift(fresh_app) == []
