//! Train/validation splits: k-fold by patient (the paper: 5 folds), or, for a
//! single scan, k-fold over contiguous blocks of slices so that validation
//! slices are never trained on. Synthetic phantoms always train.

use super::slices::SliceOrigin;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// Case `c` validates in fold `c mod k`.
    Patients { folds: usize, fold: usize },
    /// Slice `s` validates when `(s / block) mod k == fold`.
    Slices {
        folds: usize,
        fold: usize,
        block: usize,
    },
    /// Everything trains; nothing validates.
    None,
}

impl Split {
    pub fn is_validation(&self, o: &SliceOrigin) -> bool {
        if o.synthetic {
            return false;
        }
        match *self {
            Split::Patients { folds, fold } => o.case % folds == fold,
            Split::Slices { folds, fold, block } => (o.slice / block) % folds == fold,
            Split::None => false,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Split::Patients { folds, fold } => format!("patients, fold {fold} of {folds}"),
            Split::Slices { folds, fold, block } => {
                format!("slice blocks of {block}, fold {fold} of {folds}")
            }
            Split::None => "none".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_partition_real_slices_and_keep_phantoms_for_training() {
        let origins: Vec<SliceOrigin> = (0..30)
            .map(|s| SliceOrigin {
                case: s / 10,
                slice: s % 10,
                synthetic: false,
            })
            .collect();
        for split in [
            |f| Split::Patients { folds: 3, fold: f },
            |f| Split::Slices {
                folds: 3,
                fold: f,
                block: 2,
            },
        ] {
            let mut hits = vec![0; origins.len()];
            for f in 0..3 {
                for (i, o) in origins.iter().enumerate() {
                    hits[i] += split(f).is_validation(o) as usize;
                }
            }
            assert!(
                hits.iter().all(|&h| h == 1),
                "every slice validates in exactly one fold"
            );
        }
        let ph = SliceOrigin {
            case: 0,
            slice: 0,
            synthetic: true,
        };
        assert!(!Split::Patients { folds: 1, fold: 0 }.is_validation(&ph));
    }
}
