"""`medidash demo`: generate a synthetic release, run the whole DAG on it, serve the dashboard.

Everything on the embedded defaults: the embedded PostgreSQL, a local lake, `local[*]` Spark.
"""

from __future__ import annotations

from medidash import settings
from medidash.cli import build_parser, main


def run(args) -> int:
    release = settings.home() / "releases" / f"demo-{args.year}-scale{args.scale:g}"
    if not (release / "manifest.json").exists():
        print(f"Generating a synthetic {args.year} release (scale {args.scale:g}) in {release}")
        code = main(
            [
                "generate",
                "--out",
                str(release),
                "--year",
                str(args.year),
                "--scale",
                str(args.scale),
                "--seed",
                "42",
            ]
        )
        if code:
            return code
    else:
        print(f"Reusing the synthetic release in {release}")
    code = main(["run", "--input", str(release), "--year", str(args.year)])
    if code:
        return code
    if args.no_serve:
        return 0
    serve_args = build_parser().parse_args(["serve", "--port", str(args.port)])
    from medidash.dashboard.serve import run as serve

    return serve(serve_args)
