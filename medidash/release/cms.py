"""Releases straight from CMS: resolve the files of a data year from the public catalogs and
download them into the raw zone, keeping only what is verifiably the file.

- Part B and Part D: the data.cms.gov catalog (`/data.json`, DCAT): one dataset per title, one
  `text/csv` distribution per data year.
- Clinicians, facility affiliations, MIPS: the Provider Data Catalog metastore
  (`/provider-data/api/1/metastore/schemas/dataset/items`), current snapshot only.

Base URLs come from MEDIDASH_CMS_DATA_URL and MEDIDASH_CMS_PDC_URL (defaults: the real hosts),
so the same code runs against a mirror or a test server. Requests go only to the catalogs' own
hosts (origins: scheme, host name, port) and to those listed in MEDIDASH_CMS_ALLOWED_HOSTS
(comma-separated origins; `host[:port]` alone means https), redirects included.

What a download must pass before it is landed (each landed file's record in
`landing-manifest.json` says it did):
- a 200 (or the 206 of a resume), with a data file's Content-Type, not an HTML or JSON page
  (judged by the Content-Type and by the first bytes);
- every byte Content-Length / Content-Range announced, and the catalog's `byteSize` if it
  lists one; `Content-Encoding: gzip` is decoded (within the contract's decompression bound);
- a resume only while the server's validator (ETag, else Last-Modified) is the one of the first
  attempt, asked with `If-Range`: a file CMS changed in between is downloaded whole again.

Failures come in two kinds. `LandingFault` (an OSError) may pass and is retried: a lost
connection, a 5xx or 429, and a response that is not the file (CMS answers maintenance and
rate-limit pages with 200, and such a page is not kept, so a retry downloads the file).
`LandingRefused` (a `BadInput`) fails at once: a redirect off the catalog hosts, a 4xx for a
listed file, an encoding MediDash cannot decode, a decompression bomb.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import re
import sys
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import requests
import urllib3

from medidash import settings
from medidash.errors import BadInput

log = logging.getLogger(__name__)

DATA_TITLES = {
    "part_b": "Medicare Physician & Other Practitioners - by Provider and Service",
    "part_d": "Medicare Part D Prescribers - by Provider and Drug",
}
OPTIONAL_DATA = {"part_d"}  # CMS published no Part D before 2013, and lists it after Part B
PDC_IDS = {"clinicians": "mj5m-pzi6", "affiliations": "27ea-46a8", "mips": "a174-a962"}
OPTIONAL_PDC = {"affiliations", "mips"}
CHUNK = 1 << 20
TIMEOUT = (10, 120)
MAX_REDIRECTS = 5
MANIFEST = "landing-manifest.json"  # one of local.NOT_RELEASE_FILES: never part of a release
# what CMS and mirrors serve data files as; a missing Content-Type is judged by content alone
FILE_TYPES = {
    "text/csv",
    "text/plain",
    "text/tab-separated-values",
    "text/comma-separated-values",
    "application/csv",
    "application/vnd.ms-excel",
    "application/octet-stream",
    "binary/octet-stream",
    "application/zip",
    "application/x-zip-compressed",
    "application/gzip",
    "application/x-gzip",
}
# first bytes (after a BOM and blanks) that no CMS data file starts with
PAGE_STARTS = {b"<": "an HTML page", b"{": "a JSON document", b"[": "a JSON document"}
# contract section 1: decoding one file may not pass both bounds
MAX_DECODED_BYTES = 1 << 30
MAX_DECODED_RATIO = 100


class LandingFault(OSError):
    """A transfer cut short or a response that is not the file: it may pass, so the task is
    retried; nothing of a wrong response is kept."""


class LandingRefused(BadInput):
    """A download that retrying cannot fix; the run fails at once."""


class CatalogError(BadInput, LookupError):
    """The catalogs do not list what the run asks for (a year, a required dataset)."""


@dataclass(frozen=True)
class RemoteFile:
    dataset: str
    url: str
    modified: str
    year: int | None
    byte_size: int | None = None  # as the catalog lists it (DCAT `byteSize`), when it does

    @property
    def filename(self) -> str:
        return f"{self.dataset}__{self.url.rsplit('/', 1)[-1]}"


def data_url() -> str:
    return settings.current().cms_data_url.rstrip("/")


def pdc_url() -> str:
    return settings.current().cms_pdc_url.rstrip("/")


def _origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or {"http": 80}.get(scheme, 443)


def allowed_origins() -> set[tuple[str, str, int]]:
    """The catalogs' own origins and those of MEDIDASH_CMS_ALLOWED_HOSTS."""
    extra = [e.strip() for e in settings.current().cms_allowed_hosts.split(",")]
    urls = [data_url(), pdc_url()] + [e if "://" in e else f"https://{e}" for e in extra if e]
    return {_origin(url) for url in urls}


def _show(origin: tuple[str, str, int]) -> str:
    return f"{origin[0]}://{origin[1]}:{origin[2]}"


def _open(http: requests.Session, url: str, headers: dict[str, str]) -> requests.Response:
    """GET `url` (streamed), following redirects only within the allowed origins."""
    allowed = allowed_origins()
    current = url
    for _ in range(MAX_REDIRECTS + 1):
        if _origin(current) not in allowed:
            where = f"redirected to {current}" if current != url else "listed there"
            raise LandingRefused(
                f"{where}, not a catalog host (allowed: {', '.join(sorted(map(_show, allowed)))};"
                " add it to MEDIDASH_CMS_ALLOWED_HOSTS if it is one)",
                file=url,
            )
        try:
            response = http.get(
                current, headers=headers, stream=True, timeout=TIMEOUT, allow_redirects=False
            )
        except requests.RequestException as error:
            raise LandingFault(f"{current}: {error}") from error
        if not response.is_redirect:
            _check_status(response, url)
            return response
        current = urljoin(current, response.headers["Location"])
        response.close()
    raise LandingRefused(f"more than {MAX_REDIRECTS} redirects", file=url)


def _check_status(response: requests.Response, url: str) -> None:
    status = response.status_code
    if status in (200, 206, 416):
        return
    response.close()
    text = f"answered {status} {response.reason}"
    if 400 <= status < 500 and status not in (408, 429):
        raise LandingRefused(f"{text}; trigger the run again to read the catalog anew", file=url)
    raise LandingFault(f"{url}: {text}; will retry")


def _get_json(http: requests.Session, url: str):
    with _open(http, url, {}) as response:
        try:
            return response.json()
        except ValueError as error:
            kind = response.headers.get("Content-Type", "no Content-Type")
            raise LandingFault(f"{url}: not JSON ({kind}): {response.text[:80]!r}") from error


def _normalise_title(title: str) -> str:
    return re.sub(r"\s+", " ", title.replace("–", "-")).strip().lower()


def _distribution_year(dist: dict) -> int | None:
    for text in (dist.get("temporal") or "", dist.get("title") or ""):
        match = re.search(r"(\d{4})-\d{2}-\d{2}", text)
        if match:
            return int(match.group(1))
    return None


def _byte_size(dist: dict) -> int | None:
    size = dist.get("byteSize")
    return int(size) if isinstance(size, int | str) and str(size).isdigit() else None


def resolve(year: int | None, session: requests.Session | None = None) -> list[RemoteFile]:
    """The CSV files of one release: Part B and Part D of `year` and the current clinicians,
    affiliations and MIPS snapshots.

    Without a year, the newest year whose Part B the catalog lists (the clinicians file is a
    current snapshot, always there). Part D, affiliations and MIPS are optional: a year CMS
    lists no Part D for is a release without one (warned).
    """
    http = session or requests.Session()
    datasets = _get_json(http, f"{data_url()}/data.json").get("dataset", [])
    files = []
    chosen_year = year
    for key, title in DATA_TITLES.items():
        wanted = _normalise_title(title)
        entry = next((d for d in datasets if _normalise_title(d.get("title", "")) == wanted), None)
        if entry is None:
            if key in OPTIONAL_DATA:
                log.warning("data.json has no dataset titled %r; skipping %s", title, key)
                continue
            raise CatalogError(f"data.json has no dataset titled {title!r}")
        csvs = [
            d
            for d in entry.get("distribution", [])
            if d.get("downloadURL")
            and "csv" in (d.get("mediaType") or d.get("format") or "").lower()
        ]
        by_year = {_distribution_year(d): d for d in csvs if _distribution_year(d)}
        if chosen_year is None:
            if not by_year:
                raise CatalogError(f"{title}: no CSV distribution with a data year in data.json")
            chosen_year = max(by_year)
        if chosen_year not in by_year:
            listed = ", ".join(map(str, sorted(by_year))) or "no year"
            if key in OPTIONAL_DATA:
                log.warning("%s: no %s file (CMS lists %s); skipping", title, chosen_year, listed)
                continue
            raise CatalogError(f"{title}: no {chosen_year} file; CMS lists {listed}")
        dist = by_year[chosen_year]
        modified = dist.get("modified") or entry.get("modified", "")
        files.append(RemoteFile(key, dist["downloadURL"], modified, chosen_year, _byte_size(dist)))
    items = _get_json(http, f"{pdc_url()}/api/1/metastore/schemas/dataset/items")
    by_id = {item.get("identifier"): item for item in items}
    for key, identifier in PDC_IDS.items():
        item = by_id.get(identifier)
        if item is None:
            if key in OPTIONAL_PDC:
                log.warning("Provider Data Catalog has no %s (%s); skipping", key, identifier)
                continue
            raise CatalogError(f"Provider Data Catalog has no dataset {identifier} ({key})")
        dist = next((d for d in item.get("distribution", []) if d.get("downloadURL")), None)
        if dist is None:
            raise CatalogError(f"{identifier}: no downloadURL in the metastore")
        files.append(
            RemoteFile(key, dist["downloadURL"], item.get("modified", ""), None, _byte_size(dist))
        )
    return files


def release_year(files: list[RemoteFile]) -> int:
    """The data year of a resolved release (its Part B's)."""
    return next(f.year for f in files if f.dataset == "part_b" and f.year is not None)


def _read_manifest(dest: Path) -> dict[str, dict]:
    path = dest / MANIFEST
    try:
        return {r["file"]: r for r in json.loads(path.read_text())}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def _write_json(path: Path, payload) -> None:
    partial = path.with_name(path.name + ".part")
    partial.write_text(json.dumps(payload, indent=2))
    partial.replace(path)


def _sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _still_verified(remote: RemoteFile, target: Path, record: dict | None) -> bool:
    """The landed file is the one this download verified: same listing, size and SHA-256."""
    return bool(
        record
        and record.get("verified") is True
        and {k: record.get(k) for k in asdict(remote)} == asdict(remote)
        and target.stat().st_size == record.get("size")
        and _sha256(target) == record.get("sha256")
    )


def download(remote: RemoteFile, dest: Path, session: requests.Session | None = None) -> dict:
    """Land one file as `dest/<dataset>__<name>`, verified, resuming a `.part` left by an
    interrupted attempt while the server's validator still matches.

    Returns the file's landing record (the catalog's listing, size, sha256, the validator and
    encoding it came with), also written to `landing-manifest.json` in `dest`.
    """
    http = session or requests.Session()
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / remote.filename
    manifest = _read_manifest(dest)
    if target.exists():
        if _still_verified(remote, target, manifest.get(target.name)):
            return manifest[target.name]
        log.warning("%s: landed earlier but not verified as this file; downloading again", target)
        target.unlink()
    record = _fetch(remote, target, http, may_resume=True)
    manifest = _read_manifest(dest)
    manifest[target.name] = record
    _write_json(dest / MANIFEST, list(manifest.values()))
    return record


def _validator(response: requests.Response) -> str | None:
    """A strong validator for If-Range: the ETag unless weak, else Last-Modified."""
    tag = response.headers.get("ETag")
    if tag and not tag.startswith("W/"):
        return tag
    return response.headers.get("Last-Modified")


def _encoding(response: requests.Response, url: str) -> str:
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding in ("", "identity"):
        return "identity"
    if encoding in ("gzip", "x-gzip"):
        return "gzip"
    response.close()
    raise LandingRefused(f"served with Content-Encoding {encoding}, asked for gzip only", file=url)


def _check_type(response: requests.Response, url: str) -> str:
    content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if content_type and content_type not in FILE_TYPES:
        response.close()
        raise LandingFault(
            f"{url}: the server sent Content-Type {content_type}, not a data file "
            "(an error page?); nothing kept, will download again on retry"
        )
    return content_type


def _discard(*paths: Path) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


def _fetch(remote: RemoteFile, target: Path, http: requests.Session, may_resume: bool) -> dict:
    # every work file ends in .part: release_files never takes one for a release file
    partial = target.with_name(target.name + ".part")
    state_path = target.with_name(target.name + ".validator.part")  # JSON, as first served
    state = None
    if may_resume and partial.exists() and state_path.exists():
        try:
            state = json.loads(state_path.read_text())
        except ValueError:
            state = None
    if not state or state.get("url") != remote.url or not state.get("validator"):
        _discard(partial, state_path)
        state = None
    have = partial.stat().st_size if state else 0
    headers = {"Accept-Encoding": "gzip"}
    if have:
        headers |= {"Range": f"bytes={have}-", "If-Range": state["validator"]}
    response = _open(http, remote.url, headers)
    with response:
        if response.status_code == 416 or (response.status_code == 206 and not have):
            _discard(partial, state_path)
            if not may_resume:
                raise LandingFault(f"{remote.url}: answered a range that was not asked for")
            return _fetch(remote, target, http, may_resume=False)
        content_type = _check_type(response, remote.url)
        encoding = _encoding(response, remote.url)
        validator = _validator(response)
        if response.status_code == 206:
            match = re.match(r"bytes (\d+)-\d+/(\d+)", response.headers.get("Content-Range", ""))
            same = (
                match
                and int(match.group(1)) == have
                and int(match.group(2)) == state.get("total")
                and validator in (None, state["validator"])
                and encoding == state["encoding"]
            )
            if not same:  # a server that ignored If-Range: its bytes may be of another file
                log.warning("%s: the resumed part is not of the same file; starting over", target)
                _discard(partial, state_path)
                return _fetch(remote, target, http, may_resume=False)
            total = state["total"]
        else:
            have = 0  # the whole file: new, changed since the partial copy, or no range served
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            state = {"url": remote.url, "validator": validator, "encoding": encoding}
            state |= {"total": total, "content_type": content_type}
            _write_json(state_path, state)
        written = _stream(response, partial, have, total, remote)
    if total is not None and written != total:
        then = "the retry resumes" if state["validator"] else "the retry downloads it whole"
        raise LandingFault(f"{remote.url}: received {written} of {total} bytes; {then}")
    return _verify(remote, target, partial, state_path, state, written)


def _stream(
    response: requests.Response, partial: Path, have: int, total: int | None, remote: RemoteFile
) -> int:
    """Append the body as sent (still encoded) to `partial`; returns its size. On a terminal
    a progress bar shows the bytes received; in a log, a line every 50 MB."""
    written = have
    next_report = written + 50 * CHUNK
    bar = _progress_bar(remote.filename, total, have)
    try:
        with open(partial, "ab" if have else "wb") as out:
            for chunk in response.raw.stream(CHUNK, decode_content=False):
                out.write(chunk)
                written += len(chunk)
                if bar is not None:
                    bar.update(len(chunk))
                elif written >= next_report:
                    pct = f" ({100 * written / total:.0f}%)" if total else ""
                    log.info("%s: %d MB%s", remote.filename, written >> 20, pct)
                    next_report = written + 50 * CHUNK
    except (urllib3.exceptions.HTTPError, requests.RequestException, OSError) as error:
        of = f" of {total}" if total is not None else ""
        raise LandingFault(
            f"{remote.url}: connection lost after {written}{of} bytes ({error}); "
            "a retry resumes it if the server's validator still matches"
        ) from error
    finally:
        if bar is not None:
            bar.close()
    return written


def _progress_bar(name: str, total: int | None, have: int):
    """A tqdm bar of one file's bytes on standard error when it is a terminal, else None."""
    stream = sys.stderr
    if not stream.isatty():
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=have, desc=name, unit="B", unit_scale=True, file=stream)


def _decode_gzip(partial: Path, decoded: Path, encoded_size: int, url: str) -> None:
    bound = max(MAX_DECODED_BYTES, MAX_DECODED_RATIO * encoded_size)
    size = 0
    try:
        with gzip.open(partial, "rb") as src, open(decoded, "wb") as out:
            for block in iter(lambda: src.read(CHUNK), b""):
                size += len(block)
                if size > bound:
                    raise LandingRefused(
                        f"gzip transfer decodes past {bound} bytes (from {encoded_size})",
                        file=url,
                    )
                out.write(block)
    except (OSError, EOFError, zlib.error) as error:
        raise LandingFault(f"{url}: the gzip transfer does not decode ({error})") from error


def _verify(
    remote: RemoteFile, target: Path, partial: Path, state_path: Path, state: dict, received: int
) -> dict:
    """Decode, check and move the complete body into place; a body that is not the file is
    removed (never resumed from) and raised as a fault."""
    decoded = target.with_name(target.name + ".decoded.part")
    try:
        if state["encoding"] == "gzip":
            _decode_gzip(partial, decoded, received, remote.url)
            partial.unlink()
            source = decoded
        else:
            source = partial
        with open(source, "rb") as fh:
            head = fh.read(512)
        stripped = head.removeprefix(b"\xef\xbb\xbf").lstrip()
        kind = PAGE_STARTS.get(stripped[:1])
        if kind:
            raise LandingFault(
                f"{remote.url}: the server sent {kind}, not the file (starts {stripped[:60]!r}); "
                "nothing kept, will download again on retry"
            )
        size = source.stat().st_size
        if remote.byte_size is not None and size != remote.byte_size:
            raise LandingFault(
                f"{remote.url}: received {size} bytes but the catalog lists {remote.byte_size}; "
                "nothing kept, will download again on retry"
            )
        digest = _sha256(source)
        source.rename(target)
    except BaseException:
        _discard(partial, decoded, state_path)
        raise
    state_path.unlink(missing_ok=True)
    log.info("%s: complete, %d bytes, sha256 %s", remote.filename, size, digest)
    return {
        **asdict(remote),
        "file": target.name,
        "size": size,
        "sha256": digest,
        "validator": state["validator"],
        "content_type": state.get("content_type") or None,
        "content_encoding": state["encoding"],
        "verified": True,
    }


def land(files: list[RemoteFile], dest: Path | str) -> Path:
    """Download every file of the release into `dest`; `landing-manifest.json` then lists
    exactly these files' records."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    with requests.Session() as session:
        records = [download(remote, dest, session) for remote in files]
    _write_json(dest / MANIFEST, records)
    return dest
