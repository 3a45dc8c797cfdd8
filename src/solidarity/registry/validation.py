"""Checking household and person field values against the field catalogue.

Values arrive as JSON (numbers, booleans, ISO dates) or as text from the command
line; both are coerced to the catalogue's types. Each problem becomes an error
dict naming the field and the reason, in the shape ``ValidationFailed`` carries.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from solidarity.config import get_settings
from solidarity.registry.fields import Catalogue, FieldSpec, Level, catalogue

_TRUE = {"true", "yes", "1", "y"}
_FALSE = {"false", "no", "0", "n"}


class _Invalid(Exception):
    """A single value failed a check; the message is the reason."""


def deployment_catalogue() -> Catalogue:
    """The field catalogue of this deployment (built-in plus extra fields)."""
    return catalogue(get_settings().extra_fields_file)


def _coerce(spec: FieldSpec, value: Any, lists: Mapping[str, list[Any]]) -> Any:
    if spec.type == "string":
        if not isinstance(value, str):
            raise _Invalid("must be text")
        text = value.strip()
        if spec.max_length is not None and len(text) > spec.max_length:
            raise _Invalid(f"must be at most {spec.max_length} characters")
        return text
    if spec.type == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise _Invalid("must be true or false")
    if spec.type == "integer":
        if isinstance(value, bool):
            raise _Invalid("must be a whole number")
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, str):
            try:
                value = int(value.strip())
            except ValueError as exc:
                raise _Invalid("must be a whole number") from exc
        if not isinstance(value, int):
            raise _Invalid("must be a whole number")
        return value
    if spec.type == "number":
        if isinstance(value, bool):
            raise _Invalid("must be a number")
        if isinstance(value, str):
            try:
                value = float(value.strip())
            except ValueError as exc:
                raise _Invalid("must be a number") from exc
        if not isinstance(value, int | float):
            raise _Invalid("must be a number")
        return float(value)
    if spec.type == "date":
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            return value
        if isinstance(value, str):
            try:
                return date.fromisoformat(value.strip())
            except ValueError as exc:
                raise _Invalid("must be a date YYYY-MM-DD") from exc
        raise _Invalid("must be a date YYYY-MM-DD")
    # code
    if not isinstance(value, str):
        raise _Invalid("must be a code")
    return value.strip()


def _check(spec: FieldSpec, value: Any, lists: Mapping[str, list[Any]]) -> Any:
    coerced = _coerce(spec, value, lists)
    if spec.codelist is not None:
        allowed = lists.get(spec.codelist, [])
        if coerced not in allowed:
            shown = ", ".join(str(v) for v in allowed)
            raise _Invalid(f"{coerced!r} is not in code list {spec.codelist} ({shown})")
    if isinstance(coerced, int | float) and not isinstance(coerced, bool):
        if spec.minimum is not None and coerced < spec.minimum:
            raise _Invalid(f"must be at least {spec.minimum:g}")
        if spec.maximum is not None and coerced > spec.maximum:
            raise _Invalid(f"must be at most {spec.maximum:g}")
    if spec.name == "birth_date" and isinstance(coerced, date):
        today = datetime.now(UTC).date()
        if coerced > today:
            raise _Invalid("birth date is in the future")
        oldest = get_settings().max_age_years
        if today.year - coerced.year > oldest:
            raise _Invalid(f"birth date makes the person older than {oldest} years")
    return coerced


def _shown(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return repr(value)


def check_fields(
    level: Level,
    values: Mapping[str, Any],
    *,
    prefix: str,
    require_all: bool,
    forbidden: Mapping[str, str] | None = None,
    cat: Catalogue | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Check and coerce field values of one household or person.

    Args:
        level: ``household`` or ``person``.
        values: Field name to raw value (``None`` clears an optional field).
        prefix: Prepended to field names in errors, e.g. ``person``.
        require_all: Whether every required field must be present (a new record).
        forbidden: Field names refused here, mapped to the reason (e.g. "use move_household").
        cat: The catalogue; the deployment's when omitted.

    Returns:
        The coerced values and the list of errors (field, value, message).
    """
    cat = cat or deployment_catalogue()
    specs = cat.by_name(level)
    clean: dict[str, Any] = {}
    errors: list[dict[str, Any]] = []
    for name, raw in values.items():
        where = f"{prefix}.{name}"
        if forbidden and name in forbidden:
            errors.append({"field": where, "value": _shown(raw), "message": forbidden[name]})
            continue
        spec = specs.get(name)
        if spec is None:
            errors.append({"field": where, "value": _shown(raw), "message": "unknown field"})
            continue
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            if spec.required:
                errors.append({"field": where, "value": None, "message": "is required"})
            else:
                clean[name] = None
            continue
        try:
            clean[name] = _check(spec, raw, cat.lists)
        except _Invalid as exc:
            errors.append({"field": where, "value": _shown(raw), "message": str(exc)})
    if require_all:
        for spec in specs.values():
            skip = forbidden is not None and spec.name in forbidden
            if spec.required and not skip and spec.name not in values:
                errors.append({"field": f"{prefix}.{spec.name}", "message": "is required"})
    return clean, errors


def json_ready(values: Mapping[str, Any]) -> dict[str, Any]:
    """Field values with dates as ISO text, ready to store in a JSON payload."""
    return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in values.items()}
