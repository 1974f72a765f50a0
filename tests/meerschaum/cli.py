"""Meerschaum 4.1.7's own command line, pointed at `mrsm serve` as the instance
`api:srv`: creates a job with its `sh` action and `-d`, lists it, reads its logs,
stops and deletes it, each as its own `mrsm` process. Prints one line per check;
exits non-zero on the first failure.

Usage: python cli.py URL API_KEY MEERSCHAUM_MRSM
"""

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.parse

import meerschaum as mrsm

from checks import check, wait

TIMEOUT = 60


def run(cli, *args):
    # Output to a file, not a pipe: a daemon holding an inherited pipe open must not
    # turn the wait for the command into a wait for the pipe's end.
    with tempfile.TemporaryFile("w+") as output:
        code = subprocess.run(
            [cli, *args], stdout=output, stderr=subprocess.STDOUT, timeout=TIMEOUT,
            stdin=subprocess.DEVNULL,
        ).returncode
        output.seek(0)
        return code, output.read()


def main():
    url, api_key, cli = sys.argv[1], sys.argv[2], sys.argv[3]
    parsed = urllib.parse.urlparse(url)
    attributes = {
        "host": parsed.hostname,
        "port": parsed.port,
        "protocol": parsed.scheme,
        "api_key": api_key,
    }
    # Meerschaum reads connectors from MRSM_<TYPE>_<LABEL> (a URI or JSON attributes).
    os.environ["MRSM_API_SRV"] = json.dumps(attributes)
    conn = mrsm.get_connector("api", "srvcheck", **attributes)

    def status():
        conn._job_metadata_cache = {}
        jobs = conn.get_jobs()
        return jobs["j"].status if "j" in jobs else None

    # -y: without a terminal, Meerschaum's own "Create new job 'j'?" is answered no.
    code, out = run(
        cli, "sh", "echo hello from the meerschaum cli; sleep 60", "-d", "-y", "--name", "j", "-e", "api:srv"
    )
    check("mrsm sh '…' -d -y --name j -e api:srv exits 0", code == 0, out[-800:])
    wait("j runs on the server", lambda: status() == "running")

    code, out = run(cli, "show", "jobs", "-e", "api:srv")
    check("show jobs -e api:srv lists j", code == 0 and "j" in out, out[-800:])

    # `show logs` follows for ever: read until the line comes, then end it.
    follower = subprocess.Popen(
        [cli, "show", "logs", "j", "-e", "api:srv"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        seen = []
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            line = follower.stdout.readline()
            if not line:
                break
            seen.append(line)
            if "hello from the meerschaum cli" in line:
                break
        check(
            "show logs j -e api:srv prints what the job printed",
            any("hello from the meerschaum cli" in line for line in seen),
            "".join(seen)[-800:],
        )
    finally:
        follower.kill()
        follower.wait()

    code, out = run(cli, "stop", "jobs", "j", "-y", "-e", "api:srv")
    check("stop jobs j -y -e api:srv exits 0", code == 0, out[-800:])
    check("j is stopped on the server", wait("j stopped", lambda: status() == "stopped"))

    code, out = run(cli, "delete", "jobs", "j", "-y", "-e", "api:srv")
    check("delete jobs j -y -e api:srv exits 0", code == 0, out[-800:])
    check("j is gone from the server", wait("j gone", lambda: status() is None))

    print("all checks passed", flush=True)


if __name__ == "__main__":
    main()
