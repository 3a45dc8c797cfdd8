"""ISO 20022 ``pain.001.001.09`` credit-transfer initiation: write and validate.

The document is built with lxml and validated against the schema shipped in
``xsd/pain.001.001.09.xsd`` (a hand-written subset covering every element we emit;
see docs/programmes.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import polars as pl
from lxml import etree  # type: ignore[import-untyped]

from solidarity.errors import ValidationFailed

NAMESPACE = "urn:iso:std:iso:20022:tech:xsd:pain.001.001.09"
XSD = Path(__file__).with_name("xsd") / "pain.001.001.09.xsd"


@dataclass(frozen=True)
class Debtor:
    """Who pays: the programme's ministry and its account."""

    name: str
    account: str
    agent: str = "NOTPROVIDED"


@lru_cache(maxsize=1)
def schema() -> Any:
    """The compiled XSD."""
    return etree.XMLSchema(etree.parse(str(XSD)))


def validate(document: bytes) -> None:
    """Validate a pain.001 document against the schema.

    Raises:
        ValidationFailed: The document is not valid; each error names its line.
    """
    try:
        tree = etree.fromstring(document)
    except etree.XMLSyntaxError as exc:
        raise ValidationFailed(f"not well-formed XML: {exc}") from exc
    xsd = schema()
    if not xsd.validate(tree):
        errors = [{"row": e.line, "message": e.message} for e in xsd.error_log]
        raise ValidationFailed("the pain.001 document is not valid against its schema", errors)


def _text(parent: Any, tag: str, value: str, **attributes: str) -> Any:
    element = etree.SubElement(parent, f"{{{NAMESPACE}}}{tag}", **attributes)
    element.text = value
    return element


def _el(parent: Any, tag: str) -> Any:
    return etree.SubElement(parent, f"{{{NAMESPACE}}}{tag}")


def _account(parent: Any, tag: str, identifier: str, scheme: str) -> None:
    other = _el(_el(_el(parent, tag), "Id"), "Othr")
    _text(other, "Id", identifier[:34])
    _text(_el(other, "SchmeNm"), "Prtry", scheme)


def _amount(value: float) -> str:
    return f"{value:.2f}"


def build(
    message_id: str,
    created: datetime,
    execution_date: date,
    debtor: Debtor,
    currency: str,
    transactions: pl.DataFrame,
    remittance: str,
) -> bytes:
    """A pain.001.001.09 document for ``transactions``.

    Args:
        message_id: Unique message id (at most 35 characters).
        created: Creation time written in the header (fixed, so reruns are identical).
        execution_date: Requested execution date.
        debtor: The paying ministry.
        currency: ISO 4217 code.
        transactions: ``payment_reference``, ``amount``, ``beneficiary_name``, ``account``.
        remittance: Unstructured remittance text for every transaction.

    Returns:
        The UTF-8 XML document.
    """
    total = _amount(float(transactions["amount"].sum() or 0.0))
    count = str(transactions.height)
    root = etree.Element(f"{{{NAMESPACE}}}Document", nsmap={None: NAMESPACE})
    initiation = _el(root, "CstmrCdtTrfInitn")
    header = _el(initiation, "GrpHdr")
    _text(header, "MsgId", message_id[:35])
    _text(header, "CreDtTm", created.replace(microsecond=0).isoformat())
    _text(header, "NbOfTxs", count)
    _text(header, "CtrlSum", total)
    _text(_el(header, "InitgPty"), "Nm", debtor.name[:140])
    info = _el(initiation, "PmtInf")
    _text(info, "PmtInfId", message_id[:35])
    _text(info, "PmtMtd", "TRF")
    _text(info, "BtchBookg", "false")
    _text(info, "NbOfTxs", count)
    _text(info, "CtrlSum", total)
    _text(_el(info, "ReqdExctnDt"), "Dt", execution_date.isoformat())
    _text(_el(info, "Dbtr"), "Nm", debtor.name[:140])
    _account(info, "DbtrAcct", debtor.account, "PROGRAMME")
    _text(_el(_el(_el(info, "DbtrAgt"), "FinInstnId"), "Othr"), "Id", debtor.agent[:35])
    _text(info, "ChrgBr", "SLEV")
    for row in transactions.iter_rows(named=True):
        tx = _el(info, "CdtTrfTxInf")
        payment_id = _el(tx, "PmtId")
        _text(payment_id, "InstrId", row["payment_reference"])
        _text(payment_id, "EndToEndId", row["payment_reference"])
        _text(_el(tx, "Amt"), "InstdAmt", _amount(row["amount"]), Ccy=currency)
        _text(_el(tx, "Cdtr"), "Nm", (row["beneficiary_name"] or "Household")[:140])
        _account(tx, "CdtrAcct", row["account"], row.get("scheme") or "MOBILE")
        _text(_el(tx, "RmtInf"), "Ustrd", remittance[:140])
    data: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    return data
