"""The synthetic country's set-up files: programme rules, institutional map, list mappings.

The generator writes, next to the data, what a country would hand over to set
Solidarity up: ``programmes.yaml`` (every programme with its eligibility and
benefit rules written in the rule language, with legal references and test
cases), ``institutions.yaml`` (agencies, delivery functions, coordination body,
agreements, focal persons, the OAP/CSP mutual exclusion, the Child Grant to
bursary hand-over) and ``mappings/<CODE>.yaml`` (how each beneficiary list's
columns map to the fields linkage compares). :mod:`solidarity.synthetic.seed`
loads them.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import yaml

#: Programmes the registry runs (enrolment and payments in Solidarity); the other
#: ministries keep their own lists, linked to the registry.
REGISTRY_RUN = ("CGR", "DSG", "HIS")
#: Registry-run programmes paid through a payment cycle in the demo.
PAID = ("CGR", "DSG")

_FREQUENCY = {"once": "one_off", "termly": "quarterly"}

#: Agency code of each ministry name used by the generator.
AGENCIES = {
    "Ministry of Gender and Social Welfare": ("MGSW", "social assistance and care"),
    "Ministry of Education": ("MOE", "schooling, bursaries and school meals"),
    "Ministry of Health": ("MOH", "health insurance and maternal health"),
    "Ministry of Local Government and Public Works": ("MLGPW", "public works and local delivery"),
    "Social Security Agency": ("SSA", "contributory pensions and unemployment insurance"),
    "Disaster Management Agency": ("DMA", "shock response"),
}


def _years_before(day: date, years: int) -> str:
    """A birth date making someone ``years`` old (and a half) on ``day``."""
    return (date(day.year - years, day.month, 1) - timedelta(days=180)).isoformat()


def _member(day: date, age: int, relationship: str = "head", **fields: Any) -> dict[str, Any]:
    sex = fields.pop("sex", "female")
    return {
        "birth_date": _years_before(day, age),
        "sex": sex,
        "relationship": relationship,
        **fields,
    }


def _rules(code: str, line: float, drought: list[str]) -> dict[str, Any]:
    """Eligibility and benefit of one programme: expression, parameters, test cases."""
    z = float(line)
    poor = z * 0.5
    rich = z * 3
    rules: dict[str, dict[str, Any]] = {
        "CGR": {
            "law": "Social Assistance Act 2013, s. 14 (Child Grant)",
            "eligibility": "count(members, m.age < params.age_limit) >= 1 "
            "&& consumption_per_capita < params.poverty_line",
            "benefit": "count(members, m.age < params.age_limit) * params.per_child",
            "parameters": {"age_limit": 15, "poverty_line": z, "per_child": 250},
            "yes": [_member, 35, {}, (10, "child", {})],
            "no": [_member, 35, {}, (15, "child", {})],
            "household": {"consumption_per_capita": poor},
        },
        "SBY": {
            "law": "Education Act 2015, s. 41 and Bursary Regulations 2016, reg. 3",
            "eligibility": "any(members, m.age >= params.min_age && m.age <= params.max_age "
            "&& m.school_enrolled) && consumption_per_capita < params.threshold",
            "benefit": "count(members, m.age >= params.min_age && m.age <= params.max_age "
            "&& m.school_enrolled) * params.amount",
            "parameters": {"min_age": 16, "max_age": 19, "threshold": 1.2 * z, "amount": 3000},
            "yes": [_member, 45, {}, (17, "child", {"school_enrolled": True})],
            "no": [_member, 45, {}, (15, "child", {"school_enrolled": True})],
            "household": {"consumption_per_capita": poor},
        },
        "SFP": {
            "law": "National School Meals Policy 2011, para. 5",
            "eligibility": "any(members, m.age >= params.min_age && m.age <= params.max_age "
            "&& m.school_enrolled) && urban_rural == 'rural'",
            "benefit": "count(members, m.age >= params.min_age && m.age <= params.max_age "
            "&& m.school_enrolled) * params.amount",
            "parameters": {"min_age": 6, "max_age": 13, "amount": 150},
            "yes": [_member, 40, {}, (8, "child", {"school_enrolled": True})],
            "no": [_member, 40, {}, (8, "child", {"school_enrolled": False})],
            "household": {"urban_rural": "rural"},
        },
        "OAP": {
            "law": "Social Pensions Act 2010, s. 6; Pensions Harmonisation Decree 2022, art. 9",
            # A person 65+ is entitled unless the Contributory Pension covers them
            # (retired, in a household at or above 1.5 times the poverty line).
            "eligibility": "any(members, m.age >= params.pension_age "
            "&& m.main_activity != 'retired') || (elderly >= 1 "
            "&& consumption_per_capita < params.contributory_floor)",
            "benefit": "count(members, m.age >= params.pension_age) * params.amount",
            "parameters": {"pension_age": 65, "contributory_floor": 1.5 * z, "amount": 600},
            "yes": [_member, 70, {"main_activity": "none"}],
            "no": [_member, 60, {"main_activity": "none"}],
            "household": {"consumption_per_capita": poor},
        },
        "CSP": {
            "law": "Social Security Act 2004, s. 22; Pensions Harmonisation Decree 2022, art. 9",
            "eligibility": "any(members, m.age >= params.pension_age "
            "&& m.main_activity == 'retired') && consumption_per_capita >= params.floor",
            "benefit": "count(members, m.age >= params.pension_age "
            "&& m.main_activity == 'retired') * params.amount",
            "parameters": {"pension_age": 60, "floor": 1.5 * z, "amount": 2500},
            "yes": [_member, 66, {"main_activity": "retired"}],
            "no": [_member, 66, {"main_activity": "agriculture"}],
            "household": {"consumption_per_capita": rich},
        },
        "DSG": {
            "law": "Persons with Disabilities Act 2014, s. 31",
            "eligibility": "disabled_members >= 1",
            "benefit": "disabled_members * params.amount",
            "parameters": {"amount": 500},
            "yes": [_member, 30, {"wg_walking": 3}],
            "no": [_member, 30, {"wg_walking": 2}],
            "household": {},
        },
        "HIS": {
            "law": "National Health Insurance Act 2016, s. 18 (premium subsidy)",
            "eligibility": "consumption_per_capita < params.threshold",
            "benefit": "params.amount",
            "parameters": {"threshold": 1.2 * z, "amount": 1800},
            "yes": [_member, 30, {}],
            "no": None,
            "household": {"consumption_per_capita": poor},
        },
        "MHV": {
            "law": "Maternal and Newborn Health Strategy 2019, s. 4.2",
            "eligibility": "any(members, m.pregnant)",
            "benefit": "count(members, m.pregnant) * params.amount",
            "parameters": {"amount": 800},
            "yes": [_member, 25, {"pregnant": True}],
            "no": [_member, 25, {"pregnant": False}],
            "household": {},
        },
        "PWP": {
            "law": "Rural Employment Guarantee Regulations 2018, reg. 7",
            "eligibility": "any(members, m.age >= params.min_age && m.age <= params.max_age "
            "&& !m.school_enrolled && !m.disability) && urban_rural == 'rural' "
            "&& consumption_per_capita < params.poverty_line",
            "benefit": "count(members, m.age >= params.min_age && m.age <= params.max_age "
            "&& !m.school_enrolled && !m.disability) * params.amount",
            "parameters": {"min_age": 18, "max_age": 64, "poverty_line": z, "amount": 1200},
            "yes": [_member, 30, {"school_enrolled": False}],
            "no": [_member, 70, {"school_enrolled": False}],
            "household": {"urban_rural": "rural", "consumption_per_capita": poor},
        },
        "UIB": {
            "law": "Social Security Act 2004, s. 40 (unemployment benefit)",
            "eligibility": "any(members, m.age >= params.min_age && m.age <= params.max_age "
            "&& m.main_activity == 'unemployed') && urban_rural == 'urban' "
            "&& consumption_per_capita >= params.poverty_line",
            "benefit": "count(members, m.age >= params.min_age && m.age <= params.max_age "
            "&& m.main_activity == 'unemployed') * params.amount",
            "parameters": {"min_age": 18, "max_age": 64, "poverty_line": z, "amount": 1500},
            "yes": [_member, 30, {"main_activity": "unemployed"}],
            "no": [_member, 30, {"main_activity": "employed"}],
            "household": {"urban_rural": "urban", "consumption_per_capita": rich},
        },
        "ECS": {
            "law": "Disaster Risk Management Act 2020, s. 27; Drought Declaration 2024/3",
            # The drought declaration names the communities (kept as a parameter); the
            # bulk registry reader cannot read ``area_code`` in rules yet, so the rule
            # holds the means test only and overstates the target population.
            "eligibility": "consumption_per_capita < params.threshold",
            "benefit": "params.amount",
            "parameters": {"drought_communities": drought, "threshold": 1.5 * z, "amount": 2000},
            "yes": [_member, 30, {}],
            "no": [_member, 30, {}],
            "household": {"consumption_per_capita": poor},
            "no_household": {"consumption_per_capita": rich},
        },
    }
    return rules[code]


def _case(name: str, spec: list[Any], household: dict[str, Any], day: date, expected: Any) -> Any:
    maker, age, fields, *others = spec
    members = [maker(day, age, "head", **fields)]
    members += [maker(day, a, rel, **f) for a, rel, f in others]
    return {"name": name, "household": household, "members": members, "expected": expected}


def programme_definitions(
    programmes: pl.DataFrame, poverty_line: float, drought_communities: list[str], currency: str
) -> dict[str, Any]:
    """``programmes.yaml`` content: every programme of ``programmes.csv`` with its rules."""
    out = []
    for row in programmes.iter_rows(named=True):
        code = row["code"]
        spec = _rules(code, poverty_line, drought_communities)
        start: date = row["start_date"]
        cases = []
        household = spec["household"]
        if spec["yes"] is not None:
            cases.append(_case("eligible", spec["yes"], household, start, True))
        if spec["no"] is not None:
            refused = spec.get("no_household", household)
            cases.append(_case("not eligible", spec["no"], refused, start, False))
        if code == "HIS":
            cases.append(
                _case(
                    "not poor enough",
                    spec["yes"],
                    {"consumption_per_capita": 3 * poverty_line},
                    start,
                    False,
                )
            )
        out.append(
            {
                "code": code,
                "name": row["name"],
                "ministry": row["ministry"],
                "instrument": row["instrument"],
                "lifecycle_group": row["lifecycle_group"],
                "risk_covered": row["risk"],
                "targeting_method": row["targeting_method"],
                "benefit_frequency": _FREQUENCY.get(
                    row["benefit_frequency"], row["benefit_frequency"]
                ),
                "currency": currency,
                "annual_budget": row["annual_budget"],
                "budget_cap": row["budget_cap"],
                "funding_source": row["funding_source"],
                "rules": [
                    {
                        "kind": "eligibility",
                        "valid_from": start,
                        "legal_reference": spec["law"],
                        "expression": spec["eligibility"],
                        "parameters": spec["parameters"],
                        "test_cases": cases,
                    },
                    {
                        "kind": "benefit",
                        "valid_from": start,
                        "legal_reference": spec["law"],
                        "expression": spec["benefit"],
                        "parameters": spec["parameters"],
                    },
                ],
            }
        )
    return {"programmes": out}


def institution_definitions(programmes: pl.DataFrame, as_of: date) -> dict[str, Any]:
    """``institutions.yaml`` content: the institutional map of the synthetic country."""
    by_code = {r["code"]: r for r in programmes.iter_rows(named=True)}
    agencies = [
        {"code": code, "name": name, "mandate": mandate}
        for name, (code, mandate) in AGENCIES.items()
    ]
    functions: list[dict[str, str]] = []
    for code, row in by_code.items():
        owner = AGENCIES[row["ministry"]][0]
        for function in ("outreach", "enrolment", "payment", "grievance", "monitoring"):
            functions.append({"programme": code, "function": function, "agency": owner})
        if code in REGISTRY_RUN:
            # The social registry, kept by MGSW, registers and assesses for these.
            functions.append({"programme": code, "function": "registration", "agency": "MGSW"})
            functions.append({"programme": code, "function": "eligibility", "agency": "MGSW"})
        else:
            functions.append({"programme": code, "function": "registration", "agency": owner})
    # Known frictions of the country: registration for school feeding is done twice,
    # nobody monitors emergency cash.
    functions.append({"programme": "SFP", "function": "registration", "agency": "MLGPW"})
    functions = [
        f for f in functions if not (f["programme"] == "ECS" and f["function"] == "monitoring")
    ]
    year = as_of.year
    return {
        "agencies": agencies,
        "functions": functions,
        "bodies": [
            {
                "code": "IMC-SP",
                "name": "Inter-ministerial Committee on Social Protection",
                "mandate": "coordinate programmes, the social registry and financing",
                "members": [{"agency": "MGSW", "role": "chair"}]
                + [{"agency": a[0]} for a in AGENCIES.values() if a[0] != "MGSW"],
                "meetings": [
                    {
                        "held_on": date(year, 3, 12),
                        "attendees": ["MGSW", "MOE", "SSA", "MOH"],
                        "decisions": "review pension overlaps; map the 15-year-old gap",
                    }
                ],
            }
        ],
        "agreements": [
            {
                "code": "DSA-SSA-MGSW",
                "kind": "data_sharing",
                "parties": ["MGSW", "SSA"],
                "scope": "pensioner lists for the OAP/CSP exclusivity check",
                "signed_on": date(year - 3, 5, 1),
                "expires_on": date(year - 1, 12, 31),
            },
            {
                "code": "MOU-MOE-MGSW",
                "parties": ["MGSW", "MOE"],
                "scope": "school enrolment data for the bursary and the child grant",
                "signed_on": date(year - 2, 2, 1),
                "expires_on": date(year + 2, 1, 31),
            },
        ],
        "focal_persons": [
            {"agency": "MGSW", "name": "Amani Toleko", "title": "Director of Social Assistance"},
            {"agency": "MOE", "name": "Ruta Kembe", "title": "Bursaries coordinator"},
            {"agency": "SSA", "name": "Jabari Ulongo", "title": "Benefits manager"},
            {"agency": "MOH", "name": "Neema Sadiki", "title": "Health financing lead"},
        ],
        "definitions": [
            {"programme": "CGR", "concept": "child", "definition": "a person under 15"},
            {"programme": "SBY", "concept": "child", "definition": "a person under 18"},
            {"programme": "SFP", "concept": "child", "definition": "a pupil aged 6 to 13"},
            {
                "programme": "CGR",
                "concept": "household",
                "definition": "people who live together and share meals",
            },
            {
                "programme": "HIS",
                "concept": "household",
                "definition": "people who share a dwelling",
            },
        ],
        "relations": [
            {
                "kind": "mutually_exclusive",
                "programme_a": "OAP",
                "programme_b": "CSP",
                "legal_reference": "Pensions Harmonisation Decree 2022, art. 9",
                "note": "a person receives one old-age pension",
            },
            {
                "kind": "hand_over",
                "programme_a": "CGR",
                "programme_b": "SBY",
                "legal_reference": "National Social Protection Policy 2019, s. 3.2",
                "note": "children leave the Child Grant for the bursary",
            },
        ],
        "targets": [
            {"programme": None, "name": "poorest 30%", "kind": "poorest_share", "share": 0.3},
            {
                "programme": "OAP",
                "name": "all persons 65+",
                "kind": "rule",
                "expression": "elderly >= 1",
            },
        ],
        "admin_costs": [
            {"programme": code, "year": year, "amount": round(row["annual_budget"] * 0.08, -3)}
            for code, row in by_code.items()
        ],
        "indicators": [
            {
                "code": "COV",
                "name": "System coverage of the target population",
                "formula": "coverage.system",
                "unit": "share",
                "baseline_value": 0.4,
                "baseline_year": year - 1,
                "targets": {year: 0.5, year + 1: 0.65},
                "responsible_agency": "MGSW",
            },
            {
                "code": "EXCL",
                "name": "OAP/CSP exclusivity violations",
                "formula": "overlap.exclusive_violations",
                "unit": "households",
                "responsible_agency": "SSA",
            },
        ],
        "actions": [
            {
                "code": "A1",
                "title": "Close the gap at age 15 between the Child Grant and the bursary",
                "finding": "rules: CGR -> SBY gap at 15",
                "dimension": "rules",
                "agency": "MGSW",
                "responsible_person": "Amani Toleko",
                "start_on": date(year, 1, 15),
                "due_on": date(year, 5, 31),
                "status": "in_progress",
            },
            {
                "code": "A2",
                "title": "Cross-check the OAP and CSP payrolls every quarter",
                "finding": "overlaps: OAP and CSP paid to the same households",
                "dimension": "overlaps",
                "agency": "SSA",
                "responsible_person": "Jabari Ulongo",
                "start_on": date(year, 4, 1),
                "due_on": date(year, 12, 31),
            },
        ],
    }


#: The beneficiary lists' columns, as linkage reads them.
LIST_MAPPING = {
    "id": "beneficiary_id",
    "fields": {
        "given_name": "given_name",
        "family_name": "family_name",
        "birth_date": "birth_date",
        "sex": "sex",
        "national_id": "national_id",
        "phone": "phone",
        "area_code": "area_code",
    },
}


class _PlainDumper(yaml.SafeDumper):
    """Writes repeated values out in full: no anchors, so the files read plainly."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def write_setup_files(
    out_dir: Path,
    programmes: pl.DataFrame,
    poverty_line: float,
    drought_communities: list[str],
    currency: str,
    as_of: date,
) -> dict[str, Path]:
    """Write ``programmes.yaml``, ``institutions.yaml`` and ``mappings/<CODE>.yaml``."""
    files: dict[str, Path] = {}

    def dump(name: str, path: Path, content: dict[str, Any]) -> None:
        text = yaml.dump(content, Dumper=_PlainDumper, sort_keys=False, allow_unicode=True)
        path.write_text(text)
        files[name] = path

    dump(
        "programmes_yaml",
        out_dir / "programmes.yaml",
        programme_definitions(programmes, poverty_line, drought_communities, currency),
    )
    dump("institutions", out_dir / "institutions.yaml", institution_definitions(programmes, as_of))
    mappings = out_dir / "mappings"
    mappings.mkdir(exist_ok=True)
    for code in programmes["code"]:
        dump(f"mapping_{code}", mappings / f"{code}.yaml", LIST_MAPPING)
    return files
