"""What a single-turn run's gain consists of: each evaluated answer sorted into correct, a wrong number,
an expression (not a number), or no marked answer, before and after training, with examples.

    python -m layerverl.analysis.answers RUN/episodes.jsonl [RUN2/evaluation-0-episodes.jsonl ...] --out DIR

Reads the episode records the trainer (episodes.jsonl) and `layerverl.evaluate` (evaluation-<n>-episodes.jsonl)
write, with `answer` and `response`; writes `answers.csv` (one row per file and phase) and `answer_examples.json`
(the first episodes' base and trained responses side by side).
"""

from __future__ import annotations

import argparse
import csv
import json
from collections import Counter
from pathlib import Path
from typing import Any

from envs.rewards.math_reward import is_plain_number

KINDS = ("correct", "wrong number", "expression", "no answer")


def answer_kind(record: dict[str, Any]) -> str:
    """One of `KINDS` for an episode record (`won`, and `answer` as the reward extracted it); a number is
    what the math reward's `literal_only` takes for one."""
    if record.get("won"):
        return "correct"
    answer = str(record.get("answer") or "").strip()
    if not answer:
        return "no answer"
    return "wrong number" if is_plain_number(answer) else "expression"


def breakdown(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per phase: the share of each kind, the episode count and the mean response length in characters."""
    out = {}
    for phase in dict.fromkeys(r["phase"] for r in records):
        rows = [r for r in records if r["phase"] == phase]
        kinds = Counter(answer_kind(r) for r in rows)
        out[phase] = {
            "episodes": len(rows),
            **{kind: kinds[kind] / len(rows) for kind in KINDS},
            "mean_response_chars": sum(len(r.get("response") or "") for r in rows) / len(rows),
        }
    return out


def examples(records: list[dict[str, Any]], count: int = 8) -> list[dict[str, Any]]:
    """The first `count` episodes' base and trained responses side by side."""
    by_phase = {
        phase: {r["episode"]: r for r in records if r["phase"] == phase} for phase in ("base", "final")
    }
    shared = sorted(set(by_phase["base"]) & set(by_phase["final"]))[:count]
    return [
        {
            "episode": e,
            **{
                f"{phase}_{key}": by_phase[phase][e].get(key)
                for phase in ("base", "final")
                for key in ("response", "won")
            },
        }
        for e in shared
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("episodes", nargs="+", type=Path, help="episode files with answer and response")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    rows, shown = [], {}
    for path in args.episodes:
        records = [json.loads(line) for line in path.read_text().splitlines()]
        if not any("response" in r for r in records):
            raise SystemExit(f"{path}: no responses recorded (episodes from before they were)")
        name = f"{path.parent.name}/{path.name}"
        for phase, stats in breakdown(records).items():
            rows.append({"file": name, "phase": phase, **stats})
            print(
                f"{name} {phase:<5}: "
                + ", ".join(f"{kind} {stats[kind]:.1%}" for kind in KINDS)
                + f" of {stats['episodes']}"
            )
        shown[name] = examples(records)
    with open(args.out / "answers.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    (args.out / "answer_examples.json").write_text(json.dumps(shown, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
