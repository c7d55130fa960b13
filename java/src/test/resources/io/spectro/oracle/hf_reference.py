#!/usr/bin/env python3
"""Writes hf_reference.json: Hugging Face transformers GPTNeoXForCausalLM (float64, eager attention)
per-token losses and the full gradient of the mean loss, for the deterministic weights and tokens that
TorchNeoXSelfTest.matchesHuggingFace rebuilds in Java:
  canonical flat index k (spectro.h order), tensor i:
    LayerNorm weights: 1 + 0.1 cos(0.7 k)     everything else: 0.3 sin(1.3 k + 0.5)
  tokens[b, t] = (7 (b T + t) + 3) mod V
Run where torch and transformers are installed:  python3 hf_reference.py > hf_reference.json
"""
import json, math, sys
import torch
import torch.nn.functional as F
import transformers
from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

CASES = [  # V, d, L, nh, f, rotary dims, base, eps, B, T
    (13, 8, 2, 2, 12, 2, 10000.0, 1e-5, 2, 6),
    (11, 12, 1, 3, 20, 4, 100.0, 1e-5, 2, 6),
]
PER = ["input_layernorm.weight", "input_layernorm.bias", "post_attention_layernorm.weight",
       "post_attention_layernorm.bias", "attention.query_key_value.weight", "attention.query_key_value.bias",
       "attention.dense.weight", "attention.dense.bias", "mlp.dense_h_to_4h.weight", "mlp.dense_h_to_4h.bias",
       "mlp.dense_4h_to_h.weight", "mlp.dense_4h_to_h.bias"]


def layout(V, d, L, f):
    out = [("gpt_neox.embed_in.weight", (V, d))]
    for l in range(L):
        shp = [(d,), (d,), (d,), (d,), (3 * d, d), (3 * d,), (d, d), (d,), (f, d), (f,), (d, f), (d,)]
        out += [(f"gpt_neox.layers.{l}.{n}", s) for n, s in zip(PER, shp)]
    return out + [("gpt_neox.final_layer_norm.weight", (d,)), ("gpt_neox.final_layer_norm.bias", (d,)),
                  ("embed_out.weight", (V, d))]


def case(V, d, L, nh, f, rd, base, eps, B, T):
    hd = d // nh
    conf = GPTNeoXConfig(vocab_size=V, hidden_size=d, num_hidden_layers=L, num_attention_heads=nh,
                         intermediate_size=f, rotary_pct=rd / hd, partial_rotary_factor=rd / hd,
                         rotary_emb_base=base, rope_theta=base, max_position_embeddings=64,
                         layer_norm_eps=eps, use_parallel_residual=True, hidden_act="gelu",
                         tie_word_embeddings=False, attention_dropout=0.0, hidden_dropout=0.0,
                         rope_parameters={"rope_type": "default", "rope_theta": base, "partial_rotary_factor": rd / hd})
    try:
        model = GPTNeoXForCausalLM._from_config(conf, attn_implementation="eager", dtype=torch.float64)
    except TypeError:
        model = GPTNeoXForCausalLM(conf)
    model = model.double().eval()
    lay = layout(V, d, L, f)
    k, sd = 0, {}
    for name, shp in lay:
        n = math.prod(shp)
        ln_w = name.endswith("norm.weight")
        vals = [1 + 0.1 * math.cos(0.7 * (k + j)) if ln_w else 0.3 * math.sin(1.3 * (k + j) + 0.5) for j in range(n)]
        sd[name] = torch.tensor(vals, dtype=torch.float64).reshape(shp)
        k += n
    keys = set(model.state_dict().keys())
    if "embed_out.weight" not in keys and "lm_head.weight" in keys:  # transformers 5 renamed the head
        sd["lm_head.weight"] = sd.pop("embed_out.weight")
    missing, unexpected = model.load_state_dict(sd, strict=False)
    missing = [m for m in missing if "rotary" not in m and "masked_bias" not in m and not m.endswith("attention.bias")]
    assert not missing and not unexpected, (missing, unexpected)
    params = dict(model.named_parameters())
    tokens = torch.tensor([[(7 * (b * T + t) + 3) % V for t in range(T)] for b in range(B)], dtype=torch.int64)
    logits = model(tokens).logits
    losses = F.cross_entropy(logits[:, :-1].reshape(-1, V), tokens[:, 1:].reshape(-1), reduction="none")
    losses.mean().backward()
    grad = []
    for name, shp in lay:
        p = params[name] if name in params else params["lm_head.weight"]
        grad += p.grad.reshape(-1).tolist()
    return {"dims": [V, d, L, nh, f, rd, base, eps], "B": B, "T": T, "losses": losses.tolist(), "grad": grad}


json.dump({"transformers": transformers.__version__, "torch": torch.__version__,
           "cases": [case(*c) for c in CASES]}, sys.stdout)
