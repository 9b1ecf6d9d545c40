"""``make bench``: training time, model load, classify throughput, turn latency, memory.

Goals (2-core machine): turn p50 <= 30 ms, p95 <= 60 ms, model load <= 15 s,
training <= 3 min, peak memory <= 1.2 GB. Figures are printed, never asserted.
Then the web endpoint beside the bare agent (``bench/web.py``) and the load on one
and two replicas with PostgreSQL + Redis (``bench/load.py``, also written to
``results/bench-load.json``; ``--no-load`` skips it).
"""

from __future__ import annotations

import asyncio
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bot.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def bench_training() -> float:
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "bot", "train", "--force"], cwd=ROOT, check=True,
                       env={**__import__("os").environ, "MODEL_DIR": out},
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return time.perf_counter() - started


def bench_classify(lines: int) -> float:
    from tests import samples

    texts = [s for group in (samples.EMERGENCY, samples.DISCLOSURE, samples.BYSTANDER,
                             samples.HUMAN, samples.GREETING) for s in group.values()]
    payload = "".join(json.dumps({"text": texts[i % len(texts)]}) + "\n" for i in range(lines))
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "bot", "classify"], cwd=ROOT, input=payload,
                          capture_output=True, text=True, check=True)
    elapsed = time.perf_counter() - started
    assert len(proc.stdout.splitlines()) == lines
    return elapsed


async def bench_turns(assistant, conversations: int, turns_each: int):
    from tests import samples

    script = ["hello", samples.DISCLOSURE["en"], "/affirm", "/ask_information", "/ask_victim_status",
              samples.HUMAN["nl"], "merci", samples.EMERGENCY["fr"], "/deny", "bye"]
    latencies = []
    for _ in range(conversations):
        sender = uuid.uuid4().hex
        for text in script[:turns_each]:
            started = time.perf_counter()
            await assistant.turn(sender, text)
            latencies.append((time.perf_counter() - started) * 1000)
    return latencies


def full_collection_ms() -> float:
    """How long one full garbage collection stalls the process once the model is loaded
    (about 270 ms before the model was frozen out of the collector's walk)."""
    import gc

    started = time.perf_counter()
    gc.collect()
    return (time.perf_counter() - started) * 1000


def main() -> int:
    settings = Settings.from_env()
    skip_training = "--no-training" in sys.argv
    training = None if skip_training else bench_training()

    from bot.dialogue.assistant import Assistant

    started = time.perf_counter()
    assistant = Assistant.load(settings)
    load_s = time.perf_counter() - started
    asyncio.run(bench_turns(assistant, 3, 10))  # warm-up
    latencies = asyncio.run(bench_turns(assistant, 30, 10))
    gc_pause_ms = full_collection_ms()
    classify_lines = 2000
    classify_s = bench_classify(classify_lines)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child_peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

    print("figure                         value        goal")
    if training is not None:
        print(f"training time                  {training:8.1f} s   <= 180 s")
    print(f"model load time                {load_s:8.1f} s   <= 15 s")
    print(f"classify throughput            {classify_lines / classify_s:8.0f} /s   (incl. load, {classify_lines} lines)")
    print(f"turn latency p50               {statistics.median(latencies):8.1f} ms  <= 30 ms")
    print(f"turn latency p95               {percentile(latencies, 95):8.1f} ms  <= 60 ms")
    print(f"turn latency p99               {percentile(latencies, 99):8.1f} ms")
    print(f"full garbage collection        {gc_pause_ms:8.1f} ms  (every turn in flight waits for it)")
    print(f"peak memory (assistant)        {peak_mb:8.0f} MB  <= 1200 MB")
    print(f"peak memory (train/classify)   {child_peak_mb:8.0f} MB")

    from bench import web

    web.run(assistant)
    if "--no-load" not in sys.argv:
        from bench import load

        load.run(assistant)  # PostgreSQL + Redis, one and two replicas (bench/load.py)
    return 0


if __name__ == "__main__":
    sys.exit(main())
