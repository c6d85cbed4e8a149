"""A hand-made tiny release, every mart value worked out by hand.

The release is written here in the real CMS headers (with a duplicate row, quarantined rows, a
tie in specialties and in HCPCS descriptions, blank and zero bene-day counts, fractional
services, an unpadded CCN, a prescriber with no Part B rows and one with no ZIP at all), then
taken through the three Spark steps and dbt into a real PostgreSQL. The expected values below
were computed by hand from the rows, following the contract; the comments show the arithmetic.
"""

from __future__ import annotations

import csv
import json
from decimal import Decimal

import psycopg
import pytest

from medidash.cms_layouts import layout
from medidash.warehouse import EmbeddedServer
from tests.reliability import harness as h

YEAR = 2023
A, B, C, D, E, F = (
    "1111111111",
    "2222222222",
    "3333333333",
    "4444444444",
    "5555555555",
    "6666666666",
)
P1, P2 = "0840459889", "0000000123"


def write(path, layout_name, rows, without=()):
    """The rows in the layout's headers, without the columns (canonical names) in `without`."""
    lay = layout(layout_name)
    kept = [i for i, c in enumerate(lay.canonical) if c not in without]
    canon = {c: i for i, c in enumerate(lay.canonical) if c}
    with open(path, "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow([lay.headers[i] for i in kept])
        for row in rows:
            line = [""] * len(lay.headers)
            for key, value in row.items():
                line[canon[key]] = value
            out.writerow([line[i] for i in kept])


def pb(npi, state, zip_, code, desc, drug, pos, benes, srvcs, bene_days, pay=("",) * 4,
       name=("", ""), entity="I"):  # fmt: skip
    """A Part B row; `pay`: its average submitted charge, allowed, paid and standardized;
    `name`: the provider's last (or organisation) and first name."""
    return dict(
        provider_last_org_name=name[0],
        provider_first_name=name[1],
        entity_code=entity,
        avg_submitted_charge=pay[0],
        avg_allowed_amount=pay[1],
        avg_payment_amount=pay[2],
        avg_standardized_amount=pay[3],
        npi=npi,
        state=state,
        zip=zip_,
        hcpcs_code=code,
        hcpcs_description=desc,
        hcpcs_drug_ind=drug,
        place_of_service=pos,
        tot_benes=benes,
        tot_srvcs=srvcs,
        tot_bene_day_srvcs=bene_days,
        provider_type="Internal Medicine",
        country="US",
    )


# fmt: off
PART_B = [
    # pay: the payment averages (tests at the end); blank is NULL
    pb(A, "CA", "94110", "99213", "Office visit 15", "N", "O", "20", "30", "25",  # 25 events
       ("100", "75.5", "60.125", "58.0015"), name=(" Garcia", "Maria ")),
    pb(A, "CA", "94110", "99213", "Office visit 15", "N", "F", "11", "12.5", "",  # ceil 12.5=13
       ("80", "50.01", "40.004", ""), name=("Garcia", "Mary")),  # no standardized amount
    pb(A, "CA", "94110", "j1100 ", "Dexamethasone 1mg", "Y", "O", "15", "400", "18",  # 18
       ("0.5", "0.3", "0.25", "0.2401")),
    pb(B, "CA", "94110", "99213", "Office visit typ 15", "N", "O", "12", "14", "14",  # 14
       ("90", "70", "55.55", "55"), name=("Bay Clinic Lab", "Ann"), entity="O"),
    pb(B, "CA", "94110", "0002A", "Covid vaccine admin", "N", "O", "30", "30", "0",  # 0 → 30
       name=("Bay Clinic Lab", ""), entity="O"),
    pb(C, "NY", "10001", "99213", "Office visit 15", "N", "O", "11", "11", "11",  # 11
       ("100", "60", "48.3333", "47")),
    pb(C, "NY", "10001", "J1100", "Dexamethasone 1 mg", "Y", "F", "11", "50", "12",  # 12
       ("1", "0.8", "0.64", "0.6")),
    pb(C, "NY", "10001", "99213", "Office visit 15", "N", "O", "11", "11", "11",  # duplicate
       ("100", "60", "48.3333", "47")),
    pb("123", "NY", "10001", "99214", "Office visit 25", "N", "O", "11", "11", "11"),  # bad NPI
]
# fmt: on


def cl(npi, spec, school, practice_id, practice_name, state, zip_, address, name=("", "")):
    return dict(
        last_name=name[0],
        first_name=name[1],
        npi=npi,
        specialty=spec,
        medical_school=school,
        practice_id=practice_id,
        practice_name=practice_name,
        state=state,
        zip=zip_,
        address_line_1=address,
    )


CLINICIANS = [
    cl(A, "INTERNAL MEDICINE", "STANFORD", P1, "BAY CLINIC", "CA", "941101234", "1 Main"),
    cl(A, "family  practice ", "STANFORD", P2, "CITY GROUP", "NY", "10001", "9 Broad"),
    cl(B, "INTERNAL MEDICINE", "", P1, "Bay Clinic", "CA", "94110", "1 Main"),
    cl(B, "INTERNAL MEDICINE", "", P1, "BAY CLINIC", "CA", "94110", "2 Side"),
    cl(
        C,
        "CARDIOVASCULAR DISEASE (CARDIOLOGY)",
        "OTHER",
        P2,
        "CITY GROUP",
        "NY",
        "10001",
        "9 Broad",
    ),
    cl(D, "NURSE PRACTITIONER", "OTHER", "", "", "MA", "021341111", "5 Elm", ("Walsh", "Erin")),
    cl(F, "", "UNIVERSIDAD DE PUERTO RICO", "", "", "PR", "901", "7 Sol"),
    cl(
        C,
        "CARDIOVASCULAR DISEASE (CARDIOLOGY)",
        "OTHER",
        P2,
        "CITY GROUP",
        "NY",
        "10001",
        "9 Broad",
    ),
]


def pd(npi, state, brand, generic, claims, days, cost, benes, name=("", ""), ptype=""):
    return dict(
        prescriber_last_org_name=name[0],
        prescriber_first_name=name[1],
        prescriber_type=ptype,
        npi=npi,
        state=state,
        brand_name=brand,
        generic_name=generic,
        tot_clms=claims,
        tot_day_suply=days,
        tot_drug_cst=cost,
        tot_benes=benes,
    )


# fmt: off
PART_D = [
    pd(A, "CA", "Lipitor", "Atorvastatin Calcium", "20", "600", "250.50", "12"),
    pd(A, "CA", "Atorvastatin Calcium", "Atorvastatin  calcium", "30", "900", "90.30", ""),
    pd(D, "MA", "Synthroid", "Levothyroxine Sodium", "15", "450", "30.00", "",
       ptype="Nurse Practitioner"),
    pd(E, "TX", "Metformin Hcl", "Metformin Hcl", "40", "1200", "80.00", "13",
       ("Lone Star Pharmacy", ""), "Pharmacist"),
    pd(C, "NY", "Lipitor", "Atorvastatin Calcium", "11", "330", "100.00", "",
       ("Okafor", "Ngozi"), "Cardiology"),
    pd(A, "CA", "X", "Y", "abc", "10", "1.00", ""),  # non-numeric claims: quarantined
]
# fmt: on

MIPS = [
    dict(npi=A, practice_id=P1, final_mips_score="80"),
    dict(npi=A, practice_id=P2, final_mips_score="90"),
    dict(npi=B, practice_id=P1, final_mips_score="N/A"),
    dict(npi=C, practice_id=P2, final_mips_score="70"),
    dict(npi=C, practice_id=P1, final_mips_score="150"),  # out of range: quarantined
    dict(npi=C, practice_id=P2, final_mips_score="70"),  # duplicate
]

AFFILIATIONS = [
    dict(npi=A, facility_type="Hospital", facility_ccn="50001"),  # padded to 050001
    dict(npi=B, facility_type="Hospital", facility_ccn="050001"),
    dict(npi=C, facility_type="Skilled nursing facility", facility_ccn="335678"),
    dict(npi=A, facility_type="Skilled nursing facility", facility_ccn="335678"),
]


FILES = {  # dataset: (file name, layout, rows)
    "part_b": ("partb.csv", "part_b_current_no_gndr", PART_B),
    "clinicians": ("dac.csv", "clinicians_current", CLINICIANS),
    "part_d": ("partd.csv", "part_d_current", PART_D),
    "mips": ("mips.csv", "mips_py2021", MIPS),
    "affiliations": ("affiliations.csv", "affiliations_current", AFFILIATIONS),
}


# The same rows as a 2013 release in the PUF layouts: no standardized amount (the PUF before
# 2014 has none), no MIPS and no affiliations file (both came later); and as a 2017 release in
# that year's display-name exports (MIPS PY2017 keys a row by the clinician's PAC ID).
PUF_YEAR, DISPLAY_YEAR = 2013, 2017
PUF_FILES = {
    "part_b": ("Medicare_Provider_Util_Payment_PUF_CY2013.txt", "part_b_puf", PART_B),
    "clinicians": ("Physician_Compare_National.csv", "clinicians_physician_compare", CLINICIANS),
    "part_d": ("PartD_Prescriber_PUF_NPI_Drug_13.txt", "part_d_puf", PART_D),
}
DISPLAY_FILES = {
    "part_b": ("Physician_Supplier_Procedure_Summary_2017.csv", "part_b_display_2017", PART_B),
    "clinicians": ("Physician_Compare_2017.csv", "clinicians_display", CLINICIANS),
    "part_d": ("PartD_Prescriber_PUF_NPI_Drug_17.txt", "part_d_puf", PART_D),
    "mips": (
        "Physician_Compare_2017_Individual_EC_MIPS.csv",
        "mips_py2017",
        [dict(npi=r["npi"], pac_id=r["practice_id"], final_mips_score=r["final_mips_score"])
         for r in MIPS],
    ),
}  # fmt: skip


def write_release(folder, without=(), files=FILES, columns_without=()):
    """The hand-made release in `folder`, without the files of the datasets in `without`."""
    folder.mkdir(parents=True)
    for dataset, (name, layout_name, rows) in files.items():
        if dataset not in without:
            write(folder / name, layout_name, rows, columns_without)
    return folder


@pytest.fixture(scope="module")
def marts(tmp_path_factory):
    root = tmp_path_factory.mktemp("hand")
    release = write_release(root / "release")
    server = EmbeddedServer(root / "pg")
    wh = server.start()
    try:
        h.run_pipeline(release=release, year=YEAR, lake=root / "lake", run_id="hand", url=wh.url)
        puf = write_release(
            root / "puf", files=PUF_FILES, columns_without={"avg_standardized_amount"}
        )
        h.run_pipeline(release=puf, year=PUF_YEAR, lake=root / "lake", run_id="puf", url=wh.url)
        display = write_release(root / "display", files=DISPLAY_FILES)
        h.run_pipeline(
            release=display, year=DISPLAY_YEAR, lake=root / "lake", run_id="display", url=wh.url
        )
        h.dbt_build(wh.url)
        with psycopg.connect(wh.url) as conn:

            def q(sql):
                return conn.execute(sql).fetchall()

            yield q, root / "lake"
    finally:
        server.stop()


def test_reconciliation(marts):
    q, lake = marts
    recon = {
        r[0]: r[1:]
        for r in q(
            "select dataset, input_rows, valid_rows, duplicate_rows, filtered_rows, "
            "quarantined_rows, events_written, events_expected from ops.reconciliation "
            "where run_id = 'hand'"
        )
    }
    assert recon["part_b"] == (9, 7, 1, 0, 1, 123, 123)  # 25+13+18+14+30+11+12
    assert recon["clinicians"][:5] == (8, 7, 1, 0, 0)
    assert recon["part_d"] == (6, 5, 0, 0, 1, 116, 116)  # 20+30+15+40+11
    assert recon["mips"][:5] == (6, 4, 1, 0, 1)
    assert recon["affiliations"][:5] == (4, 4, 0, 0, 0)
    quarantined = q(
        "select dataset, source_file, line_number from ops.quarantine "
        "where run_id = 'hand' order by 1"
    )
    assert [(d, f.rsplit("/", 1)[-1], n) for d, f, n in quarantined] == [
        ("mips", "mips.csv", 6),
        ("part_b", "partb.csv", 10),
        ("part_d", "partd.csv", 7),
    ]
    report = json.loads((lake / "runs" / "hand" / "reconciliation.json").read_text())
    assert report["part_b"]["events_written"] == 123


def test_procedure_counts(marts):
    q, _ = marts
    rows = q(
        "select geo_level, geo_id, hcpcs_code, hcpcs_description, is_drug, event_count, "
        "service_units, round(pct_of_geo, 4) from marts.procedure_counts "
        f"where data_year = {YEAR} and geo_level <> 'nation' order by 1, 2, 3"
    )
    d = Decimal
    ca = [  # non-drug CA events 52 + 30 = 82
        ("0002A", "Covid vaccine admin", False, 30, d("30.000"), d("36.5854")),
        ("99213", "Office visit 15", False, 52, d("56.500"), d("63.4146")),  # 25+13+14
        ("J1100", "Dexamethasone 1 mg", True, 18, d("400.000"), d("100.0000")),  # tie → smaller
    ]
    ny = [
        ("99213", "Office visit 15", False, 11, d("11.000"), d("100.0000")),
        ("J1100", "Dexamethasone 1 mg", True, 12, d("50.000"), d("100.0000")),
    ]
    p2 = [  # members A and C
        ("99213", "Office visit 15", False, 49, d("53.500"), d("100.0000")),  # 25+13+11
        ("J1100", "Dexamethasone 1 mg", True, 30, d("450.000"), d("100.0000")),  # 18+12
    ]
    expected = (
        [("practice", P2, *r) for r in p2]
        + [("practice", P1, *r) for r in ca]
        + [("state", "CA", *r) for r in ca]
        + [("state", "NY", *r) for r in ny]
        + [("zip", "10001", *r) for r in ny]
        + [("zip", "94110", *r) for r in ca]
    )
    assert rows == expected


def test_prescription_counts(marts):
    q, _ = marts
    rows = q(
        "select geo_level, geo_id, generic_name, claim_count, day_supply, drug_cost, "
        f"round(pct_of_geo, 4) from marts.prescription_counts where data_year = {YEAR} "
        "and geo_level <> 'nation' order by 1, 2, 3"
    )
    d = Decimal
    ator = "ATORVASTATIN CALCIUM"
    assert rows == [
        ("practice", P2, ator, 61, 1830, d("440.80"), d("100.0000")),  # A 50 + C 11
        ("practice", P1, ator, 50, 1500, d("340.80"), d("100.0000")),  # A only
        ("state", "CA", ator, 50, 1500, d("340.80"), d("100.0000")),
        ("state", "MA", "LEVOTHYROXINE SODIUM", 15, 450, d("30.00"), d("100.0000")),
        ("state", "NY", ator, 11, 330, d("100.00"), d("100.0000")),
        ("state", "TX", "METFORMIN HCL", 40, 1200, d("80.00"), d("100.0000")),
        ("zip", "02134", "LEVOTHYROXINE SODIUM", 15, 450, d("30.00"), d("100.0000")),  # D: DAC
        ("zip", "10001", ator, 11, 330, d("100.00"), d("100.0000")),
        ("zip", "94110", ator, 50, 1500, d("340.80"), d("100.0000")),
    ]  # E has neither Part B nor clinicians rows: no ZIP


def test_specialty_and_school_counts(marts):
    q, _ = marts
    spec = q(
        "select geo_level, geo_id, specialty, clinician_count, round(pct_of_geo, 2) from "
        f"marts.specialty_counts where data_year = {YEAR} and geo_level <> 'nation' "
        "order by 1, 2, 3"
    )
    cardio, fam, im = "CARDIOVASCULAR DISEASE (CARDIOLOGY)", "FAMILY PRACTICE", "INTERNAL MEDICINE"
    half, full = Decimal("50.00"), Decimal("100.00")
    # A ties INTERNAL MEDICINE / FAMILY PRACTICE (one row each) → FAMILY PRACTICE
    assert spec == [
        ("practice", P2, cardio, 1, half),
        ("practice", P2, fam, 1, half),
        ("practice", P1, fam, 1, half),
        ("practice", P1, im, 1, half),
        ("state", "CA", fam, 1, half),
        ("state", "CA", im, 1, half),
        ("state", "MA", "NURSE PRACTITIONER", 1, full),
        ("state", "NY", cardio, 1, half),
        ("state", "NY", fam, 1, half),
        ("state", "PR", "UNKNOWN", 1, full),
        ("zip", "00901", "UNKNOWN", 1, full),
        ("zip", "02134", "NURSE PRACTITIONER", 1, full),
        ("zip", "10001", cardio, 1, half),
        ("zip", "10001", fam, 1, half),
        ("zip", "94110", fam, 1, half),
        ("zip", "94110", im, 1, half),
    ]
    schools = q(
        "select geo_level, geo_id, medical_school, clinician_count from "
        f"marts.medical_school_counts where data_year = {YEAR} and geo_level <> 'nation' "
        "order by 1, 2, 3"
    )
    upr = "UNIVERSIDAD DE PUERTO RICO"
    assert schools == [
        ("practice", P2, "OTHER", 1),
        ("practice", P2, "STANFORD", 1),
        ("practice", P1, "STANFORD", 1),
        ("practice", P1, "UNKNOWN", 1),
        ("state", "CA", "STANFORD", 1),
        ("state", "CA", "UNKNOWN", 1),
        ("state", "MA", "OTHER", 1),
        ("state", "NY", "OTHER", 1),
        ("state", "NY", "STANFORD", 1),
        ("state", "PR", upr, 1),
        ("zip", "00901", upr, 1),
        ("zip", "02134", "OTHER", 1),
        ("zip", "10001", "OTHER", 1),
        ("zip", "10001", "STANFORD", 1),
        ("zip", "94110", "STANFORD", 1),
        ("zip", "94110", "UNKNOWN", 1),
    ]


def test_hospital_affiliations(marts):
    q, _ = marts
    rows = q(
        "select practice_id, facility_ccn, facility_type, facility_name, clinician_count "
        f"from marts.hospital_affiliations where data_year = {YEAR} order by 1, 2"
    )
    snf = "Skilled nursing facility"
    assert rows == [
        (P2, "050001", "Hospital", None, 1),  # A
        (P2, "335678", snf, None, 2),  # A, C
        (P1, "050001", "Hospital", None, 2),  # A, B
        (P1, "335678", snf, None, 1),  # A
    ]


def test_geo_summary(marts):
    q, _ = marts
    rows = q(
        "select geo_level, geo_id, display_name, state, clinician_count, procedure_events, "
        "prescription_claims, avg_mips_score from marts.geo_summary "
        f"where data_year = {YEAR} and geo_level <> 'nation' order by 1, 2"
    )
    assert rows == [
        ("practice", P2, "CITY GROUP", "NY", 2, 79, 61, 80.0),  # A 90, C 70
        ("practice", P1, "BAY CLINIC", "CA", 2, 100, 50, 90.0),  # 2 of 3 rows "BAY CLINIC"
        ("state", "CA", "CA", "CA", 2, 100, 50, 90.0),  # B's N/A is NULL, not 0
        ("state", "MA", "MA", "MA", 1, 0, 15, None),
        ("state", "NY", "NY", "NY", 2, 23, 11, 80.0),
        ("state", "PR", "PR", "PR", 1, 0, 0, None),
        ("state", "TX", "TX", "TX", 0, 0, 40, None),
        ("zip", "00901", "00901", "PR", 1, 0, 0, None),
        ("zip", "02134", "02134", "MA", 1, 0, 15, None),
        ("zip", "10001", "10001", "NY", 2, 23, 11, 80.0),
        ("zip", "94110", "94110", "CA", 2, 100, 50, 90.0),
    ]


# Contract v2: the nation level, and geo_summary's drug_cost and provider_count.
# Valid rows of the release above: Part B A (CA 94110) 25+13 events of 99213, 18 of J1100;
# B (CA 94110) 14 of 99213, 30 of 0002A; C (NY 10001) 11 of 99213, 12 of J1100. Part D
# A (CA) 20+30 atorvastatin claims ($250.50 + $90.30), D (MA) 15 levothyroxine ($30.00),
# E (TX) 40 metformin ($80.00), C (NY) 11 atorvastatin ($100.00). Clinicians A (CA, NY; P1,
# P2), B (CA; P1), C (NY; P2), D (MA), F (PR); E has no clinicians row.


def test_nation_procedure_and_prescription_counts(marts):
    q, _ = marts
    d = Decimal
    procedures = q(
        "select geo_id, hcpcs_code, hcpcs_description, is_drug, event_count, service_units, "
        "round(pct_of_geo, 4) from marts.procedure_counts "
        f"where data_year = {YEAR} and geo_level = 'nation' order by 1, 2"
    )
    assert procedures == [  # every event of the year; non-drug events 30 + 63 = 93
        ("US", "0002A", "Covid vaccine admin", False, 30, d("30.000"), d("32.2581")),  # 30/93
        # A 25+13, B 14, C 11 events; units 30 + 12.5 + 14 + 11; 63/93
        ("US", "99213", "Office visit 15", False, 63, d("67.500"), d("67.7419")),
        ("US", "J1100", "Dexamethasone 1 mg", True, 30, d("450.000"), d("100.0000")),  # 18+12
    ]
    prescriptions = q(
        "select geo_id, generic_name, claim_count, day_supply, drug_cost, round(pct_of_geo, 4) "
        "from marts.prescription_counts "
        f"where data_year = {YEAR} and geo_level = 'nation' order by 1, 2"
    )
    assert prescriptions == [  # 116 claims in all
        # A 20+30, C 11; 600+900+330 days; $250.50 + $90.30 + $100.00; 61/116
        ("US", "ATORVASTATIN CALCIUM", 61, 1830, d("440.80"), d("52.5862")),
        ("US", "LEVOTHYROXINE SODIUM", 15, 450, d("30.00"), d("12.9310")),  # 15/116
        ("US", "METFORMIN HCL", 40, 1200, d("80.00"), d("34.4828")),  # E, no ZIP: still here
    ]


def test_nation_specialty_and_school_counts(marts):
    q, _ = marts
    spec = q(
        "select geo_id, specialty, clinician_count, round(pct_of_geo, 2) from "
        f"marts.specialty_counts where data_year = {YEAR} and geo_level = 'nation' order by 1, 2"
    )
    fifth = Decimal("20.00")
    # five clinicians: A counts once though it has rows in CA and NY; E has no clinicians row
    assert spec == [
        ("US", "CARDIOVASCULAR DISEASE (CARDIOLOGY)", 1, fifth),  # C
        ("US", "FAMILY PRACTICE", 1, fifth),  # A (tie → FAMILY PRACTICE)
        ("US", "INTERNAL MEDICINE", 1, fifth),  # B
        ("US", "NURSE PRACTITIONER", 1, fifth),  # D
        ("US", "UNKNOWN", 1, fifth),  # F
    ]
    schools = q(
        "select geo_id, medical_school, clinician_count, round(pct_of_geo, 2) from "
        f"marts.medical_school_counts where data_year = {YEAR} and geo_level = 'nation' "
        "order by 1, 2"
    )
    assert schools == [
        ("US", "OTHER", 2, Decimal("40.00")),  # C, D
        ("US", "STANFORD", 1, fifth),  # A
        ("US", "UNIVERSIDAD DE PUERTO RICO", 1, fifth),  # F
        ("US", "UNKNOWN", 1, fifth),  # B (blank school)
    ]


def test_geo_summary_nation_drug_cost_and_provider_count(marts):
    q, _ = marts
    rows = q(
        "select geo_level, geo_id, display_name, state, clinician_count, procedure_events, "
        "prescription_claims, avg_mips_score, drug_cost, provider_count from marts.geo_summary "
        f"where data_year = {YEAR} order by 1, 2"
    )
    d = Decimal
    # provider_count: distinct NPIs with a Part B or Part D row counted there (A, B, C Part B;
    # A, C, D, E Part D); D's prescriptions are in 02134 by its clinicians ZIP, E has no ZIP.
    assert rows == [
        # 5 clinicians (A B C D F); 123 events; 116 claims; MIPS A 90, C 70; $440.80+30+80;
        # providers A B C D E
        ("nation", "US", "US", None, 5, 123, 116, 80.0, d("550.80"), 5),
        ("practice", P2, "CITY GROUP", "NY", 2, 79, 61, 80.0, d("440.80"), 2),  # A, C
        ("practice", P1, "BAY CLINIC", "CA", 2, 100, 50, 90.0, d("340.80"), 2),  # A, B
        ("state", "CA", "CA", "CA", 2, 100, 50, 90.0, d("340.80"), 2),  # A, B
        ("state", "MA", "MA", "MA", 1, 0, 15, None, d("30.00"), 1),  # D
        ("state", "NY", "NY", "NY", 2, 23, 11, 80.0, d("100.00"), 1),  # C (A: clinician only)
        ("state", "PR", "PR", "PR", 1, 0, 0, None, d("0.00"), 0),  # F is no provider
        ("state", "TX", "TX", "TX", 0, 0, 40, None, d("80.00"), 1),  # E
        ("zip", "00901", "00901", "PR", 1, 0, 0, None, d("0.00"), 0),
        ("zip", "02134", "02134", "MA", 1, 0, 15, None, d("30.00"), 1),  # D
        ("zip", "10001", "10001", "NY", 2, 23, 11, 80.0, d("100.00"), 1),  # C
        ("zip", "94110", "94110", "CA", 2, 100, 50, 90.0, d("340.80"), 2),  # A, B
    ]


# Contract v2: payments. A row's totals are average × Tot_Srvcs rounded half up to the cent:
#   A 99213 O  30 × (100, 75.5, 60.125, 58.0015)     = 3000.00, 2265.00, 1803.75, 1740.05 (.045 up)
#   A 99213 F  12.5 × (80, 50.01, 40.004, blank)     = 1000.00, 625.13 (.125 up), 500.05, NULL
#   A J1100    400 × (0.5, 0.3, 0.25, 0.2401)        = 200.00, 120.00, 100.00, 96.04
#   B 99213    14 × (90, 70, 55.55, 55)              = 1260.00, 980.00, 777.70, 770.00
#   B 0002A    every average blank                    = NULL, NULL, NULL, NULL
#   C 99213    11 × (100, 60, 48.3333, 47)           = 1100.00, 660.00, 531.67 (.6663), 517.00
#   C J1100    50 × (1, 0.8, 0.64, 0.6)              = 50.00, 40.00, 32.00, 30.00
MONEY_COLUMNS = "submitted_charge, allowed_amount, paid_amount, standardized_amount"


def _dollars(*values):
    return tuple(None if v is None else Decimal(v) for v in values)


def test_procedure_counts_payments(marts):
    q, _ = marts
    rows = q(
        f"select geo_level, geo_id, hcpcs_code, {MONEY_COLUMNS} from marts.procedure_counts "
        f"where data_year = {YEAR} order by 1, 2, 3"
    )
    none = _dollars(None, None, None, None)
    ca = [  # A and B
        ("0002A", *none),  # no event has a payment: NULL, not 0
        # 3000 + 1000 + 1260; 2265 + 625.13 + 980; 1803.75 + 500.05 + 777.70; 1740.05 + 770
        ("99213", *_dollars("5260.00", "3870.13", "3081.50", "2510.05")),
        ("J1100", *_dollars("200.00", "120.00", "100.00", "96.04")),
    ]
    ny = [  # C
        ("99213", *_dollars("1100.00", "660.00", "531.67", "517.00")),
        ("J1100", *_dollars("50.00", "40.00", "32.00", "30.00")),
    ]
    p2 = [  # A and C
        # 3000 + 1000 + 1100; 2265 + 625.13 + 660; 1803.75 + 500.05 + 531.67; 1740.05 + 517
        ("99213", *_dollars("5100.00", "3550.13", "2835.47", "2257.05")),
        ("J1100", *_dollars("250.00", "160.00", "132.00", "126.04")),  # A + C
    ]
    nation = [  # every row
        ("0002A", *none),
        # 5260 + 1100; 3870.13 + 660; 3081.50 + 531.67; 2510.05 + 517
        ("99213", *_dollars("6360.00", "4530.13", "3613.17", "3027.05")),
        ("J1100", *_dollars("250.00", "160.00", "132.00", "126.04")),
    ]
    assert rows == (
        [("nation", "US", *r) for r in nation]
        + [("practice", P2, *r) for r in p2]
        + [("practice", P1, *r) for r in ca]
        + [("state", "CA", *r) for r in ca]
        + [("state", "NY", *r) for r in ny]
        + [("zip", "10001", *r) for r in ny]
        + [("zip", "94110", *r) for r in ca]
    )


def test_geo_summary_paid_amount(marts):
    q, _ = marts
    rows = q(
        "select geo_level, geo_id, paid_amount from marts.geo_summary "
        f"where data_year = {YEAR} order by 1, 2"
    )
    d = Decimal
    assert rows == [
        ("nation", "US", d("3745.17")),  # 3613.17 + 132.00
        ("practice", P2, d("2967.47")),  # 2835.47 + 132.00
        ("practice", P1, d("3181.50")),  # 3081.50 + 100.00
        ("state", "CA", d("3181.50")),
        ("state", "MA", d("0.00")),  # no procedure events: 0
        ("state", "NY", d("563.67")),  # 531.67 + 32.00
        ("state", "PR", d("0.00")),
        ("state", "TX", d("0.00")),
        ("zip", "00901", d("0.00")),
        ("zip", "02134", d("0.00")),
        ("zip", "10001", d("563.67")),
        ("zip", "94110", d("3181.50")),
    ]


def test_procedure_events_carry_the_cents(marts):
    """The lake: each row's events add up to its total in cents, at most a cent apart; NULL
    on every event of a row without the average."""
    import pyarrow.compute as pc
    import pyarrow.dataset as pads

    _, lake = marts
    folder = lake / "events" / "procedures" / f"data_year={YEAR}"  # the contract's path
    events = pads.dataset(str(folder), format="parquet").to_table()
    key = pc.and_(
        pc.equal(events["npi"], A),
        pc.and_(pc.equal(events["hcpcs_code"], "99213"), pc.equal(events["place_of_service"], "F")),
    )
    row = events.filter(key)
    assert row.num_rows == 13
    for column, cents in (("submitted_charge", 100000), ("allowed_amount", 62513),
                          ("paid_amount", 50005)):  # fmt: skip
        values = row[column].to_pylist()
        assert sum(values) == cents and max(values) - min(values) <= 1
    assert row["standardized_amount"].null_count == 13
    covid = events.filter(pc.equal(events["hcpcs_code"], "0002A"))
    assert covid.num_rows == 30 and covid["paid_amount"].null_count == 30


# Contract v2: the provider marts. Providers are the NPIs with a Part B or Part D row: A, B, C
# (Part B), D and E (Part D only); F has only a clinicians row. Every Part B row's type is
# Internal Medicine, so A, B and C are peers; B is an organisation.
#   names: A's rows (Garcia, Maria) and (Garcia, Mary) tie, the third is blank → the smaller;
#          B an organisation → its name alone; C has no Part B name → Part D's; D has neither
#          → its clinicians row's; E's Part D row, an organisation's name without first name.
#   paid:  A 1803.75 + 500.05 + 100.00 = 2403.80; B 777.70 (0002A has none); C 531.67 + 32.00
#   allowed: A 2265.00 + 625.13 + 120.00; B 980.00; C 660.00 + 40.00
def test_providers(marts):
    q, _ = marts
    rows = q(
        "select npi, display_name, entity_type, provider_type, primary_specialty, state, zip5, "
        "practice_ids, procedure_events, service_units, paid_amount, allowed_amount, "
        "prescription_claims, drug_cost, mips_score from marts.providers "
        f"where data_year = {YEAR} order by npi"
    )
    d = Decimal
    cardio, fam = "CARDIOVASCULAR DISEASE (CARDIOLOGY)", "FAMILY PRACTICE"
    im = "Internal Medicine"
    assert rows == [
        (A, "Garcia, Maria", "I", im, fam, "CA", "94110", [P2, P1], 56, d("442.500"),
         d("2403.80"), d("3010.13"), 50, d("340.80"), 90.0),
        (B, "Bay Clinic Lab", "O", im, "INTERNAL MEDICINE", "CA", "94110", [P1], 44,
         d("44.000"), d("777.70"), d("980.00"), 0, d("0.00"), None),
        (C, "Okafor, Ngozi", "I", im, cardio, "NY", "10001", [P2], 23, d("61.000"),
         d("563.67"), d("700.00"), 11, d("100.00"), 70.0),
        # no Part B rows: type and state from Part D, no ZIP, no entity type, measures 0
        (D, "Walsh, Erin", None, "Nurse Practitioner", "NURSE PRACTITIONER", "MA", None, [],
         0, d("0.000"), d("0"), d("0"), 15, d("30.00"), None),
        (E, "Lone Star Pharmacy", None, "Pharmacist", None, "TX", None, [], 0, d("0.000"),
         d("0"), d("0"), 40, d("80.00"), None),  # no clinicians row: no specialty
    ]  # fmt: skip


def test_provider_percentiles(marts):
    q, _ = marts
    rows = q(
        "select npi, paid_pctile_state, paid_pctile_nation, claims_pctile_nation "
        f"from marts.providers where data_year = {YEAR} order by npi"
    )
    d = Decimal
    assert rows == [
        # Internal Medicine in CA: B 777.70 < A 2403.80; nationally C 563.67 < B < A
        (A, d("100.0"), d("100.0"), d("100.0")),  # claims: C 11 < A 50
        (B, d("0.0"), d("50.0"), None),  # no claims: no claims percentile
        (C, d("0.0"), d("0.0"), d("0.0")),  # alone in NY: 0
        (D, None, None, d("0.0")),  # paid 0: none; alone among nurse practitioners
        (E, None, None, d("0.0")),
    ]


def test_provider_procedures_and_prescriptions(marts):
    q, _ = marts
    d = Decimal
    procedures = q(
        "select npi, hcpcs_code, is_drug, event_count, service_units, paid_amount, "
        "round(pct_of_provider, 4), events_pctile_code from marts.provider_procedures "
        f"where data_year = {YEAR} order by npi, hcpcs_code"
    )
    assert procedures == [
        # 99213: C 11 < B 14 < A 38 → 0, 50, 100; J1100: C 12 < A 18; 0002A: B alone
        (A, "99213", False, 38, d("42.500"), d("2303.80"), d("100.0000"), d("100.0")),
        (A, "J1100", True, 18, d("400.000"), d("100.00"), d("100.0000"), d("100.0")),
        (B, "0002A", False, 30, d("30.000"), None, d("68.1818"), d("0.0")),  # 30 / 44
        (B, "99213", False, 14, d("14.000"), d("777.70"), d("31.8182"), d("50.0")),
        (C, "99213", False, 11, d("11.000"), d("531.67"), d("100.0000"), d("0.0")),
        (C, "J1100", True, 12, d("50.000"), d("32.00"), d("100.0000"), d("0.0")),
    ]
    prescriptions = q(
        "select npi, generic_name, claim_count, day_supply, drug_cost, round(pct_of_provider, 4) "
        f"from marts.provider_prescriptions where data_year = {YEAR} order by npi, generic_name"
    )
    full = d("100.0000")
    assert prescriptions == [
        (A, "ATORVASTATIN CALCIUM", 50, 1500, d("340.80"), full),  # 20 + 30 claims
        (C, "ATORVASTATIN CALCIUM", 11, 330, d("100.00"), full),
        (D, "LEVOTHYROXINE SODIUM", 15, 450, d("30.00"), full),
        (E, "METFORMIN HCL", 40, 1200, d("80.00"), full),
    ]


def _without_year(rows):
    return [row[1:] for row in rows]


@pytest.mark.parametrize("year", [PUF_YEAR, DISPLAY_YEAR])
def test_older_layouts_beside_the_current_one(marts, year):
    """The same rows in the 2013 PUF and the 2017 display-name layouts, loaded beside 2023:
    every mart's values equal 2023's, except what the older release has not (2013: standardized
    amounts, MIPS, affiliations; 2017: affiliations), and loading them changed none of 2023's
    rows (the tests above)."""
    q, _ = marts

    def both(table, columns, order):
        return [
            _without_year(
                q(
                    f"select data_year, {columns} from marts.{table} where data_year = {y} "
                    f"order by {order}"
                )  # fmt: skip
            )
            for y in (YEAR, year)
        ]

    money = "submitted_charge, allowed_amount, paid_amount"
    if year != PUF_YEAR:
        money += ", standardized_amount"
    for table, columns, order in (
        ("procedure_counts", "geo_level, geo_id, hcpcs_code, hcpcs_description, is_drug, "
         f"event_count, service_units, pct_of_geo, {money}", "geo_level, geo_id, hcpcs_code"),
        ("prescription_counts", "geo_level, geo_id, generic_name, claim_count, day_supply, "
         "drug_cost, pct_of_geo", "geo_level, geo_id, generic_name"),
        ("specialty_counts", "geo_level, geo_id, specialty, clinician_count",
         "geo_level, geo_id, specialty"),
        ("medical_school_counts", "geo_level, geo_id, medical_school, clinician_count",
         "geo_level, geo_id, medical_school"),
        ("geo_summary", "geo_level, geo_id, display_name, state, clinician_count, "
         "procedure_events, prescription_claims, paid_amount, drug_cost, provider_count",
         "geo_level, geo_id"),
        ("provider_procedures", "npi, hcpcs_code, event_count, paid_amount, pct_of_provider, "
         "events_pctile_code", "npi, hcpcs_code"),
        ("provider_prescriptions", "npi, generic_name, claim_count, drug_cost",
         "npi, generic_name"),
        ("providers", "npi, display_name, entity_type, provider_type, primary_specialty, state, "
         "zip5, practice_ids, procedure_events, paid_amount, allowed_amount, "
         "prescription_claims, paid_pctile_state, paid_pctile_nation, claims_pctile_nation",
         "npi"),
    ):  # fmt: skip
        current, older = both(table, columns, order)
        assert older == current and older, table
    standardized, mips, affiliations = q(
        "select (select count(standardized_amount) from marts.procedure_counts "
        f"where data_year = {year}), (select count(mips_score) from marts.providers "
        f"where data_year = {year}), (select count(*) from marts.hospital_affiliations "
        f"where data_year = {year})"
    )[0]
    assert affiliations == 0
    if year == PUF_YEAR:
        assert (standardized, mips) == (0, 0)
    else:  # standardized amounts compared above; MIPS as 2023's: A 90, C 70 (150 refused)
        assert mips == 2
