"""A release in a local folder: the files are read where they are."""

from __future__ import annotations

from pathlib import Path

NOT_RELEASE_FILES = {"manifest.json", "landing-manifest.json"}


def release_files(folder: Path | str) -> list[Path]:
    """The data files of a release folder (recursively), in a stable order.

    Hidden files, MediDash's own manifests and partial downloads are not part of a release.
    """
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: release folder not found")
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
        and p.name not in NOT_RELEASE_FILES
        and not p.name.endswith(".part")
    )
