"""The monitoring, data-quality and simulation pages through the TestClient, in French."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI

from tests.e2e.test_pages import browser, sign_in, tiny  # noqa: F401 (fixture)
from tests.integration.test_registry_builders import TinyRegistry


def test_pages_answer_in_french_and_refuse_without_permission(
    api: FastAPI,
    tiny: TinyRegistry,  # noqa: F811
    make_account: Callable[..., str],
) -> None:
    make_account("ana", "analyst", "R01-D01")
    client = browser(api)
    sign_in(client, "ana")
    client.get("/language?lang=fr&next=/monitoring")
    monitoring = client.get("/monitoring")
    assert monitoring.status_code == 200
    assert "Suivi et évaluation" in monitoring.text
    assert "Charger les indicateurs standard" in monitoring.text
    quality = client.get("/data-quality")
    assert quality.status_code == 200, quality.text
    assert "Scores par dimension" in quality.text and "complétude" in quality.text
    assert "R02" not in quality.text  # the district analyst sees only its district's records
    plan = client.get("/data-quality/plan?format=csv")
    assert plan.headers["content-type"].startswith("text/csv")
    assert plan.text.splitlines()[0].startswith("dimension,check,level,field,rule")
    simulation = client.get("/simulation")
    assert "Simulation de politiques" in simulation.text
    assert "Enregistrer un scénario" in simulation.text

    make_account("kato", "registration_officer", "R01-D01")
    officer = browser(api)
    sign_in(officer, "kato")
    for path in ("/monitoring", "/data-quality", "/simulation"):
        assert officer.get(path).status_code == 403, path
    nav = officer.get("/registry").text
    assert 'href="/monitoring"' not in nav and 'href="/simulation"' not in nav
