//! Writes a CT volume of any number of slices by repeating the sample's
//! slices, for the peak-memory benchmark (benches/peak_rss.sh):
//! `cargo run --release --example make_volume -- IN.nii.gz SLICES OUT.nii`.

use std::path::PathBuf;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    anyhow::ensure!(
        args.len() == 4,
        "usage: make_volume IN.nii.gz SLICES OUT.nii[.gz]"
    );
    let src = utx_edge::volume::read_volume(&PathBuf::from(&args[1]))?;
    let slices: usize = args[2].parse()?;
    let [nx, ny, nz] = src.dims();
    let mut h = src.header.nifti.clone();
    h.dim[3] = slices as u16;
    h.datatype = 4;
    h.bitpix = 16;
    h.scl_slope = 1.0;
    h.scl_inter = 0.0;
    let plane = nx * ny;
    let mut bytes = Vec::with_capacity(plane * slices * 2);
    for k in 0..slices {
        // Walk up and down the sample so neighbouring slices stay neighbours.
        let period = 2 * nz - 2;
        let s = if k % period < nz {
            k % period
        } else {
            period - k % period
        };
        for v in &src.data[s * plane..(s + 1) * plane] {
            bytes.extend_from_slice(&(*v as i16).to_le_bytes());
        }
    }
    utx_edge::volume::write::write_raw(&PathBuf::from(&args[3]), &h, &bytes)
}
