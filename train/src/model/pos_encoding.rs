//! Fixed 2D sinusoidal positional encoding: the first half of the channels
//! encode the column (x), the second half the row (y), each as sin/cos pairs
//! of geometrically spaced frequencies (Wang & Liu, 2019).
//!
//! ```
//! use candle_core::Device;
//! let pe = utx_train::model::pos_encoding::positional_encoding_2d(8, 4, 4, &Device::Cpu).unwrap();
//! assert_eq!(pe.dims(), &[1, 8, 4, 4]);
//! ```

use candle_core::{Device, Result, Tensor};

/// The `[1, c, h, w]` encoding; `c` must be a multiple of 4.
pub fn positional_encoding_2d(c: usize, h: usize, w: usize, device: &Device) -> Result<Tensor> {
    Tensor::from_vec(positional_encoding_values(c, h, w), (1, c, h, w), device)
}

/// The same values as a flat `c·h·w` vector (also used by the ONNX export).
pub fn positional_encoding_values(c: usize, h: usize, w: usize) -> Vec<f32> {
    assert!(
        c.is_multiple_of(4),
        "2D positional encoding needs channels divisible by 4, got {c}"
    );
    let half = c / 2;
    let mut pe = vec![0f32; c * h * w];
    for i in 0..half / 2 {
        let freq = 1.0 / 10000f64.powf(2.0 * i as f64 / half as f64);
        for y in 0..h {
            for x in 0..w {
                let (px, py) = (x as f64 * freq, y as f64 * freq);
                let at = |ch: usize| ch * h * w + y * w + x;
                pe[at(2 * i)] = px.sin() as f32;
                pe[at(2 * i + 1)] = px.cos() as f32;
                pe[at(half + 2 * i)] = py.sin() as f32;
                pe[at(half + 2 * i + 1)] = py.cos() as f32;
            }
        }
    }
    pe
}
