#!/usr/bin/env python3
"""PyTorch reference for examples/bench: the same shapes, random weights, 2 threads.

Run side by side with the Go benchmark, on the same machine, in the same session:

    OPENBLAS_CORETYPE=SkylakeX OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 examples/bench/torchref.py
    go run ./examples/bench -json

OPENBLAS_CORETYPE picks OpenBLAS's kernels: SkylakeX needs AVX-512 (the CPU dies with SIGILL,
silently, without it), so on an AVX2-only CPU use Zen (AMD) or Haswell (Intel); the script
refuses an AVX-512 core type on a CPU without AVX-512 instead of crashing.

Prints one JSON object with the keys the Go command prints (the subset PyTorch can measure):
sgemm_1024_gflops, vit_b16_encode_ms, prefill_256_tok_s, decode_64_tok_s, unified_ttft_ms,
train_step_tok_s and train_stage1_tok_s. `--only infer,train,stage1` runs a subset (the Go
command's `-only train,stage1` is the training pair).

Training figures (forward + backward + torch.optim.AdamW, lr 1e-3, no weight decay, best of
TRAIN_REPS steps after TRAIN_WARMUP): train_step_tok_s is the Go bench's small Llama (width 256,
4 layers, 8/2 heads, FFN 704, vocab 2048, untied head) on 4 x 64 tokens; train_stage1_tok_s is
the LLaVA stage-1 step: cached CLIP features [4, 64, 384] (the frozen tower is not run per
step), an MLP2 projector 384 -> 256 -> 256 (GELU) trained, the same Llama frozen
(requires_grad False), 4 x (64 image + 64 text) tokens, loss on the text tokens.
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

THREADS = int(os.environ.get("TORCHREF_THREADS", "2"))
REPS = 3
TRAIN_REPS = 20
TRAIN_WARMUP = 2


def best(fn, reps=REPS, warmup=1):
    for _ in range(warmup):
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


# Training shapes (examples/bench benchTrain / benchStage1).
TRAIN_B, TRAIN_T, TRAIN_V = 4, 64, 2048
STAGE1_P, STAGE1_DV, STAGE1_TEXT = 64, 384, 64


class TrainLM(torch.nn.Module):
    """The Go bench's training Llama: Decoder's blocks, an untied LM head."""

    def __init__(self):
        super().__init__()
        self.dec = Decoder(d=256, layers=4, h=8, kvh=2, ff=704, vocab=TRAIN_V, theta=10000.0)
        self.head = torch.nn.Linear(256, TRAIN_V, bias=False)
        for p in self.parameters():
            torch.nn.init.normal_(p, std=0.02)

    def forward(self, x):
        caches = [[] for _ in self.dec.layers]
        return self.head(self.dec.hidden(x, torch.arange(x.shape[1]), caches))


def bench_train(out):
    torch.manual_seed(0)
    lm = TrainLM()
    opt = torch.optim.AdamW(lm.parameters(), lr=1e-3, weight_decay=0.0)
    ids = torch.randint(0, TRAIN_V, (TRAIN_B, TRAIN_T + 1))

    def step():
        opt.zero_grad(set_to_none=True)
        logits = lm(lm.dec.emb(ids[:, :TRAIN_T]))
        F.cross_entropy(logits.reshape(-1, TRAIN_V), ids[:, 1:].reshape(-1)).backward()
        opt.step()

    out["train_step_tok_s"] = TRAIN_B * TRAIN_T / best(step, TRAIN_REPS, TRAIN_WARMUP)


def bench_stage1(out):
    torch.manual_seed(0)
    lm = TrainLM().requires_grad_(False)
    proj = torch.nn.Sequential(torch.nn.Linear(STAGE1_DV, 256), torch.nn.GELU(), torch.nn.Linear(256, 256))
    opt = torch.optim.AdamW(proj.parameters(), lr=1e-3, weight_decay=0.0)
    feats = torch.randn(TRAIN_B, STAGE1_P, STAGE1_DV)  # cached features of the frozen tower
    ids = torch.randint(0, TRAIN_V, (TRAIN_B, STAGE1_TEXT + 1))
    targets = torch.cat([torch.full((TRAIN_B, STAGE1_P), -100), ids[:, 1:]], 1)

    def step():
        opt.zero_grad(set_to_none=True)
        x = torch.cat([proj(feats), lm.dec.emb(ids[:, :STAGE1_TEXT])], 1)
        logits = lm(x)
        F.cross_entropy(logits.reshape(-1, TRAIN_V), targets.reshape(-1), ignore_index=-100).backward()
        opt.step()

    out["train_stage1_tok_s"] = TRAIN_B * (STAGE1_P + STAGE1_TEXT) / best(step, TRAIN_REPS, TRAIN_WARMUP)


def main():
    only = {"infer", "train", "stage1"}
    if len(sys.argv) > 2 and sys.argv[1] == "--only":
        only = set(sys.argv[2].split(","))
    elif len(sys.argv) > 1:
        sys.exit("usage: torchref.py [--only infer,train,stage1]")
    torch.set_num_threads(THREADS)
    torch.manual_seed(0)
    out = {"threads": THREADS, "torch": torch.__version__}
    if "train" in only:
        bench_train(out)
    if "stage1" in only:
        bench_stage1(out)
    if "infer" not in only:
        json.dump({k: round(v, 2) if isinstance(v, float) else v for k, v in out.items()}, sys.stdout)
        print()
        return
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
