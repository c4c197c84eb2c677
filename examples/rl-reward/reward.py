#!/usr/bin/env python3
"""Score generated solutions against unit tests through enclave's batch API.

An RL or eval harness's reward step: N candidate solutions of one task (here
generated: correct, off-by-one, crashing, and never-ending ones), each run with
the task's tests in a pooled sandbox, one batch request per 1,000 calls
(POST /pool/execute_batch, docs/api.md §14.1). Standard library only.

    python3 examples/rl-reward/reward.py --url http://localhost:8000 -n 1000
"""
import argparse
import json
import os
import time
import urllib.request

TESTS = """
assert add(2, 3) == 5
assert add(-1, 1) == 0
assert add(10**12, 1) == 10**12 + 1
print("PASS")
"""

VARIANTS = {
    "correct": "def add(a, b):\n    return a + b\n",
    "off_by_one": "def add(a, b):\n    return a + b + 1\n",
    "crash": "def add(a, b):\n    raise ValueError('no')\n",
    "endless": "def add(a, b):\n    while True:\n        pass\n",
}


def solution(i):
    """The i-th candidate: mostly correct, some wrong, a few endless."""
    if i % 10 == 9:
        kind = "endless"
    elif i % 10 in (3, 7):
        kind = "off_by_one"
    elif i % 10 == 5:
        kind = "crash"
    else:
        kind = "correct"
    return kind, VARIANTS[kind] + f"# candidate {i}\n" + TESTS


def post(base, path, body, key):
    req = urllib.request.Request(base + path, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    if key:
        req.add_header("X-API-Key", key)
    with urllib.request.urlopen(req, timeout=3700) as resp:
        return json.load(resp)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", default=os.environ.get("ENCLAVE_URL", "http://localhost:8000"))
    p.add_argument("--api-key", default=os.environ.get("ENCLAVE_API_KEY", ""))
    p.add_argument("-n", type=int, default=1000, help="solutions to score")
    p.add_argument("--pool", type=int, default=8, help="pool size to initialize (0: use the pool as it is)")
    p.add_argument("--timeout", type=float, default=2, help="seconds each solution may run")
    a = p.parse_args()

    if a.pool:
        post(a.url, f"/pool/initialize?pool_size={a.pool}", {"tools_config": {"python_executor": {}}}, a.api_key)
    kinds, calls = [], []
    for i in range(a.n):
        kind, code = solution(i)
        kinds.append(kind)
        calls.append({"tool_name": "python_executor", "parameters": {"code": code}, "timeout": a.timeout})

    start = time.monotonic()
    results = []
    for lo in range(0, len(calls), 1000):
        results += post(a.url, "/pool/execute_batch", {"calls": calls[lo:lo + 1000]}, a.api_key)["results"]
    elapsed = time.monotonic() - start

    rewards = [1 if r["status"] == "success" and r["output"].strip().endswith("PASS") else 0 for r in results]
    by_kind = {}
    for kind, r, reward in zip(kinds, results, rewards):
        k = by_kind.setdefault(kind, {"n": 0, "reward": 0, "statuses": {}})
        k["n"] += 1
        k["reward"] += reward
        k["statuses"][r["status"]] = k["statuses"].get(r["status"], 0) + 1
    for kind in sorted(by_kind):
        k = by_kind[kind]
        statuses = " ".join(f"{s}={n}" for s, n in sorted(k["statuses"].items()))
        print(f"{kind:10} {k['n']:5} solutions, reward {k['reward']:5}  ({statuses})")
    print(f"scored {len(results)} solutions in {elapsed:.2f} s: {len(results) / elapsed:.1f} solutions/s, "
          f"mean reward {sum(rewards) / len(rewards):.3f}")


if __name__ == "__main__":
    main()
