#!/usr/bin/env python3
"""PyTorch reference for examples/bench: the same shapes, random weights, 2 threads.

Run side by side with the Go benchmark, on the same machine, in the same session:

    OPENBLAS_CORETYPE=SkylakeX OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 examples/bench/torchref.py
    go run ./examples/bench -json

OPENBLAS_CORETYPE picks OpenBLAS's kernels: SkylakeX needs AVX-512 (the CPU dies with SIGILL,
silently, without it), so on an AVX2-only CPU use Zen (AMD) or Haswell (Intel); the script
refuses an AVX-512 core type on a CPU without AVX-512 instead of crashing.

Prints one JSON object with the keys the Go command prints (the subset PyTorch can measure):
sgemm_1024_gflops, vit_b16_encode_ms, prefill_256_tok_s, decode_64_tok_s, unified_ttft_ms.
The models are written here in plain torch (no transformers dependency) with the same layer
structure as HF's CLIPVisionModel and LlamaForCausalLM; only timing is compared.
"""
import json
import math
import os
import sys
import time

# OpenBLAS core types whose kernels use AVX-512 instructions.
AVX512_CORETYPES = {"skylakex", "cooperlake", "sapphirerapids"}


def check_coretype():
    """Exit with a message when OPENBLAS_CORETYPE asks for AVX-512 kernels this CPU lacks."""
    core = os.environ.get("OPENBLAS_CORETYPE", "").lower()
    if core not in AVX512_CORETYPES:
        return
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return
    if "avx512f" not in flags:
        sys.exit(f"torchref: OPENBLAS_CORETYPE={core} needs AVX-512, which this CPU lacks; "
                 "use OPENBLAS_CORETYPE=Zen (AMD) or Haswell (Intel)")


check_coretype()  # before torch loads OpenBLAS

import torch  # noqa: E402
import torch.nn.functional as F

THREADS = 2
REPS = 3


def best(fn, reps=REPS):
    fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


class ViTLayer(torch.nn.Module):
    def __init__(self, d, heads, ff):
        super().__init__()
        self.ln1, self.ln2 = torch.nn.LayerNorm(d), torch.nn.LayerNorm(d)
        self.qkv = torch.nn.Linear(d, 3 * d)
        self.out = torch.nn.Linear(d, d)
        self.fc1, self.fc2 = torch.nn.Linear(d, ff), torch.nn.Linear(ff, d)
        self.heads = heads

    def forward(self, x):
        b, t, d = x.shape
        h = self.ln1(x)
        q, k, v = self.qkv(h).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d // self.heads), -1) @ v
        x = x + self.out(a.transpose(1, 2).reshape(b, t, d))
        h = self.fc1(self.ln2(x))
        h = h * torch.sigmoid(1.702 * h)  # quick_gelu
        return x + self.fc2(h)


class ViT(torch.nn.Module):
    def __init__(self, d=768, layers=12, heads=12, ff=3072, image=224, patch=16):
        super().__init__()
        self.patch = torch.nn.Conv2d(3, d, patch, patch, bias=False)
        self.cls = torch.nn.Parameter(torch.randn(d))
        self.pos = torch.nn.Parameter(torch.randn((image // patch) ** 2 + 1, d) * 0.02)
        self.pre = torch.nn.LayerNorm(d)
        self.layers = torch.nn.ModuleList(ViTLayer(d, heads, ff) for _ in range(layers))

    def forward(self, px, upto=None):
        x = self.patch(px).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], 1, -1), x], 1) + self.pos
        x = self.pre(x)
        hs = [x]
        for layer in self.layers[:upto]:
            x = layer(x)
            hs.append(x)
        return hs


class RMSNorm(torch.nn.Module):
    def __init__(self, d, eps=1e-5):
        super().__init__()
        self.w, self.eps = torch.nn.Parameter(torch.ones(d)), eps

    def forward(self, x):
        return self.w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))


def rope(x, pos, theta):
    dh = x.shape[-1]
    inv = 1.0 / (theta ** (torch.arange(0, dh, 2).float() / dh))
    ang = pos[:, None].float() * inv[None]
    cos, sin = torch.cat([ang.cos()] * 2, -1), torch.cat([ang.sin()] * 2, -1)
    x1, x2 = x[..., : dh // 2], x[..., dh // 2:]
    return x * cos + torch.cat([-x2, x1], -1) * sin


class Block(torch.nn.Module):
    def __init__(self, d, h, kvh, ff, theta):
        super().__init__()
        dh = d // h
        self.n1, self.n2 = RMSNorm(d), RMSNorm(d)
        self.q = torch.nn.Linear(d, h * dh, bias=False)
        self.k = torch.nn.Linear(d, kvh * dh, bias=False)
        self.v = torch.nn.Linear(d, kvh * dh, bias=False)
        self.o = torch.nn.Linear(h * dh, d, bias=False)
        self.g = torch.nn.Linear(d, ff, bias=False)
        self.u = torch.nn.Linear(d, ff, bias=False)
        self.dn = torch.nn.Linear(ff, d, bias=False)
        self.h, self.kvh, self.dh, self.theta = h, kvh, dh, theta

    def forward(self, x, pos, cache):
        b, t, _ = x.shape
        y = self.n1(x)
        q = rope(self.q(y).view(b, t, self.h, self.dh).transpose(1, 2), pos, self.theta)
        k = rope(self.k(y).view(b, t, self.kvh, self.dh).transpose(1, 2), pos, self.theta)
        v = self.v(y).view(b, t, self.kvh, self.dh).transpose(1, 2)
        if cache:
            k, v = torch.cat([cache[0], k], 2), torch.cat([cache[1], v], 2)
        cache[:] = [k, v]
        rep = self.h // self.kvh
        k, v = k.repeat_interleave(rep, 1), v.repeat_interleave(rep, 1)
        s = q @ k.transpose(-1, -2) / math.sqrt(self.dh)
        tk = k.shape[2]
        mask = torch.ones(t, tk, dtype=torch.bool).tril(tk - t)
        a = torch.softmax(s.masked_fill(~mask, float("-inf")), -1) @ v
        x = x + self.o(a.transpose(1, 2).reshape(b, t, -1))
        y = self.n2(x)
        return x + self.dn(F.silu(self.g(y)) * self.u(y))


class Decoder(torch.nn.Module):
    # SmolLM2-135M shape: 30 layers, width 576, 9/3 heads, FFN 1536, vocab 49152, tied.
    def __init__(self, d=576, layers=30, h=9, kvh=3, ff=1536, vocab=49152, theta=100000.0):
        super().__init__()
        self.emb = torch.nn.Embedding(vocab, d)
        self.layers = torch.nn.ModuleList(Block(d, h, kvh, ff, theta) for _ in range(layers))
        self.norm = RMSNorm(d)

    def hidden(self, x, pos, caches):
        for layer, c in zip(self.layers, caches):
            x = layer(x, pos, c)
        return self.norm(x)

    def logits_last(self, h):
        return h[:, -1] @ self.emb.weight.T


def main():
    torch.set_num_threads(THREADS)
    torch.manual_seed(0)
    out = {"threads": THREADS, "torch": torch.__version__}
    with torch.inference_mode():
        a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
        out["sgemm_1024_gflops"] = 2 * 1024 ** 3 / best(lambda: torch.mm(a, b), reps=10) / 1e9

        vit = ViT().eval()
        px = torch.randn(1, 3, 224, 224)
        out["vit_b16_encode_ms"] = best(lambda: vit(px)) * 1e3

        dec = Decoder().eval()
        for p in dec.parameters():
            torch.nn.init.normal_(p, std=0.02)
        ids = torch.arange(256).view(1, -1) * 7919 % 49151

        def prefill():
            caches = [[] for _ in dec.layers]
            h = dec.hidden(dec.emb(ids), torch.arange(256), caches)
            return dec.logits_last(h).argmax(-1)

        out["prefill_256_tok_s"] = 256 / best(prefill)

        def decode():
            caches = [[] for _ in dec.layers]
            prompt = ids[:, :16]
            nxt = dec.logits_last(dec.hidden(dec.emb(prompt), torch.arange(16), caches)).argmax(-1)
            t0 = time.perf_counter()
            for i in range(64):
                h = dec.hidden(dec.emb(nxt.view(1, 1)), torch.tensor([16 + i]), caches)
                nxt = dec.logits_last(h).argmax(-1)
            return time.perf_counter() - t0

        decode()
        out["decode_64_tok_s"] = 64 / min(decode() for _ in range(REPS))

        proj1, proj2 = torch.nn.Linear(768, 576), torch.nn.Linear(576, 576)

        def unified():
            hs = vit(px, upto=11)
            img = proj2(F.gelu(proj1(hs[-1][:, 1:])))
            text = dec.emb(ids[:, :32])
            x = torch.cat([text[:, :16], img, text[:, 16:]], 1)
            caches = [[] for _ in dec.layers]
            return dec.logits_last(dec.hidden(x, torch.arange(x.shape[1]), caches)).argmax(-1)

        out["unified_ttft_ms"] = best(unified) * 1e3
    json.dump({k: round(v, 2) if isinstance(v, float) else v for k, v in out.items()}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
