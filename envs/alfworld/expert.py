"""Two experts: the planner, which knows where everything is, and a searcher, which has to look.

The planner (`expert_plan`) returns the remaining winning commands from any state, using full knowledge
of the world. It replans from the current state on every call, so it also recovers after another
policy's moves (DAgger-style data). Every command it returns is admissible when its turn comes.

The searcher (`search_action`) finds the goal object the way an agent that sees only the current
observation must: it visits the receptacles one after another and opens closed ones until it sees an
object of the goal class. Its choice depends only on what the current prompt shows, so a memoryless
policy can imitate it exactly; the planner's first moves cannot be imitated without its knowledge.
"""

from __future__ import annotations

from collections.abc import Iterable

from envs.alfworld.tables import CAN_CONTAIN
from envs.alfworld.world import (
    LIGHT,
    TRANSFORMS,
    TWO,
    Item,
    World,
    goal_met,
    placed_goal_items,
)


def expert_plan(world: World) -> list[str]:
    """The commands that win from the current state; empty once the goal holds."""
    task = world.task
    if task.kind == LIGHT:
        return [] if goal_met(world) else _Planner(world).plan([], 1)
    placed = placed_goal_items(world)
    needed = (2 if task.kind == TWO else 1) - len(placed)
    return _Planner(world).plan(placed, needed) if needed > 0 else []


def search_action(world: World) -> str:
    """The searcher's next command: open what is closed here, take a goal object seen here, else go on to
    the next receptacle in alphabetical order (the order of the "go to" commands), skipping the goal's
    receptacle class (goal objects never start there). Once it holds something the planner finishes,
    whose remaining moves need only receptacles the intro lists (and, for light tasks, the lamp's place)."""
    task = world.task
    if world.holding is not None or goal_met(world):
        plan = expert_plan(world)
        return plan[0] if plan else "look"
    here = world.receptacles.get(world.agent_at) if world.agent_at else None
    if here is not None:
        if here.openable and not here.is_open:
            return f"open {here.name}"
        seen = [name for name in here.contents if world.items[name].kind == task.object]
        if seen and here.kind != task.receptacle:
            return f"take {min(seen)} from {here.name}"
    route = sorted(name for name, recep in world.receptacles.items() if recep.kind != task.receptacle)
    later = [name for name in route if here is None or name > here.name]
    return f"go to {(later or route)[0]}"


class _Planner:
    """Builds a plan against a light copy of the state the plan changes (agent place, hands, open doors)."""

    def __init__(self, world: World):
        self.world = world
        self.at = world.agent_at
        self.holding = world.holding
        self.opened: set[str] = set()  # receptacles the plan opens
        self.actions: list[str] = []

    def plan(self, placed: list[str], needed: int) -> list[str]:
        """Placement tasks: fetch, transform, place (`needed` times); light: fetch, go to the lamp, use it."""
        task = self.world.task
        candidates = [
            item for item in self.world.items.values() if item.kind == task.object and item.name not in placed
        ]
        for _ in range(needed):
            self._fetch(candidates)
            if task.kind == LIGHT:
                self._light()
            else:
                self._transform()
                self._put(self._best_receptacle([task.receptacle]))
        return self.actions

    # -- phases ---------------------------------------------------------------------------------------------
    def _fetch(self, candidates: list[Item]) -> None:
        """End up holding an object of the goal class, first putting down anything else held."""
        if self.holding is not None and self.world.items[self.holding].kind == self.world.task.object:
            candidates[:] = [item for item in candidates if item.name != self.holding]
            return
        if self.holding is not None:
            self._put(self._best_receptacle(CAN_CONTAIN[self.world.items[self.holding].kind]))
        item = min(candidates, key=self._fetch_cost)
        candidates.remove(item)
        self._reach(item.location)
        self.actions.append(f"take {item.name} from {item.location}")
        self.holding = item.name

    def _transform(self) -> None:
        """Clean, heat or cool the held object when the task needs it and it is not done yet."""
        spec = TRANSFORMS.get(self.world.task.kind)
        if spec is None or getattr(self.world.items[self.holding], spec[0]):
            return
        _, appliance, verb = spec
        target = self._best_receptacle([appliance])
        self._go(target)
        self.actions.append(f"{verb} {self.holding} with {target}")

    def _light(self) -> None:
        """Carry the held object to a lamp of the task's class and switch it on if it is off."""
        lamps = [item for item in self.world.items.values() if item.kind == self.world.task.toggle]
        lamp = min(lamps, key=lambda item: (not item.is_toggled, self.world.receptacle_order[item.location]))
        self._go(lamp.location)
        if not lamp.is_toggled:
            self.actions.append(f"use {lamp.name}")

    # -- moves --------------------------------------------------------------------------------------------
    def _go(self, receptacle: str) -> None:
        if self.at != receptacle:
            self.actions.append(f"go to {receptacle}")
            self.at = receptacle

    def _reach(self, receptacle: str) -> None:
        """Go to a receptacle and open it if it is closed."""
        self._go(receptacle)
        if self._closed(receptacle):
            self.actions.append(f"open {receptacle}")
            self.opened.add(receptacle)

    def _put(self, receptacle: str) -> None:
        self._reach(receptacle)
        self.actions.append(f"move {self.holding} to {receptacle}")
        self.holding = None

    def _best_receptacle(self, kinds: Iterable[str]) -> str:
        """The receptacle of one of `kinds` that costs fewest steps: here, then open or openless, then intro order."""
        by_kind = self.world.receptacles_by_kind
        return min((name for kind in kinds for name in by_kind.get(kind, ())), key=self._reach_cost)

    def _closed(self, receptacle: str) -> bool:
        recep = self.world.receptacles[receptacle]
        return recep.openable and not recep.is_open and receptacle not in self.opened

    def _reach_cost(self, receptacle: str) -> tuple[int, int]:
        return (self.at != receptacle) + self._closed(receptacle), self.world.receptacle_order[receptacle]

    def _fetch_cost(self, item: Item) -> tuple[bool, tuple[int, int]]:
        """Prefer objects already clean/hot/cool as needed, then the cheapest to reach."""
        spec = TRANSFORMS.get(self.world.task.kind)
        return spec is not None and not getattr(item, spec[0]), self._reach_cost(item.location)
