#!/usr/bin/env python3
"""Hostile peers (issue 21): what an attacker on loopback costs a throng binary.

Runs each attack against THRONG (default target/debug/throng) and prints one line per
measure; run it once with the binary before the fixes and once after to compare:

- remote write, a receiver that never answers: wall time of a 5 s run;
- remote write, a receiver answering 500 with an 8 GiB body: peak RSS, exit code;
- `throng report` on a 3 KB results.json whose histogram header announces 4 GiB: peak RSS;
- 2000 half-sent requests held on `--metrics`: throng's descriptors and RSS, and whether a
  real scrape is answered within 5 s.

Every throng process runs under `prlimit --as=2GiB`, so an attack that works aborts it
instead of filling the machine (a "2 GiB cap" result means: it tried to take more).
Usage: THRONG=path bench/hostile-peers.py    (take flock /tmp/throng-bench.lock around it)
"""
import base64
import json
import os
import resource
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

THRONG = os.environ.get("THRONG", "target/debug/throng")
CAP = 2 << 30


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def throng(args, **kw):
    return subprocess.Popen(
        ["prlimit", f"--as={CAP}", THRONG] + args,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def peak_rss_mb(proc):
    """Polls VmHWM until the process ends; returns (exit code, peak MB, stderr)."""
    peak = 0.0
    while proc.poll() is None:
        try:
            with open(f"/proc/{proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]) / 1024)
        except OSError:
            pass
        time.sleep(0.02)
    return proc.returncode, peak, proc.stderr.read()


def serve(handler):
    """A TCP server on a free port calling handler(conn) per connection (threads)."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(4096)

    def loop():
        while True:
            c, _ = s.accept()
            threading.Thread(target=handler, args=(c,), daemon=True).start()
    threading.Thread(target=loop, daemon=True).start()
    return s.getsockname()[1]


def hang(c):
    c.recv(65536)
    time.sleep(600)


def endless_500(c):
    c.recv(65536)
    try:
        c.sendall(b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 8589934592\r\n\r\n")
        chunk = b"x" * 65536
        for _ in range((8 << 30) // len(chunk)):
            c.sendall(chunk)
    except OSError:
        pass


def site():
    port = free_port()
    p = subprocess.Popen([THRONG, "demo-site", "--port", str(port)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1)
    return p, f"http://127.0.0.1:{port}/"


def remote_write(target):
    out = tempfile.mkdtemp()
    port = serve(hang)
    t0 = time.time()
    p = throng(["run", target, "-d", "5s", "-q", "--out", out, "--remote-write",
                f"http://127.0.0.1:{port}/api/v1/write"])
    code, _, _ = peak_rss_mb(p)
    print(f"remote write, hanging receiver: 5 s run took {time.time() - t0:.1f} s (exit {code})")
    port = serve(endless_500)
    p = throng(["run", target, "-d", "5s", "-q", "--out", out, "--remote-write",
                f"http://127.0.0.1:{port}/api/v1/write", "--remote-write-interval", "1s"])
    code, peak, err = peak_rss_mb(p)
    capped = " (hit the 2 GiB cap)" if code not in (0, 3) else ""
    print(f"remote write, 8 GiB error body: peak RSS {peak:.0f} MB, exit {code}{capped}")


def histogram_bomb():
    header = struct.pack(">IIIIQQd", 0x1C849313, 0xFFFFFFFF, 0, 3, 1, 3_600_000_000, 1.0)
    text = base64.b64encode(header).decode()
    entry = {"mode": "http", "flow": "f", "step": 1, "kind": "document", "name": "GET http://h/",
             "count": 1, "failures": 0, "failures_by_outcome": {}, "bytes": 1, "rps": 1.0,
             "latency": {k: 1.0 for k in ["p50_ms", "p90_ms", "p95_ms", "p99_ms", "max_ms",
                                          "mean_ms"]},
             "histogram": text}
    results = {"summary": {"started_unix_ms": 1, "duration_ms": 1000, "peak_users": 1,
                           "entries": [entry] * 8, "series": [], "counters": {}}}
    path = os.path.join(tempfile.mkdtemp(), "results.json")
    with open(path, "w") as f:
        json.dump(results, f)
    p = throng(["report", path])
    code, peak, err = peak_rss_mb(p)
    size = os.path.getsize(path)
    print(f"throng report, {size} B results.json with a 4 GiB histogram header: "
          f"peak RSS {peak:.0f} MB, exit {code}: {err.strip().splitlines()[-1][:100]}")


def slowloris(target, n=2000):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    port = free_port()
    p = throng(["run", target, "-d", "60s", "-q", "--metrics", f"127.0.0.1:{port}"])
    time.sleep(2)
    held = []
    for _ in range(n):
        s = socket.socket()
        s.settimeout(2)
        try:
            s.connect(("127.0.0.1", port))
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            held.append(s)
        except OSError:
            break
    time.sleep(1)
    fds = len(os.listdir(f"/proc/{p.pid}/fd"))
    with open(f"/proc/{p.pid}/status") as f:
        rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:")) / 1024
    ok = "no answer"
    try:
        c = socket.create_connection(("127.0.0.1", port), timeout=5)
        c.settimeout(5)
        c.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        ok = c.recv(64).split(b"\r\n")[0].decode()
    except OSError as e:
        ok = f"failed: {e}"
    print(f"{len(held)} half-sent requests on --metrics: throng holds {fds} descriptors, "
          f"RSS {rss:.0f} MB; a real scrape: {ok}")
    p.kill()
    for s in held:
        s.close()


def main():
    print(f"binary: {THRONG}")
    demo, target = site()
    try:
        remote_write(target)
        histogram_bomb()
        slowloris(target)
    finally:
        demo.kill()


if __name__ == "__main__":
    sys.exit(main())
