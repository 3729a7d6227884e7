"""The WebShop family: shopping in WebShop's text observation mode, one folder read as one unit.

env.py      WebShopEnv: the Gymnasium env (its docstring is the manual) and its page rules
catalog.py  products and goals: a deterministic synthetic catalog, or a real WebShop file
search.py   BM25 search standing in for WebShop's Lucene index
reward.py   WebShop's purchase reward
"""

from envs.webshop.env import WebShopEnv

__all__ = ["WebShopEnv"]
