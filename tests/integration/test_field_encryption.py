"""Field encryption: nothing readable at rest, blind-index search, key rotation, wrong keys."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from solidarity.backup import service as backup
from solidarity.config import get_settings
from solidarity.db.base import utcnow
from solidarity.db.encrypted import EncryptedComparisonError
from solidarity.db.engine import unit_of_work
from solidarity.governance import rotation
from solidarity.governance.encryption import (
    FieldKeyError,
    KeyRing,
    reset_key_ring,
    write_key_ring,
)
from solidarity.linkage.models import LinkageMerge
from solidarity.registry import service
from solidarity.registry.history import person_state
from solidarity.registry.intake.service import import_files
from solidarity.registry.models import ChangeRequest, Identifier, Person, PersonHistory
from solidarity.registry.schemas import RegistrySearch
from tests.integration.test_registry_builders import TinyRegistry, build_registry
from tests.registry_files import load_test_areas, registry_files

PLAINTEXT = ["Amina", "Okello", "Mwangi", "NID-001", "NID-004", "+256700111222"]
#: A change-request payload and merge snapshot copying Amina's data.
DOCUMENT = {
    "person": {"given_name": "Amina", "family_name": "Okello", "phone": "+256700111222"},
    "identifiers": [{"id_type": "national_id", "value": "NID-001"}],
}


@pytest.fixture
def own_keys(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A key ring of this test only, so that rotating it leaves the other tests alone."""
    path = tmp_path / "own-keys.json"
    write_key_ring(KeyRing.generate(str(path)), path)
    monkeypatch.setenv("SOLIDARITY_KEY_FILE", str(path))
    get_settings.cache_clear()
    reset_key_ring()
    return path


def _registry(engine: Engine) -> TinyRegistry:
    with unit_of_work(engine) as session:
        reg = build_registry(session)
        amina = session.get(Person, reg.amina)
        assert amina is not None
        amina.phone = "+256700111222"
        amina.other_names = "Zoë"
        session.flush()
        # An earlier version of Amina, as a registry change would keep it.
        session.add(PersonHistory(person_id=amina.id, valid_to=utcnow(), **person_state(amina)))
        # JSON documents that copy her name, phone and identifier.
        session.add(
            ChangeRequest(
                kind="update_fields",
                household_id=reg.okello,
                person_id=amina.id,
                payload=DOCUMENT,
                result={"person": DOCUMENT["person"]},
                requested_by="officer",
            )
        )
        session.add(
            LinkageMerge(
                survivor_id=reg.amina,
                merged_id=reg.sara,
                survivor_before=DOCUMENT["person"],
                merged_before={"identifiers": DOCUMENT["identifiers"]},
                fields_taken=["phone"],
                identifiers_moved=[],
                memberships={},
            )
        )
    return reg


def _raw_text(engine: Engine) -> str:
    """Every stored value of the encrypted and index columns, as the database holds them."""
    parts = []
    with engine.connect() as conn:
        for table, columns in {
            "person": "given_name, family_name, other_names, phone, name_index",
            "person_history": "given_name, family_name, other_names, phone, name_index",
            "identifier": "value, value_index",
            "change_request": "payload, result",
            "linkage_merge": "survivor_before, merged_before",
        }.items():
            for row in conn.execute(text(f"SELECT {columns} FROM {table}")):
                parts.extend(str(v) for v in row)
    return "\n".join(parts)


def _household_ids(session: Session, **filters: object) -> list[int]:
    page = service.search_households(session, RegistrySearch.model_validate(filters))
    return [h.id for h in page.items]


def _person_ids(session: Session, **filters: object) -> list[int]:
    page = service.search_persons(session, RegistrySearch.model_validate(filters))
    return [p.id for p in page.items]


def test_nothing_readable_in_the_database(engine: Engine) -> None:
    reg = _registry(engine)
    raw = _raw_text(engine)
    assert "Amina" not in raw and "NID-001" not in raw and "+256700111222" not in raw
    assert "Zoë" not in raw
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT phone FROM person WHERE id = :i"), {"i": reg.amina})
        assert stored.scalar_one().count(":") == 1  # "<key id>:<sealed>"
    # The history written by the change keeps the earlier state encrypted too.
    with engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM person_history")).scalar_one() >= 1
    # Through the application everything reads back.
    with unit_of_work(engine) as session:
        amina = session.get(Person, reg.amina)
        assert amina is not None
        assert (amina.given_name, amina.phone, amina.other_names) == (
            "Amina",
            "+256700111222",
            "Zoë",
        )
        values = sorted(session.scalars(select(Identifier.value)))
        assert values == ["NID-001", "NID-002", "NID-003", "NID-004"]
        old = session.scalars(select(PersonHistory).where(PersonHistory.person_id == reg.amina))
        assert {h.given_name for h in old} == {"Amina"}
        request = session.scalars(select(ChangeRequest)).one()
        assert request.payload == DOCUMENT and request.result == {"person": DOCUMENT["person"]}
        merge = session.scalars(select(LinkageMerge)).one()
        assert merge.survivor_before == DOCUMENT["person"]
        assert merge.merged_before == {"identifiers": DOCUMENT["identifiers"]}
        # The documents cannot be queried inside in SQL either.
        with pytest.raises(EncryptedComparisonError):
            session.scalars(select(ChangeRequest).where(ChangeRequest.payload == DOCUMENT))
    if engine.dialect.name == "sqlite":
        database = Path(engine.url.database or "")
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(FULL)")
        # Read by another process: closing a file this process opened on the live
        # database would drop all its SQLite locks (POSIX locks are per process), and
        # a worker closing next would take itself for the last connection and delete
        # the WAL from under this process's open connections.
        files = [database, *database.parent.glob(database.name + "-wal")]
        data = subprocess.run(["cat", *map(str, files)], capture_output=True, check=True).stdout
        for word in PLAINTEXT:
            assert word.encode() not in data, word


def test_bulk_import_writes_encrypted_values(engine: Engine, tmp_path: Path) -> None:
    load_test_areas(engine)
    outcome = import_files(engine, registry_files(tmp_path, n=3))
    assert outcome.status == "succeeded"
    raw = _raw_text(engine)
    assert "Diallo" not in raw and "Ousmane" not in raw and "NID00001" not in raw
    with unit_of_work(engine) as session:
        assert _person_ids(session, name="ousmane diallo2") != []
        found = _person_ids(session, id_type="national_id", id_value="NID00002")
        assert len(found) == 1
        person = session.get(Person, found[0])
        assert person is not None and person.family_name == "Diallo2"
    # A second file with the same identifier is refused through the blind index.
    other = tmp_path / "other"
    other.mkdir()
    again = import_files(engine, registry_files(other, n=1), source="ministry-b")
    assert {e.rule for e in again.errors} == {"identifier_in_registry"}


def test_blind_index_search(engine: Engine) -> None:
    reg = _registry(engine)
    with unit_of_work(engine) as session:
        assert _person_ids(session, id_value="NID-004") == [reg.sara]
        assert _person_ids(session, id_type="national_id", id_value="NID-003") == [reg.peter]
        assert _person_ids(session, id_value="NID-00") == []  # exact only
        assert _person_ids(session, name="AMINA") == [reg.amina]
        assert _person_ids(session, name="zoe") == [reg.amina]  # accents folded
        assert _person_ids(session, name="ami") == []  # no substring search
        # A careless comparison of ciphertexts is refused rather than silently empty.
        with pytest.raises(EncryptedComparisonError):
            session.scalars(select(Person).where(Person.given_name == "Amina"))


def test_rotation_reencrypts_everything_and_retires_the_old_key(
    engine: Engine, own_keys: Path
) -> None:
    reg = _registry(engine)
    before = rotation.key_usage(engine)
    (old,) = before
    # `keys fields status` counts the sealed JSON documents too.
    assert before[old]["change_request.payload"] == before[old]["change_request.result"] == 1
    assert before[old]["linkage_merge.survivor_before"] == 1
    with pytest.raises(FieldKeyError, match="active"):
        rotation.retire_data_key(engine, old)
    ring = rotation.add_data_key()
    assert ring.active_data != old
    # Retiring before re-encrypting is refused: values would become unreadable.
    with pytest.raises(FieldKeyError, match="still seals"):
        rotation.retire_data_key(engine, old)
    seen: list[tuple[str, int, int]] = []
    report = rotation.reencrypt(engine, ring, progress=lambda *a: seen.append(a))
    assert report.rewritten["person"] == 6 and report.rewritten["identifier"] == 4
    assert report.rewritten["change_request"] == 1 and report.rewritten["linkage_merge"] == 1
    assert seen and seen[-1][1] == seen[-1][2]
    assert set(rotation.key_usage(engine)) == {ring.active_data}
    # Resuming finds nothing left to do.
    assert rotation.reencrypt(engine, ring).total == 0
    rotation.retire_data_key(engine, old)
    assert old not in own_keys.read_text()
    with unit_of_work(engine) as session:
        assert _person_ids(session, id_value="NID-001") == [reg.amina]
        amina = session.get(Person, reg.amina)
        assert amina is not None and amina.phone == "+256700111222"
        assert session.scalars(select(ChangeRequest.payload)).one() == DOCUMENT
        merge = session.scalars(select(LinkageMerge)).one()
        assert merge.survivor_before == DOCUMENT["person"]


def test_blind_index_rotation_keeps_search_working(engine: Engine, own_keys: Path) -> None:
    reg = _registry(engine)
    with engine.connect() as conn:
        before = conn.execute(text("SELECT value_index FROM identifier ORDER BY id")).all()
    ring = rotation.add_index_key()
    # During the rotation both keys answer.
    with unit_of_work(engine) as session:
        assert _person_ids(session, id_value="NID-002") == [reg.john]
        assert _household_ids(session, name="mwangi") == [reg.mwangi]
    rotation.reindex(engine, ring)
    rotation.drop_inactive_index_keys()
    with engine.connect() as conn:
        after = conn.execute(text("SELECT value_index FROM identifier ORDER BY id")).all()
    assert set(before).isdisjoint(after)
    with unit_of_work(engine) as session:
        assert _person_ids(session, id_value="NID-002") == [reg.john]
        assert _person_ids(session, name="mwangi") == [reg.peter, reg.ruth]
        # Household searches read person_name_token on PostgreSQL: rewritten too.
        assert _household_ids(session, name="mwangi") == [reg.mwangi]
        assert _household_ids(session, name="ruth mwangi") == [reg.mwangi]


def test_wrong_or_missing_keys_fail_clearly(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    reg = _registry(engine)
    stranger = tmp_path / "stranger.json"
    write_key_ring(KeyRing.generate(str(stranger)), stranger)
    monkeypatch.setenv("SOLIDARITY_KEY_FILE", str(stranger))
    get_settings.cache_clear()
    reset_key_ring()
    with unit_of_work(engine) as session, pytest.raises(FieldKeyError, match="not in the key ring"):
        session.get(Person, reg.amina)
    monkeypatch.setenv("SOLIDARITY_KEY_FILE", str(tmp_path / "missing.json"))
    get_settings.cache_clear()
    reset_key_ring()
    from solidarity.web.app import create_app

    with pytest.raises(FieldKeyError, match="solidarity keys fields init"):
        create_app(engine)
    (tmp_path / "broken.json").write_text("{not json")
    monkeypatch.setenv("SOLIDARITY_KEY_FILE", str(tmp_path / "broken.json"))
    get_settings.cache_clear()
    reset_key_ring()
    with pytest.raises(FieldKeyError, match="not a field key ring"):
        create_app(engine)


def test_backups_hold_no_plaintext(engine: Engine, tmp_path: Path) -> None:
    _registry(engine)
    manifest = backup.create_backup(engine, tmp_path / "backup")
    dump = tmp_path / "backup" / manifest["file"]
    if engine.dialect.name == "postgresql":
        # The custom format is compressed: read it back as SQL text before looking.
        restore = backup._pg_command("pg_restore")
        content = subprocess.run(
            [restore, "--data-only", "-f", "-", str(dump)],
            capture_output=True,
            check=True,
        ).stdout
        assert b"COPY public.person" in content
    else:
        content = dump.read_bytes()
    assert content
    for word in PLAINTEXT:
        assert word.encode() not in content, word
