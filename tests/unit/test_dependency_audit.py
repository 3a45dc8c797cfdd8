"""The CI dependency audit: vulnerabilities fail, an audit that checked nothing only warns."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).parents[2] / ".ci" / "dependency_audit.py"


@pytest.fixture
def audit() -> ModuleType:
    spec = importlib.util.spec_from_file_location("dependency_audit", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_known_vulnerability_fails_naming_the_package_and_fix(audit: ModuleType) -> None:
    report = {
        "dependencies": [
            {"name": "jinja2", "version": "2.10", "vulns": [
                {"id": "PYSEC-2019-217", "fix_versions": ["2.10.1"], "aliases": ["CVE-2019-10906"]}
            ]},
            {"name": "polars", "version": "1.0", "vulns": []},
        ]
    }  # fmt: skip
    code, lines = audit.classify(report)
    assert code == 1
    assert "jinja2 2.10: PYSEC-2019-217 (CVE-2019-10906); fixed in 2.10.1" in lines[0]


def test_an_audit_that_checked_nothing_warns_without_failing(
    audit: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = {
        "dependencies": [
            {"name": "alembic", "skip_reason": "Dependency not found on PyPI"},
            {"name": "polars", "skip_reason": "Dependency not found on PyPI"},
        ]
    }
    code, lines = audit.classify(report)
    assert code == 0 and lines[0].startswith(audit.WARNING) and "nothing was audited" in lines[0]
    monkeypatch.setenv("SOLIDARITY_AUDIT_STRICT", "1")
    assert audit.classify(report)[0] == 1


def test_a_clean_audit_passes_and_counts(audit: ModuleType) -> None:
    report = {
        "dependencies": [
            {"name": "polars", "version": "1.0", "vulns": []},
            {"name": "local-thing", "skip_reason": "not on PyPI"},
        ]
    }
    code, lines = audit.classify(report)
    assert code == 0 and lines[0].startswith("1 package(s) audited, no known vulnerabilities")
    assert "1 not audited" in lines[0]
