#!/usr/bin/env python3
"""A week of generated signup and coupon traffic as replay's JSON lines, for the operator
guide's tuning example: ordinary customers from many networks, a referral Sybil farm on
one /24 (day 3), a 50 %-off code shared on a deal forum (day 5: forty addresses in an
hour) and a mobile carrier's CGNAT addresses at lunchtime (every day). Deterministic.

    python3 tools/replay-week/generate.py > week.jsonl
"""
import datetime
import json
import random
import sys

rnd = random.Random(2026)
start = datetime.datetime(2026, 11, 16, tzinfo=datetime.timezone.utc)
out = []


def at(day, seconds):
    return (start + datetime.timedelta(days=day, seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def signup(t, ip, ref):
    out.append((t, {"time": t, "ip": ip, "method": "POST", "path": f"/signup?ref={ref}",
                    "headers": {"Content-Type": "application/x-www-form-urlencoded"},
                    "body": f"email=user{rnd.randrange(10**6)}%40example.com"}))


def coupon(t, ip, code):
    out.append((t, {"time": t, "ip": ip, "method": "POST", "path": "/api/apply-coupon",
                    "headers": {"Content-Type": "application/json"},
                    "body": json.dumps({"code": code})}))


def customer_ip():
    return f"{rnd.choice([24, 31, 46, 62, 73, 81, 86, 92, 109, 176])}.{rnd.randrange(256)}.{rnd.randrange(256)}.{rnd.randrange(1, 255)}"


for day in range(7):
    # ordinary customers: daytime-weighted, their own referral and coupon codes
    for _ in range(1500):
        s = int(rnd.triangular(6 * 3600, 23 * 3600, 19 * 3600))
        if rnd.random() < 0.5:
            signup(at(day, s), customer_ip(), f"FRIEND-{rnd.randrange(5000)}")
        else:
            coupon(at(day, s), customer_ip(), rnd.choice(["WELCOME10", "SAVE20", "BDAY-" + str(rnd.randrange(10**5))]))
    # a mobile carrier's CGNAT: a handful of addresses of 100.64.0.0/10 at lunchtime,
    # many real people behind each
    for _ in range(120):
        s = 12 * 3600 + rnd.randrange(3600)
        ip = f"100.64.7.{rnd.randrange(1, 5)}"
        if rnd.random() < 0.5:
            signup(at(day, s), ip, f"FRIEND-{rnd.randrange(5000)}")
        else:
            coupon(at(day, s), ip, "WELCOME10")

# day 3, 02:00-04:00: a Sybil farm on one /24 farming one referral code
for i in range(300):
    signup(at(2, 2 * 3600 + i * 24), f"198.51.100.{rnd.randrange(1, 255)}", "FRIEND-42")

# day 5, 20:00-21:00: SAVE50 posted on a deal forum, redeemed from forty addresses
for i in range(40):
    coupon(at(4, 20 * 3600 + rnd.randrange(3600)), customer_ip(), "SAVE50")

out.sort(key=lambda r: r[0])
w = sys.stdout
for _, rec in out:
    w.write(json.dumps(rec) + "\n")
