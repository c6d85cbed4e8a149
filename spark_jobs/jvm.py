"""MediDash's JVM code (`spark_jobs/java`): compiled into a jar against the installed pyspark's
own jars, once per version of the sources, and put on every Spark JVM's classpath.

The jar is named by a hash of the sources and of the pyspark version, so a stale jar is never
used; it is built on first use (a few seconds of `javac`) into `MEDIDASH_JVM_CACHE` (default
`~/.cache/medidash/jvm`), or ahead of time by `python -m spark_jobs.jvm` (make install does).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
import zipfile
from importlib.metadata import version
from pathlib import Path

from medidash import settings

SOURCES = Path(__file__).parent / "java"


def _sources() -> list[Path]:
    return sorted(SOURCES.rglob("*.java"))


def jar_path() -> Path:
    # the installed distribution's version, not pyspark.__version__: naming the jar must not
    # import pyspark (the DAG's package_code task names it in an Airflow worker)
    digest = hashlib.sha256(version("pyspark").encode())
    for source in _sources():
        digest.update(source.relative_to(SOURCES).as_posix().encode())
        digest.update(source.read_bytes())
    cache = settings.current().jvm_cache or Path.home() / ".cache/medidash/jvm"
    return cache / f"medidash-spark-{digest.hexdigest()[:16]}.jar"


def jar() -> Path:
    """The jar of the current sources, built if it is not there yet."""
    target = jar_path()
    if target.exists():
        return target
    javac = shutil.which("javac")
    if javac is None:
        raise RuntimeError(
            "MediDash compiles its Spark writer with javac, which is not installed: install a "
            "JDK 17 (Debian: apt-get install openjdk-17-jdk-headless)"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    import pyspark

    classpath = str(Path(pyspark.__file__).parent / "jars" / "*")
    with tempfile.TemporaryDirectory(dir=target.parent) as work:
        classes = Path(work) / "classes"
        result = subprocess.run(
            [javac, "--release", "17", "-nowarn", "-cp", classpath, "-d", str(classes)]
            + [str(s) for s in _sources()],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            first = "\n".join(result.stderr.strip().splitlines()[:20])
            raise RuntimeError(f"javac failed on {SOURCES}:\n{first}")
        partial = Path(work) / target.name
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\r\n\r\n")
            for path in sorted(classes.rglob("*.class")):
                archive.write(path, path.relative_to(classes).as_posix())
        partial.replace(target)  # atomic: a concurrent build writes the same content
    return target


if __name__ == "__main__":
    print(jar())
    sys.exit(0)
