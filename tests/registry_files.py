"""Small, valid registry files for tests, and a way to spoil one value at a time."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from solidarity.db.engine import unit_of_work
from solidarity.registry.service import load_areas

AREAS = [
    {"code": "R1", "name": "North", "level": "0", "level_name": "region", "parent_code": ""},
    {"code": "R1-D1", "name": "Hills", "level": "1", "level_name": "district", "parent_code": "R1"},
    {"code": "R1-D2", "name": "Lake", "level": "1", "level_name": "district", "parent_code": "R1"},
    {"code": "R2", "name": "South", "level": "0", "level_name": "region", "parent_code": ""},
    {"code": "R2-D1", "name": "Coast", "level": "1", "level_name": "district", "parent_code": "R2"},
]


def households(n: int = 3) -> list[dict[str, Any]]:
    """``n`` households spread over the districts."""
    codes = ["R1-D1", "R1-D2", "R2-D1"]
    return [
        {
            "household_key": f"H{i}",
            "area_code": codes[i % 3],
            "address": f"{i} Main Street",
            "urban_rural": "rural" if i % 2 else "urban",
            "roof": "thatch",
            "electricity": "true" if i % 2 else "false",
            "land_hectares": "1.5",
            "livestock_cattle": "2",
            "registration_date": "2024-03-01",
        }
        for i in range(1, n + 1)
    ]


def persons(n_households: int = 3) -> list[dict[str, Any]]:
    """A head, a spouse and a child in every household, with identifiers."""
    rows = []
    for i in range(1, n_households + 1):
        rows += [
            {
                "person_key": f"P{i}a",
                "household_key": f"H{i}",
                "given_name": "Amina",
                "family_name": f"Diallo{i}",
                "sex": "female",
                "birth_date": "1980-05-01",
                "relationship": "head",
                "wg_seeing": "1",
                "id_national_id": f"NID{i:05d}",
            },
            {
                "person_key": f"P{i}b",
                "household_key": f"H{i}",
                "given_name": "Ousmane",
                "family_name": f"Diallo{i}",
                "sex": "male",
                "birth_date": "1978-02-11",
                "relationship": "spouse",
                "wg_seeing": "1",
                "id_national_id": f"NID{i:05d}9",
            },
            {
                "person_key": f"P{i}c",
                "household_key": f"H{i}",
                "given_name": "Fatou",
                "family_name": f"Diallo{i}",
                "sex": "female",
                "birth_date": "2012-09-30",
                "relationship": "child",
                "wg_seeing": "3",
                "id_birth_certificate": f"BC{i:05d}",
            },
        ]
    return rows


def write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    """Write ``rows`` (union of their keys as columns) to ``path``."""
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def registry_files(tmp: Path, n: int = 3, **spoil: Any) -> tuple[Path, Path]:
    """Write valid households.csv and persons.csv; ``spoil`` edits them first.

    ``spoil`` may hold ``households``/``persons`` callables taking and returning the rows.
    """
    hh, people = households(n), persons(n)
    if "households" in spoil:
        hh = spoil["households"](hh)
    if "persons" in spoil:
        people = spoil["persons"](people)
    return write_csv(tmp / "households.csv", hh), write_csv(tmp / "persons.csv", people)


def load_test_areas(engine: Engine) -> None:
    """Create the test area tree."""
    with unit_of_work(engine) as session:
        load_areas(session, AREAS)
