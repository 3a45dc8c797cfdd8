"""The audit trail is a hash chain: editing, deleting or re-ordering entries is found."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from solidarity.cli.main import app as cli_app
from solidarity.db.engine import session_factory, unit_of_work
from solidarity.governance import audit


def _write(engine: Engine, n: int = 5) -> None:
    with unit_of_work(engine) as session:
        for i in range(1, n + 1):
            audit.record(
                session,
                actor=f"user{i}",
                action="person.read",
                object_type="person",
                object_id=i,
                details={"n": i, "ids": [i, i + 1]},
                client_address="10.0.0.1",
            )
    assert audit.chain(engine) == n


def _verify(engine: Engine) -> audit.VerifyReport:
    with session_factory(engine)() as session:
        return audit.verify(session)


def test_an_untouched_chain_verifies(engine: Engine) -> None:
    _write(engine)
    report = _verify(engine)
    assert report.ok and report.checked == 5 and report.head_sequence == 5


def test_an_edited_entry_is_named(engine: Engine) -> None:
    _write(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_entry SET actor = 'someone' WHERE sequence = 3"))
    report = _verify(engine)
    assert report.problem is not None
    assert (report.problem.sequence, report.problem.kind) == (3, "edited")
    assert report.checked == 2


def test_an_edited_entry_with_a_recomputed_hash_breaks_the_next_link(engine: Engine) -> None:
    _write(engine)
    with session_factory(engine)() as session:
        entry = session.execute(text("SELECT id FROM audit_entry WHERE sequence = 2")).scalar_one()
        from solidarity.governance.models import AuditEntry

        row = session.get(AuditEntry, entry)
        assert row is not None
        row.details = {"n": 99}
        row.hash = audit.entry_hash(row, row.previous_hash)
        session.commit()
    report = _verify(engine)
    assert report.problem is not None
    assert (report.problem.sequence, report.problem.kind) == (3, "out_of_order")
    assert "entry 2 was rewritten" in report.problem.message


def test_a_deleted_entry_is_named(engine: Engine) -> None:
    _write(engine)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_entry WHERE sequence = 4"))
    report = _verify(engine)
    assert report.problem is not None
    assert (report.problem.sequence, report.problem.kind) == (4, "missing")


def test_reordered_entries_are_named(engine: Engine) -> None:
    _write(engine)
    with engine.begin() as conn:  # swap entries 2 and 3
        conn.execute(text("UPDATE audit_entry SET sequence = -2 WHERE sequence = 2"))
        conn.execute(text("UPDATE audit_entry SET sequence = 2 WHERE sequence = 3"))
        conn.execute(text("UPDATE audit_entry SET sequence = 3 WHERE sequence = -2"))
    report = _verify(engine)
    assert report.problem is not None
    assert (report.problem.sequence, report.problem.kind) == (2, "out_of_order")


def test_audit_verify_command_exits_non_zero_and_names_the_entry(
    engine: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOLIDARITY_DATABASE_URL", database_url)
    _write(engine)
    runner = CliRunner()
    ok = runner.invoke(cli_app, ["audit", "verify"])
    assert ok.exit_code == 0, ok.output
    assert "5 entries" in ok.output
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_entry SET object_id = '42' WHERE sequence = 5"))
    broken = runner.invoke(cli_app, ["audit", "verify"])
    assert broken.exit_code != 0
    assert "entry 5 was edited" in broken.output


def test_audit_export_writes_every_entry_as_json_lines(
    engine: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    import json
    from pathlib import Path

    monkeypatch.setenv("SOLIDARITY_DATABASE_URL", database_url)
    _write(engine, 3)
    out = Path(str(tmp_path)) / "audit.jsonl"
    result = CliRunner().invoke(cli_app, ["audit", "export", "--out", str(out)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [e["sequence"] for e in lines] == [1, 2, 3]
    assert lines[1]["previous_hash"] == lines[0]["hash"]


def test_an_entry_is_written_at_once_and_chained_after(engine: Engine) -> None:
    from sqlalchemy import select

    from solidarity.governance.models import AuditEntry

    with unit_of_work(engine) as session:
        audit.record(session, actor="a", action="person.read", object_id=1)
    with unit_of_work(engine) as session:
        audit.record(session, actor="b", action="person.read", object_id=2)
    with session_factory(engine)() as session:
        rows = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
        assert [(r.actor, r.sequence, r.hash) for r in rows] == [
            ("a", None, None),
            ("b", None, None),
        ]
    assert _verify(engine).checked == 0  # nothing chained yet, nothing broken
    assert audit.chain(engine) == 2
    assert audit.chain(engine) == 0
    with unit_of_work(engine) as session:
        audit.record(session, actor="c", action="person.read", object_id=3)
    assert audit.chain(engine) == 1
    report = _verify(engine)
    assert report.ok and report.checked == 3 and report.head_sequence == 3
    with session_factory(engine)() as session:
        rows = session.scalars(select(AuditEntry).order_by(AuditEntry.sequence)).all()
        assert [r.actor for r in rows] == ["a", "b", "c"]  # the order they were written


def test_a_rolled_back_entry_is_never_chained(engine: Engine) -> None:
    with pytest.raises(RuntimeError), unit_of_work(engine) as session:
        audit.record(session, actor="a", action="person.read")
        raise RuntimeError("the action failed")
    assert audit.chain(engine) == 0


def test_the_sequencer_chains_in_the_background(engine: Engine) -> None:
    import time

    sequencer = audit.Sequencer(engine, interval=0.05)
    sequencer.start()
    try:
        _write_unchained(engine, 3)
        deadline = time.monotonic() + 10
        while _verify(engine).checked < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        sequencer.stop()
    report = _verify(engine)
    assert report.ok and report.checked == 3


def _write_unchained(engine: Engine, n: int) -> None:
    with unit_of_work(engine) as session:
        for i in range(n):
            audit.record(session, actor=f"user{i}", action="person.read", object_id=i)
