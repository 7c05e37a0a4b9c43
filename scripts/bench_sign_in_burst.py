"""A burst of sign-ins against one Locksmith: what it costs the server.

Fires BURST_SIZE sign-ins at once (each with its own unknown email and a wrong password,
so that no lockout counter stops them early; the address rate is turned off by the
caller), while a probe asks /healthz every 20 ms. Prints one JSON line: the answers by
status, how long the burst took, the server's peak memory over its memory before the
burst (VmHWM - VmRSS, from /proc), and the probe's latencies (what every other request
of the instance waits meanwhile).
"""

import json
import os
import statistics
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

BASE = os.environ["BURST_BASE"]
PID = int(os.environ["BURST_PID"])
SIZE = int(os.environ.get("BURST_SIZE", "200"))


def status_kib(field):
    with open(f"/proc/{PID}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def sign_in(i, barrier):
    body = json.dumps({"email": f"burst{i}@example.com", "password": "wrong password, again"}).encode()
    req = urllib.request.Request(f"{BASE}/v1/auth/token", data=body, headers={"content-type": "application/json"})
    barrier.wait()
    started = time.monotonic()
    try:
        with urllib.request.urlopen(req, timeout=120) as res:
            status = res.status
    except urllib.error.HTTPError as e:
        status = e.code
    return status, time.monotonic() - started


def probe(stop, latencies):
    while not stop.is_set():
        started = time.monotonic()
        with urllib.request.urlopen(f"{BASE}/healthz", timeout=120) as res:
            res.read()
        latencies.append(time.monotonic() - started)
        time.sleep(0.02)


def main():
    rss_before = status_kib("VmRSS")
    stop, latencies = threading.Event(), []
    prober = threading.Thread(target=probe, args=(stop, latencies))
    prober.start()
    barrier = threading.Barrier(SIZE)
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=SIZE) as pool:
        results = list(pool.map(lambda i: sign_in(i, barrier), range(SIZE)))
    took = time.monotonic() - started
    stop.set()
    prober.join()
    statuses = {}
    for status, _ in results:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    answered = sorted(t for _, t in results)
    print(json.dumps({
        "burst": SIZE,
        "statuses": statuses,
        "burst_seconds": round(took, 2),
        "slowest_answer_seconds": round(answered[-1], 2),
        "peak_memory_over_idle_mib": round((status_kib("VmHWM") - rss_before) / 1024, 1),
        "healthz_p50_ms": round(statistics.median(latencies) * 1000, 1),
        "healthz_max_ms": round(max(latencies) * 1000, 1),
    }))


main()
