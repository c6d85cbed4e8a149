"""Resolve and download a release from the CMS catalogs, served by a real HTTP server here.

The server speaks the shapes of the real catalogs (data.cms.gov `data.json`, the Provider Data
Catalog metastore items, cms-datasets.md sections 1-5), honours HTTP Range, and can cut a
connection half way through a file, so the downloader's resume and checksums are exercised over
real sockets. The files are a tiny generated release in the real CMS headers.
"""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from medidash.generator.release import generate
from medidash.release import cms
from medidash.release.headers import check_release

YEAR = 2023
PART_B = "Medicare Physician & Other Practitioners - by Provider and Service"
PART_D = "Medicare Part D Prescribers - by Provider and Drug"
FILES = {
    "part_b": "MUP_PHY_R25_P05_V20_D23_Prov_Svc.csv",
    "part_d": "MUP_DPR_RY25_P04_V10_DY23_NPIBN.csv",
    "clinicians": "DAC_NationalDownloadableFile.csv",
    "affiliations": "Facility_Affiliation.csv",
    "mips": "ec_score_file.csv",
}
CUT_AT = 1_200_000  # bytes sent of the Part B file before the connection drops (once)


class CatalogServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, release: Path):
        super().__init__(("127.0.0.1", 0), CatalogHandler)
        self.release = release
        self.requests: list[tuple[str, str | None]] = []
        self.cut_once: set[str] = set()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def data_json(self) -> dict:
        def csv_dist(title: str, year: int, path: str) -> dict:
            return {
                "@type": "dcat:Distribution",
                "format": "CSV",
                "mediaType": "text/csv",
                "title": f"{title} : {year}-01-01",
                "modified": f"{year + 2}-04-15",
                "temporal": f"{year}-01-01/{year}-12-31",
                "downloadURL": f"{self.base}/sites/default/files/{path}",
            }

        def api_dist(title: str, year: int, latest: bool) -> dict:
            return {
                "@type": "dcat:Distribution",
                "format": "API",
                "title": f"{title} : {year}-01-01",
                "modified": f"{year + 2}-04-15",
                "temporal": f"{year}-01-01/{year}-12-31",
                "accessURL": f"{self.base}/data-api/v1/dataset/uuid-{year}/data",
                **({"description": "latest"} if latest else {}),
            }

        def dataset(title: str, dataset: str, years: dict[int, str]) -> dict:
            dists = []
            for year, path in years.items():
                dists += [csv_dist(title, year, path), api_dist(title, year, year == max(years))]
            return {
                "@type": "dcat:Dataset",
                "title": title,
                "modified": "2025-04-15",
                "identifier": f"https://data.cms.gov/data-api/v1/dataset/{dataset}/data-viewer",
                "distribution": dists,
            }

        return {
            "@context": "https://project-open-data.cio.gov/v1.1/schema/catalog.jsonld",
            "@type": "dcat:Catalog",
            "dataset": [
                # the sibling with a near-identical title must never be chosen
                dataset(PART_B.replace("Provider and Service", "Provider"), "sib", {YEAR: "x"}),
                dataset(
                    PART_B,
                    "pb",
                    {YEAR - 1: "2024-05/old/PB22.csv", YEAR: f"2025-04/u/{FILES['part_b']}"},
                ),
                dataset(PART_D, "pd", {YEAR: f"2025-04/u/{FILES['part_d']}"}),
            ],
        }

    def metastore(self) -> list[dict]:
        def item(identifier: str, title: str, name: str) -> dict:
            return {
                "identifier": identifier,
                "title": title,
                "modified": "2026-11-01",
                "distribution": [
                    {
                        "@type": "dcat:Distribution",
                        "mediaType": "text/csv",
                        "downloadURL": f"{self.base}/pdc/2026-11/{name}",
                    }
                ],
            }

        return [
            item("mj5m-pzi6", "National Downloadable File", FILES["clinicians"]),
            item("27ea-46a8", "Facility Affiliation Data", FILES["affiliations"]),
            item(
                "a174-a962",
                "PY 2023 Clinician Public Reporting: Overall MIPS Performance",
                FILES["mips"],
            ),
            item("xubh-q36u", "Hospital General Information", "unrelated.csv"),
        ]


class CatalogHandler(BaseHTTPRequestHandler):
    server: CatalogServer

    def log_message(self, *args) -> None:
        pass

    def _json(self, payload) -> None:
        body = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self.server.requests.append((self.path, self.headers.get("Range")))
        if self.path == "/data.json":
            return self._json(self.server.data_json())
        if self.path == "/provider-data/api/1/metastore/schemas/dataset/items":
            return self._json(self.server.metastore())
        path = self.server.release / self.path.rsplit("/", 1)[-1]
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        start = 0
        range_header = self.headers.get("Range")
        if range_header:
            start = int(range_header.removeprefix("bytes=").split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Content-Type", "text/csv")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        if path.name in self.server.cut_once and not range_header:
            self.server.cut_once.discard(path.name)
            self.wfile.write(data[start:CUT_AT])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(data[start:])


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cms-release")
    generate(out, YEAR, 0.0005, seed=11, processes=1)
    return out


@pytest.fixture
def server(release, monkeypatch):
    srv = CatalogServer(release)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("MEDIDASH_CMS_DATA_URL", srv.base)
    monkeypatch.setenv("MEDIDASH_CMS_PDC_URL", f"{srv.base}/provider-data")
    yield srv
    srv.shutdown()
    srv.server_close()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_resolve_picks_the_right_titles_and_year(server):
    files = {f.dataset: f for f in cms.resolve(YEAR)}

    assert sorted(files) == sorted(FILES)
    for dataset, name in FILES.items():
        assert files[dataset].url.endswith("/" + name), dataset
    assert files["part_b"].year == YEAR and files["part_b"].modified == f"{YEAR + 2}-04-15"
    assert files["clinicians"].year is None and files["clinicians"].modified == "2026-11-01"
    # newest year when none is asked for; a year CMS does not list is a clear error
    assert {f.dataset: f.year for f in cms.resolve(None)}["part_b"] == YEAR
    with pytest.raises(LookupError, match="no 2014 file; CMS lists 2022, 2023"):
        cms.resolve(2014)


def test_release_key_changes_when_cms_republishes(server):
    files = cms.resolve(YEAR)
    again = cms.resolve(YEAR)
    republished = [
        cms.RemoteFile(f.dataset, f.url, "2027-01-01", f.year) if f.dataset == "part_b" else f
        for f in files
    ]

    assert cms.release_key(files) == cms.release_key(again)
    assert cms.release_key(files) != cms.release_key(republished)


def test_download_resumes_after_a_cut_connection_and_checksums(server, release, tmp_path):
    server.cut_once.add(FILES["part_b"])
    files = cms.resolve(YEAR)
    dest = tmp_path / "raw"
    part_b = next(f for f in files if f.dataset == "part_b")
    partial = dest / (part_b.filename + ".part")

    with pytest.raises((requests.RequestException, OSError)):
        cms.land(files, dest)
    assert 0 < partial.stat().st_size <= CUT_AT
    resumed_from = partial.stat().st_size

    landed = cms.land(files, dest)

    ranges = [r for p, r in server.requests if p.endswith(FILES["part_b"])]
    assert ranges == [None, f"bytes={resumed_from}-"]
    manifest = {r["dataset"]: r for r in json.loads((landed / "landing-manifest.json").read_text())}
    assert sorted(manifest) == sorted(FILES)
    for dataset, name in FILES.items():
        record = manifest[dataset]
        assert record["sha256"] == sha256(release / name), dataset
        assert record["size"] == (release / name).stat().st_size, dataset
        assert (landed / record["file"]).read_bytes() == (release / name).read_bytes()
    assert not list(landed.glob("*.part"))
    assert {f.dataset for f in check_release(landed)} == set(FILES)


def test_a_landed_file_is_not_downloaded_again(server, tmp_path):
    files = cms.resolve(YEAR)
    cms.land(files, tmp_path)
    before = len(server.requests)

    cms.land(files, tmp_path)

    assert [p for p, _ in server.requests[before:]] == []


def test_the_dag_tasks_land_a_cms_release(server, release, tmp_path, monkeypatch):
    from medidash.orchestration import tasks

    monkeypatch.setenv("MEDIDASH_HOME", str(tmp_path))
    found = tasks.resolve_release("cms", YEAR, str(tmp_path / "lake"), "scheduled__2026-12-01")

    folder = Path(tasks.land_raw_files(found))
    checked = tasks.check_headers(str(folder))

    assert found["kind"] == "cms" and found["data_year"] == YEAR
    assert found["fingerprint"] == cms.release_key(cms.resolve(YEAR))
    assert found["source"].startswith("cms:part_b@2025-04-15,part_d@2025-04-15,clinicians@")
    assert folder.is_relative_to(tmp_path / "raw" / "cms" / str(YEAR))
    assert sorted(c["dataset"] for c in checked) == sorted(FILES)
