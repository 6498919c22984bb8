r"""Prints a paper's published table beside a run's evaluation JSON, metric by metric.

  python -m experiments.compare_paper --table=tsgan_table1 --run_json=runs/eval.json
  python -m experiments.compare_paper --list

Tables live in experiments/paper_tables/<name>.json, each with its citation. A table file
holds: "citation", "table" (caption), "notes", "columns" (metric keys, the same keys our
eval binaries write), optional "column_labels", and "rows" (method -> {metric: value}).

A run JSON is either one row ({metric: value}, named by --run_name or its file name) or several
({"rows": {method: {metric: value}}}, e.g. eval_enhancers' output: one row per enhancer, named
"<run name>: <method>" when more than one run file is given).
"""

import json
import os

from absl import app, flags

TABLE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "paper_tables")

FLAGS = flags.FLAGS
flags.DEFINE_string("table", None, "Paper table name (a file in experiments/paper_tables/).")
flags.DEFINE_list("run_json", [], "Evaluation JSON file(s) of our runs to print beside it.")
flags.DEFINE_list("run_name", [], "Row names for the runs (default: the file names).")
flags.DEFINE_bool("list", False, "List the available paper tables and exit.")
flags.DEFINE_integer("digits", 4, "Decimals printed.", lower_bound=0)


def available_tables():
    return sorted(f[:-5] for f in os.listdir(TABLE_DIR) if f.endswith(".json"))


def load_table(name: str) -> dict:
    path = os.path.join(TABLE_DIR, f"{name}.json")
    if not os.path.exists(path):
        raise FileNotFoundError(f"--table={name!r}: no {path}; available: {available_tables()}")
    with open(path) as f:
        table = json.load(f)
    for key in ("citation", "columns", "rows"):
        if key not in table:
            raise ValueError(f"{path} lacks the required key {key!r}")
    return table


def comparison_rows(table: dict, runs: dict):
    """Paper rows (marked 'paper') then our runs (marked 'ours'), on the table's columns."""
    columns = list(table["columns"])
    rows = []
    for method, values in table["rows"].items():
        rows.append(dict({"source": "paper", "method": method}, **{c: values.get(c) for c in columns}))
    for name, values in runs.items():
        rows.append(dict({"source": "ours", "method": name}, **{c: values.get(c) for c in columns}))
    return rows, ["source", "method"] + columns


def expand_runs(loaded: dict) -> dict:
    """``{run name: json}`` -> ``{row name: {metric: value}}``; multi-row files are expanded."""
    out = {}
    for name, data in loaded.items():
        if isinstance(data.get("rows"), dict):
            for method, values in data["rows"].items():
                out[method if len(loaded) == 1 else f"{name}: {method}"] = values
        else:
            out[name] = data
    return out


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    from depthlab import reporting

    if FLAGS.list:
        print("\n".join(available_tables()))
        return
    if not FLAGS.table:
        raise app.UsageError("--table is required (see --list)")
    table = load_table(FLAGS.table)
    names = FLAGS.run_name or [os.path.basename(p) for p in FLAGS.run_json]
    if len(names) != len(FLAGS.run_json):
        raise app.UsageError("--run_name needs one name per --run_json file")
    runs = {}
    for name, path in zip(names, FLAGS.run_json):
        if not os.path.exists(path):
            raise app.UsageError(f"--run_json: {path} does not exist")
        with open(path) as f:
            runs[name] = json.load(f)
    runs = expand_runs(runs)
    missing = [n for n, v in runs.items() if not any(c in v for c in table["columns"])]
    if missing:
        print(f"Warning: {missing} have none of this table's columns {table['columns']}")
    rows, columns = comparison_rows(table, runs)
    print(f"{table.get('table', FLAGS.table)}\n{table['citation']}")
    if table.get("notes"):
        print(f"Notes: {table['notes']}")
    labels = table.get("column_labels", {})
    header = [labels.get(c, c) for c in columns]
    print(reporting.markdown_table([{h: r.get(c) for h, c in zip(header, columns)} for r in rows],
                                   header, FLAGS.digits))


if __name__ == "__main__":
    app.run(main)
