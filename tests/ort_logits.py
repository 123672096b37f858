"""onnxruntime's logits for a model on raw float32 slices (the reference
engine for tests/ort_parity.rs).

Usage: ort_logits.py MODEL.onnx INPUT.f32 N SIZE OUTPUT.f32
"""
import sys

import numpy as np
import onnxruntime as ort

model, inp, n, size, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
x = np.fromfile(inp, dtype=np.float32).reshape(n, 1, size, size)
so = ort.SessionOptions()
so.intra_op_num_threads = 1
sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
(y,) = sess.run(["logits"], {"image": x})
y.astype(np.float32).tofile(out)
