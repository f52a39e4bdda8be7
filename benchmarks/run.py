"""Side-by-side speed and memory of convlearn, Keras and PyTorch.

Usage (from the repository root, after ``bash benchmarks/setup_peers.sh``)::

    python benchmarks/run.py               # full run: 5 rounds, writes results/latest.*
    python benchmarks/run.py --quick       # smoke run on small slices, writes results/smoke.*

Every measurement runs in a fresh process: convlearn under the interpreter that runs
this script (with the working tree's ``src`` first on ``PYTHONPATH``), Keras and
PyTorch under ``benchmarks/.venv-peers/bin/python``. The frameworks take turns
(convlearn, Keras, PyTorch, convlearn, Keras, PyTorch, ...) for each workload in each
round. The table gives the median over rounds, the spread (min-max), the ratios
convlearn / Keras and convlearn / PyTorch, and whether the project's targets are met.
See ``benchmarks/README.md``.
"""

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
WORKER = os.path.join(HERE, "worker.py")
CACHE_DIR = os.path.join(HERE, ".cache")
RESULTS_DIR = os.path.join(HERE, "results")
DEFAULT_PEERS_PYTHON = os.path.join(HERE, ".venv-peers", "bin", "python")

FRAMEWORKS = ("convlearn", "keras", "torch")
TITLES = {"convlearn": "convlearn", "keras": "Keras", "torch": "PyTorch"}
# The training workloads and the data set each trains on (a module of convlearn.datasets).
WORKLOAD_DATA = {"guide": "mnist", "convnet": "mnist", "residual": "fashion_mnist", "cifar": "cifar10"}
# Data sets whose archive may be missing (convlearn cannot carry CIFAR-10's 163 MB): without
# it the workload runs on seeded random arrays of the same shapes, and the report says so.
# (Speed does not depend on the pixel values; the accuracy row then means nothing.)
OPTIONAL_DATA = {"cifar10"}
WORKLOADS = (*WORKLOAD_DATA, "import")

# What "import time" imports: what a user of each framework writes first.
IMPORT_STATEMENTS = {"convlearn": "import convlearn", "keras": "import keras",
                     "torch": "import torch"}
IMPORT_PAIRS_PER_ROUND = 3  # (bare start, import) pairs timed per framework per round

# Full-run sizes and the smaller ones of a smoke run (--quick).
# Five rounds: on a shared machine one disturbed round then cannot move a median.
FULL = {"train_samples": 60000, "test_samples": 10000, "warmup_steps": 200,
        "predict1_calls": 200, "repeats": 5}
QUICK = {"train_samples": 2000, "test_samples": 1000, "warmup_steps": 10,
         "predict1_calls": 20, "repeats": 1}

# The table's rows for each training workload: (result key, label, unit). Every row but
# the accuracy (a check that training happened) gets ratio columns.
WORKLOAD_ROWS = (
    ("train_epoch_s", "train epoch, {train:,} images", "s"),
    ("predict_batch32_s", "predict {test:,} images, batch 32", "s"),
    ("predict_onebatch_s", "predict {test:,} images, one batch", "s"),
    ("predict1_ms", "predict 1 image", "ms"),
    ("call1_ms", "`model(x)` on 1 image (Keras)", "ms"),
    ("peak_rss_mib", "peak memory of the training process", "MiB"),
    ("train_accuracy", "accuracy over the timed epoch", ""),
)
NO_RATIO = {"train_accuracy"}

# The project's targets: (workload, key) -> list of (peer, limit). A peer's limit bounds
# the ratio convlearn / peer; peer None bounds convlearn's own value.
TARGETS = {
    ("guide", "train_epoch_s"): [("keras", 0.6), ("torch", 0.45)],
    ("convnet", "train_epoch_s"): [("keras", 0.8), ("torch", 0.8)],
    ("residual", "train_epoch_s"): [("keras", 0.7), ("torch", 0.7)],
    ("cifar", "train_epoch_s"): [("keras", 0.6), ("torch", 0.6)],
    ("guide", "predict_batch32_s"): [("keras", 0.5)],
    ("convnet", "predict_batch32_s"): [("keras", 0.5)],
    ("guide", "predict1_ms"): [("torch", 1.0)],
    ("convnet", "predict1_ms"): [("torch", 1.0)],
    ("guide", "peak_rss_mib"): [("keras", 0.5)],
    ("convnet", "peak_rss_mib"): [("keras", 0.5)],
    ("import", "import_s"): [(None, 0.25)],
}


# ----------------------------------------------------------------------------- processes

def environment(framework):
    """Environment for a measured process: the working tree's convlearn, quiet TensorFlow.

    Python may write bytecode caches (``PYTHONDONTWRITEBYTECODE`` is dropped): pip
    compiles an installed package's ``.pyc`` files when it installs it, and the
    peers' are there already, so the untimed first import does the same for the
    working tree's convlearn. Otherwise every timed import would compile its source.
    """
    env = dict(os.environ, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("PYTHONPATH", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if framework == "convlearn":
        env["PYTHONPATH"] = os.path.join(REPO, "src")
    return env


def run_json(python, args, framework, timeout):
    """Run ``python args`` in a fresh process and parse the JSON on its last stdout line.

    Returns
    -------
    dict
        The parsed result, or ``{"error": ...}`` with the end of stderr if the process
        failed, timed out or printed no JSON.
    """
    try:
        proc = subprocess.run([python, *args], capture_output=True, text=True, cwd=REPO,
                              env=environment(framework), timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s"}
    lines = proc.stdout.strip().splitlines()
    if proc.returncode == 0 and lines:
        try:
            return json.loads(lines[-1])
        except json.JSONDecodeError:
            pass
    stderr = proc.stderr.strip().splitlines() or ["(no output on stderr)"]
    return {"error": f"exit status {proc.returncode}: {stderr[-1]}",
            "stderr_tail": stderr[-20:]}


def wall_time(python, code, framework):
    """Wall time in seconds of ``python -c code`` in a fresh process.

    Raises
    ------
    RuntimeError
        If the process fails (for example, the framework is not installed).
    """
    start = time.perf_counter()
    proc = subprocess.run([python, "-c", code], capture_output=True, text=True, cwd=REPO,
                          env=environment(framework))
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"`{python} -c {code!r}` failed: {proc.stderr.strip()[-300:]}")
    return elapsed


def measure_import(python, framework):
    """Import time of one framework: wall time of an import minus that of a bare start.

    Returns
    -------
    dict
        ``{"import_s": median over the pairs, "pairs": [...]}`` or ``{"error": ...}``.
    """
    statement = IMPORT_STATEMENTS[framework]
    try:
        samples = [wall_time(python, statement, framework) - wall_time(python, "pass", framework)
                   for _ in range(IMPORT_PAIRS_PER_ROUND)]
    except RuntimeError as exc:
        return {"error": str(exc)}
    return {"import_s": statistics.median(samples), "pairs": samples}


def ensure_data(source, python):
    """Return the path of the cached ``.npz`` arrays, exporting them first if needed.

    Parameters
    ----------
    source : str
        A data set of :data:`WORKLOAD_DATA` (``"mnist"``, ``"fashion_mnist"``,
        ``"cifar10"``) or a random source of the worker (``"random"``, ``"random_cifar10"``).

    Returns
    -------
    path, source : str, str
        The cached file and the source it holds: for a data set of :data:`OPTIONAL_DATA`
        whose archive is missing, the random source of its shapes.

    Raises
    ------
    SystemExit
        If convlearn's loader cannot export the arrays; the message ends with the
        loader's own, which says how to get missing files.
    """
    path = os.path.join(CACHE_DIR, f"{source}.npz")
    if not os.path.exists(path):
        print(f"exporting {source} arrays to {os.path.relpath(path, REPO)}", file=sys.stderr)
        result = run_json(python, [WORKER, "export", "--source", source, "--out", path],
                          "convlearn", timeout=600)
        if "error" in result:
            details = "\n".join(result.get("stderr_tail", []))
            if source in OPTIONAL_DATA:
                fallback = worker_random_source(source)
                print(f"no {source} archive ({result['error']}); using {fallback} arrays instead",
                      file=sys.stderr)
                return ensure_data(fallback, python)
            raise SystemExit(f"could not export the {source} arrays: {result['error']}.\n"
                             f"{details}\nTo run on random arrays of the same shapes "
                             "instead, pass --data random.")
    return path, source


def worker_random_source(dataset):
    """The worker's name for random arrays of ``dataset``'s shapes (see worker.random_source)."""
    return "random" if dataset in ("mnist", "fashion_mnist") else f"random_{dataset}"


# ----------------------------------------------------------------------------- machine

def cpu_model():
    """CPU model name from /proc/cpuinfo, or what the platform module knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def total_memory_gib():
    """Installed memory in GiB from /proc/meminfo, or None where it is not available."""
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def git_revision():
    """Short commit of the working tree, with "+changes" if ``src`` differs from it."""
    def git(*args):
        return subprocess.run(["git", *args], capture_output=True, text=True,
                              cwd=REPO).stdout.strip()
    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    return commit + ("+changes" if git("status", "--porcelain", "--", "src") else "")


def machine_info():
    """What the figures depend on: CPU, cores, memory, OS and the load when the run began."""
    return {"cpu": cpu_model(), "logical_cores": os.cpu_count(),
            "memory_gib": total_memory_gib(), "os": platform.platform(),
            "python": platform.python_version(), "load_average_start": os.getloadavg()}


# ----------------------------------------------------------------------------- summary

def summarise(runs):
    """Median, min and max of every metric, per workload and framework.

    Parameters
    ----------
    runs : list of dict
        One record per measurement, with ``workload``, ``framework`` and the metrics.

    Returns
    -------
    dict
        ``summary[workload][framework][key] = {"median", "min", "max", "n"}``.
    """
    summary = {}
    for run in runs:
        if "error" in run:
            continue
        cell = summary.setdefault(run["workload"], {}).setdefault(run["framework"], {})
        for key, value in run.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                cell.setdefault(key, []).append(value)
    for frameworks in summary.values():
        for cell in frameworks.values():
            for key, values in cell.items():
                cell[key] = {"median": statistics.median(values), "min": min(values),
                             "max": max(values), "n": len(values)}
    return summary


def check_target(medians, targets):
    """Return "PASS", "FAIL" or "n/a" (a value is missing) for one row's targets."""
    ours = medians.get("convlearn")
    if ours is None:
        return "n/a"
    met = []
    for peer, limit in targets:
        if peer is None:
            met.append(ours <= limit)
        elif medians.get(peer) is None:
            return "n/a"
        else:
            met.append(ours / medians[peer] <= limit)
    return "PASS" if all(met) else "FAIL"


def target_text(targets, unit):
    """Describe a row's targets, e.g. "<= 0.6x Keras, <= 0.45x PyTorch"."""
    return ", ".join(f"<= {limit:g} {unit}" if peer is None else f"<= {limit:g}x {TITLES[peer]}"
                     for peer, limit in targets)


def table_rows(summary, frameworks, settings, samples=None):
    """The table as a list of dicts, one per (workload, metric) that has any value.

    ``samples``: workload -> (training, test) images the measurements really used (a data
    set smaller than the requested sizes, CIFAR-10's 50,000, uses all it has).
    """
    sizes = {"train": settings["train_samples"], "test": settings["test_samples"]}
    samples = samples or {}
    specs = [(w, key, label.format(**dict(zip(("train", "test"), samples.get(w, sizes.values())))), unit)
             for w in WORKLOAD_DATA for key, label, unit in WORKLOAD_ROWS]
    specs.append(("import", "import_s", "import time", "s"))
    rows = []
    for workload, key, label, unit in specs:
        stats = {f: summary.get(workload, {}).get(f, {}).get(key) for f in frameworks}
        if not any(stats.values()):
            continue
        medians = {f: s["median"] if s else None for f, s in stats.items()}
        row = {"workload": workload, "metric": label, "unit": unit, "key": key,
               "values": stats, "ratios": {}}
        for peer in () if key in NO_RATIO else ("keras", "torch"):
            if medians.get("convlearn") is not None and medians.get(peer):
                row["ratios"][peer] = medians["convlearn"] / medians[peer]
        targets = TARGETS.get((workload, key))
        if targets:
            row["target"] = target_text(targets, unit)
            row["result"] = check_target(medians, targets)
        rows.append(row)
    return rows


def measured_samples(runs):
    """workload -> (training images, test images) as the measurements report them."""
    return {r["workload"]: (r["train_samples"], r["test_samples"]) for r in runs if "train_samples" in r}


def format_value(stats, unit):
    """Median with the spread, e.g. "10.4 (10.1-10.9)"; "-" when there is no value."""
    if not stats:
        return "-"
    fmt = "{:.0f}" if unit == "MiB" else "{:.3g}"
    text = fmt.format(stats["median"])
    if stats["n"] > 1:
        text += f" ({fmt.format(stats['min'])}-{fmt.format(stats['max'])})"
    return text


def markdown_table(rows, frameworks):
    """Render the rows as a Markdown table."""
    header = ["Workload", "Metric", "Unit"] + [TITLES[f] for f in frameworks]
    ratio_peers = [p for p in ("keras", "torch") if p in frameworks and "convlearn" in frameworks]
    header += [f"convlearn / {TITLES[p]}" for p in ratio_peers] + ["Target", "Result"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [row["workload"], row["metric"], row["unit"]]
        cells += [format_value(row["values"][f], row["unit"]) for f in frameworks]
        cells += [f"{row['ratios'][p]:.3g}x" if p in row["ratios"] else "-" for p in ratio_peers]
        cells += [row.get("target", ""), row.get("result", "")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def markdown_report(report):
    """The whole Markdown report: what ran, where, with which versions, and the table."""
    s, m = report["settings"], report["machine"]
    lines = ["# convlearn benchmark", ""]
    if s["quick"]:
        lines += ["**Smoke run (`--quick`) on small slices: these figures are not results.**", ""]
    if s["data"] != "real":
        lines += [f"**Data: {s['data']} arrays of each data set's shapes, not the data sets.**",
                  ""]
    else:
        stand_ins = {w: src for w, src in s.get("data_sources", {}).items() if src.startswith("random")}
        for workload, source in stand_ins.items():
            lines += [f"**{workload}: {WORKLOAD_DATA[workload]}'s archive was not found; it ran on seeded "
                      f"random arrays of the same shapes ({source}): its times count, its accuracy means "
                      "nothing.**", ""]
    versions = ", ".join(f"{name} {v}" for name, v in sorted(report["versions"].items()))
    lines += [
        f"- Date: {report['date']}; run took {report['duration_s'] / 60:.1f} min",
        f"- Machine: {m['cpu']}, {m['logical_cores']} logical cores, {m['memory_gib']} GiB; "
        f"{m['os']}",
        f"- Load average (1, 5, 15 min) at start: {', '.join(f'{x:.2f}' for x in m['load_average_start'])}; "
        f"at end: {', '.join(f'{x:.2f}' for x in m['load_average_end'])}",
        f"- Versions: {versions}",
        f"- convlearn source: commit {report['convlearn_revision']}",
        f"- Keras `jit_compile` after its default `compile`: "
        f"{', '.join(report['keras_jit_compile']) or '-'}",
        f"- Rounds: {s['repeats']}; warm-up before timing: {s['warmup_steps']} training steps "
        f"plus the epoch's partial batch; predict 1 image: median of {s['predict1_calls']} calls",
        "- Cells: median over rounds, (min-max) when there is more than one round. "
        "Ratios divide convlearn's median by the peer's; below 1 means convlearn is faster "
        "or smaller.",
        "",
        markdown_table(report["rows"], s["frameworks"]),
        "",
    ]
    if report["errors"]:
        lines += ["Failed measurements:", ""]
        lines += [f"- {e['workload']} / {e['framework']}: {e['error']}" for e in report["errors"]]
        lines.append("")
    return "\n".join(lines)


def write_atomic(path, text):
    """Write ``text`` to ``path`` through a temporary file in the same directory."""
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(tmp, 0o644)  # mkstemp creates the file readable by its owner only
    os.replace(tmp, path)


# ----------------------------------------------------------------------------- main

def parse_args(argv):
    """Command-line options; --quick changes the defaults to a small smoke run."""
    parser = argparse.ArgumentParser(
        description="Compare convlearn with Keras and PyTorch (see benchmarks/README.md).")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 2,000 training and 1,000 test images, one round")
    parser.add_argument("--repeats", type=int, help="rounds (default 5; 1 with --quick)")
    parser.add_argument("--workloads", default=",".join(WORKLOADS),
                        help=f"comma-separated subset of {','.join(WORKLOADS)}")
    parser.add_argument("--frameworks", default=",".join(FRAMEWORKS),
                        help="comma-separated subset of convlearn,keras,torch")
    parser.add_argument("--data", choices=["real", "random"], default="real",
                        help="each workload's data set (MNIST, Fashion-MNIST, CIFAR-10) from "
                             "convlearn's loaders, or random arrays of the same shapes")
    parser.add_argument("--peers-python", default=DEFAULT_PEERS_PYTHON,
                        help="interpreter with tensorflow-cpu and torch installed")
    parser.add_argument("--threads", type=int, default=os.cpu_count(),
                        help="torch.set_num_threads (default: all logical cores)")
    parser.add_argument("--timeout", type=int, default=3600,
                        help="seconds before one measurement process is stopped")
    args = parser.parse_args(argv)
    for option, allowed in (("workloads", WORKLOADS), ("frameworks", FRAMEWORKS)):
        chosen = [x.strip() for x in getattr(args, option).split(",") if x.strip()]
        unknown = sorted(set(chosen) - set(allowed))
        if unknown or not chosen:
            parser.error(f"--{option} takes a comma-separated subset of {','.join(allowed)}; "
                         f"got {getattr(args, option)!r}")
        setattr(args, option, [x for x in allowed if x in chosen])  # keep the A B C order
    sizes = QUICK if args.quick else FULL
    if args.repeats is None:
        args.repeats = sizes["repeats"]
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1; got {args.repeats}")
    return args, sizes


def main(argv=None):
    """Run every measurement round by round, then print and write the report."""
    args, sizes = parse_args(argv)
    pythons = {"convlearn": sys.executable, "keras": args.peers_python,
               "torch": args.peers_python}
    peers = [f for f in args.frameworks if f != "convlearn"]
    if peers and not os.path.exists(args.peers_python):
        raise SystemExit(f"{args.peers_python} not found: run `bash benchmarks/setup_peers.sh` "
                         "first, or pass --peers-python.")
    settings = {"quick": args.quick, "repeats": args.repeats, "data": args.data,
                "frameworks": args.frameworks, "workloads": args.workloads,
                "threads": args.threads, **{k: v for k, v in sizes.items() if k != "repeats"}}
    data = {w: ensure_data(WORKLOAD_DATA[w] if args.data == "real" else worker_random_source(WORKLOAD_DATA[w]),
                           sys.executable)
            for w in args.workloads if w in WORKLOAD_DATA}
    data_paths = {w: path for w, (path, _) in data.items()}
    settings["data_sources"] = {w: source for w, (_, source) in data.items()}
    started, machine = time.perf_counter(), machine_info()

    if "import" in args.workloads:  # one untimed import fills the disk cache and .pyc files
        for framework in args.frameworks:
            measure_import(pythons[framework], framework)

    runs = []
    for round_no in range(1, args.repeats + 1):
        for workload in args.workloads:
            for framework in args.frameworks:
                if workload == "import":
                    result = measure_import(pythons[framework], framework)
                else:
                    result = run_json(pythons[framework], [
                        WORKER, "measure", "--framework", framework, "--workload", workload,
                        "--data", data_paths[workload], "--threads", str(args.threads),
                        "--train-samples", str(sizes["train_samples"]),
                        "--test-samples", str(sizes["test_samples"]),
                        "--warmup-steps", str(sizes["warmup_steps"]),
                        "--predict1-calls", str(sizes["predict1_calls"]),
                    ], framework, args.timeout)
                result.update(round=round_no, workload=workload, framework=framework)
                runs.append(result)
                shown = result.get("error") or ", ".join(
                    f"{k}={result[k]:.4g}" for k in ("train_epoch_s", "predict_batch32_s",
                                                     "predict1_ms", "import_s") if k in result)
                if "trainable_params" in result:
                    shown += (f", params={result['trainable_params']:,} trainable + "
                              f"{result['non_trainable_params']:,} non-trainable")
                print(f"[round {round_no}/{args.repeats}] {workload:8s} {framework:9s} {shown}",
                      file=sys.stderr, flush=True)

    versions = {}
    for run in runs:
        versions.update(run.get("versions", {}))
        if "numpy" in run:
            side = "convlearn" if run["framework"] == "convlearn" else "peers"
            versions[f"Python ({side})"] = run["python"]
            versions[f"NumPy ({side}, {run['blas']})"] = run["numpy"]
    machine["load_average_end"] = os.getloadavg()
    report = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "duration_s": time.perf_counter() - started,
        "settings": settings, "machine": machine, "versions": versions,
        "convlearn_revision": git_revision(),
        "keras_jit_compile": sorted({str(r["jit_compile"]) for r in runs if "jit_compile" in r}),
        "rows": table_rows(summarise(runs), args.frameworks, settings, measured_samples(runs)),
        "errors": [r for r in runs if "error" in r],
        "runs": runs,
    }
    markdown = markdown_report(report)
    print(markdown)
    name = "latest" if not args.quick and args.data == "real" else "smoke"
    write_atomic(os.path.join(RESULTS_DIR, f"{name}.json"), json.dumps(report, indent=1) + "\n")
    write_atomic(os.path.join(RESULTS_DIR, f"{name}.md"), markdown)
    print(f"written: benchmarks/results/{name}.md and {name}.json", file=sys.stderr)
    return 1 if report["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
