"""Warm start, baselines and the shipped tiny checkpoint, on the ALFWorld-style env."""

import json
from dataclasses import asdict, replace

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from agents import ExpertPolicy, RandomPolicy, collect_rollout, evaluate, load_template
from agents.tiny import DEFAULT_CHECKPOINT, TinyConfig, load_pretrained
from agents.warm_start import (
    WarmStartConfig,
    collect_demonstrations,
    demo_tokenizer,
    encode_demos,
    warm_start,
)
from envs.batch import EnvBatch

SMALL = WarmStartConfig(
    demo_episodes=4,
    model=TinyConfig(
        hidden_size=32, num_layers=2, num_heads=2, num_kv_heads=1, head_dim=16, intermediate_size=64
    ),
    sft_steps=2,
    batch_size=4,
    eval_episodes=2,
    env_kwargs={**WarmStartConfig().env_kwargs, "max_steps": 3},
)
TEMPLATE = load_template("alfworld", "compact", history_length=1)


def test_demonstrations_are_expert_commands_in_compact_prompts():
    demos = collect_demonstrations(SMALL)
    assert len(demos) >= SMALL.demo_episodes
    assert all(prompt.startswith("task : ") and "actions : " in prompt for prompt, _ in demos)
    assert {action.split()[0] for _, action in demos} <= {"go", "open", "take", "move"}


def test_warm_start_writes_a_checkpoint_and_reuses_it_from_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LAYERVERL_CACHE", str(tmp_path))
    out = warm_start(SMALL)
    assert out.parent == tmp_path and SMALL.key() in out.name
    summary = json.loads((out / "warm_start.json").read_text())
    assert summary["demo_steps"] > 0 and summary["config"]["sft_steps"] == 2
    assert 0.0 <= summary["valid_unseen"]["greedy"]["success"] <= 1.0
    assert AutoModelForCausalLM.from_pretrained(out).config.num_hidden_layers == 2
    stamp = (out / "warm_start.json").stat().st_mtime
    assert warm_start(SMALL) == out and (out / "warm_start.json").stat().st_mtime == stamp
    assert WarmStartConfig(sft_steps=3).key() != WarmStartConfig(sft_steps=2).key()


def test_expert_and_random_baselines_share_the_evaluation_path():
    kwargs = {**WarmStartConfig().env_kwargs, "split": "valid_unseen"}
    expert = evaluate(ExpertPolicy(), "alfworld", TEMPLATE, episodes=12, env_kwargs=kwargs, max_steps=20)
    random = evaluate(
        RandomPolicy(seed=0), "alfworld", TEMPLATE, episodes=12, env_kwargs=kwargs, max_steps=20
    )
    assert expert.success == 1.0 and list(expert.per_task_type) == ["pick_and_place_simple"]
    assert random.success < expert.success


def test_alfworld_groups_start_identical():
    with EnvBatch("alfworld", 16, **WarmStartConfig().env_kwargs) as envs:
        rollout = collect_rollout(
            envs, RandomPolicy(seed=0), TEMPLATE, [3, 4, 5, 6], group_size=4, max_steps=3
        )
    for group in range(4):
        first = [s for s in rollout.steps if s.group_id == group and s.step_idx == 0]
        assert len({s.prompt for s in first}) == 1 and len({s.anchor for s in first}) == 1
    assert len({s.anchor for s in rollout.steps if s.step_idx == 0}) == 4


def test_shipped_checkpoint_loads_with_auto_classes_and_records_its_validation():
    model = AutoModelForCausalLM.from_pretrained(DEFAULT_CHECKPOINT)
    tokenizer = AutoTokenizer.from_pretrained(DEFAULT_CHECKPOINT)
    assert model.config.num_hidden_layers >= 8 and tokenizer.chat_template
    summary = json.loads((DEFAULT_CHECKPOINT / "warm_start.json").read_text())
    result = summary["valid_unseen"]["greedy"]
    assert result["episodes"] == 134 and result["ci"][0] <= result["success"] <= result["ci"][1]
    assert 0.05 <= result["success"] <= 0.40  # weak but not hopeless, so RL has room
    assert summary["config"] == asdict(WarmStartConfig())  # the documented command regenerates it


def test_snapshot_at_step_k_is_the_run_with_k_steps(tmp_path, monkeypatch):
    """The SFT rate does not decay, so `--snapshots` shows what `--sft-steps k` would ship."""
    monkeypatch.setenv("LAYERVERL_CACHE", str(tmp_path))
    long_run = warm_start(replace(SMALL, sft_steps=200), snapshots=tmp_path / "snap")
    short_run = warm_start(replace(SMALL, sft_steps=100))
    assert sorted(p.name for p in (tmp_path / "snap").iterdir()) == ["step-100", "step-200"]
    snapshot, _ = load_pretrained(tmp_path / "snap" / "step-100")
    final, _ = load_pretrained(short_run)
    assert all(
        torch.equal(a, b)
        for a, b in zip(snapshot.state_dict().values(), final.state_dict().values(), strict=True)
    )
    assert not torch.equal(load_pretrained(long_run)[0].lm_head.weight, final.lm_head.weight)


def test_webshop_demos_follow_the_shopper_with_its_own_actions_in_the_prompt():
    from agents.warm_start import WEBSHOP

    demos = collect_demonstrations(replace(WEBSHOP, demo_episodes=3))
    prompt, action = demos[0]
    assert action.startswith("search[") and prompt.endswith("actions : search[<query>]")
    assert action[len("search[") : -1] in prompt  # the query is copied from the instruction
    assert {a.split("[")[0] for _, a in demos} == {"search", "click"}
    assert demos[-1][1] == "click[buy now]"
    assert any(" | done : search[" in p for p, _ in demos[1:])  # its own last actions, not the pages
    assert max(len(p.split()) for p, _ in demos) < 120
    tokenizer = demo_tokenizer(demos)  # every label is made of known units: the policy can say it
    for (_, action), (ids, prompt_length) in zip(demos, encode_demos(tokenizer, demos, 256), strict=True):
        assert tokenizer.unk_token_id not in ids[prompt_length:]
        assert tokenizer.decode(ids[prompt_length:-1]) == f"<action>{action}</action>"


def test_shipped_webshop_checkpoint_is_the_presets_run_and_can_say_the_shoppers_actions():
    from agents.warm_start import WEBSHOP

    path = DEFAULT_CHECKPOINT.parent / "tiny-webshop"
    model, tokenizer = load_pretrained(path)
    assert model.config.tie_word_embeddings and model.lm_head.weight is model.model.embed_tokens.weight
    summary = json.loads((path / "warm_start.json").read_text())
    assert summary["config"] == asdict(WEBSHOP)  # the documented command regenerates it
    assert 0.02 <= summary["test"]["greedy"]["success"] <= 0.40  # weak but not hopeless, so RL has room
    demos = collect_demonstrations(replace(WEBSHOP, demo_episodes=5, seed=7))  # other goals than its demos
    for _, action in demos:
        ids = tokenizer(f"<action>{action}</action>", add_special_tokens=False)["input_ids"]
        assert tokenizer.unk_token_id not in ids and tokenizer.decode(ids) == f"<action>{action}</action>"


def test_hanoi_demos_are_the_solvers_legal_moves_and_solve_the_puzzle():
    """The TextArena preset needs no split (the env has none); every label is a legal move listed in its
    prompt, and an episode without detours is the 7-move solution."""
    from agents.warm_start import HANOI

    demos = collect_demonstrations(replace(HANOI, demo_episodes=20))
    listed = [p.split("| actions : ")[-1].split(" | act :")[0].split(" , ") for p, _ in demos]
    assert all(a in moves for (_, a), moves in zip(demos, listed, strict=True))
    assert {a for _, a in demos} <= {f"[{s} {t}]" for s in "ABC" for t in "ABC" if s != t}
    straight = collect_demonstrations(replace(HANOI, demo_episodes=1, detour_prob=0.0))
    assert [a for _, a in straight] == ["[A C]", "[A B]", "[C B]", "[A C]", "[B A]", "[B C]", "[A C]"]
