"""The lake's storage, addressed by URI: every listing, rename, delete and write of the Spark
jobs goes through Hadoop's FileSystem API (the running Spark session's JVM and Hadoop
configuration), so the same code runs with the lake on a shared filesystem (`file://`, an NFS or
EFS mount seen at the same path by every node) or on S3 (`s3a://`, hadoop-aws in the Spark
image).

A location is a URI string: `file:///abs/path`, `s3a://bucket/prefix`, or a plain path, which
means `file://` (`to_uri`). Paths are not percent-encoded (Hadoop's `Path` quotes them itself),
so `data_year=2023` stays as it is. `file://` locations use Hadoop's raw local filesystem: no
`.crc` side files are written or hidden, and a rename is the POSIX rename (atomic, replacing).

Outside a Spark process (an Airflow task, the CLI, a test) there is no Hadoop: `file://` is
reached with the local filesystem's own calls (those the raw local filesystem makes), and only
`read_text` and `delete` reach `s3a://`, through the S3 client their caller hands in (`s3`,
boto3's: the orchestration makes it from Airflow's `medidash_s3` connection). This module
never reads a connection itself, so the Spark jobs need no Airflow.
"""

from __future__ import annotations

import fnmatch
import os
import sys
import uuid
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

LOCAL = "file"
# schemes whose `create` is visible only once closed and whole (a PUT), and where a rename is a
# copy and delete: small files are written in place, never through a rename
OBJECT_STORES = frozenset({"s3a", "s3", "gs", "abfs", "abfss", "wasb", "wasbs", "oss"})


def to_uri(location: str | os.PathLike) -> str:
    """The location as a URI: a plain path becomes `file://` + its absolute path, `s3://`
    becomes `s3a://` (Hadoop's S3 connector), any other URI stays as it is."""
    text = os.fspath(location)
    parts = urlsplit(text)
    if parts.scheme == "s3":
        return "s3a" + text[len("s3") :]
    if not parts.scheme:
        return "file://" + os.path.abspath(text)
    if parts.scheme == LOCAL:
        return "file://" + os.path.abspath(parts.path)  # file:/x, file:///x → file:///x
    return text


def scheme(location: str | os.PathLike) -> str:
    return urlsplit(to_uri(location)).scheme


def is_local(location: str | os.PathLike) -> bool:
    """True for a location on a filesystem this process sees as a path (`file://`)."""
    return scheme(location) == LOCAL


def is_object_store(location: str | os.PathLike) -> bool:
    return scheme(location) in OBJECT_STORES


def local_path(location: str | os.PathLike) -> str:
    """The filesystem path of a `file://` location (ValueError for any other scheme)."""
    uri = to_uri(location)
    parts = urlsplit(uri)
    if parts.scheme != LOCAL:
        raise ValueError(f"{uri} is not on a local filesystem")
    return parts.path


def join(base: str | os.PathLike, *names: str) -> str:
    """`base` / `names`, as a URI."""
    uri = to_uri(base).rstrip("/")
    return "/".join([uri, *(n.strip("/") for n in names)])


def name(location: str | os.PathLike) -> str:
    return to_uri(location).rstrip("/").rsplit("/", 1)[-1]


def parent(location: str | os.PathLike) -> str:
    return to_uri(location).rstrip("/").rsplit("/", 1)[0]


def is_within(location: str | os.PathLike, folder: str | os.PathLike) -> bool:
    """True when `location` is `folder` or lies under it."""
    inner, outer = to_uri(location).rstrip("/"), to_uri(folder).rstrip("/")
    return inner == outer or inner.startswith(outer + "/")


@dataclass(frozen=True)
class Entry:
    """One child of a listed folder."""

    name: str
    uri: str
    is_dir: bool
    size: int
    modified: float  # seconds since the epoch


class S3Client(Protocol):
    """What this module uses of an S3 client (boto3's) outside Spark."""

    exceptions: Any

    def get_object(self, *, Bucket: str, Key: str) -> dict: ...  # noqa: N803 - boto3's names

    def get_paginator(self, operation_name: str) -> Any: ...

    def delete_objects(self, *, Bucket: str, Delete: dict) -> dict: ...  # noqa: N803


def _gateway():
    """(JVM, Hadoop configuration) of this process's running Spark session, else None. A
    process that never imported pyspark (an Airflow task, the CLI) has none, and does not
    import it here."""
    if "pyspark" not in sys.modules:
        return None
    from pyspark import SparkContext

    context = SparkContext._active_spark_context
    if context is None:
        return None
    return context._jvm, context._jsc.hadoopConfiguration()


def _fs(location: str | os.PathLike):
    """(Hadoop FileSystem, Hadoop Path) of a location, through the running session's JVM."""
    gateway = _gateway()
    if gateway is None:
        raise RuntimeError("the lake's storage is reached through a running Spark session")
    jvm, conf = gateway
    uri = to_uri(location)
    path = jvm.org.apache.hadoop.fs.Path(uri)
    if urlsplit(uri).scheme == LOCAL:
        return jvm.org.apache.hadoop.fs.FileSystem.getLocal(conf).getRawFileSystem(), path
    return path.getFileSystem(conf), path


def _posix(location: str | os.PathLike) -> str | None:
    """The local path of a `file://` location when no Spark session runs in this process."""
    return local_path(location) if _gateway() is None and is_local(location) else None


def exists(location: str | os.PathLike) -> bool:
    if (local := _posix(location)) is not None:
        return os.path.exists(local)
    fs, path = _fs(location)
    return bool(fs.exists(path))


def is_dir(location: str | os.PathLike) -> bool:
    if (local := _posix(location)) is not None:
        return os.path.isdir(local)
    fs, path = _fs(location)
    try:
        return bool(fs.getFileStatus(path).isDirectory())
    except Exception as error:  # noqa: BLE001 - py4j wraps FileNotFoundException
        if "FileNotFoundException" in str(error):
            return False
        raise


def listing(folder: str | os.PathLike, pattern: str = "*") -> list[Entry]:
    """The children of `folder` whose names match the glob `pattern`, sorted by name; empty
    when the folder does not exist."""
    if (local := _posix(folder)) is not None:
        return _local_listing(folder, local, pattern)
    fs, path = _fs(folder)
    if not fs.exists(path):
        return []
    base = to_uri(folder).rstrip("/")
    entries = []
    for status in fs.listStatus(path):
        child = status.getPath().getName()
        if fnmatch.fnmatchcase(child, pattern):
            entries.append(
                Entry(
                    child,
                    f"{base}/{child}",
                    bool(status.isDirectory()),
                    int(status.getLen()),
                    status.getModificationTime() / 1000,
                )
            )
    return sorted(entries, key=lambda e: e.name)


def _local_listing(folder, local: str, pattern: str) -> list[Entry]:
    if not os.path.isdir(local):
        return []
    base = to_uri(folder).rstrip("/")
    entries = []
    for child in os.scandir(local):
        if fnmatch.fnmatchcase(child.name, pattern):
            stat = child.stat(follow_symlinks=False)
            is_folder = child.is_dir()
            size = 0 if is_folder else stat.st_size
            entries.append(
                Entry(child.name, f"{base}/{child.name}", is_folder, size, stat.st_mtime)
            )
    return sorted(entries, key=lambda e: e.name)


def names(folder: str | os.PathLike, pattern: str = "*") -> list[str]:
    return [entry.name for entry in listing(folder, pattern)]


def mkdirs(folder: str | os.PathLike) -> None:
    if (local := _posix(folder)) is not None:
        os.makedirs(local, exist_ok=True)
        return
    fs, path = _fs(folder)
    if not fs.mkdirs(path):
        raise OSError(f"{to_uri(folder)}: could not create the folder")


def delete(location: str | os.PathLike, s3: S3Client | None = None) -> None:
    """Remove a file or a folder with everything in it; nothing when it does not exist. A
    symbolic link (the lake's `link` form) is removed itself, also when its target is gone,
    which Hadoop's raw local filesystem takes for a missing file. `s3`: the client that
    reaches an `s3a://` location outside Spark."""
    if is_local(location) and os.path.islink(local_path(location)):
        os.unlink(local_path(location))
        return
    if _gateway() is None:
        _delete_outside_spark(to_uri(location), s3)
        return
    fs, path = _fs(location)
    fs.delete(path, True)


def rename(source: str | os.PathLike, target: str | os.PathLike) -> None:
    """Move `source` to `target`. On `file://` this is POSIX rename (atomic; it replaces a
    file or a link at `target`); on an object store it is a copy and a delete."""
    if (local := _posix(source)) is not None:
        os.rename(local, local_path(target))
        return
    fs, path = _fs(source)
    _, destination = _fs(target)
    if not fs.rename(path, destination):
        raise OSError(f"could not rename {to_uri(source)} to {to_uri(target)}")


def read_text(location: str | os.PathLike, s3: S3Client | None = None) -> str:
    """A small file's text; `s3`: the client that reaches an `s3a://` location outside Spark."""
    gateway = _gateway()
    if gateway is None:
        return _read_outside_spark(to_uri(location), s3)
    jvm, _ = gateway
    fs, path = _fs(location)
    stream = fs.open(path)
    try:
        return str(jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8"))
    finally:
        stream.close()


def write_text(location: str | os.PathLike, text: str) -> None:
    """Write a small file whole: a reader finds the old content or the new, never part of it.
    On an object store the object appears whole when it is closed (one PUT); elsewhere it is
    written beside the target and renamed over it."""
    if (local := _posix(location)) is not None:
        partial = os.path.join(
            os.path.dirname(local), f".{os.path.basename(local)}.{uuid.uuid4().hex}"
        )
        with open(partial, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(partial, local)
        return
    fs, path = _fs(location)
    if is_object_store(location):
        _write(fs, path, text)
        return
    _, partial = _fs(join(parent(location), f".{name(location)}.{uuid.uuid4().hex}"))
    _write(fs, partial, text)
    if not fs.rename(partial, path):
        fs.delete(partial, False)
        raise OSError(f"could not replace {to_uri(location)}")


def _write(fs, path, text: str) -> None:
    stream = fs.create(path, True)
    try:
        stream.write(bytearray(text.encode("utf-8")))
    finally:
        stream.close()


def copy_from_local(source: str | os.PathLike, target: str | os.PathLike) -> None:
    """Copy a file of this machine (a symbolic link is followed) to `target`, replacing it."""
    fs, path = _fs(target)
    jvm, _ = _gateway()
    fs.copyFromLocalFile(False, True, jvm.org.apache.hadoop.fs.Path(to_uri(source)), path)


def _s3_object(uri: str, s3: S3Client | None, doing: str) -> tuple[S3Client, str, str]:
    if urlsplit(uri).scheme != "s3a":
        raise RuntimeError(f"{uri}: outside Spark only file:// and s3a:// are {doing}")
    if s3 is None:
        raise RuntimeError(f"{uri}: outside Spark an s3a:// location needs the caller's S3 client")
    parts = urlsplit(uri)
    return s3, parts.netloc, parts.path.strip("/")


def _read_outside_spark(uri: str, s3: S3Client | None) -> str:
    if urlsplit(uri).scheme == LOCAL:
        with open(local_path(uri), encoding="utf-8") as handle:
            return handle.read()
    client, bucket, key = _s3_object(uri, s3, "read")
    try:
        body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except client.exceptions.NoSuchKey as error:
        raise FileNotFoundError(uri) from error
    return body.decode("utf-8")


def _delete_outside_spark(uri: str, s3: S3Client | None) -> None:
    if urlsplit(uri).scheme == LOCAL:
        import shutil

        path = local_path(uri)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        elif os.path.lexists(path):
            os.unlink(path)
        return
    client, bucket, key = _s3_object(uri, s3, "deleted")
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key):
        batch = [
            {"Key": o["Key"]}
            for o in page.get("Contents", [])
            if o["Key"] == key or o["Key"].startswith(key + "/")
        ]
        if batch:
            client.delete_objects(Bucket=bucket, Delete={"Objects": batch})
