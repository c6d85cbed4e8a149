"""spark_jobs.jvm: the event writer's jar is compiled from the sources it is named after."""

from __future__ import annotations

import shutil
import zipfile

import pytest

from spark_jobs import jvm


@pytest.fixture
def sources(tmp_path, monkeypatch):
    copy = tmp_path / "java"
    shutil.copytree(jvm.SOURCES, copy)
    monkeypatch.setattr(jvm, "SOURCES", copy)
    monkeypatch.setenv("MEDIDASH_JVM_CACHE", str(tmp_path / "cache"))
    return copy


def test_jar_holds_the_compiled_sources_and_is_reused(sources):
    built = jvm.jar()
    assert built.parent.name == "cache" and built == jvm.jar_path()
    with zipfile.ZipFile(built) as archive:
        names = set(archive.namelist())
    assert "medidash/spark/EventFiles.class" in names
    assert "medidash/spark/RunValuesWriterFactory$RepeatedBinaryDictionaryWriter.class" in names
    stamp = built.stat().st_mtime_ns
    assert jvm.jar() == built and built.stat().st_mtime_ns == stamp  # not rebuilt


def test_a_changed_source_gets_a_new_jar_and_a_compile_error_is_reported(sources):
    before = jvm.jar_path()
    source = sources / "medidash" / "spark" / "EventFiles.java"
    source.write_text(source.read_text().replace("public final class", "public final clas", 1))
    assert jvm.jar_path() != before
    with pytest.raises(RuntimeError, match=r"(?s)javac failed on .*EventFiles\.java:\d+: error"):
        jvm.jar()
    assert not jvm.jar_path().exists()
