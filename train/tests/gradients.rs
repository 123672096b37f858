//! Finite-difference gradient checks for every op the network relies on,
//! since candle's own backward is wrong for some (shared/DESIGN.md §5).
//! Each check compares autograd with central differences in f64.

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{Module, VarBuilder, VarMap};
use utx_train::model::{
    attention_gate::AttentionGate, conv_block::ConvBn, mhca::Mhca, mhsa::Mhsa, ops,
};

/// Checks d(sum(f(x) · w))/dx against central differences for a random x and w.
fn check(name: &str, shape: &[usize], f: impl Fn(&Tensor) -> candle_core::Result<Tensor>) {
    let dev = Device::Cpu;
    let n: usize = shape.iter().product();
    let xs: Vec<f64> = (0..n)
        .map(|i| ((i * 7919 % 113) as f64 / 113.0 - 0.5) * 2.0)
        .collect();
    let x = Var::from_vec(xs.clone(), shape, &dev).unwrap();
    let y = f(x.as_tensor()).unwrap();
    let m = y.elem_count();
    let w = Tensor::from_vec(
        (0..m)
            .map(|i| ((i * 104729 % 97) as f64 / 97.0) - 0.3)
            .collect::<Vec<_>>(),
        y.shape(),
        &dev,
    )
    .unwrap();
    let loss = (&y * &w).unwrap().sum_all().unwrap();
    let grads = loss.backward().unwrap();
    let g = grads
        .get(x.as_tensor())
        .expect("no gradient")
        .flatten_all()
        .unwrap()
        .to_vec1::<f64>()
        .unwrap();
    let eval = |v: Vec<f64>| -> f64 {
        let t = Tensor::from_vec(v, shape, &dev).unwrap();
        (f(&t).unwrap() * &w)
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f64>()
            .unwrap()
    };
    let eps = 1e-5;
    let mut worst: f64 = 0.0;
    for i in (0..n).step_by((n / 40).max(1)) {
        let (mut p, mut q) = (xs.clone(), xs.clone());
        p[i] += eps;
        q[i] -= eps;
        let fd = (eval(p) - eval(q)) / (2.0 * eps);
        let err = (fd - g[i]).abs() / (1.0 + fd.abs());
        worst = worst.max(err);
    }
    assert!(
        worst < 1e-4,
        "{name}: autograd differs from finite differences by {worst:.2e}"
    );
}

fn vb(vm: &VarMap) -> VarBuilder<'_> {
    VarBuilder::from_varmap(vm, DType::F64, &Device::Cpu)
}

#[test]
fn max_pool_passes_the_whole_gradient() {
    check("max_pool2x2", &[1, 2, 4, 4], ops::max_pool2x2);
}

#[test]
fn avg_pool_and_subsample() {
    check("avg_pool(2)", &[1, 2, 4, 4], |x| ops::avg_pool(x, 2));
    check("avg_pool(4)", &[1, 1, 8, 8], |x| ops::avg_pool(x, 4));
    check("subsample(2)", &[1, 2, 4, 4], |x| ops::subsample(x, 2));
}

#[test]
fn bilinear_upsampling() {
    check("upsample_bilinear(2)", &[1, 2, 3, 3], |x| {
        ops::upsample_bilinear(x, 2)
    });
    check("upsample_bilinear(4)", &[2, 1, 2, 2], |x| {
        ops::upsample_bilinear(x, 4)
    });
}

#[test]
fn bilinear_matrix_matches_pytorch_half_pixel() {
    // torch.nn.functional.interpolate([0, 1], scale_factor=2, mode="linear", align_corners=False)
    let m = ops::linear_resize_matrix(2, 4, &Device::Cpu).unwrap();
    let y = m
        .matmul(&Tensor::new(&[[0f32], [1.0]], &Device::Cpu).unwrap())
        .unwrap();
    assert_eq!(
        y.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
        vec![0.0, 0.25, 0.75, 1.0]
    );
}

#[test]
fn attention_softmax_and_tokens() {
    check("attention", &[1, 2, 6, 4], |x| {
        ops::attention(x, &x.sqr()?, &(x * 0.5)?)
    });
    check("tokens round trip", &[1, 3, 2, 2], |x| {
        ops::from_tokens(&ops::to_tokens(x)?.sqr()?, 2, 2)
    });
    check("sigmoid", &[2, 5], candle_nn::ops::sigmoid);
    check("log_softmax", &[2, 3, 2, 2], |x| {
        candle_nn::ops::log_softmax(x, 1)
    });
}

#[test]
fn convolutions_and_batch_norm_in_training_mode() {
    let vm = VarMap::new();
    let cb = ConvBn::new(2, 3, 3, vb(&vm).pp("cb")).unwrap();
    check("conv3x3+bn(train)", &[2, 2, 4, 4], |x| {
        cb.forward_relu(x, true)
    });
    let up = candle_nn::conv_transpose2d(
        3,
        2,
        2,
        candle_nn::ConvTranspose2dConfig {
            stride: 2,
            ..Default::default()
        },
        vb(&vm).pp("up"),
    )
    .unwrap();
    check("conv_transpose2x2", &[1, 3, 3, 3], |x| up.forward(x));
}

#[test]
fn attention_blocks() {
    let vm = VarMap::new();
    let mhsa = Mhsa::new(4, 2, 4, vb(&vm).pp("mhsa")).unwrap();
    check("mhsa", &[1, 4, 4, 4], |x| mhsa.forward(x));
    let mhca = Mhca::new(4, 8, 8, 2, 2, vb(&vm).pp("mhca")).unwrap();
    let y = Tensor::from_vec(
        (0..128)
            .map(|i| (i as f64 * 0.37).sin())
            .collect::<Vec<_>>(),
        (1, 8, 4, 4),
        &Device::Cpu,
    )
    .unwrap();
    check("mhca wrt S", &[1, 4, 8, 8], |s| mhca.forward(s, &y, true));
    let s = Tensor::from_vec(
        (0..256)
            .map(|i| (i as f64 * 0.21).cos())
            .collect::<Vec<_>>(),
        (1, 4, 8, 8),
        &Device::Cpu,
    )
    .unwrap();
    check("mhca wrt Y", &[1, 8, 4, 4], |y| mhca.forward(&s, y, true));
    let gate = AttentionGate::new(4, 8, vb(&vm).pp("gate")).unwrap();
    check("additive gate wrt Y", &[1, 8, 4, 4], |y| {
        gate.forward(&s, y, true)
    });
}

#[test]
fn loss_gradient() {
    let labels = Tensor::from_vec(
        (0..32u32).map(|i| i % 3).collect::<Vec<_>>(),
        (2, 4, 4),
        &Device::Cpu,
    )
    .unwrap();
    check("dice+ce", &[2, 3, 4, 4], |x| {
        Ok(utx_train::loss::dice_ce_loss(x, &labels)?.0)
    });
}
