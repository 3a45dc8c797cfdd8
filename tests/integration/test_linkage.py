"""Deduplication, review, merges, intake check and list linkage on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from solidarity.db.engine import unit_of_work
from solidarity.linkage import service
from solidarity.linkage.config import LinkageConfig, config_from_dict
from solidarity.linkage.errors import BlockingRuleRefused, LinkageInputRefused
from solidarity.linkage.evaluation import accuracy_at
from solidarity.linkage.models import LinkagePair, LinkageRun
from solidarity.registry.history import person_state
from solidarity.registry.models import Area, Household, Identifier, Person, PersonHistory
from tests.linkage_data import synthetic_registry


@pytest.fixture
def registry(engine: Engine, tmp_path: Path) -> pl.DataFrame:
    return synthetic_registry(engine, tmp_path / "country")


def _pairs(engine: Engine, run_id: int) -> pl.DataFrame:
    with unit_of_work(engine) as s:
        rows = s.execute(
            select(
                LinkagePair.person_id_l,
                LinkagePair.person_id_r,
                LinkagePair.match_probability,
                LinkagePair.status,
            ).where(LinkagePair.run_id == run_id)
        ).all()
    return pl.DataFrame(
        [tuple(r) for r in rows],
        schema=["unique_id_l", "unique_id_r", "match_probability", "status"],
        orient="row",
    )


def test_dedupe_finds_planted_duplicates_and_stores_pairs(
    engine: Engine, registry: pl.DataFrame
) -> None:
    with unit_of_work(engine) as s:
        result = service.dedupe(s, actor="steward")
    stats = result.stats
    assert result.model_version == 1
    assert stats["persons"] > 1000 and stats["candidate_pairs"] > 0
    pairs = _pairs(engine, result.run_id)
    accuracy = accuracy_at(pairs, registry, 0.5)
    assert accuracy.f1 >= 0.9, accuracy
    # Nothing merged without auto_merge: every stored match waits for review.
    assert stats["auto_merged"] == 0
    assert set(pairs["status"].unique()) <= {"pending", "non_match"}
    with unit_of_work(engine) as s:
        model = service.get_model(s)
        queue = service.review_queue(s, limit=5)
        detail = service.get_pair(s, queue.items[0].id)
    assert model.version == 1 and {p.comparison for p in model.parameters} >= {
        "given_name",
        "family_place",
        "birth_date",
    }
    assert queue.total == stats["pending_review"]
    weights = [p.match_weight for p in queue.items]
    assert weights == sorted(weights, reverse=True)
    assert len(detail.records) == 2 and all(a.level for a in detail.agreement)


def test_decisions_are_remembered_across_runs(engine: Engine, registry: pl.DataFrame) -> None:
    with unit_of_work(engine) as s:
        service.dedupe(s)
    with unit_of_work(engine) as s:
        first = service.review_queue(s, limit=1).items[0]
        service.decide(s, first.id, "not_match", actor="steward", reason="twins")
    with unit_of_work(engine) as s:
        again = service.dedupe(s, retrain=False)
    with unit_of_work(engine) as s:
        rows = s.scalars(
            select(LinkagePair).where(
                LinkagePair.run_id == again.run_id,
                LinkagePair.person_id_l == first.person_id_l,
                LinkagePair.person_id_r == first.person_id_r,
            )
        ).all()
        pending = service.review_queue(s, limit=500)
        evaluation = service.evaluate_decisions(s)
    assert [r.status for r in rows] == ["not_match"]
    assert (first.person_id_l, first.person_id_r) not in {
        (p.person_id_l, p.person_id_r) for p in pending.items
    }
    assert again.stats["already_decided"] == 1 and again.model_version == 1
    assert evaluation.labelled_pairs == 1 and evaluation.non_matches == 1


class _Memberships:
    """A membership mover as a programme domain would register it (kept in memory here)."""

    def __init__(self) -> None:
        self.members: dict[str, int] = {}

    def move(self, session: Session, **ids: Any) -> Any:
        moved = [k for k, v in self.members.items() if v == ids["merged_person_id"]]
        for key in moved:
            self.members[key] = ids["survivor_person_id"]
        return {"moved": moved, "back_to": ids["merged_person_id"]}

    def restore(self, session: Session, token: Any) -> None:
        for key in token["moved"]:
            self.members[key] = token["back_to"]


def _state(session: Session, person_id: int) -> dict[str, Any]:
    person = session.get(Person, person_id)
    assert person is not None
    skip = {"version", "valid_from", "changed_by", "change_request_id"}
    return {k: v for k, v in person_state(person).items() if k not in skip}


def _identifiers(session: Session, person_id: int) -> set[tuple[str, str]]:
    rows = session.scalars(
        select(Identifier).where(Identifier.person_id == person_id, Identifier.active.is_(True))
    ).all()
    return {(i.id_type, i.value) for i in rows}


def test_merge_and_unmerge_round_trip(engine: Engine, registry: pl.DataFrame) -> None:
    memberships = _Memberships()
    service.register_membership_mover("test-programmes", memberships)
    try:
        with unit_of_work(engine) as s:
            service.dedupe(s)
        with unit_of_work(engine) as s:
            pair = service.review_queue(s, limit=1).items[0]
            keep, gone = pair.person_id_l, pair.person_id_r
            s.get(Person, keep).phone = None  # type: ignore[union-attr]
            before = {p: _state(s, p) for p in (keep, gone)}
            before[keep]["phone"] = None
            ids_before = {p: _identifiers(s, p) for p in (keep, gone)}
            gone_household = s.get(Person, gone).household_id  # type: ignore[union-attr]
        memberships.members = {"CGR/1": gone, "OAP/7": keep}
        with unit_of_work(engine) as s:
            decided = service.decide(s, pair.id, "match", actor="steward")
        assert decided.merge is not None
        with unit_of_work(engine) as s:
            survivor, merged = s.get(Person, keep), s.get(Person, gone)
            assert survivor is not None and merged is not None
            assert merged.status == "merged" and merged.removal_reason == "duplicate"
            assert _identifiers(s, keep) == ids_before[keep] | ids_before[gone]
            assert _identifiers(s, gone) == set()
            assert "phone" in decided.merge.fields_taken and survivor.phone == merged.phone
            history = s.scalars(
                select(PersonHistory).where(PersonHistory.person_id.in_([keep, gone]))
            ).all()
            assert len(history) >= 2
        assert memberships.members == {"CGR/1": keep, "OAP/7": keep}
        with unit_of_work(engine) as s:
            service.unmerge(s, decided.merge.id, actor="steward")
        with unit_of_work(engine) as s:
            assert {p: _state(s, p) for p in (keep, gone)} == before
            assert {p: _identifiers(s, p) for p in (keep, gone)} == ids_before
            household = s.get(Household, gone_household)
            assert household is not None and household.status == "active"
            queue = service.review_queue(s, limit=500)
        assert memberships.members == {"CGR/1": gone, "OAP/7": keep}
        assert pair.id not in {p.id for p in queue.items}  # undone means not a match
        with unit_of_work(engine) as s, pytest.raises(service.MergeConflict):
            service.unmerge(s, decided.merge.id)
    finally:
        service.unregister_membership_mover("test-programmes")


def test_intake_check_warns_before_saving_and_queues_imports(
    engine: Engine, registry: pl.DataFrame
) -> None:
    with unit_of_work(engine) as s:
        service.dedupe(s)
        person = s.scalars(select(Person).where(Person.status == "active").limit(1)).one()
        record = {
            "given_name": person.given_name,
            "family_name": person.family_name,
            "birth_date": person.birth_date,
            "sex": person.sex,
            "household_id": None,
        }
        warnings = service.possible_duplicates(s, record)
        assert warnings and warnings[0].person_id == person.id
        assert warnings[0].match_probability >= 0.5
        unknown = service.possible_duplicates(
            s, {"given_name": "Zzyzx", "family_name": "Qwerty", "birth_date": "1901-01-01"}
        )
        assert unknown == []
        # A bulk import registers someone again: after the batch the check queues the pair.
        clone = Person(
            **{
                k: v
                for k, v in person_state(person).items()
                if k not in {"version", "valid_from", "change_request_id"}
            }
        )
        clone.status = "active"
        s.add(clone)
        s.flush()
        runs_before = s.scalars(select(LinkageRun)).all()
        outcome = service.check_new_persons(s, [clone.id], actor="import")
        assert len(s.scalars(select(LinkageRun)).all()) == len(runs_before) + 1
    assert outcome.persons_checked == 1
    # Same household: relatives are not compared, so nothing is queued for a same-household clone.
    with unit_of_work(engine) as s:
        other = s.scalars(select(Household.id).where(Household.id != clone.household_id)).first()
        target = s.get(Person, clone.id)
        assert target is not None and other is not None
        target.household_id = other
        s.flush()
        outcome = service.check_new_persons(s, [clone.id], actor="import")
    assert outcome.pairs_queued >= 1


def test_link_outside_list_and_refuse_bad_input(
    engine: Engine, registry: pl.DataFrame, tmp_path: Path
) -> None:
    country = tmp_path / "country"
    listed = pl.read_csv(country / "beneficiaries_OAP.csv", infer_schema_length=0)
    mapping = service.mapping_from_dict(
        {
            "id": "beneficiary_id",
            "fields": {
                "given_name": "given_name",
                "family_name": "family_name",
                "birth_date": "birth_date",
                "sex": "sex",
                "national_id": "national_id",
                "phone": "phone",
                "area_code": "area_code",
            },
        }
    )
    with unit_of_work(engine) as s:
        result = service.link_list(s, listed, mapping, "OAP")
        links = service.linked_persons(s, bands=("match",))
    assert result.records == listed.height
    truth = pl.read_csv(country / "ground_truth_links.csv", infer_schema_length=0).filter(
        pl.col("programme_code") == "OAP"
    )
    with unit_of_work(engine) as s:
        keys = {r[0]: r[1] for r in s.execute(select(Person.id, Person.source_key))}
    found = links.with_columns(
        pl.col("person_id").replace_strict(keys, return_dtype=pl.String).alias("person_key")
    )
    joined = found.join(
        truth.select(pl.col("beneficiary_id").alias("source_record_id"), "person_key"),
        on="source_record_id",
    )
    correct = joined.filter(pl.col("person_key") == pl.col("person_key_right")).height
    assert correct / max(found.height, 1) >= 0.9
    assert result.matched >= 0.7 * listed.height

    with unit_of_work(engine) as s:
        with pytest.raises(LinkageInputRefused, match="lacks the column"):
            service.link_list(s, listed.drop("sex"), mapping, "OAP")
        with pytest.raises(LinkageInputRefused, match="no records"):
            service.link_list(s, listed.clear(), mapping, "OAP")
        with pytest.raises(LinkageInputRefused, match="empty in every record"):
            service.link_list(s, listed.with_columns(pl.lit(None).alias("sex")), mapping, "OAP")
    with pytest.raises(LinkageInputRefused, match="unknown field"):
        service.mapping_from_dict({"id": "beneficiary_id", "fields": {"shoe_size": "x"}})


def test_explosive_blocking_rule_is_refused_before_training(
    engine: Engine, registry: pl.DataFrame
) -> None:
    config = config_from_dict(
        {"blocking": {"rules": [["sex"]], "max_comparisons_per_rule": 100_000}}
    )
    with unit_of_work(engine) as s, pytest.raises(BlockingRuleRefused, match="sex") as caught:
        service.dedupe(s, config)
    assert caught.value.extra["comparisons"] > 100_000
    with unit_of_work(engine) as s:
        assert s.scalars(select(LinkageRun)).all() == []
    with pytest.raises(LinkageInputRefused):
        config_from_dict({"thresholds": {"review": 0.9, "match": 0.5}})
    assert LinkageConfig().auto_merge is False


def test_auto_merge_only_when_enabled(engine: Engine, registry: pl.DataFrame) -> None:
    config = config_from_dict({"auto_merge": True, "thresholds": {"match": 0.999}})
    with unit_of_work(engine) as s:
        result = service.dedupe(s, config)
    assert result.stats["auto_merged"] > 0
    with unit_of_work(engine) as s:
        merged = s.scalars(select(Person).where(Person.status == "merged")).all()
    assert len(merged) == result.stats["auto_merged"]


def test_bulk_import_queues_possible_duplicates_after_each_batch(
    engine: Engine, registry: pl.DataFrame, tmp_path: Path
) -> None:
    from solidarity.registry.intake.service import import_files
    from tests.registry_files import write_csv

    with unit_of_work(engine) as s:
        service.dedupe(s)
        person = s.scalars(
            select(Person).where(Person.status == "active", Person.relationship == "head").limit(1)
        ).one()
        area = s.scalars(select(Household.area_id).where(Household.id == person.household_id)).one()
        area_code = s.scalars(select(Area.code).where(Area.id == area)).one()
        queued_before = s.scalar(
            select(func.count()).select_from(LinkagePair).where(LinkagePair.status == "pending")
        )
    # A partner's file registers the same head again, as a new household of the same area.
    households = write_csv(
        tmp_path / "h.csv", [{"household_key": "AGAIN-1", "area_code": area_code}]
    )
    persons = write_csv(
        tmp_path / "p.csv",
        [
            {
                "person_key": "AGAIN-1-1",
                "household_key": "AGAIN-1",
                "given_name": person.given_name,
                "family_name": person.family_name,
                "sex": person.sex,
                "birth_date": person.birth_date.isoformat(),
                "relationship": "head",
            }
        ],
    )
    outcome = import_files(
        engine,
        [households, persons],
        source="partner",
        on_batch=service.review_imported_persons(engine, "import"),
    )
    assert outcome.status == "succeeded", outcome.errors
    with unit_of_work(engine) as s:
        new_id = s.scalars(select(Person.id).where(Person.source_key == "AGAIN-1-1")).one()
        pending = s.execute(
            select(LinkagePair.person_id_l, LinkagePair.person_id_r).where(
                LinkagePair.status == "pending"
            )
        ).all()
        assert len(pending) > (queued_before or 0)
        assert any(new_id in pair and person.id in pair for pair in pending)
