"""Every CMS file layout MediDash reads, as data: header -> (dataset, layout, canonical names).

A release file is recognised by its header only (contract section 1). Each header cell is
normalised (`normalize_header`: surrounding white space and byte-order marks stripped,
lower-cased) and compared with the normalised headers of every layout in `LAYOUTS`.

Matching rule
-------------
A layout matches a file when every one of its *required* columns (its `headers` minus its
`optional` ones) is present in the file's header. Extra columns in the file are tolerated: CMS
adds columns between vintages (the CY2013 Part B text file had 28 columns against 26 later, the
2016 Physician Compare file had an extra `MOC` column) and the ingest keeps only the columns
`rename_map` names, so an extra column cannot change a kept value. Tolerating extras is safe here
because, when several layouts match, the one with the most matched columns wins, and no two
layouts have the same normalised column set: a PY2020 MIPS file also contains every PY2019 and
PY2018 column, and is still told apart as PY2020 because PY2020 matches one column more; a
29-column Part B file also contains the 28-column (no `Rndrng_Prvdr_Gndr`) layout and is reported
as the 29-column one. Columns of different datasets never cover each other (tested).

The ingest must map file columns through `Layout.rename_map()` by normalised name, not by
position, since a tolerated extra column shifts positions.

A header that matches no layout raises `UnknownLayoutError` naming the file, the closest layout
(most required columns present) and the columns it is missing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from medidash.errors import BadInput

DATASETS = ("part_b", "clinicians", "affiliations", "part_d", "mips")

_STRIP = " \t\r\n\ufeff\u00a0"


def normalize_header(name: str) -> str:
    """Header cell as compared: surrounding white space and BOM stripped, lower-cased."""
    return name.strip(_STRIP).lower()


@dataclass(frozen=True)
class Layout:
    """One CMS file layout: the exact header in file order and its canonical column names."""

    dataset: str
    name: str
    headers: tuple[str, ...]
    canonical: tuple[str | None, ...]
    optional: frozenset[str] = field(default_factory=frozenset)
    """Normalised names of columns that some vintages of this layout lack."""

    def __post_init__(self) -> None:
        if self.dataset not in DATASETS:
            raise ValueError(f"{self.name}: unknown dataset {self.dataset!r}")
        if len(self.headers) != len(self.canonical):
            raise ValueError(
                f"{self.name}: {len(self.headers)} headers, {len(self.canonical)} names"
            )
        normalised = [normalize_header(h) for h in self.headers]
        if len(set(normalised)) != len(normalised):
            raise ValueError(f"{self.name}: duplicate header after normalisation")
        kept = [c for c in self.canonical if c is not None]
        if len(set(kept)) != len(kept):
            raise ValueError(f"{self.name}: duplicate canonical name")

    def rename_map(self) -> dict[str, str]:
        """normalize_header(header) -> canonical name, for every kept column."""
        return {
            normalize_header(h): c for h, c in zip(self.headers, self.canonical, strict=True) if c
        }

    def required(self) -> tuple[str, ...]:
        """Normalised names every file of this layout carries."""
        return tuple(
            n for n in (normalize_header(h) for h in self.headers) if n not in self.optional
        )


class UnknownLayoutError(BadInput):
    """A file header that matches no CMS layout (a data error: the run stops at once)."""

    def __init__(self, source: str, closest: Layout, missing: list[str]) -> None:
        self.source = source
        self.closest = closest
        self.missing = list(missing)
        super().__init__(
            f"header matches no CMS layout; closest is {closest.name} "
            f"({closest.dataset}), which expects {len(closest.required())} columns and is "
            f"missing {len(self.missing)}: {', '.join(self.missing)}",
            file=source,
        )


def _layout(
    dataset: str, name: str, pairs: Sequence[tuple[str, str | None]], optional: Sequence[str] = ()
) -> Layout:
    return Layout(
        dataset=dataset,
        name=name,
        headers=tuple(h for h, _ in pairs),
        canonical=tuple(c for _, c in pairs),
        optional=frozenset(normalize_header(o) for o in optional),
    )


# Part B: Medicare Physician & Other Practitioners, by Provider and Service.
_PART_B_CURRENT = [
    ("Rndrng_NPI", "npi"),
    ("Rndrng_Prvdr_Last_Org_Name", "provider_last_org_name"),
    ("Rndrng_Prvdr_First_Name", "provider_first_name"),
    ("Rndrng_Prvdr_MI", "provider_middle_initial"),
    ("Rndrng_Prvdr_Crdntls", "provider_credentials"),
    ("Rndrng_Prvdr_Gndr", "provider_gender"),
    ("Rndrng_Prvdr_Ent_Cd", "entity_code"),
    ("Rndrng_Prvdr_St1", "street_1"),
    ("Rndrng_Prvdr_St2", "street_2"),
    ("Rndrng_Prvdr_City", "city"),
    ("Rndrng_Prvdr_State_Abrvtn", "state"),
    ("Rndrng_Prvdr_State_FIPS", "state_fips"),
    ("Rndrng_Prvdr_Zip5", "zip"),
    ("Rndrng_Prvdr_RUCA", "ruca"),
    ("Rndrng_Prvdr_RUCA_Desc", "ruca_description"),
    ("Rndrng_Prvdr_Cntry", "country"),
    ("Rndrng_Prvdr_Type", "provider_type"),
    ("Rndrng_Prvdr_Mdcr_Prtcptg_Ind", "medicare_participation"),
    ("HCPCS_Cd", "hcpcs_code"),
    ("HCPCS_Desc", "hcpcs_description"),
    ("HCPCS_Drug_Ind", "hcpcs_drug_ind"),
    ("Place_Of_Srvc", "place_of_service"),
    ("Tot_Benes", "tot_benes"),
    ("Tot_Srvcs", "tot_srvcs"),
    ("Tot_Bene_Day_Srvcs", "tot_bene_day_srvcs"),
    ("Avg_Sbmtd_Chrg", "avg_submitted_charge"),
    ("Avg_Mdcr_Alowd_Amt", "avg_allowed_amount"),
    ("Avg_Mdcr_Pymt_Amt", "avg_payment_amount"),
    ("Avg_Mdcr_Stdzd_Amt", "avg_standardized_amount"),
]

# (PUF short name, Socrata display name of the 2017 export, canonical name), in file order.
_PART_B_2017 = [
    ("npi", "National Provider Identifier", "npi"),
    ("nppes_provider_last_org_name", "Last Name/Organization Name of the Provider",
     "provider_last_org_name"),
    ("nppes_provider_first_name", "First Name of the Provider", "provider_first_name"),
    ("nppes_provider_mi", "Middle Initial of the Provider", "provider_middle_initial"),
    ("nppes_credentials", "Credentials of the Provider", "provider_credentials"),
    ("nppes_provider_gender", "Gender of the Provider", "provider_gender"),
    ("nppes_entity_code", "Entity Type of the Provider", "entity_code"),
    ("nppes_provider_street1", "Street Address 1 of the Provider", "street_1"),
    ("nppes_provider_street2", "Street Address 2 of the Provider", "street_2"),
    ("nppes_provider_city", "City of the Provider", "city"),
    ("nppes_provider_zip", "Zip Code of the Provider", "zip"),
    ("nppes_provider_state", "State Code of the Provider", "state"),
    ("nppes_provider_country", "Country Code of the Provider", "country"),
    ("provider_type", "Provider Type", "provider_type"),
    ("medicare_participation_indicator", "Medicare Participation Indicator",
     "medicare_participation"),
    ("place_of_service", "Place of Service", "place_of_service"),
    ("hcpcs_code", "HCPCS Code", "hcpcs_code"),
    ("hcpcs_description", "HCPCS Description", "hcpcs_description"),
    ("hcpcs_drug_indicator", "HCPCS Drug Indicator", "hcpcs_drug_ind"),
    ("line_srvc_cnt", "Number of Services", "tot_srvcs"),
    ("bene_unique_cnt", "Number of Medicare Beneficiaries", "tot_benes"),
    ("bene_day_srvc_cnt", "Number of Distinct Medicare Beneficiary/Per Day Services",
     "tot_bene_day_srvcs"),
    ("average_Medicare_allowed_amt", "Average Medicare Allowed Amount", "avg_allowed_amount"),
    ("average_submitted_chrg_amt", "Average Submitted Charge Amount", "avg_submitted_charge"),
    ("average_Medicare_payment_amt", "Average Medicare Payment Amount", "avg_payment_amount"),
    ("average_Medicare_standard_amt", "Average Medicare Standardized Amount",
     "avg_standardized_amount"),
]  # fmt: skip

# Doctors and Clinicians National Downloadable File, current (2023+) 31 columns.
_CLINICIANS_CURRENT = [
    ("NPI", "npi"),
    ("Ind_PAC_ID", "ind_pac_id"),
    ("Ind_enrl_ID", "ind_enrl_id"),
    ("Provider Last Name", "last_name"),
    ("Provider First Name", "first_name"),
    ("Provider Middle Name", "middle_name"),
    ("suff", "suffix"),
    ("gndr", "gender"),
    ("Cred", "credential"),
    ("Med_sch", "medical_school"),
    ("Grd_yr", "grad_year"),
    ("pri_spec", "specialty"),
    ("sec_spec_1", "secondary_specialty_1"),
    ("sec_spec_2", "secondary_specialty_2"),
    ("sec_spec_3", "secondary_specialty_3"),
    ("sec_spec_4", "secondary_specialty_4"),
    ("sec_spec_all", "secondary_specialty_all"),
    ("Telehlth", "telehealth"),
    ("Facility Name", "practice_name"),
    ("org_pac_id", "practice_id"),
    ("num_org_mem", "practice_member_count"),
    ("adr_ln_1", "address_line_1"),
    ("adr_ln_2", "address_line_2"),
    ("ln_2_sprs", "line_2_suppressed"),
    ("City/Town", "city"),
    ("State", "state"),
    ("ZIP Code", "zip"),
    ("Telephone Number", "phone"),
    ("ind_assgn", "ind_assignment"),
    ("grp_assgn", "grp_assignment"),
    ("adrs_id", "address_id"),
]


def _physician_compare(display: bool) -> list[tuple[str, str | None]]:
    """Older Physician Compare layout, short names or the Socrata display-name export."""
    head = [
        ("NPI", "NPI", "npi"),
        ("Ind_PAC_ID", "PAC ID", "ind_pac_id"),
        ("Ind_enrl_ID", "Professional Enrollment ID", "ind_enrl_id"),
        ("lst_nm", "Last Name", "last_name"),
        ("frst_nm", "First Name", "first_name"),
        ("mid_nm", "Middle Name", "middle_name"),
        ("suff", "Suffix", "suffix"),
        ("gndr", "Gender", "gender"),
        ("Cred", "Credential", "credential"),
        ("Med_sch", "Medical school name", "medical_school"),
        ("Grd_yr", "Graduation year", "grad_year"),
        ("pri_spec", "Primary specialty", "specialty"),
        ("sec_spec_1", "Secondary specialty 1", "secondary_specialty_1"),
        ("sec_spec_2", "Secondary specialty 2", "secondary_specialty_2"),
        ("sec_spec_3", "Secondary specialty 3", "secondary_specialty_3"),
        ("sec_spec_4", "Secondary specialty 4", "secondary_specialty_4"),
        ("sec_spec_all", "All secondary specialties", "secondary_specialty_all"),
        ("org_nm", "Organization legal name", "practice_name"),
        ("org_pac_id", "Group Practice PAC ID", "practice_id"),
        ("num_org_mem", "Number of Group Practice members", "practice_member_count"),
        ("adr_ln_1", "Line 1 Street Address", "address_line_1"),
        ("adr_ln_2", "Line 2 Street Address", "address_line_2"),
        ("ln_2_sprs", "Marker of address line 2 suppression", "line_2_suppressed"),
        ("cty", "City", "city"),
        ("st", "State", "state"),
        ("zip", "Zip Code", "zip"),
        ("phn_numbr", "Phone Number", "phone"),
    ]
    hospitals = []
    for i in range(1, 6):
        hospitals.append((f"hosp_afl_{i}", f"Hospital affiliation CCN {i}", f"hosp_afl_ccn_{i}"))
        hospitals.append(
            (f"hosp_afl_lbn_{i}", f"Hospital affiliation LBN {i}", f"hosp_afl_name_{i}")
        )
    tail = [("assgn", "Professional accepts Medicare Assignment", "accepts_assignment")]
    rows = head + hospitals + tail
    if display:
        return [(d, c) for _, d, c in rows]
    # the CMS short-name files of 2016-2019 end with the quality-program flags
    flags = [("PQRS", "reported_quality_measures"), ("EHR", "used_ehr"), ("MHI", "million_hearts")]
    return [(s, c) for s, _, c in rows] + flags


_AFFILIATIONS_CURRENT = [
    ("NPI", "npi"),
    ("Ind_PAC_ID", "ind_pac_id"),
    ("Provider Last Name", "last_name"),
    ("Provider First Name", "first_name"),
    ("Provider Middle Name", "middle_name"),
    ("suff", "suffix"),
    ("facility_type", "facility_type"),
    ("Facility Affiliations Certification Number", "facility_ccn"),
    ("Facility Type Certification Number", "parent_ccn"),
]

_PART_D_CURRENT = [
    ("Prscrbr_NPI", "npi"),
    ("Prscrbr_Last_Org_Name", "prescriber_last_org_name"),
    ("Prscrbr_First_Name", "prescriber_first_name"),
    ("Prscrbr_City", "city"),
    ("Prscrbr_State_Abrvtn", "state"),
    ("Prscrbr_State_FIPS", "state_fips"),
    ("Prscrbr_Type", "prescriber_type"),
    ("Prscrbr_Type_Src", "prescriber_type_source"),
    ("Brnd_Name", "brand_name"),
    ("Gnrc_Name", "generic_name"),
    ("Tot_Clms", "tot_clms"),
    ("Tot_30day_Fills", "tot_30day_fills"),
    ("Tot_Day_Suply", "tot_day_suply"),
    ("Tot_Drug_Cst", "tot_drug_cst"),
    ("Tot_Benes", "tot_benes"),
    ("GE65_Sprsn_Flag", "ge65_suppress_flag"),
    ("GE65_Tot_Clms", "ge65_tot_clms"),
    ("GE65_Tot_30day_Fills", "ge65_tot_30day_fills"),
    ("GE65_Tot_Drug_Cst", "ge65_tot_drug_cst"),
    ("GE65_Tot_Day_Suply", "ge65_tot_day_suply"),
    ("GE65_Bene_Sprsn_Flag", "ge65_bene_suppress_flag"),
    ("GE65_Tot_Benes", "ge65_tot_benes"),
]

# 2013-2019 Part D Prescriber PUF (NPI x drug); the 30-day fill columns came in later years.
_PART_D_PUF = [
    ("npi", "npi"),
    ("nppes_provider_last_org_name", "prescriber_last_org_name"),
    ("nppes_provider_first_name", "prescriber_first_name"),
    ("nppes_provider_city", "city"),
    ("nppes_provider_state", "state"),
    ("specialty_description", "prescriber_type"),
    ("description_flag", "prescriber_type_source"),
    ("drug_name", "brand_name"),
    ("generic_name", "generic_name"),
    ("bene_count", "tot_benes"),
    ("total_claim_count", "tot_clms"),
    ("total_30_day_fill_count", "tot_30day_fills"),
    ("total_day_supply", "tot_day_suply"),
    ("total_drug_cost", "tot_drug_cst"),
    ("bene_count_ge65", "ge65_tot_benes"),
    ("bene_count_ge65_suppress_flag", "ge65_bene_suppress_flag"),
    ("total_claim_count_ge65", "ge65_tot_clms"),
    ("ge65_suppress_flag", "ge65_suppress_flag"),
    ("total_30_day_fill_count_ge65", "ge65_tot_30day_fills"),
    ("total_day_supply_ge65", "ge65_tot_day_suply"),
    ("total_drug_cost_ge65", "ge65_tot_drug_cst"),
]

_MIPS_PY2017 = [
    ("NPI", "npi"),
    ("PAC ID", "pac_id"),
    ("Last Name", "last_name"),
    ("First Name", "first_name"),
    ("Source of Scores", "source"),
    ("Quality Category Score", "quality_category_score"),
    ("ACI Category Score", "pi_category_score"),
    ("IA Category Score", "ia_category_score"),
    ("Final MIPS Score", "final_mips_score"),
]

_MIPS_PY2018 = [
    ("npi", "npi"),
    ("org_pac_id", "practice_id"),
    ("lst_nm", "last_name"),
    ("frst_nm", "first_name"),
    ("source", "source"),
    ("quality_category_score", "quality_category_score"),
    ("pi_category_score", "pi_category_score"),
    ("cost_category_score", "cost_category_score"),
    ("ia_category_score", "ia_category_score"),
    ("final_mips_score", "final_mips_score"),
]

_MIPS_PY2019 = [
    ("NPI", "npi"),
    ("Org_PAC_ID", "practice_id"),
    ("lst_nm", "last_name"),
    ("frst_nm", "first_name"),
    ("source", "source"),
    ("facility_ccn", "facility_ccn"),
    ("facility_lbn", "facility_name"),
    ("Quality_category_score", "quality_category_score"),
    ("PI_category_score", "pi_category_score"),
    ("IA_category_score", "ia_category_score"),
    ("Cost_category_score", "cost_category_score"),
    ("final_MIPS_score", "final_mips_score"),
]

_MIPS_PY2020 = [
    *_MIPS_PY2019[:-1],
    ("final_MIPS_score_without_CPB", "final_mips_score_without_cpb"),
    _MIPS_PY2019[-1],
]

_MIPS_PY2021 = [
    ("NPI", "npi"),
    ("Org_PAC_ID", "practice_id"),
    ("Provider Last Name", "last_name"),
    ("Provider First Name", "first_name"),
    ("source", "source"),
    ("Facility-based scoring Certification number", "facility_ccn"),
    ("Facility Name", "facility_name"),
    ("Quality_category_score", "quality_category_score"),
    ("PI_category_score", "pi_category_score"),
    ("IA_category_score", "ia_category_score"),
    ("Cost_category_score", "cost_category_score"),
    ("final_MIPS_score_without_CPB", "final_mips_score_without_cpb"),
    ("final_MIPS_score", "final_mips_score"),
]

LAYOUTS: tuple[Layout, ...] = (
    _layout("part_b", "part_b_current", _PART_B_CURRENT),
    _layout(
        "part_b",
        "part_b_current_no_gndr",
        [p for p in _PART_B_CURRENT if p[0] != "Rndrng_Prvdr_Gndr"],
    ),
    # the BigQuery copy spells the same names lower-case, identical after normalisation
    # the PUF before CY2014 has no standardized amount (its events' standardized_amount is NULL)
    _layout(
        "part_b",
        "part_b_puf",
        [(s, c) for s, _, c in _PART_B_2017],
        optional=("average_Medicare_standard_amt",),
    ),
    _layout("part_b", "part_b_display_2017", [(d, c) for _, d, c in _PART_B_2017]),
    _layout("clinicians", "clinicians_current", _CLINICIANS_CURRENT),
    _layout(
        "clinicians",
        "clinicians_physician_compare",
        _physician_compare(display=False),
        optional=("PQRS", "EHR", "MHI"),
    ),
    # some vintages spell the group name column org_lgl_nm
    _layout(
        "clinicians",
        "clinicians_physician_compare_lgl",
        [("org_lgl_nm", c) if h == "org_nm" else (h, c) for h, c in _physician_compare(False)],
        optional=("PQRS", "EHR", "MHI"),
    ),
    _layout("clinicians", "clinicians_display", _physician_compare(display=True)),
    _layout("affiliations", "affiliations_current", _AFFILIATIONS_CURRENT),
    _layout("part_d", "part_d_current", _PART_D_CURRENT),
    _layout(
        "part_d",
        "part_d_puf",
        _PART_D_PUF,
        optional=("total_30_day_fill_count", "total_30_day_fill_count_ge65"),
    ),
    _layout("mips", "mips_py2017", _MIPS_PY2017),
    _layout("mips", "mips_py2018", _MIPS_PY2018),
    _layout("mips", "mips_py2019", _MIPS_PY2019),
    _layout("mips", "mips_py2020", _MIPS_PY2020),
    _layout("mips", "mips_py2021", _MIPS_PY2021),
)

_BY_NAME = {lay.name: lay for lay in LAYOUTS}


def layout(name: str) -> Layout:
    """The layout called `name` (KeyError naming the known ones otherwise)."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown layout {name!r}; known: {', '.join(_BY_NAME)}") from None


def detect(header: Sequence[str], source: str) -> Layout:
    """The layout of a file from its header cells; `source` names the file in errors.

    Among the layouts whose required columns are all present, the one with the most matched
    columns wins (so PY2020 MIPS is not taken for PY2019, nor 29-column Part B for 28).
    """
    present = {normalize_header(h) for h in header}
    best: Layout | None = None
    best_key: tuple[int, int] | None = None
    for lay in LAYOUTS:
        if all(r in present for r in lay.required()):
            matched = sum(1 for h in lay.headers if normalize_header(h) in present)
            key = (matched, -len(lay.headers))
            if best_key is None or key > best_key:
                best, best_key = lay, key
    if best is not None:
        return best

    def overlap(lay: Layout) -> tuple[int, float]:
        req = lay.required()
        hit = sum(1 for r in req if r in present)
        return hit, hit / len(req)

    closest = max(LAYOUTS, key=overlap)
    missing = [
        h
        for h in closest.headers
        if normalize_header(h) not in closest.optional and normalize_header(h) not in present
    ]
    raise UnknownLayoutError(source, closest, missing)
