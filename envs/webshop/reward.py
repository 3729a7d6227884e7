"""WebShop's purchase reward (`web_agent_site/engine/goal.py get_reward`), without thefuzz or spaCy.

    r = r_type * (attributes matched + options matched + [price <= price_upper]) / (|attrs| + |opts| + 1)

Two documented substitutions: `rapidfuzz.fuzz.token_set_ratio` (with thefuzz's default preprocessing and
integer rounding) for thefuzz, and, for the spaCy noun/proper-noun tokens behind `title_score`, the
lowercased alphabetic tokens of the name minus stopwords and common product adjectives. The latter keeps
adjective-heavy titles from scoring more than spaCy would, but is not a parser: treat r_type on unusual
titles as approximate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rapidfuzz import fuzz
from rapidfuzz.utils import default_process

from envs.webshop.catalog import Goal, Product
from envs.webshop.search import STOPWORDS

EXACT_MATCH_OPTIONS = ("size",)  # goal.py: sizes must match exactly, other options fuzzily
FUZZY_THRESHOLD = 85
# Colour words, first hit wins (WebShop's normalize_color): 'dark brown' and 'brown' both become 'brown'.
COLOR_WORDS = (
    "beige",
    "black",
    "blonde",
    "blue",
    "brown",
    "burgundy",
    "charcoal",
    "cream",
    "gold",
    "green",
    "grey",
    "gray",
    "ivory",
    "khaki",
    "lavender",
    "maroon",
    "navy",
    "olive",
    "orange",
    "pink",
    "purple",
    "red",
    "rose",
    "silver",
    "tan",
    "teal",
    "white",
    "yellow",
)
# Words spaCy tags as adjectives/verbs in typical titles; dropped so title_score counts noun-like words.
NON_NOUN_WORDS = frozenset(
    {
        "natural",
        "long",
        "lasting",
        "free",
        "easy",
        "use",
        "high",
        "low",
        "heavy",
        "light",
        "fast",
        "quick",
        "slim",
        "relaxed",
        "classic",
        "modern",
        "new",
        "best",
        "great",
        "premium",
        "soft",
        "small",
        "medium",
        "large",
        "extra",
        "big",
        "tall",
        "short",
        "wireless",
        "organic",
        "fresh",
        "dark",
    }
)
_WORD = re.compile(r"[a-z]+")


@dataclass(frozen=True)
class RewardInfo:
    """The score and its parts, as goal.py's verbose info."""

    score: float
    r_type: float
    r_attribute: float
    r_option: float | None
    r_price: bool
    query_match: bool
    category_match: bool
    title_score: float


def fuzzy_match(a: str, b: str) -> bool:
    """thefuzz's `token_set_ratio(a, b) > 85`: full_process on both, score rounded to an int."""
    return round(fuzz.token_set_ratio(a, b, processor=default_process)) > FUZZY_THRESHOLD


def normalize_color(value: str) -> str:
    """The first colour word contained in `value`, else `value` unchanged (goal.py applies it to all options)."""
    for color in COLOR_WORDS:
        if color in value:
            return color
    return value


def noun_tokens(name: str) -> list[str]:
    """Deterministic stand-in for spaCy's NOUN/PROPN tokens of a product name."""
    return [
        t
        for t in _WORD.findall(name.lower())
        if len(t) > 1 and t not in STOPWORDS and t not in NON_NOUN_WORDS
    ]


def type_reward(product: Product, goal: Goal) -> tuple[float, bool, bool, float]:
    """goal.py get_type_reward: (r_type, query_match, category_match, title_score)."""
    query_match = product.query == goal.query
    purchased_levels = {x.strip() for x in product.product_category.split("›")}
    goal_levels = {x.strip() for x in goal.product_category.split("›")}
    category_match = len(purchased_levels & goal_levels) >= 2
    desired = noun_tokens(goal.name)
    purchased = set(noun_tokens(product.title))
    title_score = 0.2 if not desired else len(purchased & set(desired)) / len(desired)
    r_type = 1.0 if (query_match or category_match or title_score > 0.2) else 0.5
    if title_score < 0.1:
        r_type = 0.1
    if title_score == 0.0:
        r_type = 0.0
    return r_type, query_match, category_match, title_score


def _in_product_text(value: str, product: Product) -> bool:
    """goal.py's fallback: a substring of the lowercased title, bullet points or description."""
    return (
        value in product.title.lower()
        or value in " ".join(product.bullet_points).lower()
        or value in product.description.lower()
    )


def attribute_matches(product: Product, goal: Goal) -> int:
    """Goal attributes found fuzzily in the product's attributes, or verbatim in its texts."""
    return sum(
        any(fuzzy_match(p_attr, g_attr) for p_attr in product.attributes) or _in_product_text(g_attr, product)
        for g_attr in goal.attributes
    )


def option_matches(product: Product, goal_options: list[str], chosen: dict[str, str]) -> int:
    """Chosen options that match a goal option (sizes exactly, others fuzzily) or appear in the texts."""
    goal_values = [normalize_color(o) for o in goal_options]
    count = 0
    for name, value in chosen.items():
        value = normalize_color(value)
        if name.lower() in EXACT_MATCH_OPTIONS:
            matched = value in goal_values
        else:
            matched = any(fuzzy_match(g, value) for g in goal_values)
        count += matched or _in_product_text(value, product)
    return count


def get_reward(product: Product, goal: Goal, price: float, chosen_options: dict[str, str]) -> RewardInfo:
    """Score a purchase of `product` at `price` with `chosen_options` against `goal`, in [0, 1]."""
    r_type, query_match, category_match, title_score = type_reward(product, goal)
    r_price = price <= goal.price_upper
    goal_options = list(goal.goal_options.values())
    n_attr = attribute_matches(product, goal)
    n_opt = option_matches(product, goal_options, chosen_options)
    # goal.py does not clamp; only options the goal does not name could push the sum past 1.
    total = min(1.0, (n_attr + n_opt + r_price) / (len(goal.attributes) + len(goal_options) + 1))
    return RewardInfo(
        score=total * r_type,
        r_type=r_type,
        r_attribute=n_attr / len(goal.attributes) if goal.attributes else 0.0,
        r_option=n_opt / len(goal_options) if goal_options else None,
        r_price=r_price,
        query_match=query_match,
        category_match=category_match,
        title_score=title_score,
    )
