"""One grammar across commands (issue 14): the same run options, help from the settings
schema at 80 columns, Typer's usage errors as one line, plain piped output."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from digitduel.cli.main import app
from digitduel.settings import BenchSettings, TrainSettings

runner = CliRunner()
SHARED = [
    "-r, --rounds", "-o, --out", "-j, --jobs", "--set", "--epochs", "--device", "--data-dir",
    "--offline", "--executor", "--seed", "--json", "--n-pairs", "--resume",
]  # fmt: skip


def _help(command: str) -> str:
    res = runner.invoke(app, [command, "-h"], env={"COLUMNS": "80", "TERM": "dumb"})
    assert res.exit_code == 0, res.output
    return res.stdout


def _option_rows(text: str) -> dict[str, str]:
    """Help's option rows by long flag: the row's text up to the next option (the help)."""
    rows: dict[str, str] = {}
    current = None
    for line in text.splitlines():
        cells = [c for c in line.strip("│ ").split() if c != "*"]  # "*": required
        indent = len(line) - len(line.lstrip("│ *"))  # a wrapped help line is indented more
        if cells and cells[0].startswith("--") and indent <= 5:
            current = cells[0]
            rows[current] = " ".join(cells)
        elif current and cells and not line.startswith("╰"):
            rows[current] += " " + " ".join(cells)
    return rows


def _flags(text: str) -> set[str]:
    found = set()
    for line in text.splitlines():
        m = re.match(r"[│ ]*(?:\*\s+)?(--[\w-]+)\s+(-\w)?", line)
        if m:
            found.add(f"{m.group(2)}, {m.group(1)}" if m.group(2) else m.group(1))
    return found


def test_bench_tune_and_reproduce_share_the_run_options_with_the_same_help():
    helps = {c: _help(c) for c in ("bench", "tune", "reproduce")}
    for command, text in helps.items():
        assert set(SHARED) <= _flags(text), (command, set(SHARED) - _flags(text))
    rows = {c: _option_rows(t) for c, t in helps.items()}
    for flag in ("--rounds", "--out", "--jobs", "--set", "--seed", "--device", "--executor"):
        assert rows["bench"][flag] == rows["tune"][flag] == rows["reproduce"][flag], flag
    # -r is rounds everywhere; tune's own options have their own letters
    assert "-k" in rows["tune"]["--folds"] and "-g" in rows["tune"]["--grid"]


def test_help_comes_from_the_settings_schema_with_defaults_and_readable_metavars():
    text = _help("bench")
    flat = " ".join(" ".join(line.strip("│ ") for line in text.splitlines()).split())
    for key, field in {**TrainSettings.model_fields, **BenchSettings.model_fields}.items():
        if key in ("seed", "n_pairs", "device", "eval_every", "batch_size"):
            assert " ".join(field.description.split()) in flat, key
    assert "Default: 0." in flat and "Default: 1000." in flat and "Default: auto." in flat
    for command in ("bench", "tune", "reproduce", "compare", "show", "models", "resume"):
        text = _help(command)
        assert not re.search(
            r"<(bool|int|float|str|path|list\[str\])>", text.split("Arguments")[-1]
        )
        assert max(map(len, text.splitlines())) <= 80, command
    assert re.search(r"--set\s+KEY=VALUE", _help("bench"))
    assert re.search(r"--data-dir\s+PATH", _help("reproduce"))


def _cli(*args: str, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "80", **(env_extra or {})}
    return subprocess.run(
        [sys.executable, "-m", "digitduel", *args],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bench", "--bogus"], "No such option: --bogus"),
        (["tune", "x"], "Missing option '--grid'"),
        (["bench", "-r", "x"], "Invalid value for '--rounds'"),
        (["nosuch"], "No such command 'nosuch'"),
    ],
)
def test_typer_usage_errors_are_one_line_exit_2(args, message):
    res = _cli(*args)
    assert res.returncode == 2
    assert res.stderr.count("\n") == 1 and res.stderr.startswith("error: "), res.stderr
    assert message in res.stderr and "╭" not in res.stderr


def test_piped_tables_are_plain_one_line_per_record_within_columns():
    res = _cli("presets", env_extra={"COLUMNS": "60"})
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert not set("─│┃━┏┓┗┛┡┩╭╮╰╯└┘┌┐├┤") & set(res.stdout)
    assert max(len(line.rstrip()) for line in lines) <= 60
    names = [line.split()[0] for line in lines[2:] if line.strip()]
    assert "jomeau" in names and "quick" in names  # one line per preset, its name first


def test_resume_command_is_listed_and_refuses_a_missing_file(tmp_path):
    res = runner.invoke(app, ["resume", str(tmp_path / "none.json")])
    assert res.exit_code == 2 and "nothing to resume" in res.stderr
    res = runner.invoke(app, ["bench", "--resume"])
    assert res.exit_code == 2 and "--resume needs --out FILE" in res.stderr


def test_one_short_key_per_report_with_the_old_name_as_an_alias():
    res = runner.invoke(app, ["models", "--report", "sgd", "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert [r["name"] for r in rows] == ["sgd-convnet", "sgd-ws", "sgd-ws-aux"]
    assert {r["report"] for r in rows} == {"sgd"}
    old = runner.invoke(app, ["models", "--report", "convnet-ws-aux", "--json"])
    assert json.loads(old.stdout) == rows
    from digitduel.bench.presets import load_preset

    assert load_preset("sgd").name == load_preset("convnet-ws-aux").name == "sgd"
