//! `ModelConfig`: the one description of a network, shared by training, the
//! checkpoint, the ONNX export and the runtime (shared/DESIGN.md §2).

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

/// The five architectures of the U-Transformer paper's tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum Arch {
    /// Plain U-Net.
    Unet,
    /// U-Net with additive attention gates on the skips (Oktay et al.).
    AttentionUnet,
    /// U-Net with multi-head self-attention at the bottleneck.
    Mhsa,
    /// U-Net with multi-head cross-attention gates on the skips.
    Mhca,
    /// MHSA + MHCA: the U-Transformer.
    UTransformer,
}

impl Arch {
    pub fn has_mhsa(self) -> bool {
        matches!(self, Arch::Mhsa | Arch::UTransformer)
    }
    pub fn has_mhca(self) -> bool {
        matches!(self, Arch::Mhca | Arch::UTransformer)
    }
    pub fn has_additive_gates(self) -> bool {
        self == Arch::AttentionUnet
    }
    pub fn name(self) -> &'static str {
        match self {
            Arch::Unet => "unet",
            Arch::AttentionUnet => "attention_unet",
            Arch::Mhsa => "mhsa",
            Arch::Mhca => "mhca",
            Arch::UTransformer => "u_transformer",
        }
    }
}

/// Named sizes of the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Preset {
    /// Unit tests: seconds on a CPU.
    Tiny,
    /// The shipped model: about an hour on 2 CPU cores.
    Demo,
    /// 256² at 1.5 mm: an edge device's model.
    Edge,
    /// 512², 4 levels, base 64: the paper's size.
    Paper,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    pub arch: Arch,
    pub in_channels: usize,
    /// Classes including background.
    pub classes: usize,
    pub base_channels: usize,
    /// Number of 2×2 poolings.
    pub levels: usize,
    /// Side of the square model input (pixels).
    pub input_size: usize,
    pub heads: usize,
    /// In-plane spacing the model works at (mm).
    pub spacing_mm: f64,
    /// Hounsfield window [lo, hi] mapped onto [0, 1].
    pub window_hu: [f32; 2],
    pub class_names: Vec<String>,
}

/// The seven organs of the paper's multi-organ experiment, after background
/// (defined with the label maps in the runtime crate, which `eval` shares).
pub use utx_edge::labels::ORGAN_CLASSES;

/// Largest side of an attention token grid (DESIGN.md §2).
pub const MAX_TOKEN_GRID: usize = 32;

impl ModelConfig {
    pub fn preset(preset: Preset, arch: Arch) -> Self {
        let (base, levels, size, heads, spacing) = match preset {
            Preset::Tiny => (4, 1, 64, 2, 6.0),
            Preset::Demo => (16, 2, 128, 4, 3.0),
            Preset::Edge => (32, 3, 256, 8, 1.5),
            Preset::Paper => (64, 4, 512, 8, 0.8),
        };
        Self {
            arch,
            in_channels: 1,
            classes: ORGAN_CLASSES.len(),
            base_channels: base,
            levels,
            input_size: size,
            heads,
            spacing_mm: spacing,
            window_hu: [-200.0, 300.0],
            class_names: ORGAN_CLASSES.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// Channels at encoder level `l` (the bottleneck is `l = levels`).
    pub fn channels(&self, level: usize) -> usize {
        self.base_channels << level
    }

    /// Side of the feature map at level `l`.
    pub fn side(&self, level: usize) -> usize {
        self.input_size >> level
    }

    /// Side of the attention token grid of the MHCA gate at skip level `l`.
    pub fn token_grid(&self, level: usize) -> usize {
        self.side(level + 1).min(MAX_TOKEN_GRID)
    }

    /// Checks the constraints the layers rely on; the message says which.
    pub fn validate(&self) -> Result<()> {
        if self.in_channels != 1 {
            bail!(
                "in_channels must be 1 (one CT channel), got {}",
                self.in_channels
            );
        }
        if self.classes < 2 {
            bail!(
                "classes must be at least 2 (background + one organ), got {}",
                self.classes
            );
        }
        if self.class_names.len() != self.classes {
            bail!(
                "class_names has {} names for {} classes",
                self.class_names.len(),
                self.classes
            );
        }
        if self.levels == 0 || !self.input_size.is_multiple_of(1 << self.levels) {
            bail!(
                "input_size {} is not divisible by 2^levels ({} levels)",
                self.input_size,
                self.levels
            );
        }
        if !self.base_channels.is_multiple_of(4) || self.base_channels == 0 {
            bail!(
                "base_channels must be a positive multiple of 4 (2D positional encoding), got {}",
                self.base_channels
            );
        }
        if self.heads == 0 || !self.base_channels.is_multiple_of(self.heads) {
            bail!(
                "heads ({}) must divide base_channels ({})",
                self.heads,
                self.base_channels
            );
        }
        let bottom = self.side(self.levels);
        if self.arch.has_mhsa() && bottom > MAX_TOKEN_GRID {
            bail!(
                "the MHSA bottleneck would be {bottom}×{bottom} tokens; keep input_size / 2^levels ≤ {MAX_TOKEN_GRID}"
            );
        }
        let positive = |a: f64, b: f64| a.partial_cmp(&b) == Some(std::cmp::Ordering::Greater);
        if !positive(self.spacing_mm, 0.0)
            || !positive(self.window_hu[1] as f64, self.window_hu[0] as f64)
        {
            bail!("spacing_mm must be positive and window_hu increasing");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_valid_and_keep_a_32_bottleneck() {
        for p in [Preset::Tiny, Preset::Demo, Preset::Edge, Preset::Paper] {
            let c = ModelConfig::preset(p, Arch::UTransformer);
            c.validate().unwrap();
            assert_eq!(c.side(c.levels), 32, "{p:?}");
        }
    }

    #[test]
    fn json_round_trip_uses_snake_case() {
        let c = ModelConfig::preset(Preset::Demo, Arch::AttentionUnet);
        let s = serde_json::to_string(&c).unwrap();
        assert!(s.contains("\"attention_unet\""));
        assert_eq!(serde_json::from_str::<ModelConfig>(&s).unwrap(), c);
    }

    #[test]
    fn invalid_configs_are_refused() {
        let mut c = ModelConfig::preset(Preset::Tiny, Arch::Mhsa);
        c.heads = 3;
        assert!(c.validate().unwrap_err().to_string().contains("heads"));
        let mut c = ModelConfig::preset(Preset::Tiny, Arch::Mhsa);
        c.input_size = 128;
        assert!(c.validate().unwrap_err().to_string().contains("MHSA"));
    }
}
