"""Prompt templates per env (plain text files in agents/prompts/) and the rendering of one turn.

Three variants, as in verl-agent: `think` (reason in <think></think>, answer in <action></action>),
`no_think` (answer only) and `compact` (short, word-level, for the tiny default policy whose CPU budget
is its prompt length). An env without its own file uses `default.txt`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROMPTS_DIR = Path(__file__).parent / "prompts"
VARIANTS = ("think", "no_think", "compact")
# How lists are joined: readable lines for real models, one short line for the tiny model.
FULL_JOIN = {
    "history": "\n",
    "history_item": "[Observation {index}: '{observation}', Action {index}: '{action}']",
    "actions": "\n",
    "action_item": "'{action}'",
}
COMPACT_JOIN = {
    "history": " | ",
    "history_item": "{observation} > {action}",
    "actions": " , ",
    "action_item": "{action}",
}


def read_sections(path: Path) -> dict[str, str]:
    """Parse a template file: `[name]` starts a section; '#' lines are comments; trailing newlines drop."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            continue
        if line.startswith("[") and line.rstrip().endswith("]") and " " not in line.strip():
            current = sections.setdefault(line.strip()[1:-1], [])
        elif current is not None:
            current.append(line)
    return {name: "\n".join(lines).strip("\n") for name, lines in sections.items()}


class _Blank(dict):
    """Format mapping that renders unknown placeholders (an info key this env lacks) as ''."""

    def __missing__(self, key: str) -> str:
        return ""


@dataclass
class PromptTemplate:
    """The templates of one env and variant; `render` builds the user message of one turn."""

    first: str
    later: str
    instruction: str
    join: dict[str, str]
    history_length: int = 2

    def render(
        self,
        task: str,
        observation: str,
        admissible_actions: list[str],
        history: list[tuple[str, str]],
        info: dict[str, Any] | None = None,
    ) -> str:
        """The prompt for the current turn; `history` holds every earlier (observation, action) pair."""
        recent = history[-self.history_length :] if self.history_length > 0 else []
        first_index = len(history) - len(recent) + 1
        values = _Blank({k: v for k, v in (info or {}).items() if isinstance(v, str)})
        values.update(
            task=task,
            observation=observation,
            admissible_actions=self.join["actions"].join(
                self.join["action_item"].format(action=a) for a in admissible_actions
            ),
            history=self.join["history"].join(
                self.join["history_item"].format(index=first_index + i, observation=o, action=a)
                for i, (o, a) in enumerate(recent)
            ),
            previous_actions=" > ".join(
                a for _, a in recent
            ),  # actions alone: short prompts for the tiny policy
            step_count=str(len(history)),
            history_length=str(len(recent)),
            current_step=str(len(history) + 1),
            instruction=self.instruction,
        )
        template = self.later if recent else self.first
        return template.format_map(values)


def encode_prompt(tokenizer, prompt: str, max_tokens: int, **template_kwargs: Any) -> list[int]:
    """Token ids of `prompt` as the chat-templated user turn, ready for generation; long prompts keep their
    last `max_tokens` (the current observation and the instruction live at the end)."""
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True, **template_kwargs
    )
    return tokenizer(text, add_special_tokens=False)["input_ids"][-max_tokens:]


def load_template(env_name: str, variant: str = "think", history_length: int = 2) -> PromptTemplate:
    """The `variant` templates of `env_name` from agents/prompts/<env_name>.txt (else default.txt)."""
    if variant not in VARIANTS:
        raise ValueError(f"prompt variant must be one of {', '.join(VARIANTS)}, got {variant!r}")
    if history_length < 0:
        raise ValueError(f"history_length must be >= 0, got {history_length}")
    path = PROMPTS_DIR / f"{env_name}.txt"
    sections = read_sections(path if path.exists() else PROMPTS_DIR / "default.txt")
    if variant == "compact":
        return PromptTemplate(
            sections["compact_first"], sections["compact_later"], "", COMPACT_JOIN, history_length
        )
    return PromptTemplate(sections["first"], sections["later"], sections[variant], FULL_JOIN, history_length)
