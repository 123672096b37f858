#!/usr/bin/env python3
"""Reference implementation for tests/eval.rs: per-class Dice, HD95 and
normalised surface Dice computed by DeepMind's own `surface-distance` package
(PyPI `surface-distance` 0.1: DeepMind's code, Apache-2.0), reading the NIfTI
files with nibabel.

    metrics_reference.py scores PRED REF --classes K --tolerance MM [--ref-map SPEC]
        -> JSON list, one object per class 1..K-1: dice, hd95, hd95_infinite, nsd
    metrics_reference.py table S0 S1 S2
        -> JSON list of DeepMind's 256 surfel areas at spacing (S0, S1, S2) mm

SPEC is `totalseg7` or `id:class,...` (unlisted ids become background), as
`utx-edge eval --labels`. Spacing per array axis comes from the affine's
column norms, as in utx-edge. The package predates NumPy 2 (np.bool, np.Inf,
np.NaN), so those aliases are restored before it runs.
"""
import json
import sys

import numpy as np

for _name, _value in (("bool", bool), ("Inf", np.inf), ("NaN", np.nan)):
    if not hasattr(np, _name):
        setattr(np, _name, _value)

import nibabel as nib  # noqa: E402
import surface_distance as sd  # noqa: E402
from surface_distance import lookup_tables  # noqa: E402


def finite_or_none(x):
    x = float(x)
    return x if np.isfinite(x) else None


def load(path, spec, classes):
    img = nib.load(path)
    ids = np.rint(np.asanyarray(img.dataobj)).astype(np.int64)
    if ids.ndim == 4:
        ids = ids[..., 0]
    if spec is None:
        return ids, img.affine
    if spec == "totalseg7":
        spec = ",".join(f"{i}:{i}" for i in range(1, 8))
    lut = np.zeros(max(256, ids.max() + 1), np.int64)
    for pair in spec.split(","):
        a, b = pair.split(":")
        lut[int(a)] = int(b)
    return lut[ids], img.affine


def scores(args):
    pred_path, ref_path = args[0], args[1]
    opts = dict(zip(args[2::2], args[3::2]))
    classes = int(opts["--classes"])
    tol = float(opts["--tolerance"])
    pred, _ = load(pred_path, None, classes)
    ref, affine = load(ref_path, opts.get("--ref-map"), classes)
    spacing = np.sqrt((affine[:3, :3] ** 2).sum(axis=0))
    out = []
    for k in range(1, classes):
        p, r = pred == k, ref == k
        d = sd.compute_surface_distances(r, p, spacing)
        hd = sd.compute_robust_hausdorff(d, 95)
        both_empty = not p.any() and not r.any()
        out.append({
            "id": k,
            "dice": finite_or_none(sd.compute_dice_coefficient(r, p)),
            "hd95": None if both_empty else finite_or_none(hd),
            "hd95_infinite": bool(not both_empty and np.isinf(hd)),
            "nsd": finite_or_none(sd.compute_surface_dice_at_tolerance(d, tol)),
        })
    print(json.dumps(out))


def table(args):
    spacing = [float(s) for s in args[:3]]
    areas = lookup_tables.create_table_neighbour_code_to_surface_area(spacing)
    print(json.dumps([float(a) for a in areas]))


if __name__ == "__main__":
    {"scores": scores, "table": table}[sys.argv[1]](sys.argv[2:])
