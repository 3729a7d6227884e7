"""BM25 search over catalog products, standing in for WebShop's Lucene (pyserini) index; no Java.

Documents are what WebShop indexes (title, description, first bullet point, option text) plus the product's
attributes. Scoring is Lucene's BM25 (k1=0.9, b=0.4, pyserini's defaults); ties break by catalog order so
results are deterministic. The index is a precomputed term -> (doc ids, weights) table, so one query is a
numpy bincount over the postings of its terms.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from envs.webshop.catalog import Product

SEARCH_RETURN_N = 50  # WebShop's SEARCH_RETURN_N
BM25_K1 = 0.9
BM25_B = 0.4
# Lucene's English stopword set (EnglishAnalyzer.ENGLISH_STOP_WORDS_SET) plus first-person filler.
STOPWORDS = frozenset(
    {
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "for",
        "if",
        "in",
        "into",
        "is",
        "it",
        "no",
        "not",
        "of",
        "on",
        "or",
        "such",
        "that",
        "the",
        "their",
        "then",
        "there",
        "these",
        "they",
        "this",
        "to",
        "was",
        "will",
        "with",
        "i",
        "me",
        "my",
        "we",
        "need",
        "want",
        "would",
        "like",
        "looking",
        "am",
        "find",
    }
)
_TOKEN = re.compile(r"[a-z0-9]+")


def tokenize(text: str) -> list[str]:
    """Lowercased alphanumeric tokens without stopwords, with a light plural strip ('shoes' -> 'shoe')."""
    tokens = []
    for token in _TOKEN.findall(text.lower()):
        if token in STOPWORDS:
            continue
        if len(token) > 3 and token.endswith("s") and not token.endswith("ss"):
            token = token[:-1]
        tokens.append(token)
    return tokens


def document_text(product: Product) -> str:
    """The searchable text of one product, as WebShop's convert_product_file_format builds it (+ attributes)."""
    option_text = ", and ".join(f"{name}: {', '.join(values)}" for name, values in product.options.items())
    first_bullet = product.bullet_points[0] if product.bullet_points else ""
    return " ".join(
        [product.title, product.description, first_bullet, option_text, " ".join(product.attributes)]
    )


class SearchIndex:
    """A BM25 inverted index over a list of products; `search` returns product positions, best first."""

    def __init__(self, postings: dict[str, tuple[np.ndarray, np.ndarray]], num_docs: int):
        self._postings = postings
        self._num_docs = num_docs

    @classmethod
    def build(cls, products: list[Product]) -> SearchIndex:
        """Tokenize every product once and precompute each (term, doc) BM25 weight."""
        doc_terms = [Counter(tokenize(document_text(p))) for p in products]
        lengths = [sum(c.values()) for c in doc_terms]
        average_length = max(sum(lengths) / max(len(lengths), 1), 1e-9)
        by_term: dict[str, list[tuple[int, int]]] = {}
        for doc, counts in enumerate(doc_terms):
            for term, tf in counts.items():
                by_term.setdefault(term, []).append((doc, tf))
        n = len(products)
        postings = {}
        for term, entries in by_term.items():
            idf = math.log(1 + (n - len(entries) + 0.5) / (len(entries) + 0.5))
            docs = np.fromiter((d for d, _ in entries), dtype=np.int64, count=len(entries))
            weights = np.fromiter(
                (
                    idf * tf / (tf + BM25_K1 * (1 - BM25_B + BM25_B * lengths[d] / average_length))
                    for d, tf in entries
                ),
                dtype=np.float64,
                count=len(entries),
            )
            postings[term] = (docs, weights)
        return cls(postings, n)

    def search(self, query: str, k: int = SEARCH_RETURN_N) -> list[int]:
        """Positions of the top-`k` products that share at least one term with `query`."""
        hits = [self._postings[t] for t in tokenize(query) if t in self._postings]
        if not hits:
            return []
        docs = np.concatenate([h[0] for h in hits])
        scores = np.bincount(docs, weights=np.concatenate([h[1] for h in hits]), minlength=self._num_docs)
        matched = np.unique(docs)
        # Sort matched docs by score descending, then by position, for a stable deterministic order.
        order = np.lexsort((matched, -scores[matched]))[:k]
        return matched[order].tolist()
