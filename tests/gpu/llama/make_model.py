#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write a llama-architecture GGUF model with random weights (a fixed seed),
for comparing llama.cpp natively and through vgpu token for token.

The tokenizer comes from one of llama.cpp's vocab-only models; the weights
are random, so the text is gibberish but deterministic.  Needs numpy and
llama.cpp's gguf-py (PYTHONPATH=<llama.cpp>/gguf-py).

  make_model.py VOCAB.gguf OUT.gguf [--embd 2048 --layers 16 --ff 5632 --heads 32 --kv-heads 8]
"""
import argparse

import numpy as np
from gguf import GGUFReader, GGUFValueType, GGUFWriter


def copy_tokenizer(reader: GGUFReader, w: GGUFWriter) -> int:
    n_vocab = 0
    for name, field in reader.fields.items():
        if not name.startswith("tokenizer."):
            continue
        vtype = field.types[0]
        if vtype == GGUFValueType.ARRAY:
            sub = field.types[1]
            vals = [field.contents(i) for i in range(len(field.data))]
            if name == "tokenizer.ggml.tokens":
                n_vocab = len(vals)
            w.add_key_value(name, vals, vtype, sub_type=sub)
        else:
            w.add_key_value(name, field.contents(), vtype)
    return n_vocab


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("vocab")
    ap.add_argument("out")
    ap.add_argument("--embd", type=int, default=2048)
    ap.add_argument("--layers", type=int, default=16)
    ap.add_argument("--ff", type=int, default=5632)
    ap.add_argument("--heads", type=int, default=32)
    ap.add_argument("--kv-heads", type=int, default=8)
    ap.add_argument("--ctx", type=int, default=4096)
    ap.add_argument("--seed", type=int, default=1234)
    a = ap.parse_args()

    rng = np.random.default_rng(a.seed)
    w = GGUFWriter(a.out, "llama")
    w.add_name("vgpu-random-llama")
    n_vocab = copy_tokenizer(GGUFReader(a.vocab), w)
    head_dim = a.embd // a.heads
    w.add_context_length(a.ctx)
    w.add_embedding_length(a.embd)
    w.add_block_count(a.layers)
    w.add_feed_forward_length(a.ff)
    w.add_head_count(a.heads)
    w.add_head_count_kv(a.kv_heads)
    w.add_rope_dimension_count(head_dim)
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_vocab_size(n_vocab)
    w.add_file_type(1)  # mostly F16

    def t(name, *shape, scale=None):
        # Small weights keep activations finite through every layer.
        s = scale if scale is not None else 1.0 / np.sqrt(shape[-1])
        w.add_tensor(name, (rng.standard_normal(shape, dtype=np.float32) * s).astype(np.float16))

    def norm(name, n):
        w.add_tensor(name, np.ones((n,), dtype=np.float32))

    t("token_embd.weight", n_vocab, a.embd, scale=0.02)
    for i in range(a.layers):
        p = f"blk.{i}."
        norm(p + "attn_norm.weight", a.embd)
        t(p + "attn_q.weight", a.embd, a.embd)
        t(p + "attn_k.weight", a.kv_heads * head_dim, a.embd)
        t(p + "attn_v.weight", a.kv_heads * head_dim, a.embd)
        t(p + "attn_output.weight", a.embd, a.embd)
        norm(p + "ffn_norm.weight", a.embd)
        t(p + "ffn_gate.weight", a.ff, a.embd)
        t(p + "ffn_up.weight", a.ff, a.embd)
        t(p + "ffn_down.weight", a.embd, a.ff)
    norm("output_norm.weight", a.embd)
    t("output.weight", n_vocab, a.embd)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print(f"{a.out}: vocab {n_vocab}, embd {a.embd}, layers {a.layers}, ff {a.ff}")


if __name__ == "__main__":
    main()
