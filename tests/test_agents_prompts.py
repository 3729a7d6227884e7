"""Prompt templates: files hold every variant, history windows, unknown info keys render blank."""

import pytest

from agents.prompts import PROMPTS_DIR, VARIANTS, load_template, read_sections

SECTIONS = {"first", "later", "think", "no_think", "compact_first", "compact_later"}


@pytest.mark.parametrize("path", sorted(PROMPTS_DIR.glob("*.txt")), ids=lambda p: p.name)
def test_every_template_file_has_every_section(path):
    assert set(read_sections(path)) >= SECTIONS


def test_first_step_has_observation_actions_and_instruction():
    template = load_template("no-such-env", "think")
    prompt = template.render("find the key", "You see a door.", ["open door", "look"], [])
    assert "find the key" in prompt and "You see a door." in prompt
    assert "'open door'\n'look'" in prompt
    assert "<think>" in prompt and "<action>" in prompt
    assert "Observation 1" not in prompt


def test_later_steps_show_the_last_history_length_pairs():
    template = load_template("no-such-env", "no_think", history_length=2)
    history = [("obs a", "act a"), ("obs b", "act b"), ("obs c", "act c")]
    prompt = template.render("task", "obs d {braces} stay", ["look"], history)
    assert "obs a" not in prompt
    assert "[Observation 2: 'obs b', Action 2: 'act b']" in prompt
    assert "[Observation 3: 'obs c', Action 3: 'act c']" in prompt
    assert "already taken 3 step(s)" in prompt and "now at step 4" in prompt
    assert "obs d {braces} stay" in prompt
    assert "<think>" not in prompt


def test_compact_variant_is_one_short_line_and_reads_info_keys():
    template = load_template("alfworld", "compact", history_length=1)
    info = {"holding": "apple 1", "location": "fridge 1", "not_a_string": 3}
    prompt = template.render(
        "put a apple in fridge", "You arrive at fridge 1.", ["open fridge 1"], [("o", "a")], info
    )
    assert "\n" not in prompt and len(prompt.split()) < 60
    assert "o > a" in prompt


def test_history_length_zero_always_uses_first_template():
    template = load_template("no-such-env", "think", history_length=0)
    assert template.render("t", "o", [], [("x", "y")]) == template.render("t", "o", [], [])


@pytest.mark.parametrize("variant", ["chain", "", "THINK"])
def test_bad_variant_names_the_choices(variant):
    with pytest.raises(ValueError, match="|".join(VARIANTS)):
        load_template("alfworld", variant)
