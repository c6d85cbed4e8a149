"""The names every layer shares (Spark jobs, DAG, dbt wiring, warehouse, dashboard, tests):
the contract's marts, the warehouse's schemas, and the rule that turns an Airflow run id into
MediDash's.

A leaf module: it imports only the standard library, so any image may import it (the
dashboard's has no pyspark, Airflow or dbt; the Spark image has no Airflow). The CMS datasets
and their layouts live in `medidash.cms_layouts`, which is a leaf too.
"""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

# the nine marts of contract section 4, in schema `marts` (in name order, the order the publish
# locks them in: medidash.dashboard.queries sorts them the same way)
MARTS = (
    "procedure_counts",
    "prescription_counts",
    "specialty_counts",
    "medical_school_counts",
    "hospital_affiliations",
    "geo_summary",
    "providers",
    "provider_procedures",
    "provider_prescriptions",
)

# the warehouse's schemas: what step 3 loads, what dbt builds the marts in before the publish
# swaps them into `marts`, and the run records (contract section 5)
LANDING_SCHEMA = "landing"
INCOMING_SCHEMA = "incoming"
MARTS_SCHEMA = "marts"
MARTS_BUILD_SCHEMA = "marts_build"
OPS_SCHEMA = "ops"
# a `running` row of ops.pipeline_runs older than this is a dead run's: it holds no marts lock
# and the next run of its year marks it failed
STALE_RUN = timedelta(hours=12)
# the schemas every warehouse has (marts_build is dbt's, made and dropped by each build)
SCHEMAS = (LANDING_SCHEMA, INCOMING_SCHEMA, MARTS_SCHEMA, OPS_SCHEMA)

# contract section 2: the NPI of the PUF copyright row (filtered), the counts and amounts
# checked as non-negative numbers with whether a blank is allowed (canonical names,
# medidash.cms_layouts), and a dataset's reconciliation counts
COPYRIGHT_NPI = "0000000001"
CHECKED_NUMBERS = {
    "part_b": [
        ("tot_srvcs", False),
        ("tot_bene_day_srvcs", True),
        ("tot_benes", True),
        ("avg_submitted_charge", True),
        ("avg_allowed_amount", True),
        ("avg_payment_amount", True),
        ("avg_standardized_amount", True),
    ],
    "part_d": [
        ("tot_clms", False),
        ("tot_day_suply", False),
        ("tot_drug_cst", False),
        ("tot_benes", True),
    ],
}
RECONCILIATION_KEYS = (
    "input_rows",
    "valid_rows",
    "duplicate_rows",
    "filtered_rows",
    "quarantined_rows",
)


def safe_run_id(airflow_run_id: str) -> str:
    """A run id usable in paths and table names, derived from Airflow's run id: its lower-case
    letters and digits (40 at most) and 8 hex digits of its SHA-1, so two runs never collide."""
    slug = re.sub(r"[^a-z0-9]+", "_", airflow_run_id.lower()).strip("_")
    return f"{slug[:40]}_{hashlib.sha1(airflow_run_id.encode()).hexdigest()[:8]}"
