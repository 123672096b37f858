//! Seeded weight initialisation. candle's CPU generator cannot be seeded, so
//! the initial weights are drawn here: a run with the same seed starts from
//! the same network.

use candle_core::{Result, Tensor};
use candle_nn::VarMap;
use rand::{rngs::StdRng, Rng, SeedableRng};

/// Kaiming-normal weights (fan-in, ReLU gain) for convolutions and linear
/// layers, zero biases, BatchNorm at identity. Vars are visited in name order.
pub fn init_weights(vm: &VarMap, seed: u64) -> Result<()> {
    let vars = vm.data().lock().unwrap();
    let mut names: Vec<&String> = vars.keys().collect();
    names.sort();
    let mut rng = StdRng::seed_from_u64(seed);
    for name in names {
        let var = &vars[name];
        let dims = var.dims().to_vec();
        let n: usize = dims.iter().product();
        let values: Vec<f32> = if name.ends_with("bn.weight") {
            vec![1.0; n]
        } else if name.ends_with(".bias") || name.contains("running_mean") {
            vec![0.0; n]
        } else if name.contains("running_var") {
            vec![1.0; n]
        } else {
            // Linear [out, in], conv [out, in, k, k], transposed conv [in, out, k, k].
            let fan_in = if name.contains(".up.") {
                dims[0] * dims[2] * dims[3] / 4
            } else {
                n / dims[0]
            };
            let std = (2.0 / fan_in.max(1) as f64).sqrt();
            (0..n).map(|_| (gaussian(&mut rng) * std) as f32).collect()
        };
        var.set(&Tensor::from_vec(values, dims, var.device())?)?;
    }
    Ok(())
}

fn gaussian(rng: &mut StdRng) -> f64 {
    let u1: f64 = rng.random::<f64>().max(1e-12);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}
