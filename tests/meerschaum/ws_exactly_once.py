"""Followers of the logs WebSocket joining while a job writes fast each see every
line exactly once, in order, then the stop message and the job's result.

Usage: python ws_exactly_once.py URL TOKEN JOB LINES FOLLOWERS
"""

import asyncio
import json
import sys
import urllib.parse

import websockets


async def follow(uri, token, delay):
    await asyncio.sleep(delay)
    seen = []
    async with websockets.connect(uri, max_queue=None) as ws:
        await ws.send(token)
        while True:
            frame = await asyncio.wait_for(ws.recv(), timeout=60)
            if frame == "MRSM_STOP":
                result = json.loads(await asyncio.wait_for(ws.recv(), timeout=10))
                return seen, result
            if frame.startswith("n"):
                seen.append(frame)


async def main():
    url, token, job, lines, followers = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    parsed = urllib.parse.urlparse(url)
    uri = f"ws://{parsed.hostname}:{parsed.port}/logs/{job}/ws"
    # Staggered: each joins at another point of the job's output.
    results = await asyncio.gather(*(follow(uri, token, 0.15 * i) for i in range(followers)))
    want = [f"n{i}" for i in range(1, lines + 1)]
    for i, (seen, result) in enumerate(results):
        if seen != want:
            extra = len(seen) - len(set(seen))
            print(f"FAIL follower {i}: {len(seen)} lines, {extra} repeated, first difference at "
                  f"{next((k for k, (a, b) in enumerate(zip(seen, want)) if a != b), min(len(seen), len(want)))}")
            sys.exit(1)
        if result[0] is not True:
            print(f"FAIL follower {i}: result {result}")
            sys.exit(1)
    print(f"ok {followers} followers saw {lines} lines each exactly once")


asyncio.run(main())
