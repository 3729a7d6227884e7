"""Products and goals for the WebShop-style env: a deterministic synthetic catalog, or a real WebShop file.

The records mirror what WebShop's `load_products` and `get_synthetic_goals` build (Title, Description,
BulletPoints, Attributes, options, pricing, Price tag; goals with attributes, goal options and a price upper
bound), so the reward and page code treat both sources alike. Catalogs are cached per process.
"""

from __future__ import annotations

import functools
import itertools
import json
import random
import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from envs.base import TEXT_CHARSET
from envs.webshop.search import SearchIndex

CATEGORY_SEPARATOR = " › "
PRICE_STEPS = [10.0 * i for i in range(1, 100)]  # goal.py's PRICE_RANGE
GOAL_SHUFFLE_SEED = 233  # WebShop shuffles its goal list with random.seed(233)
DEFAULT_NUM_PRODUCTS = 1000  # WebShop's small setting (items_shuffle_1000.json)
_ALLOWED_CHARS = frozenset(TEXT_CHARSET)


@dataclass
class Product:
    """One catalog item, with WebShop's field names in snake case."""

    asin: str
    title: str
    category: str
    query: str
    product_category: str
    description: str
    bullet_points: list[str]
    attributes: list[str]
    options: dict[str, list[str]]
    pricing: list[float]
    price_tag: str
    reviews: list[dict] = field(default_factory=list)
    rating: str = "N.A."
    instruction: str | None = None
    instruction_attributes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Goal:
    """One shopping task: the target product and what the instruction asks of it."""

    asin: str
    instruction_text: str
    attributes: tuple[str, ...]
    goal_options: dict[str, str]
    price_upper: float
    query: str
    category: str
    product_category: str
    name: str


@dataclass
class Catalog:
    """Products, their sampled prices, the shuffled goal list and the search index over the products."""

    products: list[Product]
    prices: dict[str, float]
    goals: list[Goal]
    index: SearchIndex
    by_asin: dict[str, Product] = field(init=False)

    def __post_init__(self) -> None:
        self.by_asin = {p.asin: p for p in self.products}


# -- synthetic vocabulary: category -> (price range, subcategories, attributes, option pools) -----------
_COLORS = ["black", "white", "navy blue", "grey", "red", "pink", "beige", "olive green", "brown", "silver"]
_SIZES = ["small", "medium", "large", "x-large", "xx-large"]
_VOCAB: dict[str, dict] = {
    "beauty": {
        "price": (4.0, 60.0),
        "paths": {
            "Beauty & Personal Care › Hair Care › Shampoo & Conditioner › Shampoos": [
                "shampoo",
                "conditioner",
                "hair mask",
            ],
            "Beauty & Personal Care › Skin Care › Face › Creams & Moisturizers": [
                "face moisturizer",
                "night cream",
                "eye cream",
            ],
            "Beauty & Personal Care › Hair Care › Hair Extensions, Wigs & Accessories › Extensions": [
                "hair extension",
                "lace wig",
                "ponytail extension",
            ],
            "Beauty & Personal Care › Oral Care › Toothpaste": ["toothpaste", "mouthwash"],
        },
        "attributes": [
            "paraben free",
            "long lasting",
            "natural ingredients",
            "cruelty free",
            "sulfate free",
            "easy to use",
            "travel size",
            "dermatologist tested",
            "natural looking",
            "fragrance free",
        ],
        "options": {
            "scent": ["lavender", "coconut", "tea tree", "unscented", "vanilla"],
            "size": ["2 fl oz (pack of 1)", "8 fl oz (pack of 1)", "16 fl oz (pack of 2)", "33.8 fl oz"],
            "color": ["natural black", "dark brown", "blonde", "burgundy", "ash grey"],
        },
    },
    "electronics": {
        "price": (8.0, 250.0),
        "paths": {
            "Electronics › Headphones, Earbuds & Accessories › Headphones › Earbud Headphones": [
                "wireless earbuds",
                "bluetooth headphones",
            ],
            "Electronics › Computers & Accessories › Keyboards, Mice & Accessories": [
                "wireless mouse",
                "mechanical keyboard",
            ],
            "Electronics › Cell Phones & Accessories › Cases, Holsters & Sleeves": [
                "phone case",
                "screen protector",
            ],
            "Electronics › Television & Video › Accessories › Cables": ["hdmi cable", "usb charging cable"],
        },
        "attributes": [
            "fast charging",
            "noise cancelling",
            "water resistant",
            "high definition",
            "easy install",
            "long battery life",
            "heavy duty",
            "plug and play",
            "light weight",
            "high speed",
        ],
        "options": {
            "color": _COLORS[:6] + ["rose gold"],
            "size": ["3 ft", "6 ft", "10 ft", "15 ft"],
            "style": ["standard", "pro", "2-pack", "bundle with charger"],
        },
    },
    "fashion": {
        "price": (9.0, 90.0),
        "paths": {
            "Clothing, Shoes & Jewelry › Men › Clothing › Shirts › T-Shirts": [
                "t-shirt",
                "polo shirt",
                "button down shirt",
            ],
            "Clothing, Shoes & Jewelry › Women › Shoes › Athletic › Running": [
                "running shoe",
                "walking sneaker",
            ],
            "Clothing, Shoes & Jewelry › Women › Clothing › Dresses": [
                "maxi dress",
                "cocktail dress",
                "sundress",
            ],
            "Clothing, Shoes & Jewelry › Men › Clothing › Pants": [
                "jogger pants",
                "cargo shorts",
                "chino pants",
            ],
        },
        "attributes": [
            "machine wash",
            "slim fit",
            "long sleeve",
            "short sleeve",
            "relaxed fit",
            "rubber sole",
            "button closure",
            "moisture wicking",
            "quick drying",
            "elastic waistband",
        ],
        "options": {"color": _COLORS, "size": _SIZES, "fit type": ["regular", "big & tall", "slim"]},
    },
    "food": {
        "price": (3.0, 45.0),
        "paths": {
            "Grocery & Gourmet Food › Snacks & Sweets › Chips & Crisps": [
                "potato chips",
                "tortilla chips",
                "veggie crisps",
            ],
            "Grocery & Gourmet Food › Beverages › Coffee, Tea & Cocoa › Tea": [
                "green tea",
                "herbal tea",
                "chai tea",
            ],
            "Grocery & Gourmet Food › Snack Foods › Jerky & Dried Meats": ["beef jerky", "turkey jerky"],
            "Grocery & Gourmet Food › Pantry Staples › Herbs, Spices & Seasonings": [
                "seasoning blend",
                "sea salt",
            ],
        },
        "attributes": [
            "gluten free",
            "non gmo",
            "sugar free",
            "low carb",
            "keto friendly",
            "high protein",
            "usda organic",
            "natural flavors",
            "individually wrapped",
            "plant based",
        ],
        "options": {
            "flavor name": ["original", "sea salt", "barbecue", "spicy", "honey", "lemon"],
            "size": ["4 ounce (pack of 6)", "12 count (pack of 1)", "1 pound", "24 count"],
        },
    },
    "furniture": {
        "price": (35.0, 480.0),
        "paths": {
            "Home & Kitchen › Furniture › Living Room Furniture › Sofas & Couches": [
                "sofa",
                "loveseat",
                "futon",
            ],
            "Home & Kitchen › Furniture › Bedroom Furniture › Nightstands": ["nightstand", "dresser"],
            "Home & Kitchen › Furniture › Home Office Furniture › Home Office Chairs": [
                "office chair",
                "gaming chair",
            ],
            "Home & Kitchen › Furniture › Kitchen & Dining Room Furniture › Tables": [
                "dining table",
                "coffee table",
            ],
        },
        "attributes": [
            "easy assembly",
            "solid wood",
            "living room",
            "storage space",
            "wood finish",
            "metal legs",
            "mid century",
            "space saving",
            "height adjustable",
            "lumbar support",
        ],
        "options": {
            "color": _COLORS,
            "size": ["small", "large", "2 drawers", "3 drawers"],
            "style": ["modern", "farmhouse", "industrial", "classic"],
        },
    },
}
_BRANDS = [
    "Lumora",
    "Brightwell",
    "Oakridge",
    "Novaline",
    "Terrabloom",
    "Kestrel",
    "Vantora",
    "Pinecrest",
    "Solenne",
    "Harbor & Hale",
    "Zentrix",
    "Mapleton",
    "Auroria",
    "Quillby",
    "Everlane Home",
    "Corvina",
    "Nimbus",
    "Saltmarsh",
    "Veloce",
    "Willowmere",
]
_INSTRUCTION_TEMPLATES = [
    "i need {article} {a0} {kind}",
    "i am looking for {article2} {kind} that is {a0}",
    "i want {article2} {kind} which is {a0} and {a1}",
    "find me {article} {a0} {kind} that is {a1}",
    "i would like {article2} {kind} that is {a0}",
]
_REVIEW_TEMPLATES = [
    ("Great {kind}", 5, "Exactly as described, {a0}. Would buy again."),
    ("Good value", 4, "Nice {kind} for the price."),
    ("Not bad", 3, "It works, but shipping took a while."),
]


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def _price_text(price: float) -> str:
    """WebShop's price tag format: '$' + Python's float repr (our generated prices have 2 nonzero decimals)."""
    return f"${price}"


def _synthetic_product(rng: random.Random, asin: str) -> Product:
    """Draw one product: category, type, brand, attributes, options, price, texts."""
    category = rng.choice(sorted(_VOCAB))
    vocab = _VOCAB[category]
    product_category = rng.choice(sorted(vocab["paths"]))
    kind = rng.choice(vocab["paths"][product_category])
    attributes = rng.sample(vocab["attributes"], rng.randint(2, 4))
    option_names = rng.sample(sorted(vocab["options"]), rng.choice([1, 1, 2, 2, 2]))
    options = {
        name: rng.sample(pool, min(len(pool), rng.randint(2, 4)))
        for name in option_names
        for pool in [vocab["options"][name]]
    }
    low, high = vocab["price"]
    first = round(round(rng.uniform(low, high)) + 0.99, 2)
    pricing = (
        [first] if rng.random() < 0.75 else [first, round(first + round(rng.uniform(2, 0.5 * high)) + 0.5, 2)]
    )
    brand = rng.choice(_BRANDS)
    title = f"{brand} {kind.title()}, {attributes[0].title()}, {attributes[1].title()}"
    fill = {"kind": kind, "a0": attributes[0], "a1": attributes[1]}
    template = rng.choice(_INSTRUCTION_TEMPLATES)
    instruction = template.format(article=_article(attributes[0]), article2=_article(kind), **fill)
    instruction_attributes = attributes[:2] if "{a1}" in template else attributes[:1]
    reviews = [
        {"title": t.format(**fill), "score": s, "body": b.format(**fill)}
        for t, s, b in rng.sample(_REVIEW_TEMPLATES, rng.randint(0, 2))
    ]
    return Product(
        asin=asin,
        title=title,
        category=category,
        query=kind,
        product_category=product_category,
        description=f"{title}. This {kind} from {brand} is {' and '.join(attributes)}. "
        f"Backed by our satisfaction promise.",
        bullet_points=[f"{a.upper()}: designed to be {a}." for a in attributes],
        attributes=attributes,
        options=options,
        pricing=pricing,
        price_tag=" to ".join(_price_text(p) for p in pricing),
        reviews=reviews,
        instruction=instruction,
        instruction_attributes=instruction_attributes,
    )


def _random_asin(rng: random.Random) -> str:
    return "B0" + "".join(rng.choice("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(8))


def _sample_prices(products: list[Product], rng: random.Random) -> dict[str, float]:
    """WebShop's generate_product_prices: one price per product, uniform inside a price range."""
    prices = {}
    for product in products:
        pricing = product.pricing
        prices[product.asin] = (
            100.0 if not pricing else pricing[0] if len(pricing) == 1 else rng.uniform(*pricing[:2])
        )
    return prices


def build_goals(products: list[Product], prices: dict[str, float], seed: int = 0) -> list[Goal]:
    """WebShop's synthetic goals: one per option combination of each product with an instruction, shuffled.

    `price_upper` is the larger of two draws from the next four multiples of $10 above the price, as goal.py.
    """
    rng = random.Random(seed)
    goals = []
    for product in products:
        if not product.instruction or not product.instruction_attributes:
            continue
        steps_above = [p for p in PRICE_STEPS if p > prices[product.asin]][:4]
        if len(steps_above) >= 2:
            price_upper = max(rng.sample(steps_above, 2))
            price_text = f", and price lower than {price_upper:.2f} dollars"
        else:
            price_upper, price_text = 1000000.0, ""
        option_names = sorted(product.options)
        for combination in itertools.product(*(product.options[name] for name in option_names)):
            goal_options = dict(zip(option_names, combination, strict=True))
            option_text = ", and ".join(f"{k}: {v}" for k, v in goal_options.items())
            option_text = f" with {option_text}" if option_text else ""
            goals.append(
                Goal(
                    asin=product.asin,
                    instruction_text=f"{product.instruction}{option_text}{price_text}",
                    attributes=tuple(product.instruction_attributes),
                    goal_options=goal_options,
                    price_upper=price_upper,
                    query=product.query,
                    category=product.category,
                    product_category=product.product_category,
                    name=product.title,
                )
            )
    random.Random(GOAL_SHUFFLE_SEED).shuffle(goals)
    return goals


def _finish(products: list[Product], seed: int) -> Catalog:
    """Sample prices, build goals and the search index."""
    prices = _sample_prices(products, random.Random(seed))
    return Catalog(products, prices, build_goals(products, prices, seed), SearchIndex.build(products))


def synthetic_catalog(num_products: int = DEFAULT_NUM_PRODUCTS, seed: int = 0) -> Catalog:
    """A deterministic synthetic catalog of `num_products` items (cached per process)."""
    if not isinstance(num_products, int) or isinstance(num_products, bool) or num_products < 1:
        raise ValueError(f"num_products must be a positive int, got {num_products!r}")
    return _cached_synthetic_catalog(num_products, seed)


@functools.lru_cache(maxsize=8)
def _cached_synthetic_catalog(num_products: int, seed: int) -> Catalog:
    """The generator behind `synthetic_catalog`; positional arguments keep the cache keys canonical."""
    rng = random.Random(f"webshop-catalog-{seed}")
    asins: set[str] = set()
    products = []
    while len(products) < num_products:
        asin = _random_asin(rng)
        if asin not in asins:
            asins.add(asin)
            products.append(_synthetic_product(rng, asin))
    return _finish(products, seed)


# -- real WebShop data ----------------------------------------------------------------------------------
def _clean(text: object) -> str:
    """Text that fits the observation charset: characters outside it (emoji, controls) become spaces."""
    text = "" if text is None else str(text)
    return "".join(c if c in _ALLOWED_CHARS else " " for c in text)


def _parse_pricing(pricing: object) -> tuple[list[float], str]:
    """WebShop's pricing parse: '$a' or '$a - $b' -> floats and the Price tag; missing -> $100.0."""
    if not pricing or not isinstance(pricing, str):
        return [100.0], "$100.0"
    values = []
    for part in pricing.split("$")[1:]:
        digits = re.sub(r"[^\d.]", "", part)
        try:
            values.append(float(Decimal(digits)))
        except ArithmeticError:
            continue
    if not values:
        return [100.0], "$100.0"
    if len(values) == 1:
        return values, f"${values[0]}"
    return values[:2], f"${values[0]} to ${values[1]}"


def _product_from_item(item: dict, attrs: dict) -> Product:
    """One `items_shuffle` record (+ its `items_ins_v2` entry) -> Product, as engine.load_products does."""
    asin = item["asin"]
    options: dict[str, list[str]] = {}
    for name, contents in (item.get("customization_options") or {}).items():
        if contents is None:
            continue
        options[_clean(name).lower()] = [
            _clean(c["value"]).strip().replace("/", " | ").lower() for c in contents
        ]
    bullets = item.get("small_description") or []
    bullets = bullets if isinstance(bullets, list) else [bullets]
    pricing, price_tag = _parse_pricing(item.get("pricing"))
    entry = attrs.get(asin) or {}
    return Product(
        asin=asin,
        title=_clean(item.get("name")),
        category=_clean(item.get("category")),
        query=_clean(item.get("query")).lower().strip(),
        product_category=_clean(item.get("product_category")),
        description=_clean(item.get("full_description")),
        bullet_points=[_clean(b) for b in bullets],
        attributes=[_clean(a) for a in entry.get("attributes", ["DUMMY_ATTR"])],
        options=options,
        pricing=pricing,
        price_tag=price_tag,
        instruction=_clean(entry["instruction"]) if entry.get("instruction") else None,
        instruction_attributes=[_clean(a) for a in entry.get("instruction_attributes") or []],
    )


@functools.lru_cache(maxsize=4)
def load_webshop_catalog(
    items_path: str, attributes_path: str, num_products: int | None = None, seed: int = 0
) -> Catalog:
    """Load WebShop's `items_shuffle*.json` and `items_ins_v2*.json` (cached per process).

    Like WebShop: the first `num_products` items, ASINs 'nan' or longer than 10 skipped, duplicates dropped,
    attributes default to ['DUMMY_ATTR'], synthetic goals from each item's `instruction`.
    """
    for path in (items_path, attributes_path):
        if not Path(path).is_file():
            raise FileNotFoundError(f"WebShop data file not found: {path}")
    items = json.loads(Path(items_path).read_text(encoding="utf-8"))
    attrs = json.loads(Path(attributes_path).read_text(encoding="utf-8"))
    if num_products is not None:
        items = items[:num_products]
    seen: set[str] = set()
    products = []
    for item in items:
        asin = item.get("asin")
        if not isinstance(asin, str) or asin == "nan" or len(asin) > 10 or asin in seen:
            continue
        seen.add(asin)
        products.append(_product_from_item(item, attrs))
    if not products:
        raise ValueError(f"no usable products in {items_path}")
    return _finish(products, seed)
