"""The release fingerprint of a local folder covers every byte of every file, and its names."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from medidash.orchestration.tasks import resolve_release

MB = 1 << 20


def fingerprint(folder: Path) -> str:
    """As the DAG's first task computes it."""
    return resolve_release(str(folder), 2023, str(folder.parent / "lake"), "manual__1")[
        "fingerprint"
    ]


@pytest.fixture
def folder(tmp_path) -> Path:
    root = tmp_path / "release"
    (root / "sub").mkdir(parents=True)
    header = b"Rndrng_NPI,HCPCS_Cd,Tot_Srvcs\n"
    rows = b"".join(b"%010d,99213,%d\n" % (1000000000 + i, i % 97) for i in range(250_000))
    (root / "part_b.csv").write_bytes((header + rows)[: 4 * MB])
    (root / "sub" / "dac.csv").write_bytes(b"NPI,Ind_PAC_ID\n1,2\n")
    return root


def test_a_same_size_change_in_the_middle_of_a_4_mb_file_is_a_new_release(folder):
    before = fingerprint(folder)
    path = folder / "part_b.csv"
    stat = path.stat()
    with open(path, "r+b") as fh:
        fh.seek(2 * MB)
        byte = fh.read(1)
        fh.seek(2 * MB)
        fh.write(b"8" if byte != b"8" else b"9")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # not even the time tells

    assert path.stat().st_size == 4 * MB
    assert fingerprint(folder) != before


def test_same_bytes_same_fingerprint_and_names_count(folder):
    before = fingerprint(folder)
    assert fingerprint(folder) == before

    (folder / "sub" / "dac.csv").rename(folder / "sub" / "dac2.csv")
    renamed = fingerprint(folder)
    assert renamed != before

    # moving bytes from one file's end to the next file's start is not the same release
    (folder / "sub" / "dac2.csv").rename(folder / "sub" / "dac.csv")
    assert fingerprint(folder) == before
    (folder / "a.csv").write_bytes(b"x")
    (folder / "b.csv").write_bytes(b"")
    split_one = fingerprint(folder)
    (folder / "a.csv").write_bytes(b"")
    (folder / "b.csv").write_bytes(b"x")
    assert fingerprint(folder) != split_one
