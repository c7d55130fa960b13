#!/usr/bin/env python3
"""Draws K cluster cards at random (fixed seed) from RUN/clusters/clusters.json and prints each as a reader
sees it in the explorer: size, top tokens by count and by lift, subset mix, strongest components, examples
with y in [brackets]. Used to name random cards for docs/demo.md (issue 14).
    bench/pile-cards/cards.py RUN [K] [SEED]"""
import json, random, sys

def show(t):
    return t.replace("\n", "\\n").replace("\t", "\\t")

def main(run, k=20, seed=14):
    cf = json.load(open(f"{run}/clusters/clusters.json"))
    cs = cf["clusters"]
    pick = sorted(random.Random(seed).sample(range(len(cs)), min(k, len(cs))))
    print(f"{run}: {cf['rows']} rows, {len(cs)} clusters; {len(pick)} drawn with seed {seed}: {[cs[i]['id'] for i in pick]}\n")
    for i in pick:
        c = cs[i]
        sub = ", ".join(f"{s['t']} {s['n']}" for s in (c.get("subsets") or []))
        print(f"== {c['id']}  size {c['size']}  conductance {c['conductance']:.3f}  subsets: {sub}")
        print("   top:  " + "  ".join(f"‹{show(t['t'])}› {t['n']}" for t in c["tokens"][:12]))
        print("   lift: " + "  ".join(f"‹{show(t['t'])}› {t['n']} x{t['lift']:.1f}" for t in c["lift"][:8]))
        print("   strongest: " + ", ".join(f"{s['c']} {s['v']:+.2f}" for s in c["strongest"][:6]))
        for e in c["examples"][:6]:
            print("   ex: " + show("".join(e["before"][-8:])) + "[" + show(e["y"]) + "]" + show("".join(e["after"][:4])))
        print()

if __name__ == "__main__":
    a = sys.argv[1:]
    main(a[0], int(a[1]) if len(a) > 1 else 20, int(a[2]) if len(a) > 2 else 14)
