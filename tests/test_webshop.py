"""The WebShop-style env: exact page texts, WebShop's reward on hand-computed cases, actions, splits, expert."""

from __future__ import annotations

import json
import random
import re
import time

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import envs
from envs.webshop.catalog import Goal, Product, load_webshop_catalog, synthetic_catalog
from envs.webshop.env import SEARCH_PLACEHOLDER, WebShopEnv, parse_action
from envs.webshop.reward import get_reward, noun_tokens, type_reward
from envs.webshop.search import tokenize

HAIR_CATEGORY = "Beauty & Personal Care › Hair Care › Hair Extensions, Wigs & Accessories › Extensions"
TINY_ITEMS = [
    {
        "asin": "B09QQLDJ93",
        "name": "Clip in Hair Extensions 22 inch Long Natural",
        "pricing": "$25.99",
        "full_description": "Soft natural hair.",
        "small_description": ["Clip-in design", "Heat safe"],
        "customization_options": {
            "Color": [{"value": "Natural Black", "image": None}, {"value": "Dark Brown/Red", "image": None}],
            "Size": [{"value": "18 inch", "image": None}, {"value": "22 inch", "image": None}],
        },
        "category": "beauty",
        "query": "Hair Extensions ",
        "product_category": HAIR_CATEGORY,
        "images": ["x.jpg"],
    },
    {
        "asin": "B07P6Z6JDV",
        "name": "Ponytail Hair Extension Wrap Around",
        "pricing": "$9.99 - $15.99",
        "full_description": "",
        "small_description": "One piece",
        "customization_options": None,
        "category": "beauty",
        "query": "ponytail",
        "product_category": HAIR_CATEGORY,
        "images": ["y.jpg"],
    },
    {
        "asin": "nan",
        "name": "Broken record",
        "pricing": "$1.00",
        "category": "beauty",
        "query": "x",
        "product_category": "",
        "images": [],
    },
    {
        "asin": "B09QQLDJ93",
        "name": "Duplicate",
        "pricing": "$2.00",
        "category": "beauty",
        "query": "x",
        "product_category": "",
        "images": [],
    },
    {
        "asin": "B0TEST0003",
        "name": "Wireless Mouse Silent Click \U0001f5b1",
        "pricing": "$12.50",
        "full_description": "Quiet mouse.",
        "small_description": ["Silent buttons"],
        "customization_options": {},
        "category": "electronics",
        "query": "wireless mouse",
        "product_category": "Electronics › Mice",
        "images": ["z.jpg"],
    },
]
TINY_ATTRIBUTES = {
    "B09QQLDJ93": {
        "attributes": ["natural looking", "long"],
        "instruction": "i need a long clip-in hair extension which is natural looking",
        "instruction_attributes": ["long clip-in", "natural looking"],
    },
    "B0TEST0003": {"attributes": ["silent"]},
}


@pytest.fixture(scope="module")
def tiny_paths(tmp_path_factory):
    root = tmp_path_factory.mktemp("webshop")
    items, attrs = root / "items_shuffle_tiny.json", root / "items_ins_v2_tiny.json"
    items.write_text(json.dumps(TINY_ITEMS), encoding="utf-8")
    attrs.write_text(json.dumps(TINY_ATTRIBUTES), encoding="utf-8")
    return str(items), str(attrs)


@pytest.fixture
def tiny_env(tiny_paths):
    env = WebShopEnv(split="test", items_path=tiny_paths[0], attributes_path=tiny_paths[1])
    env.reset(
        seed=0,
        options={
            "goal_index": [g.goal_options for g in env.goals].index(
                {"color": "dark brown | red", "size": "22 inch"}
            )
        },
    )
    return env


def play(env: WebShopEnv, policy, seed: int) -> tuple[float, bool, int]:
    """One episode; returns (score, won, steps)."""
    _, info = env.reset(seed=seed)
    terminated = truncated = False
    while not (terminated or truncated):
        _, _, terminated, truncated, info = env.step(policy(env, info))
    return info["score"], info["won"], env._steps


def expert(env: WebShopEnv, info: dict) -> str:
    return env.expert_action()


def make_random_agent(seed: int):
    rng = random.Random(seed)

    def act(env: WebShopEnv, info: dict) -> str:
        action = rng.choice(info["admissible_actions"])
        return f"search[{info['instruction']}]" if action == SEARCH_PLACEHOLDER else action

    return act


# -- catalog and loader ----------------------------------------------------------------------------------
def test_loader_reads_webshop_format(tiny_paths):
    catalog = load_webshop_catalog(*tiny_paths)
    assert [p.asin for p in catalog.products] == ["B09QQLDJ93", "B07P6Z6JDV", "B0TEST0003"]
    hair, ponytail, mouse = catalog.products
    assert hair.options == {"color": ["natural black", "dark brown | red"], "size": ["18 inch", "22 inch"]}
    assert hair.query == "hair extensions" and hair.price_tag == "$25.99"
    assert ponytail.pricing == [9.99, 15.99] and ponytail.price_tag == "$9.99 to $15.99"
    assert ponytail.attributes == ["DUMMY_ATTR"] and ponytail.bullet_points == ["One piece"]
    assert 9.99 <= catalog.prices["B07P6Z6JDV"] <= 15.99
    assert mouse.price_tag == "$12.5"  # WebShop formats the float, not cents
    assert mouse.title == "Wireless Mouse Silent Click  "  # the emoji is outside the Text charset
    # One goal per option combination of the only product with an instruction.
    assert len(catalog.goals) == 4 and {g.asin for g in catalog.goals} == {"B09QQLDJ93"}
    goal = catalog.goals[0]
    assert goal.price_upper in (40.0, 50.0, 60.0) and goal.attributes == ("long clip-in", "natural looking")
    assert re.fullmatch(
        r"i need a long clip-in hair extension which is natural looking with color: [a-z| ]+, and size: \d\d inch, "
        r"and price lower than \d0\.00 dollars",
        goal.instruction_text,
    )
    with pytest.raises(FileNotFoundError, match="not found"):
        load_webshop_catalog("/nonexistent/items.json", tiny_paths[1])


def test_synthetic_catalog_is_deterministic_fast_and_cached():
    catalog = synthetic_catalog(1000, 0)
    assert synthetic_catalog() is catalog and len(catalog.products) == 1000
    assert len({p.asin for p in catalog.products}) == 1000
    assert all(re.fullmatch(r"B0[0-9A-Z]{8}", p.asin) for p in catalog.products)
    assert all(" › " in p.product_category for p in catalog.products)
    assert all(re.fullmatch(r"\$\d+\.\d\d( to \$\d+\.\d\d)?", p.price_tag) for p in catalog.products)
    assert len(catalog.goals) > 1500
    start = time.perf_counter()
    other = synthetic_catalog(1000, 1)
    assert time.perf_counter() - start < 3.0  # ~0.3 s on an idle core; generous for a busy machine
    assert [p.title for p in other.products] != [p.title for p in catalog.products]
    for goal in catalog.goals[:50]:  # price_upper: the larger of two of the next four $10 steps
        price = catalog.prices[goal.asin]
        assert price < goal.price_upper <= price + 40 and goal.price_upper % 10 == 0


def test_search_ranks_by_bm25_and_returns_at_most_50():
    catalog = synthetic_catalog()
    assert tokenize("I need the Running Shoes!") == ["running", "shoe"]
    target = catalog.products[7]
    assert catalog.index.search(target.title)[0] == 7
    results = catalog.index.search("long lasting shampoo")
    assert len(results) == 50
    assert all(
        "shampoo" in catalog.products[i].title.lower() for i in results[:3]
    )  # the rarest term weighs most
    assert catalog.index.search("zzzz qqqq") == []


# -- pages ----------------------------------------------------------------------------------------------
def test_exact_page_texts(tiny_env):
    env = tiny_env
    instruction = env.task
    upper = f"{env._goal.price_upper:.2f}"
    assert instruction == (
        "i need a long clip-in hair extension which is natural looking with color: dark brown | red, "
        f"and size: 22 inch, and price lower than {upper} dollars"
    )
    head = f"Instruction: [SEP] {instruction} [SEP] Back to Search"
    assert env.render() == f"WebShop [SEP] Instruction: [SEP] {instruction} [SEP] Search"

    obs, *_ = env.step("search[Hair Extension]")
    # The shorter ponytail document ranks first (BM25 length normalisation); the mouse shares no term.
    assert obs == (
        f"{head} [SEP] Page 1 (Total results: 2) [SEP] B07P6Z6JDV [SEP] Ponytail Hair Extension Wrap "
        "Around [SEP] $9.99 to $15.99 [SEP] B09QQLDJ93 [SEP] Clip in Hair Extensions 22 inch Long Natural "
        "[SEP] $25.99"
    )
    obs, *_ = env.step("click[b09qqldj93]")
    item_page = (
        f"{head} [SEP] < Prev [SEP] color [SEP] natural black [SEP] dark brown | red [SEP] size [SEP] 18 inch "
        "[SEP] 22 inch [SEP] Clip in Hair Extensions 22 inch Long Natural [SEP] Price: $25.99 [SEP] "
        "Rating: N.A. [SEP] Description [SEP] Features [SEP] Reviews [SEP] Buy Now"
    )
    assert obs == item_page
    _, _, _, _, info = env.step("click[dark brown | red]")
    assert info["page"] == "item" and info["admissible_actions"] == [
        "click[back to search]",
        "click[< prev]",
        "click[description]",
        "click[features]",
        "click[reviews]",
        "click[buy now]",
        "click[natural black]",
        "click[dark brown | red]",
        "click[18 inch]",
        "click[22 inch]",
    ]
    assert env.step("click[description]")[0] == f"{head} [SEP] < Prev [SEP] Soft natural hair."
    assert env.step("click[< prev]")[0] == item_page
    assert env.step("click[features]")[0] == f"{head} [SEP] < Prev [SEP] Clip-in design [SEP] Heat safe"
    env.step("click[< prev]")
    assert env.step("click[reviews]")[0] == f"{head} [SEP] < Prev"
    env.step("click[< prev]")
    obs, reward, terminated, truncated, info = env.step("click[22 inch]")
    obs, reward, terminated, truncated, info = env.step("click[buy now]")
    assert obs == (
        "Thank you for shopping with us! [SEP] Your code: [SEP] (Paste it in your MTurk interface.) [SEP] "
        'Purchased [SEP] asin [SEP] B09QQLDJ93 [SEP] options [SEP] {"color": "dark brown | red", '
        '"size": "22 inch"} [SEP] Your score (min 0.0, max 1.0) [SEP] 1.0'
    )
    assert (reward, terminated, truncated, info["won"], info["score"], info["page"]) == (
        10.0,
        True,
        False,
        True,
        1.0,
        "done",
    )
    assert info["admissible_actions"] == []


def test_result_paging_and_prev_next():
    env = WebShopEnv(split="test")
    env.reset(seed=3)
    obs, _, _, _, info = env.step("search[long lasting shampoo]")
    assert " [SEP] Page 1 (Total results: 50) [SEP] Next > [SEP] B0" in obs and "< Prev" not in obs
    assert info["admissible_actions"][:2] == ["click[back to search]", "click[next >]"]
    assert len(info["admissible_actions"]) == 12 and info["page"] == "results"
    obs, *_ = env.step("click[next >]")
    assert " [SEP] Page 2 (Total results: 50) [SEP] < Prev [SEP] Next > [SEP] B0" in obs
    for _ in range(3):
        obs, *_ = env.step("click[next >]")
    assert " [SEP] Page 5 (Total results: 50) [SEP] < Prev [SEP] B0" in obs and "Next >" not in obs
    assert env.step("click[next >]")[0] == obs  # no page 6
    obs, *_ = env.step("click[< prev]")
    assert "Page 4 (Total results: 50)" in obs
    item, *_ = env.step(f"click[{env._page_asins()[0].lower()}]")
    assert "Page 4" in env.step("click[< prev]")[0]  # item '< Prev' returns to the same results page
    obs, _, _, _, info = env.step("click[back to search]")
    assert obs.startswith("WebShop [SEP] Instruction: [SEP] ") and info["admissible_actions"] == [
        SEARCH_PLACEHOLDER
    ]


def test_reviews_sub_page_lists_title_score_body():
    env = WebShopEnv(split="test")
    index = next(i for i, g in enumerate(env.goals) if len(env.catalog.by_asin[g.asin].reviews) == 2)
    env.reset(options={"goal_index": index})
    while env._page != "item":
        env.step(env.expert_action())
    obs, _, _, _, info = env.step("click[reviews]")
    first, second = env.catalog.by_asin[env._goal.asin].reviews
    assert obs.endswith(
        f'[SEP] Back to Search [SEP] < Prev [SEP] "{first["title"]}" [SEP] {first["score"]} [SEP] '
        f'{first["body"]} [SEP] "{second["title"]}" [SEP] {second["score"]} [SEP] {second["body"]}'
    )
    assert info["page"] == "sub" and info["admissible_actions"] == ["click[back to search]", "click[< prev]"]


# -- actions ----------------------------------------------------------------------------------------------
def test_parse_action_matches_webshop_regex():
    pattern = re.compile(r"(.+)\[(.+)\]")
    rng = random.Random(0)
    samples = [
        "search[a b]",
        "click[x]",
        "click[]",
        "search[",
        "[x]",
        "click[a[b]]",
        "a]b[c]d",
        "search[x] tail",
        "click[[]]",
        "][",
        "x[[y]",
        "x[y]]",
    ]
    samples += ["".join(rng.choice("ab[] ") for _ in range(rng.randint(0, 9))) for _ in range(3000)]
    for text in samples:
        match = pattern.match(text)
        assert parse_action(text) == (match.groups() if match else (text, None)), text


@pytest.mark.parametrize(
    "action",
    [
        "",
        " ",
        "search[",
        "click[",
        "click[]",
        "search[]",
        "click[nonexistent]",
        "click[buy now]",
        "CLICK[back to search]",
        "buy",
        "\x00" * 50,
        "a" * 100_000,
        "[" * 50_000 + "]" * 50_000,
        "search[шампунь ☃ \U0001f600]"[:-3] + "]",
        None,
        42,
    ],
)
def test_bad_actions_are_noops_and_never_raise(action):
    env = WebShopEnv(split="test")
    env.reset(seed=1)
    env.step("search[long lasting shampoo]")
    before = env.render()
    obs, reward, terminated, truncated, info = env.step(action)
    assert (obs, reward, terminated, truncated) == (before, 0.0, False, False)
    assert info["page"] == "results"


def test_search_only_where_there_is_a_search_bar_and_unicode_search_works():
    env = WebShopEnv(split="test")
    obs, _ = env.reset(seed=2)
    assert env.step("click[search]")[0] == obs  # the Search button is not a click target
    obs, *_ = env.step("search[шампунь ☃]")
    assert "Total results: 0" in obs
    assert env.step("search[long lasting shampoo]")[0] == obs  # results page: no search bar


# -- reward --------------------------------------------------------------------------------------------
def _product(**changes) -> Product:
    fields = dict(
        asin="B000000001",
        title="Clip in Hair Extensions Long",
        category="beauty",
        query="hair extensions",
        product_category="Beauty › Hair Care › Extensions",
        description="Soft hair.",
        bullet_points=["Clip-in"],
        attributes=["natural-looking", "long lasting"],
        options={"color": ["dark brown", "blonde"], "size": ["18 inch", "22 inch"]},
        pricing=[25.99],
        price_tag="$25.99",
    )
    return Product(**{**fields, **changes})


GOAL = Goal(
    asin="B000000001",
    instruction_text="...",
    attributes=("natural looking", "long lasting"),
    goal_options={"color": "dark brown", "size": "22 inch"},
    price_upper=40.0,
    query="hair extensions",
    category="beauty",
    product_category="Beauty › Hair Care › Extensions",
    name="Clip in Hair Extensions Long",
)
RIGHT = {"color": "dark brown", "size": "22 inch"}


@pytest.mark.parametrize(
    ("product", "price", "options", "expected"),
    [
        (_product(), 25.99, RIGHT, 1.0),
        (_product(), 25.99, {"color": "dark brown", "size": "18 inch"}, 4 / 5),  # size must match exactly
        (_product(), 25.99, {"color": "dark brown"}, 4 / 5),  # an option not chosen
        (_product(), 45.0, RIGHT, 4 / 5),  # over price_upper
        (_product(), 40.0, RIGHT, 1.0),  # price_upper is inclusive
        (_product(attributes=["natural looking"]), 45.0, RIGHT, 3 / 5),
        (
            _product(attributes=["silky"], description="Long lasting soft hair."),
            25.99,
            RIGHT,
            4 / 5,
        ),  # text fallback
        (
            _product(),
            25.99,
            {"color": "light brown", "size": "22 inch"},
            1.0,
        ),  # normalize_color: both 'brown'
        (_product(), 25.99, {"color": "blonde", "size": "22 inch"}, 4 / 5),
        # Only the price matches; a shared title noun (1/3 > 0.2) alone keeps r_type at 1.
        (
            _product(
                query="wigs", product_category="Beauty › Wigs", title="Hair Dryer Pro", attributes=["silky"]
            ),
            25.99,
            {"color": "blonde"},
            1 / 5,
        ),
        (
            _product(query="mouse", product_category="Electronics › Mice", title="Wireless Mouse"),
            25.99,
            RIGHT,
            0.0,
        ),
    ],
)
def test_reward_matches_hand_computed_cases(product, price, options, expected):
    assert get_reward(product, GOAL, price, options).score == pytest.approx(expected)


def test_type_reward_cases():
    assert noun_tokens("Clip in Hair Extensions Long") == ["clip", "hair", "extensions"]
    other = dict(query="other", product_category="Other › Thing")
    # (r_type, query_match, category_match, title_score)
    assert type_reward(_product(), GOAL) == (1.0, True, True, 1.0)
    assert type_reward(_product(**other, title="Hair Clip"), GOAL)[::3] == (1.0, 2 / 3)  # title_score > 0.2
    assert type_reward(_product(query="other", title="Mouse"), GOAL)[:3] == (
        0.0,
        False,
        True,
    )  # no shared noun
    five = GOAL.__class__(**{**GOAL.__dict__, "name": "Clip Hair Extension Wig Set"})
    assert type_reward(_product(**other, title="Hair Dryer"), five)[::3] == (0.5, 0.2)  # 0.2 is not > 0.2
    eleven = GOAL.__class__(
        **{**GOAL.__dict__, "name": "alpha beta gamma delta epsilon zeta theta iota kappa lamp hair"}
    )
    assert type_reward(_product(**other, title="Hair Dryer"), eleven)[::3] == (0.1, pytest.approx(1 / 11))
    nameless = GOAL.__class__(**{**GOAL.__dict__, "name": "the long and natural"})
    assert type_reward(_product(**other, title="Mouse"), nameless)[::3] == (
        0.5,
        0.2,
    )  # no nouns: title_score 0.2


def test_success_reward_mode_pays_only_wins():
    env = WebShopEnv(split="test", reward="success", reward_scale=1.0)
    env.reset(seed=0)
    env.step(env.expert_action())
    obs, _, _, _, info = env.step(f"click[{env._results[0].lower()}]")
    if env._asin == env._goal.asin:  # make sure we buy a different product
        obs, *_ = env.step("click[< prev]")
        env.step(f"click[{env._results[1].lower()}]")
    _, reward, terminated, _, info = env.step("click[buy now]")
    assert terminated and info["score"] < 1.0 and reward == 0.0 and not info["won"]


# -- episodes, splits, expert --------------------------------------------------------------------------
def test_check_env_and_gymnasium_make():
    env = envs.make("webshop")
    check_env(env.unwrapped)
    wrapped = gym.make("layerverl/WebShop-v0", split="eval")
    obs, info = wrapped.reset(seed=0)
    assert obs.startswith("WebShop [SEP] Instruction: [SEP] ") and info["page"] == "search"
    assert {"admissible_actions", "anchor", "won", "task", "instruction", "score", "page"} <= set(info)


def test_splits_seeding_and_errors():
    test, eval_, train = (WebShopEnv(split=s) for s in ("test", "eval", "train"))
    assert (len(test.goals), len(eval_.goals)) == (500, 1000) and len(train.goals) > 0
    assert test.goals[0] is synthetic_catalog().goals[0] and eval_.goals[0] is synthetic_catalog().goals[500]
    assert [test.reset(seed=5)[0] for _ in range(2)] == [WebShopEnv(split="test").reset(seed=5)[0]] * 2
    assert len({test.reset(seed=s)[1]["task"] for s in range(20)}) > 10
    assert test.reset(options={"goal_index": 7})[1]["task"] == test.goals[7].instruction_text
    with pytest.raises(ValueError, match="goal_index"):
        test.reset(options={"goal_index": 500})
    with pytest.raises(ValueError, match="split must be one of"):
        WebShopEnv(split="valid")
    with pytest.raises(ValueError, match="reward must be one of"):
        WebShopEnv(reward="dense")
    with pytest.raises(ValueError, match="is empty"):
        WebShopEnv(split="train", num_products=20)


def test_anchor_drops_the_instruction_so_equal_pages_group():
    env = WebShopEnv(split="test")
    _, first = env.reset(seed=0)
    _, second = env.reset(seed=1)
    assert first["task"] != second["task"]
    assert first["anchor"] == second["anchor"] == "WebShop [SEP] Instruction: [SEP] Search"
    _, _, _, _, info = env.step("search[long lasting shampoo]")
    assert (
        info["anchor"].startswith("Instruction: [SEP] Back to Search [SEP] Page 1")
        and info["task"] not in info["anchor"]
    )


def test_truncation_at_15_steps():
    env = envs.make("webshop", split="test")
    env.reset(seed=0)
    results = [env.step("click[nothing]") for _ in range(15)]
    assert not any(r[3] for r in results[:14]) and results[14][3] and not results[14][2]


def test_expert_solves_test_goals_and_random_agent_does_not():
    env = WebShopEnv(split="test")
    expert_runs = [play(env, expert, seed) for seed in range(200)]
    scores = np.array([r[0] for r in expert_runs])
    assert scores.mean() >= 0.95 and np.mean([r[1] for r in expert_runs]) >= 0.90
    assert max(r[2] for r in expert_runs) <= 12
    random_agent = make_random_agent(0)
    random_runs = [play(env, random_agent, seed) for seed in range(200)]
    assert np.mean([r[0] for r in random_runs]) < 0.5 * scores.mean()
    assert np.mean([r[1] for r in random_runs]) < 0.2


def test_shopper_acts_only_on_what_the_prompt_shows():
    """`search_action` searches the task's sentence, opens the first listed result, clicks the task's options
    that the item offers, and buys: what a memoryless policy sees in the task and clickables decides it."""
    env = WebShopEnv(split="test")
    scores = []
    for index in range(100):
        _, info = env.reset(options={"goal_index": index})
        actions = [env.search_action()]
        assert info["task"].startswith(actions[0][len("search[") : -1])
        _, _, _, _, info = env.step(actions[0])
        first_result = next(a for a in info["admissible_actions"] if a.startswith("click[b0"))
        while info["page"] != "done":
            action = env.search_action()
            assert action in info["admissible_actions"]
            actions.append(action)
            _, _, _, _, info = env.step(action)
        options = [f"click[{v}]" for v in env._goal.goal_options.values()]
        assert actions[1] == first_result and actions[-1] == "click[buy now]"
        assert set(actions[2:-1]) <= set(options)
        assert all(f": {a[len('click[') : -1]}" in info["task"] for a in actions[2:-1])
        scores.append(info["score"])
    assert env.search_action() == "" and 0.3 < np.mean([s == 1.0 for s in scores]) < 0.8


def test_shopper_steps_back_from_detours():
    env = WebShopEnv(split="test")
    env.reset(options={"goal_index": 0})
    env.step(env.search_action())
    env.step("click[next >]")
    assert env.search_action() == "click[< prev]"
    env.step(env.search_action())
    env.step(env.search_action())
    env.step("click[features]")
    assert env.search_action() == "click[< prev]"
