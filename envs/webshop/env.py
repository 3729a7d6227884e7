"""A WebShop-style shopping environment in WebShop's text observation mode (pure Python, no Java, no spaCy)."""

from __future__ import annotations

import json
from typing import Any

from envs.base import MAX_OBSERVATION_CHARS, TextEnv
from envs.webshop.catalog import DEFAULT_NUM_PRODUCTS, Catalog, Goal, load_webshop_catalog, synthetic_catalog
from envs.webshop.reward import get_reward

SEP = " [SEP] "
RESULTS_PER_PAGE = 10  # WebShop's PRODUCT_WINDOW
BACK_TO_SEARCH, NEXT_PAGE, PREV_PAGE, BUY_NOW = "back to search", "next >", "< prev", "buy now"
SUB_PAGES = {"description": "Description", "features": "Features", "reviews": "Reviews"}
SEARCH_PLACEHOLDER = "search[<query>]"
# Goal index ranges of WebShop's baseline splits (baseline_models/env.py); train takes the rest.
SPLITS = {"test": (0, 500), "eval": (500, 1500), "train": (1500, None)}
REWARD_MODES = ("score", "success")


def parse_action(action: str) -> tuple[str, str | None]:
    """WebShop's `re.match(r'(.+)\\[(.+)\\]', action)` in linear time: (name, argument or None)."""
    close = action.rfind("]")
    open_ = action.rfind("[", 1, close - 1) if close >= 2 else -1
    if open_ < 1:
        return action, None
    return action[:open_], action[open_ + 1 : close]


class WebShopEnv(TextEnv):
    """
    ## Description
    Shop for a product that matches a written instruction in a simulated web store, as in WebShop
    (Yao et al., 2022), text mode. The agent searches, browses result pages, opens items, picks options
    (colour, size, ...) and buys; the purchase is scored by WebShop's reward. The store is a deterministic
    synthetic catalog (1,000 products by default) or a real WebShop `items_shuffle*.json` file.

    ## Action Space
    A string, `search[<keywords>]` (only on the search page) or `click[<clickable>]`, parsed like WebShop
    (regex `(.+)\\[(.+)\\]`, argument lowercased). Clickables are button texts and ASINs, lowercased, and option
    values: `back to search`, `next >`, `< prev`, `b0...`, `description`, `features`, `reviews`, `buy now`,
    `dark brown`. Anything else (malformed, unknown clickable, search without a search bar) is a no-op:
    the page is unchanged and the reward is 0.

    ## Observation Space
    The visible page text joined with ` [SEP] `, e.g.
    `WebShop [SEP] Instruction: [SEP] i need a long lasting shampoo with scent: lavender, and price lower
    than 20.00 dollars [SEP] Search`, then result pages
    `Instruction: [SEP] ... [SEP] Back to Search [SEP] Page 1 (Total results: 50) [SEP] Next > [SEP]
    B0ABCDEFGH [SEP] Lumora Shampoo, Long Lasting, Sulfate Free [SEP] $12.99 [SEP] ...`, item pages
    `... [SEP] Back to Search [SEP] < Prev [SEP] scent [SEP] lavender [SEP] coconut [SEP] <title> [SEP]
    Price: $12.99 [SEP] Rating: N.A. [SEP] Description [SEP] Features [SEP] Reviews [SEP] Buy Now`,
    sub-pages (`... [SEP] Back to Search [SEP] < Prev [SEP] <text>`) and the done page
    `Thank you for shopping with us! [SEP] ...`.

    ## Starting State
    The search page of a goal drawn from the split with `self.np_random`, or `options={"goal_index": i}`
    (an index into the split's goal list). Goals are WebShop's synthetic goals (one per option combination
    of each product), shuffled with seed 233; test = goals 0-499, eval = 500-1499, train = the rest.

    ## Reward
    0 on every step except `click[buy now]`, which pays `score * reward_scale` (`reward="score"`, default)
    or `reward_scale * (score == 1)` (`reward="success"`, verl-agent's 10 x won). `score` is WebShop's
    `get_reward` in [0, 1]: r_type x (matched attributes + matched options + price ok) / (attrs + options + 1);
    see `envs.webshop.reward` for the two documented substitutions (rapidfuzz, no spaCy).

    ## Episode End
    Terminated on purchase (any score); truncated after `max_steps` (15, verl-agent's WebShop limit).

    ## Information
    `admissible_actions` (`search[<query>]` when there is a search bar, then `click[x]` for each clickable),
    `anchor` (the page text without the instruction, so equal pages of different tasks group together),
    `won` (score == 1), `task` and `instruction` (the instruction text), `score` (0 until bought),
    `page` (`search`, `results`, `item`, `sub` or `done`), `goal_index` (within the split).

    ## Arguments
    `envs.make("webshop", split="train", num_products=1000, catalog_seed=0, reward="score",
    reward_scale=10.0, max_steps=15, seed=None, items_path=None, attributes_path=None)`, or
    `gymnasium.make("layerverl/WebShop-v0", ...)`. `items_path` + `attributes_path` load real WebShop data
    (`num_products` then keeps the first N items, None for all). `env.unwrapped.expert_action()` is an
    oracle that knows the target: it searches, pages to the target, picks the goal options and buys;
    `search_action()` is a shopper that knows only what it sees: it buys the first result with the task's options.

    ## Version History
    * v0: initial version.
    """

    def __init__(
        self,
        split: str = "train",
        num_products: int | None = DEFAULT_NUM_PRODUCTS,
        catalog_seed: int = 0,
        reward: str = "score",
        reward_scale: float = 10.0,
        max_steps: int = 15,
        seed: int | None = None,
        items_path: str | None = None,
        attributes_path: str | None = None,
        render_mode: str | None = None,
    ):
        super().__init__(max_steps=max_steps, seed=seed, render_mode=render_mode)
        if split not in SPLITS:
            raise ValueError(f"split must be one of {sorted(SPLITS)}, got {split!r}")
        if reward not in REWARD_MODES:
            raise ValueError(f"reward must be one of {list(REWARD_MODES)}, got {reward!r}")
        if (items_path is None) != (attributes_path is None):
            raise ValueError("items_path and attributes_path must be given together")
        if items_path is not None:
            self.catalog: Catalog = load_webshop_catalog(
                str(items_path), str(attributes_path), num_products, catalog_seed
            )
        else:
            self.catalog = synthetic_catalog(
                DEFAULT_NUM_PRODUCTS if num_products is None else num_products, catalog_seed
            )
        start, stop = SPLITS[split]
        self.goals: list[Goal] = self.catalog.goals[start:stop]
        if not self.goals:
            raise ValueError(
                f"split {split!r} (goals {start}..{stop}) is empty: the catalog has {len(self.catalog.goals)} goals"
            )
        self.split = split
        self.reward_mode = reward
        self.reward_scale = float(reward_scale)
        self._goal = self.goals[0]
        self._goal_index = 0
        self._new_session()

    # -- episode state ------------------------------------------------------------------------------------
    def _new_session(self) -> None:
        """Fresh browsing state on the search page."""
        self._page = "search"
        self._results: list[str] = []  # ASINs of the last search, best first
        self._page_number = 1
        self._asin: str | None = None
        self._options: dict[str, str] = {}
        self._sub_page = ""
        self._score = 0.0
        self._searches = 0

    def _reset(self, options: dict[str, Any]) -> str:
        index = options.get("goal_index")
        if index is None:
            index = int(self.np_random.integers(len(self.goals)))
        elif not isinstance(index, int) or not 0 <= index < len(self.goals):
            raise ValueError(f"goal_index must be an int in [0, {len(self.goals)}), got {index!r}")
        self._goal_index, self._goal = index, self.goals[index]
        self._new_session()
        return self._render()

    def _step(self, action: str) -> tuple[str, float, bool]:
        name, argument = parse_action(action)
        argument = None if argument is None else argument.lower()
        clickables = self._clickables()
        if name == "search" and argument and self._page == "search":
            self._search(argument)
        elif name == "click" and argument in clickables:
            self._click(argument, clickables[argument])
        else:
            return self._observation, 0.0, False
        if self._page != "done":
            return self._render(), 0.0, False
        won = self._score == 1.0
        reward = self._score if self.reward_mode == "score" else float(won)
        return self._render(), reward * self.reward_scale, won

    def _episode_over(self, won: bool) -> bool:
        """Any purchase ends the episode (WebShop's done), not only a won one."""
        return self._page == "done"

    def _search(self, keywords: str) -> None:
        """Run the query and show result page 1 (WebShop joins space-split keywords back with spaces)."""
        positions = self.catalog.index.search(" ".join(keywords.split(" ")))
        self._results = [self.catalog.products[i].asin for i in positions]
        self._searches += 1
        self._show_results(1)

    def _show_results(self, page_number: int) -> None:
        """Results page; entering it forgets the open item and its chosen options, as WebShop does."""
        self._page, self._page_number, self._asin, self._options = "results", page_number, None, {}

    def _click(self, clickable: str, option_name: str | None) -> None:
        """Follow one click; `option_name` is set when the clickable is an option value."""
        if clickable == BACK_TO_SEARCH:
            self._new_session()
        elif self._page == "results":
            if clickable == NEXT_PAGE:
                self._show_results(self._page_number + 1)
            elif clickable == PREV_PAGE:
                self._show_results(self._page_number - 1)
            else:
                self._page, self._asin = "item", clickable.upper()
        elif self._page == "sub":  # only '< prev' is left: back to the item page
            self._page = "item"
        elif clickable == PREV_PAGE:
            self._show_results(self._page_number)
        elif clickable in SUB_PAGES:
            self._page, self._sub_page = "sub", clickable
        elif clickable == BUY_NOW:
            self._buy()
        else:
            self._options[option_name] = clickable

    def _buy(self) -> None:
        """Score the purchase of the open item with the chosen options."""
        product = self.catalog.by_asin[self._asin]
        self._score = get_reward(product, self._goal, self.catalog.prices[self._asin], self._options).score
        self._page = "done"

    # -- what the agent sees ----------------------------------------------------------------------------
    def _clickables(self) -> dict[str, str | None]:
        """Lowercased clickable texts of the current page -> option name (None for buttons and links)."""
        if self._page == "results":
            names = [BACK_TO_SEARCH]
            if self._page_number > 1:
                names.append(PREV_PAGE)
            if self._page_number * RESULTS_PER_PAGE < len(self._results):
                names.append(NEXT_PAGE)
            names += [asin.lower() for asin in self._page_asins()]
            return dict.fromkeys(names)
        if self._page == "item":
            clickables: dict[str, str | None] = dict.fromkeys(
                [BACK_TO_SEARCH, PREV_PAGE, *SUB_PAGES, BUY_NOW]
            )
            for option_name, values in self.catalog.by_asin[self._asin].options.items():
                clickables.update(dict.fromkeys(values, option_name))
            return clickables
        if self._page == "sub":
            return dict.fromkeys([BACK_TO_SEARCH, PREV_PAGE])
        return {}

    def _page_asins(self) -> list[str]:
        start = (self._page_number - 1) * RESULTS_PER_PAGE
        return self._results[start : start + RESULTS_PER_PAGE]

    def _render(self) -> str:
        """The text-mode page: visible text nodes joined with ' [SEP] '."""
        instruction = ["Instruction:", self._goal.instruction_text]
        if self._page == "search":
            parts = ["WebShop", *instruction, "Search"]
        elif self._page == "results":
            parts = [
                *instruction,
                "Back to Search",
                f"Page {self._page_number} (Total results: {len(self._results)})",
            ]
            if self._page_number > 1:
                parts.append("< Prev")
            if self._page_number * RESULTS_PER_PAGE < len(self._results):
                parts.append("Next >")
            for asin in self._page_asins():
                product = self.catalog.by_asin[asin]
                parts += [asin, product.title, product.price_tag]
        elif self._page == "item":
            product = self.catalog.by_asin[self._asin]
            parts = [*instruction, "Back to Search", "< Prev"]
            for option_name, values in product.options.items():
                parts += [option_name, *values]
            parts += [
                product.title,
                f"Price: {product.price_tag}",
                f"Rating: {product.rating}",
                "Description",
                "Features",
                "Reviews",
                "Buy Now",
            ]
        elif self._page == "sub":
            parts = [*instruction, "Back to Search", "< Prev", *self._sub_page_text()]
        else:
            parts = [
                "Thank you for shopping with us!",
                "Your code:",
                "(Paste it in your MTurk interface.)",
                "Purchased",
                "asin",
                self._asin,
                "options",
                json.dumps(self._options),
                "Your score (min 0.0, max 1.0)",
                str(self._score),
            ]
        return SEP.join(p.strip() for p in parts if p.strip())[:MAX_OBSERVATION_CHARS]

    def _sub_page_text(self) -> list[str]:
        """The text nodes of the Description, Features or Reviews page."""
        product = self.catalog.by_asin[self._asin]
        if self._sub_page == "description":
            return [product.description]
        if self._sub_page == "features":
            return list(product.bullet_points)
        return [text for r in product.reviews for text in (f'"{r["title"]}"', str(r["score"]), r["body"])]

    def _admissible_actions(self) -> list[str]:
        actions = [SEARCH_PLACEHOLDER] if self._page == "search" else []
        return actions + [f"click[{c}]" for c in self._clickables()]

    @property
    def task(self) -> str:
        return self._goal.instruction_text

    def _anchor(self) -> str:
        return self._observation.replace(f"Instruction:{SEP}{self._goal.instruction_text}", "Instruction:", 1)

    def _extra_info(self) -> dict[str, Any]:
        return {
            "instruction": self._goal.instruction_text,
            "score": self._score,
            "page": self._page,
            "goal_index": self._goal_index,
        }

    # -- oracle ---------------------------------------------------------------------------------------
    def expert_action(self) -> str:
        """The next action of an oracle that knows the target: search, page to it, pick goal options, buy.

        It first searches the product's instruction sentence, then (if the target is not in those results)
        its title. On the done page it returns '' (nothing left to do).
        """
        target = self._goal.asin
        if self._page == "search":
            product = self.catalog.by_asin[target]
            query = product.instruction if self._searches == 0 and product.instruction else product.title
            return f"search[{query.lower()}]"
        if self._page == "results":
            if target not in self._results:
                return f"click[{BACK_TO_SEARCH}]"
            target_page = self._results.index(target) // RESULTS_PER_PAGE + 1
            if target_page == self._page_number:
                return f"click[{target.lower()}]"
            return f"click[{NEXT_PAGE if target_page > self._page_number else PREV_PAGE}]"
        if self._page == "sub" or (self._page == "item" and self._asin != target):
            return f"click[{PREV_PAGE}]"
        if self._page == "item":
            for name, value in self._goal.goal_options.items():
                if self._options.get(name) != value:
                    return f"click[{value}]"
            return f"click[{BUY_NOW}]"
        return ""

    def search_action(self) -> str:
        """The next action of a shopper that knows only what the page and its own clicks show.

        It searches the instruction's sentence (the task up to its options and price), opens the first result of
        page 1, clicks each option value the task names that the item offers, then buys: every choice follows
        from the task, the clickables and its own last actions, so a policy can imitate it exactly (the oracle's
        result choice cannot be, it knows the target). Off its path it goes back: '< prev' on a sub-page or a
        later results page. On the done page it returns ''.
        """
        if self._page == "search":
            product = self.catalog.by_asin[self._goal.asin]
            return f"search[{(product.instruction or self._goal.instruction_text).lower()}]"
        if self._page == "results":
            return f"click[{PREV_PAGE if self._page_number > 1 else self._page_asins()[0].lower()}]"
        if self._page == "sub":
            return f"click[{PREV_PAGE}]"
        if self._page == "item":
            clickables = self._clickables()
            for name, value in self._goal.goal_options.items():
                if clickables.get(value) == name and self._options.get(name) != value:
                    return f"click[{value}]"
            return f"click[{BUY_NOW}]"
        return ""
