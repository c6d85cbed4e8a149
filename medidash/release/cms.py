"""Releases straight from CMS: resolve the newest files from the public catalogs and download
them, resumably and checksummed, into the raw zone.

- Part B and Part D: the data.cms.gov catalog (`/data.json`, DCAT): one dataset per title, one
  `text/csv` distribution per data year.
- Clinicians, facility affiliations, MIPS: the Provider Data Catalog metastore
  (`/provider-data/api/1/metastore/schemas/dataset/items`), current snapshot only.

Base URLs come from MEDIDASH_CMS_DATA_URL and MEDIDASH_CMS_PDC_URL (defaults: the real hosts),
so the same code runs against a mirror or a test server.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import requests

log = logging.getLogger(__name__)

DATA_TITLES = {
    "part_b": "Medicare Physician & Other Practitioners - by Provider and Service",
    "part_d": "Medicare Part D Prescribers - by Provider and Drug",
}
PDC_IDS = {"clinicians": "mj5m-pzi6", "affiliations": "27ea-46a8", "mips": "a174-a962"}
CHUNK = 1 << 20
TIMEOUT = (10, 120)


@dataclass(frozen=True)
class RemoteFile:
    dataset: str
    url: str
    modified: str
    year: int | None

    @property
    def filename(self) -> str:
        return f"{self.dataset}__{self.url.rsplit('/', 1)[-1]}"


def data_url() -> str:
    return os.environ.get("MEDIDASH_CMS_DATA_URL", "https://data.cms.gov").rstrip("/")


def pdc_url() -> str:
    return os.environ.get("MEDIDASH_CMS_PDC_URL", "https://data.cms.gov/provider-data").rstrip("/")


def _normalise_title(title: str) -> str:
    return re.sub(r"\s+", " ", title.replace("–", "-")).strip().lower()


def _distribution_year(dist: dict) -> int | None:
    for text in (dist.get("temporal") or "", dist.get("title") or ""):
        match = re.search(r"(\d{4})-\d{2}-\d{2}", text)
        if match:
            return int(match.group(1))
    return None


def resolve(year: int | None, session: requests.Session | None = None) -> list[RemoteFile]:
    """The CSV files of one release: Part B and Part D of `year` (newest when None) and the
    current clinicians, affiliations and MIPS snapshots."""
    http = session or requests.Session()
    catalog = http.get(f"{data_url()}/data.json", timeout=TIMEOUT)
    catalog.raise_for_status()
    datasets = catalog.json().get("dataset", [])
    files = []
    for key, title in DATA_TITLES.items():
        wanted = _normalise_title(title)
        entry = next((d for d in datasets if _normalise_title(d.get("title", "")) == wanted), None)
        if entry is None:
            raise LookupError(f"data.json has no dataset titled {title!r}")
        csvs = [
            d
            for d in entry.get("distribution", [])
            if d.get("downloadURL")
            and "csv" in (d.get("mediaType") or d.get("format") or "").lower()
        ]
        by_year = {_distribution_year(d): d for d in csvs if _distribution_year(d)}
        if not by_year:
            raise LookupError(f"{title}: no CSV distribution with a data year in data.json")
        chosen_year = year if year is not None else max(by_year)
        if chosen_year not in by_year:
            raise LookupError(
                f"{title}: no {chosen_year} file; CMS lists {', '.join(map(str, sorted(by_year)))}"
            )
        dist = by_year[chosen_year]
        files.append(
            RemoteFile(
                key,
                dist["downloadURL"],
                dist.get("modified") or entry.get("modified", ""),
                chosen_year,
            )
        )
    items = http.get(f"{pdc_url()}/api/1/metastore/schemas/dataset/items", timeout=TIMEOUT)
    items.raise_for_status()
    by_id = {item.get("identifier"): item for item in items.json()}
    for key, identifier in PDC_IDS.items():
        item = by_id.get(identifier)
        if item is None:
            if key in ("affiliations", "mips"):
                log.warning("Provider Data Catalog has no %s (%s); skipping", key, identifier)
                continue
            raise LookupError(f"Provider Data Catalog has no dataset {identifier} ({key})")
        dist = next((d for d in item.get("distribution", []) if d.get("downloadURL")), None)
        if dist is None:
            raise LookupError(f"{identifier}: no downloadURL in the metastore")
        files.append(RemoteFile(key, dist["downloadURL"], item.get("modified", ""), None))
    return files


def release_key(files: list[RemoteFile]) -> str:
    """Fingerprint of a CMS release before any download: its URLs and modified dates."""
    text = json.dumps([asdict(f) for f in files], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def download(remote: RemoteFile, dest: Path, session: requests.Session | None = None) -> dict:
    """Stream one file to `dest`, resuming a `.part` left by an interrupted attempt.

    Returns the file's landing record (url, size, sha256, modified).
    """
    http = session or requests.Session()
    target = dest / remote.filename
    partial = target.with_name(target.name + ".part")
    if target.exists():
        return _record(remote, target)
    have = partial.stat().st_size if partial.exists() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    with http.get(remote.url, headers=headers, stream=True, timeout=TIMEOUT) as response:
        if response.status_code == 416:
            # the partial file does not fit the remote one (it changed): start again
            partial.unlink()
            return download(remote, dest, session)
        response.raise_for_status()
        if response.status_code == 200:
            have = 0  # the server ignored the range: the body is the whole file
        total = _total_size(response, have)
        written = have
        next_report = written + 50 * CHUNK
        with open(partial, "ab" if have else "wb") as out:
            for chunk in response.iter_content(CHUNK):
                out.write(chunk)
                written += len(chunk)
                if written >= next_report:
                    pct = f" ({100 * written / total:.0f}%)" if total else ""
                    log.info("%s: %d MB%s", remote.filename, written >> 20, pct)
                    next_report = written + 50 * CHUNK
    if total is not None and written != total:
        raise OSError(f"{remote.url}: downloaded {written} of {total} bytes; will resume on retry")
    partial.rename(target)
    log.info("%s: complete, %d bytes", remote.filename, written)
    return _record(remote, target)


def _total_size(response: requests.Response, have: int) -> int | None:
    if response.status_code == 206:
        content_range = response.headers.get("Content-Range", "")
        match = re.match(r"bytes \d+-\d+/(\d+)", content_range)
        if match:
            return int(match.group(1))
    length = response.headers.get("Content-Length")
    return int(length) + (have if response.status_code == 206 else 0) if length else None


def _record(remote: RemoteFile, path: Path) -> dict:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            digest.update(block)
    return {
        **asdict(remote),
        "file": path.name,
        "size": path.stat().st_size,
        "sha256": digest.hexdigest(),
    }


def land(files: list[RemoteFile], dest: Path | str) -> Path:
    """Download every file of the release into `dest` and write `landing-manifest.json`."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    with requests.Session() as session:
        records = [download(remote, dest, session) for remote in files]
    (dest / "landing-manifest.json").write_text(json.dumps(records, indent=2))
    return dest
