#!/usr/bin/env python3
"""Independent renderer of the shapes world (v1), written from
shared/notes/shapes-world.md alone, with the Python standard library only.

It shares no code with the Go generator (internal/shapes): its own sampler
(Python's random module), its own painter (shape by shape over a bounding
box, into a bytearray), its own question list and its own PNG writer
(zlib + crc32). Models trained on the Go generator's images are checked on
images this program makes.

Two modes:

  render_independent.py --scenes FILE.scenes.jsonl --out DIR
      draw the scenes of a scene file ({"image": ..., "shapes": [...]}, one
      per line, as the Go generator writes them) to DIR/<image>.

  render_independent.py --count N --seed S --out DIR
      sample N scenes, draw them to DIR/indep/NNNNN.png and write
      DIR/indep.jsonl (LLaVA rows, one per question) and
      DIR/indep.scenes.jsonl (the parameters).
"""

import argparse
import json
import math
import os
import random
import struct
import sys
import zlib

SIZE = 64
WHITE = (255, 255, 255)
COLOURS = {
    "red": (220, 40, 40),
    "green": (40, 160, 60),
    "blue": (40, 80, 220),
    "yellow": (230, 190, 30),
}
KINDS = ["circle", "square", "triangle"]
COLUMN_NAMES = ["left", "middle", "right"]
COLUMN_X = {"left": 64 / 6, "middle": 64 / 2, "right": 5 * 64 / 6}
COLUMN_PHRASE = {"left": "on the left", "middle": "in the middle", "right": "on the right"}
NUMBER = {1: "one", 2: "two", 3: "three"}


def inside(shape, px, py):
    """The spec's inside test for the pixel centre (px, py), boundary included."""
    cx, cy, s = shape["cx"], shape["cy"], shape["s"]
    kind = shape["kind"]
    if kind == "circle":
        dx, dy = px - cx, py - cy
        return dx * dx + dy * dy <= s * s
    if kind == "square":
        return abs(px - cx) <= s and abs(py - cy) <= s
    if kind == "triangle":
        top = cy - s
        if py < top or py > cy + s:
            return False
        return abs(px - cx) <= (py - top) / 2
    raise ValueError("unknown kind %r" % kind)


def paint(shapes):
    """Returns SIZE*SIZE*3 bytes, rows top to bottom."""
    buf = bytearray(bytes(WHITE) * (SIZE * SIZE))
    for shape in shapes:
        rgb = bytes(COLOURS[shape["colour"]])
        s = shape["s"]
        # Only pixels whose centre can be inside: a box of half-size s + 1.
        x0 = max(0, int(math.floor(shape["cx"] - s - 1)))
        x1 = min(SIZE - 1, int(math.ceil(shape["cx"] + s + 1)))
        y0 = max(0, int(math.floor(shape["cy"] - s - 1)))
        y1 = min(SIZE - 1, int(math.ceil(shape["cy"] + s + 1)))
        for y in range(y0, y1 + 1):
            for x in range(x0, x1 + 1):
                if inside(shape, x + 0.5, y + 0.5):
                    at = 3 * (y * SIZE + x)
                    buf[at:at + 3] = rgb
    return buf


def png_bytes(rgb):
    """An 8-bit RGB PNG of SIZE x SIZE from raw rows (filter 0 on each)."""
    raw = b"".join(b"\x00" + bytes(rgb[3 * SIZE * y:3 * SIZE * (y + 1)]) for y in range(SIZE))

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", SIZE, SIZE, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def sample(rng):
    n = rng.choice([1, 2, 3])
    cols = sorted(rng.sample(range(3), n))
    shapes = []
    for c in cols:
        name = COLUMN_NAMES[c]
        s = rng.uniform(5, 8)
        shapes.append({
            "kind": rng.choice(KINDS),
            "colour": rng.choice(sorted(COLOURS)),
            "column": name,
            "s": s,
            "cx": COLUMN_X[name] + rng.uniform(-2, 2),
            "cy": rng.uniform(s + 3, 61 - s),
        })
    return shapes


def questions(shapes):
    """(question, answer) pairs, in the spec table's order."""
    out = [("How many shapes are there?", NUMBER[len(shapes)])]
    for kind in KINDS:
        same = [sh for sh in shapes if sh["kind"] == kind]
        if len(same) == 1:
            out.append(("What colour is the %s?" % kind, same[0]["colour"]))
    for sh in shapes:
        out.append(("What shape is on the %s?" % sh["column"], sh["kind"]))
    for kind in KINDS:
        for colour in ["red", "green", "blue", "yellow"]:
            same = [sh for sh in shapes if sh["kind"] == kind and sh["colour"] == colour]
            if len(same) == 1:
                out.append(("Where is the %s %s?" % (colour, kind), same[0]["column"]))
    caption = " and ".join("a %s %s %s" % (sh["colour"], sh["kind"], COLUMN_PHRASE[sh["column"]]) for sh in shapes)
    out.append(("Describe the image.", caption))
    return out


def write(path, data):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenes", help="scene file to draw")
    ap.add_argument("--count", type=int, default=0, help="scenes to sample")
    ap.add_argument("--seed", type=int, default=0, help="sampling seed")
    ap.add_argument("--out", required=True, help="output folder")
    args = ap.parse_args(argv)
    if args.scenes:
        with open(args.scenes) as f:
            for line in f:
                if line.strip():
                    rec = json.loads(line)
                    write(os.path.join(args.out, rec["image"]), png_bytes(paint(rec["shapes"])))
        return 0
    if args.count <= 0:
        ap.error("give --scenes FILE or --count N")
    rng = random.Random(args.seed)
    rows, recs = [], []
    for i in range(args.count):
        shapes = sample(rng)
        name = "indep/%05d.png" % i
        write(os.path.join(args.out, name), png_bytes(paint(shapes)))
        recs.append(json.dumps({"image": name, "shapes": shapes}))
        for j, (q, a) in enumerate(questions(shapes)):
            rows.append(json.dumps({"id": "indep-%05d-%d" % (i, j), "image": name, "conversations": [
                {"from": "human", "value": "<image>\n" + q}, {"from": "gpt", "value": a}]}))
    write(os.path.join(args.out, "indep.jsonl"), ("\n".join(rows) + "\n").encode())
    write(os.path.join(args.out, "indep.scenes.jsonl"), ("\n".join(recs) + "\n").encode())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
