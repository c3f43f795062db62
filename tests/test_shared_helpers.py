"""The helpers every command and screen share (issue 12: one copy each): settings layering,
`--set`/`--grid` literals, the first pydantic error as one line, where results go, the run
options of `bench` and `tune`, the devices a picker offers, numbers over rounds."""

from __future__ import annotations

import io
import re

import pytest
import typer.main
from rich.console import Console

from digitduel.cli.main import app
from digitduel.numbers import mean_std, pct
from digitduel.settings import (
    TrainSettings,
    check_field,
    default_results_path,
    first_error,
    parse_literal,
    split_assignment,
    split_keys,
)


def test_split_keys_layers_later_wins_and_none_is_not_set():
    train, bench, unknown = split_keys(
        {"optimizer": "sgd", "rounds": 2, "lrr": 1}, {"optimizer": None, "rounds": 3}
    )
    assert train == {"optimizer": "sgd"}  # an unset flag (None) does not undo --set
    assert bench == {"rounds": 3}  # a given flag wins over --set
    assert unknown == ["lrr"]


def test_literals_of_set_and_grid():
    assert parse_literal("1e-3") == 0.001 and parse_literal('["swap"]') == ["swap"]
    assert parse_literal("sgd") == "sgd"  # a bare word is a string
    with pytest.raises(ValueError):
        parse_literal("[1, ", bare_words=False)
    assert split_assignment(" batch-size = 50 ") == ("batch_size", "50")
    assert split_assignment("lr") is None and split_assignment("=1") is None


def test_first_error_speaks_the_users_words():
    with pytest.raises(Exception) as info:
        TrainSettings(lrr=1)
    assert first_error(info.value) == ("lrr", "unknown key")
    with pytest.raises(Exception) as info:
        TrainSettings(augment=["swap", "swap"])
    assert first_error(info.value) == ("augment", "augmentations must not repeat")
    # the TUI form shows the same text, without pydantic's "Value error, "
    assert check_field("augment", ["swap", "swap"]) == "augmentations must not repeat"


def test_default_results_path_names_time_and_run():
    path = default_results_path("tune-jomeau aux/2")
    assert path.parent.as_posix() == "digitduel-results"
    assert re.fullmatch(r"\d{8}-\d{6}-tune-jomeau_aux_2\.json", path.name)


def _options(command: str) -> dict[str, tuple]:
    click_app = typer.main.get_command(app)
    return {p.name: (tuple(p.opts), p.help) for p in click_app.commands[command].params}


def test_bench_and_tune_declare_their_run_options_alike():
    shared = ["device", "data_dir", "offline", "out", "resume", "executor", "jobs", "as_json"]
    bench, tune = _options("bench"), _options("tune")
    assert [bench[k] for k in shared] == [tune[k] for k in shared]
    assert bench["out"][0] == ("--out", "-o") and bench["jobs"][0] == ("--jobs", "-j")


def test_available_devices_are_each_accepted():
    from digitduel.training.device import available_devices, resolve_device

    devices = available_devices()
    assert devices[:2] == ["auto", "cpu"]
    for name in devices:
        resolve_device(name)  # no DeviceError: a picker offers only what this machine has


def test_one_round_has_a_mean_and_no_spread():
    assert mean_std([]) == (None, None)
    assert mean_std([0.5]) == (0.5, None)
    mean, std = mean_std([0.9, 0.8])
    assert pct(mean, std) == "85.00 ± 7.07" and pct(mean, std, 2) == "85.00 ± 7.07 (2)"
    assert pct(0.5) == "50.00" and pct(None) == "-" and pct(97.3, None, scale=1) == "97.30"


def test_a_bench_download_is_a_bar_of_the_bench_display():
    from digitduel.report.progress import make_listener

    console = Console(file=io.StringIO(), force_terminal=True, width=100)
    with make_listener(console) as listener:
        listener.on_download("t10k-labels-idx1-ubyte.gz", 0, 4542)
        listener.on_download("t10k-labels-idx1-ubyte.gz", 4542, 4542)
        [task] = listener.progress.tasks
        assert task.finished and "t10k-labels" in task.description
    with make_listener(Console(file=io.StringIO())) as plain:  # not a terminal: no bar
        plain.on_download("t10k-labels-idx1-ubyte.gz", 0, 4542)
        assert not hasattr(plain, "progress")


def test_the_tui_form_takes_kinds_and_choices_from_the_schema():
    from digitduel.tui.form import FIELD_BY_KEY

    assert FIELD_BY_KEY["optimizer"].choices == ("adam", "sgd", "rmsprop")
    assert FIELD_BY_KEY["executor"].choices == ("auto", "serial", "processes", "batched", "ray")
    assert FIELD_BY_KEY["lr2"].kind == "float" and FIELD_BY_KEY["augment"].kind == "list"
    assert FIELD_BY_KEY["n_pairs"].hint == "1000" and FIELD_BY_KEY["lr"].hint == "recipe"
