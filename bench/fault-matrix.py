#!/usr/bin/env python3
"""The fault matrix: the release binary against every hostile target, one run each.

For each fault a 5-user, 5 s HTTP run (`throng run http://127.0.0.1:PORT/ -u 5 -d 5s`) goes
against a loopback server that misbehaves in one way: refused, reset, stall, head-then-stall,
garbage, bad chunking, huge headers, redirect loop, gzip bomb (1 GB of zeros), a 200 MB body,
a huge Content-Length. Printed per fault: wall time (the bound is duration + grace + 2 s =
7 s), peak RSS (ru_maxrss of the throng process; the bound is 512 MB), exit code (0, or 1
when every session failed), panics, requests, and failures by category (from results.json).
Exit status 1 if any bound fails.

Usage: flock /tmp/throng-bench.lock bench/fault-matrix.py [--users 5] [--duration 5]
Env: THRONG (default: builds target-bench/release/throng), KEEP=1 keeps the output dirs.
Needs only python3.
"""
import argparse
import asyncio
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BOMB_BYTES = 1 << 30
BIG_BODY = 200 << 20
CHUNK = b"x" * (1 << 16)


def gzip_bomb(path):
    """1 GiB of zeros, gzip-encoded (about 1 MB), cached in /tmp."""
    if os.path.exists(path):
        return open(path, "rb").read()
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(1 << 20)
    out = [comp.compress(zeros) for _ in range(BOMB_BYTES >> 20)]
    out.append(comp.flush())
    data = b"".join(out)
    with open(path, "wb") as f:
        f.write(data)
    return data


async def read_head(reader):
    try:
        await reader.readuntil(b"\r\n\r\n")
        return True
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        return False


def make_handler(fault, bomb):
    counter = {"n": 0}

    async def handle(reader, writer):
        try:
            while await read_head(reader):
                if fault == "reset":
                    sock = writer.get_extra_info("socket")
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    writer.transport.abort()
                    return
                if fault == "stall":
                    await asyncio.sleep(3600)
                if fault == "head-then-stall":
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\npart")
                    await writer.drain()
                    await asyncio.sleep(3600)
                if fault == "garbage":
                    writer.write(os.urandom(512) + b"\r\n\r\n")
                elif fault == "bad-chunking":
                    writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                 b"ffffffffffffffff\r\nabc")
                elif fault == "huge-headers":
                    head = b"HTTP/1.1 200 OK\r\n" + b"".join(
                        b"X-Filler-%d: %s\r\n" % (i, b"y" * 48) for i in range(20000))
                    writer.write(head + b"Content-Length: 0\r\n\r\n")
                elif fault == "redirect-loop":
                    counter["n"] += 1
                    writer.write(b"HTTP/1.1 302 Found\r\nLocation: /loop?n=%d\r\n"
                                 b"Content-Length: 0\r\n\r\n" % counter["n"])
                    await writer.drain()
                    continue
                elif fault == "gzip-bomb":
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n"
                                 b"Content-Length: %d\r\n\r\n" % len(bomb))
                    writer.write(bomb)
                elif fault == "200MB-body":
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % BIG_BODY)
                    for _ in range(BIG_BODY // len(CHUNK)):
                        writer.write(CHUNK)
                        await writer.drain()
                elif fault == "huge-content-length":
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551615"
                                 b"\r\n\r\nabc")
                await writer.drain()
                break
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    return handle


FAULTS = ["refused", "reset", "stall", "head-then-stall", "garbage", "bad-chunking",
          "huge-headers", "redirect-loop", "gzip-bomb", "200MB-body", "huge-content-length"]


def start_servers(bomb):
    """Every fault server on its own loopback port, in a background event loop."""
    loop = asyncio.new_event_loop()
    ports = {}
    ready = threading.Event()

    async def main():
        for fault in FAULTS:
            if fault == "refused":
                s = socket.socket()
                s.bind(("127.0.0.1", 0))
                ports[fault] = s.getsockname()[1]
                s.close()  # nothing listens there
                continue
            server = await asyncio.start_server(make_handler(fault, bomb), "127.0.0.1", 0,
                                                limit=1 << 20)
            ports[fault] = server.sockets[0].getsockname()[1]
        ready.set()
        await asyncio.Event().wait()

    threading.Thread(target=lambda: loop.run_until_complete(main()), daemon=True).start()
    ready.wait()
    return ports


def throng_bin():
    if os.environ.get("THRONG"):
        return os.environ["THRONG"]
    target = os.environ.get("CARGO_TARGET_DIR", "/work/target-bench")
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True,
                   env={**os.environ, "CARGO_TARGET_DIR": target})
    return os.path.join(target, "release", "throng")


def run_one(binary, port, users, duration, out):
    cmd = [binary, "run", f"http://127.0.0.1:{port}/", "-u", str(users), "-d", f"{duration}s",
           "-q", "--out", out]
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    took = time.monotonic() - started
    stderr = proc.stderr.read().decode(errors="replace")
    code = os.waitstatus_to_exitcode(status)
    results = {}
    path = os.path.join(out, "results.json")
    if os.path.exists(path):
        with open(path) as f:
            results = json.load(f)
    return took, usage.ru_maxrss / 1024, code, stderr, results


def categories(results):
    """Requests, their failures by category, and page-load failures by category."""
    cats, pages, requests = {}, {}, 0
    for e in results.get("summary", {}).get("entries", []):
        kind = e.get("kind")
        into = cats if kind in ("document", "static", "ajax", "polling", "beacon", "other") \
            else pages if kind == "page-load" else None
        if into is None:
            continue
        if into is cats:
            requests += e.get("count", 0)
        for k, v in e.get("failures_by_outcome", {}).items():
            into[k] = into.get(k, 0) + v
    return requests, cats, pages


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=5)
    ap.add_argument("--duration", type=int, default=5)
    args = ap.parse_args()
    binary = throng_bin()
    bomb = gzip_bomb("/tmp/throng-gzip-bomb-1g.gz")
    ports = start_servers(bomb)
    bound_s, bound_mb = args.duration + 2, 512
    work = tempfile.mkdtemp(prefix="throng-faults-")
    print(f"throng {binary}; {args.users} users, {args.duration} s, grace 0 s; "
          f"bounds: {bound_s} s, {bound_mb} MB")
    print("| target | ends after | peak RSS | exit | panics | requests | request failures "
          "| page-load failures | sessions failed |")
    print("|---|---:|---:|---:|---:|---:|---|---|---:|")
    ok = True
    for fault in FAULTS:
        out = os.path.join(work, fault)
        took, rss, code, stderr, results = run_one(binary, ports[fault], args.users,
                                                   args.duration, out)
        requests, cats, pages = categories(results)
        counters = results.get("summary", {}).get("counters", {})
        panics = counters.get("users.panicked", 0)
        if "panicked" in stderr:
            panics = max(panics, 1)
        # Exit 1 is the verdict on a run whose every session failed (it names the failure).
        clean_exit = code == 0 or (code == 1 and "every session failed" in stderr)
        passed = (took <= bound_s and rss < bound_mb and panics == 0 and clean_exit
                  and (cats or pages))
        ok &= bool(passed)
        text = lambda c: ", ".join(f"{k} {v}" for k, v in sorted(c.items())) or "-"
        mark = "" if passed else " **FAIL**"
        print(f"| {fault}{mark} | {took:.2f} s | {rss:.0f} MB | {code} | {panics} | "
              f"{requests} | {text(cats)} | {text(pages)} | "
              f"{counters.get('sessions.failed', 0)} |")
        if not clean_exit:
            print(f"    stderr: {stderr.strip().splitlines()[-1:]}")
    # Ctrl-C against a stalled target: a 10-minute plan, SIGINT after 2 s.
    cmd = [binary, "run", f"http://127.0.0.1:{ports['stall']}/", "-u", str(args.users),
           "-d", "600s", "-q", "--out", os.path.join(work, "ctrl-c")]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(2)
    pressed = time.monotonic()
    proc.send_signal(2)
    proc.wait()
    took = time.monotonic() - pressed
    ok &= took <= 2.0
    print(f"\nCtrl-C on a run against `stall`: exited {took:.2f} s after SIGINT "
          f"(exit {proc.returncode}; bound 2 s){'' if took <= 2.0 else ' **FAIL**'}")
    if not os.environ.get("KEEP"):
        shutil.rmtree(work, ignore_errors=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
