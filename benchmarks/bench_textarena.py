"""Step rate of TextArena games: the raw game, TextArena's default wrappers, and our `TextArenaEnv`, side by side.

    python -m benchmarks.bench_textarena [--repeats 5] [--steps 3000]     # from the repository root

Each repetition replays the same action cycle in every variant for `--steps` steps (episodes restart
with the next seed when a game ends); only the step calls are timed, not resets or game construction. "raw" is `game.step` plus
`get_observation` (a player must read its observation); "default" is the same through TextArena's
default wrappers (full history as one string); "ours" is `envs.make("textarena/<id>").step`.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import textarena as ta

import envs

WORKLOADS = {  # game -> the action cycle replayed in every variant
    "TowerOfHanoi-v0": ["[A C]", "[A B]", "[C B]", "[A C]", "[B A]", "[B C]", "[A C]"],
    "2048-v0": ["[Up]", "[Left]", "[Down]", "[Right]"],
    "Minesweeper-v0": [f"[{row} {col}]" for row in range(8) for col in range(8)],
}


class TextArenaPlayer:
    """A TextArena game built with `ta.make(game_id)`; each episode gets a fresh game (wrappers keep history)."""

    def __init__(self, game_id: str):
        self.game_id = game_id

    def reset(self, seed: int) -> None:
        self.game = ta.make(self.game_id)
        self.game.reset(num_players=1, seed=seed)
        self.game.get_observation()

    def step(self, action: str) -> bool:
        done, _ = self.game.step(action)
        self.game.get_observation()
        if done:
            self.game.close()
        return done


class OursPlayer:
    """Our wrapper, `envs.make("textarena/<id>")`."""

    def __init__(self, game_id: str):
        self.env = envs.make(f"textarena/{game_id}")

    def reset(self, seed: int) -> None:
        self.env.reset(seed=seed)

    def step(self, action: str) -> bool:
        _, _, terminated, truncated, _ = self.env.step(action)
        return terminated or truncated


def steps_per_second(player: TextArenaPlayer | OursPlayer, actions: list[str], steps: int) -> float:
    """Time `steps` step calls; resets between games are not timed."""
    elapsed, seed = 0.0, 0
    player.reset(seed)
    for index in range(steps):
        start = time.perf_counter()
        done = player.step(actions[index % len(actions)])
        elapsed += time.perf_counter() - start
        if done:
            seed += 1
            player.reset(seed)
    return steps / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=3000)
    args = parser.parse_args()
    variants: dict[str, Callable[[str], TextArenaPlayer | OursPlayer]] = {
        "raw": lambda game: TextArenaPlayer(f"{game}-raw"),
        "default": TextArenaPlayer,
        "ours": OursPlayer,
    }
    print(f"steps/s over {args.repeats} repetitions of {args.steps} steps (min / median / max)")
    for game in WORKLOADS:
        rates: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(args.repeats):  # interleaved, so load changes hit every variant alike
            for name, make in variants.items():
                rates[name].append(steps_per_second(make(game), WORKLOADS[game], args.steps))
        for name, values in rates.items():
            print(
                f"  {game:18s} {name:8s} {min(values):9.0f} {statistics.median(values):9.0f} {max(values):9.0f}"
            )
        raw, ours = statistics.median(rates["raw"]), statistics.median(rates["ours"])
        default = statistics.median(rates["default"])
        print(f"  {game:18s} ours/raw = {ours / raw:.2f}x   ours/default = {ours / default:.2f}x")


if __name__ == "__main__":
    main()
