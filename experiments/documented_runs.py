"""The documented runs that ``python -m experiments.reproduce`` reruns over seeds (issue 21).

Each run is taken from README.md (the commands there, with ``--seed={seed}`` added and the
run folders moved under ``{work_dir}``, the per-seed folder). Fields:

``description``  one line; ``source``: where the run is documented.
``commands``     shell command templates, run in order from the repository root; placeholders
                 ``{seed}``, ``{work_dir}`` (the seed's folder) and ``{python}`` (this Python);
                 ``str.format`` templates: a literal brace is written twice.
``results``      the evaluation JSON (template) whose metrics are collected.
``model_dirs``   folders (templates) whose ``collapse.json`` (depthlab/collapse.py) is read: a
                 seed whose run reports ``"collapsed": true`` there (or anywhere in the results
                 JSON) is FAILED.
``metrics``      ``{label: {"path": [keys into the results JSON], "paper": {"table", "row",
                 "column"} (optional, experiments/paper_tables/<table>.json)}}``.
``orders``       pairs the paper ranks: ``{"better": label, "worse": label, "lower_is_better":
                 bool, "note": str}``: the report counts the seeds that keep that order.
"""

import json
import os


def _table1_rows_by_variant() -> dict:
    """{variant: Table 1 row name} of Suarez et al., in the paper's row order, from the
    transcribed table's ``variant_rows`` (experiments/paper_tables/cyclegan_depth_table1.json)."""
    path = os.path.join(os.path.dirname(__file__), "paper_tables", "cyclegan_depth_table1.json")
    with open(path) as f:
        table = json.load(f)
    row_of = {rows[0]: variant for variant, rows in table["variant_rows"].items()}
    return {row_of[row]: row for row in table["rows"] if row in row_of}


#: the variant of each Table 1 row of Suarez et al., in the paper's order
CYCLEGAN_TABLE1_ROWS = _table1_rows_by_variant()

DOCUMENTED_RUNS = {
    "dl_delta": {
        "description": "DL-Delta-1 on the embedded procedural faces (README's documented CPU "
                       "run on the current defaults: 2 chunks x 2 epochs, 900 steps of 4, "
                       "polygon holes, the paper-code SDK input) + eval_enhancers (Table IV); "
                       "the issue-21 numbers used --hole_shape=ellipse and "
                       "--filter_input=millimetres on faces v1 (BUILD_NOTES)",
        "source": "README.md, 'Face depth enhancement'",
        "commands": [
            "{python} -m experiments.train_enhancer --variant=delta --model_dir={work_dir}/delta1 "
            "--ground_truths=600 --chunk_size=300 --epochs_per_chunk=2 --batch_size=4 "
            "--seed={seed}",
            "{python} -m experiments.eval_enhancers --model_dirs=DL-Delta-1={work_dir}/delta1 "
            "--test_faces=50 --output_json={work_dir}/enh_eval.json --table=IV",
        ],
        "results": "{work_dir}/enh_eval.json",
        "model_dirs": ["{work_dir}/delta1"],
        "metrics": {
            f"{row} rmse_mean": {
                "path": ["rows", row, "rmse_mean"],
                "paper": {"table": "face_enhancement_table4", "row": row,
                          "column": "rmse_mean"}}
            for row in ("DL-Delta-1", "Sp-HfU", "Sp-Hf16", "None")},
        "orders": [{"better": "DL-Delta-1 rmse_mean", "worse": "Sp-HfU rmse_mean",
                    "lower_is_better": True,
                    "note": "Table IV: DL-Delta-1 0.0238 < Sp-HfU 0.0448 (the best SDK row)"},
                   {"better": "DL-Delta-1 rmse_mean", "worse": "Sp-Hf16 rmse_mean",
                    "lower_is_better": True,
                    "note": "Table IV: DL-Delta-1 0.0238 < Sp-Hf16 0.0449"}],
    },
    "tsgan_demo": {
        "description": "TS-GAN demo preset on the embedded synthetic faces (README quick start) "
                       "+ eval_tsgan",
        "source": "README.md, 'Quick start' and 'TS-GAN'",
        "commands": [
            "{python} -m experiments.train_tsgan --preset=demo --model_dir={work_dir}/tsgan_demo "
            "--seed={seed}",
            "{python} -m experiments.eval_tsgan --model_dir={work_dir}/tsgan_demo "
            "--output_json={work_dir}/tsgan_demo/eval.json",
        ],
        "results": "{work_dir}/tsgan_demo/eval.json",
        "model_dirs": ["{work_dir}/tsgan_demo"],
        # eval_tsgan's default --protocol=paper: Table 1's metrics on its scale (the paper's
        # row is CurtinFaces at 128 px after 100 epochs; ours: procedural faces, 64 px demo)
        "metrics": {k: {"path": [k], "paper": {"table": "tsgan_table1", "row": "Ours (TS-GAN)",
                                                "column": k}}
                    for k in ("rmse", "abs_diff", "l1_norm", "l2_norm", "delta_1.25",
                              "delta_1.25^2", "delta_1.25^3")},
        "orders": [],
    },
    "cyclegan_depth_suarez": {
        "description": "CycleGAN depth (Suarez et al. variant), demo preset at 32 px on the "
                       "embedded faces, 12 x 125 steps + eval_cyclegan_depth",
        "source": "README.md, 'CycleGAN depth synthesis'",
        "commands": [
            "{python} -m experiments.train_cyclegan_depth --variant=suarez --preset=demo "
            "--image_size=32 --model_dir={work_dir}/cgd --epochs=12 --steps_per_epoch=125 "
            "--seed={seed}",
            "{python} -m experiments.eval_cyclegan_depth --model_dir={work_dir}/cgd "
            "--output_json={work_dir}/cgd/eval.json",
        ],
        "results": "{work_dir}/cgd/eval.json",
        "model_dirs": ["{work_dir}/cgd"],
        "metrics": {
            "psnr": {"path": ["psnr"], "paper": {"table": "cyclegan_depth_table1",
                                                 "row": "Suarez et al. (CycleGAN + PatchNCE, eq. 6)",
                                                 "column": "psnr"}},
            "ssim": {"path": ["ssim"], "paper": {"table": "cyclegan_depth_table1",
                                                 "row": "Suarez et al. (CycleGAN + PatchNCE, eq. 6)",
                                                 "column": "ssim"}},
            "psnr, constant mean": {"path": ["baselines", "constant_mean", "psnr"]},
        },
        "orders": [{"better": "psnr", "worse": "psnr, constant mean", "lower_is_better": False,
                    "note": "not a paper row: the trained G1 should beat predicting the mean"}],
    },
    # Suarez et al. Table 1, all seven rows with one budget each (issue 18): 5 epochs of 200
    # steps (one pass over the 200 training faces) of the demo preset at 32 px, then one eval
    # over the seven runs and compare_paper's table (ours beside the paper's seven NYU rows;
    # not comparable numbers)
    "cyclegan_depth_table1": {
        "description": "CycleGAN depth, the seven Table 1 rows (cyclegan, cut, fastcut, "
                       "dclgan, simdcl, hnegsrc, suarez), demo preset at 32 px on the embedded "
                       "faces, 5 epochs x 200 steps each + eval_cyclegan_depth + "
                       "compare_paper",
        "source": "BUILD_NOTES.md, 'CycleGAN depth synthesis', Table 1 documented run",
        "commands": [
            *[f"{{python}} -m experiments.train_cyclegan_depth --variant={v} --preset=demo "
              f"--image_size=32 --epochs=5 --seed={{seed}} --log_every=200 "
              f"--model_dir={{work_dir}}/{v}" for v in CYCLEGAN_TABLE1_ROWS],
            "{python} -m experiments.eval_cyclegan_depth --model_dirs="
            + ",".join(f"{{work_dir}}/{v}" for v in CYCLEGAN_TABLE1_ROWS)
            + " --output_json={work_dir}/table1_eval.json",
            "{python} -m experiments.compare_paper --table=cyclegan_depth_table1 "
            "--run_json={work_dir}/table1_eval.json",
        ],
        "results": "{work_dir}/table1_eval.json",
        "model_dirs": [f"{{work_dir}}/{v}" for v in CYCLEGAN_TABLE1_ROWS],
        "metrics": {
            f"{v} {c}": {"path": ["rows", v, c],
                         "paper": {"table": "cyclegan_depth_table1", "row": row, "column": c}}
            for v, row in CYCLEGAN_TABLE1_ROWS.items() for c in ("psnr", "ssim")}
        | {f"{c}, constant mean": {"path": ["rows", "suarez", "baselines", "constant_mean", c]}
           for c in ("psnr", "ssim")},
        "orders": [{"better": f"suarez {c}", "worse": f"cyclegan {c}", "lower_is_better": False,
                    "note": f"Table 1: the proposed method above CycleGAN in {c.upper()}"}
                   for c in ("psnr", "ssim")],
    },
    "two_stage_middlebury": {
        "description": "Two-stage depth on the embedded Middlebury Motorcycle: stage 1 with "
                       "0/20/50/200 samples, stage 2 on n=200, eval_two_stage",
        "source": "README.md, 'Two-stage depth from RGB + sparse depth'",
        "commands": [
            *[f"{{python}} -m experiments.train_two_stage --stage=1 --num_samples={n} "
              f"--model_dir={{work_dir}}/s2d_n{n} --epochs=10 --steps_per_epoch=12 "
              f"--batch_size=8 --seed={{seed}}" for n in (0, 20, 50, 200)],
            "{python} -m experiments.train_two_stage --stage=2 --stage1_dir={work_dir}/s2d_n200 "
            "--model_dir={work_dir}/s2d_n200_refined --epochs=5 --steps_per_epoch=40 "
            "--seed={seed}",
            "{python} -m experiments.eval_two_stage --model_dirs={work_dir}/s2d_n0,"
            "{work_dir}/s2d_n20,{work_dir}/s2d_n50,{work_dir}/s2d_n200,"
            "{work_dir}/s2d_n200_refined --output_json={work_dir}/two_stage_eval.json",
        ],
        "results": "{work_dir}/two_stage_eval.json",
        "model_dirs": ["{work_dir}/s2d_n0", "{work_dir}/s2d_n20", "{work_dir}/s2d_n50",
                       "{work_dir}/s2d_n200", "{work_dir}/s2d_n200_refined"],
        "metrics": {
            **{f"rmse, {kind} {n}": {
                "path": ["rows", f"ours stage 1, {kind} ({n} samples) [s2d_n{n}]", "rmse"],
                "paper": {"table": "sparse_to_dense_nyu",
                          "row": f"sparse-to-dense {kind} ({n} samples)", "column": "rmse"}}
               for kind, n in (("RGB", 0), ("RGBd", 20), ("RGBd", 50), ("RGBd", 200))},
            "rmse, two-stage RGBd 200": {
                "path": ["rows", "ours two-stage, RGBd (200 samples) [s2d_n200_refined]", "rmse"]},
        },
        "orders": [{"better": "rmse, RGBd 200", "worse": "rmse, RGB 0", "lower_is_better": True,
                    "note": "sparse-to-dense (NYU; our data is Middlebury): 0.230 < 0.514"},
                   {"better": "rmse, RGBd 200", "worse": "rmse, RGBd 20", "lower_is_better": True,
                    "note": "sparse-to-dense (NYU): 0.230 < 0.351"}],
    },
    "dsr_x4": {
        "description": "Cross-task distillation DSR at x4 on the embedded Middlebury sample "
                       "(24 epochs, 12 in stage 1) + eval_dsr",
        "source": "README.md, 'Depth super-resolution by cross-task distillation'",
        "commands": [
            "{python} -m experiments.train_dsr_distill --scale=4 --model_dir={work_dir}/dsr_x4 "
            "--epochs=24 --stage1_epochs=12 --steps_per_epoch=100 --seed={seed}",
            "{python} -m experiments.eval_dsr --model_dir={work_dir}/dsr_x4 "
            "--output_json={work_dir}/dsr_x4/eval.json",
        ],
        "results": "{work_dir}/dsr_x4/eval.json",
        "model_dirs": ["{work_dir}/dsr_x4"],
        "metrics": {
            "rmse_x4 (cm)": {"path": ["rmse"], "paper": {"table": "dsr_nyu_table",
                                                         "row": "CTKT (Sun et al. 2021)",
                                                         "column": "rmse_x4"}},
            "rmse_dsrnet_only (cm)": {"path": ["rmse_dsrnet_only"]},
            "rmse_bicubic (cm)": {"path": ["rmse_bicubic"]},
        },
        "orders": [{"better": "rmse_x4 (cm)", "worse": "rmse_dsrnet_only (cm)",
                    "lower_is_better": True,
                    "note": "the paper's claim: distillation improves DSRNet trained alone"},
                   {"better": "rmse_x4 (cm)", "worse": "rmse_bicubic (cm)",
                    "lower_is_better": True, "note": "DSRNet beats bicubic"}],
    },
}
