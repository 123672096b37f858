//! Soft Dice + cross-entropy, the U-Transformer paper's loss.

use candle_core::{Result, Tensor, D};

use crate::model::ops;

/// Cross-entropy and soft Dice of `logits` `[b, k, h, w]` against `labels`
/// `[b, h, w]` (u32). Returns (total, cross-entropy, dice loss).
///
/// Soft Dice is taken per foreground class over the whole batch (so a class
/// absent from one slice does not dominate) and averaged; ε = 1 keeps absent
/// classes from dividing by zero.
pub fn dice_ce_loss(logits: &Tensor, labels: &Tensor) -> Result<(Tensor, Tensor, Tensor)> {
    let k = logits.dim(1)?;
    let target = ops::one_hot(labels, k, logits.dtype())?;
    let log_p = candle_nn::ops::log_softmax(logits, 1)?;
    let ce = (target.mul(&log_p)?.sum(1)?.mean_all()? * -1.0)?;
    let p = log_p.exp()?;
    // Sum over batch and pixels, keep the class axis: [k].
    let sum_bk = |t: &Tensor| t.sum(D::Minus1)?.sum(D::Minus1)?.sum(0);
    let inter = sum_bk(&(&p * &target)?)?;
    let denom = (sum_bk(&p)? + sum_bk(&target)?)?;
    let dice = ((inter * 2.0)? + 1.0)?.div(&(denom + 1.0)?)?;
    let dice_fg = dice.narrow(0, 1, k - 1)?.mean_all()?;
    let dice_loss = (1.0 - dice_fg)?;
    Ok(((&ce + &dice_loss)?, ce, dice_loss))
}
