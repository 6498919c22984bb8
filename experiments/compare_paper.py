r"""Prints a paper's published table in its own layout, our runs' numbers beside it.

  python -m experiments.compare_paper --list
  python -m experiments.compare_paper --table=tsgan_table1 --run_json=runs/eval.json
  python -m experiments.compare_paper --table=tsgan_table2 --run_json=runs/rec/table.json
  python -m experiments.compare_paper --table=tsgan_table3 --run_json=rows.json --block=occlusion

``--list`` says for every table whether it is complete (every cell of the paper's table present;
see ``depthlab.reporting.table_completeness``). An unknown ``--table`` is an error that lists the
available ones.

Table files: experiments/paper_tables/<name>.json (read by ``depthlab.reporting
.load_paper_table``). Keys:

  citation        the paper (required)
  table           its caption
  columns         column keys (required); for our runs the keys our eval binaries write
  rows            (required) {row: {column: value}}; with ``blocks``: {block: {row: {...}}}.
                  A value is a number as printed (percent as the number, e.g. 94.1) or null for
                  a cell the paper prints as '–'; a cell not in the file is not transcribed.
  blocks          optional: the paper's row groups in order (TS-GAN Table 2: iiitd, eurecom)
  block_labels, column_labels, row_labels    printed names; ``row_labels`` (ordered) also
                  fixes the paper's row set: such a table prints our runs cell by cell
  layout          'metrics_as_rows': the paper prints columns as rows (TS-GAN Table 1);
                  'mean_sd': "mean (sd)" cells from rows / sd_rows (face enhancement Tables V,
                  VI; ``ours_beside``: paper columns with ours beside, ``ours_columns``: our
                  own column group); 'groups': sub-tables of Mean / Std. dev. / Min. / Max.
                  (Table VII, ``groups``); see ``reporting.format_face_table``
  paper_digits    decimals the paper prints (int, or {column: int}) so 0.2050 prints as printed
  ours_scale      {column: factor} applied to our values (our delta is a fraction, theirs %)
  ours_column     {paper column: our column} where our eval binaries use another key
  better          {column: 'lower' | 'higher'}
  paper_lines     where the caption / table / blocks are in the paper text
  units, notes, source    free text; ``transcription_status`` marks a partial/unverified file
  abstract_claim, text_claim   numbers the paper's text states (claims, with line numbers)

Run JSONs (--run_json):
  {metric: value}                    one row (named by --run_name or the file name)
  {"rows": {name: {metric: value}}}  several rows (eval_enhancers; eval_recognition: backbones)
  {"paper_cells": {table: cells}}    cells in the table's own shape (eval_recognition,
                                     ablation_table), used when the table name matches
Tables with ``row_labels`` (TS-GAN Tables 2-5) print ours cell by cell beside the paper's;
a run that only has eval_recognition's backbone rows is mapped onto them
(``reporting.to_paper_cells``; a blocked table then needs --block). Table 1 prints our runs as
extra method columns, metric by metric; the other tables print our runs as extra rows.
"""

import json
import os

from absl import app, flags

from depthlab import reporting

TABLE_DIR = reporting.PAPER_TABLE_DIR

FLAGS = flags.FLAGS
flags.DEFINE_string("table", None, "Paper table name (a file in experiments/paper_tables/).")
flags.DEFINE_list("run_json", [], "Evaluation JSON file(s) of our runs to print beside it.")
flags.DEFINE_list("run_name", [], "Names for the runs (default: the file names).")
flags.DEFINE_string("block", None, "Blocked tables (TS-GAN Tables 2, 3, 5): the block a run "
                    "JSON's backbone rows belong to (e.g. iiitd, eurecom, left_pose).")
flags.DEFINE_bool("list", False, "List the available paper tables, complete or not, and exit.")
flags.DEFINE_integer("digits", None, "Decimals printed for our numbers (default: 4; tables with "
                     "paper_digits: one more than the paper prints).", lower_bound=0)


def available_tables():
    return reporting.available_paper_tables(TABLE_DIR)


def load_table(name: str) -> dict:
    return reporting.load_paper_table(name, TABLE_DIR)


def in_paper_order(table: dict, runs: dict) -> dict:
    """``runs`` with the rows the table maps to its own rows (``variant_rows``: e.g. CycleGAN
    depth's ``--variant`` names -> Table 1's rows; a multi-file label ``file: row`` maps by
    ``row``; eval_cyclegan_depth's ``variant (model dir)`` labels by ``variant``) in the paper's
    row order; the others follow in the order given."""
    mapping = table.get("variant_rows") or {}
    order = list(table["rows"])

    def rank(name):
        rows = mapping.get(name.split(": ")[-1].split(" (")[0]) or []
        return order.index(rows[0]) if rows and rows[0] in order else len(order)

    return dict(sorted(runs.items(), key=lambda item: rank(item[0])))


def comparison_rows(table: dict, runs: dict):
    """Paper rows (marked 'paper') then our runs (marked 'ours', in the paper's row order
    where ``in_paper_order`` can tell it), on the table's columns."""
    columns = list(table["columns"])
    rows = []
    for method, values in table["rows"].items():
        rows.append(dict({"source": "paper", "method": method}, **{c: values.get(c) for c in columns}))
    for name, values in in_paper_order(table, runs).items():
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


def run_cells(table_name: str, table: dict, data: dict, block=None) -> dict:
    """One run JSON -> values shaped like ``table['rows']`` (tables with ``row_labels``)."""
    cells = (data.get("paper_cells") or {}).get(table_name)
    if cells is not None:
        return cells
    if not isinstance(data.get("rows"), dict):
        raise ValueError(f"has neither 'paper_cells' for {table_name} nor backbone 'rows'")
    cells, _ = reporting.to_paper_cells(table, data["rows"])
    if table.get("blocks") is None:
        return cells
    block = block or data.get("block")
    if block not in table["blocks"]:
        raise ValueError(f"its backbone rows need --block=one of {table['blocks']} (got {block!r})")
    return {block: cells}


def list_tables() -> str:
    lines = []
    for name in available_tables():
        try:
            state = reporting.table_completeness(load_table(name))
        except ValueError as e:
            lines.append(f"{name}: UNREADABLE ({e})")
            continue
        if state["complete"]:
            lines.append(f"{name}: complete ({state['cells']} cells)")
        else:
            lines.append(f"{name}: INCOMPLETE ({state['present']} of {state['cells']} cells "
                         f"present; {state['reason']})")
    return "\n".join(lines)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    if FLAGS.list:
        print(list_tables())
        return
    if not FLAGS.table:
        raise app.UsageError("--table is required (see --list)")
    try:
        table = load_table(FLAGS.table)
    except (FileNotFoundError, ValueError) as e:
        raise SystemExit(f"compare_paper: --table={FLAGS.table}: {e}") from None
    names = FLAGS.run_name or [os.path.basename(p) for p in FLAGS.run_json]
    if len(names) != len(FLAGS.run_json):
        raise app.UsageError("--run_name needs one name per --run_json file")
    loaded = {}
    for name, path in zip(names, FLAGS.run_json):
        if not os.path.exists(path):
            raise app.UsageError(f"--run_json: {path} does not exist")
        with open(path) as f:
            try:
                loaded[name] = json.load(f)
            except json.JSONDecodeError as e:
                raise app.UsageError(f"--run_json: {path} is not JSON ({e})") from None
    if FLAGS.block and FLAGS.block not in (table.get("blocks") or []):
        raise SystemExit(f"compare_paper: --block={FLAGS.block}: {FLAGS.table} has blocks "
                         f"{table.get('blocks') or 'none'}")
    if table.get("layout") in reporting.FACE_LAYOUTS:
        print(f"{table.get('table', FLAGS.table)}\n{table['citation']}")
        state = reporting.table_completeness(table)
        print("Transcription: " + ("complete" if state["complete"] else
                                   f"INCOMPLETE ({state['reason']})"))
        for name, data in loaded.items():
            if not isinstance(data.get("rows"), dict):
                raise SystemExit(f"compare_paper: --run_json {name}: {FLAGS.table} needs an "
                                 "eval_enhancers JSON (a 'rows' object)")
        print(reporting.format_face_table(table, loaded, FLAGS.digits))
        return
    cell_layout = bool(table.get("row_labels")) or table.get("layout") == "metrics_as_rows"
    ours = {}
    if cell_layout:
        for name, data in loaded.items():
            if table.get("layout") == "metrics_as_rows":
                ours.update(expand_runs({name: data}))
                continue
            try:
                ours[name] = run_cells(FLAGS.table, table, data, FLAGS.block)
            except ValueError as e:
                raise SystemExit(f"compare_paper: --run_json {name}: {e}") from None
    print(f"{table.get('table', FLAGS.table)}\n{table['citation']}")
    state = reporting.table_completeness(table)
    print("Transcription: " + ("complete" if state["complete"] else
                               f"INCOMPLETE ({state['reason']})"))
    if table.get("notes"):
        print(f"Notes: {table['notes']}")
    if cell_layout:
        print(reporting.format_paper_table(table, ours, FLAGS.digits))
        return
    runs = expand_runs(loaded)
    missing = [n for n, v in runs.items() if not any(c in v for c in table["columns"])]
    if missing:
        print(f"Warning: {missing} have none of this table's columns {table['columns']}")
    rows, columns = comparison_rows(table, runs)
    labels = table.get("column_labels", {})
    header = [labels.get(c, c) for c in columns]
    print(reporting.markdown_table([{h: r.get(c) for h, c in zip(header, columns)} for r in rows],
                                   header, 4 if FLAGS.digits is None else FLAGS.digits))


if __name__ == "__main__":
    app.run(main)
