"""Plain-text / markdown tables for binaries (metrics tables, paper comparisons)."""

from __future__ import annotations

import json
import os
from typing import Dict, Iterable, List, Optional, Sequence, Tuple


def _fmt(value, digits: int) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def markdown_table(rows: Sequence[Dict[str, object]], columns: Optional[List[str]] = None,
                   digits: int = 4) -> str:
    """Rows of dicts -> a GitHub markdown table (missing cells print as '-')."""
    if not rows:
        return "(no rows)"
    columns = columns or list(dict.fromkeys(k for r in rows for k in r))
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for r in rows:
        lines.append("| " + " | ".join(_fmt(r.get(c), digits) for c in columns) + " |")
    return "\n".join(lines)


def metrics_table(named: Dict[str, Dict[str, float]], keys: Iterable[str], digits: int = 4) -> str:
    """{'run name': {metric: value}} -> markdown table with one row per run."""
    keys = list(keys)
    rows = [dict({"run": name}, **{k: v.get(k) for k in keys}) for name, v in named.items()]
    return markdown_table(rows, ["run"] + keys, digits)


# ----------------------------------------------------------------------------- paper tables
# The file format is documented in experiments/compare_paper.py (module docstring).
PAPER_TABLE_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                               "experiments", "paper_tables")
MISSING = "-"          # a cell we have no number for
NOT_REPORTED = "–"     # a cell the paper prints as '–' (stored as null)
# rows of TS-GAN Tables 2-4 whose paper values sit in the feature-fusion columns (lines 771-772,
# 798-799, 861-862); ours are eval_recognition's '<inputs>_<row>' columns
ATTENTION_ROWS = ("two_level_attention", "depth_guided_attention")
RECOGNITION_BACKBONES = ("vgg16", "inception", "resnet50", "se_resnet50")


def available_paper_tables(table_dir: Optional[str] = None) -> List[str]:
    table_dir = table_dir or PAPER_TABLE_DIR
    return sorted(f[:-5] for f in os.listdir(table_dir) if f.endswith(".json"))


def _check_row(path: str, where: str, row, columns, strict: bool) -> None:
    """Values are numbers or null; ``strict`` (tables with ``row_labels``, whose cells are the
    paper's grid): every key is one of ``columns``."""
    if not isinstance(row, dict):
        raise ValueError(f"{path}: {where} must be an object of column -> value, got {row!r}")
    for column, value in row.items():
        if strict and column not in columns:
            raise ValueError(f"{path}: {where} has column {column!r}, not in 'columns' "
                             f"{list(columns)}")
        if value is not None and not isinstance(value, (int, float)):
            raise ValueError(f"{path}: {where}[{column!r}] = {value!r} is not a number or null")


def load_paper_table(name: str, table_dir: Optional[str] = None) -> dict:
    """Reads and checks ``<table_dir>/<name>.json``; an unknown name is a FileNotFoundError
    that lists the available tables, a malformed file a ValueError naming it."""
    table_dir = table_dir or PAPER_TABLE_DIR
    path = os.path.join(table_dir, f"{name}.json")
    if not name or os.sep in name or not os.path.isfile(path):
        raise FileNotFoundError(f"unknown paper table {name!r} (no {path}); available: "
                                f"{', '.join(available_paper_tables(table_dir))}")
    with open(path) as f:
        table = json.load(f)
    for key in ("citation", "columns", "rows"):
        if key not in table:
            raise ValueError(f"{path} lacks the required key {key!r}")
    columns = table["columns"]
    blocks = table.get("blocks")
    if blocks is not None:
        if not isinstance(table["rows"], dict) or set(table["rows"]) != set(blocks):
            raise ValueError(f"{path}: 'rows' must hold exactly the blocks {blocks}, got "
                             f"{sorted(table['rows'])}")
    for block, label, rows in table_blocks(table):
        for row_key, row in rows.items():
            _check_row(path, f"rows[{block + '/' if block else ''}{row_key}]", row, columns,
                       strict="row_labels" in table)
        expected = table.get("row_labels")
        if expected is not None and set(rows) - set(expected):
            raise ValueError(f"{path}: block {label!r} has rows {sorted(set(rows) - set(expected))}"
                             f" not in 'row_labels'")
    return table


def table_blocks(table: dict) -> List[Tuple[Optional[str], str, dict]]:
    """[(block key or None, printed label, {row: {column: value}})] in the paper's order."""
    if table.get("blocks") is None:
        return [(None, "", table["rows"])]
    labels = table.get("block_labels", {})
    return [(b, labels.get(b, b), table["rows"].get(b, {})) for b in table["blocks"]]


def table_completeness(table: dict) -> Dict[str, object]:
    """Whether every cell of the paper's table is present (a '–' cell is present as null).

    The expected rows are ``row_labels`` (every block) when the file lists them, else the rows
    it has; a ``transcription_status`` key marks a file as partial / unverified."""
    expected = present = 0
    for _, _, rows in table_blocks(table):
        row_keys = list(table.get("row_labels") or rows)
        for row in row_keys:
            for column in table["columns"]:
                expected += 1
                present += column in rows.get(row, {})
    reasons = []
    if expected == 0:
        reasons.append("no rows")
    elif present < expected:
        reasons.append(f"{expected - present} of {expected} cells missing")
    if table.get("transcription_status"):
        reasons.append("transcription_status: " + table["transcription_status"].split(".")[0])
    return {"complete": not reasons, "cells": expected, "present": present,
            "reason": "; ".join(reasons)}


def _paper_value(table: dict, column: str, value) -> str:
    """A paper cell as printed: null -> '–'; ``paper_digits`` (an int or {column: int}) restores
    the printed decimals that JSON numbers drop (0.2050, 87.20, 95.0)."""
    if value is None:
        return NOT_REPORTED
    digits = table.get("paper_digits")
    if isinstance(digits, dict):
        digits = digits.get(column)
    return str(value) if digits is None else f"{value:.{digits}f}"


def _ours_value(table: dict, column: str, value, digits: Optional[int]) -> str:
    """Our value with ``digits`` decimals (None: the paper's decimals for the column + 1)."""
    if value is None:
        return MISSING
    if digits is None:
        paper = table.get("paper_digits")
        paper = paper.get(column) if isinstance(paper, dict) else paper
        digits = 4 if paper is None else paper + 1
    return f"{float(value):.{digits}f}"


def _table_lines(header: List[str], body: List[List[str]]) -> List[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(r) + " |" for r in body]


def format_paper_table(table: dict, ours: Optional[Dict[str, object]] = None,
                       digits: Optional[int] = None,
                       blocks: Optional[Sequence[str]] = None) -> str:
    """The paper's table in its own layout, ``ours`` beside it cell by cell.

    ``ours``: {run name: values} with values shaped like the table's ``rows`` (blocked tables:
    {block: {row: {column: v}}}; others {row: {column: v}}). With ``layout`` 'metrics_as_rows'
    (TS-GAN Table 1) ours are {run name: {metric: v}} and become extra method columns, scaled
    by ``ours_scale``. Paper values print as printed ('–' for null), ours with ``digits``
    decimals (default: one more than the paper's); a cell we lack prints '-'. ``blocks``
    restricts a blocked table to those blocks."""
    ours = ours or {}
    columns = list(table["columns"])
    labels = table.get("column_labels", {})
    names = list(ours)
    tag = (lambda n: "ours") if len(names) == 1 else (lambda n: f"ours: {n}")
    out = []
    if table.get("layout") == "metrics_as_rows":
        methods = list(table["rows"])
        scale = table.get("ours_scale", {})
        arrow = {"lower": " ↓", "higher": " ↑"}
        header = ["Metric"] + methods + [tag(n) for n in names]
        body = []
        for c in columns:
            row = [labels.get(c, c) + arrow.get(table.get("better", {}).get(c), "")]
            row += [_paper_value(table, c, table["rows"][m][c]) if c in table["rows"][m]
                    else MISSING for m in methods]
            for n in names:
                v = ours[n].get(c)
                row.append(_ours_value(table, c, None if v is None else v * scale.get(c, 1),
                                       digits))
            body.append(row)
        return "\n".join(_table_lines(header, body))
    row_labels = table.get("row_labels", {})
    for block, label, rows in table_blocks(table):
        if blocks is not None and block is not None and block not in blocks:
            continue
        header = ["Model"]
        for c in columns:
            header.append(labels.get(c, c))
            header += [f"{tag(n)}" for n in names]
        body = []
        for row in (list(row_labels) or list(rows)):
            line = [row_labels.get(row, row)]
            for c in columns:
                paper = rows.get(row, {})
                line.append(_paper_value(table, c, paper[c]) if c in paper else MISSING)
                for n in names:
                    got = ours[n].get(block, {}) if block is not None else ours[n]
                    line.append(_ours_value(table, c, got.get(row, {}).get(c), digits))
            body.append(line)
        if label:
            out.append(f"\n{label}")
        out += _table_lines(header, body)
    return "\n".join(out).lstrip("\n")


def to_paper_cells(table: dict, our_rows: Dict[str, Dict[str, float]]
                   ) -> Tuple[Dict[str, Dict[str, float]], Dict[str, str]]:
    """Our recognition rows ({backbone: {our column: %}}, eval_recognition's layout) -> the
    paper table's cells {paper row: {paper column: %}} for one block, and for the attention rows
    the backbone each value came from. A paper column reads our column ``ours_column[c]`` (or
    ``c``); the attention rows (Table 2 lines 771-772, 3 lines 798-799, 4 lines 861-862) put
    their value in the feature-fusion columns: ours is the column '<inputs>_<row>' (e.g.
    rgbd_hallucinated_two_level_attention), from the first backbone that has it."""
    mapping = table.get("ours_column", {})
    cells: Dict[str, Dict[str, float]] = {}
    sources: Dict[str, str] = {}
    for row in table.get("row_labels") or our_rows:
        for c in table["columns"]:
            ours = mapping.get(c, c)
            value = None
            if row in ATTENTION_ROWS:
                if not ours.endswith("_feature"):
                    continue
                key = ours[:-len("feature")] + row
                for backbone in [b for b in RECOGNITION_BACKBONES if b in our_rows] + \
                        [b for b in our_rows if b not in RECOGNITION_BACKBONES]:
                    if our_rows[backbone].get(key) is not None:
                        value = our_rows[backbone][key]
                        sources[row] = backbone
                        break
            else:
                value = our_rows.get(row, {}).get(ours)
            if value is not None:
                cells.setdefault(row, {})[c] = value
    return cells, sources


def average_gain(rows: Dict[str, Dict[str, float]], column: str, base: str = "rgb",
                 row_keys: Sequence[str] = RECOGNITION_BACKBONES) -> float:
    """Mean over ``row_keys`` of ``rows[r][column] - rows[r][base]`` (points); a missing or
    null cell is a ValueError naming it."""
    diffs = []
    for r in row_keys:
        a, b = rows.get(r, {}).get(column), rows.get(r, {}).get(base)
        if a is None or b is None:
            raise ValueError(f"average_gain: row {r!r} lacks {column!r} or {base!r}")
        diffs.append(a - b)
    return sum(diffs) / len(diffs)


def abstract_average_gains(table_dir: Optional[str] = None) -> Dict[str, float]:
    """The abstract's 'average values of +1.2%, +2.6%, and +2.6% for IIIT-D, EURECOM, and LFW'
    (TS-GAN paper lines 20-24), recomputed from the transcribed tables: RGB+D~ feature fusion
    minus RGB, averaged over the four backbones (Table 2 lines 767-770 and 776-779, Table 4
    lines 857-860). Unrounded."""
    t2 = load_paper_table("tsgan_table2", table_dir)
    t4 = load_paper_table("tsgan_table4", table_dir)
    column = "rgbd_hallucinated_feature"
    return {"iiitd": average_gain(t2["rows"]["iiitd"], column),
            "eurecom": average_gain(t2["rows"]["eurecom"], column),
            "lfw": average_gain(t4["rows"], column)}


# ----------------------------------------------------------------------------- face tables
# Schlett et al. Tables V-VII in their printed layouts (layout 'mean_sd': "mean (sd)" cells,
# Tables V and VI; layout 'groups': Table VII's three sub-tables of Mean / Std. dev. / Min. /
# Max.). Our runs are eval_enhancers JSONs: {"rows": {enhancer: {column: value}}, "subsets":
# {group: {"images": n}}, "dataset": ...}.
FACE_LAYOUTS = ("mean_sd", "groups")
GROUP_STATS = (("", "Mean"), ("_std", "Std. dev."), ("_min", "Min."), ("_max", "Max."))


def _digits(table: dict, column: str) -> Optional[int]:
    d = table.get("paper_digits")
    return d.get(column) if isinstance(d, dict) else d


def _mean_sd(mean, sd, digits: int) -> str:
    if mean is None:
        return MISSING
    return f"{mean:.{digits}f}" + ("" if sd is None else f" ({sd:.{digits}f})")


def _face_row_names(table: dict, runs: Dict[str, dict]) -> List[str]:
    """The paper's rows in its order, then rows only our runs have (e.g. SDK rows in VI)."""
    names = list(table["rows"])
    for data in runs.values():
        names += [n for n in (data.get("rows") or {}) if n not in names]
    return names


def format_face_table(table: dict, runs: Dict[str, dict], digits: Optional[int] = None) -> str:
    """A face enhancement table (``layout`` in :data:`FACE_LAYOUTS`) in the paper's layout with
    our runs beside it. ``runs``: {run name: eval_enhancers JSON}. Paper cells print with the
    paper's decimals, ours with ``digits`` (default one more); a cell one side lacks is '-'.

    'mean_sd' (Tables V, VI): paper cells "mean (sd)" from ``rows`` / ``sd_rows``; each paper
    column in ``ours_beside`` gets our "mean (sd)" beside it (our keys ``c`` and ``c + '_sd'``);
    ``ours_columns`` ({our key: label}) adds our own column group (Table V: ours are synthetic
    faces, neither of the paper's datasets). 'groups' (Table VII): one sub-table per ``groups``
    entry, each Mean / Std. dev. / Min. / Max. with ours beside, and the image counts."""
    layout = table.get("layout")
    if layout not in FACE_LAYOUTS:
        raise ValueError(f"format_face_table: layout must be one of {FACE_LAYOUTS}, got {layout!r}")
    names = list(runs)
    tag = (lambda n: "ours") if len(names) == 1 else (lambda n: f"ours: {n}")
    labels = table.get("column_labels", {})
    rows = _face_row_names(table, runs)

    def ours(run: str, row: str, key: str):
        return ((runs[run].get("rows") or {}).get(row) or {}).get(key)

    def ours_digits(column):
        paper = _digits(table, column)
        return digits if digits is not None else (4 if paper is None else paper + 1)

    out = []
    if layout == "mean_sd":
        beside = table.get("ours_beside", [])
        extra = table.get("ours_columns", {})
        header = ["Enhancer"]
        for c in table["columns"]:
            header.append(labels.get(c, c))
            header += [tag(n) for n in names] if c in beside else []
        for key, label in extra.items():
            header += [f"{tag(n)}: {label}" for n in names]
        body = []
        for row in rows:
            paper, sd = table["rows"].get(row, {}), table.get("sd_rows", {}).get(row, {})
            line = [row]
            for c in table["columns"]:
                line.append(_mean_sd(paper.get(c), sd.get(c), _digits(table, c) or 2))
                if c in beside:
                    line += [_mean_sd(ours(n, row, c), ours(n, row, c + "_sd"), ours_digits(c))
                             for n in names]
            for key in extra:
                line += [_mean_sd(ours(n, row, key), ours(n, row, key + "_sd"),
                                  ours_digits(table["columns"][0])) for n in names]
            body.append(line)
        for n in names:
            if runs[n].get("dataset"):
                out.append(f"{tag(n)}: {runs[n]['dataset']}")
        return "\n".join(out + _table_lines(header, body))
    for group, spec in table["groups"].items():
        counts = [f"paper {spec.get('images') if spec.get('images') is not None else 'not stated'}"]
        for n in names:
            got = (runs[n].get("subsets") or {}).get(group, {}).get("images")
            counts.append(f"{tag(n)} {'-' if got is None else got}")
        out.append(f"\n{spec.get('label', group)} (images: {', '.join(counts)})")
        header = ["Enhancer"]
        for _, stat in GROUP_STATS:
            header += [stat] + [tag(n) for n in names]
        body = []
        for row in rows:
            line = [row]
            for suffix, _ in GROUP_STATS:
                c = group + suffix
                value = table["rows"].get(row, {}).get(c)
                line.append(MISSING if value is None else _paper_value(table, c, value))
                for n in names:
                    v = ours(n, row, c)
                    line.append(MISSING if v is None else f"{float(v):.{ours_digits(c)}f}")
            body.append(line)
        out += _table_lines(header, body)
    return "\n".join(out).lstrip("\n")
