"""Nothing a model emits crashes a run: fuzzed responses through the multi-turn envs' whole step path (the
rollout's prompt building, `parse_action`, `env.step`, anchors) and through `env.step` directly."""

from __future__ import annotations

import random

import pytest

import envs
from agents import collect_rollout, load_template, parse_action
from agents.policies import Response
from envs.batch import EnvBatch

MULTI_TURN = {  # env name -> kwargs small enough for a quick test
    "alfworld": {"max_steps": 6},
    "webshop": {"max_steps": 6},
    "textarena/TowerOfHanoi-v0": {"max_steps": 6},
    "textarena/Sudoku-v0": {"max_steps": 6},
    "textarena/Minesweeper-v0": {"max_steps": 6},
}
PIECES = [
    "\x00",
    "\ud800",
    "\udfff",
    "\u202e",
    "\ufeff",
    "\u0301" * 30,
    "🙂",
    "向右",
    "\r\n",
    "\t",
    "\x1b[2J",
    "<action>",
    "</action>",
    "<think>",
    "</think>",
    "search[",
    "click[",
    "]",
    "[",
    "go to",
    "take",
    "\\",
    "'",
    '"',
    "%s",
    "{0}",
    "${env.name}",
    " " * 200,
    "\u2028",
    "\x7f",
    "NaN",
    "-1e309",
]


def fuzzed_responses(seed: int, count: int) -> list[str]:
    """Random mixes of odd characters and action-like fragments, plus a few huge ones."""
    rng = random.Random(seed)
    texts = ["".join(rng.choice(PIECES) for _ in range(rng.randint(0, 40))) for _ in range(count)]
    texts += [
        "<action>" + "x" * 200_000 + "</action>",
        "\x00" * 100_000,
        "<action>" + "\ud800" * 5000 + "</action>",
        "<action>" * 20_000,
        "".join(chr(rng.randrange(0x110000)) for _ in range(5000)),
    ]
    return texts


class FuzzPolicy:
    uses_expert = False

    def __init__(self, texts: list[str]):
        self.texts, self.calls = texts, 0

    def act(self, requests):
        out = [Response(self.texts[(self.calls + k) % len(self.texts)]) for k in range(len(requests))]
        self.calls += len(requests)
        return out


@pytest.mark.parametrize("name", sorted(MULTI_TURN))
def test_fuzzed_responses_through_the_rollout_never_crash(name):
    texts = fuzzed_responses(seed=len(name), count=40)
    template = load_template(name.split("/")[0], "compact", history_length=2)
    with EnvBatch(name, 4, **MULTI_TURN[name]) as batch:
        rollout = collect_rollout(batch, FuzzPolicy(texts), template, seeds=[0, 1], group_size=2, max_steps=6)
    assert rollout.steps and all(isinstance(s.anchor, str) for s in rollout.steps)


@pytest.mark.parametrize("name", sorted(MULTI_TURN))
def test_fuzzed_actions_through_parse_and_step_never_crash(name):
    env = envs.make(name, **MULTI_TURN[name])
    obs, info = env.reset(seed=3)
    for text in fuzzed_responses(seed=7, count=60):
        action, valid = parse_action(text, info.get("admissible_actions"))
        assert isinstance(action, str) and isinstance(valid, bool)
        for sent in (action, text):
            obs, reward, terminated, truncated, info = env.step(sent)
            assert isinstance(obs, str) and isinstance(reward, float) and isinstance(info, dict)
            if terminated or truncated:
                obs, info = env.reset(seed=3)
    env.close()


def test_parse_action_is_linear_in_the_response():
    """160 KB of unclosed tags took 31 s with the regex alone; the first complete tag pair still wins."""
    import time

    cases = [
        ("<action>" * 20_000, None),
        ("<ACTION>" * 10_000 + "go</action>", "<ACTION>" * 9_999 + "go"),
        ("x<action>a</action><action>b</action>", "a"),
    ]
    for text, inner in cases:
        start = time.perf_counter()
        action, valid = parse_action(text)
        assert time.perf_counter() - start < 1.0
        if inner is None:
            assert not valid
        else:
            assert action == " ".join(inner.split())[: len(action)] and action
