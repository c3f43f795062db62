"""Resume from the results file alone, `show` on a bench still in its first run, the bench's
hardware line and `compare` saying which test ran (issue 14), through Typer's runner."""

from __future__ import annotations

import json

from test_engine_fakes import TINY, TINY_DIGITS
from typer.testing import CliRunner

from digitduel.bench.plan import plan_for_models
from digitduel.bench.results import load_results
from digitduel.bench.runner import run_bench
from digitduel.cli.main import app
from digitduel.training.events import BenchStarted

runner = CliRunner()


def _bench(tmp_path, mnist_dir, *extra, out="r.json", rounds="2"):
    args = ["bench", "-m", TINY, "-m", TINY_DIGITS, "--epochs", "1", "-r", rounds]
    args += ["--n-pairs", "50", "--executor", "serial", "--data-dir", str(mnist_dir)]
    return runner.invoke(app, [*args, "-o", str(tmp_path / out), *extra])


def test_resume_from_the_file_alone_grows_rounds_and_refuses_other_settings(tmp_path, mnist_dir):
    assert _bench(tmp_path, mnist_dir).exit_code == 0
    out = str(tmp_path / "r.json")
    res = runner.invoke(app, ["bench", "--resume", "-o", out, "--epochs", "3"])
    assert res.exit_code == 2
    assert res.stderr.startswith("error: --epochs 3 differs from the plan stored in")
    assert res.stderr.count("\n") == 1
    res = runner.invoke(app, ["bench", "--resume", "-o", out, "--set", "aux_weight=2"])
    assert res.exit_code == 2 and "--set aux_weight 2 differs" in res.stderr
    res = runner.invoke(app, ["bench", "--resume", "-o", out, "--data-dir", str(tmp_path)])
    assert res.exit_code == 2 and "--data-dir" in res.stderr

    # the stored settings themselves agree; -r grows the bench: only round 3 runs
    res = runner.invoke(app, ["bench", "--resume", "-o", out, "--epochs", "1", "-r", "3"])
    assert res.exit_code == 0, res.output
    assert "resuming: 4 of 6 runs already finished" in res.stdout
    result = load_results(out)
    assert result.status == "finished" and len(result.runs) == 6
    assert result.bench.rounds == 3

    res = runner.invoke(app, ["resume", out, "-r", "4", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["rounds"] == 4 and len(load_results(out).runs) == 8


def test_show_reads_a_bench_still_in_its_first_run(tmp_path, mnist_dir):
    out = tmp_path / "running.json"
    plan = plan_for_models([TINY], train_overrides={"epochs": 1}, data_dir=str(mnist_dir))
    seen = []

    def listener(event):
        if isinstance(event, BenchStarted):  # before any run has finished
            seen.append(runner.invoke(app, ["show", str(out)]))

    run_bench(plan, out, on_event=listener)
    assert seen and seen[0].exit_code == 0, seen[0].output
    assert "(running)" in seen[0].stdout and "0/0" in seen[0].stdout


def test_bench_prints_the_hardware_line_show_prints(tmp_path, mnist_dir):
    res = _bench(tmp_path, mnist_dir)
    assert res.exit_code == 0, res.output
    shown = runner.invoke(app, ["show", str(tmp_path / "r.json")])
    line = [ln for ln in shown.stdout.splitlines() if "executor x" in ln]
    assert line and line[0] in res.stdout.splitlines()
    assert "serial executor x1" in line[0] and "data: " in line[0]


def test_compare_names_its_test_per_row_and_warns_on_unlike_setups(tmp_path, mnist_dir):
    assert _bench(tmp_path, mnist_dir, out="a.json", rounds="3").exit_code == 0
    assert _bench(tmp_path, mnist_dir, "--seed", "7", out="b.json", rounds="3").exit_code == 0
    assert _bench(tmp_path, mnist_dir, "--n-pairs", "60", out="c.json", rounds="3").exit_code == 0
    a, b, c = (str(tmp_path / n) for n in ("a.json", "b.json", "c.json"))

    res = runner.invoke(app, ["compare", a, b], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert "paired where both files drew the same pairs" in res.stdout
    assert "welch" in res.stdout and res.stderr == ""  # other seeds: other draws, same set-up
    doc = json.loads(runner.invoke(app, ["compare", a, b, "--json"]).stdout)
    assert {row["test"] for row in doc["rows"]} == {"welch"}

    res = runner.invoke(app, ["compare", a, c, "--json"])
    assert res.exit_code == 0, res.output
    assert res.stderr.splitlines() == ["warning: pairs differ: A 50, B 60: the verdicts compare "
                                       "more than models"]  # fmt: skip
    assert json.loads(res.stdout)["differences"] == ["pairs differ: A 50, B 60"]

    doc = json.loads(runner.invoke(app, ["compare", a, "--json"]).stdout)
    assert doc["rows"][0]["reference"] == doc["rows"][0]["label"]
    assert {row["test"] for row in doc["rows"][1:]} == {"paired"}


def test_bench_and_tune_write_to_the_one_default_place(tmp_path, mnist_dir, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = [
        "--epochs",
        "1",
        "--n-pairs",
        "40",
        "--executor",
        "serial",
        "--data-dir",
        str(mnist_dir),
    ]
    res = runner.invoke(app, ["bench", "-m", TINY, *data])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["tune", TINY, "--grid", "lr=1e-3,1e-2", "-k", "2", *data])
    assert res.exit_code == 0, res.output
    written = sorted(p.name for p in (tmp_path / "digitduel-results").glob("*.json"))
    assert [n.split("-", 2)[2] for n in written] == [f"{TINY}.json", f"tune-{TINY}.json"]
    assert not list(tmp_path.glob("*.json"))  # nothing loose in the working directory
