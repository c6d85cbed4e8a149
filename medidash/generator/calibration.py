"""What `medidash generate --scale 1` is calibrated to: CMS's national totals for data year 2024.

One entry per dataset: data rows, distinct NPIs and (part_b, part_d) events as contract
section 3 counts them. docs/calibration.md gives each figure's source and how the derived ones
were derived, and sets the generator's measured output beside them; a release of scale `s`
aims at `s` times every figure (tests/unit/test_generator.py checks it at a small scale).
"""

from __future__ import annotations

DATA_YEAR = 2024
TOLERANCE = 0.10

TARGETS: dict[str, dict[str, int]] = {
    # Part B by Provider and Service, DY2024: rows as published; NPIs from DY2023 (about
    # 1.17 M); events = beneficiary-day services, derived (docs/calibration.md)
    "part_b": {"rows": 9_781_673, "npis": 1_170_000, "events": 1_100_000_000},
    # Part D by Provider and Drug, DY2024: rows, prescribers and claims (events = Tot_Clms)
    "part_d": {"rows": 28_023_892, "npis": 1_139_455, "events": 1_479_628_807},
    # Doctors and Clinicians national file and Facility Affiliation, release of 2024-05-16
    "clinicians": {"rows": 2_572_154},
    "affiliations": {"rows": 1_542_478},
    # Clinician Overall MIPS Performance, PY2024
    "mips": {"rows": 520_011, "npis": 461_358},
}
