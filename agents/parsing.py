"""Turn a model's free-text response into an env action: the first <action>...</action>, never raising.

Validity is about format (verl-agent's projection): a response without a complete action tag, with an
empty, over-long or nested action, or with CJK or control characters (NUL, lone surrogates) is invalid.
An invalid response is still passed to the env (which answers "Nothing happens." to gibberish) and is
penalised by the trainer.
"""

from __future__ import annotations

import re

from envs.base import MAX_ACTION_CHARS

ACTION_PATTERN = re.compile(r"<action>(.*?)</action>", re.DOTALL | re.IGNORECASE)  # what parse_action matches
_OPEN_TAG = re.compile(r"<action>", re.IGNORECASE)
_CLOSE_TAG = re.compile(r"</action>", re.IGNORECASE)
NESTED_TAG_PATTERN = re.compile(r"</?\s*(action|think)\s*>", re.IGNORECASE)
CJK_PATTERN = re.compile(r"[\u4e00-\u9fff]")
UNPRINTABLE_PATTERN = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff]")  # NULs, controls, lone surrogates
UNTAGGED_TAIL_CHARS = 30  # like verl-agent: without tags the env gets the response's tail


def parse_action(text: object, admissible_actions: list[str] | None = None) -> tuple[str, bool]:
    """Return (action, valid) for one response; with `admissible_actions`, valid also needs membership."""
    if not isinstance(text, str):
        return "", False
    inner = _first_action(text)
    if inner is None:
        return clean(text[-UNTAGGED_TAIL_CHARS:]), False
    action = clean(inner[:MAX_ACTION_CHARS])
    valid = (
        bool(action)
        and len(inner) <= MAX_ACTION_CHARS
        and NESTED_TAG_PATTERN.search(inner) is None
        and CJK_PATTERN.search(text) is None
        and UNPRINTABLE_PATTERN.search(text) is None
    )
    if admissible_actions is not None:
        valid = valid and action in admissible_actions
    return action, valid


def _first_action(text: str) -> str | None:
    """ACTION_PATTERN's first match, in linear time: the regex rescans the rest of the text from every
    `<action>` that has no closing tag (160 KB of them took 31 s)."""
    opening = _OPEN_TAG.search(text)
    if opening is None:
        return None
    closing = _CLOSE_TAG.search(text, opening.end())
    return None if closing is None else text[opening.end() : closing.start()]


def clean(text: str) -> str:
    """One line of printable text: unprintable characters become spaces, whitespace runs one space."""
    return " ".join(UNPRINTABLE_PATTERN.sub(" ", text).split())
