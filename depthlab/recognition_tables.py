"""TS-GAN recognition results in the paper's table layouts (Tables 2-5, paper lines 750-888).

Pure functions over results dicts (``depthlab.runners.recognition.train`` / ``evaluate``): our
rank-1 cells in each paper table's shape, printed beside the paper's numbers
(``depthlab.reporting.format_paper_table``), gains over RGB beside the paper's recomputed gains
and the abstract's claim (lines 20-24), and the exact McNemar test against RGB. Used by
``experiments.eval_recognition`` and ``experiments.ablation_table``.
"""

from __future__ import annotations

PAPER_TABLES = ("auto", "tsgan_table2", "tsgan_table3", "tsgan_table4", "none")
# protocol -> [(paper table, its blocks our runs fill)]; None = an unblocked table
PROTOCOL_TABLES = {"iiitd_rgbd": [("tsgan_table2", ["iiitd"])],
                   "eurecom_kinectfacedb": [("tsgan_table2", ["eurecom"]),
                                            ("tsgan_table3", ["left_pose", "right_pose",
                                                              "occlusion"])],
                   "lfw_faces": [("tsgan_table4", [None])]}
# Table 3's blocks are test sets of their own (our EURECOM split's test sets of those names)
BLOCK_TEST_SETS = {"left_pose": "left_pose", "right_pose": "right_pose",
                   "occlusion": "occlusion"}
# the dataset of the abstract's average gain (lines 20-24) each block reports
ABSTRACT_DATASET = {("tsgan_table2", "iiitd"): "iiitd", ("tsgan_table2", "eurecom"): "eurecom",
                    ("tsgan_table4", None): "lfw"}


def gains_over_rgb(rows, columns):
    """{two-stream column: (mean over backbones of column - RGB, number of backbones)} over
    the rows that have both (points)."""
    out = {}
    for column in columns:
        diffs = [r[column] - r["rgb"] for r in rows if column in r and "rgb" in r]
        if column.startswith("rgbd") and diffs:
            out[column] = (sum(diffs) / len(diffs), len(diffs))
    return out


def paper_targets(protocol: str, paper_table: str, paper_block=None):
    """[(table name, table, [blocks ours fill])] to print for runs of ``protocol``."""
    from depthlab import reporting

    if paper_table == "none":
        return []
    if paper_block is not None and paper_table == "auto":
        raise ValueError(f"--block={paper_block} needs a named --table (the block "
                         "of that table our runs fill)")
    own = dict(PROTOCOL_TABLES.get(protocol, []))
    names = list(own) if paper_table == "auto" else [paper_table]
    out = []
    for name in names:
        table = reporting.load_paper_table(name)
        blocks = table.get("blocks")
        if paper_block is not None:
            if paper_block not in (blocks or []):
                raise ValueError(f"--block={paper_block}: {name} has blocks "
                                 f"{blocks or 'none'}")
            chosen = [paper_block]
        elif name in own:
            chosen = own[name]
        else:
            chosen = [blocks[0]] if blocks else [None]
        out.append((name, table, chosen))
    return out


def paper_cells(table_name: str, table: dict, blocks, results, test_set: str):
    """Our cells in the table's shape for ``blocks`` ({block: cells} or cells) and the
    backbone each attention row came from."""
    from depthlab import reporting
    from depthlab.runners import recognition as runner

    cells, sources = {}, {}
    for block in blocks:
        # Table 3's sets are test sets of their own; Tables 2 and 4 report the whole test set
        our_set = BLOCK_TEST_SETS.get(block, test_set) if table_name == "tsgan_table3" \
            else "test"
        rows = {r["backbone"]: r for r in runner.paper_layout_rows(results, our_set)}
        got, src = reporting.to_paper_cells(table, rows)
        sources.update({f"{block}/{k}" if block else k: v for k, v in src.items()})
        if block is None:
            return got, sources
        cells[block] = got
    return cells, sources


def _gain_lines(gains, targets):
    """Our gains over RGB beside the paper's (from its table) and the abstract's claim."""
    from depthlab import reporting
    from depthlab.runners import recognition as runner

    lines = []
    paper = []
    for name, table, blocks in targets:
        for block in blocks:
            dataset = ABSTRACT_DATASET.get((name, block))
            if dataset is None:
                continue
            rows = table["rows"][block] if block else table["rows"]
            claim = (table.get("abstract_claim") or {}).get(dataset)
            paper.append((dataset, rows, claim, name))
    for column, (gain, n) in gains.items():
        line = (f"{runner.COLUMN_LABELS[column]} - RGB, mean over {n} backbone(s): "
                f"{gain:+.2f} points")
        for dataset, rows, claim, name in paper:
            try:
                theirs = reporting.average_gain(rows, column)
            except ValueError:
                continue
            line += f"; paper {name} {dataset}: {theirs:+.3f}"
            if claim is not None and column == "rgbd_hallucinated_feature":
                line += f" (abstract, lines 20-24, states {claim:+.1f})"
        lines.append(line)
    return lines


def report(results, test_set: str = "test", paper_table: str = "auto", paper_block=None):
    """(printed text, output record) of evaluated runs: our table, each paper table's layout
    with ours beside it, gains over RGB and the McNemar tests. Pure: no models are loaded."""
    from depthlab import reporting
    from depthlab.runners import recognition as runner

    out = []
    rows = runner.paper_layout_rows(results, test_set)
    columns = [c for c in runner.COLUMNS if any(c in r for r in rows)]
    protocol = results[0].get("protocol") if results else None
    scratch = any(r.get("from_scratch") for r in results)
    note = (" (from scratch: no ImageNet weights)" if scratch else "")
    out.append(f"Rank-1 accuracy (%), protocol {protocol}, test set '{test_set}'{note}. "
               "'inception' = BN-Inception built here (Inception-v2 of the paper).")
    labels = [runner.COLUMN_LABELS[c] for c in columns]
    printable = [dict({"backbone": r["backbone"]},
                      **{runner.COLUMN_LABELS[c]: r.get(c) for c in columns}) for r in rows]
    out.append(reporting.markdown_table(printable, ["backbone"] + labels, digits=2))
    for r in rows:
        if r.get("from_members"):
            out.append(f"{r['backbone']}: " + ", ".join(runner.COLUMN_LABELS[c] for c in
                                                        r["from_members"]) +
                       " = the single-stream members of the score-fusion run(s)")
    targets = paper_targets(protocol, paper_table, paper_block)
    record_cells = {}
    for name, table, blocks in targets:
        cells, sources = paper_cells(name, table, blocks, results, test_set)
        record_cells[name] = cells
        where = ", ".join(table.get("block_labels", {}).get(b, b) for b in blocks if b)
        out.append(f"\n{table['table']}{' [' + where + ']' if where else ''} "
                   f"(paper lines {table['paper_lines']['table'][0]}-"
                   f"{table['paper_lines']['table'][1]}); paper | ours, cell by cell:")
        if dict(PROTOCOL_TABLES.get(protocol, [])).get(name) != list(blocks):
            out.append(f"note: our runs use protocol {protocol}, not this table's dataset")
        out.append(reporting.format_paper_table(table, {"ours": cells}, blocks=blocks))
        for row, backbone in sources.items():
            out.append(f"ours {row} = our {backbone} run with that fusion")
    gains = gains_over_rgb(rows, runner.COLUMNS)
    out.append("")
    # the paper's gains are over the whole test set (Tables 2 and 4)
    out += _gain_lines(gains, targets if test_set == "test" else [])
    tests = runner.mcnemar_against_rgb(results, test_set)
    if tests:
        out.append(f"\nExact McNemar test against RGB (test set '{test_set}'; b = RGB right & "
                   "fusion wrong, c = RGB wrong & fusion right, two-sided p = "
                   "binomtest(b, b + c, 0.5)):")
    for t in tests:
        head = f"  {t['backbone']} {runner.COLUMN_LABELS.get(t['column'], t['column'])}: "
        if "skipped" in t:
            out.append(head + "not tested: " + t["skipped"])
        else:
            out.append(head + f"b = {t['b']}, c = {t['c']}, n = {t['n']}, p = {t['p']:.4g} "
                       f"(RGB: {t['rgb_source']})")
    if targets:
        out.append(f"\nPaper: {targets[0][1]['citation']}")
    record = {"rows": {r["backbone"]: {c: r.get(c) for c in columns} for r in rows},
              "protocol": protocol, "test_set": test_set, "paper_cells": record_cells,
              "gain_over_rgb": {c: g for c, (g, _) in gains.items()}, "mcnemar": tests,
              "runs": results}
    return "\n".join(out), record


# ablation_table --protocol -> the dataset column of TS-GAN Table 5 (paper lines 864-867)
TABLE5_COLUMNS = {"iiitd_rgbd": "iiitd", "eurecom_kinectfacedb": "eurecom"}


def table5_layout(row: dict, protocol: str):
    """(text, cells): our rank-1 per generator (``row``: backbone + {generator: %}) placed in
    TS-GAN Table 5's layout (blocks = generators teacher_only / a2b_only / full, paper lines
    869-888; column = our protocol's dataset) and printed beside the paper's numbers."""
    from depthlab import reporting

    table = reporting.load_paper_table("tsgan_table5")
    column = TABLE5_COLUMNS.get(protocol)
    cells = {}
    for generator, value in row.items():
        if generator in table["blocks"] and column is not None:
            cells.setdefault(generator, {})[row["backbone"]] = {column: value}
    lines = [f"{table['table']} (paper lines {table['paper_lines']['table'][0]}-"
             f"{table['paper_lines']['table'][1]}); paper | ours, cell by cell:"]
    if column is None:
        lines.append(f"note: protocol {protocol} is not one of Table 5's datasets "
                     f"({', '.join(TABLE5_COLUMNS)}): ours are not placed in it")
    unplaced = [g for g in row if g != "backbone" and g not in table["blocks"]]
    if unplaced:
        lines.append(f"note: generators {unplaced} are not Table 5 blocks {table['blocks']}")
    lines.append(reporting.format_paper_table(table, {"ours": cells}))
    return "\n".join(lines), cells
