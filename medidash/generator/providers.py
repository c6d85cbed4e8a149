"""The provider universe of a synthetic release, generated one chunk of providers at a time.

Grain: one entry per provider (an NPI: an individual clinician or a billing organisation).
Chunk k covers provider indexes [k * CHUNK, (k + 1) * CHUNK) and is a pure function of
(seed, k): every dataset generator rebuilds the same providers for the same chunk, so the files
agree on names, states, ZIPs and specialties without holding the universe in memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pyarrow as pa

from medidash.generator import identifiers as ids
from medidash.generator import vocab

PROVIDERS_NATIONAL = 1_600_000
# the chance a provider has Part D rows is 1 - (1 - share) ** PART_D_REACH of vocab's
# per-specialty share (1.14 M prescribers in DY2024 beside 1.17 M Part B NPIs)
PART_D_REACH = 2.0
PART_B_REACH = 0.73  # an individual's chance to bill Part B in the year (organisations 0.92)
CHUNK = 20_000
ORG_SHARE = 0.045

CLASSES = tuple(vocab.CLASS_GROUPS)
CLASS_CODE = {c: i for i, c in enumerate(CLASSES)}


def _weights(values) -> np.ndarray:
    w = np.asarray(values, dtype=np.float64)
    return w / w.sum()


def _pick(rng: np.random.Generator, n: int, weights: np.ndarray) -> np.ndarray:
    return np.searchsorted(np.cumsum(weights), rng.random(n) * weights.sum() * (1 - 1e-12))


def _strings(values) -> pa.Array:
    return pa.array(list(values), pa.string())


# Lookup tables built once per process.
STATE_CODE = _strings(s[0] for s in vocab.STATES)
STATE_FIPS = pa.array([s[1] or None for s in vocab.STATES], pa.string())
STATE_SSA = np.array([int(s[2]) if s[2] else -1 for s in vocab.STATES])
STATE_W = _weights([s[3] for s in vocab.STATES])
STATE_ZIP_LO = np.array([s[4] for s in vocab.STATES])
STATE_ZIP_HI = np.array([s[5] for s in vocab.STATES])
REAL_STATES = np.array([i for i, s in enumerate(vocab.STATES) if s[2]])
XX = [s[0] for s in vocab.STATES].index("XX")
ZZ = [s[0] for s in vocab.STATES].index("ZZ")
_CITY_LISTS = [s[6] for s in vocab.STATES]
CITY_OFF = np.cumsum([0] + [len(c) for c in _CITY_LISTS[:-1]])
CITY_CNT = np.array([len(c) for c in _CITY_LISTS])
CITY = _strings(c for cities in _CITY_LISTS for c in cities)

SPEC_B = _strings(s[0] for s in vocab.SPECIALTIES)
SPEC_DAC = _strings(s[1] for s in vocab.SPECIALTIES)
SPEC_W = _weights([s[2] for s in vocab.SPECIALTIES])
SPEC_CLASS = np.array([CLASS_CODE[s[3]] for s in vocab.SPECIALTIES])
SPEC_F = np.array([s[6] for s in vocab.SPECIALTIES])
SPEC_RX = np.array([s[7] for s in vocab.SPECIALTIES])
SPEC_SCHOOL = np.array(
    [("md", "other", "chiro", "podiatry").index(s[5]) for s in vocab.SPECIALTIES]
)
_CREDS = [s[4] for s in vocab.SPECIALTIES]
CRED_OFF = np.cumsum([0] + [len(c) for c in _CREDS[:-1]])
CRED_CNT = np.array([len(c) for c in _CREDS])
CRED = _strings(c for creds in _CREDS for c in creds)

ORG_TYPE = _strings(o[0] for o in vocab.ORG_TYPES)
ORG_W = _weights([o[1] for o in vocab.ORG_TYPES])
ORG_CLASS = np.array([CLASS_CODE[o[2]] for o in vocab.ORG_TYPES])

SCHOOLS = _strings(
    [s for s, _ in vocab.MD_SCHOOLS] + list(vocab.CHIRO_SCHOOLS) + list(vocab.PODIATRY_SCHOOLS)
)
MD_W = _weights([w for _, w in vocab.MD_SCHOOLS])
OTHER_SCHOOL = [s for s, _ in vocab.MD_SCHOOLS].index("OTHER")
CHIRO_OFF = len(vocab.MD_SCHOOLS)
POD_OFF = CHIRO_OFF + len(vocab.CHIRO_SCHOOLS)

LAST = _strings(vocab.LAST_NAMES)
FIRST = _strings(vocab.FIRST_NAMES)
FIRST_FEMALE = np.array([f in vocab.FEMALE_FIRST_NAMES for f in vocab.FIRST_NAMES])
LETTERS = _strings("ABCDEFGHIJKLMNOPRSTW")
STREET = _strings(vocab.STREETS)
SUITE = _strings(vocab.SUITES)
PLACE = _strings(vocab.PLACE_WORDS)
ORG_WORD = _strings(vocab.ORG_WORDS)
ORG_SUFFIX = _strings(vocab.ORG_SUFFIXES)


def provider_count(scale: float) -> int:
    """Providers in a release of this scale (at least enough for every shape to show)."""
    return max(200, round(PROVIDERS_NATIONAL * scale))


def chunk_bounds(total: int) -> list[tuple[int, int]]:
    return [(lo, min(lo + CHUNK, total)) for lo in range(0, total, CHUNK)]


@dataclass(frozen=True)
class Providers:
    """One chunk of providers; numpy columns, string columns built on demand."""

    seed: int
    index: np.ndarray
    npi: np.ndarray
    is_org: np.ndarray
    spec: np.ndarray  # SPECIALTIES index (individuals) or ORG_TYPES index (organisations)
    cls: np.ndarray
    state: np.ndarray
    zip5: np.ndarray
    plus4: np.ndarray
    city: np.ndarray
    street_no: np.ndarray
    street: np.ndarray
    suite: np.ndarray  # -1: no line 2
    last: np.ndarray
    first: np.ndarray
    middle: np.ndarray
    gender_f: np.ndarray
    cred: np.ndarray
    school: np.ndarray
    grad_year: np.ndarray
    in_part_b: np.ndarray
    in_dac: np.ndarray
    in_part_d: np.ndarray
    facility_share: np.ndarray
    country: np.ndarray  # index into FOREIGN_COUNTRIES, -1 = US

    @property
    def n(self) -> int:
        return len(self.index)

    @cached_property
    def npi_str(self) -> pa.Array:
        return ids.digits(self.npi, 10)

    @cached_property
    def ind_pac_str(self) -> pa.Array:
        return ids.digits(ids.pac_ids(self.index, self.seed, organisation=False), 10)

    @cached_property
    def state_str(self) -> pa.Array:
        return STATE_CODE.take(pa.array(self.state))

    @cached_property
    def city_str(self) -> pa.Array:
        return CITY.take(pa.array(self.city))

    @cached_property
    def last_org_name(self) -> pa.Array:
        """Last name, or organisation name ("SUMMIT DIAGNOSTICS, LLC") for organisations."""
        person = LAST.take(pa.array(self.last))
        org = ids.join(
            ids.join(PLACE.take(pa.array(self.last % len(PLACE))),
                     ORG_WORD.take(pa.array(self.first % len(ORG_WORD))), sep=" "),
            ORG_SUFFIX.take(pa.array(self.middle % len(ORG_SUFFIX))),
            sep=", ",
        )  # fmt: skip
        return pa.compute.if_else(pa.array(self.is_org), org, person)

    @cached_property
    def first_name(self) -> pa.Array:
        return _blank_orgs(FIRST.take(pa.array(self.first)), self.is_org)

    @cached_property
    def middle_initial(self) -> pa.Array:
        mi = LETTERS.take(pa.array(self.middle % len(LETTERS)))
        return _blank_orgs(mi, self.is_org | (self.middle % 3 == 0))

    @cached_property
    def credential(self) -> pa.Array:
        return _blank_orgs(CRED.take(pa.array(self.cred)), self.is_org | (self.middle % 7 == 0))

    @cached_property
    def gender(self) -> pa.Array:
        g = pa.compute.if_else(pa.array(self.gender_f), "F", "M")
        return _blank_orgs(g, self.is_org)

    @cached_property
    def street_1(self) -> pa.Array:
        return ids.join(
            pa.compute.cast(pa.array(self.street_no), pa.string()),
            STREET.take(pa.array(self.street)),
            sep=" ",
        )

    @cached_property
    def street_2(self) -> pa.Array:
        return SUITE.take(pa.array(np.where(self.suite < 0, None, self.suite), pa.int64()))

    @cached_property
    def zip5_str(self) -> pa.Array:
        return ids.digits(self.zip5, 5)

    @cached_property
    def zip9_str(self) -> pa.Array:
        return ids.digits(self.zip5 * 10_000 + self.plus4, 9)

    @cached_property
    def specialty_part_b(self) -> pa.Array:
        spec = np.where(self.is_org, 0, self.spec)
        org = np.where(self.is_org, self.spec, 0)
        return pa.compute.if_else(
            pa.array(self.is_org), ORG_TYPE.take(pa.array(org)), SPEC_B.take(pa.array(spec))
        )

    @cached_property
    def specialty_dac(self) -> pa.Array:
        return SPEC_DAC.take(pa.array(np.where(self.is_org, 0, self.spec)))

    @cached_property
    def school_str(self) -> pa.Array:
        return SCHOOLS.take(pa.array(self.school))


def _blank_orgs(values: pa.Array, blank: np.ndarray) -> pa.Array:
    return pa.compute.if_else(pa.array(blank), pa.scalar(None, pa.string()), values)


def providers(seed: int, chunk: int, lo: int, hi: int) -> Providers:
    """Providers [lo, hi) of chunk `chunk`: a pure function of (seed, chunk)."""
    rng = np.random.default_rng([seed, chunk, 0])
    n = hi - lo
    index = np.arange(lo, hi, dtype=np.int64)
    is_org = rng.random(n) < ORG_SHARE
    spec_ind = _pick(rng, n, SPEC_W)
    spec_org = _pick(rng, n, ORG_W)
    spec = np.where(is_org, spec_org, spec_ind)
    cls = np.where(is_org, ORG_CLASS[spec_org], SPEC_CLASS[spec_ind])

    state = _pick(rng, n, STATE_W)
    zip3 = STATE_ZIP_LO[state] + (rng.random(n) * (STATE_ZIP_HI[state] - STATE_ZIP_LO[state] + 1))
    zip5 = zip3.astype(np.int64) * 100 + rng.integers(0, 100, n)
    plus4 = rng.integers(1, 10_000, n)
    city = CITY_OFF[state] + (rng.random(n) * CITY_CNT[state]).astype(np.int64)
    country = np.where(state == ZZ, rng.integers(0, len(vocab.FOREIGN_COUNTRIES), n), -1)

    street_no = rng.integers(1, 20_000, n)
    street = rng.integers(0, len(vocab.STREETS), n)
    suite = np.where(rng.random(n) < 0.4, rng.integers(0, len(vocab.SUITES), n), -1)
    last = rng.integers(0, len(vocab.LAST_NAMES), n)
    first = rng.integers(0, len(vocab.FIRST_NAMES), n)
    middle = rng.integers(0, 1_000, n)
    gender_f = FIRST_FEMALE[first]
    cred = CRED_OFF[spec_ind] + (rng.random(n) * CRED_CNT[spec_ind]).astype(np.int64)

    kind = SPEC_SCHOOL[spec_ind]
    md = _pick(rng, n, MD_W)
    u = rng.random(n)
    school = np.select(
        [kind == 0, kind == 2, kind == 3],
        [
            md,
            np.where(u < 0.6, CHIRO_OFF + (u * 10).astype(np.int64) % 4, OTHER_SCHOOL),
            np.where(u < 0.6, POD_OFF + (u * 10).astype(np.int64) % 2, OTHER_SCHOOL),
        ],
        default=np.where(u < 0.97, OTHER_SCHOOL, md),
    )
    grad_year = np.clip(np.round(rng.normal(1998, 11, n)), 1960, 2021).astype(np.int64)

    in_part_b = rng.random(n) < np.where(is_org, 0.92, PART_B_REACH)
    in_dac = ~is_org & (rng.random(n) < 0.9)
    in_part_d = rng.random(n) < np.where(is_org, 0.02, 1 - (1 - SPEC_RX[spec_ind]) ** PART_D_REACH)
    facility_share = np.where(
        is_org, np.where(cls == CLASS_CODE["asc"], 1.0, 0.0), SPEC_F[spec_ind]
    )
    return Providers(
        seed=seed, index=index, npi=ids.npis(index, seed), is_org=is_org, spec=spec, cls=cls,
        state=state, zip5=zip5, plus4=plus4, city=city, street_no=street_no, street=street,
        suite=suite, last=last, first=first, middle=middle, gender_f=gender_f, cred=cred,
        school=school, grad_year=grad_year, in_part_b=in_part_b, in_dac=in_dac,
        in_part_d=in_part_d, facility_share=facility_share, country=country,
    )  # fmt: skip
