"""`medidash generate`: write a synthetic release in the exact CMS layouts (contract section 6).

On a terminal a progress bar shows the chunks written; elsewhere (a log, CI) a line every
`LOG_EVERY_ROWS` rows says how far it is.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from medidash.generator.release import generate

LOG_EVERY_ROWS = 1_000_000


class Progress:
    """The generator's progress callback: a tqdm bar on a terminal, count lines elsewhere."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.bar = None
        self.next_log = LOG_EVERY_ROWS

    def __call__(self, done: int, tasks: int, rows: int) -> None:
        if self.stream.isatty():
            if self.bar is None:
                from tqdm import tqdm

                self.bar = tqdm(total=tasks, unit="chunk", file=self.stream, leave=False)
            self.bar.set_postfix_str(f"{rows:,} rows", refresh=False)
            self.bar.update(done - self.bar.n)
        elif rows >= self.next_log:
            print(f"generate: {rows:,} rows, {done} of {tasks} chunks", file=self.stream)
            self.next_log = (rows // LOG_EVERY_ROWS + 1) * LOG_EVERY_ROWS

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run(
    out: str | Path,
    year: int,
    scale: float,
    *,
    seed: int = 42,
    layout: str = "current",
    quiet: bool = False,
) -> int:
    """Generate a release into `out`; the exit code. `quiet` prints one summary line instead
    of one line per file."""
    started = time.perf_counter()
    progress = Progress()
    try:
        manifest = generate(Path(out), year, scale, seed, layout, progress=progress)
    except (ValueError, OSError) as error:
        print(f"medidash generate: {error}", file=sys.stderr)
        return 2
    finally:
        progress.close()
    seconds = time.perf_counter() - started
    files = manifest["files"]
    if quiet:
        rows = sum(entry["rows"] for entry in files.values())
        print(f"wrote {len(files)} files, {rows:,} rows, to {out} in {seconds:.1f} s")
        return 0
    for name, entry in files.items():
        print(f"{name}: {entry['rows']:,} rows ({entry['dataset']}, {entry['layout']})")
    print(f"wrote {out} in {seconds:.1f} s (manifest.json)")
    return 0
