"""Rows of each synthetic CMS dataset for one chunk of providers, in canonical column names.

Each builder is a pure function of (providers chunk, seed, chunk number, year, release size)
and returns a `Rows`: canonical name -> Arrow array (the cms_layouts vocabulary), ready to be
laid out in any layout of the dataset. All rows a builder returns are valid and pairwise
distinct (the dataset's key is unique by construction), so the duplicates and bad rows added
later are the only ones a reader will find.

Grain: part_b one row per NPI x HCPCS x place of service; clinicians one row per NPI x
enrollment x practice x address; affiliations one row per NPI x facility; part_d one row per
NPI x brand x generic; mips one row per NPI x practice (PY2018+) or NPI x source (PY2017).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from medidash.generator import identifiers as ids
from medidash.generator import providers as pv
from medidash.generator import vocab

_NULL = pa.scalar(None, pa.string())


@dataclass
class Rows:
    """Valid, distinct rows of one dataset for one chunk, by canonical column name."""

    columns: dict[str, pa.Array]
    events: int = 0  # part_b: procedure events; part_d: claims (contract section 3)
    extra: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(next(iter(self.columns.values())))


def _rng(seed: int, chunk: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, chunk, stream])


def _take(values: pa.Array, index: np.ndarray) -> pa.Array:
    return values.take(pa.array(index, pa.int64()))


def _choice(strings: pa.Array, index: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    if null is not None:
        index = np.where(null, -1, index)
        return strings.take(pa.array(np.where(index < 0, None, index), pa.int64()))
    return _take(strings, index)


def _flag(mask: np.ndarray, value: str) -> pa.Array:
    return pc.if_else(pa.array(mask), value, _NULL)


def _money(cents: np.ndarray, blank: bool = False) -> pa.Array:
    if blank:
        return pa.nulls(len(cents), pa.float64())
    return pa.array(np.maximum(cents, 1) / 100.0, pa.float64())


FACILITY_FEE_SHARE = 0.7  # a professional fee in a facility, against the same one in an office
FIRST_STANDARDIZED_YEAR = 2014
# per state (providers.STATE_CODE order): a fixed geographic adjustment, 0.88-1.22
GEO_ADJUSTMENT = np.random.default_rng(20140101).uniform(0.88, 1.22, len(pv.STATE_CODE))


def _distinct(values: np.ndarray) -> np.ndarray:
    """The sorted distinct values (np.unique, by sorting: NumPy 2.4's hash-based np.unique
    takes seconds on the half-million keys of one Part D chunk, sorting milliseconds)."""
    ordered = np.sort(values)
    return ordered[np.r_[True, ordered[1:] != ordered[:-1]]] if len(ordered) else ordered


def _count_distinct(values: np.ndarray) -> int:
    return len(_distinct(values))


def _lognormal(rng: np.random.Generator, mu: float, sigma: float, n: int) -> np.ndarray:
    return np.exp(rng.normal(mu, sigma, n))


def _cum_pick(cum: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Row-wise categorical pick: cum is (n, k-1) cumulative shares, u uniform (n,)."""
    return (u[:, None] >= cum).sum(axis=1)


# ---------------------------------------------------------------- HCPCS catalog, per data year


@dataclass(frozen=True)
class Catalog:
    code: pa.Array
    desc: pa.Array
    drug: pa.Array
    price: np.ndarray
    units: np.ndarray
    group_cum: np.ndarray  # (classes, groups - 1)
    code_table: np.ndarray  # (groups, width): catalog index, -1 padding
    code_cum: np.ndarray  # (groups, width - 1)
    is_anes: np.ndarray
    volume: np.ndarray  # GROUP_VOLUME of each code's group


@lru_cache(maxsize=8)
def catalog(year: int) -> Catalog:
    rows = [h for h in vocab.HCPCS if h[8] <= year]
    groups = sorted({h[2] for h in vocab.HCPCS})
    width = max(sum(1 for h in rows if h[2] == g) for g in groups)
    table = np.full((len(groups), width), -1)
    cum = np.ones((len(groups), width - 1))
    for gi, g in enumerate(groups):
        members = [i for i, h in enumerate(rows) if h[2] == g]
        w = np.array([rows[i][3] for i in members], dtype=np.float64)
        table[gi, : len(members)] = members
        c = np.cumsum(w / w.sum())[:-1]
        cum[gi, : len(c)] = c
    gcum = np.ones((len(pv.CLASSES), len(groups) - 1))
    for ci, cls in enumerate(pv.CLASSES):
        w = np.array([vocab.CLASS_GROUPS[cls].get(g, 0.0) for g in groups])
        gcum[ci] = np.cumsum(w / w.sum())[:-1]
    old = year < 2021
    return Catalog(
        code=pa.array([h[0] for h in rows], pa.string()),
        desc=pa.array([(h[7] if old and h[7] else h[1]) for h in rows], pa.string()),
        drug=pa.array([h[6] for h in rows], pa.string()),
        price=np.array([h[4] for h in rows]),
        units=np.array([h[5] for h in rows]),
        group_cum=gcum,
        code_table=table,
        code_cum=cum,
        is_anes=np.array([h[2] == "anes" for h in rows]),
        volume=np.array([GROUP_VOLUME.get(h[2], 1.0) for h in rows]),
    )


# ---------------------------------------------------------------- part_b

PART_B_DRAW_MU = 1.98
# Beneficiaries of a row, relative to the typical row, by the code's group (calibrated to CMS,
# docs/calibration.md): an office visit or a lab test is billed for hundreds of patients a year
# (99214: 102 M services by 498,000 providers), a surgical procedure or a drug for far fewer.
GROUP_VOLUME = {
    "em": 4.6,
    "lab": 5.3,
    "imaging": 2.2,
    "vaccine": 2.5,
    "therapy": 14.0,
    "mental": 3.5,
    "eye": 1.5,
    "ambulance": 3.0,
}
ALLOWED_SHARE_MU = -1.0  # allowed amount / submitted charge ~ 0.39 (99213: $58 paid of $188)
P_BOTH_POS = 0.23
_CLASS_VOLUME = np.array(
    [{"lab": 2.5, "radiology": 1.6, "ambulance": 0.7, "asc": 1.8, "vaccine": 0.5}.get(c, 1.0)
     for c in pv.CLASSES]
)  # fmt: skip
RUCA_CODE = pa.array([r[0] for r in vocab.RUCA], pa.string())
RUCA_DESC = pa.array([r[1] for r in vocab.RUCA], pa.string())
RUCA_CUM = np.cumsum(np.array(vocab.RUCA_WEIGHTS) / sum(vocab.RUCA_WEIGHTS))[:-1]
COUNTRY = pa.array(list(vocab.FOREIGN_COUNTRIES), pa.string())


def part_b(p: pv.Providers, seed: int, chunk: int, year: int, nine_digit_zip: bool) -> Rows:
    """Part B rows: heavy-tailed codes per NPI, F/O pairs, unit-counted drug/supply codes."""
    rng = _rng(seed, chunk, 1)
    cat = catalog(year)
    sel = np.flatnonzero(p.in_part_b)
    draws = np.ceil(_lognormal(rng, PART_B_DRAW_MU, 1.0, len(sel)) * _CLASS_VOLUME[p.cls[sel]])
    draws = np.clip(draws, 1, 600).astype(np.int64)
    prov = np.repeat(sel, draws)
    group = _cum_pick(cat.group_cum[p.cls[prov]], rng.random(len(prov)))
    slot = _cum_pick(cat.code_cum[group], rng.random(len(prov)))
    code = cat.code_table[group, slot]
    key = _distinct(prov * 1000 + code)
    prov, code = key // 1000, key % 1000

    facility = rng.random(p.n) < p.facility_share
    both = rng.random(p.n) < P_BOTH_POS
    first = np.r_[True, prov[1:] != prov[:-1]]
    second = both[prov] & (first | (rng.random(len(prov)) < 0.25))
    pos_f = np.concatenate([facility[prov], ~facility[prov[second]]])
    prov = np.concatenate([prov, prov[second]])
    code = np.concatenate([code, code[second]])
    order = np.lexsort((pos_f, code, prov))
    prov, code, pos_f = prov[order], code[order], pos_f[order]
    n = len(prov)

    benes = 11 + np.floor(_lognormal(rng, 2.3, 1.15, n) * cat.volume[code]).astype(np.int64)
    benes = np.minimum(benes, 40_000)
    day = benes + np.floor(benes * _lognormal(rng, -1.3, 0.9, n)).astype(np.int64)
    units = cat.units[code]
    unit_code = units > 0
    per_visit = day + np.floor(day * _lognormal(rng, -2.5, 1.0, n)).astype(np.int64)
    tenths = per_visit * 10
    unit_tenths = np.round(day * units * _lognormal(rng, 0.0, 0.6, n) * 10).astype(np.int64)
    whole = rng.random(n) < 0.6
    unit_tenths = np.maximum(np.where(whole, np.round(unit_tenths, -1), unit_tenths), 10)
    tenths = np.where(unit_code, unit_tenths, tenths)
    fractional = cat.is_anes[code] & (rng.random(n) < 0.3)
    tenths = tenths + np.where(fractional, rng.integers(1, 10, n), 0)
    day_blank = ~unit_code & (rng.random(n) < 0.002)
    events = np.where(day_blank, (tenths + 9) // 10, day)

    # money varies by code (its price), place of service (a professional fee in a facility is
    # lower: the facility bills its own part) and state (Medicare's geographic adjustment,
    # which the standardized amount takes out again); submitted >= allowed >= paid except on a
    # few rows whose charge is below the fee schedule
    geography = GEO_ADJUSTMENT[p.state[prov]]
    place = np.where(pos_f, FACILITY_FEE_SHARE, 1.0)
    allowed = np.round(
        cat.price[code] * place * geography * _lognormal(rng, ALLOWED_SHARE_MU, 0.3, n) * 100
    )
    allowed = np.maximum(allowed, 1)
    markup = np.where(rng.random(n) < 0.005, rng.uniform(0.8, 1.0, n), rng.uniform(1.6, 4.0, n))
    sbmtd = np.round(allowed * markup)
    payment = np.round(allowed * rng.uniform(0.76, 0.8, n))
    stdzd = np.round(payment / geography * rng.uniform(0.97, 1.03, n))
    no_stdzd = year < FIRST_STANDARDIZED_YEAR  # the PUF before CY2014 has no such column

    ruca = _cum_pick(np.broadcast_to(RUCA_CUM, (p.n, len(RUCA_CUM))), rng.random(p.n))
    us = p.country < 0
    country = pc.if_else(pa.array(us), "US", _choice(COUNTRY, np.maximum(p.country, 0)))
    zip_ = p.zip5_str
    if nine_digit_zip:
        # the old PUF field mixes 5 and 9 digits, and some lost their leading zeros on the way
        zip_ = pc.if_else(pa.array(rng.random(p.n) < 0.6), p.zip9_str, p.zip5_str)
        zip_ = pc.if_else(
            pa.array(rng.random(p.n) < 0.3), pc.utf8_ltrim(zip_, characters="0"), zip_
        )
    participating = rng.random(n) < 0.9996

    cols = {
        "npi": p.npi_str,
        "provider_last_org_name": p.last_org_name,
        "provider_first_name": p.first_name,
        "provider_middle_initial": p.middle_initial,
        "provider_credentials": p.credential,
        "provider_gender": p.gender,
        "entity_code": pc.if_else(pa.array(p.is_org), "O", "I"),
        "street_1": p.street_1,
        "street_2": p.street_2,
        "city": p.city_str,
        "state": p.state_str,
        "state_fips": _take(pv.STATE_FIPS, p.state),
        "zip": zip_,
        "ruca": _choice(RUCA_CODE, ruca, ~us),
        "ruca_description": _choice(RUCA_DESC, ruca, ~us),
        "country": country,
        "provider_type": p.specialty_part_b,
    }
    columns = {k: _take(v, prov) for k, v in cols.items()}
    columns.update(
        {
            "medicare_participation": pc.if_else(pa.array(participating), "Y", "N"),
            "hcpcs_code": _take(cat.code, code),
            "hcpcs_description": _take(cat.desc, code),
            "hcpcs_drug_ind": _take(cat.drug, code),
            "place_of_service": pc.if_else(pa.array(pos_f), "F", "O"),
            "tot_benes": pa.array(benes),
            "tot_srvcs": pa.array(tenths / 10.0),
            "tot_bene_day_srvcs": pa.array(day, mask=day_blank),
            "avg_submitted_charge": _money(sbmtd),
            "avg_allowed_amount": _money(allowed),
            "avg_payment_amount": _money(payment),
            "avg_standardized_amount": _money(stdzd, blank=no_stdzd),
        }
    )
    return Rows(columns, events=int(events.sum()), extra={"npis": _count_distinct(prov)})


# ---------------------------------------------------------------- practices and memberships


def practice_count(total_providers: int) -> int:
    return max(40, total_providers // 9)


def _state_pool(total: int, state: np.ndarray, minimum: int) -> np.ndarray:
    return np.maximum(minimum, np.round(total * pv.STATE_W[state])).astype(np.int64)


@dataclass(frozen=True)
class Memberships:
    """Clinician x practice memberships of a chunk (practice -1: no group, a solo row)."""

    prov: np.ndarray
    practice: np.ndarray  # global practice id = state * 10**7 + rank within state
    home_state: np.ndarray  # the clinician's own state (or the practice's for XX/ZZ)


def memberships(p: pv.Providers, seed: int, chunk: int, total_providers: int) -> Memberships:
    rng = _rng(seed, chunk, 2)
    sel = np.flatnonzero(p.in_dac)
    u = rng.random(len(sel))
    count = np.where(u < 0.12, 0, 1 + (u > 0.7) + (u > 0.92) + (u > 0.975))
    prov = np.repeat(sel, np.maximum(count, 1))
    solo = np.repeat(count == 0, np.maximum(count, 1))
    n = len(prov)
    own = p.state[prov]
    foreign = np.isin(own, (pv.XX, pv.ZZ))
    real = pv.REAL_STATES[rng.integers(0, len(pv.REAL_STATES), n)]
    out_of_state = foreign | (rng.random(n) < 0.08)
    pstate = np.where(out_of_state, real, own)
    pool = _state_pool(practice_count(total_providers), pstate, 3)
    rank = np.floor(pool * rng.random(n) ** 2.2).astype(np.int64)
    practice = np.where(solo, -1, pstate * 10**7 + rank)
    home = np.where(foreign, pstate, own)
    return Memberships(prov=prov, practice=practice, home_state=home)


def practice_names(practice: np.ndarray, seed: int) -> pa.Array:
    h = ids.mix64(np.maximum(practice, 0), seed * 7 + 1)
    place = (h % np.uint64(len(vocab.PLACE_WORDS))).astype(np.int64)
    word = ((h >> np.uint64(16)) % np.uint64(len(vocab.PRACTICE_WORDS))).astype(np.int64)
    suffix = ((h >> np.uint64(32)) % np.uint64(len(vocab.ORG_SUFFIXES))).astype(np.int64)
    name = ids.join(
        ids.join(_take(pv.PLACE, place), _take(_PRACTICE_WORDS, word), sep=" "),
        _take(pv.ORG_SUFFIX, suffix),
        sep=", ",
    )
    return pc.if_else(pa.array(practice < 0), _NULL, name)


_PRACTICE_WORDS = pa.array(list(vocab.PRACTICE_WORDS), pa.string())


def _practice_offsets(total_providers: int) -> np.ndarray:
    pools = _state_pool(practice_count(total_providers), np.arange(len(vocab.STATES)), 3)
    return np.cumsum(pools) - pools


def practice_ids(practice: np.ndarray, seed: int, total_providers: int) -> pa.Array:
    """Group PAC IDs: distinct per practice (its compact index is scrambled bijectively)."""
    safe = np.maximum(practice, 0)
    compact = _practice_offsets(total_providers)[safe // 10**7] + safe % 10**7
    pac = ids.digits(ids.pac_ids(compact, seed, organisation=True), 10)
    return pc.if_else(pa.array(practice < 0), _NULL, pac)


def practice_sizes(practice: np.ndarray, total_providers: int) -> np.ndarray:
    """Approximate member count of each practice, from its rank (larger ranks are smaller)."""
    state = np.maximum(practice, 0) // 10**7
    rank = np.maximum(practice, 0) % 10**7
    pool = _state_pool(practice_count(total_providers), state, 3)
    members = total_providers * pv.STATE_W[state] * 1.2
    share = ((rank + 1) / pool) ** (1 / 2.2) - (rank / pool) ** (1 / 2.2)
    return np.maximum(2, np.round(members * share)).astype(np.int64)


# ---------------------------------------------------------------- clinicians

_SUFFIX = pa.array(["JR", "SR", "II", "III"], pa.string())


def clinicians(
    p: pv.Providers, seed: int, chunk: int, total_providers: int, year: int, inline: bool
) -> Rows:
    """DAC rows: one per clinician x practice x address (solo clinicians: no practice).

    `inline` adds the hosp_afl_* columns of the older Physician Compare layouts.
    """
    m = memberships(p, seed, chunk, total_providers)
    rng = _rng(seed, chunk, 5)
    addresses = 1 + (rng.random(len(m.prov)) < 0.21) + (rng.random(len(m.prov)) < 0.1)
    addresses += rng.random(len(m.prov)) < 0.05
    prov = np.repeat(m.prov, addresses)
    practice = np.repeat(m.practice, addresses)
    home = np.repeat(m.home_state, addresses)
    first_addr = np.r_[True, np.diff(np.repeat(np.arange(len(m.prov)), addresses)) != 0]
    primary = first_addr & np.r_[True, prov[1:] != prov[:-1]]
    n = len(prov)

    own_location = primary & ~np.isin(p.state[prov], (pv.XX, pv.ZZ))
    pstate = np.maximum(practice, 0) // 10**7
    state = np.where(own_location, p.state[prov], np.where(practice >= 0, pstate, home))
    zip3 = pv.STATE_ZIP_LO[state] + (
        rng.random(n) * (pv.STATE_ZIP_HI[state] - pv.STATE_ZIP_LO[state] + 1)
    ).astype(np.int64)
    zip5 = np.where(own_location, p.zip5[prov], zip3 * 100 + rng.integers(0, 100, n))
    zip9 = zip5 * 10_000 + np.where(own_location, p.plus4[prov], rng.integers(1, 10_000, n))
    city = np.where(
        own_location,
        p.city[prov],
        pv.CITY_OFF[state] + (rng.random(n) * pv.CITY_CNT[state]).astype(np.int64),
    )
    street_no = np.where(own_location, p.street_no[prov], rng.integers(1, 20_000, n))
    street = np.where(own_location, p.street[prov], rng.integers(0, len(vocab.STREETS), n))
    suite = np.where(rng.random(n) < 0.35, rng.integers(0, len(vocab.SUITES), n), -1)

    spec = p.spec[prov]
    other_spec = rng.random(n) < 0.03
    spec = np.where(other_spec, rng.integers(0, len(vocab.SPECIALTIES), n), spec)
    secondary = np.where(rng.random(n) < 0.2, rng.integers(0, len(vocab.SPECIALTIES), n), -1)
    school = _take(p.school_str, prov)
    messy = rng.random(n) < 0.005
    school = pc.if_else(
        pa.array(messy), pc.replace_substring(pc.utf8_lower(school), " ", "  "), school
    )
    school = pc.if_else(pa.array(rng.random(n) < 0.004), _NULL, school)
    grad = pa.array(p.grad_year[prov], mask=rng.random(n) < 0.01)
    enrl_date = (
        np.clip(p.grad_year[prov] + 4 + (p.middle[prov] % 10), 2003, year) * 10_000
        + (1 + p.middle[prov] % 12) * 100
        + (1 + p.street_no[prov] % 28)
    )
    enrl = ids.join("I", ids.digits(enrl_date, 8), ids.digits(p.index[prov] % 1_000_000, 6))
    member = practice >= 0
    phone = ids.digits(
        2_000_000_000 + (ids.mix64(zip9 * 31 + street_no, seed) % np.uint64(7_999_999_999)), 10
    )
    address_id = ids.join(
        pv.STATE_CODE.take(pa.array(state)),
        ids.digits(zip9, 9),
        ids.digits(np.arange(n) + (chunk * 10**8), 11),
    )
    assign = rng.random(n) < 0.9
    columns = {
        "npi": _take(p.npi_str, prov),
        "ind_pac_id": _take(p.ind_pac_str, prov),
        "ind_enrl_id": enrl,
        "last_name": _take(p.last_org_name, prov),
        "first_name": _take(p.first_name, prov),
        "middle_name": _choice(pv.FIRST, p.middle[prov] % len(vocab.FIRST_NAMES),
                               p.middle[prov] % 4 != 0),
        "suffix": _choice(_SUFFIX, p.middle[prov] % 4, p.middle[prov] % 25 != 0),
        "gender": _take(p.gender, prov),
        "credential": _take(p.credential, prov),
        "medical_school": school,
        "grad_year": grad,
        "specialty": _take(pv.SPEC_DAC, spec),
        "secondary_specialty_1": _choice(pv.SPEC_DAC, secondary, secondary < 0),
        "secondary_specialty_2": pa.nulls(n, pa.string()),
        "secondary_specialty_3": pa.nulls(n, pa.string()),
        "secondary_specialty_4": pa.nulls(n, pa.string()),
        "secondary_specialty_all": _choice(pv.SPEC_DAC, secondary, secondary < 0),
        "telehealth": _flag(rng.random(n) < 0.3, "Y"),
        "practice_name": practice_names(practice, seed),
        "practice_id": practice_ids(practice, seed, total_providers),
        "practice_member_count": pa.array(practice_sizes(practice, total_providers), mask=~member),
        "address_line_1": ids.join(
            pc.cast(pa.array(street_no), pa.string()), _take(pv.STREET, street), sep=" "
        ),
        "address_line_2": _choice(pv.SUITE, suite, suite < 0),
        "line_2_suppressed": _flag(rng.random(n) < 0.02, "Y"),
        "city": _take(pv.CITY, city),
        "state": _take(pv.STATE_CODE, state),
        "zip": pc.if_else(pa.array(rng.random(n) < 0.92), ids.digits(zip9, 9), ids.digits(zip5, 5)),
        "phone": pc.if_else(pa.array(rng.random(n) < 0.7), phone, _NULL),
        "ind_assignment": pc.if_else(pa.array(assign), "Y", "M"),
        "grp_assignment": pc.if_else(
            pa.array(member), pc.if_else(pa.array(rng.random(n) < 0.9), "Y", "M"), _NULL
        ),
        "address_id": address_id,
        "accepts_assignment": pc.if_else(pa.array(assign), "Y", "M"),
    }  # fmt: skip
    if inline:
        columns.update(inline_hospitals(p, prov, seed, chunk, total_providers))
    return Rows(columns, extra={"npis": _count_distinct(prov)})


# ---------------------------------------------------------------- facility affiliations

_FAC_PATTERN = np.array([0] * 9 + [1] * 2 + [2] * 2 + [3] * 2 + [4] * 2 + [5, 6, 7])
_FAC_RANK = np.array([int((_FAC_PATTERN[:i] == t).sum()) for i, t in enumerate(_FAC_PATTERN)])
_FAC_PER_CYCLE = np.bincount(_FAC_PATTERN)
FAC_TYPE = pa.array([f[0] for f in vocab.FACILITY_TYPES], pa.string())
_FAC_LO = np.array([f[2] for f in vocab.FACILITY_TYPES])
_FAC_WIDTH = np.array([f[3] - f[2] + 1 for f in vocab.FACILITY_TYPES])
_HOSPITAL_WORDS = pa.array(list(vocab.HOSPITAL_WORDS), pa.string())
IRF = [f[0] for f in vocab.FACILITY_TYPES].index("Inpatient rehabilitation facility")


@dataclass(frozen=True)
class Affiliations:
    """Clinician x facility affiliations of a chunk; facility = state * 10**7 + rank."""

    prov: np.ndarray
    facility: np.ndarray


def affiliation_sets(p: pv.Providers, seed: int, chunk: int, total_providers: int) -> Affiliations:
    rng = _rng(seed, chunk, 3)
    sel = np.flatnonzero(p.in_dac & (rng.random(p.n) < 0.6))
    u = rng.random(len(sel))
    k = 1 + (u > 0.5) + (u > 0.75) + (u > 0.88) + (u > 0.95)
    state = p.state[sel]
    state = np.where(
        np.isin(state, (pv.XX, pv.ZZ)),
        pv.REAL_STATES[rng.integers(0, len(pv.REAL_STATES), len(sel))],
        state,
    )
    pool = _state_pool(max(100, total_providers * 3 // 100), state, 20)
    start = np.floor(pool * rng.random(len(sel)) ** 1.5).astype(np.int64)
    prov = np.repeat(sel, k)
    offset = np.arange(len(prov)) - np.repeat(np.cumsum(k) - k, k)
    rank = (np.repeat(start, k) + offset) % np.repeat(pool, k)
    return Affiliations(prov=prov, facility=np.repeat(state, k) * 10**7 + rank)


def facility_attributes(facility: np.ndarray, seed: int) -> dict[str, pa.Array | np.ndarray]:
    """CCN (6 characters, leading zeros), type, parent CCN and name of each facility."""
    state = facility // 10**7
    rank = facility % 10**7
    ftype = _FAC_PATTERN[rank % len(_FAC_PATTERN)]
    serial = (
        _FAC_LO[ftype]
        + (
            (rank // len(_FAC_PATTERN)) * _FAC_PER_CYCLE[ftype]
            + _FAC_RANK[rank % len(_FAC_PATTERN)]
        )
        % _FAC_WIDTH[ftype]
    )
    ssa = ids.digits(pv.STATE_SSA[state], 2)
    h = ids.mix64(facility, seed * 13 + 5)
    unit = (ftype == IRF) & (h % np.uint64(10) < np.uint64(3))
    hospital_serial = ids.digits((h >> np.uint64(8)) % np.uint64(879) + np.uint64(1), 3)
    ccn = pc.if_else(
        pa.array(unit), ids.join(ssa, "T", hospital_serial), ids.join(ssa, ids.digits(serial, 4))
    )
    parent = pc.if_else(pa.array(unit), ids.join(ssa, "0", hospital_serial), _NULL)
    place = ((h >> np.uint64(20)) % np.uint64(len(vocab.PLACE_WORDS))).astype(np.int64)
    word = ((h >> np.uint64(40)) % np.uint64(len(vocab.HOSPITAL_WORDS))).astype(np.int64)
    name = ids.join(_take(pv.PLACE, place), _take(_HOSPITAL_WORDS, word), sep=" ")
    return {"ccn": ccn, "type": ftype, "parent": parent, "name": name}


def affiliations(p: pv.Providers, seed: int, chunk: int, total_providers: int) -> Rows:
    """Facility_Affiliation rows: one per clinician x facility."""
    a = affiliation_sets(p, seed, chunk, total_providers)
    f = facility_attributes(a.facility, seed)
    rng = _rng(seed, chunk, 6)
    ccn = f["ccn"]
    # a few CCNs lost their leading zero on the way (spreadsheet round trip)
    stripped = pa.array(rng.random(len(a.prov)) < 0.02)
    ccn = pc.if_else(stripped, pc.utf8_ltrim(ccn, characters="0"), ccn)
    columns = {
        "npi": _take(p.npi_str, a.prov),
        "ind_pac_id": _take(p.ind_pac_str, a.prov),
        "last_name": _take(p.last_org_name, a.prov),
        "first_name": _take(p.first_name, a.prov),
        "middle_name": _choice(pv.FIRST, p.middle[a.prov] % len(vocab.FIRST_NAMES),
                               p.middle[a.prov] % 4 != 0),
        "suffix": _choice(_SUFFIX, p.middle[a.prov] % 4, p.middle[a.prov] % 25 != 0),
        "facility_type": _take(FAC_TYPE, f["type"]),
        "facility_ccn": ccn,
        "parent_ccn": f["parent"],
    }  # fmt: skip
    return Rows(columns, extra={"npis": _count_distinct(a.prov)})


def inline_hospitals(
    p: pv.Providers, prov_rows: np.ndarray, seed: int, chunk: int, total_providers: int
) -> dict[str, pa.Array]:
    """hosp_afl_ccn_1..5 / hosp_afl_name_1..5 of older clinicians layouts, per row."""
    a = affiliation_sets(p, seed, chunk, total_providers)
    f = facility_attributes(a.facility, seed)
    hospital = f["type"] == 0
    prov, ccn, name = a.prov[hospital], f["ccn"].filter(hospital), f["name"].filter(hospital)
    slot = np.arange(len(prov)) - np.searchsorted(prov, prov)
    out = {}
    for i in range(5):
        lookup = np.full(p.n, -1)
        keep = np.flatnonzero(slot == i)
        lookup[prov[keep]] = keep
        idx = lookup[prov_rows]
        take = pa.array(np.where(idx < 0, None, idx), pa.int64())
        out[f"hosp_afl_ccn_{i + 1}"] = ccn.take(take)
        out[f"hosp_afl_name_{i + 1}"] = name.take(take)
    return out


# ---------------------------------------------------------------- part_d

PART_D_DRAW_MU = 3.15
PART_D_CLAIMS_MU = 3.13  # 52.8 claims a row on average (DY2024: 1.48 B claims, 28.0 M rows)
DRUG_BRAND = pa.array([d[0] for d in vocab.DRUGS], pa.string())
DRUG_GENERIC = pa.array([d[1] for d in vocab.DRUGS], pa.string())
_DRUG_CUM = np.cumsum(np.array([d[2] for d in vocab.DRUGS]) / sum(d[2] for d in vocab.DRUGS))
_DRUG_COST = np.array([d[3] for d in vocab.DRUGS])
_DRUG_DAYS = np.array([d[4] for d in vocab.DRUGS])


def part_d(p: pv.Providers, seed: int, chunk: int) -> Rows:
    """Part D rows: Tot_Clms >= 11 everywhere, Tot_Benes blank below 11, GE65 suppression."""
    rng = _rng(seed, chunk, 4)
    sel = np.flatnonzero(p.in_part_d)
    draws = np.clip(np.ceil(_lognormal(rng, PART_D_DRAW_MU, 0.9, len(sel))), 1, 400)
    prov = np.repeat(sel, draws.astype(np.int64))
    drug = np.searchsorted(_DRUG_CUM[:-1], rng.random(len(prov)), side="right")
    key = _distinct(prov * 1000 + drug)
    prov, drug = key // 1000, key % 1000
    n = len(prov)

    clms = np.minimum(
        11 + np.floor(_lognormal(rng, PART_D_CLAIMS_MU, 1.1, n)).astype(np.int64), 20_000
    )
    days = np.maximum(clms, np.round(clms * _DRUG_DAYS[drug] * rng.uniform(0.8, 1.2, n)))
    days = days.astype(np.int64)
    fills = np.maximum(np.round(days / 3.0) / 10.0, clms.astype(np.float64))
    cost = np.round(clms * _DRUG_COST[drug] * _lognormal(rng, 0.0, 0.3, n) * 100)
    benes = np.ceil(clms / rng.uniform(1.3, 6.0, n)).astype(np.int64)
    benes_blank = benes < 11

    share = rng.uniform(0.55, 1.0, n)
    ge_clms = np.round(clms * share).astype(np.int64)
    hash_flag = rng.random(n) < 0.05
    ge_sup = (ge_clms < 11) | hash_flag
    ge_flag = np.where(ge_clms < 11, "*", np.where(hash_flag, "#", ""))
    ge_benes = np.round(benes * share).astype(np.int64)
    ge_bene_sup = benes_blank | (ge_benes < 11)
    ge_bene_flag = np.where(ge_bene_sup, "*", "")

    cols = {
        "npi": p.npi_str,
        "prescriber_last_org_name": p.last_org_name,
        "prescriber_first_name": p.first_name,
        "city": p.city_str,
        "state": p.state_str,
        "state_fips": _take(pv.STATE_FIPS, p.state),
        "prescriber_type": p.specialty_part_b,
    }
    columns = {k: _take(v, prov) for k, v in cols.items()}
    columns.update(
        {
            "prescriber_type_source": pc.if_else(pa.array(rng.random(n) < 0.95), "S", "T"),
            "brand_name": _take(DRUG_BRAND, drug),
            "generic_name": _take(DRUG_GENERIC, drug),
            "tot_clms": pa.array(clms),
            "tot_30day_fills": pa.array(fills),
            "tot_day_suply": pa.array(days),
            "tot_drug_cst": _money(cost),
            "tot_benes": pa.array(benes, mask=benes_blank),
            "ge65_suppress_flag": pa.array(ge_flag, pa.string()).cast(pa.string()),
            "ge65_tot_clms": pa.array(ge_clms, mask=ge_sup),
            "ge65_tot_30day_fills": pa.array(np.round(fills * share, 1), mask=ge_sup),
            "ge65_tot_drug_cst": pa.array(np.round(cost * share) / 100.0, mask=ge_sup),
            "ge65_tot_day_suply": pa.array(np.round(days * share).astype(np.int64), mask=ge_sup),
            "ge65_bene_suppress_flag": pa.array(ge_bene_flag, pa.string()),
            "ge65_tot_benes": pa.array(ge_benes, mask=ge_bene_sup),
        }
    )
    for flag in ("ge65_suppress_flag", "ge65_bene_suppress_flag"):
        columns[flag] = pc.if_else(pc.equal(columns[flag], ""), _NULL, columns[flag])
    return Rows(columns, events=int(clms.sum()), extra={"npis": _count_distinct(prov)})


# ---------------------------------------------------------------- mips

MIPS_REPORTING = 0.34  # PY2024: 461,358 clinicians scored
MIPS_OTHER_PRACTICE = 0.35  # a score at a second practice: 1.13 rows per NPI
_SOURCES = pa.array(["group", "individual", "APM entity", "virtual group"], pa.string())
_SOURCE_CUM = np.array([0.5, 0.7, 0.98])
_SOURCES_2017 = pa.array(["group", "individual", "APM"], pa.string())


def _scores(rng: np.random.Generator, source: np.ndarray, n: int) -> dict[str, pa.Array]:
    mean = np.array([85.0, 56.0, 94.0, 80.0])[source]
    sd = np.array([12.0, 25.0, 5.0, 12.0])[source]
    final = np.clip(rng.normal(mean, sd), 0, 100)
    final = np.round(final * 100) / 100
    quality = np.round(np.clip(final + rng.normal(0, 8, n), 0, 100) * 100) / 100
    pi = np.round(np.clip(rng.normal(85, 15, n), 0, 100))
    ia = np.array([0.0, 20.0, 40.0, 80.0, 100.0])[
        np.searchsorted([0.05, 0.1, 0.25, 0.4], rng.random(n), side="right")
    ]
    cost = np.round(np.clip(rng.normal(70, 20, n), 0, 100) * 100) / 100

    def text(values: np.ndarray, na: np.ndarray) -> pa.Array:
        return pc.if_else(pa.array(na), "N/A", pc.cast(pa.array(values), pa.string()))

    na_final = rng.random(n) < 0.015
    return {
        "quality_category_score": text(quality, rng.random(n) < 0.03),
        "pi_category_score": text(pi, rng.random(n) < 0.2),
        "ia_category_score": text(ia, rng.random(n) < 0.02),
        "cost_category_score": text(cost, rng.random(n) < 0.4),
        "final_mips_score_without_cpb": text(np.maximum(final - 2, 0), rng.random(n) < 0.5),
        "final_mips_score": text(final, na_final),
    }


def mips(p: pv.Providers, seed: int, chunk: int, total_providers: int, by_source: bool) -> Rows:
    """MIPS rows: PY2018+ one per NPI x practice, PY2017 (by_source) one per NPI x source."""
    rng = _rng(seed, chunk, 7)
    m = memberships(p, seed, chunk, total_providers)
    if by_source:
        sel = np.flatnonzero(p.in_dac & (rng.random(p.n) < 0.55))
        second = rng.random(len(sel)) < 0.15
        first_source = rng.integers(0, 3, len(sel))
        other_source = (first_source + rng.integers(1, 3, len(sel))) % 3
        prov = np.concatenate([sel, sel[second]])
        source = np.concatenate([first_source, other_source[second]])
        order = np.lexsort((source, prov))
        prov, source = prov[order], source[order]
        practice = np.full(len(prov), -1)
        source_names = _SOURCES_2017
        score_source = np.array([0, 1, 2])[source]
    else:
        reporting = rng.random(p.n) < MIPS_REPORTING
        key = _distinct(m.prov * 10**9 + (m.practice + 1))
        prov, practice = key // 10**9, key % 10**9 - 1
        first = np.r_[True, prov[1:] != prov[:-1]]
        keep = reporting[prov] & ((practice >= 0) | (rng.random(len(prov)) < 0.6))
        keep &= first | (rng.random(len(prov)) < MIPS_OTHER_PRACTICE)
        prov, practice = prov[keep], practice[keep]
        source = np.where(
            practice < 0, 1, _cum_pick(np.broadcast_to(_SOURCE_CUM, (len(prov), 3)),
                                       rng.random(len(prov)))
        )  # fmt: skip
        source_names = _SOURCES
        score_source = source
    n = len(prov)
    facility_based = rng.random(n) < 0.03
    fac = facility_attributes(
        np.where(np.isin(p.state[prov], (pv.XX, pv.ZZ)), pv.REAL_STATES[0], p.state[prov]) * 10**7
        + (p.index[prov] % 20) * len(_FAC_PATTERN),
        seed,
    )
    columns = {
        "npi": _take(p.npi_str, prov),
        "pac_id": _take(p.ind_pac_str, prov),
        "practice_id": practice_ids(practice, seed, total_providers),
        "last_name": _take(p.last_org_name, prov),
        "first_name": _take(p.first_name, prov),
        "source": _take(source_names, source),
        "facility_ccn": pc.if_else(pa.array(facility_based), fac["ccn"], _NULL),
        "facility_name": pc.if_else(pa.array(facility_based), fac["name"], _NULL),
    }
    columns.update(_scores(rng, score_source, n))
    return Rows(columns, extra={"npis": _count_distinct(prov)})
