"""Property-based tests (hypothesis) for what users and crashes feed digitduel: presets,
IDX files, journals, results files and command-line values, valid and damaged. Never a
traceback; always the documented outcome (exit 2 for usage, 1 for data; for journals, every
valid line kept). Bounded: a few dozen examples each, the whole file in seconds."""

from __future__ import annotations

import gzip
import json
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from test_engine_fakes import TINY, TINY_DIGITS, TINY_MSE
from typer.testing import CliRunner

from digitduel.bench.journal import journal_path, load_journal
from digitduel.bench.plan import plan_for_models
from digitduel.bench.presets import load_preset
from digitduel.bench.results import RunRecord, load_results
from digitduel.cli.main import app
from digitduel.data.idx import parse_idx
from digitduel.errors import ConfigError, DataError, DigitduelError
from digitduel.settings import check_field

BOUNDED = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,  # the same examples every run: a failure is reproducible in CI
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
runner = CliRunner()

# -- values, valid and not ---------------------------------------------------------------

VALID = {
    "epochs": st.integers(1, 5),
    "lr": st.floats(1e-4, 1.0),
    "batch_size": st.integers(1, 64),
    "optimizer": st.sampled_from(["adam", "sgd", "rmsprop"]),
    "momentum": st.floats(0, 0.9),
    "rounds": st.integers(1, 3),
    "seed": st.integers(0, 1000),
    "n_pairs": st.integers(2, 100),
    "augment": st.sampled_from([[], ["swap"], ["swap", "crop_flip"]]),
}
ANYTHING = st.one_of(
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.lists(st.text(max_size=4), max_size=3),
)


def setting_values(draw_valid: bool):
    if draw_valid:
        return st.fixed_dictionaries({}, optional=VALID)
    keys = st.sampled_from([*VALID, "eval_every", "folds", "loss", "no_such_key"])
    return st.dictionaries(keys, ANYTHING, min_size=1, max_size=3)


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return (
            "nan"
            if math.isnan(value)
            else ("inf" if value > 0 else "-inf")
            if math.isinf(value)
            else repr(value)
        )
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(value) if isinstance(value, str) else str(value)


def preset_text(settings_table: dict, models: list[str]) -> str:
    lines = ['name = "generated"', "[settings]"]
    lines += [f"{k} = {toml_value(v)}" for k, v in settings_table.items()]
    for model in models:
        lines += ["[[contestants]]", f"model = {json.dumps(model)}"]
    return "\n".join(lines) + "\n"


MODELS = st.lists(
    st.sampled_from([TINY, TINY_DIGITS, TINY_MSE, "no-such-model"]),
    min_size=1,
    max_size=2,
    unique=True,
)


@st.composite
def presets(draw):
    """(preset bytes, whether it is valid as written): valid settings, mutated ones, and
    byte-level damage (cut short, a byte replaced, bytes that are not UTF-8)."""
    valid = draw(st.booleans())
    table = draw(setting_values(valid))
    models = draw(MODELS)
    data = preset_text(table, models).encode()
    damage = draw(st.sampled_from(["none", "none", "cut", "byte", "latin-1"]))
    if damage == "cut":
        data = data[: draw(st.integers(0, len(data) - 1))]
    elif damage == "byte":
        at = draw(st.integers(0, len(data) - 1))
        data = data[:at] + bytes([draw(st.integers(0, 255))]) + data[at + 1 :]
    elif damage == "latin-1":
        data = data.replace(b"generated", b"g\xe9n\xe9r\xe9")
    return data, valid and damage == "none" and "no-such-model" not in models


@BOUNDED
@given(presets())
def test_any_preset_loads_or_is_one_usage_error(tmp_path, case):
    data, valid = case
    path = tmp_path / "p.toml"
    path.write_bytes(data)
    try:
        plan = load_preset(str(path)).to_plan()
    except ConfigError as err:
        assert not valid, err
        assert err.code == 2 and "\n" not in str(err) and str(path) in str(err)
    else:  # a valid preset, or damage that happened to leave one (a changed name, say)
        assert plan.contestants and plan.bench.rounds >= 1


@BOUNDED
@given(presets())
def test_bench_with_any_preset_exits_with_the_documented_code(tmp_path, case):
    """Through the command: a bad preset is exit 2; a good one reaches the data, which is
    missing here (exit 1), so nothing trains."""
    data, valid = case
    path = tmp_path / "p.toml"
    path.write_bytes(data)
    res = runner.invoke(
        app,
        ["bench", "--preset", str(path), "--data-dir", str(tmp_path / "none"),
         "--executor", "serial", "--out", str(tmp_path / "r.json"), "--force"],
    )  # fmt: skip
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    reached_the_data = "does not exist" in res.stderr
    event(f"valid={valid} exit={res.exit_code}")
    assert res.exit_code == (1 if reached_the_data else 2), res.stderr
    assert reached_the_data or not valid, res.stderr  # (damage may leave a valid preset)


# -- IDX files ------------------------------------------------------------------------------


@st.composite
def idx_files(draw):
    """IDX bytes: a header (valid or not) declaring a shape, a payload of the right length or
    not, gzipped or not, sometimes cut short after gzip."""
    magic = draw(
        st.sampled_from([b"\x00\x00\x08", b"\x00\x00\x0d", b"\x00\x01\x08", b"\xff\x00\x08"])
    )
    shape = draw(st.lists(st.integers(0, 6), min_size=0, max_size=3))
    itemsize = 4 if magic[2] == 0x0D else 1
    size = int(np.prod(shape)) * itemsize if shape else itemsize
    extra = draw(st.sampled_from([0, 0, 0, -1, 1, 7]))
    payload = bytes(draw(st.binary(min_size=max(0, size + extra), max_size=max(0, size + extra))))
    data = magic + bytes([len(shape)]) + np.asarray(shape, ">u4").tobytes() + payload
    data = data[: draw(st.sampled_from([len(data), len(data), 2, 9]))]
    if draw(st.booleans()):
        data = gzip.compress(data, mtime=0)
        data = data[: draw(st.sampled_from([len(data), len(data), len(data) // 2]))]
    return data


@BOUNDED
@given(idx_files())
def test_any_idx_bytes_parse_to_the_declared_shape_or_one_data_error(tmp_path, data):
    from digitduel.data.idx import read_bytes

    path = tmp_path / "x-idx"
    path.write_bytes(data)
    try:
        array = parse_idx(read_bytes(path), path.name)
    except DataError as err:
        assert err.code == 1 and "\n" not in str(err)
        event("refused")
        return
    event("parsed")
    raw = read_bytes(path)
    assert array.shape == tuple(int(v) for v in np.frombuffer(raw, ">u4", raw[3], offset=4))


# -- journals -------------------------------------------------------------------------------

RUN = st.builds(
    RunRecord,
    model=st.sampled_from(["a", "b", "ü-ß"]),
    model_name=st.just(TINY),
    round=st.integers(0, 50),
    seed=st.integers(0, 2**31 - 1),
    data_seed=st.integers(0, 2**31 - 1),
    status=st.sampled_from(["ok", "diverged", "failed"]),
    test_accuracy=st.none() | st.floats(0, 1),
    error=st.none() | st.text(max_size=30),
)
DAMAGE = st.one_of(
    st.binary(max_size=60).map(lambda b: b.replace(b"\n", b"")),  # random bytes, not UTF-8
    st.sampled_from([b"[1, 2]", b'"text"', b"null", b"{}", b'{"kind": "run"}', b"\0" * 40]),
    st.builds(lambda n: b"\0" * n + b"{", st.integers(1, 30)),
    RUN.map(lambda r: json.dumps({"kind": "run", **r.model_dump(mode="json")}).encode()[:-5]),
)


@BOUNDED
@given(
    st.lists(
        st.one_of(RUN.map(lambda r: ("run", r)), DAMAGE.map(lambda d: ("bad", d))), max_size=12
    ),
    st.binary(max_size=30).map(lambda b: b.replace(b"\n", b"")),
)
def test_a_damaged_journal_keeps_every_valid_run_and_counts_the_bad_lines(
    tmp_path, lines, torn_tail
):
    header = json.dumps({"kind": "header", "journal_version": 1, "fingerprint": "x"})
    body = [header.encode()]
    for kind, item in lines:
        body.append(json.dumps({"kind": "run", **item.model_dump(mode="json")}).encode()
                    if kind == "run" else item)  # fmt: skip
    path = tmp_path / "r.journal.jsonl"
    path.write_bytes(b"\n".join(body) + b"\n" + torn_tail)
    contents = load_journal(path)
    event(f"damaged lines: {min(3, sum(kind == 'bad' for kind, _ in lines))}+")
    assert contents.runs == [item for kind, item in lines if kind == "run"]
    assert contents.damaged == sum(kind == "bad" for kind, _ in lines)
    assert contents.good_bytes == path.stat().st_size - len(torn_tail)


# -- results files --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def results_doc(tmp_path_factory):
    from test_engine_fakes import synthetic_mnist

    from digitduel.bench.runner import run_bench

    out = tmp_path_factory.mktemp("results") / "r.json"
    plan = plan_for_models([TINY], train_overrides={"epochs": 1},
                           bench_overrides={"n_pairs": 20, "executor": "serial"})  # fmt: skip
    run_bench(plan, out, mnist=synthetic_mnist(100, 100))
    assert journal_path(out).exists()
    return json.loads(out.read_text())


@BOUNDED
@given(st.data())
def test_a_damaged_results_file_is_read_or_one_data_error(tmp_path, results_doc, data):
    """A key dropped or given another value anywhere in the document, or the bytes cut:
    `load_results` returns a valid result or raises one line (exit 1), nothing else."""
    doc = json.loads(json.dumps(results_doc))
    node, path = doc, []
    while isinstance(node, dict | list) and node and data.draw(st.booleans()):
        key = data.draw(st.sampled_from(list(node) if isinstance(node, dict) else range(len(node))))
        path.append(key)
        if not isinstance(node[key], dict | list):
            break
        node = node[key]
    if path:
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        if data.draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = data.draw(ANYTHING | st.none())
    text = json.dumps(doc).encode()
    text = text[: data.draw(st.sampled_from([len(text), len(text), len(text) // 2]))]
    file = tmp_path / "r.json"
    file.write_bytes(text)
    try:
        load_results(file)
    except DigitduelError as err:
        assert err.code == 1 and "\n" not in str(err)


# -- command-line values ----------------------------------------------------------------------

FLAG_VALUES = {
    "--epochs": ("epochs", st.integers(-3, 20_000).map(str) | st.sampled_from(["abc", "1.5", ""])),
    "--lr": ("lr", st.sampled_from(["0.01", "1e-3", "nan", "inf", "-1", "11", "abc", "0"])),
    "--rounds": ("rounds", st.integers(-1, 1001).map(str)),
    "--n-pairs": ("n_pairs", st.integers(0, 200_000).map(str)),
    "--seed": ("seed", st.integers(-1, 2**31).map(str)),
    "--device": ("device", st.sampled_from(["auto", "cpu", "gpu", "cuda:x", "cpu "])),
    "--executor": ("executor", st.sampled_from(["serial", "batched", "threads", ""])),
    "--set": (None, st.sampled_from(
        ["eval_every=true", "eval_every=2", "folds=2.5", "folds=2", "momentum=nan", "x=1",
         "augment=[\"swap\"]", "augment=[\"swap\", \"swap\"]", "loss=ce", "noequals"]
    )),
}  # fmt: skip


def _flag_is_valid(flag: str, text: str) -> bool | None:
    """Whether the schema takes this one value (None: can't tell alone, e.g. --set)."""
    name, _ = FLAG_VALUES[flag]
    if name is None:
        return None
    try:
        value = (int if name in {"epochs", "rounds", "n_pairs", "seed"} else float)(text)
    except ValueError:
        if name in {"device", "executor"}:
            value = text
        else:
            return False  # Typer itself refuses it: a usage error too
    return check_field(name, value) is None


@BOUNDED
@given(st.lists(st.sampled_from(sorted(FLAG_VALUES)), unique=True, max_size=3), st.data())
def test_any_bench_flags_give_exit_2_or_reach_the_output_check(flags, data):
    """Good flags reach the (deliberately unusable) output location, which is checked before
    anything loads or trains; any bad one is exit 2 first. Exit 2 either way, never a
    traceback, and the message says which."""
    args = ["bench", "--model", TINY, "--out", "/proc/digitduel-x.json"]
    valid = True
    for flag in flags:
        text = data.draw(FLAG_VALUES[flag][1])
        args += [flag, text]
        valid = valid and _flag_is_valid(flag, text) is not False
    res = runner.invoke(app, args)
    event(f"valid={valid} reached-out={'/proc/digitduel' in res.stderr}")
    assert res.exit_code == 2, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    assert "Traceback" not in res.stderr
    if valid and "--set" not in flags:
        assert "cannot write results to /proc/digitduel-x.json" in res.stderr, res.stderr
