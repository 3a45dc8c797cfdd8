"""Registry reads: area subtrees, identifiers, names, ages, status, pagination, as_of."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy.orm import Session

from solidarity.errors import NotFoundError, ValidationFailed
from solidarity.registry import changes, service
from solidarity.registry.schemas import RegistrySearch
from solidarity.registry.service import age_on
from tests.integration.test_registry_builders import TinyRegistry, build_registry


@pytest.fixture
def reg(session: Session) -> TinyRegistry:
    return build_registry(session)


def _household_ids(session: Session, **filters: object) -> list[int]:
    page = service.search_households(session, RegistrySearch.model_validate(filters))
    return [h.id for h in page.items]


def _person_ids(session: Session, **filters: object) -> list[int]:
    page = service.search_persons(session, RegistrySearch.model_validate(filters))
    return [p.id for p in page.items]


def test_area_filter_includes_descendants(session: Session, reg: TinyRegistry) -> None:
    assert _household_ids(session, area="R01") == [reg.okello, reg.mwangi]
    assert _household_ids(session, area="R01-D02") == [reg.mwangi]
    assert _household_ids(session, area="R02") == [reg.ali]
    assert _person_ids(session, area="R01-D01") == [reg.amina, reg.john, reg.grace]
    with pytest.raises(ValidationFailed):
        _household_ids(session, area="NOPE")


def test_identifier_name_sex_and_age_filters(session: Session, reg: TinyRegistry) -> None:
    assert _person_ids(session, id_type="national_id", id_value="NID-002") == [reg.john]
    assert _household_ids(session, id_type="national_id", id_value="NID-003") == [reg.mwangi]
    assert _person_ids(session, name="okello") == [reg.amina, reg.john, reg.grace]
    assert _person_ids(session, name="GRACE okello") == [reg.grace]
    # Names are encrypted: search matches whole tokens (case and accents folded), not
    # substrings (decision 0002).
    assert _person_ids(session, name="okel") == []
    assert _person_ids(session, name="Gräce") == [reg.grace]
    assert _household_ids(session, name="ruth") == [reg.mwangi]
    assert _person_ids(session, sex="male") == [reg.john, reg.peter]
    on = datetime(2025, 6, 30, tzinfo=UTC)
    # Ages on 2025-06-30: Amina 45, John 47, Grace 9, Peter 75, Ruth 69, Sara 35.
    assert _person_ids(session, min_age=60, as_of=on.isoformat()) == [reg.peter, reg.ruth]
    assert _person_ids(session, max_age=9, as_of="2025-06-30") == [reg.grace]
    assert _person_ids(session, min_age=35, max_age=45, as_of="2025-06-30") == [
        reg.amina,
        reg.sara,
    ]
    # Households with a child under 10 and a woman over 40:
    assert _household_ids(session, max_age=9, as_of="2025-06-30") == [reg.okello]
    with pytest.raises(ValidationFailed):
        _person_ids(session, min_age=50, max_age=10)


def test_age_on_birthdays() -> None:
    assert age_on(date(2000, 2, 29), date(2025, 2, 28)) == 24
    assert age_on(date(2000, 2, 29), date(2025, 3, 1)) == 25
    assert age_on(date(1980, 5, 2), date(2025, 5, 2)) == 45


def test_pagination_reports_total_and_caps_page_size(
    session: Session, reg: TinyRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = service.search_persons(session, RegistrySearch(page=1, page_size=4))
    second = service.search_persons(session, RegistrySearch(page=2, page_size=4))
    assert (first.total, len(first.items), len(second.items)) == (6, 4, 2)
    assert {p.id for p in first.items}.isdisjoint({p.id for p in second.items})
    from solidarity.config import get_settings

    monkeypatch.setenv("SOLIDARITY_PAGE_SIZE_MAX", "2")
    get_settings.cache_clear()
    capped = service.search_households(session, RegistrySearch(page_size=100))
    assert (capped.page_size, len(capped.items), capped.total) == (2, 2, 3)
    assert capped.total_exact


def test_a_search_counts_up_to_the_cap_and_says_so(
    session: Session, reg: TinyRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    from solidarity.config import get_settings

    monkeypatch.setenv("SOLIDARITY_SEARCH_COUNT_CAP", "2")
    get_settings.cache_clear()
    households = service.search_households(session, RegistrySearch(page_size=1))
    assert (households.total, households.total_exact, len(households.items)) == (2, False, 1)
    persons = service.search_persons(session, RegistrySearch(page_size=2))
    assert (persons.total, persons.total_exact, len(persons.items)) == (2, False, 2)
    # A first page that is not full is the whole answer: counted exactly.
    everyone = service.search_persons(session, RegistrySearch(page_size=10))
    assert (everyone.total, everyone.total_exact, len(everyone.items)) == (6, True, 6)
    exact = service.search_households(session, RegistrySearch(area="R01-D02"))
    assert exact.total_exact and exact.total == len(exact.items)
    # The dashboard's counts stay exact.
    assert service.counts(session, None)["persons"] == 6


def test_search_as_of_before_and_after_a_change(session: Session, reg: TinyRegistry) -> None:
    request = changes.create_change_request(
        session,
        kind="remove_member",
        household_id=reg.mwangi,
        payload={"person_id": reg.ruth, "removal_reason": "death"},
        actor="officer",
    )
    changes.approve_change_request(session, request.id, actor="supervisor")
    assert _person_ids(session, status="deceased") == [reg.ruth]
    assert _person_ids(session, status="deceased", as_of="2024-06-01") == []
    assert reg.ruth in _person_ids(session, status="active", as_of="2024-06-01")
    summary = service.search_households(session, RegistrySearch(area="R01-D02")).items[0]
    assert (summary.member_count, summary.head_name) == (1, "Peter Mwangi")
    old = service.search_households(
        session, RegistrySearch(area="R01-D02", as_of="2024-06-01")
    ).items[0]
    assert (old.member_count, old.version) == (2, 1)
    # Before registration nothing existed.
    assert _household_ids(session, as_of="2023-12-31") == []


def test_person_detail_and_identifier_as_of(session: Session, reg: TinyRegistry) -> None:
    person = service.get_person(session, reg.amina, as_of="2025-06-30")
    assert (person.given_name, person.age, person.area_code) == ("Amina", 45, "R01-D01")
    assert [(i.id_type, i.value, i.active) for i in person.identifiers] == [
        ("national_id", "NID-001", True)
    ]
    with pytest.raises(NotFoundError):
        service.get_person(session, reg.amina, as_of="2023-01-01")
    with pytest.raises(NotFoundError):
        service.get_person(session, 99999)
    with pytest.raises(ValidationFailed):
        service.get_person(session, reg.amina, as_of="last tuesday")


def test_areas(session: Session, reg: TinyRegistry) -> None:
    children = service.list_areas(session, parent="R01")
    assert [a.code for a in children] == ["R01-D01", "R01-D02"]
    assert [a.code for a in service.list_areas(session, level=0)] == ["R01", "R02"]
    area = service.get_area(session, "R01-D01")
    assert (area.parent_code, area.level_name, area.path) == ("R01", "district", "/R01/R01-D01/")
    with pytest.raises(NotFoundError):
        service.get_area(session, "R99")
