"""Several librarians from the terminal: --user on decisions, claim/claims/release, conflicts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from tagger_core.cli import main
from tagger_core.db import open_library
from tagger_core.db.models import Prediction, ReviewDecision, Track
from tagger_core.trust.librarians import default_user


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def flagged_db(db_location: str) -> str:
    lib = open_library(db_location)
    with lib.session() as s:
        rows = [
            Track(path=f"/m/{i}.flac".encode(), path_text=f"/m/{i}.flac", size=1, mtime_ns=1,
                  title=f"Song {i}")  # fmt: skip
            for i in range(6)
        ]
        s.add_all(rows)
        s.flush()
        for i, row in enumerate(rows):
            s.add(Prediction(track_id=row.id, bundle_id="genre", flagged=True, uncertainty=i / 6))
    lib.close()
    return db_location


def test_claim_list_release_through_the_cli(flagged_db: str, capsys) -> None:
    db = flagged_db
    code, out, _ = run(capsys, "--db", db, "review", "claim", "2", "--user", "alice", "--json")
    alice = json.loads(out)
    assert code == 0 and alice["user"] == "alice" and len(alice["claimed"]) == 2
    code, out, _ = run(capsys, "--db", db, "review", "claim", "--user", "bob", "--hours", "1")
    assert code == 0 and "bob now holds 4 more tracks" in out
    code, out, _ = run(capsys, "--db", db, "review", "claim", "--user", "carol")
    assert code == 0 and "Nothing to claim" in out
    code, out, _ = run(capsys, "--db", db, "review", "claims", "--json")
    held = {c["track_id"]: c["user"] for c in json.loads(out)}
    assert sorted(held.values()) == ["alice"] * 2 + ["bob"] * 4
    code, out, _ = run(capsys, "--db", db, "review", "claims")
    assert "alice holds 2; bob holds 4" in out
    code, out, _ = run(capsys, "--db", db, "review", "--limit", "6")
    assert out.count("(held by bob until") == 4
    code, _, err = run(capsys, "--db", db, "review", "release", "--user", "alice")
    assert code == 2 and "name the tracks to release, or --all" in err
    first = str(alice["claimed"][0])
    code, out, _ = run(capsys, "--db", db, "review", "release", first, "--user", "alice")
    assert code == 0 and "released 1 track held by alice" in out
    code, out, _ = run(capsys, "--db", db, "review", "done", first, "--user", "carol")
    assert "by carol" in out
    code, out, _ = run(capsys, "--db", db, "review", "release", "--all", "--user", "bob")
    assert "released 4 tracks held by bob" in out


def test_decisions_record_the_user_and_conflicts_are_listed(flagged_db: str, capsys) -> None:
    db = flagged_db
    assert run(capsys, "--db", db, "review", "accept", "1", "Rock", "--user", "alice")[0] == 0
    assert run(capsys, "--db", db, "review", "reject", "1", "Rock", "--user", "bob")[0] == 0
    assert run(capsys, "--db", db, "review", "add", "2", "Jazz")[0] == 0  # the OS login
    code, out, _ = run(capsys, "--db", db, "review", "conflicts")
    assert code == 0 and "1 labels decided differently" in out
    assert "bob reject" in out and "wins over alice accept" in out
    code, out, _ = run(capsys, "--db", db, "review", "conflicts", "--json")
    (c,) = json.loads(out)
    assert (c["winner"], c["overruled"], c["label"]) == ("bob", "alice", "Rock")
    lib = open_library(db)
    with lib.session() as s:
        users = list(s.scalars(select(ReviewDecision.decided_by).order_by(ReviewDecision.id)))
    lib.close()
    assert users == ["alice", "bob", default_user()]
    # undo takes back only your own newest decision
    code, out, _ = run(capsys, "--db", db, "review", "undo", "--user", "alice")
    assert "undid accept Rock on track 1 (by alice)" in out
    code, out, _ = run(capsys, "--db", db, "review", "undo", "--user", "alice")
    assert "Nothing of alice's to undo." in out


def test_report_command_lists_conflicts(tmp_path: Path, capsys) -> None:
    db = str(tmp_path / "library.db")
    lib = open_library(db)
    with lib.session() as s:
        s.add(Track(path=b"/m/x.flac", path_text="/m/x.flac", size=1, mtime_ns=1))
    lib.close()
    run(capsys, "--db", db, "review", "add", "1", "Blues", "--user", "ann")
    run(capsys, "--db", db, "review", "reject", "1", "Blues", "--user", "ben")
    page = tmp_path / "report.html"
    assert run(capsys, "--db", db, "report", "-o", str(page))[0] == 0
    text = page.read_text(encoding="utf-8")
    assert "Review conflicts" in text and "ben: reject" in text and "ann: add" in text
