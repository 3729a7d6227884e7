"""TextArena single-player games as layerverl text environments.

`textarena` is imported only when such an env is built, so `import envs` never touches it (nor nltk, nor
the network). `TEXTARENA_OFFLINE_GAMES` lists the ids verified to build and play with no network, no API
key and no NLTK data on textarena 0.7.4; `envs/__init__.py` registers each as `textarena/<id>`.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from envs.base import MAX_ACTION_CHARS, TextEnv

# Verified offline on textarena 0.7.4 / Python 3.11 (tests/test_textarena.py plays each to a finish).
TEXTARENA_OFFLINE_GAMES: tuple[str, ...] = (
    "2048-v0",
    "Bandit-v0",
    "Blackjack-v0",
    "Countdown-v0",
    "Crosswords-v0",
    "Cryptarithm-v0",
    "FifteenPuzzle-v0",
    "FrozenLake-v0",
    "GuessTheNumber-v0",
    "LightsOut-v0",
    "LogicPuzzle-v0",
    "Mastermind-v0",
    "Minesweeper-v0",
    "PegJump-v0",
    "RushHour-v0",
    "Secretary-v0",
    "Set-v0",
    "Slitherlink-v0",
    "Sokoban-v0",
    "Sudoku-v0",
    "ThreeCardMonte-v0",
    "TowerOfHanoi-v0",
)

# What a game module needs before it may even be imported (its import or constructor would try the network).
_NLTK_RESOURCES = {
    "Hangman": ("corpora/words",),
    "WordLadder": ("corpora/words",),
    "WordSearch": ("corpora/words",),
    "Wordle": ("corpora/words", "taggers/averaged_perceptron_tagger_eng"),
}
_NEEDS_OPENROUTER = ("GuessWho", "TwentyQuestions")

WIN_REWARD = 1.0  # every TextArena single-player game gives exactly 1 for a solved game
NON_NUMERIC_REWARD = 0.0  # stands in for the reason text that a few games return as their reward
INVALID_MOVE_PREFIX = "You attempted an invalid move."


class TextArenaEnv(TextEnv):
    """Any TextArena single-player game (`game=` a TextArena id) as a layerverl text environment.

    ## Description
    Wraps the raw TextArena game (no TextArena observation wrappers): we render the player's messages
    ourselves so that each observation holds only what is new since the last action. Verified offline
    games are registered as `textarena/<id>`; others build with `envs.make("textarena", game=<id>)`.

    ## Action Space
    `Text(max_length=1024)`: the move as TextArena expects it, e.g. `"[A C]"` (TowerOfHanoi),
    `"[up]"` (FrozenLake, Sokoban), `"[5]"` (GuessTheNumber), `"[3 7 4]"` (Sudoku: row col number).
    Whitespace collapses and NUL bytes drop (as in every layerverl env); longer input is cut to 1024
    characters. Where TextArena's default variant adds brackets (`ActionFormattingWrapper`), so do we:
    `"up"` becomes `"[up]"`. Anything else goes to the game unchanged; a move the game rejects never raises.

    ## Observation Space
    `Text(max_length=100_000)`: the game's messages to the player since the last action, joined by blank
    lines; the echo of the player's own action is left out. The first observation starts with the game
    prompt, e.g. for TowerOfHanoi-v0:

        You are playing Tower of Hanoi with 3 disks.
        You have to move the disks from tower A to tower C.
        ...
        Current Board:
        A: [3, 2, 1]
        B: []
        C: []
        .

    On the last step the game's end reason follows as `Game over: <reason>` (TextArena only reports it
    to the program, not to the player).

    ## Starting State
    Whatever the game draws from its seed. `reset(seed=s)` seeds `np_random`, from which the game's seed
    is drawn; each env keeps its own `random` state (TextArena games use the global `random` module), so
    envs stepped in any interleaving stay deterministic. Not thread-safe: one thread steps envs at a time.

    ## Reward
    TextArena rewards only at the end of a game, as a dict keyed by player id (`{0: r}`); we return
    `float(r)` of player 0 on the final step and 0.0 before. A win gives 1.0; a loss gives the game's
    progress score (e.g. 0.84 in GuessTheNumber, 0.375 in Mastermind), 0.0 or -1.0 (Bandit, Secretary
    on invalid moves). The number of sets found is Set's reward. A reward that is not a number (Countdown,
    Cryptarithm, Slitherlink and ThreeCardMonte swap the reward and reason of their invalid-move call in
    0.7.4 and return the reason text) counts as 0.0; no reward at all counts as 0.0.

    ## Episode End
    Terminated when the game ends: solved, lost (hole, mine, no moves), its own turn limit, or the second
    invalid move in a row (TextArena forgives one: the first gives a warning in the observation, reward 0
    and `invalid_move=True`; the second ends the game with the game's invalid-move reward). Also terminated,
    with reward 0.0, if the game itself crashes (FifteenPuzzle 0.7.4 crashes on its solving move).
    Truncated after `max_steps` actions (default 200). Steps after the end change nothing.

    ## Information
    `admissible_actions`: the legal moves where the game state lists them cheaply (TowerOfHanoi legal
    moves, FrozenLake/FifteenPuzzle in-bounds directions, Sokoban/2048 the four directions, GuessTheNumber
    numbers not yet guessed, Minesweeper unrevealed cells, LightsOut cells, Blackjack `[Hit]`/`[Stand]`,
    Secretary `[accept]`/`[continue]`, ThreeCardMonte cups, Bandit buttons); `[]` for the rest (Sudoku,
    Mastermind, Crosswords, LogicPuzzle, Set, Countdown, Cryptarithm, Slitherlink, PegJump, RushHour, and
    any unverified id), whose action format the prompt states. `anchor`: the latest board the game drew
    (its `GAME_BOARD` message, without prompt or history), or the current observation for games without
    one. `won`: the game ended with reward >= 1.0 and not by an invalid move (for Set: a set was found).
    `task`: the game prompt. `game`: the TextArena id. `invalid_move`: the game rejected this action.
    `outcome`: the game's end reason, "" while it runs.

    ## Arguments
        envs.make("textarena/TowerOfHanoi-v0")                      # a verified offline game
        envs.make("textarena", game="Sudoku-v0-easy", max_steps=100)  # any id; extra kwargs go to the game
        gymnasium.make("layerverl/TextArena-FrozenLake-v0")
    Ids that cannot run here fail at construction with one line: NLTK-corpus games (Hangman, Wordle,
    WordLadder, WordSearch) raise RuntimeError naming the missing corpus and never download it; GuessWho
    and TwentyQuestions raise ValueError without `OPENROUTER_API_KEY`; games that do not import
    (BabyAiText: no `gym`; Klondike, UltimateTexasHoldem: Python 3.12 syntax) raise RuntimeError;
    multi-player ids (e.g. TicTacToe-v0) and unknown ids raise ValueError.

    ## Version History
    * v0: initial version (textarena 0.7.4).
    """

    def __init__(
        self,
        game: str = "TowerOfHanoi-v0",
        max_steps: int = 200,
        seed: int | None = None,
        render_mode: str | None = None,
        **game_kwargs: Any,
    ):
        super().__init__(max_steps=max_steps, seed=seed, render_mode=render_mode)
        self.game_id = game
        self._game, self._formats_actions = _build_game(game, game_kwargs)
        self._game_random_state = random.Random(0).getstate()
        if game not in TEXTARENA_OFFLINE_GAMES:  # an unverified id must fail here, not at the first reset
            self._reset_game(0)
        self._prompt = ""
        self._board = ""
        self._done = False
        self._invalid = False
        self._outcome = ""

    def _reset(self, options: dict[str, Any]) -> str:
        self._reset_game(int(self.np_random.integers(2**31 - 1)))
        self._board = ""
        self._done = False
        self._invalid = False
        self._outcome = ""
        return self._read_messages()

    def _step(self, action: str) -> tuple[str, float, bool]:
        if self._done:
            return self._observation, 0.0, False
        action = action[:MAX_ACTION_CHARS]
        if self._formats_actions and "[" not in action and "]" not in action:
            action = f"[{action}]"
        try:
            with self._own_random():
                done, _ = self._game.step(action)
        except Exception as exc:  # a third-party game bug must end the episode, not the run
            self._done, self._invalid = True, False
            self._outcome = f"game error: {type(exc).__name__}: {exc}"
            return f"Game over: {self._outcome}", 0.0, False
        state = self._game.state
        ended_by_invalid = bool(state.game_info[0].get("invalid_move"))
        self._invalid = ended_by_invalid or getattr(state, "error_count", 0) > 0
        observation = self._read_messages()
        if not done:
            return observation, 0.0, False
        self._done = True
        self._outcome = str(state.game_info[0].get("reason", ""))
        reward = _player_reward(state.rewards)
        observation = f"{observation}\n\nGame over: {self._outcome}".lstrip()
        return observation, reward, reward >= WIN_REWARD and not ended_by_invalid

    def _episode_over(self, won: bool) -> bool:
        """A TextArena game also ends on a loss."""
        return self._done

    def _admissible_actions(self) -> list[str]:
        if self._done:
            return []
        lister = _ADMISSIBLE_ACTIONS.get(type(self._game).__name__)
        return lister(self._game) if lister else []

    def expert_action(self) -> str:
        """The optimal next move from the current position (the warm start's demonstrations); '' once the
        game is over. Only games listed in `_EXPERTS` have one (TowerOfHanoi); others raise ValueError."""
        expert = _EXPERTS.get(type(self._game).__name__)
        if expert is None:
            raise ValueError(
                f"TextArena game {self.game_id!r} has no expert; games with one: {', '.join(_EXPERTS)}"
            )
        return "" if self._done else expert(self._game)

    @property
    def task(self) -> str:
        return self._prompt

    def _anchor(self) -> str:
        return self._board or self._observation

    def _extra_info(self) -> dict[str, Any]:
        return {"game": self.game_id, "invalid_move": self._invalid, "outcome": self._outcome}

    # -- helpers --------------------------------------------------------------------------------------
    def _reset_game(self, game_seed: int) -> None:
        """Reset the TextArena game for one player; a game that is not single-player fails here."""
        self._game_random_state = random.Random(game_seed).getstate()
        try:
            with self._own_random():
                self._game.reset(num_players=1, seed=game_seed)
        except AssertionError as exc:
            raise ValueError(f"TextArena game {self.game_id!r} is not a single-player game ({exc})") from None

    @contextmanager
    def _own_random(self) -> Iterator[None]:
        """Run game code on this env's own `random` state, leaving the process-wide one untouched."""
        outside = random.getstate()
        random.setstate(self._game_random_state)
        try:
            yield
        finally:
            self._game_random_state = random.getstate()
            random.setstate(outside)

    def _read_messages(self) -> str:
        """Take the game's new messages to the player; remember the prompt and the latest board."""
        import textarena as ta

        _, messages = self._game.get_observation()
        texts = []
        for message in messages:
            kind, text = _message_kind_and_text(message, ta.ObservationType)
            if kind is ta.ObservationType.PLAYER_ACTION:
                continue
            if kind is ta.ObservationType.PROMPT:
                self._prompt = text
            elif kind is ta.ObservationType.GAME_BOARD:
                self._board = text
            texts.append(text)
        return "\n\n".join(texts)


def _build_game(game: str, game_kwargs: dict[str, Any]) -> tuple[Any, bool]:
    """The raw TextArena game for `game` and whether its default variant brackets bare actions."""
    if not isinstance(game, str) or not game:
        raise ValueError(f"game must be a TextArena id such as 'TowerOfHanoi-v0', got {game!r}")
    import textarena as ta
    from textarena.envs.registration import ENV_REGISTRY

    spec = ENV_REGISTRY.get(game)
    if spec is None:
        raise ValueError(
            f"unknown TextArena game {game!r}; verified offline games: {', '.join(TEXTARENA_OFFLINE_GAMES)}"
        )
    entry_point = spec.entry_point if isinstance(spec.entry_point, str) else spec.entry_point.__module__
    package = entry_point.split(":")[0].split(".")[-2]
    _check_requirements(game, package)
    try:
        game_class = _resolve_class(spec.entry_point)
        instance = game_class(**{**spec.kwargs, **game_kwargs})
    except SyntaxError as exc:
        raise RuntimeError(f"TextArena game {game!r} does not import on this Python ({exc})") from None
    except ImportError as exc:
        raise RuntimeError(f"TextArena game {game!r} needs a missing module ({exc})") from None
    except TypeError as exc:
        raise ValueError(f"bad arguments for TextArena game {game!r}: {exc}") from None
    wrappers = spec.default_wrappers or []
    return instance, ta.wrappers.ActionFormattingWrapper in wrappers


def _check_requirements(game: str, package: str) -> None:
    """Fail with one line, before importing the game, if it needs NLTK data or an OpenRouter key."""
    if package in _NEEDS_OPENROUTER and not os.environ.get("OPENROUTER_API_KEY"):
        raise ValueError(
            f"TextArena game {game!r} needs an OpenRouter API key (OPENROUTER_API_KEY) and network"
        )
    if package in _NLTK_RESOURCES:
        import nltk

        for resource in _NLTK_RESOURCES[package]:
            try:
                nltk.data.find(resource)
            except LookupError:
                name = resource.split("/")[-1]
                raise RuntimeError(
                    f"TextArena game {game!r} needs the NLTK resource {name!r}, which is not installed "
                    f"(layerverl never downloads it; install with: python -m nltk.downloader {name})"
                ) from None


def _resolve_class(entry_point: str | Callable[..., Any]) -> Callable[..., Any]:
    """Import a TextArena "module:Class" entry point."""
    if callable(entry_point):
        return entry_point
    import importlib

    module_name, _, class_name = entry_point.partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def _player_reward(rewards: Any) -> float:
    """Player 0's final reward as a number (see the class docstring's Reward section)."""
    value = rewards.get(0) if isinstance(rewards, dict) else rewards
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return NON_NUMERIC_REWARD
    return float(value)


def _message_kind_and_text(message: Any, observation_type: type) -> tuple[Any, str]:
    """(ObservationType, text) of a message; some games store the tuple's fields in the wrong order."""
    _, text, kind = message
    if isinstance(kind, observation_type) and isinstance(text, str):
        return kind, text
    kind = next((part for part in message if isinstance(part, observation_type)), None)
    return kind, next((part for part in reversed(message) if isinstance(part, str)), "")


# -- admissible actions, per TextArena game class ----------------------------------------------------------
def _hanoi_moves(game: Any) -> list[str]:
    towers = game.state.game_state["towers"]
    return [
        f"[{source} {target}]"
        for source in towers
        for target in towers
        if source != target
        and towers[source]
        and (not towers[target] or towers[target][-1] > towers[source][-1])
    ]


def _frozen_lake_moves(game: Any) -> list[str]:
    row, col = game.state.game_state["player_pos"]
    steps = {"up": (-1, 0), "down": (1, 0), "left": (0, -1), "right": (0, 1)}
    return [
        f"[{name}]"
        for name, (dr, dc) in steps.items()
        if 0 <= row + dr < game.size and 0 <= col + dc < game.size
    ]


def _fifteen_puzzle_moves(game: Any) -> list[str]:
    row, col = game._get_empty_position()  # the same rule the game uses for its "Available Moves" line
    moves = {"[up]": row < 3, "[down]": row > 0, "[left]": col < 3, "[right]": col > 0}
    return [move for move, legal in moves.items() if legal]


def _guess_the_number_moves(game: Any) -> list[str]:
    return [f"[{n}]" for n in range(game.min_number, game.max_number + 1) if n not in game.guessed_numbers]


def _minesweeper_moves(game: Any) -> list[str]:
    return [f"[{r} {c}]" for r in range(game.rows) for c in range(game.cols) if not game.revealed[r][c]]


def _fixed(*actions: str) -> Callable[[Any], list[str]]:
    return lambda game: list(actions)


_DIRECTIONS = ("[up]", "[down]", "[left]", "[right]")
_ADMISSIBLE_ACTIONS: dict[str, Callable[[Any], list[str]]] = {
    "TowerOfHanoiEnv": _hanoi_moves,
    "FrozenLakeEnv": _frozen_lake_moves,
    "FifteenPuzzleEnv": _fifteen_puzzle_moves,
    "SokobanEnv": _fixed(*_DIRECTIONS),
    "Game2048Env": _fixed("[Up]", "[Down]", "[Left]", "[Right]"),
    "GuessTheNumberEnv": _guess_the_number_moves,
    "MinesweeperEnv": _minesweeper_moves,
    "LightsOutEnv": lambda game: [f"[{r} {c}]" for r in range(game.size) for c in range(game.size)],
    "BlackjackEnv": _fixed("[Hit]", "[Stand]"),
    "SecretaryEnv": _fixed("[accept]", "[continue]"),
    "ThreeCardMonteEnv": lambda game: [f"[{k}]" for k in range(game.num_cups)],
    "BanditEnv": lambda game: [f"[{button}]" for button in game.buttons],
}


# -- experts: the optimal move from any position, per TextArena game class -----------------------------------
def _hanoi_expert(game: Any) -> str:
    """Disks home on tower C in the fewest moves: the largest disk not on its target goes there once every
    smaller disk sits on the third tower; moving those smaller disks is the same problem, one disk smaller."""
    where = {disk: name for name, disks in game.state.game_state["towers"].items() for disk in disks}

    def move(disk: int, target: str) -> str | None:
        if disk == 0:
            return None
        if where[disk] == target:
            return move(disk - 1, target)
        spare = ({"A", "B", "C"} - {where[disk], target}).pop()
        return move(disk - 1, spare) or f"[{where[disk]} {target}]"

    return move(game.num_disks, "C") or ""


_EXPERTS: dict[str, Callable[[Any], str]] = {"TowerOfHanoiEnv": _hanoi_expert}
