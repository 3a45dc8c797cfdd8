"""Models of bulk intake: the column mapping file, error rows and the outcome."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ColumnMapping(BaseModel):
    """A mapping file (YAML) that brings another system's export into the import format.

    Example::

        strip_group_prefixes: true      # ODK/Kobo "grp_member/name" -> "name"
        columns: {hh_id: household_key, first_name: given_name}
        values: {sex: {M: male, F: female}}
        dates: {birth_date: "%d/%m/%Y"}
        defaults: {urban_rural: rural}
    """

    model_config = ConfigDict(extra="forbid")

    strip_group_prefixes: bool = Field(
        default=True, description="Drop 'group/' prefixes of ODK/Kobo column names"
    )
    columns: dict[str, str] = Field(default_factory=dict, description="source column -> field")
    values: dict[str, dict[str, str]] = Field(
        default_factory=dict, description="field -> {source value: code}"
    )
    dates: dict[str, str] = Field(default_factory=dict, description="field -> strftime format")
    defaults: dict[str, str] = Field(
        default_factory=dict, description="field -> value used where the file has none"
    )


class ImportErrorRow(BaseModel):
    """One refused value: where it is, what rule it broke, in plain language."""

    file: str
    row: int | None = Field(description="Line in the file; the header is line 1")
    column: str | None
    value: str | None
    rule: str
    message: str
    household_key: str | None = None


ImportStatus = Literal["succeeded", "refused", "partial"]


class ImportOutcome(BaseModel):
    """What an import did."""

    import_run_id: int
    status: ImportStatus
    households_in_file: int = 0
    persons_in_file: int = 0
    households_imported: int = 0
    persons_imported: int = 0
    households_skipped: int = Field(0, description="Already imported from this source")
    households_rejected: int = 0
    error_count: int = 0
    errors: list[ImportErrorRow] = Field(default_factory=list)
    ignored_columns: list[str] = Field(default_factory=list)
    report_path: Path | None = None
    rejects_paths: list[Path] = Field(default_factory=list)
