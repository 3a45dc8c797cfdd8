"""The standard library of indicators, each with the definition it follows.

Load it with ``solidarity monitoring indicators load-standard``; every indicator is
then an ordinary stored definition a deployment may version (new targets, another
grace period, a different disaggregation).
"""

from __future__ import annotations

from typing import Any

STANDARD: list[dict[str, Any]] = [
    {
        "code": "SDG_1_3_1",
        "name": "Proportion of population covered by social protection systems",
        "unit_of_analysis": "person",
        "numerator": "covered",
        "denominator": "1",
        "disaggregations": ["sex", "age_group", "area"],
        "results_level": "outcomes",
        "coherence_indicator": "COV",
        "source_definition": "UN SDG indicator 1.3.1 (custodian ILO): persons receiving at "
        "least one social protection benefit / total population. Here: members of households "
        "with an active enrolment in any programme on the date.",
    },
    {
        "code": "ASPIRE_COVERAGE_Q1",
        "name": "Coverage of the poorest quintile",
        "unit_of_analysis": "person",
        "numerator": "covered && quintile == 1",
        "denominator": "quintile == 1",
        "disaggregations": ["area"],
        "results_level": "outcomes",
        "source_definition": "World Bank ASPIRE coverage: persons in the quintile living in a "
        "household receiving a transfer / persons in the quintile; quintiles of pre-transfer "
        "consumption per capita, person-weighted.",
    },
    {
        "code": "ASPIRE_ADEQUACY",
        "name": "Adequacy of benefits",
        "unit_of_analysis": "household",
        "filter": "programmes >= 1 && consumption_per_capita != null",
        "numerator": "transfers",
        "denominator": "consumption_per_capita * size * 12",
        "disaggregations": ["quintile_group"],
        "results_level": "outcomes",
        "source_definition": "World Bank ASPIRE adequacy: total transfers received by "
        "beneficiary households / their total welfare. Here: payments received in the 12 "
        "months to the date / annual consumption (monthly consumption per capita x size x 12).",
    },
    {
        "code": "ASPIRE_INCIDENCE_Q1",
        "name": "Benefit incidence in the poorest quintile",
        "unit_of_analysis": "household",
        "numerator": "quintile == 1 ? transfers : 0",
        "denominator": "transfers",
        "results_level": "outcomes",
        "coherence_indicator": "INC_Q1",
        "source_definition": "World Bank ASPIRE benefit incidence: transfers to the quintile / "
        "all transfers (payments received in the 12 months to the date).",
    },
    {
        "code": "TARGETING_ACCURACY",
        "name": "Beneficiary households in the poorest 40%",
        "unit_of_analysis": "household",
        "filter": "programmes >= 1",
        "numerator": "quintile != null && quintile <= 2",
        "denominator": "1",
        "disaggregations": ["area"],
        "results_level": "outputs",
        "source_definition": "Targeting accuracy (1 - inclusion error against the poorest two "
        "quintiles): beneficiary households in quintiles 1-2 / beneficiary households.",
    },
    {
        "code": "PAYMENT_TIMELINESS",
        "name": "Payments made on time",
        "unit_of_analysis": "payment",
        "filter": "status != 'computed'",
        "numerator": "status == 'paid' && days_between(window_end, paid_on) <= params.grace_days",
        "denominator": "1",
        "parameters": {"grace_days": 0},
        "disaggregations": ["programme"],
        "results_level": "outputs",
        "source_definition": "Payments reported paid no later than grace_days after the end of "
        "their cycle's window / payments reported by the provider.",
    },
    {
        "code": "RECONCILIATION_RATE",
        "name": "Payments reconciled",
        "unit_of_analysis": "payment",
        "filter": "cycle_status in ['approved', 'payroll_generated', 'reconciled']",
        "numerator": "status != 'computed'",
        "denominator": "1",
        "disaggregations": ["programme"],
        "results_level": "activities",
        "source_definition": "Entitlements of approved cycles with a reconciled outcome (paid, "
        "failed or unclaimed) / entitlements of approved cycles.",
    },
    {
        "code": "UNCLAIMED_RATE",
        "name": "Payments unclaimed",
        "unit_of_analysis": "payment",
        "filter": "status != 'computed'",
        "numerator": "status == 'unclaimed'",
        "denominator": "1",
        "disaggregations": ["programme"],
        "results_level": "outputs",
        "source_definition": "Entitlements reported unclaimed / entitlements reconciled.",
    },
    {
        "code": "ENROLMENT_CONVERSION",
        "name": "Applications that led to enrolment",
        "unit_of_analysis": "journey",
        "filter": "applied_on != null",
        "numerator": "enrolled_on != null",
        "denominator": "1",
        "disaggregations": ["programme"],
        "results_level": "outputs",
        "source_definition": "Household-programme journeys with an application event in the "
        "12 months to the date that reached enrolment / those journeys.",
    },
    {
        "code": "DAYS_TO_ENROL",
        "name": "Average days from application to enrolment",
        "unit_of_analysis": "journey",
        "filter": "applied_on != null && enrolled_on != null",
        "numerator": "days_between(applied_on, enrolled_on)",
        "denominator": "1",
        "unit": "days",
        "disaggregations": ["programme"],
        "results_level": "outputs",
        "source_definition": "Mean days between the first application and the first "
        "enrolment event of journeys that reached enrolment.",
    },
    {
        "code": "GRIEVANCE_RESOLUTION_DAYS",
        "name": "Average days to resolve a grievance",
        "unit_of_analysis": "grievance",
        "filter": "resolved",
        "numerator": "resolution_days",
        "denominator": "1",
        "unit": "days",
        "results_level": "outputs",
        "source_definition": "Mean days from receipt to resolution of grievances resolved in "
        "the 12 months to the date.",
    },
    {
        "code": "GRIEVANCE_WITHIN_STANDARD",
        "name": "Grievances resolved within the service standard",
        "unit_of_analysis": "grievance",
        "filter": "resolved",
        "numerator": "within_standard",
        "denominator": "1",
        "results_level": "outputs",
        "source_definition": "Grievances resolved by their category's due date / grievances "
        "resolved, in the 12 months to the date.",
    },
    {
        "code": "REFERRAL_ACCEPTANCE",
        "name": "Referrals accepted by the receiving agency",
        "unit_of_analysis": "referral",
        "numerator": "accepted",
        "denominator": "1",
        "disaggregations": ["sector", "area"],
        "results_level": "outputs",
        "source_definition": "Referrals between sectors accepted by the receiving agency / "
        "referrals sent, in the 12 months to the date.",
    },
    {
        "code": "REFERRAL_SERVED",
        "name": "Referrals that led to the service",
        "unit_of_analysis": "referral",
        "numerator": "served",
        "denominator": "1",
        "disaggregations": ["sector", "area"],
        "results_level": "outcomes",
        "source_definition": "Referrals between sectors the receiving agency marked served / "
        "referrals sent, in the 12 months to the date (cross-sectoral linkage).",
    },
    {
        "code": "REFERRAL_DAYS_TO_SERVICE",
        "name": "Average days from referral to service",
        "unit_of_analysis": "referral",
        "filter": "served",
        "numerator": "days_to_service",
        "denominator": "1",
        "unit": "days",
        "disaggregations": ["sector"],
        "results_level": "outputs",
        "source_definition": "Mean days from sending a referral to its service, over referrals "
        "sent in the 12 months to the date and served.",
    },
    {
        "code": "REGISTRY_FRESHNESS",
        "name": "Households updated in the last year",
        "unit_of_analysis": "household",
        "numerator": "days_since_update <= params.max_days",
        "denominator": "1",
        "parameters": {"max_days": 365},
        "disaggregations": ["area"],
        "results_level": "activities",
        "source_definition": "Households whose current record is at most max_days old on the "
        "date / households.",
    },
    {
        "code": "DUPLICATE_RATE",
        "name": "Persons with a probable duplicate",
        "unit_of_analysis": "person",
        "numerator": "duplicate",
        "denominator": "1",
        "disaggregations": ["area"],
        "results_level": "activities",
        "source_definition": "Active persons sharing an identifier (type and value), or given "
        "name, family name, sex and birth date, with another active person / active persons.",
    },
]
