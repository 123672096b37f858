//! Tensor ops the network needs, written so that candle's autograd is right
//! for each of them (shared/DESIGN.md §5 lists the candle ops whose backward
//! is wrong or missing; these avoid them). Each has a finite-difference
//! gradient test in `tests/gradients.rs`.

use candle_core::{DType, Device, Result, Tensor, D};

/// 2×2 max-pooling, stride 2. `candle`'s `max_pool2d` backward passes only a
/// quarter of the gradient; reshape + `max` over the window axes is exact.
pub fn max_pool2x2(x: &Tensor) -> Result<Tensor> {
    let (b, c, h, w) = x.dims4()?;
    x.reshape((b, c, h / 2, 2, w / 2, 2))?.max(5)?.max(3)
}

/// k×k average pooling with stride k, by reshape + mean (exact gradient for
/// any k; ONNX `AveragePool` with kernel = stride = k).
pub fn avg_pool(x: &Tensor, k: usize) -> Result<Tensor> {
    if k == 1 {
        return Ok(x.clone());
    }
    let (b, c, h, w) = x.dims4()?;
    x.reshape((b, c, h / k, k, w / k, k))?.mean(5)?.mean(3)
}

/// Keeps every k-th pixel from (0, 0): what a 1×1 convolution of stride k sees.
pub fn subsample(x: &Tensor, k: usize) -> Result<Tensor> {
    if k == 1 {
        return Ok(x.clone());
    }
    let (b, c, h, w) = x.dims4()?;
    x.reshape((b, c, h / k, k, w / k, k))?
        .narrow(5, 0, 1)?
        .narrow(3, 0, 1)?
        .reshape((b, c, h / k, w / k))
}

/// Interpolation matrix `[n_out, n_in]` of 1D linear resampling with
/// half-pixel centres and clamped edges: PyTorch's `align_corners=False`,
/// ONNX `Resize(mode=linear, coordinate_transformation_mode=half_pixel)`.
pub fn linear_resize_matrix(n_in: usize, n_out: usize, device: &Device) -> Result<Tensor> {
    let scale = n_out as f64 / n_in as f64;
    let mut m = vec![0f32; n_out * n_in];
    for o in 0..n_out {
        let p = ((o as f64 + 0.5) / scale - 0.5).clamp(0.0, (n_in - 1) as f64);
        let i0 = p.floor() as usize;
        let i1 = (i0 + 1).min(n_in - 1);
        let w1 = (p - i0 as f64) as f32;
        m[o * n_in + i0] += 1.0 - w1;
        m[o * n_in + i1] += w1;
    }
    Tensor::from_vec(m, (n_out, n_in), device)
}

/// Bilinear upsampling of `[b, c, h, w]` to `[b, c, h·k, w·k]` as two matrix
/// products, since candle's `upsample_bilinear2d` has no backward.
pub fn upsample_bilinear(x: &Tensor, k: usize) -> Result<Tensor> {
    if k == 1 {
        return Ok(x.clone());
    }
    let (_, _, h, w) = x.dims4()?;
    let mh = linear_resize_matrix(h, h * k, x.device())?.to_dtype(x.dtype())?;
    let mw = linear_resize_matrix(w, w * k, x.device())?.to_dtype(x.dtype())?;
    let x = x.broadcast_matmul(&mw.t()?)?; // [b, c, h, wk]
    mh.broadcast_matmul(&x) // [b, c, hk, wk]
}

/// `[b, c, h, w]` → tokens `[b, h·w, c]`.
pub fn to_tokens(x: &Tensor) -> Result<Tensor> {
    let (b, c, h, w) = x.dims4()?;
    x.reshape((b, c, h * w))?.transpose(1, 2)?.contiguous()
}

/// Tokens `[b, h·w, c]` → `[b, c, h, w]`.
pub fn from_tokens(t: &Tensor, h: usize, w: usize) -> Result<Tensor> {
    let (b, _, c) = t.dims3()?;
    t.transpose(1, 2)?.contiguous()?.reshape((b, c, h, w))
}

/// Soft-max over the channel axis of logits `[b, k, h, w]`.
pub fn softmax_channels(logits: &Tensor) -> Result<Tensor> {
    candle_nn::ops::softmax(logits, 1)
}

/// Index of the largest logit per pixel: `[b, k, h, w]` → `[b, h, w]` (u32).
pub fn argmax_channels(logits: &Tensor) -> Result<Tensor> {
    logits.argmax(1)
}

/// One-hot encoding of labels `[b, h, w]` (u32) → `[b, k, h, w]` of `dtype`.
pub fn one_hot(labels: &Tensor, k: usize, dtype: DType) -> Result<Tensor> {
    let ids = Tensor::arange(0u32, k as u32, labels.device())?.reshape((1, k, 1, 1))?;
    labels.unsqueeze(1)?.broadcast_eq(&ids)?.to_dtype(dtype)
}

/// Scaled dot-product attention over heads: q `[b, h, n, d]`, k and v
/// `[b, h, m, d]` → `[b, h, n, d]`. Training materialises the n×m matrix; the
/// exported graph uses ONNX `Attention`, which tract runs tiled.
pub fn attention(q: &Tensor, k: &Tensor, v: &Tensor) -> Result<Tensor> {
    let d = q.dim(D::Minus1)?;
    let scores = (q.matmul(&k.t()?)? * (1.0 / (d as f64).sqrt()))?;
    candle_nn::ops::softmax(&scores, D::Minus1)?.matmul(v)
}
