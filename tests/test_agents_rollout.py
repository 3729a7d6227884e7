"""Rollout collection and evaluation on a tiny TextEnv: group/trajectory/anchor fields, robustness, baselines."""

import pytest

import envs
from agents import (
    EvalResult,
    ExpertPolicy,
    LMPolicy,
    RandomPolicy,
    collect_rollout,
    evaluate,
    load_template,
    paired_change,
    wilson_interval,
)
from agents.evaluation import mcnemar_exact
from agents.policies import Response
from agents.rollout import anchor_hash
from envs.base import NOTHING_HAPPENS, TextEnv
from envs.batch import EnvBatch


class WalkEnv(TextEnv):
    """Walk along a line of cells to the goal cell; the start cell and the goal come from the seed."""

    def __init__(self, length: int = 6, max_steps: int = 8, **kw):
        super().__init__(max_steps=max_steps, **kw)
        self.length, self.position, self.goal, self.direction = length, 0, 0, ""

    @property
    def task(self) -> str:
        return f"walk to cell {self.goal}"

    def _reset(self, options):
        self.position, self.goal = (int(x) for x in self.np_random.choice(self.length, size=2, replace=False))
        self.direction = "left" if self.goal < self.position else "right"
        return f"You are at cell {self.position}."

    def _step(self, action):
        moves = {"left": -1, "right": 1}
        if action not in moves or not 0 <= self.position + moves[action] < self.length:
            return NOTHING_HAPPENS, 0.0, False
        self.position += moves[action]
        won = self.position == self.goal
        return f"You are at cell {self.position}.", 1.0 if won else 0.0, won

    def _admissible_actions(self):
        return [a for a, d in (("left", -1), ("right", 1)) if 0 <= self.position + d < self.length]

    def _extra_info(self):
        return {"task_type": self.direction}

    def expert_action(self) -> str:
        return "left" if self.goal < self.position else "right"


envs.register_env("agents-test-walk", WalkEnv)
TEMPLATE = load_template("agents-test-walk", "no_think")


class ScriptedPolicy:
    """Answers every request with the next response of a fixed list (cycled)."""

    uses_expert = False

    def __init__(self, texts):
        self.texts, self.calls = texts, 0

    def act(self, requests):
        out = [Response(self.texts[(self.calls + k) % len(self.texts)]) for k in range(len(requests))]
        self.calls += len(requests)
        return out


def test_groups_share_initial_states_and_fields_are_consistent():
    with EnvBatch("agents-test-walk", 16) as batch:
        rollout = collect_rollout(batch, RandomPolicy(seed=1), TEMPLATE, seeds=[10, 11, 12, 13], group_size=4)
    assert [t.traj_id for t in rollout.trajectories] == list(range(16))
    assert [t.group_id for t in rollout.trajectories] == [g for g in range(4) for _ in range(4)]
    first_steps = [s for s in rollout.steps if s.step_idx == 0]
    assert len(first_steps) == 16
    for group in range(4):
        prompts = {s.prompt for s in first_steps if s.group_id == group}
        anchors = {s.anchor for s in first_steps if s.group_id == group}
        assert len(prompts) == 1 and len(anchors) == 1  # identical initial state within a group
    for trajectory in rollout.trajectories:
        steps = [s for s in rollout.steps if s.traj_id == trajectory.traj_id]
        assert [s.step_idx for s in steps] == list(range(trajectory.length))
        assert all(s.group_id == trajectory.group_id for s in steps)
        assert [s.done for s in steps] == [False] * (len(steps) - 1) + [True]
        assert trajectory.episode_return == sum(s.step_reward for s in steps)
        assert trajectory.won == (trajectory.episode_return > 0)
        assert trajectory.task_type in ("left", "right") and trajectory.valid_ratio == 1.0
    # the same raw observation gets the same anchor; different observations different anchors
    by_observation = {}
    for step in rollout.steps:
        observation = step.prompt.split("current observation is: ")[-1].split("\n")[0]
        by_observation.setdefault(observation, set()).add(step.anchor)
    assert all(len(anchors) == 1 for anchors in by_observation.values())
    assert len({next(iter(a)) for a in by_observation.values()}) == len(by_observation)
    assert any(
        len([s for s in rollout.steps if s.anchor == a]) > 1 for a in {s.anchor for s in rollout.steps}
    )


def test_anchor_hash_is_stable_and_takes_any_string():
    assert anchor_hash("You are at cell 1.") == anchor_hash("You are at cell 1.")
    assert anchor_hash("\ud800 \x00 字") != anchor_hash("")


ADVERSARIAL = [
    "",
    "x" * 20_000,
    "<action>" + "right " * 5_000 + "</action>",
    "right",
    "<action>right",
    "<action><action>right</action></action>",
    "<action>向右</action>",
    "<action>right\x00</action>",
    "\x00" * 50,
    "<think>" * 1000,
]


def test_adversarial_responses_never_crash_and_are_invalid():
    with EnvBatch("agents-test-walk", 10) as batch:
        rollout = collect_rollout(
            batch, ScriptedPolicy(ADVERSARIAL), TEMPLATE, seeds=list(range(10)), group_size=1, max_steps=4
        )
    assert len(rollout.steps) == 40
    assert not any(s.valid for s in rollout.steps)
    assert all(t.length == 4 and t.valid_ratio == 0.0 for t in rollout.trajectories)
    assert all(s.done == (s.step_idx == 3) for s in rollout.steps)


def test_lm_policy_rollout_carries_ids_and_logprobs():
    from agents import HFBackend
    from agents.tiny import TinyConfig, build_model, train_tokenizer

    tokenizer = train_tokenizer(["walk to cell 3 You are at cell 2 . left right <action>"])
    model = build_model(
        tokenizer,
        TinyConfig(
            hidden_size=32, num_layers=2, num_heads=2, num_kv_heads=1, head_dim=16, intermediate_size=64
        ),
    )
    policy = LMPolicy(HFBackend(model, tokenizer), tokenizer, max_new_tokens=4, max_prompt_tokens=32)
    with EnvBatch("agents-test-walk", 4) as batch:
        rollout = collect_rollout(
            batch, policy, load_template("x", "compact"), seeds=[0, 1], group_size=2, max_steps=3
        )
    assert rollout.steps and all(
        0 < len(s.prompt_ids) <= 32 and len(s.response_ids) == len(s.response_logprobs) >= 1
        for s in rollout.steps
    )
    assert all(lp <= 0 for s in rollout.steps for lp in s.response_logprobs)


def test_batch_size_must_match_groups():
    with EnvBatch("agents-test-walk", 3) as batch, pytest.raises(ValueError, match="need 4 envs"):
        collect_rollout(batch, RandomPolicy(), TEMPLATE, seeds=[0, 1], group_size=2)


def test_expert_beats_random_through_the_same_evaluation_path():
    expert = evaluate(ExpertPolicy(), "agents-test-walk", TEMPLATE, episodes=30, max_steps=8, batch_size=16)
    random = evaluate(RandomPolicy(seed=0), "agents-test-walk", TEMPLATE, episodes=30, max_steps=8)
    assert expert.success == 1.0 and expert.episodes == 30
    assert random.success < 1.0
    assert set(expert.per_task_type) == {"left", "right"}
    assert sum(v["episodes"] for v in expert.per_task_type.values()) == 30
    assert expert.to_dict()["ci"][1] == 1.0


@pytest.mark.parametrize(
    "successes, trials, expected",
    [(0, 10, (0.0, 0.2775)), (5, 10, (0.2366, 0.7634)), (10, 10, (0.7225, 1.0)), (0, 0, (0.0, 1.0))],
)
def test_wilson_interval(successes, trials, expected):
    assert wilson_interval(successes, trials) == pytest.approx(expected, abs=1e-4)


@pytest.mark.parametrize(
    "only_after, only_before, expected",
    # scipy.stats.binomtest(k, n).pvalue: 16/19 -> 0.00443, 7/13 -> 1.0, 11/18 -> 0.4807
    [(16, 3, 0.004425), (7, 6, 1.0), (11, 7, 0.480682), (0, 0, 1.0), (5, 0, 0.0625)],
)
def test_mcnemar_exact_matches_the_binomial_test(only_after, only_before, expected):
    assert mcnemar_exact(only_after, only_before) == pytest.approx(expected, abs=1e-5)


def test_paired_change_pairs_episodes_by_seed():
    def result(wins: dict[int, bool]) -> EvalResult:
        return EvalResult(
            0.0, (0.0, 1.0), len(wins), outcomes=[{"episode": e, "won": w} for e, w in wins.items()]
        )

    before = result({0: True, 1: False, 2: False, 3: True})
    after = result({3: False, 2: True, 1: True, 0: True})  # another order: pairing goes by seed, not position
    assert paired_change(before, after) == {
        "episodes": 4,
        "only_after": 2,
        "only_before": 1,
        "p": pytest.approx(1.0),
    }


def test_paired_change_adds_a_sign_test_on_scores_where_every_episode_has_one():
    def result(scores: dict[int, float]) -> EvalResult:
        outcomes = [{"episode": e, "won": s == 1.0, "score": s} for e, s in scores.items()]
        return EvalResult(0.0, (0.0, 1.0), len(scores), outcomes=outcomes)

    before = result({0: 0.5, 1: 0.2, 2: 1.0, 3: 0.0, 4: 0.25})
    after = result({0: 0.75, 1: 0.2, 2: 0.5, 3: 1.0, 4: 0.5})
    change = paired_change(before, after)
    assert (change["score_rose"], change["score_fell"]) == (3, 1)
    assert change["score_change"] == pytest.approx((0.25 + 0 - 0.5 + 1.0 + 0.25) / 5)
    assert change["score_p"] == pytest.approx(mcnemar_exact(3, 1))
    assert (change["only_after"], change["only_before"]) == (1, 1)
    unscored = EvalResult(0.0, (0.0, 1.0), 1, outcomes=[{"episode": 0, "won": True, "score": None}])
    assert "score_change" not in paired_change(unscored, unscored)
