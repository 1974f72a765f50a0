#!/usr/bin/env python3
"""Each rule of the supervisor's state machine switched off in turn, and the machine
tests that then fail: every rule must be caught by at least one test.

    python3 bench/machine_mutations.py [--repo DIR]

Works on a scratch copy (a `git clone` of DIR, default this repository, under
target/mutations), so the checkout is never changed; prints one line per rule with
the failing tests, and exits 1 if a rule is caught by none. Not run by CI (each rule
rebuilds the library's tests: a few minutes in all).
"""
import argparse, os, shutil, subprocess, re, sys
M = [
 ("chain advance", "src/supervisor/machine/runs.rs", "if success && step + 1 < steps && !replaced", "if false && success && step + 1 < steps && !replaced"),
 ("failure at step k", "src/supervisor/machine/runs.rs", "let step = step + 1;\n        let end", "let end"),
 ("overlap skip", "src/supervisor/policy.rs", "OverlapPolicy::Skip => FireDecision::Skip", "OverlapPolicy::Skip => FireDecision::Start"),
 ("overlap queue", "src/supervisor/machine/control.rs", "self.queued = Some(Trigger::Queue);", "self.queued = None;"),
 ("overlap replace", "src/supervisor/machine/control.rs", "self.stop_run(index, now);\n                    }", "let _ = index;\n                    }"),
 ("overlap allow", "src/supervisor/policy.rs", "OverlapPolicy::Allow => FireDecision::Start", "OverlapPolicy::Allow => FireDecision::Skip"),
 ("restart backoff", "src/supervisor/machine/runs.rs", "self.restart_at = Some(now.mono + delay);", "self.restart_at = Some(now.mono);"),
 ("restart policy", "src/supervisor/policy.rs", "RestartPolicy::OnFailure => !ok,", "RestartPolicy::OnFailure => true,"),
 ("pause holds fires", "src/supervisor/machine/control.rs", "if self.state.phase == Phase::Running && fire <= now.wall", "if fire <= now.wall"),
 ("stop grace then SIGKILL", "src/supervisor/machine/control.rs", "if now.mono >= stopping.deadline {", "if true {"),
 ("two quiet looks", "src/supervisor/machine/runs.rs", "if *quiet {", "if true {"),
 ("killed predecessor recorded", "src/supervisor/machine/mod.rs", ".filter(|s| s.run > recorded && seen.insert(s.run))", ".filter(|s| seen.insert(s.run))"),
 ("stop lands while a step starts", "src/supervisor/machine/runs.rs", "(Some(stopping), _) => Some(stopping.signal),", "(Some(_), _) => None,"),
 ("drain waits for a partial line", "src/supervisor/machine/runs.rs", "(output == Drain::Empty && waited >= DRAIN_PARTIAL)", "(output == Drain::Empty)"),
 ("leftovers stopped", "src/supervisor/machine/runs.rs", "self.stop_run(index, now);\n                    index += 1;", "index += 1;"),
 ("stop waiters answered", "src/supervisor/machine/control.rs", "self.reply(to, done(&message));", "let _ = to;"),
 ("chain stops while stopping", "src/supervisor/machine/runs.rs", "&& !replaced && self.stopping.is_none()", "&& !replaced"),
]
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ap = argparse.ArgumentParser()
ap.add_argument("--repo", default=REPO)
args = ap.parse_args()
scratch = os.path.join(REPO, "target", "mutations")
shutil.rmtree(scratch, ignore_errors=True)
subprocess.run(["git", "clone", "-q", args.repo, scratch], check=True)
os.chdir(scratch)
uncaught = 0
for name, path, old, new in M:
    src = open(path).read()
    if src.count(old) != 1:
        print(f"{name}: PATTERN NOT UNIQUE ({src.count(old)}): update this script", flush=True)
        uncaught += 1
        continue
    open(path,'w').write(src.replace(old,new))
    r = subprocess.run(["cargo","test","--lib","supervisor::machine_tests"],capture_output=True,text=True)
    open(path,'w').write(src)
    failed = sorted(set(re.findall(r"^test supervisor::machine_tests::(\w+) \.\.\. FAILED", r.stdout, re.M)))
    build_err = "error[" in r.stderr
    if not failed:
        uncaught += 1
    print(f"{name}: {'BUILD ERROR' if build_err else str(len(failed))+' failing: '+', '.join(failed)}", flush=True)
sys.exit(1 if uncaught else 0)
