"""`medidash bench` / `make bench`: every benchmark of the project in one run, one report.

Targets live here, never in timed unit tests. Each section is measured in this one run on this
machine, and the report states the machine, so figures are comparable as ratios.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from pathlib import Path

from medidash import settings

RESULTS = settings.PROJECT_ROOT / "bench" / "results"
# what `--only` selects, in the order they run: the reference right after the pipeline (its
# ratios are to the pipeline's seconds in this run, on the same release), then the whole run
# on that release, the dashboard last (its marts are built from what was landed)
BENCHES = ("generator", "pipeline", "reference", "whole_run", "dashboard")
TARGETS = {
    "generator_national_seconds": ("generator", "national_seconds_estimate", "<=", 300),
    "explode_events_per_second": ("pipeline", "explode_events_per_second", ">=", 5_000_000),
    "explode_speedup_vs_row_copy": ("pipeline", "explode_speedup_vs_row_copy", ">=", 25),
    "lake_bytes_per_procedure_event": ("pipeline", "lake_bytes_per_procedure_event", "<=", 2.0),
    # contract v2's payments cost the explode at most 15 % (same rows, same run)
    "explode_speed_with_payments_ratio": (
        "pipeline",
        "explode_speed_with_payments_ratio",
        ">=",
        0.85,
    ),
    # issue 18: MediDash within 2x of the single-node reference per stage (the moonshot), the
    # reference's counts equal to MediDash's, a run's processes within 16 GiB
    "ingest_ratio_to_reference": ("reference", "ingest_ratio_to_reference", "<=", 2),
    "explode_ratio_to_reference": ("reference", "explode_ratio_to_reference", "<=", 2),
    "aggregate_ratio_to_reference": ("reference", "aggregate_ratio_to_reference", "<=", 2),
    "reference_count_disagreements": ("reference", "count_disagreements", "<=", 0),
    "whole_run_peak_memory_gib": ("whole_run", "peak_memory_gib", "<=", 16),
    "api_p95_ms": ("dashboard", "api_p95_ms", "<=", 50),
    "callback_p95_ms": ("dashboard", "callback_p95_ms", "<=", 150),
    "provider_search_p95_ms": ("dashboard", "provider_search_p95_ms", "<=", 50),
    "provider_profile_p95_ms": ("dashboard", "provider_profile_p95_ms", "<=", 50),
    "code_state_map_p95_ms": ("dashboard", "code_state_map_p95_ms", "<=", 100),
    # issue 16: a page's whole callback, and the provider type-ahead
    "provider_page_p95_ms": ("dashboard_pages", "provider_page_p95_ms", "<=", 150),
    "code_page_p95_ms": ("dashboard_pages", "code_page_p95_ms", "<=", 150),
    "typeahead_p95_ms": ("dashboard_pages", "typeahead_p95_ms", "<=", 50),
}


def machine() -> dict:
    cpu = ""
    if Path("/proc/cpuinfo").exists():
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
    }


def _dbt_build(database_url: str) -> dict:
    """`dbt build`, and what each model cost: its build seconds (dbt's run_results.json) and
    its table's size in PostgreSQL after the publish."""
    import psycopg

    from medidash.contract import MARTS
    from medidash.orchestration.dbt_env import dbt_command
    from medidash.warehouse.schema import settle_marts

    command, env = dbt_command(["build"], database_url)
    subprocess.run(command, env=env, check=True)
    settle_marts(database_url)  # as the DAG does after the publish
    results = json.loads(
        (settings.PROJECT_ROOT / "dbt_project" / "target" / "run_results.json").read_text()
    )
    seconds = {
        r["unique_id"].rsplit(".", 1)[-1]: round(r["execution_time"], 2)
        for r in results["results"]
        if r["unique_id"].startswith("model.")
    }
    marts = {}
    with psycopg.connect(database_url) as conn:
        for mart in MARTS:
            rows, size = conn.execute(
                f"select (select count(*) from marts.{mart}), "
                f"pg_total_relation_size('marts.{mart}')"
            ).fetchone()
            marts[mart] = {
                "rows": rows,
                "mib": round(size / 2**20, 1),
                "seconds": seconds.get(mart),
            }
    return {"model_seconds": seconds, "marts": marts}


def run(scale: float = 0.1, generator_scale: float = 1.0, only: list[str] | None = None) -> int:
    """Run the chosen benchmarks (default all) and write bench/results/; the exit code."""
    only = set(only or BENCHES)
    if "reference" in only:
        only.add("pipeline")  # the reference's ratios are to this run's pipeline figures
    workdir = settings.home() / "bench"
    workdir.mkdir(parents=True, exist_ok=True)
    report: dict = {
        "machine": machine(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    report["scale"] = scale

    if "generator" in only:
        from medidash.benchmarks import generator

        report["generator"] = generator.run(generator_scale, workdir / "generator")
    if only & {"pipeline", "whole_run", "dashboard"}:
        from medidash.warehouse import resolve_database_url

        url = resolve_database_url(None)
        os.environ[settings.env_name("database_url")] = url
        if "pipeline" in only:
            from medidash.benchmarks import pipeline

            report["pipeline"] = pipeline.run(scale, workdir / "pipeline")
        if "reference" in only:
            from medidash.benchmarks import pipeline, reference

            release = pipeline.release_folder(workdir / "pipeline", scale)
            report["reference"] = reference.run(release, workdir / "reference", report["pipeline"])
        if "whole_run" in only:
            from medidash.benchmarks import pipeline, whole_run

            release = pipeline.release_folder(workdir / "pipeline", scale)
            report["whole_run"] = whole_run.run(release, workdir / "whole_run")
        if "dashboard" in only:
            from medidash.benchmarks import dashboard, dashboard_pages
            from medidash.warehouse import database_url

            # the pages' marts hold two data years (issue 16's bar): land those not landed yet
            landed = (max(dashboard_pages.YEARS),) if "pipeline" in only else ()
            years = dashboard_pages.land_years(url, scale, workdir / "dashboard", landed)
            started = time.perf_counter()
            report["dbt"] = _dbt_build(url)
            report["dbt_build_seconds"] = round(time.perf_counter() - started, 1)
            # scale 1 by proportion: the marts' rows (providers, codes per provider, ...) and
            # the build's work grow linearly with the number of providers the scale gives
            report["dbt_build_seconds_projected_scale_1"] = round(
                report["dbt_build_seconds"] / scale, 1
            )
            report["dashboard"] = dashboard.run(database_url("dashboard"), n=1000)
            pages = dashboard_pages.run(database_url("dashboard"), n=300)
            report["dashboard_pages"] = {**years, **pages}

    report["targets"] = check_targets(report)
    write(report)
    return 0


def check_targets(report: dict) -> dict:
    verdicts = {}
    for name, (section, key, op, bound) in TARGETS.items():
        value = report.get(section, {}).get(key)
        if value is None:
            continue
        ok = value <= bound if op == "<=" else value >= bound
        verdicts[name] = {"value": value, "target": f"{op} {bound}", "met": ok}
    return verdicts


def write(report: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    (RESULTS / f"bench-{stamp}.json").write_text(json.dumps(report, indent=2, default=str))
    lines = [f"# MediDash benchmark {report['started']}", ""]
    m = report["machine"]
    lines += [f"Machine: {m['cores']} cores ({m['cpu']}), {m['memory_gib']} GiB, {m['os']}", ""]
    if report.get("targets"):
        lines += ["| target | measured | bound | met |", "|---|---|---|---|"]
        for name, v in report["targets"].items():
            lines.append(
                f"| {name} | {v['value']} | {v['target']} | {'yes' if v['met'] else 'NO'} |"
            )
        lines.append("")
    if "dbt" in report:
        scale = report["scale"]
        lines += [
            f"## dbt build: {report['dbt_build_seconds']} s at scale {scale:g}, data years "
            f"{report['dashboard']['years']} "
            f"(projected to scale 1 by proportion: {report['dbt_build_seconds_projected_scale_1']} s)",
            "",
            "| mart | rows | MiB | build s | MiB at scale 1 (by proportion) |",
            "|---|---|---|---|---|",
        ]
        for mart, v in report["dbt"]["marts"].items():
            lines.append(
                f"| {mart} | {v['rows']} | {v['mib']} | {v['seconds']} | {round(v['mib'] / scale)} |"
            )
        lines.append("")
    for section in ("generator", "pipeline", "dashboard", "dashboard_pages"):
        if section in report:
            lines += [f"## {section}", "", "| figure | value |", "|---|---|"]
            for key, value in report[section].items():
                if not isinstance(value, dict | list):
                    lines.append(f"| {key} | {value} |")
            lines.append("")
    if "reference" in report:
        from medidash.benchmarks import reference

        lines += reference.markdown(report["reference"], report["pipeline"])
    if "whole_run" in report:
        from medidash.benchmarks import whole_run

        lines += whole_run.markdown(report["whole_run"])
    text = "\n".join(lines)
    (RESULTS / f"bench-{stamp}.md").write_text(text)
    (RESULTS / "latest.md").write_text(text)
    (RESULTS / "latest.json").write_text(json.dumps(report, indent=2, default=str))
    print(text)
