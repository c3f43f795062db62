"""Bring your own model: each way in, forgiving outputs, strict one-line errors, provenance."""

from __future__ import annotations

import hashlib
import json
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from test_engine_fakes import synthetic_mnist
from typer.testing import CliRunner

from digitduel.cli.main import app
from digitduel.errors import ConfigError
from digitduel.models import user_register
from digitduel.models.registry import ModelOutput, UnknownModelError, get_spec
from digitduel.models.user import (
    kebab_case,
    load_entry_points,
    load_source,
    load_user_models,
    parse_source,
)

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "my_model.py"
runner = CliRunner()

HEADER = "import torch\nfrom torch import nn\nfrom digitduel import register, ModelOutput\n"
PLAIN_NET = HEADER + textwrap.dedent("""
    class TinyNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2 * 14 * 14, 2)

        def forward(self, x):
            return self.fc(x.flatten(1))
""")


pytestmark = pytest.mark.usefixtures("clean_user_models")


def _write(tmp_path: Path, body: str, name: str = "mine.py") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + textwrap.dedent(body))
    return path


def _models_json(*args: str, env: dict | None = None) -> list[dict]:
    result = runner.invoke(app, ["models", "--json", *args], env=env)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


# --- ways in ---------------------------------------------------------------------------------


def test_example_file_lists_with_params_and_origin():
    rows = {r["name"]: r for r in _models_json("--model-file", str(EXAMPLE))}
    mine = rows["my-siamese"]
    assert mine["params"] > 1000 and mine["aux"] and mine["report"] == "my_model.py"
    origin = mine["origin"]
    assert origin["kind"] == "file"
    assert origin["files"] == [
        {"path": str(EXAMPLE), "sha256": hashlib.sha256(EXAMPLE.read_bytes()).hexdigest()}
    ]
    assert "origin" not in rows["sgd-ws-aux"]  # the built-ins are still there, unmarked (as before)


def test_env_var_lists_files_like_path(tmp_path):
    other = _write(tmp_path, "\n@register('other-net')\n" + PLAIN_NET.split(HEADER)[1])
    env = {"DIGITDUEL_MODEL_FILES": f"{EXAMPLE}{__import__('os').pathsep}{other}"}
    names = {r["name"] for r in _models_json(env=env)}
    assert {"my-siamese", "other-net"} <= names


def test_table_shows_a_user_models_group():
    result = runner.invoke(app, ["models", "--model-file", str(EXAMPLE)])
    assert result.exit_code == 0
    assert "user models" in result.stdout and "my-siamese" in result.stdout


def test_module_attr_reference_with_derived_and_explicit_names(tmp_path, monkeypatch):
    (tmp_path / "labnet_mod.py").write_text(PLAIN_NET)
    monkeypatch.syspath_prepend(str(tmp_path))
    [spec] = load_source("labnet_mod:TinyNet")
    assert spec.name == "tiny-net" and spec.origin.kind == "module"
    assert spec.origin.label == "labnet_mod" and spec.report == "labnet_mod"
    [named] = load_source("labnet_mod:TinyNet", name="lab-tiny")
    assert named.name == "lab-tiny"
    assert load_source("labnet_mod:TinyNet") == [spec]  # idempotent


def test_decorator_used_by_an_ordinary_import(tmp_path, monkeypatch):
    (tmp_path / "own_script_mod.py").write_text(
        PLAIN_NET.replace("class TinyNet", "@register('own-net')\nclass TinyNet")
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import own_script_mod  # noqa: F401 - the user's own script imports its models

    spec = get_spec("own-net")
    assert (spec.origin.kind, spec.origin.label) == ("import", "own_script_mod")
    assert load_source(spec.origin.source) == [spec]  # what a worker would replay


def test_plain_class_from_a_file_without_decorator(tmp_path):
    path = tmp_path / "plain.py"
    path.write_text(PLAIN_NET)
    [spec] = load_source(f"{path}:TinyNet")
    assert spec.name == "tiny-net" and spec.origin.source.attr == "TinyNet"
    assert spec.recipe == {} and spec.param_count() == 2 * 14 * 14 * 2 + 2
    out = spec.create()(torch.randn(3, 2, 14, 14))
    assert isinstance(out, ModelOutput) and out.compare.shape == (3, 2)


def test_entry_point_from_an_installed_distribution(tmp_path, monkeypatch):
    (tmp_path / "labnets_zoo.py").write_text(
        PLAIN_NET
        + textwrap.dedent("""
        @register("lab-decorated")
        class Decorated(TinyNet):
            pass
    """)
    )
    info = tmp_path / "labnets-1.2.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: labnets\nVersion: 1.2\n")
    (info / "entry_points.txt").write_text(
        "[digitduel.models]\nlab-tiny = labnets_zoo:TinyNet\nzoo = labnets_zoo\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    specs = {s.name: s for s in load_entry_points()}
    assert set(specs) == {"lab-tiny", "lab-decorated"}
    origin = specs["lab-tiny"].origin
    assert (origin.kind, origin.distribution, origin.version) == ("entry-point", "labnets", "1.2")
    assert origin.files[0][0] == str(tmp_path / "labnets_zoo.py")
    assert specs["lab-tiny"].report == "labnets 1.2"
    names = {r["name"] for r in _models_json()}  # the CLI discovers them by itself
    assert {"lab-tiny", "lab-decorated"} <= names


def test_parse_source_tells_files_from_modules(tmp_path):
    assert parse_source("nets/mine.py:Net").kind == "file"
    src = parse_source("pkg.mod:Net")
    assert (src.kind, src.target, src.attr) == ("module", "pkg.mod", "Net")
    assert kebab_case("SiameseNet") == "siamese-net" and kebab_case("MyCNN2") == "my-cnn2"
    with pytest.raises(ConfigError):
        parse_source("not a reference!")


def test_public_names_from_the_package():
    import digitduel
    from digitduel import ModelOutput as Exported
    from digitduel import register

    assert Exported is ModelOutput and register is user_register.register
    with pytest.raises(AttributeError):
        digitduel.nothing_here  # noqa: B018


# --- forgiving outputs -----------------------------------------------------------------------

FORMS = {
    "logits": ("return self.fc(x.flatten(1))", 2, "ce"),
    "score": ("return self.fc(x.flatten(1))[:, :1]", 1, "bce"),
    "flat-score": ("return self.fc(x.flatten(1))[:, 0]", 1, "bce"),
    "model-output": ("return ModelOutput(self.fc(x.flatten(1)), None)", 2, "ce"),
    "tuple": (
        "return self.fc(x.flatten(1)), self.fc(x.flatten(1)).repeat(1, 10).reshape(-1, 2, 10)",
        2,
        "ce",
    ),
}


@pytest.mark.parametrize("form", sorted(FORMS))
def test_each_output_form_is_adapted_to_the_contract(tmp_path, form):
    body, width, loss = FORMS[form]
    path = _write(
        tmp_path,
        f"""
        @register("form-net")
        class FormNet(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(2 * 14 * 14, 2)

            def forward(self, x):
                {body}
    """,
    )
    [spec] = load_source(str(path))
    out = spec.create()(torch.randn(5, 2, 14, 14))
    assert isinstance(out, ModelOutput) and out.compare.shape == (5, width)
    assert spec.recipe.get("loss", "ce") == loss  # one score trains with bce, not ce
    assert (out.digits is not None) == (form == "tuple")


def test_digit_only_tuple_predicts_by_digits(tmp_path):
    path = _write(
        tmp_path,
        """
        @register("digit-net", predicts="digits")
        def make():
            return nn.Sequential(nn.Flatten(), nn.Linear(2 * 14 * 14, 20), nn.Unflatten(1, (2, 10)),
                                 Pair())

        class Pair(nn.Module):
            def forward(self, d):
                return None, d
    """,
    )
    [spec] = load_source(str(path))
    assert spec.create()(torch.randn(4, 2, 14, 14)).digits.shape == (4, 2, 10)


# --- strict checks: one line, exit 2, no traceback --------------------------------------------

BROKEN = {
    "syntax": ("def oops(:\n", r"broken.py:4: syntax error"),
    "import": ("import no_such_module_xyz\n", r"broken.py:4: ModuleNotFoundError"),
    "build": (
        """
        @register("bad-init")
        class BadInit(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(2 * 14 * 14)
    """,
        r"'bad-init': building the model failed at line 9: TypeError",
    ),
    "forward": (
        """
        @register("bad-forward")
        class BadForward(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(10, 2)

            def forward(self, x):
                return self.fc(x.flatten(1))
    """,
        r"'bad-forward': forward \(train mode\) failed on a \[2, 2, 14, 14\] batch at line 12",
    ),
    "shape": (
        """
        @register("bad-shape")
        class Bad(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(2 * 14 * 14, 3)

            def forward(self, x):
                return self.fc(x.flatten(1))
    """,
        r"'bad-shape': forward returned|comparison output has shape \[2, 3\]",
    ),
    "clash": (
        """
        @register("sgd-ws")
        class Clash(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(2 * 14 * 14, 2)

            def forward(self, x):
                return self.fc(x.flatten(1))
    """,
        r"'sgd-ws' clashes with a built-in model",
    ),
    "no-params": (
        """
        @register("empty")
        class Empty(nn.Module):
            def forward(self, x):
                return x.flatten(1)[:, :2]
    """,
        r"no parameters",
    ),
    "detached": (
        """
        @register("detached")
        class Detached(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(2 * 14 * 14, 2)

            def forward(self, x):
                return self.fc(x.flatten(1)).detach()
    """,
        r"does not reach any parameter",
    ),
    "nothing": ("x = 1\n", r"registers no model"),
    "bad-recipe": (
        """
        @register("bad-recipe", recipe={"lr": -1})
        class BadRecipe(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(2 * 14 * 14, 2)

            def forward(self, x):
                return self.fc(x.flatten(1))
    """,
        r"'bad-recipe': .*lr",
    ),
}


def _assert_one_line_error(result, pattern: str) -> None:
    import re

    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert re.search(pattern, lines[0]), lines[0]
    assert "Traceback" not in result.output


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_file_gives_one_line_naming_it(tmp_path, case):
    body, pattern = BROKEN[case]
    path = _write(tmp_path, body, "broken.py")
    result = runner.invoke(app, ["models", "--model-file", str(path)])
    _assert_one_line_error(result, pattern)
    assert "broken.py" in result.stderr
    with pytest.raises(UnknownModelError):
        get_spec("bad-shape")  # nothing half-registered


def test_missing_file_and_missing_name(tmp_path):
    result = runner.invoke(app, ["models", "--model-file", str(tmp_path / "gone.py")])
    _assert_one_line_error(result, r"gone.py: no such file")
    path = tmp_path / "plain.py"
    path.write_text(PLAIN_NET)
    result = runner.invoke(app, ["models", "--model-file", f"{path}:TinyNt"])
    _assert_one_line_error(result, r"plain.py: no name 'TinyNt' \(did you mean TinyNet\?\)")


def test_debug_shows_the_traceback(tmp_path):
    path = _write(tmp_path, "import no_such_module_xyz\n", "broken.py")
    result = runner.invoke(app, ["--debug", "models", "--model-file", str(path)])
    assert result.exit_code == 2 and "Traceback" in result.stderr
    assert f'File "{path}", line 4' in result.stderr  # the user's own frame
    result = runner.invoke(app, ["models", "--model-file", str(path)], env={"DIGITDUEL_DEBUG": "1"})
    assert result.exit_code == 2 and "Traceback" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: ")


# --- provenance, re-loading, training ---------------------------------------------------------


def test_edited_file_is_noticed_and_reloaded(tmp_path):
    path = tmp_path / "plain.py"
    path.write_text(PLAIN_NET)
    [spec] = load_source(f"{path}:TinyNet")
    assert spec.origin.changed_files() == []
    path.write_text(PLAIN_NET.replace("nn.Linear(2 * 14 * 14, 2)", "nn.Linear(2 * 14 * 14, 1)"))
    assert spec.origin.changed_files() == [str(path)]
    [again] = load_source(f"{path}:TinyNet")
    assert again.param_count() == 2 * 14 * 14 + 1 and again.recipe["loss"] == "bce"
    assert again.origin.files[0][1] != spec.origin.files[0][1]


def test_a_worker_that_loads_the_same_origin_unpickles_its_models():
    [spec] = load_user_models([str(EXAMPLE)], entry_points=False)
    model = spec.create().eval()
    x = torch.randn(3, 2, 14, 14)
    # A fresh process gets the origin, loads the same file, then takes a pickled model.
    code = (
        "import pickle, sys, torch\n"
        "from digitduel.models.user import load_origins\n"
        "load_origins([pickle.load(sys.stdin.buffer)])\n"
        "model, x = pickle.load(sys.stdin.buffer)\n"
        "print(model(x).compare.sum().item())\n"
    )
    stdin = pickle.dumps(spec.origin) + pickle.dumps((model, x))
    done = subprocess.run(
        [sys.executable, "-c", code], input=stdin, capture_output=True, timeout=120
    )
    assert done.returncode == 0, done.stderr.decode()
    assert float(done.stdout) == pytest.approx(model(x).compare.sum().item(), abs=1e-4)


def test_example_trains_one_tiny_epoch_with_the_serial_trainer():
    from digitduel.data import draw_pairs
    from digitduel.settings import resolve_train
    from digitduel.training.trainer import train_run

    [spec] = load_user_models([str(EXAMPLE)], entry_points=False)
    pairs = draw_pairs(synthetic_mnist(200, 200), 100, seed=1)
    settings = resolve_train(spec.recipe, {"epochs": 1, "batch_size": 25})
    outcome = train_run(spec, settings, pairs, seed=0, warm=False)
    assert outcome.status == "ok" and outcome.params == spec.param_count()
    assert 0 <= outcome.test_accuracy <= 1 and outcome.digit_accuracy is not None
