"""TextArena games through `envs.make`: Gymnasium compliance, play to a finish, offline failures, bad input."""

from __future__ import annotations

import random
import re
import subprocess
import sys
import textwrap
from collections import deque
from pathlib import Path

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env

import envs
from envs.textarena_env import TEXTARENA_OFFLINE_GAMES

pytest.importorskip("textarena")

REPO_ROOT = Path(__file__).resolve().parents[1]

# A format-shaped random move for games that list no admissible actions (most still get rejected).
SHAPED_MOVES = {
    "Countdown-v0": lambda rng: f"[{rng.randrange(6)} {rng.randrange(6)} {rng.choice('+-*/')}]",
    "Crosswords-v0": lambda rng: f"[{rng.randrange(5)} {rng.randrange(5)} {rng.choice('AEIOUSTR')}]",
    "Cryptarithm-v0": lambda rng: f"[{rng.choice('SENDMORY')} {rng.randrange(10)}]",
    "LogicPuzzle-v0": lambda rng: f"[{rng.choice(['Alice', 'Bob', 'park'])} {rng.choice(['red', 'park'])} X]",
    "Mastermind-v0": lambda rng: "[" + " ".join(map(str, rng.sample(range(1, 7), 4))) + "]",
    "PegJump-v0": lambda rng: f"[{rng.randrange(1, 16)} {rng.randrange(1, 16)}]",
    "RushHour-v0": lambda rng: f"[{rng.choice('ABCDEFGX')}{rng.choice('+-')}]",
    "Set-v0": lambda rng: "[" + ", ".join(map(str, rng.sample(range(1, 13), 3))) + "]",
    "Slitherlink-v0": lambda rng: f"[{rng.choice('hv')} {rng.randrange(5)} {rng.randrange(5)}]",
    "Sudoku-v0": lambda rng: f"[{rng.randrange(1, 10)} {rng.randrange(1, 10)} {rng.randrange(1, 10)}]",
}


def test_registered_names_and_lazy_import():
    names = envs.list_envs()
    assert "textarena" in names and all(f"textarena/{game}" in names for game in TEXTARENA_OFFLINE_GAMES)
    code = "import sys, envs; assert not {'textarena', 'nltk'} & set(sys.modules), 'eager import'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60, cwd=REPO_ROOT)
    env = gym.make("layerverl/TextArena-TowerOfHanoi-v0")
    assert env.reset(seed=0)[0].startswith("You are playing Tower of Hanoi")


def test_offline_games_make_no_network_call():
    """Every registered game builds and plays, and the NLTK games fail, with sockets refusing to connect."""
    code = textwrap.dedent(f"""
        import socket
        calls = []
        def refuse(*args, **kwargs):
            calls.append(args)
            raise OSError("network disabled by test")
        socket.socket.connect = refuse
        socket.getaddrinfo = refuse
        import envs
        for game in {TEXTARENA_OFFLINE_GAMES!r}:
            env = envs.make("textarena/" + game)
            env.reset(seed=1)
            env.step("[1]")
        try:
            envs.make("textarena", game="Wordle-v0")
        except RuntimeError:
            pass
        assert not calls, calls
    """)
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120, capture_output=True, cwd=REPO_ROOT)


@pytest.mark.parametrize("game", TEXTARENA_OFFLINE_GAMES)
def test_check_env(game):
    check_env(envs.make(f"textarena/{game}").unwrapped, skip_render_check=True)


def test_check_env_generic():
    env = envs.make("textarena", game="Sudoku-v0-easy", max_steps=30)
    check_env(env.unwrapped, skip_render_check=True)
    assert env.reset(seed=0)[1]["game"] == "Sudoku-v0-easy"


@pytest.mark.parametrize("game", TEXTARENA_OFFLINE_GAMES)
def test_random_play_reaches_the_end(game):
    rng = random.Random(0)
    env = envs.make(f"textarena/{game}")
    obs, info = env.reset(seed=5)
    assert info["task"] and obs.startswith(info["task"]) and info["anchor"]
    terminated = truncated = False
    while not (terminated or truncated):
        moves = info["admissible_actions"]
        action = rng.choice(moves) if moves else SHAPED_MOVES[game](rng)
        obs, reward, terminated, truncated, info = env.step(action)
        assert isinstance(reward, float) and isinstance(obs, str)
        assert reward == 0.0 or terminated
    if terminated:
        assert info["outcome"] and "Game over: " in obs and info["admissible_actions"] == []
        assert info["won"] == (reward >= 1.0 and not info["invalid_move"])
        assert env.step("[up]")[1:3] == (0.0, True)  # stepping after the end changes nothing


@pytest.mark.parametrize("game", TEXTARENA_OFFLINE_GAMES)
def test_bad_input_never_raises(game):
    env = envs.make(f"textarena/{game}")
    env.reset(seed=0)
    for action in ["", "x" * 100_000, "[up]\x00\x00[A C]", "\x00", None, 12, "[" * 5000, "]["]:
        obs, reward, terminated, truncated, info = env.step(action)
        assert isinstance(obs, str) and isinstance(reward, float)
    assert terminated  # two invalid moves in a row end every game


def test_tower_of_hanoi_solved_optimally_wins():
    env = envs.make("textarena/TowerOfHanoi-v0")
    env.reset(seed=0)
    for move in ["A C", "A B", "C B", "A C", "B A", "B C", "A C"]:  # bare moves get TextArena's brackets
        obs, reward, terminated, truncated, info = env.step(move)
    assert (reward, terminated, truncated, info["won"]) == (1.0, True, False, True)
    assert "C: [3, 2, 1]" in info["anchor"] and "solved" in info["outcome"]


@pytest.mark.parametrize("game, disks", [("TowerOfHanoi-v0", 3), ("TowerOfHanoi-v0-medium", 4)])
def test_tower_of_hanoi_expert_is_optimal_from_any_position(game, disks):
    """From the start it wins in 2^n - 1 moves; after random legal detours it still wins, in exactly the
    fewest moves left (checked by breadth-first search over positions), since it plans from the position."""
    import random
    from collections import deque

    def fewest_moves(towers: dict) -> int:
        start = tuple(tuple(towers[t]) for t in "ABC")
        goal = ((), (), tuple(range(disks, 0, -1)))
        seen, queue = {start: 0}, deque([start])
        while queue:
            state = queue.popleft()
            if state == goal:
                return seen[state]
            for i in range(3):
                for j in range(3):
                    if i != j and state[i] and (not state[j] or state[j][-1] > state[i][-1]):
                        nxt = [list(t) for t in state]
                        nxt[j].append(nxt[i].pop())
                        key = tuple(tuple(t) for t in nxt)
                        if key not in seen:
                            seen[key] = seen[state] + 1
                            queue.append(key)
        raise AssertionError("unreachable goal")

    def play_expert() -> tuple[int, dict]:
        taken, done = 0, False
        while not done:
            _, _, done, _, info = env.step(env.unwrapped.expert_action())
            taken += 1
        return taken, info

    env = envs.make("textarena", game=game)
    _, info = env.reset(seed=0)
    taken, info = play_expert()
    assert taken == 2**disks - 1 and info["won"] and env.unwrapped.expert_action() == ""
    rng = random.Random(0)
    for episode in range(5):
        _, info = env.reset(seed=episode)
        for _ in range(rng.randint(1, 6)):
            _, _, _, _, info = env.step(rng.choice(info["admissible_actions"]))
        expected = fewest_moves(env.unwrapped._game.state.game_state["towers"])
        taken, info = play_expert()
        assert info["won"] and taken == expected, (episode, taken, expected)


def test_games_without_an_expert_say_so():
    env = envs.make("textarena/FrozenLake-v0")
    env.reset(seed=0)
    with pytest.raises(ValueError, match="has no expert; games with one: TowerOfHanoiEnv"):
        env.unwrapped.expert_action()


def test_guess_the_number_binary_search_wins():
    env = envs.make("textarena/GuessTheNumber-v0")
    obs, info = env.reset(seed=11)
    low, high, terminated = 1, 20, False
    while not terminated:
        guess = (low + high) // 2
        obs, reward, terminated, _, info = env.step(f"[{guess}]")
        if "higher" in obs:
            low = guess + 1
        elif "lower" in obs:
            high = guess - 1
    assert info["won"] and reward == 1.0


def test_three_card_monte_tracked_from_the_observation_wins():
    env = envs.make("textarena/ThreeCardMonte-v0")
    obs, _ = env.reset(seed=4)
    ball = re.search(r"Ball starts: (.*)", obs).group(1).split().index("[X]")
    for i, j in re.findall(r"swapped cups (\d+) and (\d+)", obs):
        ball = {int(i): int(j), int(j): int(i)}.get(ball, ball)
    _, reward, terminated, _, info = env.step(f"[{ball}]")
    assert (reward, terminated, info["won"]) == (1.0, True, True)


def test_frozen_lake_shortest_path_wins():
    env = envs.make("textarena/FrozenLake-v0")
    env.reset(seed=2)
    state = env.unwrapped._game.state.game_state
    grid, start, goal = state["grid"], tuple(state["player_pos"]), tuple(state["goal_pos"])
    steps = {"up": (-1, 0), "down": (1, 0), "left": (0, -1), "right": (0, 1)}
    paths, frontier = {start: []}, deque([start])
    while frontier:  # breadth-first search around the holes
        row, col = frontier.popleft()
        for name, (dr, dc) in steps.items():
            cell = (row + dr, col + dc)
            inside = 0 <= cell[0] < len(grid) and 0 <= cell[1] < len(grid)
            if inside and cell not in paths and grid[cell[0]][cell[1]] != "H":
                paths[cell] = paths[(row, col)] + [name]
                frontier.append(cell)
    for move in paths[goal]:
        _, reward, terminated, _, info = env.step(move)
    assert (reward, terminated, info["won"]) == (1.0, True, True)


def test_loss_terminates_with_the_games_reward():
    env = envs.make("textarena/Bandit-v0")  # Bandit ends a game on two bad moves with -1
    env.reset(seed=0)
    assert env.step("[black]")[1:3] == (0.0, False)
    _, reward, terminated, _, info = env.step("[black]")
    assert (reward, terminated, info["won"]) == (-1.0, True, False) and "Invalid Move" in info["outcome"]


def test_string_reward_bug_maps_to_zero():
    env = envs.make("textarena/ThreeCardMonte-v0")  # 0.7.4 returns the reason text as the reward here
    env.reset(seed=0)
    env.step("nonsense")
    _, reward, terminated, _, info = env.step("nonsense")
    assert (reward, terminated, info["won"], info["invalid_move"]) == (0.0, True, False, True)


def test_game_crash_ends_the_episode():
    env = envs.make("textarena/FifteenPuzzle-v0")  # 0.7.4 crashes on the solving move
    env.reset(seed=0)
    env.unwrapped._game.board = [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12], [13, 14, None, 15]]
    assert env.unwrapped._admissible_actions() == ["[down]", "[left]", "[right]"]
    _, reward, terminated, _, info = env.step("[left]")
    assert (reward, terminated) == (0.0, True) and info["outcome"].startswith("game error")


def test_seeded_and_isolated_from_global_random():
    """Same seed, same game, whatever else touches `random` between steps (2048 spawns tiles randomly)."""
    first, second = envs.make("textarena/2048-v0"), envs.make("textarena/2048-v0")
    assert first.reset(seed=7) == second.reset(seed=7)
    assert first.reset(seed=8)[0] != second.reset(seed=7)[0]
    first.reset(seed=7)
    for move in ["[Up]", "[Left]", "[Down]", "[Right]"] * 3:
        random.random()  # other code drawing from the process-wide generator between steps
        outside = random.getstate()
        one = first.step(move)
        assert random.getstate() == outside and one == second.step(move)


@pytest.mark.parametrize(
    ("game", "error", "words"),
    [
        ("Wordle-v0", RuntimeError, "NLTK"),
        ("Hangman-v0", RuntimeError, "NLTK"),
        ("WordLadder-v0", RuntimeError, "NLTK"),
        ("WordSearch-v0", RuntimeError, "NLTK"),
        ("GuessWho-v0", ValueError, "OPENROUTER_API_KEY"),
        ("TwentyQuestions-v0", ValueError, "OPENROUTER_API_KEY"),
        ("BabyAiText-v0", RuntimeError, "gym"),
        ("Klondike-v0", RuntimeError, "does not import"),
        ("UltimateTexasHoldem-v0", RuntimeError, "does not import"),
        ("TicTacToe-v0", ValueError, "not a single-player game"),
        ("NoSuchGame-v0", ValueError, "unknown TextArena game"),
    ],
)
def test_unavailable_games_fail_at_construction_with_one_line(game, error, words, monkeypatch):
    monkeypatch.delenv("OPENROUTER_API_KEY", raising=False)
    if words == "NLTK":
        nltk = pytest.importorskip("nltk")
        try:
            nltk.data.find("corpora/words")
            pytest.skip("the NLTK words corpus is installed here")
        except LookupError:
            pass
    with pytest.raises(error) as caught:
        envs.make("textarena", game=game)
    message = str(caught.value)
    assert game in message and words in message and "\n" not in message
