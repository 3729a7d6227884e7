"""Reward discovery: registry, file and module references, entry points, verl fallback, TRL adapters."""

from __future__ import annotations

import sys
import textwrap

import pytest

import envs.rewards.registry as registry
from layerverl.rewards import (
    compute_score,
    compute_score_batch,
    from_trl,
    get_reward,
    list_rewards,
    make_router,
    register_reward,
    to_trl,
)


@pytest.fixture
def clean_registry(monkeypatch):
    monkeypatch.setattr(registry, "REWARD_REGISTRY", dict(registry.REWARD_REGISTRY))
    monkeypatch.setattr(registry, "_entry_point_names", set())
    monkeypatch.setattr(registry, "_entry_points_scanned_for", None)


def test_builtin_aliases_route():
    names = list_rewards()
    for alias in (
        "math",
        "openai/gsm8k",
        "HuggingFaceH4/MATH-500",
        "lighteval/MATH",
        "code",
        "humaneval",
        "mbpp",
        "apps",
    ):
        assert alias in names
    assert get_reward("openai/gsm8k") is get_reward("math")
    assert get_reward("apps") is get_reward("code")


def test_unknown_name_lists_valid_ones():
    with pytest.raises(ValueError, match="unknown reward 'nope'.*registered: .*math"):
        get_reward("nope")


def test_verl_known_names_fall_back_to_verl():
    assert get_reward("hiyouga/geometry3k") is registry._verl_default
    assert get_reward("aime2024") is registry._verl_default


def test_decorator_and_duplicate(clean_registry):
    @register_reward("length", aliases=["len"])
    def length_reward(data_source, solution_str, ground_truth, extra_info=None, **kwargs):
        return len(solution_str) / 100

    assert compute_score("len", "x" * 50, None) == 0.5
    with pytest.raises(ValueError, match="already registered"):
        register_reward("length", lambda *a, **k: 0.0)


def test_file_and_entry_point_selected_by_data_source_from_config(tmp_path, monkeypatch, clean_registry):
    reward_file = tmp_path / "my_rewards.py"
    reward_file.write_text(
        textwrap.dedent("""\
        def exact(data_source, solution_str, ground_truth, extra_info=None, **kwargs):
            return {"score": float(solution_str.strip() == ground_truth), "source": data_source}
        """)
    )
    package = tmp_path / "site" / "ep_reward_pkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(
        textwrap.dedent("""\
        def shout(data_source, solution_str, ground_truth, extra_info=None, **kwargs):
            return 1.0 if solution_str.isupper() else 0.0
        """)
    )
    dist_info = tmp_path / "site" / "ep_reward_pkg-0.1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: ep-reward-pkg\nVersion: 0.1\n")
    (dist_info / "entry_points.txt").write_text("[layerverl.rewards]\nshouting = ep_reward_pkg:shout\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))

    config = {"exact_match": f"{reward_file}:exact", "loud": "shouting"}  # data_source -> reference
    router = make_router(config)
    assert router("exact_match", " yes ", "yes") == {"score": 1.0, "source": "exact_match"}
    assert router("loud", "HELLO", None) == 1.0
    assert router("shouting", "hello", None) == 0.0  # the entry point is also routable by its own name
    assert router("math", r"\boxed{2}", "2")["score"] == 1.0
    assert "shouting" in list_rewards()
    with pytest.raises(ValueError, match="does not exist"):
        make_router({"x": str(tmp_path / "missing.py") + ":f"})
    sys.modules.pop("ep_reward_pkg", None)


def test_module_reference():
    fn = get_reward("envs.rewards.math_reward:compute_math_score")
    assert fn("anything", r"\boxed{3}", "3")["score"] == 1.0


def test_batch_aligns_keys():
    outs = compute_score_batch(["math", "math"], [r"\boxed{1}", "none"], ["1", "1"], max_workers=2)
    assert [o["score"] for o in outs] == [1.0, 0.0]
    assert set(outs[0]) == set(outs[1])
    with pytest.raises(ValueError, match="lengths differ"):
        compute_score_batch(["math"], [], [])


def test_trl_adapters_round_trip():
    logged = {}
    trl_reward = to_trl()
    scores = trl_reward(
        prompts=["p1", "p2"],
        completions=[r"\boxed{4}", [{"role": "assistant", "content": "x"}]],
        data_source=["math", "math"],
        ground_truth=["4", "4"],
        completion_ids=[[1], [2]],
        log_extra=lambda key, values: logged.__setitem__(key, values),
    )
    assert scores == [1.0, 0.0]
    assert logged["pred"] == ["4", ""]
    assert trl_reward.__name__ == "compute_score"

    def accuracy_reward(completions, solution, **kwargs):  # TRL's documented shape
        return [float(c.strip() == s) if s else None for c, s in zip(completions, solution, strict=True)]

    verl_style = from_trl(accuracy_reward)
    assert verl_style("any", "42", "42") == 1.0
    assert verl_style("any", "41", "42", {"prompt": "q"}) == 0.0
    assert verl_style("any", "41", "") == 0.0  # None ("does not apply") scores 0
