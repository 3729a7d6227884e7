"""Warm start of the tiny policy: expert demonstrations -> word-level tokenizer -> partial supervised training.

Deliberately partial (`sft_steps`), so the policy is weak but not hopeless and RL has room. The demos
come from the env's searcher (`expert="search"`): it finds the goal object by looking, so every label
follows from what the prompt shows and a memoryless policy can learn it exactly; the planner
(`expert="planner"`) goes straight to where the object hides, which a policy that cannot see it can only
guess (with that expert, 1200 SFT steps gave 20% and RL did not lift it). The result is a normal Hugging
Face checkpoint plus `warm_start.json` (config, demos, steps, loss, seconds, validation success with its
Wilson interval). Built checkpoints are cached under `$LAYERVERL_CACHE` (default ~/.cache/layerverl/)
keyed by the config; the default one ships in agents/checkpoints/tiny-alfworld and is regenerated with

    python -m agents.warm_start --out agents/checkpoints/tiny-alfworld --threads 2 [--device cuda]

Measured cost of the default (3000 demo episodes, 1500 SFT steps of 32, 1.65M params): 22.5 min of SFT
on this 2-core CPU at 2 threads (shared at times with evaluations), plus about 2 min of demos and
evaluation; the shipped checkpoint is that run (25.4% greedy, 30.6% sampled on valid_unseen). Greedy
success along the way (`--snapshots`): 0% at 400 steps, 3% at 800, 8% at 900, 14% at 1100, 25% at 1200,
14% at 1300: the constant rate makes it noisy, and the copy-from-context plateau ends near step 800.

WebShop (`--env webshop`, the `WEBSHOP` preset: the env's shopper with detours, 5,000 demo episodes = 25,175
demo steps, its own tokenizer of 1,346 words, 1.75M params with tied embeddings; prompts of the task, its last 4
actions and the clickables, about 115 tokens) ships in agents/checkpoints/tiny-webshop, env=webshop's default:

    python -m agents.warm_start --env webshop --out agents/checkpoints/tiny-webshop --threads 2

5,000 SFT steps of 16 take about 33 min at 2 threads on this 2-core CPU; greedy success on 200 eval goals is
7.5% at 4,000 steps, 7.0% (score 0.45) at 5,000 (shipped). With 1,500 demo episodes the same run reached only
1-3% by 5,000 steps: the policy memorises its demos, and the copy of an item id or an option from the prompt is
what generalises slowly (docs/results/README.md).

TowerOfHanoi (`--env textarena`, the `HANOI` preset: the optimal solver with detours, 400 episodes = 4,011 demo
steps, 82 words, 1.60M params) ships in agents/checkpoints/tiny-hanoi, env=textarena's default model:

    python -m agents.warm_start --env textarena --out agents/checkpoints/tiny-hanoi --threads 1

3.2 min of SFT at 1 thread. The game has one start position, so greedy play is one fixed game (solved at 200
steps and beyond); sampled at temperature 1 on 100 seeds it solves 1% at 100 steps, 25% at 200 (shipped), 92% at
300.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm
from transformers import PreTrainedTokenizerBase

import envs
from agents.backends import HFBackend
from agents.evaluation import evaluate
from agents.policies import LMPolicy
from agents.pretrained import cache_dir
from agents.prompts import encode_prompt, load_template
from agents.tiny import TinyConfig, build_model, load_pretrained, train_tokenizer

# detours skip these: ALFWorld's meta actions teach nothing, WebShop's search placeholder is no query, and
# after its 'back to search' the oracle searches the target's title, which the prompt never shows
DETOUR_SKIPS = ("help", "inventory", "look", "examine", "search[<", "click[back to search]")
EXPERTS = {"search": "search_action", "planner": "expert_action"}  # demo labeller -> env method


@dataclass(frozen=True)
class WarmStartConfig:
    """Everything that decides the warm-started checkpoint (its hash is the cache key)."""

    env: str = "alfworld"
    # easy difficulty knobs for the tiny default: one task type, few receptacles and distractors
    env_kwargs: dict[str, Any] = field(
        default_factory=lambda: {
            "task_types": ["pick_and_place_simple"],
            "num_receptacles": 5,
            "num_distractors": 2,
            "max_steps": 20,
        }
    )
    prompt_variant: str = "compact"
    history_length: int = 0  # the searcher needs only the current observation
    expert: str = (
        "search"  # search (looks for the object, imitable from the prompt) | planner (knows where it is)
    )
    demo_episodes: int = 3000
    detour_prob: float = 0.25  # chance per step of a random move, so demos cover off-expert states
    model: TinyConfig = field(default_factory=TinyConfig)
    sft_steps: int = 1500
    batch_size: int = 32
    lr: float = 3e-3
    warmup_steps: int = 30
    eval_split: str | None = "valid_unseen"  # None: no splits (TextArena): demos and evaluation use seeds
    eval_episodes: int = 134
    max_prompt_tokens: int = 256
    max_new_tokens: int = 12
    seed: int = 0

    def env_kwargs_for(self, split: str | None) -> dict[str, Any]:
        """The env's kwargs on `split`, which only an env with splits gets (TextArena has none)."""
        return {**self.env_kwargs, **({} if self.eval_split is None else {"split": split})}

    def key(self) -> str:
        """Short stable hash of the config, used as the cache folder name."""
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]


# The WebShop policy: the env's shopper with detours, at the env's full difficulty. It searches the instruction's
# sentence, opens the first result, clicks the options the task names and buys, all of which the prompt shows
# (the oracle's result choice is not: it knows the target). Imitated exactly, it succeeds on 50.6% of the test
# goals, score 0.80. Tied input and output embeddings: copying a rare unit (an item id, a product noun) from the
# prompt then needs no trained output row for it (at 2,000 SFT steps, 20 of 60 test searches copied, untied 8).
WEBSHOP = WarmStartConfig(
    env="webshop",
    env_kwargs={},
    prompt_variant="compact",
    history_length=4,  # its last 4 actions: search, item, two options
    expert="search",
    model=TinyConfig(tie_word_embeddings=True),
    demo_episodes=5000,  # 1,500 are memorised: 1-3% success at 3,000-5,000 steps
    sft_steps=5000,  # 7.0% greedy success, score 0.45 on 200 eval goals (4,000 steps: 7.5%, 0.43)
    batch_size=16,
    eval_split="test",
    eval_episodes=200,
    max_prompt_tokens=256,
    max_new_tokens=20,  # the longest search is 20 tokens
)
# TowerOfHanoi-v0 (3 disks, the game's 14-move limit): the optimal solver with detours, so demos cover
# positions off the optimal path; the prompt shows the board and the legal moves. A TextArena game has one
# start position and no splits: "held out" means new seeds, which only a sampling policy tells apart.
HANOI = WarmStartConfig(
    env="textarena",
    env_kwargs={"game": "TowerOfHanoi-v0"},
    expert="planner",
    demo_episodes=400,
    detour_prob=0.3,
    sft_steps=200,  # partial on purpose: 25% sampled success (300 steps: 92%, 100 steps: 1%)
    batch_size=16,
    eval_split=None,
    eval_episodes=100,
    max_new_tokens=8,
)
WARM_STARTS = {"alfworld": WarmStartConfig(), "webshop": WEBSHOP, "textarena": HANOI}  # --env picks one


def collect_demonstrations(config: WarmStartConfig) -> list[tuple[str, str]]:
    """(prompt, expert action) pairs from train-split episodes, with random detours off the expert's path."""
    rng = random.Random(config.seed)
    template = load_template(config.env, config.prompt_variant, config.history_length)
    env = envs.make(config.env, **config.env_kwargs_for("train"))
    if config.expert not in EXPERTS:
        raise ValueError(f"expert must be one of {', '.join(EXPERTS)}, got {config.expert!r}")
    act = getattr(env.unwrapped, EXPERTS[config.expert])
    demos = []
    for episode in range(config.demo_episodes):
        observation, info = env.reset(seed=config.seed * 1_000_003 + episode)
        history: list[tuple[str, str]] = []
        done = False
        while not done:
            expert = act()
            demos.append(
                (
                    template.render(info["task"], observation, info["admissible_actions"], history, info),
                    expert,
                )
            )
            moves = [a for a in info["admissible_actions"] if not a.startswith(DETOUR_SKIPS)]
            action = rng.choice(moves) if moves and rng.random() < config.detour_prob else expert
            history.append((observation, action))
            observation, _, terminated, truncated, info = env.step(action)
            done = terminated or truncated
    return demos


def demo_tokenizer(demos: list[tuple[str, str]]):
    """A tokenizer over the prompts and the actions, each its own text: a response starts right after
    `<action>`, so an action's first word must be a unit without a leading space. Trained on "prompt action"
    instead, WebShop's `search` and `click` were only units after a space and came out `<unk>`: its policy
    could never act (0% after 1,500 SFT steps)."""
    return train_tokenizer(text for demo in demos for text in demo)


def encode_demos(
    tokenizer, demos: list[tuple[str, str]], max_prompt_tokens: int
) -> list[tuple[list[int], int]]:
    """Each demo as (token ids, prompt length): chat-templated prompt, then `<action>a</action>` and EOS."""
    encoded = []
    for prompt, action in demos:
        prompt_ids = encode_prompt(tokenizer, prompt, max_prompt_tokens)
        response_ids = tokenizer(f"<action>{action}</action>", add_special_tokens=False)["input_ids"]
        encoded.append((prompt_ids + response_ids + [tokenizer.eos_token_id], len(prompt_ids)))
    return encoded


def length_bucketed_batches(lengths: list[int], batch_size: int, rng: random.Random):
    """Endless shuffled batches of indices; each batch holds similar lengths, so padding wastes little."""
    if not lengths:
        raise ValueError("no demonstrations to train on")
    window = min(batch_size * 16, len(lengths))
    while True:
        order = rng.sample(range(len(lengths)), len(lengths))
        batches = []
        for start in range(0, len(order) - window + 1, window):
            chunk = sorted(order[start : start + window], key=lengths.__getitem__)
            batches += [chunk[i : i + batch_size] for i in range(0, window, batch_size)]
        rng.shuffle(batches)
        yield from batches


def supervised_train(
    model,
    encoded: list[tuple[list[int], int]],
    config: WarmStartConfig,
    tokenizer: PreTrainedTokenizerBase,
    snapshot_dir: Path | None = None,
    device: str = "cpu",
) -> list[float]:
    """AdamW with linear warmup, then a constant rate, on the response tokens only; returns every step's loss.

    The rate does not decay, so the weights after step k are those of a run with `sft_steps=k`: with
    `snapshot_dir`, they are saved with the tokenizer to `snapshot_dir/step-<k>` every 100 steps, to pick how
    partial the warm start should be without retraining (each snapshot loads as it is written).
    """
    pad_id = tokenizer.pad_token_id
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, betas=(0.9, 0.95), weight_decay=0.01)
    batches = length_bucketed_batches(
        [len(ids) for ids, _ in encoded], config.batch_size, random.Random(config.seed)
    )
    losses = []
    model.train()
    progress = tqdm(range(config.sft_steps), desc="warm start (SFT)", unit="step")
    for step in progress:
        batch = [encoded[i] for i in next(batches)]
        width = max(len(ids) for ids, _ in batch)
        input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
        labels = torch.full((len(batch), width), -100, dtype=torch.long)
        for row, (ids, prompt_length) in enumerate(batch):
            input_ids[row, : len(ids)] = torch.tensor(ids)
            labels[row, prompt_length : len(ids)] = torch.tensor(ids[prompt_length:])
        scale = min(1.0, (step + 1) / config.warmup_steps)
        for group in optimizer.param_groups:
            group["lr"] = config.lr * scale
        input_ids, labels = input_ids.to(device), labels.to(device)
        loss = model(input_ids=input_ids, attention_mask=(input_ids != pad_id).long(), labels=labels).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        losses.append(loss.item())
        progress.set_postfix(loss=f"{sum(losses[-20:]) / len(losses[-20:]):.3f}")
        if snapshot_dir is not None and (step + 1) % 100 == 0:
            model.save_pretrained(snapshot_dir / f"step-{step + 1}")
            tokenizer.save_pretrained(snapshot_dir / f"step-{step + 1}")
    model.eval()
    return losses


def evaluate_checkpoint(
    path: str | Path, config: WarmStartConfig, temperature: float = 0.0, device: str = "cpu"
) -> dict[str, Any]:
    """Success of the checkpoint at `path` on `config.eval_split` (greedy by default) as a dict."""
    model, tokenizer = load_pretrained(path)
    model.to(device)
    policy = LMPolicy(
        HFBackend(model, tokenizer),
        tokenizer,
        temperature=temperature,
        max_new_tokens=config.max_new_tokens,
        max_prompt_tokens=config.max_prompt_tokens,
        seed=config.seed,
    )
    template = load_template(config.env, config.prompt_variant, config.history_length)
    env_kwargs = config.env_kwargs_for(config.eval_split)
    result = evaluate(
        policy,
        config.env,
        template,
        config.eval_episodes,
        env_kwargs,
        max_steps=env_kwargs.get("max_steps", 50),
    )
    return result.to_dict()


def warm_start(
    config: WarmStartConfig | None = None,
    out: str | Path | None = None,
    device: str = "cpu",
    snapshots: str | Path | None = None,
) -> Path:
    """Build (or reuse from the cache) the warm-started checkpoint for `config`; return its folder.

    With `snapshots`, the weights every 100 SFT steps go to `snapshots/step-<k>` (with the tokenizer)."""
    config = config or WarmStartConfig()
    out = Path(out) if out is not None else cache_dir() / f"tiny-{config.env}-{config.key()}"
    if (out / "warm_start.json").exists():
        return out
    start = time.time()
    demos = collect_demonstrations(config)
    tokenizer = demo_tokenizer(demos)
    model = build_model(tokenizer, config.model, seed=config.seed).to(device)
    encoded = encode_demos(tokenizer, demos, config.max_prompt_tokens)
    params = sum(p.numel() for p in model.parameters())
    print(
        f"warm start: {len(demos)} demo steps from {config.demo_episodes} episodes, vocab {len(tokenizer)}, "
        f"{params / 1e6:.2f}M params, {config.sft_steps} SFT steps of {config.batch_size}"
    )
    out.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(out)
    snapshots = Path(snapshots) if snapshots is not None else None
    sft_start = time.time()
    losses = supervised_train(model, encoded, config, tokenizer, snapshots, device)
    sft_seconds = time.time() - sft_start
    model.save_pretrained(out)
    greedy = evaluate_checkpoint(out, config, temperature=0.0, device=device)
    sampled = evaluate_checkpoint(out, config, temperature=1.0, device=device)
    summary = {
        "config": asdict(config),
        "demo_steps": len(demos),
        "params": params,
        "final_loss": sum(losses[-50:]) / len(losses[-50:]),
        "sft_seconds": round(sft_seconds, 1),
        "total_seconds": round(time.time() - start, 1),
        "device": device if device != "cpu" else f"cpu ({torch.get_num_threads()} threads)",
        config.eval_split or "seeds": {"greedy": greedy, "sampled_t1": sampled},
    }
    (out / "warm_start.json").write_text(json.dumps(summary, indent=2) + "\n")
    low, high = greedy["ci"]
    print(
        f"warm start done: {len(demos)} demos, {config.sft_steps} steps, loss {summary['final_loss']:.3f}, "
        f"{config.eval_split or 'held-out seeds'} success {greedy['success']:.1%} [{low:.1%}, {high:.1%}] greedy, "
        f"{sampled['success']:.1%} sampled, {sft_seconds / 60:.1f} min SFT -> {out}"
    )
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Warm-start the tiny policy on expert demonstrations.")
    parser.add_argument("--env", choices=sorted(WARM_STARTS), default="alfworld", help="which preset")
    parser.add_argument("--out", help="output folder (default: the cache folder for this config)")
    parser.add_argument("--sft-steps", type=int, help="default: the preset's")
    parser.add_argument("--demo-episodes", type=int)
    parser.add_argument("--eval-episodes", type=int)
    parser.add_argument("--expert", choices=sorted(EXPERTS))
    parser.add_argument("--history-length", type=int)
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (1 is polite on a shared machine)"
    )
    parser.add_argument("--device", default="cpu", help="torch device for training and evaluation, e.g. cuda")
    parser.add_argument("--evaluate", metavar="PATH", help="only evaluate an existing checkpoint")
    parser.add_argument("--snapshots", metavar="DIR", help="also save DIR/step-<k> every 100 SFT steps")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    given = {
        key: getattr(args, key)
        for key in ("sft_steps", "demo_episodes", "eval_episodes", "expert", "history_length")
        if getattr(args, key) is not None
    }
    config = replace(WARM_STARTS[args.env], **given)
    if args.evaluate:
        for temperature in (0.0, 1.0):
            result = evaluate_checkpoint(args.evaluate, config, temperature, args.device)
            print(f"T={temperature}:", json.dumps(result))
        return
    warm_start(config, args.out, args.device, args.snapshots)


if __name__ == "__main__":
    main()
