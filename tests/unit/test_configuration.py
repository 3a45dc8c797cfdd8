"""Settings are checked at start: one line per bad setting, and the processes refuse to run."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from solidarity.cli.main import app
from solidarity.config import ConfigurationError, check_configuration, validate_configuration

BAD = {
    "SOLIDARITY_DATABASE_URL": "mysql://db/solidarity",
    "SOLIDARITY_LOG_LEVEL": "LOUD",
    "SOLIDARITY_PAGE_SIZE_MAX": "-5",
    "SOLIDARITY_API_RATE_PER_MINUTE": "0",
    "SOLIDARITY_DCI_CRVS_BASE_URL": "crvs.example",
    "SOLIDARITY_JOB_STALE_SECONDS": "-1",
}


def test_a_good_configuration_has_no_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOLIDARITY_DATABASE_URL", "sqlite:///var/solidarity.db")
    monkeypatch.setenv("SOLIDARITY_LOG_LEVEL", "debug")
    assert check_configuration() == []
    assert validate_configuration().log_level == "DEBUG"


def test_every_bad_setting_is_named_with_its_value_and_what_is_expected(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in BAD.items():
        monkeypatch.setenv(name, value)
    problems = check_configuration()
    assert len(problems) == len(BAD), problems
    by_variable = {p.split("=", 1)[0]: p for p in problems}
    assert set(by_variable) == set(BAD)
    for name, value in BAD.items():
        assert f"{name}={value!r}: " in by_variable[name]
    assert "sqlite:///" in by_variable["SOLIDARITY_DATABASE_URL"]
    assert "INFO" in by_variable["SOLIDARITY_LOG_LEVEL"]
    assert "greater than or equal to 1" in by_variable["SOLIDARITY_PAGE_SIZE_MAX"]
    assert "http://" in by_variable["SOLIDARITY_DCI_CRVS_BASE_URL"]
    with pytest.raises(ConfigurationError) as raised:
        validate_configuration()
    assert raised.value.problems == problems


def test_production_needs_provisioned_keys_and_existing_files(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SOLIDARITY_ENVIRONMENT", "production")
    monkeypatch.setenv("SOLIDARITY_KEY_DIR", str(tmp_path / "keys"))
    monkeypatch.setenv("SOLIDARITY_COOKIE_SECURE", "false")
    monkeypatch.setenv("SOLIDARITY_EXTRA_FIELDS_FILE", str(tmp_path / "missing.yaml"))
    problems = check_configuration()
    variables = sorted(p.split("=", 1)[0] for p in problems)
    assert variables == [
        "SOLIDARITY_COOKIE_SECURE",
        "SOLIDARITY_EXTRA_FIELDS_FILE",
        "SOLIDARITY_JWT_PRIVATE_KEY",
        "SOLIDARITY_SECRET_KEY",
    ]
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "session.key").write_text("s" * 32)
    (tmp_path / "keys" / "jwt-k1.pem").write_text("-----BEGIN PRIVATE KEY-----")
    monkeypatch.setenv("SOLIDARITY_COOKIE_SECURE", "true")
    (tmp_path / "missing.yaml").write_text("fields: []\n")
    assert check_configuration() == []


@pytest.mark.parametrize("command", [["serve"], ["worker", "--once"]])
def test_serve_and_worker_refuse_to_start_on_bad_settings(
    monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    monkeypatch.setenv("SOLIDARITY_LOG_LEVEL", "LOUD")
    monkeypatch.setenv("SOLIDARITY_MAX_UPLOAD_BYTES", "-1")
    result = CliRunner().invoke(app, command)
    assert result.exit_code == 2, result.output
    output = result.output
    assert "2 bad setting(s)" in output
    assert "SOLIDARITY_LOG_LEVEL='LOUD'" in output
    assert "SOLIDARITY_MAX_UPLOAD_BYTES='-1'" in output
