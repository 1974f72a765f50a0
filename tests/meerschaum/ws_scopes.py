"""The logs WebSocket with a read-only token: lines come, but what it sends never
reaches the job's input; and a revoked token's open socket is closed.

Usage: python ws_scopes.py URL READ_TOKEN JOB
Prints "sent" once the read-only socket has sent its line, then waits for the
job's answer (the caller sends the real input through the stdin route) and
prints the line the job got; then waits for the socket to be closed after the
caller revokes the token, and prints "closed".
"""

import sys
import urllib.parse

from websockets.sync.client import connect


def main():
    url, token, job = sys.argv[1], sys.argv[2], sys.argv[3]
    parsed = urllib.parse.urlparse(url)
    with connect(f"ws://{parsed.hostname}:{parsed.port}/logs/{job}/ws") as ws:
        ws.send(token)
        ws.send("from the reader")
        print("sent", flush=True)
        while True:
            frame = ws.recv(timeout=30)
            if frame.startswith("got "):
                print(frame, flush=True)
                break
        # The caller revokes the token now: the socket is closed within seconds.
        try:
            while True:
                ws.recv(timeout=15)
        except TimeoutError:
            print("still open after 15 s", flush=True)
        except Exception as e:
            print("closed", type(e).__name__, flush=True)


main()
