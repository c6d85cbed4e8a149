"""The `medidash` command line (contract section 6).

Each sub-command lives in the module that owns its stage; this file only parses arguments and
dispatches, so that `medidash --help` stays fast (no Spark, Airflow or Dash import until needed).
"""

from __future__ import annotations

import argparse
import importlib
import sys

# sub-command -> "module:function"; the function takes the parsed argparse.Namespace, returns an exit code
COMMANDS = {
    "generate": "medidash.generator.cli:run",
    "db": "medidash.warehouse.cli:run",
    "run": "medidash.orchestration.run:run",
    "serve": "medidash.dashboard.serve:run",
    "demo": "medidash.orchestration.demo:run",
    "up": "medidash.orchestration.stack:up",
    "down": "medidash.orchestration.stack:down",
    "docs": "medidash.orchestration.docs:run",
    "bench": "medidash.bench:run",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="medidash", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="write a synthetic release in the CMS layouts")
    gen.add_argument("--out", required=True, help="folder to write the release into")
    gen.add_argument("--year", type=int, required=True, help="data year")
    gen.add_argument("--scale", type=float, default=0.001, help="1 = national size")
    gen.add_argument("--seed", type=int, default=42)
    gen.add_argument("--layout", choices=["current", "2017"], default="current")

    db = sub.add_parser("db", help="manage the embedded PostgreSQL server")
    db.add_argument("action", choices=["start", "stop", "status", "url"])
    db.add_argument("--role", choices=["owner", "dashboard"], default="owner", help="for `url`")

    run = sub.add_parser("run", help="run the Airflow DAG for one release end to end, in process")
    run.add_argument("--input", required=True, help="local folder, s3://bucket/prefix, or 'cms'")
    run.add_argument("--year", type=int, required=True)
    run.add_argument("--database-url")
    run.add_argument("--lake")
    run.add_argument("--spark-master")
    run.add_argument("--force", action="store_true", help="re-run even if the release is unchanged")

    serve = sub.add_parser("serve", help="serve the dashboard")
    serve.add_argument("--database-url")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8050)

    demo = sub.add_parser("demo", help="generate + run + serve on the embedded defaults")
    demo.add_argument("--scale", type=float, default=0.002)
    demo.add_argument("--year", type=int, default=2023)
    demo.add_argument("--no-serve", action="store_true", help="stop after the pipeline")
    demo.add_argument("--port", type=int, default=8050)

    sub.add_parser("up", help="start the local stack (PostgreSQL, Spark, S3, Airflow, dashboard)")
    sub.add_parser("down", help="stop what `medidash up` started")

    docs = sub.add_parser("docs", help="generate and serve the dbt docs site")
    docs.add_argument("--port", type=int, default=8081)

    bench = sub.add_parser("bench", help="run the benchmarks and write bench/results/")
    bench.add_argument("--scale", type=float, default=0.1, help="pipeline and dashboard scale")
    bench.add_argument("--generator-scale", type=float, default=1.0)
    bench.add_argument("--only", action="append", help="generator|pipeline|dashboard (repeatable)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    module_name, func_name = COMMANDS[args.command].split(":")
    func = getattr(importlib.import_module(module_name), func_name)
    return int(func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
