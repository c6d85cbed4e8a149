"""cms_layouts: every layout is recognised from its exact header, tolerant of case, spaces and
BOM, and a header that matches nothing fails with a message naming file, layout and columns."""

from __future__ import annotations

import itertools

import pytest

from medidash import cms_layouts as cl
from medidash.cms_layouts import DATASETS, LAYOUTS, UnknownLayoutError, detect, layout

EXPECTED_WIDTH = {
    "part_b_current": 29,
    "part_b_current_no_gndr": 28,
    "part_b_puf": 26,
    "part_b_display_2017": 26,
    "clinicians_current": 31,
    "clinicians_physician_compare": 41,
    "clinicians_physician_compare_lgl": 41,
    "clinicians_display": 38,
    "affiliations_current": 9,
    "part_d_current": 22,
    "part_d_puf": 21,
    "mips_py2017": 9,
    "mips_py2018": 10,
    "mips_py2019": 12,
    "mips_py2020": 13,
    "mips_py2021": 13,
}

CORE = {
    "part_b": "npi provider_last_org_name provider_first_name entity_code provider_type state zip "
    "country hcpcs_code hcpcs_description hcpcs_drug_ind place_of_service tot_benes tot_srvcs "
    "tot_bene_day_srvcs avg_submitted_charge avg_allowed_amount avg_payment_amount "
    "avg_standardized_amount",
    "clinicians": "npi ind_pac_id last_name first_name medical_school grad_year specialty "
    "practice_name practice_id practice_member_count city state zip",
    "affiliations": "npi ind_pac_id last_name first_name facility_type facility_ccn parent_ccn",
    "part_d": "npi prescriber_last_org_name prescriber_first_name city state prescriber_type "
    "brand_name generic_name tot_clms tot_30day_fills tot_day_suply tot_drug_cst tot_benes",
    "mips": "npi source final_mips_score",
}


@pytest.mark.parametrize("lay", LAYOUTS, ids=lambda lay: lay.name)
def test_exact_header_is_detected(lay):
    assert len(lay.headers) == EXPECTED_WIDTH[lay.name]
    assert detect(list(lay.headers), "f.csv") is lay


@pytest.mark.parametrize("lay", LAYOUTS, ids=lambda lay: lay.name)
def test_spaces_case_and_bom_are_ignored(lay):
    mangled = [f"  {h.upper()} " if i % 2 else h.lower() for i, h in enumerate(lay.headers)]
    mangled[0] = "\ufeff" + mangled[0]
    assert detect(mangled, "f.csv") is lay
    assert detect([" " + h + "\t" for h in lay.headers], "f.csv") is lay


@pytest.mark.parametrize("lay", LAYOUTS, ids=lambda lay: lay.name)
def test_canonical_vocabulary(lay):
    assert lay.dataset in DATASETS
    names = set(lay.rename_map().values())
    core = set(CORE[lay.dataset].split())
    if lay.name == "part_d_puf":
        assert "tot_30day_fills" in names  # optional column, kept when present
    if lay.dataset == "mips":
        core |= {"pac_id"} if lay.name == "mips_py2017" else {"practice_id"}
    if lay.name.startswith(("clinicians_physician_compare", "clinicians_display")):
        core |= {f"hosp_afl_ccn_{i}" for i in range(1, 6)}
        core |= {f"hosp_afl_name_{i}" for i in range(1, 6)}
    assert core <= names, core - names
    assert all(k == cl.normalize_header(k) for k in lay.rename_map())


def test_gender_less_part_b_is_recognised_and_29_columns_win():
    with_gndr = layout("part_b_current")
    without = [h for h in with_gndr.headers if h != "Rndrng_Prvdr_Gndr"]
    assert len(without) == 28
    assert detect(without, "MUP_PHY_R25_P05_V20_D23_Prov_Svc.csv").name == "part_b_current_no_gndr"
    assert detect(list(with_gndr.headers), "x.csv").name == "part_b_current"


def test_bigquery_lowercase_puf_is_the_puf():
    bq = [h.lower() for h in layout("part_b_puf").headers]
    assert "average_medicare_standard_amt" in bq
    assert detect(bq, "bq.csv").name == "part_b_puf"


def test_mips_vintages_are_told_apart():
    names = {
        y: detect(list(layout(f"mips_py{y}").headers), f"ec_{y}.csv").name
        for y in (2017, 2018, 2019, 2020, 2021)
    }
    assert names == {y: f"mips_py{y}" for y in (2017, 2018, 2019, 2020, 2021)}
    # the header-cell leading spaces seen in real PY2019+ files
    spaced = [" " + h for h in layout("mips_py2020").headers]
    assert detect(spaced, "ec.csv").name == "mips_py2020"


def test_tolerated_extra_column_and_optional_columns():
    old = list(layout("clinicians_physician_compare").headers) + ["MOC"]
    assert detect(old, "pc2016.csv").name == "clinicians_physician_compare"
    without_flags = [h for h in old if h not in ("PQRS", "EHR", "MHI", "MOC")]
    assert detect(without_flags, "pc.csv").name == "clinicians_physician_compare"
    d2014 = [h for h in layout("part_d_puf").headers if "30_day" not in h]
    assert detect(d2014, "partd14.csv").name == "part_d_puf"


def test_no_two_layouts_cover_each_other_across_datasets():
    for a, b in itertools.permutations(LAYOUTS, 2):
        if a.dataset != b.dataset:
            assert detect(list(a.headers), "x").dataset == a.dataset, (a.name, b.name)
    normalised = [frozenset(lay.required()) for lay in LAYOUTS]
    assert len(set(normalised)) == len(normalised)


def test_near_miss_names_file_layout_and_missing_columns():
    header = [h for h in layout("part_b_current").headers if h not in ("Tot_Srvcs", "HCPCS_Cd")]
    with pytest.raises(UnknownLayoutError) as err:
        detect(header, "/data/release/partb.csv")
    e = err.value
    assert e.source == "/data/release/partb.csv"
    assert e.closest.name == "part_b_current"
    assert e.missing == ["HCPCS_Cd", "Tot_Srvcs"]
    msg = str(e)
    assert "/data/release/partb.csv" in msg
    assert "part_b_current" in msg
    assert "HCPCS_Cd" in msg and "Tot_Srvcs" in msg


def test_near_miss_mips_typo():
    header = list(layout("mips_py2021").headers)
    header[-1] = "final_MIPS_scor"
    with pytest.raises(UnknownLayoutError) as err:
        detect(header, "ec_score_file.csv")
    assert err.value.closest.name == "mips_py2021"
    assert err.value.missing == ["final_MIPS_score"]


def test_garbage_header_is_an_error():
    with pytest.raises(UnknownLayoutError) as err:
        detect(["foo", "bar", "baz"], "garbage.csv")
    assert "garbage.csv" in str(err.value)
    assert "header matches no CMS layout" in str(err.value)
    assert len(err.value.missing) == len(err.value.closest.required())
    with pytest.raises(UnknownLayoutError):
        detect([], "empty.csv")


def test_layout_lookup():
    assert layout("mips_py2017").dataset == "mips"
    with pytest.raises(KeyError, match="unknown layout"):
        layout("nope")


PAYMENT_HEADERS = {  # layout -> the file's header of each payment average (contract v2 section 2)
    "part_b_current": ("Avg_Sbmtd_Chrg", "Avg_Mdcr_Alowd_Amt", "Avg_Mdcr_Pymt_Amt",
                       "Avg_Mdcr_Stdzd_Amt"),
    "part_b_current_no_gndr": ("Avg_Sbmtd_Chrg", "Avg_Mdcr_Alowd_Amt", "Avg_Mdcr_Pymt_Amt",
                               "Avg_Mdcr_Stdzd_Amt"),
    "part_b_puf": ("average_submitted_chrg_amt", "average_Medicare_allowed_amt",
                   "average_Medicare_payment_amt", "average_Medicare_standard_amt"),
    "part_b_display_2017": ("Average Submitted Charge Amount", "Average Medicare Allowed Amount",
                            "Average Medicare Payment Amount",
                            "Average Medicare Standardized Amount"),
}  # fmt: skip
PAYMENT_NAMES = (
    "avg_submitted_charge",
    "avg_allowed_amount",
    "avg_payment_amount",
    "avg_standardized_amount",
)


@pytest.mark.parametrize("name", sorted(PAYMENT_HEADERS))
def test_every_part_b_layout_maps_its_payment_columns(name):
    mapping = layout(name).rename_map()
    for header, canonical in zip(PAYMENT_HEADERS[name], PAYMENT_NAMES, strict=True):
        assert mapping[cl.normalize_header(header)] == canonical
    assert {lay.name for lay in LAYOUTS if lay.dataset == "part_b"} == set(PAYMENT_HEADERS)


def test_puf_before_2014_without_standardized_amount_is_the_puf():
    """CY2012-2013 PUF: no average_Medicare_standard_amt (and the stdev columns, 28 in all):
    still the PUF layout, whose other payment columns map; the standardized amount is absent
    (NULL downstream), not a reason to refuse the file."""
    puf = layout("part_b_puf")
    header = [h for h in puf.headers if h != "average_Medicare_standard_amt"]
    header += ["stdev_Medicare_allowed_amt", "stdev_submitted_chrg_amt",
               "stdev_Medicare_payment_amt"]  # fmt: skip
    assert len(header) == 28
    detected = detect(header, "Medicare_Provider_Util_Payment_PUF_CY2013.txt")
    assert detected is puf
    present = {cl.normalize_header(h) for h in header}
    kept = {c for h, c in detected.rename_map().items() if h in present}
    assert set(PAYMENT_NAMES) - kept == {"avg_standardized_amount"}
