"""Layer specs, freezing any HF decoder model, and what reaches the optimizer."""

import json

import pytest
import torch

from layerverl.layers import freeze_except, optimizer_groups, resolve_layers, trainable_parameters


@pytest.mark.parametrize(
    ("spec", "num_layers", "expected"),
    [
        ("mid", 28, [14]),
        ("mid", 36, [18]),
        ("mid", 8, [4]),
        ("first", 8, [0]),
        ("last", 8, [7]),
        ("all", 3, [0, 1, 2]),
        (5, 8, [5]),
        (-1, 8, [7]),
        ("7", 8, [7]),
        ([3, 4], 8, [3, 4]),
        (0.5, 28, [14]),
        ("0.25", 8, [2]),
        ("mid3", 28, [12, 13, 14]),
        ("mid4", 28, [12, 13, 14, 15]),
        ("mid2", 8, [3, 4]),
        ("MID", 8, [4]),
    ],
)
def test_resolve_layers(spec, num_layers, expected):
    assert resolve_layers(spec, num_layers) == expected


def test_top_and_bottom_from_profile(tmp_path):
    scores = [0.1, 0.9, 0.5, 1.2]
    path = tmp_path / "profile.json"
    path.write_text(json.dumps({"contribution": {str(i): s for i, s in enumerate(scores)}}))
    assert resolve_layers("top2", 4, profile=path) == [1, 3]
    assert resolve_layers("bottom1", 4, profile=scores) == [0]
    with pytest.raises(ValueError, match="needs a per-layer profile"):
        resolve_layers("top2", 4)


@pytest.mark.parametrize("spec", ["middle", 8, [1, 9], 1.5, "mid0", True, []])
def test_bad_specs_name_the_choices(spec):
    with pytest.raises(ValueError, match="layer spec|depth|K must"):
        resolve_layers(spec, 8)


@pytest.mark.parametrize("family", ["qwen3", "llama"])
def test_freeze_only_chosen_layer_trains(family, tiny_causal_lm):
    model = tiny_causal_lm(family)
    report = freeze_except(model, [2])
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith("model.layers.2.") for n in trainable)
    assert (
        report["trainable_params"]
        == report["per_layer_params"]
        == sum(p.numel() for p in model.model.layers[2].parameters())
    )
    assert report["total_params"] > report["trainable_params"]


def test_gradients_flow_through_frozen_layers_and_frozen_stay_identical(tiny_causal_lm):
    model = tiny_causal_lm("qwen3")
    freeze_except(model, [1])
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    optimizer = torch.optim.AdamW(trainable_parameters(model), lr=1e-2)
    ids = torch.randint(0, 64, (2, 6))
    model(input_ids=ids, labels=ids).loss.backward()
    assert all(p.grad is None for n, p in model.named_parameters() if not n.startswith("model.layers.1."))
    assert all(p.grad is not None for p in model.model.layers[1].parameters())
    optimizer.step()
    for name, param in model.named_parameters():
        changed = not torch.equal(param, before[name])
        assert changed == name.startswith("model.layers.1."), name
    assert {id(p) for g in optimizer.param_groups for p in g["params"]} == {
        id(p) for p in model.model.layers[1].parameters()
    }


def test_all_with_embeddings_and_head_trains_everything_tied_once(tiny_causal_lm):
    model = tiny_causal_lm("qwen3", tie=True)
    report = freeze_except(model, list(range(4)), train_embeddings=True, train_lm_head=True)
    assert all(p.requires_grad for p in model.parameters())
    assert (
        report["trainable_params"]
        == report["total_params"]
        == sum(p.numel() for p in trainable_parameters(model))
    )


def test_boost_groups_speed_up_chosen_layers(tiny_causal_lm):
    model = tiny_causal_lm("qwen3")
    freeze_except(model, list(range(4)))
    groups = optimizer_groups(model, lr=1e-4, boost_layers=[1], boost_factor=10.0)
    assert [g["lr"] for g in groups] == [1e-4, 1e-3]
    assert {id(p) for p in groups[1]["params"]} == {id(p) for p in model.model.layers[1].parameters()}
