from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from desk.db import VERSION_TABLE, migrate
from desk.models import Base
from handoff.db import make_engine


def test_desk_migrations_match_models(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'd.db'}")
    try:
        migrate(engine)
        migrate(engine)  # a second run is a no-op
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"version_table": VERSION_TABLE, "compare_type": True}
            )
            desk_diffs = [d for d in compare_metadata(context, Base.metadata) if "desk_" in repr(d)]
            assert desk_diffs == []
        assert "desk_notes" in set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
