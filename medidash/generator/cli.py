"""`medidash generate`: write a synthetic release in the exact CMS layouts (contract section 6)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from medidash.generator.release import generate


def run(args) -> int:
    """Generate the release described by args (out, year, scale, seed, layout); exit code."""
    started = time.perf_counter()
    try:
        manifest = generate(Path(args.out), args.year, args.scale, args.seed, args.layout)
    except (ValueError, OSError) as error:
        print(f"medidash generate: {error}", file=sys.stderr)
        return 2
    seconds = time.perf_counter() - started
    for name, entry in manifest["files"].items():
        print(f"{name}: {entry['rows']:,} rows ({entry['dataset']}, {entry['layout']})")
    print(f"wrote {args.out} in {seconds:.1f} s (manifest.json)")
    return 0
