r"""Reruns a documented run over several seeds and reports each metric as mean and spread.

  python -m experiments.reproduce --run=dl_delta --seeds=0,1,2,3,4 [--work_dir=runs/repro]
  python -m experiments.reproduce --run=dsr_x4 --seeds=0,1,2 --dry_run    # print the commands
  python -m experiments.reproduce --list

The runs are in experiments/documented_runs.py (README's commands with --seed={seed});
--registry=<file.json> adds runs from a JSON file of the same layout. For each seed the
commands run in order in <work_dir>/seed<seed>/ (their output goes to log.txt there); then the
run's evaluation JSON is read and, per metric, the mean, the sample standard deviation
(n - 1), min and max over the seeds are printed beside the paper's number (where
experiments/paper_tables has one), and for each pair of methods the paper ranks, how many
seeds keep the paper's order. A seed whose commands fail, whose results are missing, or whose
run reports "collapsed": true (collapse.json of a model folder, written by the trainers'
collapse guard, or the results JSON) is FAILED; any FAILED seed makes the exit code 1.
Statistics are over every seed with results (failed ones included, and marked). The summary
is also written to <work_dir>/summary.json.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from typing import Dict, List, Optional

from absl import app, flags

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TABLE_DIR = os.path.join(REPO, "experiments", "paper_tables")

FLAGS = flags.FLAGS
flags.DEFINE_string("run", None, "Documented run name (see --list).")
flags.DEFINE_list("seeds", ["0", "1", "2", "3", "4"], "Seeds, comma-separated integers >= 0.")
flags.DEFINE_string("work_dir", None, "Folder of the runs (default runs/reproduce/<run>); "
                    "seed s runs in <work_dir>/seed<s>.")
flags.DEFINE_bool("dry_run", False, "Print the commands per seed and exit.")
flags.DEFINE_bool("list", False, "List the documented runs and exit.")
flags.DEFINE_string("registry", None, "A JSON file {run name: run} adding documented runs "
                    "(layout: experiments/documented_runs.py).")
flags.DEFINE_bool("skip_existing", False, "Do not rerun a seed whose results JSON exists "
                  "(collect it only).")


# -- registry -------------------------------------------------------------------------------
def load_registry(extra: Optional[str] = None) -> Dict[str, dict]:
    from experiments.documented_runs import DOCUMENTED_RUNS

    runs = dict(DOCUMENTED_RUNS)
    if extra:
        if not os.path.exists(extra):
            raise FileNotFoundError(f"--registry={extra} does not exist")
        with open(extra) as f:
            runs.update(json.load(f))
    for name, run in runs.items():
        for key in ("commands", "results", "metrics"):
            if key not in run:
                raise ValueError(f"documented run {name!r} lacks {key!r}")
    return runs


def parse_seeds(values: List[str]) -> List[int]:
    try:
        seeds = [int(v) for v in values]
    except ValueError:
        raise ValueError(f"--seeds must be comma-separated integers, got {','.join(values)!r}")
    if not seeds:
        raise ValueError("--seeds is empty")
    if min(seeds) < 0:
        raise ValueError(f"--seeds must be >= 0, got {','.join(values)}")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"--seeds has repeated values: {seeds}")
    return seeds


def _seeds_valid(values: List[str]) -> bool:
    try:
        parse_seeds(values)
    except ValueError as e:
        raise flags.ValidationError(str(e)) from None
    return True


flags.register_validator("seeds", _seeds_valid)


def fill(template: str, seed: int, work_dir: str) -> str:
    return template.format(seed=seed, work_dir=work_dir, python=sys.executable)


def seed_dir(work_dir: str, seed: int) -> str:
    return os.path.join(work_dir, f"seed{seed}")


# -- collecting -----------------------------------------------------------------------------
def lookup(data, path):
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return float(data) if isinstance(data, (int, float)) and not isinstance(data, bool) else None


def _collapsed_anywhere(data, where="") -> List[str]:
    found = []
    if isinstance(data, dict):
        if data.get("collapsed") is True:
            found.append(f"{where or 'results'}: {data.get('collapse_reason') or data.get('reason')}")
        for k, v in data.items():
            found += _collapsed_anywhere(v, f"{where}.{k}" if where else str(k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            found += _collapsed_anywhere(v, f"{where}[{i}]")
    return found


def collapse_reports(run: dict, seed: int, folder: str, results) -> List[str]:
    """Every "collapsed": true of the seed: its model folders' collapse.json, the results."""
    reports = []
    for template in run.get("model_dirs", []):
        path = os.path.join(fill(template, seed, folder), "collapse.json")
        if os.path.exists(path):
            with open(path) as f:
                record = json.load(f)
            if record.get("collapsed"):
                reports.append(f"{path}: {record.get('reason')}")
    if results is not None:
        reports += _collapsed_anywhere(results)
    return reports


def paper_value(spec: Optional[dict]) -> Optional[float]:
    if not spec:
        return None
    path = os.path.join(TABLE_DIR, f"{spec['table']}.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        table = json.load(f)
    return lookup(table.get("rows", {}), [spec["row"], spec["column"]])


def stats(values: List[float]) -> dict:
    """mean, sample standard deviation (n - 1; None for one value), min, max, n."""
    n = len(values)
    if n == 0:
        return {"n": 0, "mean": None, "sd": None, "min": None, "max": None}
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else None
    return {"n": n, "mean": mean, "sd": sd, "min": min(values), "max": max(values)}


def summarize(run: dict, per_seed: Dict[int, dict]) -> dict:
    """Per metric statistics and per order the seeds that keep it."""
    metrics = {}
    for label, spec in run["metrics"].items():
        values = {s: r["metrics"].get(label) for s, r in per_seed.items()}
        present = [v for v in values.values() if v is not None]
        metrics[label] = dict(stats(present), paper=paper_value(spec.get("paper")),
                              per_seed=values)
    orders = []
    for o in run.get("orders", []):
        kept, compared = [], []
        for s, r in per_seed.items():
            a, b = r["metrics"].get(o["better"]), r["metrics"].get(o["worse"])
            if a is None or b is None:
                continue
            compared.append(s)
            if (a < b) if o.get("lower_is_better", True) else (a > b):
                kept.append(s)
        orders.append(dict(o, kept=kept, compared=compared))
    failed = {s: r["failed"] for s, r in per_seed.items() if r["failed"]}
    return {"metrics": metrics, "orders": orders, "failed": failed,
            "seeds": sorted(per_seed)}


def _fmt(v, digits=4):
    return "-" if v is None else f"{v:.{digits}f}"


def report(name: str, summary: dict) -> str:
    lines = [f"Documented run {name!r}, seeds {summary['seeds']}:", "",
             "| metric | paper | mean | sd | min | max | n | per seed |",
             "|---|---|---|---|---|---|---|---|"]
    for label, m in summary["metrics"].items():
        per = ", ".join(f"{s}: {_fmt(v)}" + (" (FAILED)" if s in summary["failed"] else "")
                        for s, v in m["per_seed"].items())
        lines.append(f"| {label} | {_fmt(m['paper'])} | {_fmt(m['mean'])} | {_fmt(m['sd'])} | "
                     f"{_fmt(m['min'])} | {_fmt(m['max'])} | {m['n']} | {per} |")
    for o in summary["orders"]:
        sign = "<" if o.get("lower_is_better", True) else ">"
        lines.append(f"order {o['better']} {sign} {o['worse']} ({o.get('note', '')}): kept by "
                     f"{len(o['kept'])}/{len(o['compared'])} seeds {o['kept']}")
    for s, why in summary["failed"].items():
        lines.append(f"seed {s}: FAILED: {why}")
    if not summary["failed"]:
        lines.append("all seeds passed (no failure, no collapse reported)")
    return "\n".join(lines)


# -- running --------------------------------------------------------------------------------
def run_seed(run: dict, seed: int, work_dir: str, skip_existing: bool = False,
             stream=sys.stdout) -> dict:
    folder = seed_dir(work_dir, seed)
    os.makedirs(folder, exist_ok=True)
    results_path = fill(run["results"], seed, folder)
    failed = None
    if not (skip_existing and os.path.exists(results_path)):
        log_path = os.path.join(folder, "log.txt")
        with open(log_path, "a") as log:
            for template in run["commands"]:
                cmd = fill(template, seed, folder)
                print(f"[reproduce] seed {seed}: {cmd}", file=stream, flush=True)
                log.write(f"$ {cmd}\n")
                log.flush()
                proc = subprocess.run(cmd, shell=True, cwd=REPO, stdout=log,
                                      stderr=subprocess.STDOUT)
                if proc.returncode:
                    failed = f"exit code {proc.returncode} from: {cmd} (log: {log_path})"
                    break
        with open(log_path) as f:
            for line in f:
                if line.startswith("COLLAPSE"):
                    print(f"[reproduce] seed {seed}: {line.rstrip()}", file=stream, flush=True)
    results = None
    if os.path.exists(results_path):
        with open(results_path) as f:
            results = json.load(f)
    elif failed is None:
        failed = f"no results JSON {results_path}"
    collapsed = collapse_reports(run, seed, folder, results)
    if collapsed:
        failed = "; ".join(filter(None, [failed, "collapsed: " + " | ".join(collapsed)]))
    metrics = {label: lookup(results, spec["path"]) if results is not None else None
               for label, spec in run["metrics"].items()}
    status = "FAILED: " + failed if failed else "ok"
    print(f"[reproduce] seed {seed}: {status}", file=stream, flush=True)
    return {"metrics": metrics, "failed": failed, "results": results_path}


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    try:
        runs = load_registry(FLAGS.registry)
    except (FileNotFoundError, ValueError, json.JSONDecodeError) as e:
        raise app.UsageError(str(e))
    if FLAGS.list:
        for name, run in runs.items():
            print(f"{name}: {run.get('description', '')}")
        return 0
    if not FLAGS.run:
        raise app.UsageError(f"--run is required; one of {sorted(runs)}")
    if FLAGS.run not in runs:
        raise app.UsageError(f"--run={FLAGS.run!r} is not a documented run; one of {sorted(runs)}")
    try:
        seeds = parse_seeds(FLAGS.seeds)
    except ValueError as e:
        raise app.UsageError(str(e))
    run = runs[FLAGS.run]
    work_dir = os.path.abspath(FLAGS.work_dir or os.path.join("runs", "reproduce", FLAGS.run))
    if FLAGS.dry_run:
        for seed in seeds:
            folder = seed_dir(work_dir, seed)
            print(f"# seed {seed} (in {folder})")
            for template in run["commands"]:
                print(fill(template, seed, folder))
        return 0
    per_seed = {seed: run_seed(run, seed, work_dir, FLAGS.skip_existing) for seed in seeds}
    summary = summarize(run, per_seed)
    print()
    print(report(FLAGS.run, summary))
    record = dict(summary, run=FLAGS.run, work_dir=work_dir,
                  metrics={k: dict(v, per_seed={str(s): x for s, x in v["per_seed"].items()})
                           for k, v in summary["metrics"].items()},
                  failed={str(s): v for s, v in summary["failed"].items()})
    with open(os.path.join(work_dir, "summary.json"), "w") as f:   # no TF import here
        json.dump(record, f, indent=2, sort_keys=True)
    return 1 if summary["failed"] else 0


if __name__ == "__main__":
    app.run(main)
