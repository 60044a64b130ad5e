"""``music-tagger db check``: is the library sound?

SQLite: ``PRAGMA integrity_check`` (pages, indexes) and ``PRAGMA
foreign_key_check``. Both backends: the schema revision, and orphaned rows in
every child table (a row whose foreign key names a parent that no longer
exists), found from the foreign keys the database itself declares, so tables
added by later migrations are covered too.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import DatabaseError

from tagger_core.db.location import Location
from tagger_core.db.migrate import current_revision, head_revision, is_known_revision
from tagger_core.db.safety import sqlite_problems


@dataclass
class CheckReport:
    """What was checked and every problem found (one line each)."""

    checks: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def orphaned_rows(engine: Engine) -> list[str]:
    """One line per foreign key with rows whose parent is missing."""
    lines = []
    insp = inspect(engine)
    with engine.connect() as conn:
        for table in sorted(insp.get_table_names()):
            for fk in insp.get_foreign_keys(table):
                cols, parent, refs = fk["constrained_columns"], fk["referred_table"], fk[
                    "referred_columns"
                ]
                not_null = " AND ".join(f"c.{_quote(c)} IS NOT NULL" for c in cols)
                match = " AND ".join(
                    f"p.{_quote(r)} = c.{_quote(c)}" for c, r in zip(cols, refs, strict=True)
                )
                n = conn.execute(
                    text(
                        f"SELECT count(*) FROM {_quote(table)} c WHERE {not_null} AND NOT EXISTS "
                        f"(SELECT 1 FROM {_quote(parent)} p WHERE {match})"
                    )
                ).scalar()
                if n:
                    lines.append(
                        f"orphaned rows: {n} in {table}.{','.join(cols)} "
                        f"(no matching {parent}.{','.join(refs)})"
                    )
    return lines


def _sqlite_foreign_key_check(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
    counts = Counter((r[0], r[2]) for r in rows)
    return [
        f"foreign_key_check: {n} rows in {table} refer to missing {parent} rows"
        for (table, parent), n in sorted(counts.items())
    ]


def check_database(location: Location, engine: Engine) -> CheckReport:
    """Run every check that applies to the backend; never raises for a damaged database."""
    report = CheckReport()
    if location.path is not None:
        report.checks.append("integrity")
        if not location.path.is_file():
            report.problems.append(f"no database file at {location.path}")
            return report
        damage = sqlite_problems(location.path)
        if damage:
            report.problems.extend(f"integrity_check: {line}" for line in damage)
            return report  # queries on a damaged file prove nothing more
    try:
        report.checks.append("schema revision")
        revision = current_revision(engine)
        if revision is not None and not is_known_revision(revision):
            report.problems.append(
                f"schema revision {revision} is newer than this version knows ({head_revision()})"
            )
            return report
        if revision != head_revision():
            report.notes.append(
                f"schema at revision {revision or 'none'}; the next open migrates it to "
                f"{head_revision()} (after a backup)"
            )
        if location.path is not None:
            report.checks.append("foreign keys")
            report.problems.extend(_sqlite_foreign_key_check(engine))
        report.checks.append("orphaned rows")
        report.problems.extend(orphaned_rows(engine))
    except DatabaseError as err:
        reason = str(getattr(err, "orig", err)).splitlines()[0]
        report.problems.append(f"cannot read the database: {reason}")
    return report
