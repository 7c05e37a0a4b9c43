"""Soak load for Locksmith (driven by scripts/soak.sh): mixed traffic for a fixed time,
sampling the server every few seconds, then judging the run.

Traffic, all at once: verifications (valid, unknown and revoked keys), management calls
(create, read, update, list, revoke keys; read the audit trail) and portal pages. Samples:
resident memory, open file descriptors, the database connections of the server's
database, requests per second and the p99 latency of the window (from the server's own
histogram). The run passes when no request failed (no 5xx, no connection error, no
unexpected status) and memory, descriptors and connections are flat after warm-up.
"""

import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

BASE = os.environ["SOAK_BASE"]
PID = int(os.environ["SOAK_PID"])
SECONDS = int(os.environ["SOAK_SECONDS"])
SAMPLE_EVERY = max(2, SECONDS // 30)
DATABASE_URL = os.environ["SOAK_DATABASE_URL"]
TOKEN = os.environ["SOAK_ADMIN_TOKEN"]
VERIFIER = os.environ["SOAK_VERIFIER_TOKEN"]
KEYSPACE = os.environ["SOAK_KEYSPACE_ID"]

errors = []
counts = {"verify": 0, "manage": 0, "portal": 0}
lock = threading.Lock()
stop = threading.Event()


def call(method, path, body=None, token=None, expect=(200,)):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(BASE + path, data=data, method=method)
    if body is not None:
        request.add_header("content-type", "application/json")
    if token:
        request.add_header("authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, payload = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, payload = error.code, error.read()
    except Exception as error:  # a refused or dropped connection, a timeout
        with lock:
            errors.append(f"{method} {path}: {error}")
        return None
    if status not in expect:
        with lock:
            errors.append(f"{method} {path}: {status} {payload[:200]!r}")
        return None
    return json.loads(payload) if payload and payload[:1] in (b"{", b"[") else payload


def new_key(name):
    return call("POST", "/v1/keys", {"keyspace_id": KEYSPACE, "name": name,
                                     "rate_limit": {"limit": 1000000, "window_seconds": 60}},
                TOKEN, expect=(201,))


def verifications():
    valid = new_key("soak valid")["key"]
    revoked = new_key("soak revoked")
    call("POST", f"/v1/keys/{revoked['id']}/revoke", {}, TOKEN)
    unknown = valid[:-8] + "AAAAAAAA"
    keys = [valid] * 18 + [revoked["key"], unknown]
    i = 0
    while not stop.is_set():
        answer = call("POST", "/v1/verify", {"key": keys[i % len(keys)]}, VERIFIER)
        if answer is not None and keys[i % len(keys)] == valid and answer.get("code") != "VALID":
            with lock:
                errors.append(f"valid key answered {answer.get('code')}")
        i += 1
        with lock:
            counts["verify"] += 1


def management():
    n = 0
    while not stop.is_set():
        key = new_key(f"soak managed {n}")
        if key:
            call("GET", f"/v1/keys/{key['id']}", token=TOKEN)
            call("PATCH", f"/v1/keys/{key['id']}", {"name": f"soak managed {n} (renamed)"}, TOKEN)
            call("GET", "/v1/keys?limit=20", token=TOKEN)
            call("GET", f"/v1/keys/{key['id']}/usage", token=TOKEN)
            call("POST", f"/v1/keys/{key['id']}/revoke", {"reason": "soak"}, TOKEN)
            call("GET", "/v1/audit?limit=20", token=TOKEN)
        n += 1
        with lock:
            counts["manage"] += 7


def portal():
    while not stop.is_set():
        call("GET", "/login")
        call("GET", "/", expect=(200, 303))
        call("GET", "/docs")
        with lock:
            counts["portal"] += 3


def rss_kib():
    with open(f"/proc/{PID}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def fds():
    return len(os.listdir(f"/proc/{PID}/fd"))


def db_connections():
    database = DATABASE_URL.rsplit("/", 1)[1].split("?")[0]
    server = DATABASE_URL.rsplit("/", 1)[0] + "/postgres"
    out = subprocess.run(["psql", server, "-qAtc",
                          f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{database}'"],
                         capture_output=True, text=True, check=True)
    return int(out.stdout.strip())


def histogram():
    """Cumulative request-duration buckets of the server, summed over routes."""
    text = call("GET", "/metrics")
    buckets = {}
    for line in (text or b"").decode().splitlines():
        if line.startswith("http_request_duration_seconds_bucket{"):
            le = line.split('le="')[1].split('"')[0]
            buckets[le] = buckets.get(le, 0) + float(line.rsplit(" ", 1)[1])
    return buckets


def p99_ms(before, after):
    deltas = sorted(((float("inf") if le == "+Inf" else float(le)), after[le] - before.get(le, 0))
                    for le in after)
    total = deltas[-1][1] if deltas else 0
    if total <= 0:
        return 0.0, 0
    for le, count in deltas:
        if count >= 0.99 * total:
            return le * 1000, int(total)
    return float("inf"), int(total)


def main():
    workers = [threading.Thread(target=verifications) for _ in range(4)]
    workers += [threading.Thread(target=management), threading.Thread(target=portal)]
    for worker in workers:
        worker.start()
    samples = []
    started = time.monotonic()
    previous = histogram()
    print(f"{'t (s)':>6} {'RSS MiB':>8} {'fds':>5} {'db conns':>8} {'req/s':>7} {'p99 ms':>7}")
    while time.monotonic() - started < SECONDS:
        time.sleep(SAMPLE_EVERY)
        current = histogram()
        p99, requests = p99_ms(previous, current)
        previous = current
        sample = (round(time.monotonic() - started), rss_kib() / 1024, fds(), db_connections(),
                  requests / SAMPLE_EVERY, p99)
        samples.append(sample)
        print(f"{sample[0]:>6} {sample[1]:>8.1f} {sample[2]:>5} {sample[3]:>8} {sample[4]:>7.0f} {sample[5]:>7.2f}",
              flush=True)
    stop.set()
    for worker in workers:
        worker.join()

    warm = samples[max(0, len(samples) // 5 - 1)]
    last = samples[-1]
    peak_rss = max(s[1] for s in samples[len(samples) // 5:])
    print(f"soak: {SECONDS} s, {counts['verify']} verifications, {counts['manage']} management calls, "
          f"{counts['portal']} portal pages; errors: {len(errors)}")
    print(f"soak: RSS {warm[1]:.1f} MiB after warm-up, {last[1]:.1f} MiB at the end (peak {peak_rss:.1f}); "
          f"fds {warm[2]} -> {last[2]}; db connections {warm[3]} -> {last[3]}; "
          f"p99 {min(s[5] for s in samples):.2f}-{max(s[5] for s in samples):.2f} ms")
    failures = list(errors[:10])
    # Flat: the end within a fifth (and 16 MiB) of the warmed-up size; the tables grow a
    # little all along (keys, audit rows), the process must not.
    if last[1] > warm[1] * 1.2 + 16:
        failures.append(f"memory grew from {warm[1]:.1f} to {last[1]:.1f} MiB")
    if last[2] > warm[2] + 16:
        failures.append(f"file descriptors grew from {warm[2]} to {last[2]}")
    # The pool's size, plus the invalidation listener and one spare.
    if last[3] > int(os.environ.get("LOCKSMITH_DB_MAX_CONNECTIONS", "10")) + 2:
        failures.append(f"database connections grew from {warm[3]} to {last[3]}")
    if failures:
        print("soak FAILED:\n  " + "\n  ".join(failures))
        sys.exit(1)
    print("soak passed")


if __name__ == "__main__":
    main()
