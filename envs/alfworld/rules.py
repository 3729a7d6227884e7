"""ALFWorld's command grammar and feedback text (alfworld >= 0.4) as plain functions over a `World`.

The valid commands of a state are exactly its admissible commands: `commands(world)` maps each one to the
function that applies it, so preconditions live in one place and anything else is "Nothing happens.".
"""

from __future__ import annotations

import re
from collections.abc import Callable

from envs.alfworld.tables import CAN_CONTAIN, RECEPTACLE_OBJECTS
from envs.alfworld.world import TRANSFORMABLE, Item, Receptacle, World, listing_key

Effect = tuple[Callable[..., str], tuple]  # a rule function and its arguments after the world

INTRO = "-= Welcome to TextWorld, ALFRED! =-\n\n{look}\n\nYour task is to: {goal}."
HELP_TEXT = (  # the grammar's text starts with a newline that the real engine strips
    "Available commands:\n"
    "  look:                             look around your current location\n"
    "  inventory:                        check your current inventory\n"
    "  go to (receptacle):               move to a receptacle\n"
    "  open (receptacle):                open a receptacle\n"
    "  close (receptacle):               close a receptacle\n"
    "  take (object) from (receptacle):  take an object from a receptacle\n"
    "  move (object) to (receptacle):  place an object in or on a receptacle\n"
    "  examine (something):              examine a receptacle or an object\n"
    "  use (object):                     use an object\n"
    "  heat (object) with (receptacle):  heat an object using a receptacle\n"
    "  clean (object) with (receptacle): clean an object using a receptacle\n"
    "  cool (object) with (receptacle):  cool an object using a receptacle\n"
    "  slice (object) with (object):     slice an object using a sharp object\n"
)
# appliance class -> (command verb, the state flag it sets, the flag it clears)
APPLIANCES = {
    "sinkbasin": ("clean", "is_clean", None),
    "microwave": ("heat", "is_hot", "is_cool"),
    "fridge": ("cool", "is_cool", "is_hot"),
}
LEGACY_PUT = re.compile(r"put (.+?) (?:in/on|in|on) (.+)")  # alfworld < 0.4 "put X in/on Y"


def enumerate_names(names: list[str]) -> str:
    """TextWorld's list in listing order: 'a x 1', 'a x 1, and a y 1', 'a x 1, a y 1, and a z 1', 'nothing'."""
    if not names:
        return "nothing"
    listed = [f"a {name}" for name in sorted(names, key=listing_key)]
    return listed[0] if len(listed) == 1 else ", ".join(listed[:-1]) + ", and " + listed[-1]


def intro(world: World, goal: str) -> str:
    """The first observation: the welcome line, every receptacle, and the task."""
    room = f"You are in the middle of a room. Looking quickly around you, you see {enumerate_names(list(world.receptacles))}."
    return INTRO.format(look=room, goal=goal)


def accessible(receptacle: Receptacle) -> bool:
    """Whether the receptacle's contents can be seen and reached (open, or not openable)."""
    return receptacle.is_open or not receptacle.openable


def commands(world: World, static: dict[str, Effect]) -> dict[str, Effect]:
    """Every command that applies in the current state (`static`: the always-valid ones) -> its effect."""
    table = dict(static)
    held = world.items[world.holding] if world.holding is not None else None
    if held is not None:
        table[f"examine {held.name}"] = (_examine_item, (held,))
    if world.agent_at is None:
        return table
    here = world.receptacles[world.agent_at]
    del table[f"go to {here.name}"]  # alfworld offers no "go to" the receptacle the agent is at
    table[f"examine {here.name}"] = (describe, (here,))
    if here.openable and here.is_open:
        table[f"close {here.name}"] = (_close, (here,))
    elif here.openable:
        table[f"open {here.name}"] = (_open, (here,))
    if accessible(here):
        for name in here.contents:  # objects here can be taken or used, not examined (alfworld 0.4.2, tested)
            item = world.items[name]
            if item.toggleable:
                table[f"use {name}"] = (_use, (item,))
            elif held is None:
                table[f"take {name} from {here.name}"] = (_take, (item, here))
        if held is not None and here.kind in CAN_CONTAIN[held.kind]:
            table[f"move {held.name} to {here.name}"] = (_move, (held, here))
    appliance = APPLIANCES.get(here.kind)
    if held is not None and appliance is not None and held.kind in TRANSFORMABLE[appliance[1]]:
        # like alfred.pddl, no need to open the fridge or microwave first
        table[f"{appliance[0]} {held.name} with {here.name}"] = (_transform, (held, here))
    return table


def static_commands(world: World) -> dict[str, Effect]:
    """The commands of every state of this world (go to any receptacle, look, inventory, help)."""
    table: dict[str, Effect] = {
        f"go to {name}": (_go_to, (recep,)) for name, recep in world.receptacles.items()
    }
    table.update({"look": (_look, ()), "inventory": (_inventory, ()), "help": (_help, ())})
    return table


def normalize_command(action: str, legacy_put: bool) -> str:
    """The lowercase command; with `legacy_put`, 'put X in/on Y' becomes 'move X to Y'."""
    command = action.lower()
    if legacy_put and (match := LEGACY_PUT.fullmatch(command)):
        return f"move {match[1]} to {match[2]}"
    return command


# -- effects: each changes the world and returns ALFWorld's feedback ----------------------------------------
def describe(world: World, receptacle: Receptacle) -> str:
    """What examining a receptacle shows (also the tail of arriving at or opening it)."""
    if not receptacle.openable:
        return f"On the {receptacle.name}, you see {enumerate_names(receptacle.contents)}."
    if receptacle.is_open:
        return f"The {receptacle.name} is open. In it, you see {enumerate_names(receptacle.contents)}."
    return f"The {receptacle.name} is closed."


def _go_to(world: World, receptacle: Receptacle) -> str:
    world.agent_at = receptacle.name
    return f"You arrive at {receptacle.name}. {describe(world, receptacle)}"


def _open(world: World, receptacle: Receptacle) -> str:
    receptacle.is_open = True
    return f"You open the {receptacle.name}. {describe(world, receptacle)}"


def _close(world: World, receptacle: Receptacle) -> str:
    receptacle.is_open = False
    return f"You close the {receptacle.name}."


def _take(world: World, item: Item, receptacle: Receptacle) -> str:
    receptacle.contents.remove(item.name)
    item.location, world.holding = None, item.name
    return f"You pick up the {item.name} from the {receptacle.name}."


def _move(world: World, item: Item, receptacle: Receptacle) -> str:
    receptacle.contents.append(item.name)
    item.location, world.holding = receptacle.name, None
    return f"You move the {item.name} to the {receptacle.name}."


def _use(world: World, item: Item) -> str:
    item.is_toggled = True  # alfred.pddl never clears isToggled, so the feedback is always "turn on"
    return f"You turn on the {item.name}."


def _transform(world: World, item: Item, appliance: Receptacle) -> str:
    verb, sets, clears = APPLIANCES[appliance.kind]
    setattr(item, sets, True)
    if clears is not None:
        setattr(item, clears, False)
    return f"You {verb} the {item.name} using the {appliance.name}."


def _examine_item(world: World, item: Item) -> str:
    """alfred.twl2's examineObject rules in order, for the held object (never sliced, never a lamp, empty)."""
    if item.kind in RECEPTACLE_OBJECTS:
        return f"This is a normal {item.name}. In it, you see nothing."
    if item.is_clean and item.is_hot:
        return f"This is a hot and clean {item.name}."
    if item.is_clean and item.is_cool:
        return f"This is a cool and clean {item.name}."
    for flag, adjective in (("is_hot", "hot"), ("is_clean", "clean"), ("is_cool", "cold")):
        if getattr(item, flag):
            return f"This is a {adjective} {item.name}."
    return f"There's nothing special about {item.name}."


def _inventory(world: World) -> str:
    if world.holding is None:
        return "You are not carrying anything."
    return f"You are carrying: a {world.holding}."


def _look(world: World) -> str:
    # alfworld 0.4.2 lists nothing here at run time, though the intro lists every receptacle (tested)
    if world.agent_at is None:
        return "You are in the middle of a room. Looking quickly around you, you see nothing."
    return f"You are facing the {world.agent_at}. Next to it, you see nothing."


def _help(world: World) -> str:
    return HELP_TEXT
