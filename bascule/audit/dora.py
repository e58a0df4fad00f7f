"""DORA register of information: the templates Bascule can fill from an audit, as CSV with column codes.

Templates and column codes are those of Commission Implementing Regulation (EU) 2024/2956, Annex I
(http://data.europa.eu/eli/reg_impl/2024/2956/oj; read here in a reproduction of the Official Journal text,
https://www.digitalacts.eu/regulation/dora-its-register/annex/0), as tables `b_XX.XX` with `c0010`... columns
in the EBA data point model / taxonomy 4.0 (https://www.eba.europa.eu/risk-and-data-analysis/reporting-frameworks/dpm-data-dictionary),
whose package could not be opened here. Public mappings disagree on B_06.01 and B_07.01 numbering; the
README's "DORA register" section says which Bascule uses and why, and that it could not be settled here.

These files are a working export for the person who keeps the register, not an xBRL-CSV filing: closed-set
columns hold readable values (not the EBA taxonomy's member codes), and every column Bascule cannot know
(LEIs, contract references, dates, costs) is left empty and listed in `UNFILLED`.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable
from pathlib import Path

from bascule import facts
from bascule.audit.workloads import Audit, SiteView, WorkloadAudit
from bascule.spec.models import Criticality

Row = dict[str, str]
Keyed = tuple[Row, str]
"""A template row and what it describes (provider, workload), for the person who adds LEIs and contracts."""

# Column codes per template, in the template's order, with the label of the regulation's Annex I.
COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "B_05.01": (
        ("c0010", "Identification code of the ICT third-party service provider"),
        ("c0020", "Type of code to identify the ICT third-party service provider"),
        ("c0030", "Additional identification code of the ICT third-party service provider"),
        ("c0040", "Type of additional identification code"),
        ("c0050", "Legal name of the ICT third-party service provider"),
        ("c0060", "Name of the ICT third-party service provider in Latin alphabet"),
        ("c0070", "Type of person of the ICT third-party service provider"),
        ("c0080", "Country of the ICT third-party service provider's headquarters"),
        ("c0090", "Currency of the amount reported in c0100"),
        ("c0100", "Total annual expense or estimated cost of the ICT third-party service provider"),
        ("c0110", "Identification code of the ICT third-party service provider's ultimate parent undertaking"),
        ("c0120", "Type of code to identify the ultimate parent undertaking"),
    ),
    "B_02.02": (
        ("c0010", "Contractual arrangement reference number"),
        ("c0020", "LEI of the entity making use of the ICT service(s)"),
        ("c0030", "Identification code of the ICT third-party service provider"),
        ("c0040", "Type of code to identify the ICT third-party service provider"),
        ("c0050", "Function identifier"),
        ("c0060", "Type of ICT services"),
        ("c0070", "Start date of the contractual arrangement"),
        ("c0080", "End date of the contractual arrangement"),
        ("c0090", "Reason of the termination or ending of the contractual arrangement"),
        ("c0100", "Notice period for the financial entity making use of the ICT service(s)"),
        ("c0110", "Notice period for the ICT third-party service provider"),
        ("c0120", "Country of the governing law of the contractual arrangement"),
        ("c0130", "Country of provision of the ICT services"),
        ("c0140", "Storage of data"),
        ("c0150", "Location of the data at rest (storage)"),
        ("c0160", "Location of management of the data (processing)"),
        ("c0170", "Sensitiveness of the data stored by the ICT third-party service provider"),
        ("c0180", "Level of reliance on the ICT service supporting the critical or important function"),
    ),
    "B_06.01": (
        ("c0010", "Function identifier"),
        ("c0020", "Licenced activity"),
        ("c0030", "Function name"),
        ("c0040", "LEI of the financial entity"),
        ("c0050", "Criticality or importance assessment"),
        ("c0060", "Reasons for criticality or importance"),
        ("c0070", "Date of the last assessment of criticality or importance"),
        ("c0080", "Recovery time objective of the function (hours)"),
        ("c0090", "Recovery point objective of the function (hours)"),
        ("c0100", "Impact of discontinuing the function"),
    ),
    "B_07.01": (
        ("c0010", "Contractual arrangement reference number"),
        ("c0020", "Identification code of the ICT third-party service provider"),
        ("c0030", "Type of code to identify the ICT third-party service provider"),
        ("c0040", "Type of ICT services"),
        ("c0050", "Substitutability of the ICT third-party service provider"),
        ("c0060", "Reason if the ICT third-party service provider is considered not substitutable or difficult "
                  "to be substitutable"),
        ("c0070", "Date of the last audit on the ICT third-party service provider"),
        ("c0080", "Existence of an exit plan"),
        ("c0090", "Possibility of reintegration of the contracted ICT service"),
        ("c0100", "Impact of discontinuing the ICT services"),
        ("c0110", "Are there alternative ICT third-party service providers identified?"),
        ("c0120", "Identification of alternative ICT TPP"),
    ),
}  # fmt: skip

FILLED: dict[str, frozenset[str]] = {
    "B_05.01": frozenset({"c0070", "c0110", "c0120"}),
    "B_02.02": frozenset({"c0050", "c0130", "c0140", "c0150"}),
    "B_06.01": frozenset({"c0010", "c0030", "c0050", "c0080", "c0090"}),
    "B_07.01": frozenset({"c0050", "c0110", "c0120"}),
}
"""Columns Bascule can fill; B_05.01 c0110/c0120 only where the parent's LEI is sourced, B_02.02 c0140/c0150 and
B_07.01 c0110/c0120 only where the stack evidences them."""

UNFILLED: tuple[tuple[str, str, str], ...] = tuple(
    (template, code, label)
    for template, columns in COLUMNS.items()
    for code, label in columns
    if code not in FILLED[template]
)
"""(template, column code, label) of every column Bascule always leaves empty: contracts, LEIs, costs, dates,
judgments only the entity can make, and the Annex III service-type codes, which could not be verified here."""

YES = "Yes"
"""Annex I's Yes/No columns (B_02.02.0140, B_06.01.0050, B_07.01.0110): the readable value, as every closed set
here. "No" is written only where the stack states the negative (a `standard` tag, B_06.01); else the column
stays empty."""

# B_07.01.0050 values: the regulation's four options, chosen from what the stack and the drills show.
EASILY_SUBSTITUTABLE = "easily substitutable"
MEDIUM_SUBSTITUTABILITY = "medium complexity in terms of substitutability"
HIGHLY_COMPLEX_SUBSTITUTABILITY = "highly complex substitutability"


def function_ids(result: Audit) -> dict[tuple[str, str], str]:
    """`F1`..`Fn` in (stack, workload) order: the Annex I identifier pattern, linking B_02.02/B_06.01."""
    return {
        (w.stack, w.name): f"F{i}" for i, w in enumerate(sorted(result.entries, key=lambda w: (w.stack, w.name)), 1)
    }


def _blank(template: str) -> Row:
    return {code: "" for code, _ in COLUMNS[template]}


def _known(sites: list[SiteView]) -> list[SiteView]:
    return [s for s in sites if s.provider in {c.value for c in facts.LEGAL_HOMES}]


def providers(result: Audit) -> list[Keyed]:
    """One row per provider brand. The template wants the entity the financial entity contracts with
    (c0050/c0060 name, c0080 its headquarters), which depends on the contract: an EEA customer of AWS usually
    contracts with Amazon Web Services EMEA SARL, not the US company. Bascule cannot see the contract, so those
    columns stay empty and `rows.csv` names the likely EEA entity with its source. The ultimate parent is
    known: c0110 holds its LEI (c0120 `LEI`) where one was sourced."""
    rows = []
    for cloud in sorted({s.provider for w in result.entries for s in _known(w.sites)}):
        home = facts.LEGAL_HOMES[facts.Cloud(cloud)]
        row = _blank("B_05.01")
        row.update(c0070="legal person")
        if home.parent_lei:
            row.update(c0110=home.parent_lei, c0120="LEI")
        rows.append((row, f"provider {cloud}: contracting entity for an EEA customer likely "
                          f"{home.eea_contracting_entity} (check the contract; {home.contracting_source}); "
                          f"brand company {home.company} ({home.headquarters}); ultimate parent "
                          f"{home.ultimate_parent} ({home.parent_country})"
                          f"{'' if home.parent_lei else ', its LEI not sourced here'}"))  # fmt: skip
    return rows


def arrangements(result: Audit) -> list[Keyed]:
    """One row per workload, provider and country (ISO 3166-1 alpha-2): where the service is deployed and,
    for data stores, its data kept. A multi-region gives a row per member country the provider names; one whose
    countries are not named (GCS `EU`) gives a row with the country columns empty, and `rows.csv` says why.
    c0160 (location of management of the data) is left empty: it is not necessarily the region's country."""
    ids = function_ids(result)
    rows = []
    for w in sorted(result.entries, key=lambda w: (w.stack, w.name)):
        places: dict[tuple[str, str], list[SiteView]] = {}
        for s in _known(w.sites):
            for country in s.countries or [""]:
                places.setdefault((s.provider, country), []).append(s)
        for (provider, country), sites in sorted(places.items()):
            stores = any(s.data_store for s in sites)
            row = _blank("B_02.02")
            row.update(c0050=ids[(w.stack, w.name)], c0130=country,
                       c0140=YES if stores else "", c0150=country if stores else "")  # fmt: skip
            where = f"in {country}" if country else (
                f"in {', '.join(sorted({s.region for s in sites}))}, a multi-region whose countries the provider "
                "does not name: country columns left empty"
            )  # fmt: skip
            rows.append((row, f"{w.stack}/{w.name} at {provider} {where}"))
    return rows


def _hours(seconds: int | None) -> str:
    """B_06.01.0080/0090 are natural numbers of hours. Annex I's instruction: "In number of hours. If the
    recovery time objective is less than 1 hour, '1' shall be reported. In case the recovery time objective of
    the function is not defined '0' shall be reported" (the same for the RPO). So a target rounds up to whole
    hours (never below 1), and a workload without a `bascule:rto-seconds`/`rpo-seconds` target gets '0'."""
    return "0" if seconds is None else str(max(1, math.ceil(seconds / 3600)))


def functions(result: Audit) -> list[Keyed]:
    ids = function_ids(result)
    rows = []
    for w in sorted(result.entries, key=lambda w: (w.stack, w.name)):
        row = _blank("B_06.01")
        row.update(c0010=ids[(w.stack, w.name)], c0030=f"{w.stack}/{w.name}", c0050=critical_or_important(w),
                   c0080=_hours(w.rto["target_s"]), c0090=_hours(w.rpo["target_s"]))  # fmt: skip
        rows.append((row, f"{w.stack}/{w.name}"))
    return rows


def critical_or_important(w: WorkloadAudit) -> str:
    """B_06.01.0050, DORA's test of a "critical or important function": "Yes" for a workload the audit treats as
    critical (the config's `criticalValues`) or tagged `important`; "No" only for Bascule's explicit non-critical
    value `standard`; otherwise empty (untagged, or a team value Bascule cannot map), for the entity to assess.
    The closed set is Yes / No / Assessment not performed; Bascule never claims the last, it cannot know it."""
    level = w.criticality.lower()
    if w.critical or level == Criticality.IMPORTANT:
        return YES
    return "No" if level == Criticality.STANDARD else ""


def _substitutability(w: WorkloadAudit, cloud: str, used: list[str]) -> str:
    """What the stack and its own drills show about leaving `cloud` for this workload.

    A passing last drill of this very stack moved traffic off the primary, so only the primary's provider is
    shown to be easily substitutable; the secondary's provider was never drilled away from (medium). With
    no other provider among the sites, highly complex. "Not substitutable" is never claimed: a stack cannot
    show it."""
    if len(used) == 1:
        return HIGHLY_COMPLEX_SUBSTITUTABILITY
    drilled = w.last_drill is not None and w.last_drill.get("status") == "pass"
    if drilled and cloud in {s.provider for s in w.sites if s.role == "primary"}:
        return EASILY_SUBSTITUTABLE
    return MEDIUM_SUBSTITUTABILITY


_CONSERVATIVE = (HIGHLY_COMPLEX_SUBSTITUTABILITY, MEDIUM_SUBSTITUTABILITY, EASILY_SUBSTITUTABLE)
"""Most to least conservative: a provider's row takes the first value any of its workloads has."""


def assessments(result: Audit) -> list[Keyed]:
    """One row per provider (B_07.01 is keyed by contract, provider and service type, not by function), over
    the critical or important workloads that use it, each column taking the most conservative value.

    c0110 (alternatives identified) is "Yes" only when every such workload has another provider among its
    sites, and c0120 then names them. c0080 (existence of an exit plan) is never filled: an exit plan under
    DORA Art. 28(8) is a documented strategy (Delegated Regulation (EU) 2024/1773 asks for a documented, reviewed
    and tested exit plan per arrangement), which neither a stack nor a drill evidences.
    """
    chosen = [w for w in result.entries if critical_or_important(w) == YES]
    per_provider: dict[str, list[tuple[WorkloadAudit, str, list[str]]]] = {}
    for w in sorted(chosen, key=lambda w: (w.stack, w.name)):
        used = sorted({s.provider for s in _known(w.sites)})
        for cloud in used:
            others = [facts.LEGAL_HOMES[facts.Cloud(c)].company for c in used if c != cloud]
            per_provider.setdefault(cloud, []).append((w, _substitutability(w, cloud, used), others))
    rows = []
    for cloud, seen in sorted(per_provider.items()):
        substitutability = next(v for v in _CONSERVATIVE if any(value == v for _, value, _ in seen))
        everyone = all(others for _, _, others in seen)
        alternatives = sorted({name for _, _, others in seen for name in others}) if everyone else []
        row = _blank("B_07.01")
        row.update(c0050=substitutability, c0110=YES if everyone else "", c0120="; ".join(alternatives))
        detail = "; ".join(
            f"{w.stack}/{w.name} {value}, alternatives: {', '.join(others) or 'none'}" for w, value, others in seen
        )
        rows.append((row, f"provider {cloud}: {detail}"))
    return rows


TEMPLATES: dict[str, Callable[[Audit], list[Keyed]]] = {
    "B_05.01": providers,
    "B_02.02": arrangements,
    "B_06.01": functions,
    "B_07.01": assessments,
}


KEYS_FILE = "rows.csv"


def write_register(directory: Path, result: Audit) -> list[Path]:
    """`b_05.01.csv` etc.: a header of column codes, then the rows; and `rows.csv`, which says what each
    template row describes (the rows' provider codes are empty until someone adds the LEIs)."""
    directory.mkdir(parents=True, exist_ok=True)
    written, keys = [], []
    for template, build in TEMPLATES.items():
        path = directory / f"{template.lower()}.csv"
        codes = [code for code, _ in COLUMNS[template]]
        rows = build(result)
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=codes)
            writer.writeheader()
            writer.writerows(row for row, _ in rows)
        keys += [(path.name, str(n), describes) for n, (_, describes) in enumerate(rows, 1)]
        written.append(path)
    with (directory / KEYS_FILE).open("w", encoding="utf-8", newline="") as handle:
        rows_writer = csv.writer(handle)
        rows_writer.writerow(("file", "row", "describes"))
        rows_writer.writerows(keys)
    written.append(directory / KEYS_FILE)
    return written
