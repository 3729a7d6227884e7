"""Math answers: extract the final answer, judge equivalence with math-verify in hard-deadline workers.

The answer is the last `\\boxed{...}` (or `\\fbox{...}`), else the number after the last `####`, else what
follows the last "The answer is". Without one of those markers the response scores 0: reading any number
out of free text rewards hedging ("it is 3 or 4"). With `literal_only`, only a number literal answers
(`is_plain_number`): on arithmetic questions an expression equal to the answer restates the question. Equivalence is math-verify's (fractions vs decimals,
LaTeX variants, sets, intervals, expressions), run in a `WorkerPool` so a pathological input such as
`9^{9^{9^9}}` costs at most `timeout_s` and never hangs the caller.
"""

from __future__ import annotations

import math
import re
import threading
from typing import Any

from envs.rewards.workers import CallTimeout, WorkerPool

DEFAULT_TIMEOUT_S = 5.0
MATH_KEYS = ("score", "acc", "pred", "timed_out")
_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")
_HASHES = re.compile(r"####\s*([^\n]+)")
_ANSWER_IS = re.compile(r"answer is[:\s]*([^\n]+)", re.IGNORECASE)
_TRAILING = " .。,;:!"
_PLAIN_NUMBER = re.compile(
    r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|[-+]?\d+/\d+|[-+]?\\frac\{\d+\}\{\d+\}"
)

_pools: dict[int, WorkerPool] = {}  # one pool per worker count, started on first use
_pools_lock = threading.Lock()


def extract_answer(text: str) -> str | None:
    """The final answer in `text`, or None when it marks none (see the module docstring)."""
    if not isinstance(text, str):
        return None
    boxed = _last_boxed(text)
    if boxed is not None:
        return boxed.strip()
    for pattern in (_HASHES, _ANSWER_IS):
        matches = pattern.findall(text)
        if matches:
            answer = matches[-1].strip().strip(_TRAILING).strip()
            answer = answer[1:-1] if len(answer) > 1 and answer[0] == answer[-1] == "$" else answer
            return answer or None
    return None


def _last_boxed(text: str) -> str | None:
    """Content of the last `\\boxed{...}` with balanced braces, or None."""
    starts = [m.end() for m in _BOXED.finditer(text)]
    for start in reversed(starts):
        depth = 1
        for index in range(start, len(text)):
            depth += {"{": 1, "}": -1}.get(text[index], 0)
            if depth == 0:
                return text[start:index]
    return None


def is_plain_number(answer: str) -> bool:
    """An integer, decimal or fraction literal (`26`, `-3`, `0.5`, `\\frac{5}{6}`, `5/6`, `1,234`), optionally
    as `x = ...`. math-verify also accepts `1 + 25` for 26; on a task that asks "What is 1 + 25?", a policy
    rewarded for that learns to copy the question into the box (GRPO on SmolLM2 did), hence `literal_only`."""
    answer = re.sub(r"^[a-zA-Z]=", "", normalize_answer(answer))
    return bool(_PLAIN_NUMBER.fullmatch(answer))


def normalize_answer(answer: str) -> str:
    """A cheap canonical form used before math-verify: no spaces, `$`, `\\left`/`\\right`, `\\!`, or text wrappers."""
    answer = re.sub(r"\\(?:left|right|!|,|;|displaystyle)", "", answer)
    answer = re.sub(r"\\(?:text|mathrm|textbf)\{([^{}]*)\}", r"\1", answer)
    answer = answer.replace("dfrac", "frac").replace("tfrac", "frac").replace("\\$", "")
    return re.sub(r"[\s$]", "", answer).rstrip(".")


def judge_equivalent(prediction: str, gold: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> bool:
    """math-verify equivalence of two answer strings (gold first). Runs in a worker: it may never return.

    math-verify's own alarm-based timeouts (whole seconds, main thread only) stop slow pure-Python work
    cheaply; the caller's deadline, enforced by killing the worker, covers the rest.
    """
    from latex2sympy2_extended import NormalizationConfig
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify

    config = [
        LatexExtractionConfig(normalization_config=NormalizationConfig(units=True, malformed_operators=True)),
        ExprExtractionConfig(),
    ]
    alarm_s = max(1, math.ceil(timeout_s))
    for gold_variant in _percent_variants(gold):
        gold_parsed = parse(_as_latex(gold_variant), extraction_config=config, parsing_timeout=alarm_s)
        for pred_variant in _percent_variants(prediction):
            pred_parsed = parse(_as_latex(pred_variant), extraction_config=config, parsing_timeout=alarm_s)
            if gold_parsed and pred_parsed and verify(gold_parsed, pred_parsed, timeout_seconds=alarm_s):
                return True
    return False


def _percent_variants(answer: str) -> list[str]:
    """`25\\%` may mean 25 (the MATH convention) or 0.25; other answers have one reading."""
    match = re.fullmatch(r"\s*(-?[\d.]+)\s*\\?%\s*", answer)
    return [answer] if match is None else [match.group(1), f"{match.group(1)}/100"]


def _as_latex(answer: str) -> str:
    """Wrap a bare answer in `$...$` so math-verify reads `10\\%` as 0.1 and `\\frac12` as a fraction."""
    answer = answer.replace("\\$", "")  # a currency sign, not math mode
    return answer if "$" in answer or "\\boxed" in answer else f"${answer}$"


def _pool(num_workers: int) -> WorkerPool:
    with _pools_lock:
        if num_workers not in _pools:
            _pools[num_workers] = WorkerPool(num_workers, preload=("math_verify", __name__))
        return _pools[num_workers]


def compute_math_score(
    data_source: str,
    solution_str: str,
    ground_truth: Any,
    extra_info: dict | None = None,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    num_workers: int = 1,
    format_score: float = 0.0,
    literal_only: bool = False,
    **kwargs: Any,
) -> dict[str, Any]:
    """Score 1.0 if the response's final answer equals `ground_truth`, `format_score` if it marks a wrong
    answer holding a digit, else 0.0; keys: `MATH_KEYS` (`acc` stays 0/1).

    `literal_only` takes only a number literal (`is_plain_number`), for tasks whose question is itself an
    expression to evaluate. `format_score` (verl's name) starts RL for a model that never marks an answer: with a 0/1 reward every
    group scores 0 and has no gradient. `timeout_s` bounds the equivalence check, enforced by killing the worker.
    """
    prediction = extract_answer(solution_str)
    result = {"score": 0.0, "acc": 0.0, "pred": prediction or "", "timed_out": False}
    if prediction is None or ground_truth is None:
        return result
    gold = str(ground_truth)
    gold = extract_answer(gold) or gold  # a gold solution ("... #### 72") reduces to its answer
    if literal_only and not is_plain_number(prediction):
        return (
            result  # an unevaluated expression ("\\boxed{1 + 25}" for 26) restates the question: RL found it
        )
    if re.search(r"\d", prediction):  # a marked number; a copied placeholder such as \boxed{N} earns nothing
        result["score"] = float(format_score)
    equal = normalize_answer(prediction) == normalize_answer(gold)
    if not equal:
        try:
            equal = _pool(num_workers).call(judge_equivalent, (prediction, gold, timeout_s), timeout_s)
        except CallTimeout:
            result["timed_out"] = True
        except RuntimeError:  # math-verify raised or its worker died: not equivalent
            equal = False
    if equal:
        result.update(score=1.0, acc=1.0)
    return result
