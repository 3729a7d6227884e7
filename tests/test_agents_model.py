"""Tiny policy: word-level tokenizer, Qwen3 from a config, save/load, and the HF generation backend
(sampling, logprobs, and the layer inputs it records for the update)."""

from copy import deepcopy

import numpy as np
import pytest
import torch

from agents import HFBackend
from agents.prefix import hidden_before_layer
from agents.tiny import TinyConfig, build_model, load_pretrained, train_tokenizer
from layerverl.layers import freeze_except, optimizer_groups
from layerverl.losses import LossConfig
from layerverl.update import Updater, response_logprobs, token_batch

TEXTS = [
    "You arrive at cabinet 1. On the cabinet 1, you see a apple 2, and a mug 1.",
    "You open the fridge 1. The fridge 1 is open. In it, you see nothing.",
    "go to cabinet 1 . take apple 2 from cabinet 1 . move apple 2 to fridge 1 . Nothing happens.",
]


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer(TEXTS)


@pytest.fixture(scope="module")
def model(tokenizer):
    return build_model(
        tokenizer,
        TinyConfig(
            hidden_size=32, num_layers=8, num_heads=2, num_kv_heads=1, head_dim=16, intermediate_size=64
        ),
    )


@pytest.fixture(scope="module", params=["qwen3", "llama"])
def rollout_model(request, tokenizer, model):
    """The tiny Qwen3, and a Llama shaped like SmolLM2 (tied embeddings, 3 query heads per key/value head):
    the rollout's recorded inputs, response-only head and last layer must hold for both families."""
    if request.param == "qwen3":
        return model
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    return LlamaForCausalLM(
        LlamaConfig(
            vocab_size=len(tokenizer),
            hidden_size=48,
            intermediate_size=96,
            num_hidden_layers=8,
            num_attention_heads=6,
            num_key_value_heads=2,
            tie_word_embeddings=True,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
            attn_implementation="sdpa",
        )
    )


def test_names_with_numbers_are_single_tokens(tokenizer):
    def tokens(text: str) -> list[str]:
        return tokenizer.convert_ids_to_tokens(tokenizer(text)["input_ids"])

    space = "\u2581"  # a unit carries the space before it, so decoding gives the text back
    assert tokens("<action>go to cabinet 1</action>") == [
        "<action>",
        "go",
        f"{space}to",
        f"{space}cabinet{space}1",
        "</action>",
    ]
    assert tokens("you see a apple 2")[-1] == f"{space}apple{space}2"
    assert tokenizer.unk_token_id not in tokenizer(" Nothing happens.")["input_ids"]  # as it followed a space


def test_decoding_keeps_action_tags_and_drops_specials(tokenizer):
    ids = tokenizer("<action>go to fridge 1</action>")["input_ids"] + [tokenizer.eos_token_id]
    assert tokenizer.decode(ids, skip_special_tokens=True) == "<action>go to fridge 1</action>"


@pytest.mark.parametrize(
    "action",
    ["search[red shoes, x-large 3.4 ounce (pack of 1)]", "click[buy now]", "[A C]", "go to cabinet 1"],
)
def test_decoding_gives_the_action_back_exactly(action):
    """Decoding used to join units with spaces: "[A C]" came back as "[ A C ]" and "click[buy now]" as
    "click [ buy now ]", moves that TextArena and WebShop reject, so no warm start there could ever act."""
    tokenizer = train_tokenizer([*TEXTS, action])
    ids = tokenizer(f"<action>{action}</action>", add_special_tokens=False)["input_ids"]
    assert tokenizer.unk_token_id not in ids
    assert tokenizer.decode(ids) == f"<action>{action}</action>"


def test_chat_template_ends_with_assistant_turn(tokenizer):
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": "go to fridge 1"}], tokenize=False, add_generation_prompt=True
    )
    tokens = tokenizer.convert_ids_to_tokens(tokenizer(text)["input_ids"])
    assert tokens[:2] == ["<|im_start|>", "user"] and tokens[-3:] == [
        "<|im_start|>",
        "assistant",
        "\u2581",
    ]  # the line break before the answer


def test_default_config_is_deep_enough_for_layer_studies(tokenizer):
    default = build_model(tokenizer)
    assert default.config.num_hidden_layers >= 8
    assert 0.5e6 < sum(p.numel() for p in default.parameters()) < 5e6


def test_save_and_load_round_trip(tmp_path, tokenizer, model):
    tokenizer.save_pretrained(tmp_path)
    model.save_pretrained(tmp_path)
    loaded_model, loaded_tokenizer = load_pretrained(tmp_path)
    assert loaded_tokenizer.padding_side == "left" and loaded_tokenizer.chat_template
    ids = torch.tensor([tokenizer("go to fridge 1")["input_ids"]])
    with torch.no_grad():
        assert torch.allclose(model(ids).logits, loaded_model(ids).logits)


def _prompts(tokenizer):
    return [
        tokenizer(t)["input_ids"] for t in ["go to cabinet 1", "take apple 2 from cabinet 1 . go", "open"]
    ]


def test_generation_is_seeded_and_logprobs_match_a_training_forward(tokenizer, model):
    backend = HFBackend(model, tokenizer, batch_size=2)  # two chunks: padding differs per chunk
    prompts = _prompts(tokenizer)
    first = backend.generate(prompts, max_new_tokens=6, temperature=1.0, seed=3)
    again = backend.generate(prompts, max_new_tokens=6, temperature=1.0, seed=3)
    assert [g.response_ids for g in first] == [g.response_ids for g in again]
    for prompt, generation in zip(prompts, first, strict=True):
        assert len(generation.response_ids) == len(generation.response_logprobs) >= 1
        with torch.no_grad():
            logprobs = torch.log_softmax(
                model(torch.tensor([prompt + generation.response_ids])).logits[0], -1
            )
        expected = [logprobs[len(prompt) - 1 + j, t].item() for j, t in enumerate(generation.response_ids)]
        assert generation.response_logprobs == pytest.approx(expected, abs=1e-4)


def test_greedy_matches_transformers_generate(tokenizer, model):
    prompt = _prompts(tokenizer)[1]
    ours = HFBackend(model, tokenizer).generate([prompt], max_new_tokens=5, temperature=0)[0].response_ids
    reference = model.generate(
        torch.tensor([prompt]),
        max_new_tokens=5,
        do_sample=False,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    assert ours == reference[0, len(prompt) :].tolist()[: len(ours)]


def test_generation_stops_at_eos_and_top_p_keeps_the_top_token(tokenizer, model):
    def boost_eos(module, inputs, logits):  # make EOS overwhelmingly likely
        logits = logits.clone()
        logits[..., tokenizer.eos_token_id] += 100.0
        return logits

    handle = model.lm_head.register_forward_hook(boost_eos)
    try:
        out = HFBackend(model, tokenizer).generate(_prompts(tokenizer), max_new_tokens=8, top_p=0.5, seed=0)
    finally:
        handle.remove()
    assert all(g.response_ids == [tokenizer.eos_token_id] and g.text == "" for g in out)


def test_load_layer_weights_updates_only_the_given_layer(tokenizer, model):
    backend = HFBackend(model, tokenizer)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    name = "model.layers.3.mlp.up_proj.weight"
    backend.load_layer_weights({name: torch.ones_like(before[name])})
    after = model.state_dict()
    assert torch.equal(after[name], torch.ones_like(before[name]))
    assert all(torch.equal(after[k], v) for k, v in before.items() if k != name)
    with torch.no_grad():
        model.get_parameter(name).copy_(before[name])
    with pytest.raises(ValueError, match="decoder-layer"):
        backend.load_layer_weights({"model.embed_tokens.weight": before["model.embed_tokens.weight"]})
    with pytest.raises(KeyError, match="layers.99"):
        backend.load_layer_weights({"model.layers.99.mlp.up_proj.weight": before[name]})


def test_vllm_backend_names_the_missing_extra():
    pytest.importorskip("torch")
    try:
        import vllm  # noqa: F401
    except ImportError:
        from agents.backends import VLLMBackend

        with pytest.raises(ImportError, match=r"layerverl\[gpu\].*cpu-rollout"):
            VLLMBackend("unused")
    else:
        pytest.skip("vllm is installed")


def test_prefill_runs_the_last_layer_and_head_on_the_last_column_only(tokenizer, model):
    widths = []
    hooks = [
        module.register_forward_hook(lambda m, args, out: widths.append(out.shape[1]))
        for module in (model.model.layers[-1].mlp, model.lm_head)
    ]
    try:
        HFBackend(model, tokenizer).generate(_prompts(tokenizer), max_new_tokens=3, temperature=0)
    finally:
        for hook in hooks:
            hook.remove()
    assert widths == [1] * len(widths) and len(widths) >= 2


@pytest.mark.parametrize("layer", [3, 7])  # 7: the last layer, which the prefill runs on the last column only
def test_captured_layer_inputs_match_a_fresh_prefix_pass(tokenizer, rollout_model, layer):
    backend = HFBackend(
        rollout_model, tokenizer, batch_size=2
    )  # two chunks, each left-padded to its own width
    prompts = _prompts(tokenizer)
    plain = backend.generate(prompts, max_new_tokens=6, temperature=1.0, seed=5)
    captured = backend.generate(prompts, max_new_tokens=6, temperature=1.0, seed=5, capture_layer=layer)
    assert [g.response_ids for g in captured] == [g.response_ids for g in plain]
    for prompt, generation in zip(prompts, captured, strict=True):
        ran_on = prompt + generation.response_ids[:-1]  # the last sampled token is never fed back
        expected = hidden_before_layer(rollout_model, layer, input_ids=torch.tensor([ran_on]))[0]
        torch.testing.assert_close(generation.hidden, expected, rtol=1e-5, atol=1e-5)


def test_a_group_shares_its_prefill_and_ended_rows_leave_the_batch(tokenizer, rollout_model):
    prompts = [p for p in _prompts(tokenizer)[:2] for _ in range(3)]  # two groups of three samples
    batch_rows = []

    def likelier_eos(module, inputs, logits):  # rows end at different steps
        batch_rows.append(logits.shape[0])
        logits = logits.clone()
        logits[..., tokenizer.eos_token_id] += 2.5
        return logits

    handle = rollout_model.lm_head.register_forward_hook(likelier_eos)
    try:
        generations = HFBackend(rollout_model, tokenizer).generate(prompts, 8, 1.0, seed=2, capture_layer=3)
        for prompt, generation in zip(prompts, generations, strict=True):
            with torch.no_grad():
                logits = rollout_model(torch.tensor([prompt + generation.response_ids])).logits[0]
            expected = torch.log_softmax(logits, -1)[len(prompt) - 1 :].gather(
                -1, torch.tensor(generation.response_ids)[:, None]
            )[: len(generation.response_ids), 0]
            assert generation.response_logprobs == pytest.approx(expected.tolist(), abs=1e-4)
    finally:
        handle.remove()
    assert batch_rows[0] == 2  # the prefill ran once per distinct prompt
    decode_rows = batch_rows[1 : 1 + max(len(g.response_ids) for g in generations) - 1]
    assert decode_rows == sorted(decode_rows, reverse=True) and decode_rows[-1] < len(prompts)
    assert len({len(g.response_ids) for g in generations}) > 1
    for prompt, generation in zip(prompts, generations, strict=True):
        ran_on = prompt + generation.response_ids[:-1]
        expected = hidden_before_layer(rollout_model, 3, input_ids=torch.tensor([ran_on]))[0]
        torch.testing.assert_close(generation.hidden, expected, rtol=1e-5, atol=1e-5)


def test_update_from_captured_inputs_matches_one_that_runs_the_prefix(tokenizer, rollout_model):
    prompts = _prompts(tokenizer)
    generations = HFBackend(rollout_model, tokenizer).generate(prompts, 6, 1.0, seed=7, capture_layer=3)
    trained = []
    for hidden in (None, [g.hidden for g in generations]):
        copy = deepcopy(rollout_model)
        freeze_except(copy, [3])
        updater = Updater(
            copy,
            torch.optim.AdamW(optimizer_groups(copy, 1e-2)),
            LossConfig(),
            tokenizer.pad_token_id,
            1.0,
            micro_batch_size=2,
            grad_clip=1.0,
            start_layer=3,
        )
        updater.update(
            prompts,
            [g.response_ids for g in generations],
            [g.response_logprobs for g in generations],
            np.array([1.0, -0.5, 0.25]),
            2,
            2,
            np.random.default_rng(0),
            hidden,
        )
        trained.append(copy.model.layers[3].state_dict())
    for name, before in rollout_model.model.layers[3].state_dict().items():
        assert not torch.equal(trained[0][name], before)  # it trained
        # 4 Adam steps of lr 1e-2: Adam's normalisation turns rounding on a near-zero gradient into up to ~1e-5
        torch.testing.assert_close(trained[1][name], trained[0][name], rtol=1e-4, atol=5e-5)


def test_training_batch_log_probs_match_the_rollout(tokenizer, rollout_model):
    prompts = _prompts(tokenizer)
    generations = HFBackend(rollout_model, tokenizer).generate(prompts, 6, 1.0, seed=11, capture_layer=2)
    batch = token_batch(prompts, [g.response_ids for g in generations], tokenizer.pad_token_id)
    assert batch.targets.shape[1] == max(
        len(g.response_ids) for g in generations
    )  # the head sees responses only
    updater = Updater(rollout_model, None, LossConfig(), tokenizer.pad_token_id, 1.0, 4, 1.0, start_layer=2)
    with torch.no_grad():
        full = response_logprobs(rollout_model, batch, 1.0)[0]
        from_prefix = updater.logprobs(batch, updater.prefix(batch, [g.hidden for g in generations]))[0]
    for row, generation in enumerate(generations):
        n = len(generation.response_ids)
        assert batch.response_mask[row].sum() == n
        assert full[row, :n].tolist() == pytest.approx(generation.response_logprobs, abs=1e-4)
        assert from_prefix[row, :n].tolist() == pytest.approx(generation.response_logprobs, abs=1e-4)


def test_a_groups_samples_pack_into_one_row_and_score_as_if_alone(tokenizer, rollout_model):
    prompts = _prompts(tokenizer)
    group = [prompts[1]] * 3 + [prompts[0]]
    responses = [tokenizer(t)["input_ids"] for t in ["open", "go to fridge 1 .", "take", "open the fridge 1"]]
    batch = token_batch(group, responses, tokenizer.pad_token_id)
    assert batch.input_ids.shape[0] == 2  # one row per distinct prompt
    params = [p for p in rollout_model.model.layers[3].parameters()]

    def scored(batch, start_layer=None, prefix=None):
        rollout_model.zero_grad()
        logprobs = response_logprobs(rollout_model, batch, 1.0, start_layer, prefix)[0]
        (logprobs * batch.response_mask).sum().backward()
        return logprobs.detach(), [p.grad.clone() for p in params]

    packed, packed_grads = scored(batch)
    alone, alone_grads = [], [torch.zeros_like(p) for p in params]
    for prompt, response in zip(group, responses, strict=True):
        logprobs, grads = scored(token_batch([prompt], [response], tokenizer.pad_token_id))
        alone.append(logprobs[0])
        alone_grads = [a + g for a, g in zip(alone_grads, grads, strict=True)]
    for sample, response in enumerate(responses):
        torch.testing.assert_close(packed[sample, : len(response)], alone[sample], rtol=1e-5, atol=1e-5)
    for packed_grad, alone_grad in zip(packed_grads, alone_grads, strict=True):
        torch.testing.assert_close(packed_grad, alone_grad, rtol=1e-4, atol=1e-6)
    updater = Updater(rollout_model, None, LossConfig(), tokenizer.pad_token_id, 1.0, 4, 1.0, start_layer=3)
    hidden = [  # the inputs of layer 3 as a rollout records them: prompt and response but its last token
        hidden_before_layer(rollout_model, 3, input_ids=torch.tensor([p + r[:-1]]))[0]
        for p, r in zip(group, responses, strict=True)
    ]
    from_prefix, prefix_grads = scored(batch, 3, updater.prefix(batch, hidden))
    torch.testing.assert_close(from_prefix, packed, rtol=1e-5, atol=1e-5)
    for prefix_grad, packed_grad in zip(prefix_grads, packed_grads, strict=True):
        torch.testing.assert_close(prefix_grad, packed_grad, rtol=1e-4, atol=1e-6)
    rollout_model.zero_grad(set_to_none=True)
