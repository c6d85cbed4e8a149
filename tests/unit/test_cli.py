"""The `medidash` command line talks like a tool (style rule 14): every option of every command
says what it does, `medidash --help` lists every command with one line, and the commands that
take typed parameters get them from the parsed arguments."""

from __future__ import annotations

import argparse
import subprocess
import sys

from medidash.cli import build_parser


def _commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def test_every_option_of_every_command_has_help_text():
    missing = [
        f"{name} {'/'.join(action.option_strings) or action.dest}"
        for name, command in _commands(build_parser()).items()
        for action in command._actions
        if not isinstance(action, argparse._HelpAction)
        and (not action.help or action.help == argparse.SUPPRESS)
    ]
    assert not missing, missing


def test_medidash_help_lists_every_command_on_one_line_each():
    commands = _commands(build_parser())
    result = subprocess.run(
        [sys.executable, "-m", "medidash.cli", "--help"],
        capture_output=True,
        text=True,
        env={"COLUMNS": "80", "PATH": ""},
        check=True,
    )
    lines = result.stdout.splitlines()
    for name in commands:
        listed = [k for k, line in enumerate(lines) if line.split()[:1] == [name]]
        assert len(listed) == 1 and len(lines[listed[0]].split()) > 1, (name, result.stdout)
        after = lines[listed[0] + 1].split()[:1]
        assert not after or after[0] in commands or after[0].endswith(":"), (
            f"{name}'s help wraps onto a second line:\n{result.stdout}"
        )


def test_run_and_demo_have_a_verbose_switch_and_demo_no_reentry():
    parser = build_parser()
    assert parser.parse_args(["run", "--input", "x", "--year", "2022", "--verbose"]).verbose
    assert parser.parse_args(["demo", "--verbose"]).verbose
    from medidash.orchestration import demo

    source = open(demo.__file__).read()
    assert "medidash.cli" not in source and "parse_args" not in source, "demo re-enters the CLI"


def test_every_command_makes_a_typed_call():
    """Each command's function imports one function of the module owning the stage and calls
    it with typed parameters: every parameter of that function is annotated (no Namespace)."""
    import ast
    import importlib
    import inspect

    from medidash import cli

    tree = ast.parse(inspect.getsource(cli))
    called = {}
    for func in tree.body:
        if isinstance(func, ast.FunctionDef) and func.name.startswith("_"):
            for node in ast.walk(func):
                if isinstance(node, ast.ImportFrom):
                    for alias in node.names:
                        called[func.name] = (node.module, alias.name)
    assert set(called) == {f.__name__ for f in cli.COMMANDS.values()}, called
    untyped = []
    for module, name in called.values():
        target = getattr(importlib.import_module(module), name)
        for parameter in inspect.signature(target).parameters.values():
            if parameter.annotation is inspect.Parameter.empty:
                untyped.append(f"{module}.{name}({parameter.name})")
    assert not untyped, untyped


SECRET = "s3cr3t-Pa55"  # pragma: allowlist secret (a made-up one)
WITH_PASSWORD = [
    f"postgresql://medidash_owner:{SECRET}@db.example:5432/medidash",
    f"postgres://u:{SECRET}@h/d?sslmode=require",
    f"postgresql://u@h/d?password={SECRET}",
    f"host=h dbname=d password={SECRET}",
]


def test_a_database_url_holding_a_password_is_refused_on_every_command_line(capsys):
    from spark_jobs.jobs import parser as job_parser

    commands = {
        "run": (build_parser(), ["run", "--input", "x", "--year", "2023"]),
        "serve": (build_parser(), ["serve"]),
        "step 3": (
            job_parser("step 3", database=True),
            ["--year", "2023", "--lake", "l", "--run-id", "r"],
        ),
    }
    for name, (parser, args) in commands.items():
        for url in WITH_PASSWORD:
            try:
                parser.parse_args([*args, "--database-url", url])
            except SystemExit as stop:
                assert stop.code == 2, (name, url)
            else:
                raise AssertionError(f"{name} took a password on its command line: {url}")
            error = capsys.readouterr().err
            assert "holds a password" in error and SECRET not in error, (name, error)
            assert "MEDIDASH_" in error and "_DATABASE_URL" in error, error
        # without a password (peer or trust authentication, a service file) the URL is taken
        parsed = parser.parse_args([*args, "--database-url", "postgresql://u@h:5432/d"])
        assert parsed.database_url == "postgresql://u@h:5432/d", name


def test_the_environment_variable_may_hold_the_password(monkeypatch):
    from spark_jobs.jobs import parser as job_parser

    url = WITH_PASSWORD[0]
    monkeypatch.setenv("MEDIDASH_DATABASE_URL", url)
    parsed = job_parser("step 3", database=True).parse_args(
        ["--year", "2023", "--lake", "l", "--run-id", "r"]
    )
    assert parsed.database_url == url
