"""The `medidash` command line (contract section 6).

Each sub-command lives in the module that owns its stage; this file only parses arguments and
dispatches, so that `medidash --help` stays fast (no Spark, Airflow or Dash import until needed).
"""

from __future__ import annotations

import argparse
import importlib
import sys

# sub-command -> "module:function" taking the parsed argparse.Namespace (commands not yet typed)
COMMANDS = {
    "db": "medidash.warehouse.cli:run",
    "serve": "medidash.dashboard.serve:run",
    "up": "medidash.orchestration.stack:up",
    "down": "medidash.orchestration.stack:down",
    "docs": "medidash.orchestration.docs:run",
    "bench": "medidash.bench:run",
}


def _generate(args: argparse.Namespace) -> int:
    from medidash.generator.cli import run

    return run(args.out, args.year, args.scale, seed=args.seed, layout=args.layout)


def _run(args: argparse.Namespace) -> int:
    from medidash.orchestration.run import run

    return run(
        args.input,
        args.year,
        database_url=args.database_url,
        lake=args.lake,
        spark_master=args.spark_master,
        force=args.force,
        verbose=args.verbose,
    )


def _demo(args: argparse.Namespace) -> int:
    from medidash.orchestration.demo import run

    return run(args.year, args.scale, port=args.port, serve=not args.no_serve, verbose=args.verbose)


# sub-command -> a function that unpacks the Namespace into a typed call
TYPED = {"generate": _generate, "run": _run, "demo": _demo}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="medidash", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")

    gen = sub.add_parser("generate", help="write a synthetic release in the CMS layouts")
    gen.add_argument("--out", required=True, help="folder to write the release into")
    gen.add_argument("--year", type=int, required=True, help="data year")
    gen.add_argument("--scale", type=float, default=0.001, help="1 = national size (default 0.001)")
    gen.add_argument("--seed", type=int, default=42, help="random seed: same seed, same files")
    gen.add_argument(
        "--layout",
        choices=["current", "2017"],
        default="current",
        help="CMS file layouts: today's, or PY2017's (Part B, clinicians, MIPS only)",
    )

    db = sub.add_parser("db", help="manage the embedded PostgreSQL server")
    db.add_argument(
        "action",
        choices=["start", "stop", "status", "url"],
        help="start, stop or report on the server, or print its URL",
    )
    db.add_argument(
        "--role",
        choices=["owner", "dashboard"],
        default="owner",
        help="whose URL `url` prints: the owner's or the read-only dashboard role's",
    )

    run = sub.add_parser("run", help="run the Airflow DAG for one release end to end, in process")
    run.add_argument("--input", required=True, help="local folder, s3://bucket/prefix, or 'cms'")
    run.add_argument("--year", type=int, required=True, help="data year of the release")
    run.add_argument(
        "--database-url",
        help="warehouse URL (default: MEDIDASH_DATABASE_URL, else the embedded server)",
    )
    run.add_argument("--lake", help="event lake folder (default: MEDIDASH_LAKE, else HOME/lake)")
    run.add_argument("--spark-master", help="Spark master URL (default: local[*])")
    run.add_argument("--force", action="store_true", help="re-run even if the release is unchanged")
    run.add_argument(
        "--verbose",
        action="store_true",
        help="stream every Airflow, Spark and dbt log to the terminal too",
    )

    serve = sub.add_parser("serve", help="serve the dashboard")
    serve.add_argument(
        "--database-url",
        help="read-only warehouse URL (default: MEDIDASH_DASHBOARD_DATABASE_URL, else embedded)",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=8050, help="port to listen on")

    demo = sub.add_parser("demo", help="generate + run + serve on the embedded defaults")
    demo.add_argument("--scale", type=float, default=0.002, help="release size (1 = national)")
    demo.add_argument("--year", type=int, default=2023, help="data year of the synthetic release")
    demo.add_argument("--no-serve", action="store_true", help="stop after the pipeline")
    demo.add_argument("--port", type=int, default=8050, help="the dashboard's port")
    demo.add_argument(
        "--verbose", action="store_true", help="stream the pipeline's logs to the terminal too"
    )

    sub.add_parser("up", help="start PostgreSQL, Spark, S3, Airflow and the dashboard")
    sub.add_parser("down", help="stop what `medidash up` started")

    docs = sub.add_parser("docs", help="generate and serve the dbt docs site")
    docs.add_argument("--port", type=int, default=8081, help="port to serve the site on")

    bench = sub.add_parser("bench", help="run the benchmarks and write bench/results/")
    bench.add_argument("--scale", type=float, default=0.1, help="pipeline and dashboard scale")
    bench.add_argument(
        "--generator-scale", type=float, default=1.0, help="scale of the generator's benchmark"
    )
    bench.add_argument(
        "--only",
        action="append",
        choices=["generator", "pipeline", "dashboard"],
        help="run only this benchmark (repeatable; default: all three)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command in TYPED:
        return int(TYPED[args.command](args) or 0)
    module_name, func_name = COMMANDS[args.command].split(":")
    func = getattr(importlib.import_module(module_name), func_name)
    return int(func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
