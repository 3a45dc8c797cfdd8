"""ISO 20022 ``pain.001.001.09`` credit-transfer initiation: write and validate.

The document is validated against the official ISO 20022 schema shipped in
``xsd/pain.001.001.09.xsd`` (see ``xsd/README.md`` for its provenance).

A payroll has up to millions of transactions, so the document is streamed: the
envelope (group header, payment information, debtor) is built once with lxml,
and the transactions are rendered from the frame column-wise by Polars (values
escaped and cut to their schema lengths in vectorised passes) and written in
slices between the envelope's two halves. The document is validated
slice by slice against the schema as it is written, each slice in a background
thread while the next one is prepared (:class:`Writer`).
"""

from __future__ import annotations

import hashlib
import os
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
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

#: Transactions rendered and written per slice (bounded memory for any payroll size).
SLICE_ROWS = 50_000
#: Slices validated at once, each in its own thread, while the next is prepared.
VALIDATORS = 2

# Characters XML 1.0 forbids in text; lxml would refuse them, the template drops them.
_FORBIDDEN = r"[\x00-\x08\x0B\x0C\x0E-\x1F\uFFFE\uFFFF]"
_MARK = "<!--transactions-->"


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


def _check(pieces: Sequence[bytes], first_row: int = 0, offset: int = 0) -> None:
    """Parse then validate the document ``pieces`` make; with ``offset``, error lines become rows.

    The pieces are fed to the parser one after the other, never joined (a slice
    of a payroll is tens of megabytes).

    Raises:
        ValidationFailed: Not well-formed or not valid; each error names its line
            (or, for a slice, the row of the transaction).
    """
    parser = etree.XMLParser(huge_tree=True)
    try:
        for piece in pieces:
            parser.feed(piece)
        tree = parser.close()
    except etree.XMLSyntaxError as exc:
        errors = [{"row": exc.lineno, "message": exc.msg}]
        raise ValidationFailed(f"not well-formed XML: {exc}", errors) from exc
    xsd = schema()
    if xsd.validate(tree):
        return
    errors = [
        {
            # One transaction per line: past the envelope, a line is a frame row.
            "row": first_row + e.line - offset if offset and e.line > offset else e.line,
            "message": e.message,
        }
        for e in xsd.error_log
    ][:100]
    raise ValidationFailed("the pain.001 document is not valid against its schema", errors)


def validate(document: bytes) -> None:
    """Validate a pain.001 document against the schema.

    Raises:
        ValidationFailed: Not well-formed or not valid; each error names its line.
    """
    _check([document])


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


def _escape(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _escaped(expr: pl.Expr, length: int, default: str) -> pl.Expr:
    """A text column cut to ``length`` characters, XML-escaped, ``default`` when empty."""
    return (
        expr.cast(pl.String)
        .str.replace_all(_FORBIDDEN, "")
        .str.slice(0, length)
        .replace("", default)
        .fill_null(default)
        .str.replace_many(["&", "<", ">"], ["&amp;", "&lt;", "&gt;"])
    )


def _cents(frame: pl.DataFrame) -> pl.Series:
    return (frame["amount"].cast(pl.Float64) * 100).round(0).cast(pl.Int64).alias("cents")


def _amount_text(cents: pl.Expr) -> pl.Expr:
    """``1234`` cents as ``"12.34"`` (amounts are never negative in a payroll)."""
    return pl.format("{}.{}", cents // 100, (cents % 100).cast(pl.String).str.zfill(2))


def _transactions(frame: pl.DataFrame, currency: str, remittance: str) -> pl.Series:
    """One line of XML per transaction, rendered column-wise."""
    scheme = pl.col("scheme") if "scheme" in frame.columns else pl.lit(None, dtype=pl.String)
    reference = _escaped(pl.col("payment_reference"), 35, "NOTPROVIDED")
    return frame.select(
        pl.concat_str(
            pl.lit("      <CdtTrfTxInf><PmtId><InstrId>"),
            reference,
            pl.lit("</InstrId><EndToEndId>"),
            reference,
            pl.lit(f'</EndToEndId></PmtId><Amt><InstdAmt Ccy="{_escape(currency)}">'),
            _amount_text(pl.col("cents")),
            pl.lit("</InstdAmt></Amt><Cdtr><Nm>"),
            _escaped(pl.col("beneficiary_name"), 140, "Household"),
            pl.lit("</Nm></Cdtr><CdtrAcct><Id><Othr><Id>"),
            _escaped(pl.col("account"), 34, "NOTPROVIDED"),
            pl.lit("</Id><SchmeNm><Prtry>"),
            _escaped(scheme, 35, "MOBILE"),
            pl.lit(
                f"</Prtry></SchmeNm></Othr></Id></CdtrAcct><RmtInf><Ustrd>"
                f"{_escape(remittance[:140])}</Ustrd></RmtInf></CdtTrfTxInf>\n"
            ),
        ).alias("xml")
    )["xml"]


def _envelope(
    message_id: str,
    created: datetime,
    execution_date: date,
    debtor: Debtor,
    count: int,
    total: str,
) -> tuple[bytes, bytes]:
    """The document before and after its transactions."""
    root = etree.Element(f"{{{NAMESPACE}}}Document", nsmap={None: NAMESPACE})
    initiation = _el(root, "CstmrCdtTrfInitn")
    header = _el(initiation, "GrpHdr")
    _text(header, "MsgId", message_id[:35])
    _text(header, "CreDtTm", created.replace(microsecond=0).isoformat())
    _text(header, "NbOfTxs", str(count))
    _text(header, "CtrlSum", total)
    _text(_el(header, "InitgPty"), "Nm", debtor.name[:140])
    info = _el(initiation, "PmtInf")
    _text(info, "PmtInfId", message_id[:35])
    _text(info, "PmtMtd", "TRF")
    _text(info, "BtchBookg", "false")
    _text(info, "NbOfTxs", str(count))
    _text(info, "CtrlSum", total)
    _text(_el(info, "ReqdExctnDt"), "Dt", execution_date.isoformat())
    _text(_el(info, "Dbtr"), "Nm", debtor.name[:140])
    _account(info, "DbtrAcct", debtor.account, "PROGRAMME")
    _text(_el(_el(_el(info, "DbtrAgt"), "FinInstnId"), "Othr"), "Id", debtor.agent[:35])
    _text(info, "ChrgBr", "SLEV")
    info.append(etree.Comment("transactions"))
    text: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    head, tail = text.split(_MARK.encode(), 1)
    return head.rstrip(b" "), tail.lstrip(b"\n")


def control_sum(amounts: pl.Series) -> tuple[int, int]:
    """The header's transaction count and total in cents for ``amounts``."""
    return amounts.len(), int(_cents(amounts.to_frame("amount")).sum() or 0)


def build(
    message_id: str,
    created: datetime,
    execution_date: date,
    debtor: Debtor,
    currency: str,
    transactions: pl.DataFrame,
    remittance: str,
) -> bytes:
    """A pain.001.001.09 document for ``transactions``, in memory and not validated.

    Args:
        message_id: Unique message id (at most 35 characters).
        created: Creation time written in the header (fixed, so reruns are identical).
        execution_date: Requested execution date.
        debtor: The paying ministry.
        currency: ISO 4217 code.
        transactions: ``payment_reference``, ``amount``, ``beneficiary_name``,
            ``account`` and optionally ``scheme``.
        remittance: Unstructured remittance text for every transaction.

    Returns:
        The UTF-8 XML document.
    """
    body, cents = _render(transactions, currency, remittance)
    head, tail = _envelope(
        message_id, created, execution_date, debtor, transactions.height, _amount(cents)
    )
    return head + body + tail


def _render(transactions: pl.DataFrame, currency: str, remittance: str) -> tuple[bytes, int]:
    """The transactions' XML lines and their total in cents."""
    cents = _cents(transactions)
    lines = _transactions(transactions.with_columns(cents), currency, remittance)
    body: str = lines.str.join("").item()
    return body.encode("utf-8"), int(cents.sum() or 0)


def _amount(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def _check_slice(head: bytes, part: bytes, tail: bytes, first_row: int) -> None:
    """Validate the envelope with one slice of transactions against the schema.

    The schema has no identity constraint, so a document is valid exactly when
    its envelope with each slice of its transactions is: validating slice by
    slice checks every byte written while holding one slice's tree at a time.
    """
    _check([head, part, tail], first_row, head.count(b"\n"))


class Writer:
    """Streams a pain.001 document to ``path``, validating it as it goes.

    Transactions are added in slices (:meth:`add`); each is rendered, written to
    a temporary file beside ``path`` and validated against the schema in a
    background thread (libxml2 releases the GIL) while the caller prepares the
    next slice. :meth:`finish` waits for the last validation and renames the
    file over ``path``: a reader never sees a partial or invalid file, and an
    invalid one (a bug) leaves nothing behind. Use it as a context manager; an
    exception discards the file.
    """

    def __init__(
        self,
        path: Path,
        message_id: str,
        created: datetime,
        execution_date: date,
        debtor: Debtor,
        currency: str,
        remittance: str,
        *,
        count: int,
        total_cents: int,
    ) -> None:
        self.path = path
        self._partial = path.with_name(f".{path.name}.partial")
        self._currency = currency
        self._remittance = remittance
        self._count, self._total = count, total_cents
        self._rows = self._cents = 0
        self._head, self._tail = _envelope(
            message_id, created, execution_date, debtor, count, _amount(total_cents)
        )
        self._digest = hashlib.sha256(self._head)
        self._handle = self._partial.open("wb")
        self._handle.write(self._head)
        self._validator = ThreadPoolExecutor(VALIDATORS, thread_name_prefix="pain001-validate")
        self._pending: deque[Future[None]] = deque()

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, kind: object, error: object, trace: object) -> None:
        if kind is not None:
            self.discard()

    def add(self, transactions: pl.DataFrame) -> None:
        """Render, write and (in the background) validate a slice of transactions.

        Raises:
            ValidationFailed: A previous slice is not valid; errors name its rows.
        """
        if transactions.height == 0:
            return
        data, cents = _render(transactions, self._currency, self._remittance)
        self._handle.write(data)
        self._digest.update(data)
        if len(self._pending) >= VALIDATORS:
            self._pending.popleft().result()
        self._pending.append(
            self._validator.submit(_check_slice, self._head, data, self._tail, self._rows)
        )
        self._rows += transactions.height
        self._cents += cents

    def finish(self) -> str:
        """Wait for validation, close and move the document into place.

        Returns:
            The SHA-256 of the document.

        Raises:
            ValidationFailed: A slice is not valid (the file is discarded).
            ValueError: The slices do not add up to the header's count and total (a bug).
        """
        try:
            if self._rows == 0:
                _check_slice(self._head, b"", self._tail, 0)
            while self._pending:
                self._pending.popleft().result()
            if (self._rows, self._cents) != (self._count, self._total):
                raise ValueError(
                    f"the pain.001 header says {self._count} transactions of "
                    f"{_amount(self._total)}, the slices added {self._rows} of "
                    f"{_amount(self._cents)}"
                )
            self._handle.write(self._tail)
            self._digest.update(self._tail)
            self._handle.close()
            os.replace(self._partial, self.path)
        except BaseException:
            self.discard()
            raise
        self._validator.shutdown()
        return self._digest.hexdigest()

    def discard(self) -> None:
        """Stop and remove the partial file (nothing is left behind)."""
        self._validator.shutdown(cancel_futures=True)
        self._handle.close()
        self._partial.unlink(missing_ok=True)


def write(
    path: Path,
    message_id: str,
    created: datetime,
    execution_date: date,
    debtor: Debtor,
    currency: str,
    transactions: pl.DataFrame,
    remittance: str,
) -> str:
    """Write and validate the document for ``transactions`` (see :func:`build`, :class:`Writer`).

    Returns:
        The SHA-256 of the document.

    Raises:
        ValidationFailed: The document is not valid against the schema; errors
            name the transaction row. Nothing is left at ``path``.
    """
    count, cents = control_sum(transactions["amount"])
    with Writer(
        path,
        message_id,
        created,
        execution_date,
        debtor,
        currency,
        remittance,
        count=count,
        total_cents=cents,
    ) as writer:
        for part in transactions.iter_slices(SLICE_ROWS):
            writer.add(part)
        return writer.finish()
