"""Second, independent ONNX consumer for the shipped models.

Usage: check_onnx.py INPUT.f32 TRACT_FP32_OUTPUT.f32 N SIZE MODEL.onnx...
Runs onnx.checker (full check) on every model, runs each in onnxruntime on
the given input (N slices, SIZE x SIZE, float32 raw) and compares the fp32
model's logits with tract's to 1e-4. Prints one line per model; exits 1 on
any failure.
"""
import sys

import numpy as np
import onnx
import onnxruntime as ort

inp_path, tract_path, n, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
x = np.fromfile(inp_path, dtype=np.float32).reshape(n, 1, size, size)
tract = np.fromfile(tract_path, dtype=np.float32)
failed = False
for path in sys.argv[5:]:
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    meta = {p.key: p.value for p in model.metadata_props}
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    (y,) = sess.run(["logits"], {"image": x})
    line = f"{path}: checker ok, onnxruntime ran, logits {y.shape}, precision {meta['utx.precision']}"
    if meta["utx.precision"] == "fp32":
        diff = float(np.abs(y.reshape(-1) - tract).max())
        line += f", max |ort - tract| = {diff:.2e}"
        if diff > 1e-4:
            failed = True
            line += " (FAIL: above 1e-4)"
    print(line)
sys.exit(1 if failed else 0)
