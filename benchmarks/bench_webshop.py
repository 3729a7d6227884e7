"""WebShop-style env speed and reference scores: catalog build, steps/s (search included), expert vs random.

    python benchmarks/bench_webshop.py [--reps 5] [--episodes 200]

Prints min/median/max over repetitions. The steps/s workload is a random admissible-action agent that
searches with the instruction, so roughly one step in five is a BM25 search; the expert run adds item
pages and purchases (reward computation).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from envs.webshop.catalog import _cached_synthetic_catalog
from envs.webshop.env import SEARCH_PLACEHOLDER, WebShopEnv


def run_episodes(env: WebShopEnv, episodes: int, agent: str, seed: int = 0) -> tuple[int, float, float]:
    """Play `episodes` test goals; returns (steps, mean score, success rate)."""
    rng = random.Random(seed)
    steps, scores, wins = 0, [], 0
    for episode in range(episodes):
        _, info = env.reset(seed=seed + episode)
        for _ in range(env.max_steps):
            if agent == "expert":
                action = env.expert_action()
            else:
                action = rng.choice(info["admissible_actions"])
                action = f"search[{info['instruction']}]" if action == SEARCH_PLACEHOLDER else action
            _, _, terminated, truncated, info = env.step(action)
            steps += 1
            if terminated or truncated:
                break
        scores.append(info["score"])
        wins += info["won"]
    return steps, sum(scores) / len(scores), wins / episodes


def summary(values: list[float]) -> str:
    return f"min {min(values):9.1f}  median {statistics.median(values):9.1f}  max {max(values):9.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--episodes", type=int, default=200)
    args = parser.parse_args()

    build_s = []
    for rep in range(args.reps):
        start = time.perf_counter()
        _cached_synthetic_catalog.__wrapped__(1000, 100 + rep)  # uncached: generation + goals + BM25 index
        build_s.append(1000 * (time.perf_counter() - start))
    print(f"catalog 1,000 products + goals + index (ms): {summary(build_s)}")

    env = WebShopEnv(split="test")
    for agent in ("random", "expert"):
        rates = []
        for rep in range(args.reps):
            start = time.perf_counter()
            steps, score, success = run_episodes(env, args.episodes, agent, seed=rep * args.episodes)
            rates.append(steps / (time.perf_counter() - start))
        _, score, success = run_episodes(env, args.episodes, agent)
        print(
            f"{agent:>6} agent steps/s: {summary(rates)}   "
            f"score {100 * score:5.1f}  success {100 * success:5.1f}%  ({args.episodes} test goals)"
        )

    searches = []
    index = env.catalog.index
    queries = [g.instruction_text for g in env.goals[:200]]
    for _ in range(args.reps):
        start = time.perf_counter()
        for query in queries:
            index.search(query)
        searches.append(len(queries) / (time.perf_counter() - start))
    print(f"BM25 searches/s (instruction queries): {summary(searches)}")


if __name__ == "__main__":
    main()
