#!/usr/bin/env python3
"""mrsm beside its peers: supervisord, pm2, pueue and (optionally) Meerschaum 4.1.7,
on the same workloads, in one run.

    python3 bench/peers.py                      # 3 repetitions, 50 jobs, 200 MB of log
    python3 bench/peers.py --reps 1 --meerschaum
    python3 bench/peers.py --only mrsm,pueue --skip-install --mrsm target/release/mrsm

Needs python3 (with venv and pip), node/npm and cargo. The peers are installed once
into --tools DIR (default target/peers; reused when present): supervisor in
DIR/venv (pip), pm2 in DIR/npm (npm), pueue in DIR/pueue (`cargo install`, several
minutes the first time), Meerschaum in DIR/venv with its run-time packages in
DIR/meerschaum-venvs. Nothing is installed system-wide. Without --mrsm the script
builds target/release/mrsm with cargo. This is not part of CI.

What it measures, per tool and repetition (the order of the tools rotates from one
repetition to the next), with N jobs of `sleep 300` (--jobs, default 50):

1. start: seconds from the first start command until all N `sleep` processes run
   (seen in /proc). "N commands": mrsm `run -d` x N, `pueue add` x N, Meerschaum
   `-d` x N. "one command": mrsm `up -d -f FILE`, `supervisorctl start all` (the
   daemon is already up), `pm2 start ecosystem.json`.
2. stop: seconds from the stop command until no `sleep` is left: mrsm `stop jobs
   NAME...` (and `down` for the set `up -d` started), `supervisorctl stop all`,
   `pm2 stop all`, `pueue kill --all`, Meerschaum `stop jobs -y`.
3. status: median of 10 calls of `mrsm show jobs --json`, `supervisorctl status`,
   `pm2 jlist`, `pueue status --json`, Meerschaum `show jobs`, with the N jobs running.
4. memory of the orchestrator's own processes with the N jobs running, from
   /proc/PID/smaps_rollup: RSS, PSS and USS (Private_Clean + Private_Dirty), in
   total and per job. mrsm and Meerschaum: their per-job processes (everything
   tagged that is not a `sleep`); supervisord: the daemon; pm2: the God daemon;
   pueue: pueued (its per-task `sh -c` wrappers are in the JSON as `wrappers_*`).
5. log throughput: one job writes --log-mb MB (default 200) of 100-byte lines as fast
   as `yes | head` can; seconds from its start until every line is in the tool's log
   file(s) (lines ending in the payload are counted, so stamps and prefixes do not
   matter), and MB/s (higher is better).
6. follow latency: a job prints `PEERS-CLOCK seq time_ns` every 20 ms, 200 lines; the
   tool's follow command (`mrsm show logs -f`, `supervisorctl tail -f`, `pm2 logs
   --raw`, `pueue follow`, Meerschaum `show logs`) is read through a pipe; latency =
   arrival - the time in the line; median and p99.

Every process of a run carries PEERS_TAG=<run>.<tool>.<rep> in its environment
(given to the daemons and commands, inherited by the jobs). "Running" and "left"
above mean tagged `sleep` processes in /proc. At exit (normal, error, Ctrl-C or
SIGTERM) each daemon is stopped nicely, then every process still carrying the run's
tag gets SIGKILL by its pid, and the temporary directories are removed; the script
says how many tagged processes remain (0).

Output: a table of medians over the repetitions (lower is better except the MB/s
row; `x` columns are mrsm/peer), and every repetition's raw numbers, errors, the load
average before and after and the mrsm commit in --out (default
target/peers/results.json). A cell that fails records its error; the run goes on.
"""
import argparse
import atexit
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TAG_VAR = "PEERS_TAG"
RUN_ID = secrets.token_hex(4)
PAYLOAD = b"x" * 99  # with its newline, one 100-byte line
NEEDLE = PAYLOAD + b"\n"
CLOCK_LINES = 200
CLOCK = (
    "import os, sys, time\n"
    "while not os.path.exists(sys.argv[1]):\n"
    "    time.sleep(0.005)\n"
    f"for i in range({CLOCK_LINES}):\n"
    "    os.write(1, f'PEERS-CLOCK {i} {time.time_ns()}\\n'.encode())\n"
    "    time.sleep(0.02)\n"
)
CLOCK_RE = re.compile(rb"PEERS-CLOCK (\d+) (\d+)")
SETTLE = 2.0  # seconds a follower gets to attach before its writer starts
CMD_TIMEOUT = 180  # no single command of a tool may take longer
POLL = 0.02
STALL = 15  # seconds without a new line after which a log is taken to be complete
TOOL_NAMES = ("mrsm", "supervisord", "pm2", "pueue", "file", "meerschaum")


class CellError(Exception):
    """A measurement that could not be made; its message goes into the results."""


# --------------------------------------------------------------------------- /proc


def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def proc_tag(pid):
    """The PEERS_TAG value in a process's environment, or None."""
    env = _read(f"/proc/{pid}/environ")
    if not env:
        return None
    key = TAG_VAR.encode() + b"="
    for item in env.split(b"\0"):
        if item.startswith(key):
            return item[len(key):].decode(errors="replace")
    return None


def proc_comm(pid):
    comm = _read(f"/proc/{pid}/comm")
    return comm.decode(errors="replace").strip() if comm else None


def proc_cmdline(pid):
    cmd = _read(f"/proc/{pid}/cmdline")
    return [a.decode(errors="replace") for a in cmd.split(b"\0") if a] if cmd else []


def pids():
    return [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) != os.getpid()]


def tagged(match):
    """Pids of processes whose tag satisfies `match` (a function of the tag)."""
    out = []
    for pid in pids():
        tag = proc_tag(pid)
        if tag is not None and match(tag):
            out.append(pid)
    return out


def workload(tag, comm="sleep"):
    """Pids of the workload: processes named `comm` carrying exactly `tag` (the
    name is read first, so a scan touches few environments)."""
    return [p for p in pids() if proc_comm(p) == comm and proc_tag(p) == tag]


def run_prefix():
    return f"{RUN_ID}."


def kill_tagged(match, passes=20):
    """SIGKILL by pid every process whose tag satisfies `match`, until none is left;
    returns how many were killed."""
    killed = set()
    for _ in range(passes):
        found = tagged(match)
        if not found:
            break
        for pid in found:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
            except ProcessLookupError:
                pass
        time.sleep(0.05)
    return len(killed)


def memory(pid_list):
    """RSS, PSS and USS in KiB summed over `pid_list`, from smaps_rollup."""
    total = {"rss_kb": 0, "pss_kb": 0, "uss_kb": 0}
    for pid in pid_list:
        text = _read(f"/proc/{pid}/smaps_rollup")
        if text is None:
            raise CellError(f"pid {pid} is gone")
        fields = {}
        for line in text.decode().splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0].endswith(":") and parts[1].isdigit():
                fields[parts[0][:-1]] = int(parts[1])
        total["rss_kb"] += fields.get("Rss", 0)
        total["pss_kb"] += fields.get("Pss", 0)
        total["uss_kb"] += fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)
    return total


# ------------------------------------------------------------------ small helpers


def run(cmd, env=None, cwd=None, timeout=CMD_TIMEOUT, check=True):
    """Runs a command to completion; output captured; CellError when it fails."""
    try:
        proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise CellError(f"`{shlex.join(cmd)}` took more than {timeout} s") from None
    except OSError as e:
        raise CellError(f"`{shlex.join(cmd)}`: {e}") from None
    if check and proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).decode(errors="replace").strip().splitlines()[-3:]
        raise CellError(f"`{shlex.join(cmd)[:120]}` exited {proc.returncode}: {' / '.join(tail)[:300]}")
    return proc


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise CellError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(POLL)


def timed_until(action, done, timeout, what, grace=None):
    """Runs `action` in a thread and polls `done` meanwhile; returns (seconds until
    `done` first held, whether the action had finished or not; seconds the action
    took). Fails after `timeout`, or `grace` seconds after the action returned.
    Polls every POLL seconds, or twice as long as one poll took (a /proc scan on a
    machine with thousands of processes), so polling takes at most a third of a core."""
    result = {}

    def body():
        try:
            action()
        except BaseException as e:  # reported below
            result["error"] = e
        result["end"] = time.monotonic()

    t0 = time.monotonic()
    worker = threading.Thread(target=body, daemon=True)
    worker.start()
    reached = None
    deadline = t0 + timeout
    failure = f"timed out after {timeout} s waiting for {what}"
    while time.monotonic() < deadline:
        if "error" in result:
            break
        polled = time.monotonic()
        if done():
            reached = time.monotonic()
            break
        pause = max(POLL, 2 * (time.monotonic() - polled))
        if grace is not None and "end" in result and time.monotonic() - result["end"] > grace:
            failure = f"still not {what} {grace} s after the command returned (it took {result['end'] - t0:.2f} s)"
            break
        time.sleep(pause)
    worker.join(timeout=max(0.0, deadline - time.monotonic()) + 5)
    if "error" in result:
        raise CellError(str(result["error"]))
    if reached is None:
        raise CellError(failure)
    return reached - t0, result.get("end", time.monotonic()) - t0


def percentile(values, q):
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, int(-(-q * len(ordered) // 1)) - 1))
    return ordered[index]


class LineCounter:
    """Counts lines ending in the payload across files, reading only what is new."""

    def __init__(self, paths):
        self.paths = paths  # a function returning the current file paths
        self.offsets, self.tails, self.count = {}, {}, 0

    def poll(self):
        for path in self.paths():
            try:
                f = open(path, "rb")
            except OSError:
                continue
            with f:
                f.seek(self.offsets.get(path, 0))
                while True:
                    chunk = f.read(8 << 20)
                    if not chunk:
                        break
                    self.offsets[path] = self.offsets.get(path, 0) + len(chunk)
                    data = self.tails.get(path, b"") + chunk
                    cut = data.rfind(b"\n") + 1
                    self.count += data[:cut].count(NEEDLE)
                    self.tails[path] = data[cut:]
        return self.count


def glob_prefix(directory, prefix):
    """Files in `directory` whose names start with `prefix`, sorted."""
    try:
        return sorted(os.path.join(directory, n) for n in os.listdir(directory) if n.startswith(prefix))
    except OSError:
        return []


# -------------------------------------------------------------------------- tools


class Tool:
    """One orchestrator. A run of it: begin() -> start_daemon() -> measure_start,
    measure_status, measure_memory, measure_stop, log_throughput, follow_latency ->
    shutdown() -> end(). The measurements are the same for every tool; subclasses
    fill in install, start_daemon, start_jobs, stop_jobs, status, orchestrator_pids,
    launch_writer, log_paths, follow_cmd and shutdown."""

    name = "?"
    variants = ("each",)  # ways to start N jobs: "each" (N commands) or "one"

    def __init__(self, tools_dir, args):
        self.tools_dir = tools_dir
        self.args = args
        self.tmp = None
        self.tag = None
        self.env = None
        self.install_error = None

    # -- life cycle shared by all tools
    def begin(self, rep):
        self.tag = f"{RUN_ID}.{self.name}.{rep}"
        self.tmp = tempfile.mkdtemp(prefix=f"peers-{self.name}.")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MRSM_", "PM2_", "PUEUE_"))}
        env.update({TAG_VAR: self.tag, "PYTHONUNBUFFERED": "1", "NO_COLOR": "1", "RUST_BACKTRACE": "0"})
        self.env = env
        self.log_script = os.path.join(self.tmp, "log.sh")
        with open(self.log_script, "w") as f:
            # yes's "Broken pipe" when head exits would land inside a line where a
            # tool merges stderr into the same file.
            f.write(f"yes '{PAYLOAD.decode()}' 2>/dev/null | head -n {self.log_lines()}\n")
        self.clock_script = os.path.join(self.tmp, "clock.py")
        with open(self.clock_script, "w") as f:
            f.write(CLOCK)
        self.go_file = os.path.join(self.tmp, "go")
        self.writers = {
            "peerslog": ["/bin/sh", self.log_script],
            "peersclock": [sys.executable, self.clock_script, self.go_file],
        }

    def end(self):
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp = None

    def log_lines(self):
        return int(self.args.log_mb * 1_000_000) // len(NEEDLE)

    def version(self):
        return None

    # -- tool-specific
    def install(self):
        """Installs the tool into the tools directory unless it is there."""

    def start_daemon(self):
        """Starts the tool's daemon (not timed)."""

    def start_jobs(self, n, variant):
        raise NotImplementedError

    def stop_jobs(self, n, variant):
        raise NotImplementedError

    def after_stop(self, n, variant):
        """Untimed housekeeping once a stop has been measured."""

    def status(self):
        """One call of the status command."""
        raise NotImplementedError

    def orchestrator_pids(self):
        raise NotImplementedError

    def prepare_writer(self, name):
        """Untimed set-up before launch_writer(name)."""

    def launch_writer(self, name):
        """Starts the job `name` (a key of self.writers) once, without restarts."""
        raise NotImplementedError

    def log_paths(self, name):
        raise NotImplementedError

    def follow_cmd(self, name):
        raise NotImplementedError

    def shutdown(self):
        """Stops the daemon and the jobs nicely (the caller SIGKILLs what is left)."""

    # -- measurements, the same for every tool
    def stop_key(self, variant):
        return "stop_s" if variant == self.variants[0] else f"stop_{variant}_s"

    def measure_start(self, n, variant):
        took, cmd = timed_until(
            lambda: self.start_jobs(n, variant),
            lambda: len(workload(self.tag)) >= n,
            timeout=max(120, n * 5),
            what=f"{n} sleep processes",
        )
        return {f"start_{variant}_s": took, f"start_{variant}_cmd_s": cmd}

    def measure_stop(self, n, variant):
        try:
            took, cmd = timed_until(
                lambda: self.stop_jobs(n, variant),
                lambda: not workload(self.tag),
                timeout=max(60, n * 2),
                what="down to no sleep process",
                grace=15,
            )
        except CellError as e:
            left = workload(self.tag)
            if left:
                orphans = sum(1 for p in left if _ppid(p) == 1)
                raise CellError(f"{e}: {len(left)} of {n} sleeps still running ({orphans} orphaned, parent pid 1)") from None
            raise
        key = self.stop_key(variant)
        return {key: took, key[:-2] + "_cmd_s": cmd}

    def measure_status(self):
        times = []
        for _ in range(10):
            t0 = time.monotonic()
            self.status()
            times.append(time.monotonic() - t0)
        return {"status_ms": statistics.median(times) * 1000, "status_all_ms": [t * 1000 for t in times]}

    def measure_memory(self, n):
        own = self.orchestrator_pids()
        if not own:
            raise CellError("no orchestrator process found")
        mem = memory(own)
        out = {"orchestrator_processes": len(own), **mem}
        out.update({k.replace("_kb", "_per_job_kb"): v / n for k, v in mem.items()})
        others = [p for p in tagged(lambda t: t == self.tag) if p not in own and proc_comm(p) != "sleep"]
        if others:
            wrappers = memory(others)
            out["wrappers"] = len(others)
            out.update({"wrappers_" + k: v for k, v in wrappers.items()})
        return out

    def log_throughput(self):
        lines = self.log_lines()
        counter = LineCounter(lambda: self.log_paths("peerslog"))
        growth = {"count": -1, "at": time.monotonic()}

        def all_in():
            count = counter.poll()
            now = time.monotonic()
            if count != growth["count"]:
                growth.update(count=count, at=now)
            elif count > 0 and now - growth["at"] > STALL:
                raise CellError(f"the log stopped growing (no new line for {STALL} s): lines lost")
            return count >= lines

        self.prepare_writer("peerslog")
        try:
            took, _ = timed_until(
                lambda: self.launch_writer("peerslog"),
                all_in,
                timeout=60 + self.args.log_mb * 2,
                what=f"{lines} lines in the log",
            )
        except CellError as e:
            raise CellError(f"{e} ({counter.count} of {lines} lines there)") from None
        if counter.poll() != lines:
            raise CellError(f"{counter.count} payload lines in the log, {lines} written")
        mb = lines * len(NEEDLE) / 1e6
        return {"log_s": took, "log_mb_s": mb / took, "log_mb": mb}

    def follow_latency(self):
        self.prepare_writer("peersclock")
        self.launch_writer("peersclock")
        proc = subprocess.Popen(
            self.follow_cmd("peersclock"),
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        arrived = {}

        def reader():
            for line in iter(proc.stdout.readline, b""):
                now = time.time_ns()
                m = CLOCK_RE.search(line)
                if m and int(m.group(1)) not in arrived:
                    arrived[int(m.group(1))] = (now - int(m.group(2))) / 1e6

        thread = threading.Thread(target=reader, daemon=True)
        thread.start()
        try:
            time.sleep(SETTLE)
            open(self.go_file, "w").close()
            deadline = time.monotonic() + CLOCK_LINES * 0.02 + 20
            while len(arrived) < CLOCK_LINES and time.monotonic() < deadline:
                time.sleep(0.05)
            exited = proc.poll()
        finally:
            _kill_group(proc)
        values = list(arrived.values())
        if not values:
            raise CellError("the follower printed none of the writer's lines")
        out = {
            "follow_median_ms": statistics.median(values),
            "follow_p99_ms": percentile(values, 0.99),
            "follow_lines": len(values),
        }
        if len(values) < CLOCK_LINES:
            missing = sorted(set(range(CLOCK_LINES)) - set(arrived))
            out["follow_note"] = f"only {len(values)} of {CLOCK_LINES} lines arrived (missing seq {missing[:5]}...)" + (
                f"; the follower had exited by itself with status {exited}" if exited is not None else "")
        return out


def _ppid(pid):
    stat = _read(f"/proc/{pid}/stat")
    if not stat:
        return None
    return int(stat.rsplit(b")", 1)[1].split()[1])


def _kill_group(proc):
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=3)
            return
        except subprocess.TimeoutExpired:
            continue


class Mrsm(Tool):
    name = "mrsm"
    variants = ("each", "one")

    def __init__(self, tools_dir, args, binary):
        super().__init__(tools_dir, args)
        self.binary = binary

    def begin(self, rep):
        super().begin(rep)
        self.root = os.path.join(self.tmp, "root")
        self.spec = os.path.join(self.tmp, "peers.yaml")
        self.env.update({"MRSM_ROOT_DIR": self.root, "XDG_CONFIG_HOME": os.path.join(self.tmp, "config")})

    def mrsm(self, *args, **kw):
        return run([self.binary, *args], env=self.env, cwd=self.tmp, **kw)

    def version(self):
        return run([self.binary, "--version"]).stdout.decode().splitlines()[0]

    def start_jobs(self, n, variant):
        if variant == "each":
            for i in range(n):
                self.mrsm("run", "-d", "--name", f"j{i}", "--", "sleep", "300")
        else:
            with open(self.spec, "w") as f:
                f.write("project: peers\njobs:\n")
                f.writelines(f"  u{i}:\n    command: sleep 300\n" for i in range(n))
            self.mrsm("up", "-d", "-f", self.spec)

    def stop_jobs(self, n, variant):
        if variant == "each":
            self.mrsm("stop", "jobs", *[f"j{i}" for i in range(n)])
        else:
            self.mrsm("down", "-f", self.spec)

    def after_stop(self, n, variant):
        if variant == "each":
            self.mrsm("delete", "jobs", "-y", *[f"j{i}" for i in range(n)])

    def status(self):
        self.mrsm("show", "jobs", "--json")

    def orchestrator_pids(self):
        # Its per-job supervisors: everything tagged that is not the workload.
        return [p for p in tagged(lambda t: t == self.tag) if proc_comm(p) != "sleep"]

    def launch_writer(self, name):
        size = f"{max(1024, self.args.log_mb * 4)}MiB"
        self.mrsm("run", "-d", "--name", name, "--log-size", size, "--", *self.writers[name])

    def log_paths(self, name):
        return glob_prefix(os.path.join(self.root, "logs"), f"{name}.log")

    def follow_cmd(self, name):
        return [self.binary, "show", "logs", "-f", name]

    def shutdown(self):
        if self.env is None or not os.path.isdir(os.path.join(self.root, "jobs")):
            return
        if os.path.exists(self.spec):
            self.mrsm("down", "-f", self.spec, check=False, timeout=60)
        names = os.listdir(os.path.join(self.root, "jobs"))
        if names:
            self.mrsm("delete", "jobs", "-y", *names, check=False, timeout=60)


class Supervisord(Tool):
    name = "supervisord"
    variants = ("one",)

    def bin(self, name):
        return os.path.join(self.tools_dir, "venv", "bin", name)

    def install(self):
        if os.path.exists(self.bin("supervisord")):
            return
        ensure_venv(self.tools_dir)
        run([self.bin("pip"), "install", "-q", "supervisor"], timeout=600)

    def version(self):
        return run([self.bin("supervisord"), "--version"]).stdout.decode().strip()

    def begin(self, rep):
        super().begin(rep)
        self.conf = os.path.join(self.tmp, "supervisord.conf")
        self.daemon = None

    def ctl(self, *args, check=True, timeout=CMD_TIMEOUT):
        return run([self.bin("supervisorctl"), "-c", self.conf, *args], env=self.env, check=check, timeout=timeout)

    def program(self, name, command, **extra):
        lines = [f"[program:{name}]", f"command={command}", "autostart=false"]
        lines += [f"{k}={v}" for k, v in extra.items()]
        return "\n".join(lines) + "\n\n"

    def start_daemon(self):
        t = self.tmp
        os.makedirs(os.path.join(t, "childlogs"))
        with open(self.conf, "w") as f:
            f.write(
                f"[unix_http_server]\nfile={t}/supervisor.sock\n\n"
                f"[supervisord]\nlogfile={t}/supervisord.log\npidfile={t}/supervisord.pid\n"
                f"childlogdir={t}/childlogs\nnodaemon=true\n\n"
                "[rpcinterface:supervisor]\n"
                "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\n"
                f"[supervisorctl]\nserverurl=unix://{t}/supervisor.sock\n\n"
            )
            f.writelines(self.program(f"j{i}", "sleep 300") for i in range(self.args.jobs))
        log = open(os.path.join(t, "supervisord.out"), "wb")
        self.daemon = subprocess.Popen(
            [self.bin("supervisord"), "-c", self.conf], env=self.env, stdout=log, stderr=log,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
        log.close()
        wait_for(lambda: self.ctl("pid", check=False, timeout=10).returncode == 0, 30, "supervisord to answer")

    def start_jobs(self, n, variant):
        self.ctl("start", "all")

    def stop_jobs(self, n, variant):
        self.ctl("stop", "all")

    def status(self):
        # Exit status 3 means "some program is not running", not a failure here.
        proc = self.ctl("status", check=False)
        if proc.returncode not in (0, 3):
            raise CellError(f"supervisorctl status exited {proc.returncode}")

    def orchestrator_pids(self):
        return [self.daemon.pid]

    def prepare_writer(self, name):
        # Added to the configuration only now, so `start all` never started them.
        with open(self.conf, "a") as f:
            f.write(self.program(
                name, shlex.join(self.writers[name]), autorestart="false", startsecs=0,
                redirect_stderr="true", stdout_logfile=os.path.join(self.tmp, f"{name}.out"),
                stdout_logfile_maxbytes=0, stdout_logfile_backups=0,
            ))
        self.ctl("update")

    def launch_writer(self, name):
        self.ctl("start", name)

    def log_paths(self, name):
        return [os.path.join(self.tmp, f"{name}.out")]

    def follow_cmd(self, name):
        return [self.bin("supervisorctl"), "-c", self.conf, "tail", "-f", name]

    def shutdown(self):
        if self.daemon is None:
            return
        self.ctl("shutdown", check=False, timeout=60)
        try:
            self.daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass


class Pm2(Tool):
    name = "pm2"
    variants = ("one",)

    def bin(self):
        return os.path.join(self.tools_dir, "npm", "node_modules", ".bin", "pm2")

    def install(self):
        if os.path.exists(self.bin()):
            return
        run(["npm", "install", "--prefix", os.path.join(self.tools_dir, "npm"), "--no-audit", "--no-fund", "pm2"], timeout=900)

    def version(self):
        with open(os.path.join(self.tools_dir, "npm", "node_modules", "pm2", "package.json")) as f:
            return json.load(f)["version"]

    def begin(self, rep):
        super().begin(rep)
        self.home = os.path.join(self.tmp, "home")
        self.env["PM2_HOME"] = self.home
        self.started = False

    def pm2(self, *args, check=True, timeout=CMD_TIMEOUT):
        return run([self.bin(), *args], env=self.env, check=check, timeout=timeout)

    def ecosystem(self, file, apps):
        path = os.path.join(self.tmp, file)
        with open(path, "w") as f:
            json.dump({"apps": apps}, f)
        return path

    def start_daemon(self):
        self.started = True
        self.pm2("ping")

    def start_jobs(self, n, variant):
        apps = [{"name": f"j{i}", "script": "sleep", "args": "300", "interpreter": "none"} for i in range(n)]
        self.pm2("start", self.ecosystem("ecosystem.json", apps))

    def stop_jobs(self, n, variant):
        self.pm2("stop", "all")

    def after_stop(self, n, variant):
        self.pm2("delete", "all")

    def status(self):
        self.pm2("jlist")

    def orchestrator_pids(self):
        with open(os.path.join(self.home, "pm2.pid")) as f:
            return [int(f.read().strip())]

    def launch_writer(self, name):
        argv = self.writers[name]
        app = {
            "name": name, "script": argv[0], "args": argv[1:], "interpreter": "none",
            "autorestart": False, "out_file": os.path.join(self.tmp, f"{name}.out"),
            "error_file": os.path.join(self.tmp, f"{name}.err"),
        }
        self.pm2("start", self.ecosystem(f"{name}.json", [app]))

    def log_paths(self, name):
        return [os.path.join(self.tmp, f"{name}.out")]

    def follow_cmd(self, name):
        return [self.bin(), "logs", name, "--raw", "--lines", "0"]

    def shutdown(self):
        if not self.started:
            return
        try:
            god = self.orchestrator_pids()
        except (OSError, ValueError):
            god = []
        self.pm2("kill", check=False, timeout=60)
        # `pm2 kill` can return while the God daemon is still on its way out.
        deadline = time.monotonic() + 10
        while any(os.path.exists(f"/proc/{p}") and proc_tag(p) == self.tag for p in god) and time.monotonic() < deadline:
            time.sleep(0.05)


class Pueue(Tool):
    name = "pueue"
    variants = ("each",)

    def bin(self, name):
        return os.path.join(self.tools_dir, "pueue", "bin", name)

    def install(self):
        if os.path.exists(self.bin("pueued")):
            return
        log = os.path.join(self.tools_dir, "pueue-install.log")
        with open(log, "wb") as out:
            proc = subprocess.run(
                ["cargo", "install", "--locked", "--root", os.path.join(self.tools_dir, "pueue"), "pueue"],
                stdout=out, stderr=out, stdin=subprocess.DEVNULL,
            )
        if proc.returncode != 0:
            raise CellError(f"cargo install pueue failed, see {log}")

    def version(self):
        return run([self.bin("pueue"), "--version"]).stdout.decode().strip()

    def begin(self, rep):
        super().begin(rep)
        self.conf = os.path.join(self.tmp, "pueue.yml")
        self.data = os.path.join(self.tmp, "data")
        self.daemon = None
        self.task_ids = {}

    def pueue(self, *args, check=True, timeout=CMD_TIMEOUT):
        return run([self.bin("pueue"), "-c", self.conf, *args], env=self.env, check=check, timeout=timeout)

    def start_daemon(self):
        runtime = os.path.join(self.tmp, "run")
        os.makedirs(runtime)
        with open(self.conf, "w") as f:
            f.write(
                f"shared:\n  pueue_directory: {self.data}\n  runtime_directory: {runtime}\n"
                f"  unix_socket_path: {runtime}/pueue.socket\n"
            )
        log = open(os.path.join(self.tmp, "pueued.out"), "wb")
        self.daemon = subprocess.Popen(
            [self.bin("pueued"), "-c", self.conf], env=self.env, stdout=log, stderr=log,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
        log.close()
        wait_for(lambda: self.pueue("status", check=False, timeout=10).returncode == 0, 30, "pueued to answer")
        self.pueue("parallel", "1000")

    def start_jobs(self, n, variant):
        for _ in range(n):
            self.pueue("add", "--", "sleep 300")

    def stop_jobs(self, n, variant):
        self.pueue("kill", "--all")

    def after_stop(self, n, variant):
        # `kill --all` pauses every group; later tasks need them running again.
        self.pueue("start", "--all")
        self.pueue("clean")

    def status(self):
        self.pueue("status", "--json")

    def orchestrator_pids(self):
        return [self.daemon.pid]

    def launch_writer(self, name):
        out = self.pueue("add", "--print-task-id", "--", shlex.join(self.writers[name]))
        self.task_ids[name] = out.stdout.decode().strip()

    def log_paths(self, name):
        task = self.task_ids.get(name)
        return [os.path.join(self.data, "task_logs", f"{task}.log")] if task else []

    def follow_cmd(self, name):
        return [self.bin("pueue"), "-c", self.conf, "follow", self.task_ids[name]]

    def shutdown(self):
        if self.daemon is None:
            return
        self.pueue("shutdown", check=False, timeout=30)
        try:
            self.daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass


class PlainFile(Tool):
    """No orchestrator: the log writer's output redirected to a plain file by the
    shell. Only the log throughput is measured: the baseline mrsm's is held to
    (within 10% of it, issue 19)."""

    name = "file"
    variants = ()

    def orchestrator_pids(self):
        return []

    def launch_writer(self, name):
        path = self.log_paths(name)[0]
        subprocess.Popen(
            ["/bin/sh", "-c", 'exec "$@" > "$0"', path, *self.writers[name]],
            env=self.env, stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def log_paths(self, name):
        return [os.path.join(self.tmp, f"{name}.log")]

    def follow_latency(self):
        return {}


class Meerschaum(Tool):
    name = "meerschaum"
    variants = ("each",)
    VERSION = "4.1.7"

    def python(self):
        return os.path.join(self.tools_dir, "venv", "bin", "python")

    def venvs(self):
        return os.path.join(self.tools_dir, "meerschaum-venvs")

    def installed_version(self):
        if not os.path.exists(self.python()):
            return None
        probe = "import importlib.metadata as m; print(m.version('meerschaum'))"
        return run([self.python(), "-c", probe], check=False).stdout.decode().strip() or None

    def install(self):
        if self.installed_version() != self.VERSION:
            ensure_venv(self.tools_dir)
            run([os.path.join(self.tools_dir, "venv", "bin", "pip"), "install", "-q", f"meerschaum=={self.VERSION}"], timeout=900)
        marker = os.path.join(self.venvs(), ".peers-warm")
        if not os.path.exists(marker):
            self.warm_up()
            with open(marker, "w") as f:
                f.write(self.VERSION + "\n")

    def warm_up(self):
        """Meerschaum installs its run-time packages on first use: do that once, into
        DIR/meerschaum-venvs, so no measurement includes a download."""
        self.begin("install")
        LIVE.append(self)
        try:
            self.meer("show", "jobs")
            self.meer("sleep", "2", "-d", "--name", "warm", "-y")
            follower = subprocess.Popen([self.python(), "-m", "meerschaum", "show", "logs", "warm"], env=self.env,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
            time.sleep(8)
            _kill_group(follower)
            self.meer("stop", "jobs", "-y", check=False)
            self.meer("delete", "jobs", "-y", check=False)
        finally:
            kill_tagged(lambda t: t == self.tag)
            self.end()
            LIVE.remove(self)

    def version(self):
        found = self.installed_version()
        if found != self.VERSION:
            raise CellError(f"meerschaum {self.VERSION} is not installed (found {found})")
        return found

    def begin(self, rep):
        super().begin(rep)
        self.root = os.path.join(self.tmp, "root")
        os.makedirs(self.root)
        self.env.update({
            "MRSM_ROOT_DIR": self.root,
            "MRSM_VENVS_DIR": self.venvs(),
            # No rotation, so the throughput count sees every line.
            "MRSM_PATCH": json.dumps({"jobs": {"logs": {"max_file_size": 1 << 40}}}),
        })

    def meer(self, *args, check=True, timeout=CMD_TIMEOUT):
        return run([self.python(), "-m", "meerschaum", *args], env=self.env, cwd=self.tmp, check=check, timeout=timeout)

    def start_jobs(self, n, variant):
        for i in range(n):
            self.meer("sleep", "300", "-d", "--name", f"j{i}", "-y")

    def stop_jobs(self, n, variant):
        self.meer("stop", "jobs", "-y")

    def after_stop(self, n, variant):
        self.meer("delete", "jobs", "-y", check=False)

    def status(self):
        self.meer("show", "jobs")

    def orchestrator_pids(self):
        return [p for p in tagged(lambda t: t == self.tag) if proc_comm(p) != "sleep"]

    def launch_writer(self, name):
        self.meer(*self.writers[name], "-d", "--name", name, "-y")

    def log_paths(self, name):
        return glob_prefix(os.path.join(self.root, "logs"), f"{name}.log")

    def follow_cmd(self, name):
        return [self.python(), "-m", "meerschaum", "show", "logs", name]

    def shutdown(self):
        if self.env is not None and os.path.isdir(os.path.join(self.root, "jobs")):
            self.meer("stop", "jobs", "-y", check=False, timeout=120)


def ensure_venv(tools_dir):
    venv = os.path.join(tools_dir, "venv")
    if not os.path.exists(os.path.join(venv, "bin", "pip")):
        run([sys.executable, "-m", "venv", venv], timeout=300)


# ------------------------------------------------------------------------- runner

LIVE = []  # tools between begin() and end(), for the exit handler


def run_cell(tool, rep, n):
    """Every measurement of one tool in one repetition; errors become entries."""
    results = {}

    def step(label, fn, *a):
        try:
            results.update(fn(*a))
            return True
        except Exception as e:  # noqa: BLE001 - a failed cell is data
            results.setdefault("errors", {})[label] = str(e)
            return False

    if tool.install_error:
        return {"errors": {"install": tool.install_error}}
    tool.begin(rep)
    LIVE.append(tool)
    try:
        if not step("start_daemon", lambda: tool.start_daemon() or {}):
            return results
        for variant in tool.variants:
            started = step(f"start_{variant}", tool.measure_start, n, variant)
            if started and variant == tool.variants[0]:
                step("status", tool.measure_status)
                step("memory", tool.measure_memory, n)
            step(tool.stop_key(variant)[:-2], tool.measure_stop, n, variant)
            left = _kill_workload(tool.tag)
            if left:
                results["leftover_sleeps_killed"] = results.get("leftover_sleeps_killed", 0) + left
            step(f"after_stop_{variant}", lambda: tool.after_stop(n, variant) or {})
        step("log_throughput", tool.log_throughput)
        step("follow_latency", tool.follow_latency)
    finally:
        step("shutdown", lambda: tool.shutdown() or {})
        survivors = [" ".join(proc_cmdline(p))[:80] for p in tagged(lambda t: t == tool.tag)]
        if survivors:
            results["left_after_shutdown"] = survivors
        kill_tagged(lambda t: t == tool.tag)
        tool.end()
        LIVE.remove(tool)
    return results


def _kill_workload(tag):
    """SIGKILLs the sleeps a failed stop left behind; returns how many."""
    left = workload(tag)
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return len(left)


def final_cleanup():
    """Stops whatever is still live, SIGKILLs every process tagged with this run's
    id, removes temporary directories; returns how many tagged processes remain.
    A second Ctrl-C does not cut it short."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    for tool in list(LIVE):
        try:
            tool.shutdown()
        except Exception:  # noqa: BLE001 - cleanup goes on
            pass
        kill_tagged(lambda t, tag=tool.tag: t == tag)
        tool.end()
        LIVE.remove(tool)
    kill_tagged(lambda t: t.startswith(run_prefix()))
    return len(tagged(lambda t: t.startswith(run_prefix())))


def on_signal(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")


# ---------------------------------------------------------------------- reporting

ROWS = [
    # label, key, scale, format
    ("start N jobs, N commands (s)", "start_each_s", 1, "{:.3f}"),
    ("start N jobs, one command (s)", "start_one_s", 1, "{:.3f}"),
    ("stop N jobs (s)", "stop_s", 1, "{:.3f}"),
    ("stop the up -d set: mrsm down (s)", "stop_one_s", 1, "{:.3f}"),
    ("status command, median of 10 (ms)", "status_ms", 1, "{:.1f}"),
    ("orchestrator RSS total (MiB)", "rss_kb", 1 / 1024, "{:.1f}"),
    ("orchestrator PSS total (MiB)", "pss_kb", 1 / 1024, "{:.1f}"),
    ("orchestrator USS total (MiB)", "uss_kb", 1 / 1024, "{:.1f}"),
    ("  RSS per job (KiB)", "rss_per_job_kb", 1, "{:.0f}"),
    ("  PSS per job (KiB)", "pss_per_job_kb", 1, "{:.0f}"),
    ("  USS per job (KiB)", "uss_per_job_kb", 1, "{:.0f}"),
    ("log: until all lines are in (s)", "log_s", 1, "{:.2f}"),
    ("log throughput (MB/s) HIGHER=better", "log_mb_s", 1, "{:.1f}"),
    ("follow latency median (ms)", "follow_median_ms", 1, "{:.1f}"),
    ("follow latency p99 (ms)", "follow_p99_ms", 1, "{:.1f}"),
]


def medians(reps, tool):
    out = {}
    for _, key, _, _ in ROWS:
        values = [r["cells"][tool][key] for r in reps if tool in r["cells"] and isinstance(r["cells"][tool].get(key), (int, float))]
        if values:
            out[key] = statistics.median(values)
    return out


def table(reps, tools, n):
    summary = {t: medians(reps, t) for t in tools}
    peers = [t for t in tools if t != "mrsm"]
    head = f"{'metric (N=' + str(n) + '; median of ' + str(len(reps)) + ' reps)':<38}"
    cols = [t for t in tools]
    head += "".join(f"{t[:11]:>12}" + (f"{'mrsm/' + t[:4]:>10}" if t in peers and "mrsm" in tools else "") for t in cols)
    lines = [head, "-" * len(head)]
    for label, key, scale, fmt in ROWS:
        if not any(key in summary[t] for t in tools):
            continue
        row = f"{label:<38}"
        for t in cols:
            v = summary[t].get(key)
            row += f"{fmt.format(v * scale) if v is not None else '-':>12}"
            if t in peers and "mrsm" in tools:
                m = summary["mrsm"].get(key)
                row += f"{(f'{m / v:.2f}x' if m is not None and v else '-'):>10}"
        lines.append(row)
    lines.append("Lower is better in every row but `log throughput`; mrsm/peer < 1 means mrsm is better (> 1 for throughput).")
    lines.append("Start rows: N commands = mrsm run -d, pueue add, Meerschaum -d (one per job); one command = mrsm up -d,")
    lines.append("supervisorctl start all, pm2 start ecosystem. Memory: mrsm/Meerschaum per-job processes; supervisord,")
    lines.append("pm2 (God daemon), pueue (pueued) one daemon.")
    return "\n".join(lines), summary


def errors_report(reps):
    lines = []
    for r in reps:
        for tool, cell in r["cells"].items():
            for label, msg in cell.get("errors", {}).items():
                lines.append(f"  rep {r['rep']} {tool} {label}: {msg}")
            if cell.get("follow_note"):
                lines.append(f"  rep {r['rep']} {tool} follow: {cell['follow_note']}")
            if cell.get("leftover_sleeps_killed"):
                lines.append(f"  rep {r['rep']} {tool}: {cell['leftover_sleeps_killed']} sleeps left after the stop were SIGKILLed")
            if cell.get("left_after_shutdown"):
                lines.append(f"  rep {r['rep']} {tool}: outlived its shutdown (SIGKILLed): {cell['left_after_shutdown']}")
    return lines


# --------------------------------------------------------------------------- main


def parse_args():
    p = argparse.ArgumentParser(description="mrsm beside supervisord, pm2, pueue and Meerschaum.")
    p.add_argument("--tools", default=os.path.join(REPO, "target", "peers"), help="where the peers are installed")
    p.add_argument("--reps", type=int, default=3, help="repetitions; the order of the tools rotates")
    p.add_argument("--jobs", type=int, default=50, help="jobs of `sleep 300` to start, stop and watch")
    p.add_argument("--log-mb", type=int, default=200, help="MB the throughput job writes")
    p.add_argument("--only", help="comma-separated subset of " + ",".join(TOOL_NAMES) + " (naming meerschaum includes it)")
    p.add_argument("--skip-install", action="store_true", help="use what is in --tools, install nothing (nor Meerschaum's run-time packages)")
    p.add_argument("--meerschaum", action="store_true", help="also Meerschaum 4.1.7 (pip)")
    p.add_argument("--out", default=os.path.join(REPO, "target", "peers", "results.json"), help="raw numbers (JSON)")
    p.add_argument("--mrsm", help="the mrsm binary (default: cargo build --release)")
    args = p.parse_args()
    names = list(TOOL_NAMES[:5]) + (["meerschaum"] if args.meerschaum else [])
    if args.only:
        wanted = [w.strip() for w in args.only.split(",") if w.strip()]
        unknown = [w for w in wanted if w not in TOOL_NAMES]
        if unknown:
            p.error(f"unknown tool(s) {unknown}: choose from {', '.join(TOOL_NAMES)}")
        names = [t for t in TOOL_NAMES if t in wanted]
    args.names = names
    args.tools = os.path.abspath(args.tools)
    return args


def git(*args):
    proc = subprocess.run(["git", "-C", REPO, *args], capture_output=True, text=True)
    return proc.stdout.strip() if proc.returncode == 0 else None


def build_mrsm(args):
    if args.mrsm:
        return os.path.abspath(args.mrsm)
    print("building mrsm (cargo build --release) ...", flush=True)
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=REPO, check=True)
    return os.path.join(REPO, "target", "release", "mrsm")


def install_all(tools, args):
    """Installs what is missing. pueue's cargo install is the slow one: it starts
    first, in a thread, while the others install; mrsm is built only after it (one
    build at a time). A tool that cannot be installed or run fails its cells."""
    os.makedirs(args.tools, exist_ok=True)

    def install(tool):
        try:
            tool.install()
        except Exception as e:  # noqa: BLE001 - that tool's cells fail, the run goes on
            tool.install_error = f"install failed: {e}"

    peers = [t for t in tools if not isinstance(t, Mrsm)]
    if not args.skip_install:
        slow = [t for t in peers if isinstance(t, Pueue)]
        threads = [threading.Thread(target=install, args=(t,)) for t in slow]
        for t, thread in zip(slow, threads):
            print(f"installing {t.name} if missing (cargo install: minutes the first time) ...", flush=True)
            thread.start()
        for tool in peers:
            if tool not in slow:
                print(f"installing {tool.name} if missing ...", flush=True)
                install(tool)
        for thread in threads:
            thread.join()
    for tool in peers:
        if tool.install_error is None:
            try:
                tool.version()
            except Exception as e:  # noqa: BLE001
                tool.install_error = f"not usable: {e}"


def make_tools(args):
    peers = {"supervisord": Supervisord, "pm2": Pm2, "pueue": Pueue, "file": PlainFile,
             "meerschaum": Meerschaum}
    return [Mrsm(args.tools, args, None) if n == "mrsm" else peers[n](args.tools, args) for n in args.names]


def main():
    args = parse_args()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    atexit.register(final_cleanup)
    began = time.time()
    tools = make_tools(args)
    install_all(tools, args)
    binary = None
    for tool in tools:
        if isinstance(tool, Mrsm):
            try:
                tool.binary = binary = build_mrsm(args)
            except (OSError, subprocess.CalledProcessError) as e:
                tool.install_error = f"build failed: {e}"
    versions = {}
    for tool in tools:
        try:
            versions[tool.name] = tool.version()
        except Exception as e:  # noqa: BLE001
            versions[tool.name] = f"unknown: {e}"
    results = {
        "run_id": RUN_ID,
        "mrsm_commit": git("rev-parse", "HEAD"),
        "mrsm_worktree_dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
        "mrsm_binary": binary,
        "versions": versions,
        "args": {k: v for k, v in vars(args).items()},
        "nproc": os.cpu_count(),
        "loadavg_before": os.getloadavg(),
        "processes_before": len(pids()),
        "reps": [],
    }
    print(f"run {RUN_ID}: tools {', '.join(args.names)}; {args.jobs} jobs; {args.reps} reps; "
          f"log {args.log_mb} MB; load average {fmt_load(results['loadavg_before'])}; "
          f"{results['processes_before']} processes on the machine", flush=True)
    measured = time.time()
    try:
        for rep in range(args.reps):
            k = rep % len(tools)
            order = tools[k:] + tools[:k]
            entry = {"rep": rep, "order": [t.name for t in order], "cells": {}}
            results["reps"].append(entry)
            for tool in order:
                t0 = time.time()
                print(f"rep {rep + 1}/{args.reps}: {tool.name} ...", end=" ", flush=True)
                entry["cells"][tool.name] = run_cell(tool, rep, args.jobs)
                errors = entry["cells"][tool.name].get("errors", {})
                print(f"{time.time() - t0:.0f} s" + (f", {len(errors)} failed: {', '.join(errors)}" if errors else ""), flush=True)
    finally:
        remaining = final_cleanup()
        results["loadavg_after"] = os.getloadavg()
        results["processes_after"] = len(pids())
        results["measure_s"] = time.time() - measured
        results["total_s"] = time.time() - began
        results["tagged_processes_remaining"] = remaining
        text, summary = table(results["reps"], args.names, args.jobs)
        results["medians"] = summary
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(results, f, indent=2)
        print()
        print(text)
        failures = errors_report(results["reps"])
        if failures:
            print("\nfailed cells and notes:")
            print("\n".join(failures))
        print(f"\nmrsm commit {results['mrsm_commit']}{' (dirty)' if results['mrsm_worktree_dirty'] else ''}; "
              f"load average before {fmt_load(results['loadavg_before'])}, after {fmt_load(results['loadavg_after'])}; "
              f"processes on the machine before {results['processes_before']}, after {results['processes_after']}; "
              f"measuring took {results['measure_s']:.0f} s, all {results['total_s']:.0f} s")
        print(f"raw numbers: {args.out}")
        print(f"tagged processes remaining: {remaining}")
    return 0 if remaining == 0 else 1


def fmt_load(load):
    return "/".join(f"{x:.2f}" for x in load)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt as interrupted:
        print(f"interrupted ({interrupted}); cleaned up", file=sys.stderr)
        sys.exit(130)
