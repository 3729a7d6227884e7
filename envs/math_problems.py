"""A procedural math problem generator: graded difficulty, integer and fraction answers, deterministic by seed.

Difficulty 1: two-number integer arithmetic. 2: three-term arithmetic with parentheses. 3: fraction
arithmetic (answer a reduced fraction). 4: a linear equation `ax + b = c` (integer or fraction root).
5: a two-step word problem (rates and percentages). `arithmetic_problems` enumerates one-line sums and
products for a small pretrained model, with disjoint splits. Answers are LaTeX strings math-verify reads
(`7`, `-3`, `\\frac{5}{6}`).
"""

from __future__ import annotations

import operator
import random
import zlib
from dataclasses import dataclass
from fractions import Fraction

DIFFICULTIES = (1, 2, 3, 4, 5)
NAMES = ("Ava", "Ben", "Chen", "Dana", "Eli", "Fatima", "Goro", "Hana")
ITEMS = ("apples", "pencils", "stickers", "marbles", "books", "cookies")
OPERATORS = {"+": operator.add, "-": operator.sub, "*": operator.mul}


@dataclass(frozen=True)
class MathProblem:
    """One generated problem: the question text, its exact answer as LaTeX, and its difficulty."""

    question: str
    answer: str
    difficulty: int


def generate_problem(rng: random.Random, difficulty: int) -> MathProblem:
    """One problem of `difficulty` (1-5) drawn from `rng`."""
    if difficulty not in DIFFICULTIES:
        raise ValueError(f"difficulty must be one of {DIFFICULTIES}, got {difficulty!r}")
    question, answer = _GENERATORS[difficulty](rng)
    return MathProblem(question, format_answer(answer), difficulty)


def generate_problems(count: int, seed: int = 0, difficulty: int | None = None) -> list[MathProblem]:
    """`count` problems from `seed`; `difficulty=None` cycles through 1..5 (graded mix)."""
    rng = random.Random(seed)
    return [generate_problem(rng, difficulty or DIFFICULTIES[i % len(DIFFICULTIES)]) for i in range(count)]


def format_answer(value: Fraction) -> str:
    """An exact rational as LaTeX: `7`, `-3`, `\\frac{5}{6}`, `-\\frac{1}{2}`."""
    value = Fraction(value)
    if value.denominator == 1:
        return str(value.numerator)
    sign = "-" if value < 0 else ""
    return f"{sign}\\frac{{{abs(value.numerator)}}}{{{value.denominator}}}"


def _arithmetic(rng: random.Random) -> tuple[str, Fraction]:
    """a op b with small integers."""
    a, b = rng.randint(2, 99), rng.randint(2, 99)
    op = rng.choice("+-*")
    return f"Compute {a} {op.replace('*', '×')} {b}.", Fraction(OPERATORS[op](a, b))


def _three_terms(rng: random.Random) -> tuple[str, Fraction]:
    """(a op b) op c."""
    a, b, c = (rng.randint(2, 30) for _ in range(3))
    op1, op2 = rng.choice("+-"), rng.choice("+-*")
    expression = f"({a} {op1} {b}) {op2} {c}".replace("*", "×")
    return f"Compute {expression}.", Fraction(OPERATORS[op2](OPERATORS[op1](a, b), c))


def _fractions(rng: random.Random) -> tuple[str, Fraction]:
    """p/q op r/s, answer reduced."""
    p, q, r, s = rng.randint(1, 9), rng.randint(2, 9), rng.randint(1, 9), rng.randint(2, 9)
    op = rng.choice("+-*")
    value = OPERATORS[op](Fraction(p, q), Fraction(r, s))
    symbol = {"+": "+", "-": "-", "*": "\\times"}[op]
    question = f"Compute \\frac{{{p}}}{{{q}}} {symbol} \\frac{{{r}}}{{{s}}} and give the answer as a reduced fraction."
    return question, value


def _linear_equation(rng: random.Random) -> tuple[str, Fraction]:
    """ax + b = c, solve for x."""
    a = rng.choice([n for n in range(-9, 10) if n not in (0, 1)])
    b, c = rng.randint(-20, 20), rng.randint(-20, 20)
    sign = "+" if b >= 0 else "-"
    return f"Solve for x: {a}x {sign} {abs(b)} = {c}.", Fraction(c - b, a)


def _word_problem(rng: random.Random) -> tuple[str, Fraction]:
    """Buy at a unit price, then a percentage discount."""
    name, item = rng.choice(NAMES), rng.choice(ITEMS)
    count, price, discount = rng.randint(3, 20), rng.randint(2, 15), rng.choice([10, 20, 25, 50])
    question = (
        f"{name} buys {count} {item} at {price} dollars each and gets a {discount}% discount on the total. "
        "How many dollars does {name} pay?"
    ).replace("{name}", name)
    return question, Fraction(count * price * (100 - discount), 100)


_GENERATORS = {1: _arithmetic, 2: _three_terms, 3: _fractions, 4: _linear_equation, 5: _word_problem}


ARITHMETIC_SPLITS = {"train": range(0, 5), "valid": range(5, 6), "test": range(6, 10)}  # tenths of the pairs


def arithmetic_problems(split: str) -> list[MathProblem]:
    """Every `a + b` (1 <= a, b <= 30) and `a × b` (2 <= a, b <= 12): 1,021 one-line problems for a small
    pretrained model, split by unordered pair (a stable hash), so no test problem, nor its swapped twin, is
    ever trained on: about 510 train, 100 valid and 410 test. Difficulty 0; deterministic, no seed."""
    if split not in ARITHMETIC_SPLITS:
        raise ValueError(f"split must be one of {sorted(ARITHMETIC_SPLITS)}, got {split!r}")
    pairs = [("+", a, b) for a in range(1, 31) for b in range(1, 31)]
    pairs += [("*", a, b) for a in range(2, 13) for b in range(2, 13)]
    tenths = ARITHMETIC_SPLITS[split]
    return [
        MathProblem(
            f"What is {a} {op.replace('*', '×')} {b}?", format_answer(Fraction(OPERATORS[op](a, b))), 0
        )
        for op, a, b in pairs
        if zlib.crc32(f"{op}{min(a, b)},{max(a, b)}".encode()) % 10 in tenths
    ]
