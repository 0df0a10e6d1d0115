#!/usr/bin/env python3
"""`make evaluate`'s report: join the generated week (realistic.py) with what
`riskgate replay --out` decided for each line, per scenario and customer group, and write
docs/evaluation.md.

    report.py --week week.jsonl --run "after=decisions.jsonl" [--run "before=old.jsonl"] \
        --seed 2026 --command "make evaluate" --out docs/evaluation.md

Goals (issue 23): each attack ≥ 95 % of its requests not allowed after its first 10;
customers overall ≤ 0.1 % blocked or limited and ≤ 2 % sent to verify; CGNAT and office
groups ≤ 0.5 % limited; privacy-VPN customers verified, not blocked (≤ 0.1 % blocked).
"""
import argparse
import collections
import json
from pathlib import Path

ACTIONS = ["allow", "verify", "block", "limit"]


def load_week(path):
    out = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            r = json.loads(line)
            out[n] = (r["kind"], r["scenario"])
    return out


def load_run(path):
    out = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            d = json.loads(line)
            out[d["line"]] = (d["action"], d["reasons"])
    return out


def pct(a, b):
    return 100.0 * a / b if b else 0.0


def evaluate(week, run):
    scen = collections.defaultdict(lambda: {"n": 0, "acts": collections.Counter(), "seq": [],
                                            "reasons": collections.Counter(), "kind": ""})
    for n in sorted(week):
        kind, name = week[n]
        action, reasons = run.get(n, ("unmatched", ""))
        s = scen[name]
        s["kind"] = kind
        s["n"] += 1
        s["acts"][action] += 1
        s["seq"].append(action)
        for r in filter(None, reasons.split(",")):
            s["reasons"][r] += 1
    return scen


def attack_row(name, s):
    seq = s["seq"]
    first = next((i + 1 for i, a in enumerate(seq) if a != "allow"), None)
    after = seq[10:]
    stopped = pct(sum(a != "allow" for a in after), len(after))
    met = stopped >= 95.0
    return stopped, met, first


def customer_target(name):
    if name in ("mobile (CGNAT)", "office behind one NAT"):
        return "limit ≤ 0.5 %, block ≤ 0.1 %", lambda a, n: pct(a["limit"], n) <= 0.5 and pct(a["block"], n) <= 0.1
    if name == "privacy VPN":
        return "verify, not block: block ≤ 0.1 %", lambda a, n: pct(a["block"], n) <= 0.1
    # the goal is for the customers overall, below; a group's own rates are shown
    return "(overall goal)", None


def top(counter, k=4):
    return ", ".join(f"`{r}` {c}" for r, c in counter.most_common(k)) or "—"


def table(scen):
    lines = []
    met_all = True
    lines.append("**Attacks** (goal: ≥ 95 % not allowed after the first 10 requests)\n")
    lines.append("| attack | requests | allow | verify | block | limit | first stopped | not allowed after 10 | met | most frequent signals |")
    lines.append("|---|---:|---:|---:|---:|---:|---:|---:|---|---|")
    for name, s in sorted(scen.items()):
        if s["kind"] != "attack":
            continue
        a, n = s["acts"], s["n"]
        stopped, met, first = attack_row(name, s)
        met_all &= met
        lines.append(f"| {name} | {n} | " + " | ".join(f"{pct(a[k], n):.1f} %" for k in ACTIONS)
                     + f" | {first if first else 'never'} | {stopped:.1f} % | {'yes' if met else '**no**'} | {top(s['reasons'])} |")
    lines.append("\n**Customers**\n")
    lines.append("| group | requests | allow | verify | block | limit | target | met | most frequent signals |")
    lines.append("|---|---:|---:|---:|---:|---:|---|---|---|")
    total = collections.Counter()
    tn = 0
    rest = collections.Counter()
    rn = 0
    for name, s in sorted(scen.items()):
        if s["kind"] != "customer":
            continue
        a, n = s["acts"], s["n"]
        total.update(a)
        tn += n
        if name != "privacy VPN":
            rest.update(a)
            rn += n
        target, ok = customer_target(name)
        if ok is None:
            verdict = "—"
        else:
            met = ok(a, n)
            met_all &= met
            verdict = "yes" if met else "**no**"
        lines.append(f"| {name} | {n} | " + " | ".join(f"{pct(a[k], n):.2f} %" for k in ACTIONS)
                     + f" | {target} | {verdict} | {top(s['reasons'])} |")
    ok = pct(total["block"] + total["limit"], tn) <= 0.1 and pct(total["verify"], tn) <= 2.0
    met_all &= ok
    lines.append(f"| **all customers** | {tn} | " + " | ".join(f"{pct(total[k], tn):.2f} %" for k in ACTIONS)
                 + f" | block + limit ≤ 0.1 %, verify ≤ 2 % | {'yes' if ok else '**no**'} | |")
    lines.append(f"| all customers but privacy VPN | {rn} | " + " | ".join(f"{pct(rest[k], rn):.2f} %" for k in ACTIONS)
                 + " | (shown: VPN users are verified by design) | — | |")
    return "\n".join(lines), met_all


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--week", required=True)
    ap.add_argument("--run", action="append", required=True, help="LABEL=decisions.jsonl")
    ap.add_argument("--seed", required=True)
    ap.add_argument("--command", required=True)
    ap.add_argument("--describe", action="append", default=[], help="LABEL=what the run is")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    week = load_week(a.week)
    about = dict(d.split("=", 1) for d in a.describe)
    sections = []
    summary = []
    for spec in a.run:
        label, path = spec.split("=", 1)
        text, met = table(evaluate(week, load_run(path)))
        sections.append(f"## {label}\n\n{about.get(label, '')}\n\n{text}\n")
        summary.append(f"- {label}: every goal met: {'yes' if met else '**no**'}")
        print(f"{label}: every goal met: {'yes' if met else 'no'}")
    kinds = collections.Counter(k for k, _ in week.values())
    doc = f"""# Evaluation: a week of realistic traffic

Made by `{a.command}` (not part of `make test`), generator seed {a.seed}. The generator,
`tools/replay-week/realistic.py`, draws a week of coupon and signup traffic from real
address space — real ISP, carrier, VPN, Private Relay, cloud and Tor ranges, located by a
real GeoLite2 Country database, as `make detection` stages them — with daily cycles,
CGNAT lunchtime bursts, offices behind one NAT, travellers, privacy-VPN and Private
Relay users and regional-pricing codes used at home, and the seeds' attacks. Its
assumptions are written at its top: the evaluation is only as good as they are.
{kinds['customer']} customer requests and {kinds['attack']} attack requests; every run
replays the same file (`riskgate replay --out`), each policy in enforce.

A request counts as *stopped* when it is not allowed: sent to verify, blocked, or
limited. *First stopped* is the attack's first request that was; *not allowed after 10*
leaves out each attack's first ten requests (no limit can know a key before it has seen
it). The most frequent signals are counted over the scenario's requests.

{chr(10).join(summary)}

{chr(10).join(sections)}"""
    Path(a.out).write_text(doc)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
