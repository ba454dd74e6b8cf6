#!/usr/bin/env python3
"""Mutation check: each deliberate bug of tests/mutate/mutants.txt must fail a test.

The working tree is never touched: its files (tracked and untracked, not
ignored) are copied into a temporary directory, built there once, and each
mutant is applied to the copy, its tests rebuilt and run, and the file put
back.  A mutant is caught when one of its tests fails (any exit status but
0 and 77, a crash, or no end within MUTATE_TEST_TIMEOUT seconds); it
survives when they all pass.  Prints one line per mutant and
"mutants: caught N/M"; exits 1 when one survived or could not be applied.

Usage: mutate.py [--check] [NAME_SUBSTRING...]
  NAME_SUBSTRING  only the mutants whose names contain one of them
  --check         only check that every mutant still applies (no build, no test)
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
TIMEOUT = int(os.environ.get("MUTATE_TEST_TIMEOUT", "300"))
JOBS = os.environ.get("MUTATE_JOBS", "2")


def unescape(s):
    return s.replace("\\n", "\n").replace("\\t", "\t")


def parse(path):
    mutants, cur = [], None
    for n, line in enumerate(open(path), 1):
        line = line.rstrip("\n")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, val = line.partition(": ")
        if not sep:
            sys.exit("%s:%d: expected 'key: value'" % (path, n))
        if key == "mutant":
            cur = {"name": val, "line": n}
            mutants.append(cur)
        elif cur is None or key not in ("file", "find", "replace", "tests"):
            sys.exit("%s:%d: unexpected %r" % (path, n, key))
        else:
            cur[key] = val.split() if key == "tests" else unescape(val) if key != "file" else val
    for m in mutants:
        for k in ("file", "find", "replace", "tests"):
            if k not in m:
                sys.exit("%s:%d: mutant %r has no %s" % (path, m["line"], m["name"], k))
    return mutants


def copy_tree(dst):
    files = subprocess.run(["git", "ls-files", "-z", "-co", "--exclude-standard"], cwd=REPO,
                           check=True, capture_output=True).stdout.split(b"\0")
    for f in files:
        if not f:
            continue
        src = os.path.join(REPO, f.decode())
        if not os.path.isfile(src):
            continue  # deleted in the working tree
        out = os.path.join(dst, f.decode())
        os.makedirs(os.path.dirname(out), exist_ok=True)
        shutil.copy2(src, out)


def build(tree, targets):
    r = subprocess.run(["make", "-s", "-j" + JOBS] + targets, cwd=tree, capture_output=True,
                       text=True)
    return r.returncode == 0, r.stdout + r.stderr


def run_tests(tree, tests):
    """(all passed, what failed)."""
    for t in tests:
        try:
            r = subprocess.run([os.path.join(tree, t)], cwd=tree, capture_output=True,
                               timeout=TIMEOUT, start_new_session=True)
        except subprocess.TimeoutExpired:
            return False, "%s: no end in %ds" % (t, TIMEOUT)
        if r.returncode == 77:
            return False, "%s: skipped (exit 77): cannot judge" % t
        if r.returncode != 0:
            return False, "%s: exit %d" % (t, r.returncode)
    return True, ""


def build_targets(tests):
    return [t for t in tests if t.startswith("build/")]


def check(mutants):
    """Every mutant's text occurs exactly once in the working tree's file."""
    bad = 0
    for m in mutants:
        path = os.path.join(REPO, m["file"])
        n = open(path).read().count(m["find"]) if os.path.exists(path) else 0
        if n != 1:
            print("ERROR     %s: its text occurs %d times in %s" % (m["name"], n, m["file"]))
            bad += 1
    print("mutants: %d of %d apply" % (len(mutants) - bad, len(mutants)))
    return 1 if bad else 0


def main(argv):
    mutants = parse(os.path.join(HERE, "mutants.txt"))
    if argv and argv[0] == "--check":
        return check(mutants)
    if argv:
        mutants = [m for m in mutants if any(a in m["name"] for a in argv)]
    start = time.time()
    tree = tempfile.mkdtemp(prefix="vgpu-mutate-")
    try:
        copy_tree(tree)
        all_tests = sorted({t for m in mutants for t in m["tests"]})
        ok, log = build(tree, build_targets(all_tests))
        if not ok:
            print(log[-4000:])
            print("mutate: the unmutated tree does not build")
            return 1
        ok, why = run_tests(tree, all_tests)
        if not ok:
            print("mutate: a test fails without any mutant (%s): nothing to judge" % why)
            return 1
        print("mutate: baseline built and passing in %.0fs" % (time.time() - start))
        caught, bad = 0, []
        for m in mutants:
            path = os.path.join(tree, m["file"])
            text = open(path).read()
            if text.count(m["find"]) != 1:
                print("ERROR     %s: its text occurs %d times in %s (update mutants.txt)"
                      % (m["name"], text.count(m["find"]), m["file"]))
                bad.append(m["name"])
                continue
            t0 = time.time()
            with open(path, "w") as f:
                f.write(text.replace(m["find"], m["replace"]))
            try:
                ok, log = build(tree, build_targets(m["tests"]))
                if not ok:
                    # A mutant must be a bug the tests see, not one the compiler refuses.
                    verdict, why = "ERROR", "it does not build: " + log.strip()[-300:]
                else:
                    passed, why = run_tests(tree, m["tests"])
                    verdict = "SURVIVED" if passed else "CAUGHT"
            finally:
                with open(path, "w") as f:
                    f.write(text)
            if verdict == "CAUGHT":
                caught += 1
            else:
                bad.append(m["name"])
            print("%-9s %s (%s; %.0fs)" % (verdict, m["name"], why or "its tests pass",
                                           time.time() - t0))
            sys.stdout.flush()
        print("mutants: caught %d/%d (%.0fs)" % (caught, len(mutants), time.time() - start))
        return 1 if bad else 0
    finally:
        shutil.rmtree(tree, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
