"""Agencies, data sharing agreements and consent. Flush, never commit.

A machine client acts for an agency; what it may receive for a purpose is the
union of the fields of that agency's agreements covering the purpose and valid
today. An expired agreement shares nothing.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy.orm import Session

from solidarity.db.base import utcnow
from solidarity.errors import ConflictError, NotFoundError, ValidationFailed
from solidarity.governance import audit
from solidarity.governance.models import Agency, Consent, SharingAgreement
from solidarity.governance.principal import Principal
from solidarity.governance.repository import AgreementRepository
from solidarity.governance.schemas import (
    AgencyIn,
    AgencyOut,
    AgreementIn,
    AgreementOut,
    ConsentIn,
    ConsentOut,
)
from solidarity.governance.sharing import OPERATIONS, AgreementRefused, decode, encode
from solidarity.registry import service as registry

__all__ = ["AgreementRefused"]


def list_agencies(session: Session) -> list[AgencyOut]:
    """Every agency."""
    return [AgencyOut.model_validate(a) for a in AgreementRepository(session).agencies()]


def create_agency(session: Session, body: AgencyIn, *, actor: str) -> AgencyOut:
    """Register an agency.

    Raises:
        ConflictError: The code is taken.
    """
    repo = AgreementRepository(session)
    if repo.agency(body.code) is not None:
        raise ConflictError(f"agency {body.code!r} already exists")
    agency = Agency(**body.model_dump(), created_by=actor, updated_by=actor)
    repo.add(agency)
    audit.record(
        session, actor=actor, action="agency.created", object_type="agency", object_id=body.code
    )
    return AgencyOut.model_validate(agency)


def agreement_out(row: SharingAgreement) -> AgreementOut:
    """An agreement with its terms decoded from storage."""
    terms = decode(row.fields)
    return AgreementOut(
        code=row.code,
        agency_code=row.agency_code,
        purposes=list(row.purposes),
        fields=terms.fields,
        valid_from=row.valid_from,
        valid_to=row.valid_to,
        legal_basis=row.legal_basis,
        record_types=terms.record_types,
        area_codes=terms.area_codes,
        operations=terms.operations,
    )


def list_agreements(session: Session, agency_code: str | None = None) -> list[AgreementOut]:
    """Agreements, optionally of one agency."""
    rows = AgreementRepository(session).agreements(agency_code)
    return [agreement_out(a) for a in rows]


def create_agreement(session: Session, body: AgreementIn, *, actor: str) -> AgreementOut:
    """Record a data sharing agreement.

    Raises:
        ConflictError: The code is taken.
        ValidationFailed: Unknown agency, or the validity interval is inverted.
    """
    repo = AgreementRepository(session)
    if repo.agreement(body.code) is not None:
        raise ConflictError(f"agreement {body.code!r} already exists")
    errors = []
    if repo.agency(body.agency_code) is None:
        errors.append(
            {"field": "agency_code", "value": body.agency_code, "message": "unknown agency"}
        )
    if body.valid_to is not None and body.valid_to < body.valid_from:
        errors.append({"field": "valid_to", "message": "must not be before valid_from"})
    for code in body.area_codes:
        try:
            registry.get_area(session, code)
        except NotFoundError:
            errors.append({"field": "area_codes", "value": code, "message": "unknown area"})
    for operation in body.operations:
        if operation not in OPERATIONS:
            errors.append(
                {
                    "field": "operations",
                    "value": operation,
                    "message": f"use {', '.join(OPERATIONS)}",
                }
            )
    if errors:
        raise ValidationFailed("the agreement is not valid", errors)
    stored = body.model_dump(exclude={"record_types", "area_codes", "operations"})
    stored["fields"] = encode(body.fields, body.record_types, body.area_codes, body.operations)
    agreement = SharingAgreement(**stored, created_by=actor, updated_by=actor)
    repo.add(agreement)
    audit.record(
        session,
        actor=actor,
        action="agreement.created",
        object_type="agreement",
        object_id=body.code,
        details={
            "agency": body.agency_code,
            "purposes": body.purposes,
            "fields": body.fields,
            "record_types": body.record_types,
            "area_codes": body.area_codes,
            "operations": body.operations,
        },
    )
    return agreement_out(agreement)


def allowed_fields(
    session: Session, client: Principal, purpose: str, on: date | None = None
) -> frozenset[str]:
    """The fields ``client`` may receive for ``purpose`` under its agency's agreements.

    Raises:
        AgreementRefused: The client acts for no agency, or no agreement of its
            agency covers the purpose on ``on`` (today by default), e.g. it expired.
    """
    on = on or utcnow().date()
    if client.agency_code is None:
        raise AgreementRefused(f"{client.username} acts for no agency: nothing can be shared")
    fields: set[str] = set()
    for agreement in AgreementRepository(session).agreements(client.agency_code):
        current = agreement.valid_from <= on and (
            agreement.valid_to is None or on <= agreement.valid_to
        )
        if current and purpose in agreement.purposes:
            fields.update(decode(agreement.fields).fields)
    if not fields:
        raise AgreementRefused(
            f"no data sharing agreement of {client.agency_code} covers {purpose!r} on {on}",
            purpose=purpose,
        )
    return frozenset(fields)


def filter_record(record: dict[str, object], fields: frozenset[str]) -> dict[str, object]:
    """Only the agreed fields of ``record`` (``id`` is always kept to refer back)."""
    return {k: v for k, v in record.items() if k in fields or k == "id"}


def list_consents(session: Session, principal: Principal, person_id: int) -> list[ConsentOut]:
    """A person's consent records, newest first.

    Raises:
        NotFoundError: The person does not exist or is outside the reader's areas.
    """
    registry.get_person(session, person_id, scope=principal.area_paths)
    rows = AgreementRepository(session).consents(person_id)
    return [ConsentOut.model_validate(c) for c in rows]


def record_consent(session: Session, principal: Principal, body: ConsentIn) -> ConsentOut:
    """Record a person's consent to a purpose.

    Raises:
        NotFoundError: The person does not exist or is outside the recorder's areas.
    """
    registry.get_person(session, body.person_id, scope=principal.area_paths)
    consent = Consent(
        person_id=body.person_id,
        purpose=body.purpose,
        evidence=body.evidence,
        given_at=utcnow(),
        recorded_by=principal.username,
        created_by=principal.username,
        updated_by=principal.username,
    )
    AgreementRepository(session).add(consent)
    audit.record_for(
        session,
        principal,
        "consent.given",
        "person",
        body.person_id,
        {"consent_id": consent.id, "purpose": body.purpose},
    )
    return ConsentOut.model_validate(consent)


def withdraw_consent(session: Session, principal: Principal, consent_id: int) -> ConsentOut:
    """Record that a consent was withdrawn (the record is kept).

    Raises:
        NotFoundError: No such consent, or its person is outside the recorder's areas.
        ConflictError: It was already withdrawn.
    """
    consent = AgreementRepository(session).consent(consent_id)
    if consent is None:
        raise NotFoundError(f"consent {consent_id} not found")
    try:
        registry.get_person(session, consent.person_id, scope=principal.area_paths)
    except NotFoundError:
        raise NotFoundError(f"consent {consent_id} not found") from None
    if consent.withdrawn_at is not None:
        raise ConflictError(f"consent {consent_id} was already withdrawn")
    consent.withdrawn_at = utcnow()
    consent.updated_by = principal.username
    session.flush()
    audit.record_for(
        session,
        principal,
        "consent.withdrawn",
        "person",
        consent.person_id,
        {"consent_id": consent_id, "purpose": consent.purpose},
    )
    return ConsentOut.model_validate(consent)
