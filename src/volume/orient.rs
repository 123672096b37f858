//! Orientation: which stored axis is the slice axis, and how each axial slice
//! maps to the model frame.
//!
//! The model frame is the radiological display of an axial slice: row 0 is
//! the most anterior row, column 0 the patient's right. Slices keep their
//! stored order. Axes are assigned from the affine (the stored axis closest to
//! world S–I is the slice axis, the one closest to A–P gives the rows), so a
//! scan stored RAS, LPS, or with permuted axes yields the same model slices.

use anyhow::Result;

use super::header::ScanHeader;
use crate::input_error;

/// Maps model-frame pixels (row, col) of slice `s` to stored voxel indices.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SliceFrame {
    /// Stored dims.
    pub dims: [usize; 3],
    /// Stored axis along the slices (through-plane).
    pub slice_axis: usize,
    /// Stored axis along model rows (anterior → posterior).
    pub row_axis: usize,
    /// Stored axis along model columns (patient right → left).
    pub col_axis: usize,
    /// Model row r reads stored index `n - 1 - r` on the row axis.
    pub flip_rows: bool,
    /// Model column c reads stored index `n - 1 - c` on the column axis.
    pub flip_cols: bool,
    /// Physical size of a model row / column step (mm).
    pub row_spacing: f64,
    pub col_spacing: f64,
}

impl SliceFrame {
    pub fn from_header(h: &ScanHeader) -> Result<Self> {
        let a = &h.affine;
        let spacing = h.spacing();
        let dir = |c: usize, w: usize| a[w][c] / spacing[c];
        // World axes (RAS+): 0 = x (R), 1 = y (A), 2 = z (S).
        let slice_axis = (0..3)
            .max_by(|&p, &q| dir(p, 2).abs().total_cmp(&dir(q, 2).abs()))
            .unwrap();
        let rest: Vec<usize> = (0..3).filter(|&c| c != slice_axis).collect();
        let (row_axis, col_axis) = if dir(rest[0], 1).abs() >= dir(rest[1], 1).abs() {
            (rest[0], rest[1])
        } else {
            (rest[1], rest[0])
        };
        // An axial slice must be an axial slice: refuse sagittal/coronal-only data
        // where no stored axis is even roughly head-to-foot.
        if dir(slice_axis, 2).abs() < 0.5 {
            return Err(input_error!(
                "{}: no stored axis runs head to foot (orientation {}); only axial CT is supported",
                h.path.display(),
                h.axcodes()
            ));
        }
        Ok(Self {
            dims: h.dims,
            slice_axis,
            row_axis,
            col_axis,
            // Rows run toward posterior (−y): flip when the stored axis runs anterior.
            flip_rows: dir(row_axis, 1) > 0.0,
            // Columns run toward patient left (−x): flip when the stored axis runs right.
            flip_cols: dir(col_axis, 0) > 0.0,
            row_spacing: spacing[row_axis],
            col_spacing: spacing[col_axis],
        })
    }

    pub fn rows(&self) -> usize {
        self.dims[self.row_axis]
    }

    pub fn cols(&self) -> usize {
        self.dims[self.col_axis]
    }

    pub fn slices(&self) -> usize {
        self.dims[self.slice_axis]
    }

    /// True when each model slice is one stored plane, so the scan can be
    /// streamed plane by plane.
    pub fn streamable(&self) -> bool {
        self.slice_axis == 2
    }

    /// Strides (in stored elements) of model rows and columns, and the offset of
    /// model pixel (0, 0) of slice `s`, within the whole stored volume.
    fn layout(&self, s: usize) -> (isize, isize, isize) {
        let stride = [
            1isize,
            self.dims[0] as isize,
            (self.dims[0] * self.dims[1]) as isize,
        ];
        let (sr, sc) = (stride[self.row_axis], stride[self.col_axis]);
        let mut origin = s as isize * stride[self.slice_axis];
        let (mut dr, mut dc) = (sr, sc);
        if self.flip_rows {
            origin += (self.rows() as isize - 1) * sr;
            dr = -sr;
        }
        if self.flip_cols {
            origin += (self.cols() as isize - 1) * sc;
            dc = -sc;
        }
        (origin, dr, dc)
    }

    /// Copies model slice `s` out of a whole stored volume into `out` (rows × cols).
    pub fn gather<T: Copy>(&self, volume: &[T], s: usize, out: &mut [T]) {
        let (origin, dr, dc) = self.layout(s);
        self.walk(origin, dr, dc, |i, o| out[o] = volume[i]);
    }

    /// Copies a stored plane (when [`streamable`](Self::streamable)) into model frame.
    pub fn gather_plane<T: Copy>(&self, plane: &[T], out: &mut [T]) {
        debug_assert!(self.streamable());
        let (origin, dr, dc) = self.layout(0);
        self.walk(origin, dr, dc, |i, o| out[o] = plane[i]);
    }

    /// Writes a model-frame slice back into a whole stored volume at slice `s`.
    pub fn scatter<T: Copy>(&self, slice: &[T], s: usize, volume: &mut [T]) {
        let (origin, dr, dc) = self.layout(s);
        self.walk(origin, dr, dc, |i, o| volume[i] = slice[o]);
    }

    /// Writes a model-frame slice into a stored plane (when streamable).
    pub fn scatter_plane<T: Copy>(&self, slice: &[T], plane: &mut [T]) {
        debug_assert!(self.streamable());
        let (origin, dr, dc) = self.layout(0);
        self.walk(origin, dr, dc, |i, o| plane[i] = slice[o]);
    }

    #[inline]
    fn walk(&self, origin: isize, dr: isize, dc: isize, mut f: impl FnMut(usize, usize)) {
        let cols = self.cols();
        for r in 0..self.rows() {
            let row = origin + r as isize * dr;
            for c in 0..cols {
                f((row + c as isize * dc) as usize, r * cols + c);
            }
        }
    }
}
