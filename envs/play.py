"""Play an episode of any registered environment in the terminal: `python -m envs.play alfworld --seed 3`."""

from __future__ import annotations

import argparse
import json
import sys

from envs.registry import list_envs, make


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("env", help="registered env name (see --list)", nargs="?")
    parser.add_argument("--seed", type=int, default=0, help="episode seed")
    parser.add_argument(
        "--kwargs", default="{}", help='env constructor arguments as JSON, e.g. \'{"split": "valid_unseen"}\''
    )
    parser.add_argument("--list", action="store_true", help="list the registered envs and exit")
    args = parser.parse_args(argv)
    if args.list or not args.env:
        print("\n".join(list_envs()))
        return
    env = make(args.env, **json.loads(args.kwargs))
    play(env, args.seed)


def play(env, seed: int, read=input, write=print) -> float:
    """Interactive loop: show the observation and admissible actions, read a command (a number picks one).

    Commands: `expert` takes the expert's action where the env has one; `quit` ends. Returns the total reward.
    """
    observation, info = env.reset(seed=seed)
    total, done = 0.0, False
    while not done:
        write(f"\n{observation}")
        actions = info["admissible_actions"]
        if actions:
            write("admissible: " + " | ".join(f"[{i}] {a}" for i, a in enumerate(actions)))
        try:
            command = read("> ").strip()
        except EOFError:
            break
        if command == "quit":
            break
        if command == "expert" and hasattr(env.unwrapped, "expert_action"):
            command = env.unwrapped.expert_action()
            write(f"expert: {command}")
        elif command.isdigit() and int(command) < len(actions):
            command = actions[int(command)]
        observation, reward, terminated, truncated, info = env.step(command)
        total += reward
        done = terminated or truncated
    if done:
        write(f"\n{observation}")
    write(f"episode over: won={info['won']} return={total:g}")
    return total


if __name__ == "__main__":
    main(sys.argv[1:])
