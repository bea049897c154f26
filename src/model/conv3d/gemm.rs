//! A bounds-checked, single-threaded wrapper around `gemm::gemm` (the matrix multiply candle's
//! CPU backend uses). This is the crate's only `unsafe`: `gemm::gemm` takes raw pointers and
//! strides, and the checks below make every call in-bounds. The callers run many of these
//! GEMMs in parallel on independent tiles, so each one runs on one thread.

/// Element types the convolution kernels support (`f32` for the model, `f64` for gradient tests).
pub(super) trait Element:
    Copy + Send + Sync + PartialEq + std::ops::Add<Output = Self> + std::ops::AddAssign + 'static
{
    /// Additive identity.
    const ZERO: Self;
    /// Multiplicative identity.
    const ONE: Self;
}

impl Element for f32 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
}

impl Element for f64 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
}

/// A read-only strided matrix view: element `(i, j)` is `data[i * rs + j * cs]`.
#[derive(Debug, Clone, Copy)]
pub(super) struct MatRef<'a, T> {
    pub data: &'a [T],
    pub rows: usize,
    pub cols: usize,
    pub rs: usize,
    pub cs: usize,
}

/// A mutable strided matrix view: element `(i, j)` is `data[i * rs + j * cs]`.
#[derive(Debug)]
pub(super) struct MatMut<'a, T> {
    pub data: &'a mut [T],
    pub rows: usize,
    pub cols: usize,
    pub rs: usize,
    pub cs: usize,
}

/// Whether the largest index a `rows x cols` view with these strides touches lies in `len`.
fn fits(len: usize, rows: usize, cols: usize, rs: usize, cs: usize) -> bool {
    rows == 0 || cols == 0 || (rows - 1) * rs + (cols - 1) * cs < len
}

impl<'a, T> MatRef<'a, T> {
    /// A row-major `rows x cols` matrix starting at `data[0]`.
    pub fn row_major(data: &'a [T], rows: usize, cols: usize) -> Self {
        MatRef {
            data,
            rows,
            cols,
            rs: cols,
            cs: 1,
        }
    }

    /// The transposed view (no copy).
    pub fn t(self) -> Self {
        MatRef {
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
            data: self.data,
        }
    }
}

impl<'a, T> MatMut<'a, T> {
    /// A row-major `rows x cols` matrix starting at `data[0]`.
    pub fn row_major(data: &'a mut [T], rows: usize, cols: usize) -> Self {
        MatMut {
            data,
            rows,
            cols,
            rs: cols,
            cs: 1,
        }
    }
}

/// `dst = lhs · rhs`, or `dst += lhs · rhs` when `accumulate`.
///
/// # Panics
/// When the shapes disagree or a view reaches past its slice: both are bugs in the caller,
/// never data-dependent, and checking here is what makes the `unsafe` call below sound.
pub(super) fn matmul<T: Element>(
    dst: MatMut<'_, T>,
    lhs: MatRef<'_, T>,
    rhs: MatRef<'_, T>,
    accumulate: bool,
) {
    assert!(
        lhs.rows == dst.rows && rhs.cols == dst.cols && lhs.cols == rhs.rows,
        "gemm: shapes {}x{} · {}x{} -> {}x{}",
        lhs.rows,
        lhs.cols,
        rhs.rows,
        rhs.cols,
        dst.rows,
        dst.cols
    );
    assert!(
        fits(dst.data.len(), dst.rows, dst.cols, dst.rs, dst.cs),
        "gemm: dst out of bounds"
    );
    assert!(
        fits(lhs.data.len(), lhs.rows, lhs.cols, lhs.rs, lhs.cs),
        "gemm: lhs out of bounds"
    );
    assert!(
        fits(rhs.data.len(), rhs.rows, rhs.cols, rhs.rs, rhs.cs),
        "gemm: rhs out of bounds"
    );
    // Distinct elements of dst must not overlap, or the kernel would race with itself.
    assert!(
        dst.rows <= 1
            || dst.cols <= 1
            || (dst.rs >= dst.cols * dst.cs || dst.cs >= dst.rows * dst.rs)
    );
    if dst.rows == 0 || dst.cols == 0 {
        return;
    }
    if lhs.cols == 0 {
        if !accumulate {
            for i in 0..dst.rows {
                for j in 0..dst.cols {
                    dst.data[i * dst.rs + j * dst.cs] = T::ZERO;
                }
            }
        }
        return;
    }
    // SAFETY: the asserts above keep every index gemm touches, `i * rs + j * cs` for `i < rows`
    // and `j < cols`, inside the respective slice; `dst` is a unique borrow, so it aliases
    // neither input, and its elements are distinct; strides fit `isize` because they index
    // (non-empty) slices. `T` is `f32` or `f64`, which `gemm` supports.
    #[allow(unsafe_code)]
    unsafe {
        gemm::gemm(
            dst.rows,
            dst.cols,
            lhs.cols,
            dst.data.as_mut_ptr(),
            dst.cs as isize,
            dst.rs as isize,
            accumulate,
            lhs.data.as_ptr(),
            lhs.cs as isize,
            lhs.rs as isize,
            rhs.data.as_ptr(),
            rhs.cs as isize,
            rhs.rs as isize,
            T::ONE,
            T::ONE,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matmul_matches_naive_with_strides_and_accumulation() {
        let (m, k, n) = (5, 7, 3);
        let a: Vec<f64> = (0..m * k).map(|i| (i as f64 * 0.37).sin()).collect();
        let b: Vec<f64> = (0..k * n).map(|i| (i as f64 * 0.91).cos()).collect();
        let mut c = vec![1.0; m * n];
        // b stored transposed: use the transposed view of a n x k row-major matrix.
        let bt: Vec<f64> = (0..n * k).map(|i| b[(i % k) * n + i / k]).collect();
        matmul(
            MatMut::row_major(&mut c, m, n),
            MatRef::row_major(&a, m, k),
            MatRef::row_major(&bt, n, k).t(),
            true,
        );
        for i in 0..m {
            for j in 0..n {
                let want: f64 = 1.0 + (0..k).map(|l| a[i * k + l] * b[l * n + j]).sum::<f64>();
                assert!((c[i * n + j] - want).abs() < 1e-12);
            }
        }
    }

    #[test]
    #[should_panic(expected = "out of bounds")]
    fn matmul_refuses_short_slices() {
        let a = [1.0f32; 6];
        let mut c = [0.0f32; 4];
        matmul(
            MatMut::row_major(&mut c, 2, 2),
            MatRef::row_major(&a, 2, 4),
            MatRef::row_major(&a, 4, 2),
            false,
        );
    }
}
