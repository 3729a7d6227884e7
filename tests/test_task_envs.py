"""Single-turn math and code envs: check_env, one-step episodes, the generator and user-file loaders."""

from __future__ import annotations

import json

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env

import envs
from envs.math_problems import DIFFICULTIES, generate_problems


@pytest.mark.parametrize("name", ["math", "code"])
def test_check_env_passes(name):
    env = envs.make(name, seed=0)
    check_env(env, skip_render_check=True)


def test_gym_ids_registered():
    assert gym.make("layerverl/Math-v0", num_problems=5).unwrapped.data_source == "math"
    assert len(gym.make("layerverl/Code-v0").unwrapped.tasks) == 164


def test_math_episode_is_one_step():
    env = envs.make("math", num_problems=10)
    obs, info = env.reset(seed=0, options={"index": 3})
    assert info["anchor"] == obs == info["task"] and info["admissible_actions"] == []
    answer = env.unwrapped.tasks[3]["ground_truth"]
    obs, reward, terminated, truncated, info = env.step(f"Work.\nSo \\boxed{{{answer}}}")
    assert (reward, terminated, truncated, info["won"]) == (1.0, True, False, True)
    env.reset(options={"index": 3})
    assert env.step("\\boxed{nonsense}")[1] == 0.0


def test_code_episode_keeps_newlines():
    from envs.code_task import load_humaneval

    env = envs.make("code", limit=3, reward_kwargs={"timeout_s": 3.0})
    env.reset(options={"index": 2})
    row = load_humaneval()[2]
    _, reward, terminated, _, info = env.step(f"```python\n{row['prompt']}{row['canonical_solution']}```")
    assert reward == 1.0 and terminated and info["reward_details"]["status"] == "ok"


def test_generator_is_deterministic_and_graded():
    first, again, other = (
        generate_problems(50, seed=7),
        generate_problems(50, seed=7),
        generate_problems(50, seed=8),
    )
    assert first == again and first != other
    assert {p.difficulty for p in first} == set(DIFFICULTIES)
    assert any("frac" in p.answer for p in first) and any(p.answer.lstrip("-").isdigit() for p in first)
    assert all(p.difficulty == 3 for p in generate_problems(5, seed=0, difficulty=3))


def test_user_files(tmp_path):
    jsonl = tmp_path / "math.jsonl"
    jsonl.write_text(json.dumps({"question": "What is 2+2?", "answer": "Two plus two.\n#### 4"}) + "\n")
    env = envs.make("math", dataset=str(jsonl))
    env.reset(seed=0)
    assert env.step("\\boxed{4}")[1] == 1.0

    import pandas

    parquet = tmp_path / "code.parquet"
    pandas.DataFrame(
        [
            {
                "prompt": [{"role": "user", "content": "Add two numbers from stdin."}],
                "reward_model": {"ground_truth": json.dumps({"inputs": ["1 2\n"], "outputs": ["3\n"]})},
            }
        ]
    ).to_parquet(parquet)
    env = envs.make("code", dataset=str(parquet), split="train")
    obs, _ = env.reset(seed=0)
    assert obs.startswith("Add two numbers")
    assert env.step("```python\nprint(sum(map(int, input().split())))\n```")[1] == 1.0

    datasets = pytest.importorskip("datasets")
    datasets.Dataset.from_list([{"problem": "1+1?", "solution": "2"}]).save_to_disk(str(tmp_path / "hf"))
    env = envs.make("math", dataset=str(tmp_path / "hf"))
    env.reset(seed=0)
    assert env.step("The answer is 2")[1] == 1.0
    with pytest.raises(ValueError, match="does not exist"):
        envs.make("math", dataset=str(tmp_path / "missing.jsonl"))


def test_arithmetic_splits_are_disjoint_by_pair():
    from envs.math_problems import arithmetic_problems

    splits = {name: arithmetic_problems(name) for name in ("train", "valid", "test")}
    assert sum(map(len, splits.values())) == 30 * 30 + 11 * 11
    assert len(splits["test"]) >= 300
    pairs = {
        name: {frozenset(p.question.split("?")[0].split()[2::2]) | {p.question.split()[3]} for p in problems}
        for name, problems in splits.items()
    }
    assert not pairs["train"] & pairs["test"] and not pairs["train"] & pairs["valid"]
    env = envs.make("math", dataset="arithmetic", split="test")
    assert env.unwrapped.tasks[0]["prompt"].startswith("What is ")


def test_by_seed_order_walks_every_task_once():
    env = envs.make("math", dataset="arithmetic", split="test", task_order="by_seed", instruction="Box it.")
    tasks = env.unwrapped.tasks
    seen = [env.reset(seed=s)[0] for s in range(len(tasks))]
    assert seen == [t["prompt"] for t in tasks] and seen[0].endswith("\nBox it.")
    with pytest.raises(ValueError, match="task_order"):
        envs.make("math", task_order="sorted")


def test_rollout_hands_single_turn_envs_the_whole_response():
    from agents import collect_rollout, load_template
    from agents.policies import Response
    from envs.batch import EnvBatch

    class Answer:
        uses_expert = False

        def act(self, requests):
            return [Response("First line\nso \\boxed{2}") for _ in requests]

    with EnvBatch("math", 2, dataset="arithmetic", split="test", task_order="by_seed") as batch:
        rollout = collect_rollout(batch, Answer(), load_template("math", "think"), seeds=[0], group_size=2)
    assert [s.action for s in rollout.steps] == ["First line\nso \\boxed{2}"] * 2  # "What is 1 + 1?"
    assert all(s.valid for s in rollout.steps) and [t.won for t in rollout.trajectories] == [True, True]
    assert (
        rollout.steps[0].prompt
        == "What is 1 + 1?\nReason step by step, then put your final answer in \\boxed{}."
    )


def test_evaluation_records_each_answer_and_response():
    """episodes.jsonl's records say what the policy answered, so a gain can be read, not only counted."""
    from agents import load_template
    from agents.evaluation import evaluate
    from agents.policies import Response

    class Answer:
        uses_expert = False

        def act(self, requests):
            return [Response("It is \\boxed{2}") for _ in requests]

    kwargs = {"dataset": "arithmetic", "split": "test", "task_order": "by_seed"}
    result = evaluate(Answer(), "math", load_template("math", "think"), 2, kwargs)
    assert [(o["won"], o["answer"], o["response"]) for o in result.outcomes] == [
        (True, "2", "It is \\boxed{2}"),  # 1 + 1
        (False, "2", "It is \\boxed{2}"),
    ]
