"""Programme rules checked on save, test cases, entitlement formulas, pain.001 documents."""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl
import pytest

from solidarity.errors import ValidationFailed
from solidarity.programs import pain001
from solidarity.programs.rules import check_rule, validate_version
from solidarity.rules import RuleSyntaxError, RuleTypeError, evaluate

DAY = date(2025, 1, 1)
HEAD = {"birth_date": date(1980, 1, 1), "relationship": "head", "sex": "female", "income": 90}


def kids(n: int) -> list[dict[str, object]]:
    return [HEAD] + [{"birth_date": date(2018, 1, 1), "relationship": "child"}] * n


@pytest.mark.parametrize(
    ("expression", "error"),
    [
        ("children >=", RuleSyntaxError),
        ("chidren >= 1", RuleTypeError),
        ("size / 0 > 1", RuleTypeError),
        ("registration_date > 3", RuleTypeError),
    ],
)
def test_bad_rules_are_refused_with_line_and_column(expression: str, error: type) -> None:
    with pytest.raises(error) as caught:
        validate_version("eligibility", expression, {}, DAY, None, [])
    assert caught.value.line == 1 and caught.value.column >= 1


def test_a_benefit_rule_must_give_a_number() -> None:
    with pytest.raises(ValidationFailed):
        validate_version("benefit", "size > 1", {}, DAY, None, [])


def test_a_failing_test_case_is_reported_with_its_explanation() -> None:
    with pytest.raises(ValidationFailed) as caught:
        validate_version(
            "eligibility",
            "children >= 2",
            {},
            DAY,
            None,
            [{"name": "one child", "members": kids(1), "expected": True}],
        )
    assert "one child" in caught.value.errors[0]["message"]
    assert "Children" in caught.value.errors[0]["explanation"]


@pytest.mark.parametrize(
    ("expression", "params", "children", "unmet", "expected"),
    [
        ("params.amount", {"amount": 50}, 1, 0, 50),  # fixed
        ("min(size, params.cap) * params.amount", {"cap": 3, "amount": 10}, 4, 0, 30),  # capped
        (
            "children <= 1 ? 20 : (children <= 3 ? 35 : 45)",  # tiered
            {},
            3,
            0,
            35,
        ),
        (
            "params.base + (disabled_members > 0 ? params.top_up : 0)",  # top-up
            {"base": 40, "top_up": 15},
            1,
            0,
            40,
        ),
        (
            "max(params.amount - unmet_conditions * params.deduction, 0)",  # conditional
            {"amount": 40, "deduction": 15},
            1,
            3,
            0,
        ),
        (
            "params.amount * children",  # dated parameter
            {"amount": {"2024-01-01": 10, "2025-01-01": 12}},
            2,
            0,
            24,
        ),
    ],
)
def test_entitlement_formulas(
    expression: str, params: dict[str, object], children: int, unmet: int, expected: float
) -> None:
    rule = check_rule(expression, params, DAY)
    value = evaluate(rule, {"unmet_conditions": unmet}, members=kids(children), as_of=DAY)
    assert value == expected


def _document() -> bytes:
    frame = pl.DataFrame(
        {
            "payment_reference": ["CG-2025-07-1", "CG-2025-07-2"],
            "amount": [40.0, 12.5],
            "beneficiary_name": ["Amina Diallo", "Fatou Ba"],
            "account": ["+221700000001", "HH2"],
            "scheme": ["MOBILE", "REGISTRY"],
        }
    )
    return pain001.build(
        "CG-2025-07",
        datetime(2025, 7, 1, 9, 0, tzinfo=UTC),
        date(2025, 7, 5),
        pain001.Debtor("Ministry of Social Affairs", "CG"),
        "XOF",
        frame,
        "Child grant 2025-07",
    )


def test_pain001_document_is_valid_against_the_schema() -> None:
    document = _document()
    pain001.validate(document)
    assert b"<CtrlSum>52.50</CtrlSum>" in document


def test_a_broken_pain001_document_fails_validation() -> None:
    broken = _document().replace(b"<PmtMtd>TRF</PmtMtd>", b"<PmtMtd>CASH</PmtMtd>")
    with pytest.raises(ValidationFailed) as caught:
        pain001.validate(broken)
    assert caught.value.errors


def _payroll(n: int) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "payment_reference": [f"CG-2025-07-{i}" for i in range(1, n + 1)],
            "amount": [10.0 + i / 4 for i in range(n)],
            "beneficiary_name": [f"Person {i}" for i in range(n)],
            "account": [f"+2217000{i:05d}" for i in range(n)],
            "scheme": "MOBILE",
        }
    )


def _write(frame: pl.DataFrame, path: object) -> str:
    return pain001.write(
        path,  # type: ignore[arg-type]
        "CG-2025-07",
        datetime(2025, 7, 1, 9, 0, tzinfo=UTC),
        date(2025, 7, 5),
        pain001.Debtor("Ministry of Social Affairs", "CG"),
        "XOF",
        frame,
        "Child grant 2025-07",
    )


def test_pain001_written_in_slices_is_the_whole_document(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pain001, "SLICE_ROWS", 2)
    frame = _payroll(5)
    path = tmp_path / "payroll.xml"  # type: ignore[operator]
    sha = _write(frame, path)
    document = path.read_bytes()
    assert document == pain001.build(
        "CG-2025-07",
        datetime(2025, 7, 1, 9, 0, tzinfo=UTC),
        date(2025, 7, 5),
        pain001.Debtor("Ministry of Social Affairs", "CG"),
        "XOF",
        frame,
        "Child grant 2025-07",
    )
    import hashlib

    assert sha == hashlib.sha256(document).hexdigest()
    pain001.validate(document)
    # CtrlSum is the sum of the amounts as written (10.00 + 10.25 + ... + 11.00).
    assert b"<CtrlSum>52.50</CtrlSum>" in document
    assert document.count(b"<CdtTrfTxInf>") == 5
    assert b'<InstdAmt Ccy="XOF">10.75</InstdAmt>' in document


def test_an_invalid_transaction_names_its_row_and_leaves_no_file(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pain001, "SLICE_ROWS", 2)
    frame = _payroll(5).with_columns(
        pl.when(pl.int_range(pl.len()) == 3).then(-5.0).otherwise(pl.col("amount")).alias("amount")
    )
    path = tmp_path / "payroll.xml"  # type: ignore[operator]
    with pytest.raises(ValidationFailed) as caught:
        _write(frame, path)
    assert caught.value.errors[0]["row"] == 4  # the fourth transaction
    assert "minInclusive" in caught.value.errors[0]["message"]
    assert list(tmp_path.iterdir()) == []  # type: ignore[attr-defined]


def test_pain001_escapes_and_cuts_names_to_the_schema(tmp_path: object) -> None:
    from lxml import etree

    frame = _payroll(2).with_columns(
        pl.Series("beneficiary_name", ["Ba & <Fils>\x07", "x" * 200]),
        pl.Series("account", ["", None]),
    )
    path = tmp_path / "payroll.xml"  # type: ignore[operator]
    _write(frame, path)
    ns = {"p": pain001.NAMESPACE}
    tree = etree.parse(str(path))
    names = [e.text for e in tree.findall(".//p:Cdtr/p:Nm", ns)]
    accounts = [e.text for e in tree.findall(".//p:CdtrAcct/p:Id/p:Othr/p:Id", ns)]
    assert names == ["Ba & <Fils>", "x" * 140]
    assert accounts == ["NOTPROVIDED", "NOTPROVIDED"]


def test_the_schema_is_the_full_iso_message_not_a_subset() -> None:
    # Payment type information is optional in pain.001.001.09 and never emitted by
    # Solidarity: only the official schema knows it.
    document = _document().replace(
        b"<ReqdExctnDt>",
        b"<PmtTpInf><InstrPrty>NORM</InstrPrty></PmtTpInf>\n      <ReqdExctnDt>",
        1,
    )
    pain001.validate(document)


def test_a_payroll_whose_slices_miss_the_header_totals_leaves_no_file(tmp_path: object) -> None:
    frame = _payroll(3)
    path = tmp_path / "payroll.xml"  # type: ignore[operator]
    count, cents = pain001.control_sum(frame["amount"])
    with (
        pytest.raises(ValueError, match=r"the slices added 2 of 20\.25"),
        pain001.Writer(
            path,
            "CG-2025-07",
            datetime(2025, 7, 1, 9, 0, tzinfo=UTC),
            date(2025, 7, 5),
            pain001.Debtor("Ministry of Social Affairs", "CG"),
            "XOF",
            "Child grant 2025-07",
            count=count,
            total_cents=cents,
        ) as writer,
    ):
        writer.add(frame.head(2))
        writer.finish()
    assert (count, cents) == (3, 3075)
    assert list(tmp_path.iterdir()) == []  # type: ignore[attr-defined]
