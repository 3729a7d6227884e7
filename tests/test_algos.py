"""Golden tests for the advantage estimators on small hand-computed batches."""

import dataclasses

import numpy as np
import pytest
import torch
from verl.trainer.ppo import core_algos

import layerverl.verl_backend.estimators  # noqa: F401  (verl also loads it as a plugin: tests/test_imports.py)
from agents import StepBatch
from layerverl.algos import (
    discounted_returns,
    drgrpo_advantages,
    estimate_advantages,
    get_advantage_fn,
    gigpo_advantages,
    grpo_advantages,
)

# group 0: traj 0 visits a, b and wins (reward 1 on its last step); traj 1 visits a, c, b and fails.
# group 1: a single trajectory with return 2.
BATCH = StepBatch(
    episode_return=np.array([1.0, 1.0, 0.0, 0.0, 0.0, 2.0]),
    step_reward=np.array([0.0, 1.0, 0.0, 0.0, 0.0, 2.0]),
    group_id=np.array([0, 0, 0, 0, 0, 1]),
    traj_id=np.array([0, 0, 1, 1, 1, 2]),
    step_idx=np.array([0, 1, 0, 1, 2, 0]),
    anchor=["a", "b", "a", "c", "b", "a"],
    valid=np.array([True] * 6),
)


def test_discounted_returns():
    returns = discounted_returns(BATCH.step_reward, BATCH.traj_id, BATCH.step_idx, gamma=0.5)
    np.testing.assert_allclose(returns, [0.5, 1.0, 0.0, 0.0, 0.0, 2.0])


def test_gigpo_mean_norm_by_hand():
    adv = gigpo_advantages(BATCH, gamma=0.5, omega=1.0, mode="mean_norm", invalid_penalty=0.0)
    # A^E over step samples of group 0: scores [1,1,0,0,0], mean 0.4; group 1 singleton keeps its raw return
    np.testing.assert_allclose(adv.episode, [0.6, 0.6, -0.4, -0.4, -0.4, 2.0])
    # A^S: state a -> returns (0.5, 0) ; b -> (1, 0) ; c and group 1's a are singletons -> 0
    np.testing.assert_allclose(adv.step, [0.25, 0.5, -0.25, 0.0, -0.5, 0.0])
    np.testing.assert_allclose(adv.total, [0.85, 1.1, -0.65, -0.4, -0.9, 2.0])
    np.testing.assert_array_equal(adv.step_group_size, [2, 2, 2, 1, 2, 1])


def test_gigpo_mean_std_norm_and_omega():
    adv = gigpo_advantages(BATCH, gamma=0.5, omega=0.5, mode="mean_std_norm", invalid_penalty=0.0)
    std = np.sqrt(1.2 / 4)  # unbiased std of [1, 1, 0, 0, 0]
    np.testing.assert_allclose(
        adv.episode[:5], np.array([0.6, 0.6, -0.4, -0.4, -0.4]) / (std + 1e-6), rtol=1e-6
    )
    pair = np.sqrt(0.125)  # unbiased std of (0.5, 0) ; (1, 0) has std sqrt(0.5)
    np.testing.assert_allclose(adv.step[[0, 2]], [0.25 / (pair + 1e-6), -0.25 / (pair + 1e-6)], rtol=1e-6)
    np.testing.assert_allclose(adv.total, adv.episode + 0.5 * adv.step)


def test_trajectory_statistics_differ_from_step_statistics():
    adv = gigpo_advantages(BATCH, gamma=0.5, episode_stats="trajectories", invalid_penalty=0.0)
    np.testing.assert_allclose(adv.episode, [0.5, 0.5, -0.5, -0.5, -0.5, 2.0])


def test_invalid_penalty_after_discounting():
    batch = dataclasses.replace(BATCH, valid=np.array([True, True, False, True, True, True]))
    adv = gigpo_advantages(batch, gamma=0.5, invalid_penalty=0.1)
    # scores [1, 1, -0.1, 0, 0]: mean 0.38; the penalised step's return becomes -0.1 (not propagated back)
    np.testing.assert_allclose(adv.episode[:5], [0.62, 0.62, -0.48, -0.38, -0.38])
    np.testing.assert_allclose(adv.step[[0, 2]], [0.3, -0.3])


def test_singleton_step_groups_give_zero():
    batch = dataclasses.replace(BATCH, anchor=["s1", "s2", "s3", "s4", "s5", "s6"])
    assert np.all(gigpo_advantages(batch).step == 0.0)


@pytest.mark.parametrize(("mode", "norm_by_std"), [("mean_norm", False), ("mean_std_norm", True)])
def test_gigpo_equals_grpo_when_no_state_repeats(mode, norm_by_std):
    rng = np.random.default_rng(0)
    n = 200
    traj = np.sort(rng.integers(0, 40, n))
    batch = StepBatch(
        episode_return=rng.random(40)[traj],
        step_reward=rng.random(n),
        group_id=traj // 8,
        traj_id=traj,
        step_idx=np.concatenate([np.arange(c) for c in np.bincount(traj)]),
        anchor=[f"unique {i}" for i in range(n)],
        valid=rng.random(n) > 0.2,
    )
    gigpo = gigpo_advantages(batch, mode=mode)
    grpo = grpo_advantages(batch, norm_by_std=norm_by_std)
    np.testing.assert_allclose(gigpo.total, grpo.total)


def test_grpo_matches_verl_on_single_turn_batch():
    rewards = np.array([1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0])
    index = np.array(["u0"] * 4 + ["u1"] * 4, dtype=object)
    token_rewards = torch.zeros(8, 5)
    token_rewards[:, -1] = torch.tensor(rewards)
    theirs, _ = core_algos.compute_grpo_outcome_advantage(token_rewards, torch.ones(8, 5), index)
    single_turn = StepBatch(
        episode_return=rewards,
        step_reward=rewards,
        group_id=np.repeat([0, 1], 4),
        traj_id=np.arange(8),
        step_idx=np.zeros(8),
        anchor=[""] * 8,
        valid=np.ones(8, bool),
    )
    ours = grpo_advantages(single_turn)
    np.testing.assert_allclose(ours.total, theirs[:, 0].numpy(), rtol=1e-5)


def test_similarity_grouping_merges_near_identical_states():
    batch = dataclasses.replace(BATCH, anchor=["room a", "room b", "room a!", "room c", "room b", "room a"])
    exact = gigpo_advantages(batch, gamma=0.5)
    similar = gigpo_advantages(batch, gamma=0.5, similarity_threshold=0.8)
    assert exact.step[0] == 0.0 and similar.step[0] != 0.0


def test_registered_in_verl_and_by_name():
    for name in ("gigpo", "layerverl_grpo", "layerverl_drgrpo"):
        assert core_algos.get_adv_estimator_fn(name) is not None
    with pytest.raises(ValueError, match="gigpo, grpo, drgrpo"):
        get_advantage_fn("ppo")
    with pytest.raises(ValueError, match="mode must be one of"):
        gigpo_advantages(BATCH, mode="median")


def test_each_estimator_takes_only_its_own_options():
    with pytest.raises(TypeError, match="omega"):
        grpo_advantages(BATCH, omega=1.0)
    with pytest.raises(TypeError, match="norm_by_std"):
        drgrpo_advantages(BATCH, norm_by_std=True)
    with pytest.raises(
        ValueError, match="'grpo' takes no option 'gamma'; its options: norm_by_std, episode_stats"
    ):
        estimate_advantages("grpo", BATCH, {"gamma": 0.95})
    np.testing.assert_allclose(
        estimate_advantages("drgrpo", BATCH, {"invalid_penalty": 0.0}).total,
        grpo_advantages(BATCH, norm_by_std=False, invalid_penalty=0.0).total,
    )


def test_step_batch_needs_one_entry_per_sample():
    with pytest.raises(ValueError, match="one entry per step sample"):
        dataclasses.replace(BATCH, anchor=["a"])


def test_verl_entry_points_run_on_token_level_batches():
    token_rewards = torch.zeros(6, 4)
    token_rewards[:, -1] = torch.tensor(BATCH.episode_return)
    mask = torch.ones(6, 4)
    index = np.array(["g0"] * 5 + ["g1"], dtype=object)
    drgrpo, _ = core_algos.get_adv_estimator_fn("layerverl_drgrpo")(token_rewards, mask, index)
    np.testing.assert_allclose(drgrpo[:5, 0].numpy(), [0.6, 0.6, -0.4, -0.4, -0.4], rtol=1e-6)
    gigpo = core_algos.get_adv_estimator_fn("gigpo")
    with pytest.raises(ValueError, match="anchor_obs"):
        gigpo(token_rewards, mask, index)
    adv, _ = gigpo(
        token_rewards,
        mask,
        index,
        config={"gigpo": {"gamma": 0.5}},
        traj_index=BATCH.traj_id,
        step_index=BATCH.step_idx,
        step_rewards=BATCH.step_reward,
        anchor_obs=BATCH.anchor,
    )
    np.testing.assert_allclose(adv[:, 0].numpy(), [0.85, 1.1, -0.65, -0.4, -0.9, 2.0], rtol=1e-5)
