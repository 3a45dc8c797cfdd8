"""A tiny registry built with the ORM, shared by the registry tests (no tests here)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy.orm import Session

from solidarity.registry import service
from solidarity.registry.models import Household, Identifier, Person
from solidarity.registry.repository import AreaRepository

REGISTERED = datetime(2024, 1, 1, tzinfo=UTC)

AREAS = [
    {"code": "R01", "name": "North", "level": "0", "level_name": "region", "parent_code": ""},
    {
        "code": "R01-D01",
        "name": "Hills",
        "level": "1",
        "level_name": "district",
        "parent_code": "R01",
    },
    {"code": "R01-D02", "name": "Lakeside", "level": "1", "parent_code": "R01"},
    {"code": "R02", "name": "South", "level": "0", "parent_code": ""},
    {"code": "R02-D01", "name": "Plains", "level": "1", "parent_code": "R02"},
]


@dataclass
class TinyRegistry:
    """Ids of the households and persons of the tiny registry."""

    areas: dict[str, int]
    okello: int  # household in R01-D01: Amina (head), John (spouse), Grace (child)
    mwangi: int  # household in R01-D02: Peter (head), Ruth (spouse)
    ali: int  # household in R02-D01: Sara (head)
    amina: int
    john: int
    grace: int
    peter: int
    ruth: int
    sara: int


def _household(session: Session, area_id: int, **fields: object) -> Household:
    household = Household(area_id=area_id, valid_from=REGISTERED, **fields)
    session.add(household)
    session.flush()
    return household


def _person(
    session: Session,
    household: Household,
    given: str,
    family: str,
    sex: str,
    born: date,
    relationship: str,
    national_id: str | None = None,
) -> Person:
    person = Person(
        household_id=household.id,
        area_id=household.area_id,
        given_name=given,
        family_name=family,
        sex=sex,
        birth_date=born,
        relationship=relationship,
        valid_from=REGISTERED,
    )
    session.add(person)
    session.flush()
    if national_id:
        session.add(
            Identifier(
                person_id=person.id,
                id_type="national_id",
                value=national_id,
                valid_from=REGISTERED,
            )
        )
    return person


def build_registry(session: Session) -> TinyRegistry:
    """Five areas, three households and six persons, registered on 2024-01-01."""
    service.load_areas(session, AREAS)
    areas = {
        a.code: a.id
        for a in [AreaRepository(session).by_code(r["code"]) for r in AREAS]
        if a is not None
    }
    okello = _household(session, areas["R01-D01"], roof="thatch", electricity=False)
    amina = _person(
        session, okello, "Amina", "Okello", "female", date(1980, 5, 2), "head", "NID-001"
    )
    john = _person(session, okello, "John", "Okello", "male", date(1978, 3, 9), "spouse", "NID-002")
    grace = _person(session, okello, "Grace", "Okello", "female", date(2015, 7, 1), "child")
    mwangi = _household(session, areas["R01-D02"], roof="tiles")
    peter = _person(
        session, mwangi, "Peter", "Mwangi", "male", date(1950, 1, 20), "head", "NID-003"
    )
    ruth = _person(session, mwangi, "Ruth", "Mwangi", "female", date(1955, 11, 30), "spouse")
    ali = _household(session, areas["R02-D01"], roof="metal_sheet")
    sara = _person(session, ali, "Sara", "Ali", "female", date(1990, 2, 14), "head", "NID-004")
    session.flush()
    return TinyRegistry(
        areas=areas,
        okello=okello.id,
        mwangi=mwangi.id,
        ali=ali.id,
        amina=amina.id,
        john=john.id,
        grace=grace.id,
        peter=peter.id,
        ruth=ruth.id,
        sara=sara.id,
    )
