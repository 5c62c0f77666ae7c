#!/usr/bin/env python3
"""What Chromium alone costs for the demo flow's page loads, without throng.

A minimal CDP client (one websocket, no chromiumoxide, no step logic, no metrics) drives
chromium-headless-shell with throng's launch switches through the demo shop's pages: each
session opens an isolated context, loads home, search, product, login and home with a
think time between loads, disposes the context and starts again. It prints, per session
count, the page loads done, load p50 (navigate sent -> load event, client side), and
Chromium's CPU per page load (perf stat task-clock over every Chromium process).

This is the floor for `bench/browser-scale.sh`: if Chromium driven this cheaply cannot
keep p50 within 2x of one session's at N sessions, no client can.

Usage: bench/browser-floor.py [--profile NAME] [--duration 40] [N ...]
  instrumented (default): Page, Network and Runtime enabled (what throng must listen to),
      a new context every 5 loads, normal rendering.
  floor: only Page enabled (for the load event), one context per session for the whole
      run, and no frames at all (--enable-begin-frame-control, never begun): no paint, so
      no FCP/LCP. A lower bound no real measurement can reach.
  one-context, no-frames: instrumented with only one of floor's departures each.
Env: THINK (3.8 s mean, +-30%; with the load time this matches shop.json's rate of about
0.25 page loads per session per second), THRONG (target/release/throng), PORT (18090).
Needs python3 with `websockets` (pip install websockets) and perf.
"""
import argparse
import asyncio
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

try:
    import websockets
except ImportError:
    sys.exit("bench/browser-floor.py needs the websockets module: pip install websockets")

PAGES = ["/", "/search?q=lamp", "/product/3", "/login", "/"]
# throng's launch switches (src/replay/browser/process.rs, chrome_args), headless, as root.
SWITCHES = """--no-first-run --no-default-browser-check --disable-background-networking
--disable-background-timer-throttling --disable-backgrounding-occluded-windows
--disable-renderer-backgrounding --disable-breakpad --disable-client-side-phishing-detection
--disable-component-update --disable-default-apps --disable-dev-shm-usage --disable-extensions
--disable-sync --disable-hang-monitor --disable-ipc-flooding-protection --disable-popup-blocking
--disable-prompt-on-repost --metrics-recording-only --password-store=basic --use-mock-keychain
--mute-audio --hide-scrollbars --disable-site-isolation-trials --headless --no-sandbox
--disable-features=IsolateOrigins,site-per-process,Translate,MediaRouter,OptimizationHints,AutofillServerCommunication,CertificateTransparencyComponentUpdater,InterestFeedContentSuggestions,DialMediaRouteProvider,HttpsUpgrades""".split()
PROFILES = {
    "instrumented": {"domains": ["Page", "Network", "Runtime"], "per_context": 5, "args": []},
    # Each of the two departures from throng's rules alone, to see what each one is worth.
    "one-context": {"domains": ["Page", "Network", "Runtime"], "per_context": 10**9, "args": []},
    "no-frames": {"domains": ["Page", "Network", "Runtime"], "per_context": 5,
                  "args": ["--enable-begin-frame-control"]},
    "floor": {"domains": ["Page"], "per_context": 10**9, "args": ["--enable-begin-frame-control"]},
}


class Cdp:
    """One browser websocket; flat sessions; replies matched by id, events by queue."""

    def __init__(self, ws):
        self.ws, self.next_id, self.replies, self.queues = ws, 0, {}, {}

    async def read(self):
        async for raw in self.ws:
            msg = json.loads(raw)
            if "id" in msg:
                fut = self.replies.pop(msg["id"], None)
                if fut and not fut.done():
                    fut.set_result(msg)
            else:
                q = self.queues.get((msg.get("sessionId"), msg["method"]))
                if q:
                    q.put_nowait(msg)

    async def call(self, method, params=None, session=None):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        fut = asyncio.get_running_loop().create_future()
        self.replies[self.next_id] = fut
        await self.ws.send(json.dumps(msg))
        reply = await asyncio.wait_for(fut, 30)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply.get("result", {})


async def user(cdp, base, profile, think, stop, stats):
    while time.time() < stop:
        ctx = (await cdp.call("Target.createBrowserContext"))["browserContextId"]
        target = await cdp.call("Target.createTarget", {"url": "about:blank", "browserContextId": ctx})
        attach = {"targetId": target["targetId"], "flatten": True}
        sid = (await cdp.call("Target.attachToTarget", attach))["sessionId"]
        loads = asyncio.Queue()
        cdp.queues[(sid, "Page.loadEventFired")] = loads
        for domain in profile["domains"]:
            params = {"maxTotalBufferSize": 0, "maxResourceBufferSize": 0} if domain == "Network" else {}
            await cdp.call(f"{domain}.enable", params, sid)
        done = 0
        while done < profile["per_context"] and time.time() < stop:
            started = time.time()
            await cdp.call("Page.navigate", {"url": base + PAGES[done % len(PAGES)]}, sid)
            await asyncio.wait_for(loads.get(), 30)
            stats["ms"].append(1000 * (time.time() - started))
            done += 1
            await asyncio.sleep(think * random.uniform(0.7, 1.3))
        await cdp.call("Target.disposeBrowserContext", {"browserContextId": ctx})
        del cdp.queues[(sid, "Page.loadEventFired")]


async def one_count(n, secs, base, profile, think):
    profile_dir = tempfile.mkdtemp(prefix="throng-floor.")
    perf_out = os.path.join(profile_dir, "perf.csv")
    chrome = "/usr/lib/chromium/chromium-headless-shell"
    if not os.path.exists(chrome):
        chrome = "chromium-headless-shell"
    cmd = ["perf", "stat", "-x,", "-e", "task-clock", "-o", perf_out, "--", chrome,
           "--remote-debugging-port=0", f"--user-data-dir={profile_dir}"]
    cmd += SWITCHES + profile["args"] + ["about:blank"]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    url = None
    while url is None:
        line = proc.stderr.readline()
        if not line:
            sys.exit("chromium-headless-shell exited at start")
        m = re.search(r"(ws://\S+)", line)
        url = m.group(1) if m else None
    # Chromium keeps writing to stderr: drain it, or it blocks once the pipe is full.
    threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
    stats = {"ms": []}
    errors = []
    async with websockets.connect(url, max_size=None) as ws:
        cdp = Cdp(ws)
        reader = asyncio.create_task(cdp.read())
        stop = time.time() + secs
        users = []
        for _ in range(n):  # a 5 s ramp, as a person would arrive
            users.append(asyncio.create_task(user(cdp, base, profile, think, stop, stats)))
            await asyncio.sleep(min(5.0 / n, 0.5))
        for r in await asyncio.gather(*users, return_exceptions=True):
            if isinstance(r, Exception):
                errors.append(repr(r))
        try:
            await asyncio.wait_for(cdp.call("Browser.close"), 5)
        except Exception:
            proc.terminate()
        reader.cancel()
    proc.wait(timeout=30)
    with open(perf_out) as f:
        cpu_ms = next(float(l.split(",")[0]) for l in f if "task-clock" in l)
    ms = sorted(stats["ms"])
    pct = lambda q: ms[min(len(ms) - 1, int(q * len(ms)))] if ms else 0.0
    return len(ms), pct(0.5), pct(0.95), cpu_ms, errors


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--profile", choices=PROFILES, default="instrumented")
    ap.add_argument("--duration", type=float, default=40.0)
    ap.add_argument("counts", nargs="*", type=int, default=[1, 10, 20, 25, 30, 40, 50])
    args = ap.parse_args()
    think = float(os.environ.get("THINK", "3.8"))
    port = int(os.environ.get("PORT", "18090"))
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    throng = os.environ.get("THRONG", os.path.join(root, "target/release/throng"))
    demo = subprocess.Popen([throng, "demo-site", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(50):
            try:
                urllib.request.urlopen(base + "/__stats", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        print(f"profile {args.profile}, {args.duration:.0f} s per count, think {think} s")
        print(f"{'sessions':>8} {'loads':>6} {'p50_ms':>7} {'p95_ms':>7} {'x_single':>8} {'cores':>6} {'ms_cpu/ld':>9} errors")
        single = None
        for n in args.counts:
            loads, p50, p95, cpu_ms, errors = asyncio.run(
                one_count(n, args.duration, base, PROFILES[args.profile], think))
            single = single or p50
            print(f"{n:>8} {loads:>6} {p50:>7.0f} {p95:>7.0f} {p50 / single:>8.2f} "
                  f"{cpu_ms / 1000 / args.duration:>6.2f} {cpu_ms / max(loads, 1):>9.0f} "
                  f"{len(errors)} {errors[:1] if errors else ''}", flush=True)
    finally:
        demo.terminate()


if __name__ == "__main__":
    main()
