"""A bench of the user's own models resumes from its results file alone (the file records
where each model came from), as a bench of built-ins does; what cannot be found again is one
line, exit 2, never a traceback."""

from __future__ import annotations

import json

import pytest
from test_user_wire import USER_NET, _cli_bench
from typer.testing import CliRunner

from digitduel.bench import load_results
from digitduel.cli.main import app
from digitduel.models.user import forget_user_models

runner = CliRunner()


pytestmark = pytest.mark.usefixtures("clean_user_models")


@pytest.fixture
def finished_bench(tmp_path, mnist_dir):
    """A one-round bench of a user file's model, and a registry that has forgotten it (as a
    new `digitduel` process would)."""
    user_file = tmp_path / "wire_nets.py"
    user_file.write_text(USER_NET)
    out = tmp_path / "r.json"
    first = _cli_bench(user_file, out, mnist_dir)
    assert first.exit_code == 0, first.output
    forget_user_models()
    return user_file, out


def test_resume_loads_the_recorded_model_file_without_model_file(finished_bench):
    user_file, out = finished_bench
    res = runner.invoke(app, ["resume", str(out), "-r", "2"])
    assert res.exit_code == 0, res.output
    result = load_results(out)
    assert result.status == "finished"
    assert sorted(run.round for run in result.runs) == [0, 1]
    assert result.models["wire-net"].files[0].path == str(user_file)


def test_resume_of_a_model_whose_file_is_gone_says_so_in_one_line(finished_bench):
    user_file, out = finished_bench
    user_file.unlink()
    res = runner.invoke(app, ["resume", str(out), "-r", "2"])
    assert res.exit_code == 2
    [line] = res.stderr.strip().splitlines()
    assert line == (
        f"error: model 'wire-net' of {out} came from {user_file}, which is gone; give its file "
        "again: --model-file PATH.py[:Name]"
    )
    assert len(load_results(out).runs) == 1  # nothing lost, nothing run


def test_resume_of_a_model_the_file_has_no_record_of_is_one_line_not_a_traceback(finished_bench):
    _, out = finished_bench
    written = json.loads(out.read_text())
    written["models"] = None  # as a file written by hand, or by a tool that dropped it
    out.write_text(json.dumps(written))
    res = runner.invoke(app, ["resume", str(out), "-r", "2"])
    assert res.exit_code == 2
    [line] = res.stderr.strip().splitlines()
    assert line.startswith(f"error: model 'wire-net' of {out} is not registered here; give")
    assert "Traceback" not in res.output


def test_resume_of_a_model_whose_file_changed_is_refused_by_name(finished_bench):
    user_file, out = finished_bench
    user_file.write_text(USER_NET.replace("2 * 14 * 14, 2", "2 * 14 * 14, 1"))  # an edit
    res = runner.invoke(app, ["resume", str(out), "-r", "2"])
    assert res.exit_code == 2
    [line] = res.stderr.strip().splitlines()
    assert line.startswith(f"error: --resume: model 'wire-net': {user_file} changed since")
    assert len(load_results(out).runs) == 1
