//! Cosine similarity over plain `f32` vectors: normalisation, the dense similarity matrix
//! and top-k search.
//!
//! Vectors compared with each other are expected to have one length; a dot product of
//! unequal lengths runs over the shorter one (callers such as [`super::eval::evaluate`]
//! validate dimensions first). A zero vector stays zero under [`l2_normalize`], so its
//! cosine with anything is 0.

use rayon::prelude::*;

/// Above this many multiply-adds the matrix is computed on the rayon pool; below it the
/// thread hand-off costs more than it saves.
const PARALLEL_WORK: usize = 1 << 18;

/// A dense, row-major matrix of similarity scores.
#[derive(Debug, Clone, PartialEq)]
pub struct SimMatrix {
    rows: usize,
    cols: usize,
    data: Vec<f32>,
}

impl SimMatrix {
    /// A matrix from row-major `data`; `None` unless `data.len() == rows * cols`.
    pub fn new(rows: usize, cols: usize, data: Vec<f32>) -> Option<Self> {
        (rows.checked_mul(cols) == Some(data.len())).then_some(SimMatrix { rows, cols, data })
    }

    /// A `rows x cols` matrix whose entry `(r, c)` is `f(r, c)`.
    pub fn from_fn(rows: usize, cols: usize, mut f: impl FnMut(usize, usize) -> f32) -> Self {
        let mut data = Vec::with_capacity(rows * cols);
        for r in 0..rows {
            for c in 0..cols {
                data.push(f(r, c));
            }
        }
        SimMatrix { rows, cols, data }
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// True for a square matrix.
    pub fn is_square(&self) -> bool {
        self.rows == self.cols
    }

    /// The row-major values.
    pub fn data(&self) -> &[f32] {
        &self.data
    }

    /// The score at row `r`, column `c`.
    ///
    /// # Panics
    /// When `r >= rows` or `c >= cols`, like slice indexing.
    pub fn get(&self, r: usize, c: usize) -> f32 {
        assert!(
            c < self.cols,
            "column {c} out of range ({} columns)",
            self.cols
        );
        self.data[r * self.cols + c]
    }

    /// Row `r` as a slice of `cols` scores.
    ///
    /// # Panics
    /// When `r >= rows`, like slice indexing.
    pub fn row(&self, r: usize) -> &[f32] {
        &self.data[r * self.cols..(r + 1) * self.cols]
    }

    /// The transpose (`cols x rows`).
    pub fn transpose(&self) -> SimMatrix {
        SimMatrix::from_fn(self.cols, self.rows, |r, c| self.get(c, r))
    }

    /// Smallest and largest finite value, or `None` when there is none.
    pub fn finite_range(&self) -> Option<(f32, f32)> {
        self.data
            .iter()
            .filter(|v| v.is_finite())
            .fold(None, |acc, &v| match acc {
                None => Some((v, v)),
                Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
            })
    }
}

/// Scales `v` to unit Euclidean length in place; a zero (or non-finite-norm) vector is left
/// unchanged.
pub fn l2_normalize(v: &mut [f32]) {
    // Accumulate in f64: 512-dim embeddings with large entries lose digits in f32.
    let norm = v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    if norm > 0.0 && norm.is_finite() {
        let inv = (1.0 / norm) as f32;
        v.iter_mut().for_each(|x| *x *= inv);
    }
}

fn normalized(vs: &[Vec<f32>]) -> Vec<Vec<f32>> {
    vs.iter()
        .map(|v| {
            let mut v = v.clone();
            l2_normalize(&mut v);
            v
        })
        .collect()
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Cosine similarity of every vector in `a` (rows) with every vector in `b` (columns).
/// The inputs are not modified; normalised copies are compared.
pub fn cosine_matrix(a: &[Vec<f32>], b: &[Vec<f32>]) -> SimMatrix {
    let (na, nb) = (normalized(a), normalized(b));
    let cols = nb.len();
    let mut data = vec![0.0f32; na.len() * cols];
    if cols == 0 {
        return SimMatrix {
            rows: na.len(),
            cols,
            data,
        };
    }
    let fill_row = |(r, out): (usize, &mut [f32])| {
        for (c, slot) in out.iter_mut().enumerate() {
            *slot = dot(&na[r], &nb[c]);
        }
    };
    let dim = na.first().map_or(0, Vec::len);
    if na.len() * cols * dim >= PARALLEL_WORK {
        data.par_chunks_mut(cols).enumerate().for_each(fill_row);
    } else {
        data.chunks_mut(cols).enumerate().for_each(fill_row);
    }
    SimMatrix {
        rows: na.len(),
        cols,
        data,
    }
}

/// The `k` items most cosine-similar to `query`, best first, as `(index, score)`; ties go
/// to the lower index. `exclude` (e.g. the query's own position) is never returned. Fewer
/// than `k` come back when there are fewer items.
pub fn top_k(
    query: &[f32],
    items: &[Vec<f32>],
    k: usize,
    exclude: Option<usize>,
) -> Vec<(usize, f32)> {
    let mut q = query.to_vec();
    l2_normalize(&mut q);
    let mut scored: Vec<(usize, f32)> = items
        .iter()
        .enumerate()
        .filter(|(i, _)| Some(*i) != exclude)
        .map(|(i, v)| {
            let mut v = v.clone();
            l2_normalize(&mut v);
            (i, dot(&q, &v))
        })
        .collect();
    // NaN sorts last (as the lowest score) so a broken vector never outranks a real match.
    let key = |s: f32| if s.is_nan() { f32::NEG_INFINITY } else { s };
    scored.sort_by(|a, b| key(b.1).total_cmp(&key(a.1)).then(a.0.cmp(&b.0)));
    scored.truncate(k);
    scored
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_unit_length_and_zero_vector() {
        let mut v = vec![3.0, 4.0];
        l2_normalize(&mut v);
        assert!((v[0] - 0.6).abs() < 1e-6 && (v[1] - 0.8).abs() < 1e-6);
        let mut z = vec![0.0, 0.0];
        l2_normalize(&mut z);
        assert_eq!(z, vec![0.0, 0.0]);
    }

    #[test]
    fn cosine_matrix_values_and_shape() {
        let a = vec![vec![1.0, 0.0], vec![0.0, 2.0], vec![1.0, 1.0]];
        let b = vec![vec![2.0, 0.0], vec![0.0, -1.0]];
        let m = cosine_matrix(&a, &b);
        assert_eq!((m.rows(), m.cols()), (3, 2));
        assert!((m.get(0, 0) - 1.0).abs() < 1e-6);
        assert!((m.get(1, 1) + 1.0).abs() < 1e-6);
        assert!((m.get(2, 0) - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-6);
        assert_eq!(m.row(1).len(), 2);
        let t = m.transpose();
        assert_eq!((t.rows(), t.cols()), (2, 3));
        assert_eq!(t.get(0, 2), m.get(2, 0));
        // Inputs untouched.
        assert_eq!(a[1], vec![0.0, 2.0]);
    }

    #[test]
    fn parallel_path_matches_serial() {
        let a: Vec<Vec<f32>> = (0..80)
            .map(|i| {
                (0..64)
                    .map(|j| ((i * 7 + j * 3) % 11) as f32 - 5.0)
                    .collect()
            })
            .collect();
        let big = cosine_matrix(&a, &a);
        for r in [0, 17, 79] {
            let small = cosine_matrix(&a[r..r + 1], &a);
            for c in 0..80 {
                assert!((big.get(r, c) - small.get(0, c)).abs() < 1e-6);
            }
        }
    }

    #[test]
    fn top_k_orders_breaks_ties_and_excludes() {
        let items = vec![
            vec![1.0, 0.0],
            vec![0.0, 1.0],
            vec![2.0, 0.0],
            vec![1.0, 1.0],
        ];
        let hits = top_k(&[1.0, 0.0], &items, 3, None);
        assert_eq!(hits.iter().map(|h| h.0).collect::<Vec<_>>(), vec![0, 2, 3]);
        let hits = top_k(&[1.0, 0.0], &items, 10, Some(0));
        assert_eq!(hits.iter().map(|h| h.0).collect::<Vec<_>>(), vec![2, 3, 1]);
        assert!(top_k(&[1.0, 0.0], &items, 0, None).is_empty());
    }

    #[test]
    fn new_checks_length_and_range() {
        assert!(SimMatrix::new(2, 2, vec![0.0; 3]).is_none());
        let m = SimMatrix::new(1, 3, vec![0.5, f32::NAN, -1.0]).unwrap();
        assert_eq!(m.finite_range(), Some((-1.0, 0.5)));
    }
}
