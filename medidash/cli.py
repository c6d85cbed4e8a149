"""The `medidash` command line (contract section 6).

Each sub-command lives in the module that owns its stage; this file only parses arguments and
dispatches, so that `medidash --help` stays fast (no Spark, Airflow or Dash import until needed).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

# Each command's function takes the parsed arguments and makes one typed call into the module
# that owns the stage (imported only then); no Namespace crosses into those modules.


def _generate(args: argparse.Namespace) -> int:
    from medidash.generator.cli import run

    return run(args.out, args.year, args.scale, seed=args.seed, layout=args.layout)


def _db(args: argparse.Namespace) -> int:
    from medidash.warehouse.cli import run

    return run(args.action, role=args.role)


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


def _serve(args: argparse.Namespace) -> int:
    from medidash.dashboard.serve import serve

    return serve(args.database_url, args.host, args.port)


def _demo(args: argparse.Namespace) -> int:
    from medidash.orchestration.demo import run

    return run(args.year, args.scale, port=args.port, serve=not args.no_serve, verbose=args.verbose)


def _up(_args: argparse.Namespace) -> int:
    from medidash.orchestration.stack import up

    return up()


def _down(_args: argparse.Namespace) -> int:
    from medidash.orchestration.stack import down

    return down()


def _docs(args: argparse.Namespace) -> int:
    from medidash.orchestration.docs import serve_docs

    return serve_docs(args.port)


def _bench(args: argparse.Namespace) -> int:
    from medidash.bench import run

    return run(args.scale, generator_scale=args.generator_scale, only=args.only)


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "generate": _generate,
    "db": _db,
    "run": _run,
    "serve": _serve,
    "demo": _demo,
    "up": _up,
    "down": _down,
    "docs": _docs,
    "bench": _bench,
}


def build_parser() -> argparse.ArgumentParser:
    from medidash.bench import BENCHES  # settings only: no Spark, Airflow or Dash
    from medidash.settings import DatabaseURLOption, env_name

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
        action=DatabaseURLOption,
        env=env_name("database_url"),
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
        action=DatabaseURLOption,
        env=env_name("dashboard_database_url"),
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

    docs = sub.add_parser("docs", help="serve the dbt docs site the last run built")
    docs.add_argument("--port", type=int, default=8081, help="port to serve the site on")

    bench = sub.add_parser("bench", help="run the benchmarks and write bench/results/")
    bench.add_argument("--scale", type=float, default=0.1, help="pipeline and dashboard scale")
    bench.add_argument(
        "--generator-scale", type=float, default=1.0, help="scale of the generator's benchmark"
    )
    bench.add_argument(
        "--only",
        action="append",
        choices=BENCHES,
        help="run only this benchmark (repeatable; default: all; reference runs the pipeline "
        "too, its ratios are to the pipeline's seconds in the same run)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(COMMANDS[args.command](args) or 0)


if __name__ == "__main__":
    sys.exit(main())
