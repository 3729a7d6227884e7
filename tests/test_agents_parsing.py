"""parse_action: the first <action>...</action>, format validity, and no response can raise."""

import pytest

from agents import parse_action


@pytest.mark.parametrize(
    "text, expected",
    [
        ("<think>go</think><action>go to cabinet 1</action>", ("go to cabinet 1", True)),
        ("<action>  take  apple 1\n from  fridge 1 </action>", ("take apple 1 from fridge 1", True)),
        ("<ACTION>look</Action>", ("look", True)),
        ("<action>open drawer 1</action><action>look</action>", ("open drawer 1", True)),
    ],
)
def test_valid_responses(text, expected):
    assert parse_action(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "go to cabinet 1",
        "<action>go to cabinet 1",
        "<action></action>",
        "<action>   </action>",
        "<action><action>look</action></action>",
        "<action>look <think>x</think></action>",
        "<action>去 cabinet 1</action>",
        "<action>look</action> 思考",
        "<action>lo\x00ok</action>",
        "<action>" + "x" * 20_000 + "</action>",
        "x" * 20_000,
        "\x00" * 100,
        "<action>\ud800</action>",
    ],
)
def test_invalid_responses_are_flagged_and_bounded(text):
    action, valid = parse_action(text)
    assert valid is False
    assert isinstance(action, str) and len(action) <= 1024 and "\x00" not in action


def test_untagged_response_passes_its_tail():
    action, valid = parse_action("Well, I think I should go to fridge 1")
    assert (action, valid) == ("think I should go to fridge 1", False)


@pytest.mark.parametrize("text", [None, 42, b"<action>look</action>", ["<action>look</action>"]])
def test_non_strings_are_invalid(text):
    assert parse_action(text) == ("", False)


def test_admissibility_check_is_optional():
    assert parse_action("<action>fly</action>") == ("fly", True)
    assert parse_action("<action>fly</action>", ["look", "go to desk 1"]) == ("fly", False)
    assert parse_action("<action>look</action>", ["look", "go to desk 1"]) == ("look", True)
