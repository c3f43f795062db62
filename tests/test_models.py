"""The model zoo: one parametrised check over the whole registry, parameter counts against
figures derived here from the reports' layer sizes (not from the modules), real weight
sharing, and the `digitduel models` command."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from typer.testing import CliRunner

from digitduel.cli.main import app
from digitduel.models import REPORTS, get_spec, list_specs
from digitduel.training.objective import compute_loss


def lin(n_in, n_out):
    return n_in * n_out + n_out


def conv(c_in, c_out, k):
    return c_in * c_out * k * k + c_out


def bn(n):
    return 2 * n  # weight and bias (running stats are buffers)


# -- the layer sizes each report gives, summed by hand --------------------------------------
SGD_MODULE = conv(32, 64, 3) + lin(256, 200) + bn(200) + lin(200, 100) + bn(100)
SGD_MLP = lin(20, 150) + bn(150) + lin(150, 50) + bn(50) + lin(50, 2)
JOMEAU_FEATURES_1 = conv(1, 16, 2) + conv(16, 32, 2) + conv(32, 32, 2)
JOMEAU_FEATURES_2 = conv(2, 16, 2) + conv(16, 32, 2) + conv(32, 32, 2)
JOMEAU_WS2 = (
    JOMEAU_FEATURES_1
    + lin(800, 50)
    + lin(50, 50)
    + lin(50, 10)  # the digit branch, once
    + lin(20, 50)
    + lin(50, 50)
    + lin(50, 50)
    + lin(50, 1)  # the comparator
)


def borba_siamese(c2):
    return (
        conv(1, 64, 4) + bn(64) + conv(64, c2, 4) + bn(c2) + lin(4 * c2, 64) + bn(64) + lin(64, 10)
    )


def fcnn(batchnorm):
    return lin(392, 1000) + lin(1000, 1000) + lin(1000, 2) + (2 * bn(1000) if batchnorm else 0)


def cnn(conv4, batchnorm):
    head = conv(16, 2, 4) if conv4 else lin(16 * 4 * 4, 2)
    norms = bn(8) + bn(16) + bn(16) if batchnorm else 0
    return conv(2, 8, 3) + conv(8, 16, 5) + conv(16, 16, 5) + head + norms


def resnet(c_in, n_out):
    return conv(c_in, 12, 1) + 6 * 2 * conv(12, 12, 5) + lin(12, n_out)


SMALL_CNN = conv(1, 32, 3) + conv(32, 64, 3) + lin(256, 100) + lin(100, 10)
BANJAC_CNN = conv(1, 32, 3) + conv(32, 64, 3) + lin(256, 10)

EXPECTED_PARAMS = {
    "sgd-convnet": conv(2, 32, 3) + SGD_MODULE + lin(100, 2),
    "sgd-ws": conv(1, 32, 3) + SGD_MODULE + lin(100, 10) + SGD_MLP,
    "sgd-ws-aux": conv(1, 32, 3) + SGD_MODULE + lin(100, 10) + SGD_MLP,
    "jomeau-simple": JOMEAU_FEATURES_2 + lin(800, 75) + lin(75, 75) + lin(75, 1),
    "jomeau-ws1": JOMEAU_FEATURES_2 + lin(800, 75) + lin(75, 75) + lin(75, 1),  # 75x75 once
    "jomeau-ws2": JOMEAU_WS2,
    "jomeau-aux0.5": JOMEAU_WS2,
    "jomeau-aux2": JOMEAU_WS2,
    "jomeau-aux10": JOMEAU_WS2,
    "jomeau-aux40": JOMEAU_WS2,
    "jomeau-digit": conv(1, 8, 3)
    + conv(8, 16, 3)
    + lin(256, 100)
    + lin(100, 200)
    + lin(200, 100)
    + lin(100, 10),
    "borba-baseline": conv(2, 64, 4)
    + bn(64)
    + conv(64, 64, 4)
    + bn(64)
    + lin(64 * 5 * 5, 128)
    + lin(128, 128)
    + lin(128, 2),
    "borba-siamese2": borba_siamese(8) + lin(20, 2),
    "borba-siamese10": borba_siamese(16),
    "cappelletti-resnet": resnet(2, 2),
    "cappelletti-siamese-cnn": SMALL_CNN + lin(20, 2),
    "cappelletti-siamese-cnn-aux": SMALL_CNN + lin(20, 2),
    "cappelletti-siamese-resnet": resnet(1, 10) + lin(20, 2),
    "cappelletti-siamese-resnet-aux": resnet(1, 10) + lin(20, 2),
    "banjac-digit": BANJAC_CNN,
    "banjac-ws": BANJAC_CNN + lin(20, 2),
    "banjac-ws-aux": BANJAC_CNN + lin(20, 2),
    "banjac-nows": 2 * BANJAC_CNN + lin(20, 2),
    "banjac-nows-aux": 2 * BANJAC_CNN + lin(20, 2),
}
for _suffix in ("", "-tanh", "-leakyrelu"):
    EXPECTED_PARAMS |= {
        f"cappelletti-fcnn{_suffix}": fcnn(False),
        f"cappelletti-fcnn-dropout{_suffix}": fcnn(False),
        f"cappelletti-fcnn-bn{_suffix}": fcnn(True),
        f"cappelletti-fcnn-bn-dropout{_suffix}": fcnn(True),
        f"cappelletti-cnn3{_suffix}": cnn(False, False),
        f"cappelletti-cnn3-bn{_suffix}": cnn(False, True),
        f"cappelletti-cnn4{_suffix}": cnn(True, False),
        f"cappelletti-cnn4-bn{_suffix}": cnn(True, True),
    }

ZOO = sorted(s.name for s in list_specs() if not s.name.startswith("test-"))


def test_every_registered_model_has_a_hand_count_and_every_count_a_model():
    assert set(ZOO) == set(EXPECTED_PARAMS)
    assert {get_spec(n).report for n in ZOO} == set(REPORTS)


def _batch(b, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, 2, 14, 14, generator=g)
    classes = torch.randint(0, 10, (b, 2), generator=g)
    return x, (classes[:, 0] <= classes[:, 1]).long(), classes


@pytest.mark.parametrize("name", ZOO)
def test_model(name):
    spec = get_spec(name)
    torch.manual_seed(0)
    model = spec.create()
    loss_kind = spec.recipe.get("loss", "ce")

    # the parameter count the layer sizes give
    assert sum(p.numel() for p in model.parameters()) == EXPECTED_PARAMS[name]
    assert spec.param_count() == EXPECTED_PARAMS[name]

    # one output contract, train and eval, batch 1 and 5 (BatchNorm needs > 1 in train mode)
    for mode, b in (("train", 5), ("eval", 1), ("eval", 5)):
        model.train(mode == "train")
        with torch.no_grad():
            out = model(_batch(b)[0])
        if out.compare is None:
            assert spec.predicts == "digits", "a model with no comparison must predict by digits"
        else:
            assert out.compare.shape == (b, 2 if loss_kind == "ce" else 1)
            assert torch.isfinite(out.compare).all()
        if spec.predicts == "digits" or spec.aux:
            assert out.digits is not None, "digit labels need digit outputs"
        if out.digits is not None:
            assert out.digits.shape == (b, 2, 10)
            assert torch.isfinite(out.digits).all()

    # the report's own objective reaches every parameter
    model.train()
    x, target, classes = _batch(8, seed=1)
    out = model(x)
    loss = compute_loss(
        out,
        target,
        classes,
        loss_kind,
        spec.recipe.get("aux_weight", 0.0),
        spec.recipe.get("main_weight", 1.0),
    )
    assert torch.isfinite(loss)
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, f"no gradient reaches {missing}"
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())
    assert sum(float(p.grad.abs().sum()) for p in model.parameters()) > 0


SHARED_DIGIT_MODELS = [n for n in ZOO if get_spec(n).weight_sharing and n != "jomeau-ws1"]


@pytest.mark.parametrize("name", SHARED_DIGIT_MODELS)
def test_shared_branches_treat_both_digits_alike(name):
    """One module for both digits: swapping the pair swaps the digit outputs exactly."""
    model = get_spec(name).create().eval()
    x = _batch(4)[0]
    with torch.no_grad():
        digits = model(x).digits
        swapped = model(x.flip(1)).digits
    torch.testing.assert_close(swapped, digits.flip(1))


@pytest.mark.parametrize("name", ["banjac-nows", "banjac-nows-aux"])
def test_no_sharing_means_two_branches(name):
    model = get_spec(name).create().eval()
    assert model.first is not model.second
    x = _batch(4)[0]
    with torch.no_grad():
        digits = model(x).digits
        swapped = model(x.flip(1)).digits
        assert not torch.allclose(swapped, digits.flip(1))
        model.first.fc.bias.add_(1.0)  # a change to one branch leaves the other alone
    assert not torch.equal(model.first.fc.bias, model.second.fc.bias)


@pytest.mark.parametrize("name", ["banjac-ws", "banjac-ws-aux"])
def test_sharing_is_one_module_object(name):
    model = get_spec(name).create()
    assert model.first is model.second
    with torch.no_grad():
        model.first.fc.bias.add_(1.0)  # a change to one branch is a change to both
    assert torch.equal(model.first.fc.bias, model.second.fc.bias)
    # parameters() lists each tensor once: the shared branch counts once
    assert sum(p.numel() for p in model.parameters()) == BANJAC_CNN + lin(20, 2)


def test_sequential_sharing_applies_one_layer_three_times():
    """CNNws1: 'more layers for the same amount of trainable parameters' (Jomeau et al.)."""
    ws1 = get_spec("jomeau-ws1").create()
    assert ws1.repeats == 3
    assert get_spec("jomeau-ws1").param_count() == get_spec("jomeau-simple").param_count()
    calls = []
    ws1.shared.register_forward_hook(lambda *a: calls.append(1))
    ws1(_batch(2)[0])
    assert len(calls) == 3


def test_jomeau_models_are_near_70k_parameters_as_the_report_says():
    for spec in list_specs("jomeau"):
        if not spec.name.startswith("test-"):
            assert 50_000 <= spec.param_count() <= 80_000, spec.name


def test_every_recipe_is_valid_train_settings():
    from digitduel.settings import TrainSettings

    for name in ZOO:
        TrainSettings(**get_spec(name).recipe)


# -- the CLI -------------------------------------------------------------------------------
runner = CliRunner()


def test_models_json_lists_every_model_with_counts():
    result = runner.invoke(app, ["models", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert {r["name"] for r in rows} >= set(ZOO)
    assert len(rows) >= 20
    assert {r["report"] for r in rows} == set(REPORTS)
    for r in rows:
        assert r["params"] > 0
        assert {"weight_sharing", "aux", "description", "predicts", "recipe"} <= set(r)
    by_name = {r["name"]: r for r in rows}
    assert by_name["jomeau-digit"]["predicts"] == "digits"
    assert by_name["banjac-nows"]["weight_sharing"] is False
    assert by_name["sgd-ws-aux"]["recipe"]["aux_weight"] == 0.75


def test_models_report_filter_and_table():
    result = runner.invoke(app, ["models", "--report", "borba"])
    assert result.exit_code == 0
    assert "borba-siamese10" in result.stdout
    assert "jomeau-simple" not in result.stdout
    assert "289,666" in result.stdout  # borba-baseline's parameters


def test_unknown_report_is_one_line_and_exit_2():
    result = runner.invoke(app, ["models", "--report", "nope"])
    assert result.exit_code == 2
    assert "unknown report 'nope'" in result.output
    assert "Traceback" not in result.output


def test_models_as_a_subprocess():
    proc = subprocess.run(
        [sys.executable, "-m", "digitduel", "models", "--json", "--report", "banjac"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert [r["name"] for r in json.loads(proc.stdout)] == [
        "banjac-digit",
        "banjac-ws",
        "banjac-ws-aux",
        "banjac-nows",
        "banjac-nows-aux",
    ]


def test_shared_batchnorm_branches_see_each_digit_as_its_own_batch():
    """Two calls of a shared branch with BatchNorm (the reports' forward): each digit's batch
    is normalised on its own in training, unlike one call on both digits' 2B images."""
    from digitduel.models.layers import has_batchnorm, join_digits, split_digits

    model = get_spec("sgd-ws-aux").create().train()
    assert has_batchnorm(model.branch)
    x = _batch(6)[0]
    x[:, 1] = x[:, 1] * 3 + 2  # the second digits' batch has other statistics
    torch.manual_seed(0)
    got = model(x).digits
    branch = model.branch
    torch.manual_seed(0)
    per_digit = torch.stack([branch(x[:, 0:1]), branch(x[:, 1:2])], dim=1)
    torch.manual_seed(0)
    one_batch = join_digits(branch(split_digits(x)), 6)
    torch.testing.assert_close(got, per_digit)
    assert not torch.allclose(got, one_batch)
    assert not has_batchnorm(get_spec("banjac-ws").create().first)  # runs once on 2B digits
