"""Single-turn math: a problem in, a response with a final answer out, scored by `layerverl.rewards`."""

from __future__ import annotations

from typing import Any

from envs.math_problems import arithmetic_problems, generate_problems
from envs.single_turn import SingleTurnTaskEnv, load_records, prompt_text

INSTRUCTION = "Reason step by step, then put your final answer in \\boxed{}."
SPLIT_SEEDS = {"train": 0, "valid": 1, "test": 2}
QUESTION_KEYS = ("question", "problem", "prompt")
ANSWER_KEYS = ("answer", "solution", "ground_truth")


class MathTaskEnv(SingleTurnTaskEnv):
    """One math problem per episode.

    ## Description
    The agent reads a problem and answers in one response; the answer is the last `\\boxed{}`
    (or `#### x`, or "The answer is x"), judged equivalent to the reference by math-verify.

    ## Action Space
    `Text(max_length=100000)`: the model's whole response, kept verbatim.

    ## Observation Space
    `Text`: the problem plus the instruction, e.g.
    `"Compute 32 × 77.\\nReason step by step, then put your final answer in \\boxed{}."`; after the step,
    `"Your response scored 1."`.

    ## Starting State
    A problem drawn with `self.np_random` (or `reset(options={"index": i})`).

    ## Reward
    The reward's "score": 1.0 for an equivalent final answer, else 0.0.

    ## Episode End
    Terminated after the one step.

    ## Information
    `admissible_actions` ([]), `anchor` (the prompt), `won` (answer correct), `task` (the prompt),
    `data_source`, `task_index`, `score`, `reward_details` (score, acc, pred, timed_out).

    ## Arguments
    `envs.make("math", dataset="generated", split="train", num_problems=1000, difficulty=None)`, or
    `dataset="arithmetic"`: the 1,021 one-line sums and products of `arithmetic_problems`, split disjointly
    by pair (`num_problems` and `difficulty` unused). `instruction` follows each question;
    `task_order="by_seed"` makes `reset(seed=s)` pose task `s % len(tasks)`. Or
    `gymnasium.make("layerverl/Math-v0")`. `dataset` may be a .jsonl/.parquet file or a
    `datasets.save_to_disk` directory with a question column (question/problem/prompt) and an answer
    column (answer/solution/ground_truth, or verl's `reward_model.ground_truth`). `reward_kwargs`
    go to the scorer (e.g. `{"timeout_s": 5.0}`).

    ## Version History
    * v0: initial version.
    """

    def __init__(
        self,
        dataset: str = "generated",
        split: str = "train",
        num_problems: int = 1000,
        difficulty: int | None = None,
        data_source: str = "math",
        reward_kwargs: dict[str, Any] | None = None,
        seed: int | None = None,
        render_mode: str | None = None,
        instruction: str = INSTRUCTION,
        task_order: str = "random",
    ):
        if dataset in ("generated", "arithmetic"):
            if split not in SPLIT_SEEDS:
                raise ValueError(f"split must be one of {sorted(SPLIT_SEEDS)}, got {split!r}")
            problems = (
                arithmetic_problems(split)
                if dataset == "arithmetic"
                else generate_problems(num_problems, seed=SPLIT_SEEDS[split], difficulty=difficulty)
            )
            tasks = [
                {
                    "prompt": f"{p.question}\n{instruction}",
                    "ground_truth": p.answer,
                    "extra_info": {"difficulty": p.difficulty},
                }
                for p in problems
            ]
        else:
            tasks = [_math_task(row, instruction) for row in load_records(dataset, split)]
        super().__init__(
            tasks, data_source, reward_kwargs, seed=seed, render_mode=render_mode, task_order=task_order
        )


def _math_task(row: dict[str, Any], instruction: str = INSTRUCTION) -> dict[str, Any]:
    """A user row as a task; verl-style rows carry `prompt` messages and `reward_model.ground_truth`."""
    question = next((row[k] for k in QUESTION_KEYS if row.get(k) is not None), None)
    reward_model = row.get("reward_model") or {}
    answer = reward_model.get("ground_truth") if isinstance(reward_model, dict) else None
    answer = (
        answer if answer is not None else next((row[k] for k in ANSWER_KEYS if row.get(k) is not None), None)
    )
    if question is None or answer is None:
        raise ValueError(
            f"math row needs one of {QUESTION_KEYS} and one of {ANSWER_KEYS}; got keys {sorted(row)}"
        )
    text = prompt_text(question)
    prompt = text if "boxed" in text else f"{text}\n{instruction}"
    return {"prompt": prompt, "ground_truth": str(answer), "extra_info": dict(row.get("extra_info") or {})}
