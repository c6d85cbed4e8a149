"""Identifiers of the synthetic release as strings: NPIs, PAC IDs, CCNs, ZIPs.

All functions are vectorised over numpy index arrays and deterministic: an identifier is a pure
function of (seed, index), so the same clinician, practice or facility carries the same
identifier in every file and every chunk.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_NPI_SPAN = 200_000_000  # 9-digit bases 100000000..299999999: NPIs start with 1 or 2
_NPI_MULT = 137_438_953  # coprime with the span: index -> base is a bijection
_PAC_SPAN = 10_000_000_000
_ORG_PAC_MULT = 3_141_592_653
_IND_PAC_MULT = 2_718_281_829


def mix64(values: np.ndarray, salt: int) -> np.ndarray:
    """splitmix64 finaliser of values ^ salt: a well-spread deterministic hash (uint64)."""
    with np.errstate(over="ignore"):
        z = values.astype(np.uint64) ^ np.uint64(salt & 0xFFFFFFFFFFFFFFFF)
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def npi_check_digit(base9: np.ndarray) -> np.ndarray:
    """Luhn check digit of 9-digit NPI bases with the 80840 prefix (constant 24)."""
    total = np.full(base9.shape, 24, dtype=np.int64)
    rest = base9.astype(np.int64)
    for position in range(9):  # from the rightmost digit, which is doubled
        digit = rest % 10
        rest //= 10
        if position % 2 == 0:
            doubled = digit * 2
            total += doubled // 10 + doubled % 10
        else:
            total += digit
    return (10 - total % 10) % 10


def npi_luhn_valid(npi: np.ndarray) -> np.ndarray:
    """True where a 10-digit NPI number carries the right check digit."""
    npi = npi.astype(np.int64)
    return npi_check_digit(npi // 10) == npi % 10


def npis(index: np.ndarray, seed: int) -> np.ndarray:
    """Distinct valid NPIs (int64) for distinct provider indexes below 200 million."""
    offset = int(mix64(np.array([seed]), 0xA11CE)[0] % np.uint64(_NPI_SPAN))
    base = 100_000_000 + (index.astype(np.int64) * _NPI_MULT + offset) % _NPI_SPAN
    return base * 10 + npi_check_digit(base)


def pac_ids(index: np.ndarray, seed: int, organisation: bool) -> np.ndarray:
    """Distinct 10-digit PAC ID numbers (may have leading zeros once formatted)."""
    mult = _ORG_PAC_MULT if organisation else _IND_PAC_MULT
    offset = int(mix64(np.array([seed]), 0xFAC + int(organisation))[0] % np.uint64(_PAC_SPAN))
    return (index.astype(np.int64) * mult + offset) % _PAC_SPAN


def digits(values: np.ndarray | pa.Array, width: int) -> pa.Array:
    """Non-negative integers as zero-padded strings of `width` digits."""
    arr = values if isinstance(values, pa.Array) else pa.array(values, pa.int64())
    return pc.utf8_lpad(pc.cast(arr, pa.string()), width, "0")


def join(*parts: pa.Array | str, sep: str = "") -> pa.Array:
    """Element-wise concatenation of string arrays (and scalars)."""
    return pc.binary_join_element_wise(*parts, sep)
