"""Scrubbing an erased person out of JSON bodies and files, other people's data kept."""

from __future__ import annotations

import csv
from pathlib import Path

import polars as pl

from solidarity.registry.erasure import ErasureSubject
from solidarity.registry.scrub import scrub_file, scrub_json, scrub_linked_json

AMINA = ErasureSubject(
    person_ids=[7],
    values={"NID-001", "+254700111222", "Amina Okello", "Amina Wanjiru Okello"},
    name_parts={"Amina", "Wanjiru", "Okello"},
    name_pairs={("Amina", "Okello")},
)


def test_a_record_found_by_its_names_alone_is_scrubbed_and_a_relative_is_not() -> None:
    body = {
        "records": [
            {
                "given_name": "Amina",
                "family_name": "Okello",
                "birth_date": "1980-05-02",
                "sex": "F",
            },
            {"given_name": "John", "family_name": "Okello", "birth_date": "1978-03-09", "sex": "M"},
        ],
        "query": "phone +254700111222",
    }
    out = scrub_json(body, AMINA)
    assert out["records"][0] == {
        "given_name": "[erased]",
        "family_name": "[erased]",
        "birth_date": "1980-01-01",
        "sex": "F",
    }
    assert out["records"][1] == body["records"][1]
    assert out["query"] == "phone [erased]"


def test_a_record_linked_by_id_loses_its_personal_keys_whatever_they_hold() -> None:
    record = {"name": {"given_name": "Amina"}, "death_date": "2026-01-03"}
    assert scrub_json(record, AMINA) == record  # a given name alone proves nothing
    assert scrub_linked_json(record, AMINA) == {
        "name": {"given_name": "[erased]"},
        "death_date": "2026-01-03",
    }
    assert scrub_json({"person_id": 8, "given_name": "Amina"}, AMINA)["given_name"] == "Amina"
    assert scrub_json({"person_id": 7, "given_name": "Amina"}, AMINA)["given_name"] == "[erased]"


def test_files_keep_other_rows_and_columns_and_an_unrelated_file_is_untouched(
    tmp_path: Path,
) -> None:
    rows = [
        ["hh", "given_name", "family_name", "phone", "sex"],
        ["H1", "Amina", "Okello", "+254700111222", "F"],
        ["H1", "John", "Okello", "+254700333444", "M"],
    ]
    path = tmp_path / "persons.csv"
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    assert scrub_file(path, AMINA) == 1
    assert list(csv.reader(path.open())) == [
        rows[0],
        ["H1", "", "", "", "F"],
        rows[2],
    ]
    assert scrub_file(path, AMINA) == 0  # nothing left
    other = tmp_path / "other.parquet"
    pl.DataFrame({"given_name": ["Peter"], "phone": ["+1"]}).write_parquet(other)
    before = other.read_bytes()
    assert scrub_file(other, AMINA) == 0 and other.read_bytes() == before
    both = tmp_path / "both.parquet"
    pl.DataFrame(
        {"given_name": ["Amina", "Peter"], "nid": ["NID-001", "NID-9"], "n": [1, 2]}
    ).write_parquet(both)
    assert scrub_file(both, AMINA) == 1
    assert pl.read_parquet(both).to_dicts() == [
        {"given_name": None, "nid": None, "n": 1},
        {"given_name": "Peter", "nid": "NID-9", "n": 2},
    ]
