"""The errors every layer shares. A leaf module: imports nothing of MediDash's own.

`BadInput` is a data error: the release itself is wrong (an unreadable file, a header no layout
matches, a required dataset without a valid row, a value a stage cannot accept). Retrying cannot
help, so the task that finds it fails at once and `medidash run` exits with `EXIT_BAD_INPUT`
(contract section 6). Any other exception is treated as a fault that may pass and is retried.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_REFUSED = 3
EXIT_BAD_INPUT = 4

# What a Spark job prints as its last stderr line for a data error, before exiting with
# EXIT_BAD_INPUT; the orchestration reads the message back from there.
BAD_INPUT_PREFIX = "MEDIDASH BAD INPUT: "


class BadInput(ValueError):
    """A data error, named as the contract asks: file, and for a record its line, column, value.

    `str()` gives one line: `FILE: line N: column C: value 'V': problem`, leaving out the parts
    that do not apply.
    """

    def __init__(
        self,
        problem: str,
        *,
        file: str | None = None,
        line: int | None = None,
        column: str | None = None,
        value: str | None = None,
    ) -> None:
        self.problem = problem
        self.file = file
        self.line = line
        self.column = column
        self.value = value
        super().__init__(self.describe())

    def describe(self) -> str:
        parts = []
        if self.file:
            parts.append(str(self.file))
        if self.line is not None:
            parts.append(f"line {self.line}")
        if self.column:
            parts.append(f"column {self.column}")
        if self.value is not None:
            shown = self.value if len(self.value) <= 80 else self.value[:77] + "..."
            parts.append(f"value {shown!r}")
        parts.append(self.problem)
        return ": ".join(parts)


# scheme://user:password@ → scheme://user:***@; `password=...`-like pairs  # pragma: allowlist secret
_URL_CREDENTIALS = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s'\"]*):[^@\s'\"]*@", re.I)
_SECRET_PAIR = re.compile(
    r"(\w*(?:password|passwd|secret|token)\w*[\"']?)(\s*[=:]\s*)('[^']*'|\"[^\"]*\"|\S+)", re.I
)


def scrub_secrets(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` safe to log or store: without the given secrets, a URL's password, `password=...`.

    For error messages and tracebacks, which may embed a connection URL (contract section 5).
    """
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "***")
    text = _URL_CREDENTIALS.sub(r"\1:***@", text)
    return _SECRET_PAIR.sub(r"\1\2***", text)
