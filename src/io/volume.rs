//! In-memory volumes and affine transforms.
//!
//! Voxel order: [`Volume::data`] is indexed `i + nx * (j + ny * k)` for voxel `(i, j, k)`,
//! i.e. `i` fastest. This is the NIfTI on-disk (column-major) order, and read as a row-major
//! array it is `[k, j, i]` = `[d, h, w]`. The one conversion from files to this layout lives
//! in `nifti_read`.

/// A 4x4 affine transform, row-major, last row `[0, 0, 0, 1]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Affine(pub [[f64; 4]; 4]);

impl Affine {
    /// The identity transform.
    pub fn identity() -> Self {
        let mut m = [[0.0; 4]; 4];
        for (i, row) in m.iter_mut().enumerate() {
            row[i] = 1.0;
        }
        Affine(m)
    }

    /// Builds from a 3x3 linear part and a translation.
    pub fn from_parts(linear: [[f64; 3]; 3], translation: [f64; 3]) -> Self {
        let mut m = Affine::identity().0;
        for r in 0..3 {
            m[r][..3].copy_from_slice(&linear[r]);
            m[r][3] = translation[r];
        }
        Affine(m)
    }

    /// The 3x3 linear part.
    pub fn linear(&self) -> [[f64; 3]; 3] {
        let m = &self.0;
        [
            [m[0][0], m[0][1], m[0][2]],
            [m[1][0], m[1][1], m[1][2]],
            [m[2][0], m[2][1], m[2][2]],
        ]
    }

    /// The translation column.
    pub fn translation(&self) -> [f64; 3] {
        [self.0[0][3], self.0[1][3], self.0[2][3]]
    }

    /// `self * other` (apply `other` first).
    pub fn compose(&self, other: &Affine) -> Affine {
        let mut out = [[0.0; 4]; 4];
        for (r, row) in out.iter_mut().enumerate() {
            for (c, v) in row.iter_mut().enumerate() {
                *v = (0..4).map(|k| self.0[r][k] * other.0[k][c]).sum();
            }
        }
        Affine(out)
    }

    /// Maps a point.
    #[inline]
    pub fn apply(&self, p: [f64; 3]) -> [f64; 3] {
        let m = &self.0;
        [
            m[0][0] * p[0] + m[0][1] * p[1] + m[0][2] * p[2] + m[0][3],
            m[1][0] * p[0] + m[1][1] * p[1] + m[1][2] * p[2] + m[1][3],
            m[2][0] * p[0] + m[2][1] * p[1] + m[2][2] * p[2] + m[2][3],
        ]
    }

    /// Determinant of the linear part.
    pub fn determinant(&self) -> f64 {
        let a = self.linear();
        a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1])
            - a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0])
            + a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0])
    }

    /// Inverse, or `None` when the linear part is singular or not finite.
    pub fn inverse(&self) -> Option<Affine> {
        let a = self.linear();
        let det = self.determinant();
        if !det.is_finite() || det.abs() < 1e-12 {
            return None;
        }
        let inv_det = 1.0 / det;
        let mut inv = [[0.0; 3]; 3];
        for r in 0..3 {
            for c in 0..3 {
                // Cofactor of a[c][r] (transposed adjugate).
                let (r1, r2) = ((c + 1) % 3, (c + 2) % 3);
                let (c1, c2) = ((r + 1) % 3, (r + 2) % 3);
                inv[r][c] = (a[r1][c1] * a[r2][c2] - a[r1][c2] * a[r2][c1]) * inv_det;
            }
        }
        let t = self.translation();
        let mut ti = [0.0; 3];
        for r in 0..3 {
            ti[r] = -(inv[r][0] * t[0] + inv[r][1] * t[1] + inv[r][2] * t[2]);
        }
        let out = Affine::from_parts(inv, ti);
        out.0.iter().flatten().all(|v| v.is_finite()).then_some(out)
    }

    /// Length of each voxel axis in world units (column norms of the linear part).
    pub fn column_norms(&self) -> [f64; 3] {
        let a = self.linear();
        let mut out = [0.0; 3];
        for (c, o) in out.iter_mut().enumerate() {
            *o = (0..3).map(|r| a[r][c] * a[r][c]).sum::<f64>().sqrt();
        }
        out
    }

    /// Orientation code as nibabel's `aff2axcodes`: for each voxel axis the world direction it
    /// points to, in RAS+ world (`"RAS"`, `"LPS"`, `"LAS"`, ...). Axes are matched greedily by
    /// the largest absolute direction cosine, each world axis used once.
    pub fn orientation_code(&self) -> String {
        let a = self.linear();
        let mut used = [false; 3];
        let mut code = [' '; 3];
        // Assign the voxel axis with the strongest alignment first.
        let mut order: Vec<(usize, usize, f64)> = Vec::new();
        for c in 0..3 {
            let n = (0..3)
                .map(|r| a[r][c] * a[r][c])
                .sum::<f64>()
                .sqrt()
                .max(1e-12);
            for r in 0..3 {
                order.push((c, r, a[r][c] / n));
            }
        }
        order.sort_by(|x, y| y.2.abs().total_cmp(&x.2.abs()));
        let mut done = [false; 3];
        for (c, r, v) in order {
            if done[c] || used[r] {
                continue;
            }
            done[c] = true;
            used[r] = true;
            code[c] = match (r, v >= 0.0) {
                (0, true) => 'R',
                (0, false) => 'L',
                (1, true) => 'A',
                (1, false) => 'P',
                (2, true) => 'S',
                _ => 'I',
            };
        }
        code.iter().collect()
    }
}

/// A scalar 3-D volume in world space.
#[derive(Debug, Clone, PartialEq)]
pub struct Volume {
    /// Voxel counts `[nx, ny, nz]` along the voxel axes `i, j, k`.
    pub dims: [usize; 3],
    /// Voxel values, `i` fastest (see module docs). Always finite.
    pub data: Vec<f32>,
    /// Maps voxel indices `(i, j, k)` to world millimetres (RAS+, NIfTI convention).
    pub world_from_voxel: Affine,
}

impl Volume {
    /// Creates a volume; `data.len()` must equal the product of `dims`.
    pub fn new(dims: [usize; 3], data: Vec<f32>, world_from_voxel: Affine) -> Option<Self> {
        (dims.iter().product::<usize>() == data.len()).then_some(Volume {
            dims,
            data,
            world_from_voxel,
        })
    }

    /// Voxel size in mm along each voxel axis.
    pub fn spacing_mm(&self) -> [f64; 3] {
        self.world_from_voxel.column_norms()
    }

    /// Linear index of voxel `(i, j, k)`.
    #[inline]
    pub fn index(&self, i: usize, j: usize, k: usize) -> usize {
        i + self.dims[0] * (j + self.dims[1] * k)
    }

    /// Value at voxel `(i, j, k)`; panics out of range like slice indexing.
    #[inline]
    pub fn at(&self, i: usize, j: usize, k: usize) -> f32 {
        self.data[self.index(i, j, k)]
    }

    /// Trilinear interpolation at continuous voxel coordinates. Points outside the volume
    /// (beyond half a voxel past the edge centres) give `None`; within that margin the edge
    /// value is extended.
    #[inline]
    pub fn sample_trilinear(&self, p: [f64; 3]) -> Option<f32> {
        let mut base = [0usize; 3];
        let mut frac = [0f32; 3];
        for ax in 0..3 {
            let n = self.dims[ax];
            let x = p[ax];
            if !(x >= -0.5 && x <= n as f64 - 0.5) {
                return None;
            }
            let x = x.clamp(0.0, (n - 1) as f64);
            let f = x.floor();
            let b = (f as usize).min(n.saturating_sub(2));
            base[ax] = b;
            frac[ax] = if n == 1 { 0.0 } else { (x - b as f64) as f32 };
        }
        let [nx, ny, _] = self.dims;
        let step = [
            usize::from(self.dims[0] > 1),
            if self.dims[1] > 1 { nx } else { 0 },
            if self.dims[2] > 1 { nx * ny } else { 0 },
        ];
        let i0 = self.index(base[0], base[1], base[2]);
        let d = &self.data;
        let lerp = |a: f32, b: f32, t: f32| a + (b - a) * t;
        let c00 = lerp(d[i0], d[i0 + step[0]], frac[0]);
        let c10 = lerp(d[i0 + step[1]], d[i0 + step[1] + step[0]], frac[0]);
        let c01 = lerp(d[i0 + step[2]], d[i0 + step[2] + step[0]], frac[0]);
        let c11 = lerp(
            d[i0 + step[2] + step[1]],
            d[i0 + step[2] + step[1] + step[0]],
            frac[0],
        );
        let c0 = lerp(c00, c10, frac[1]);
        let c1 = lerp(c01, c11, frac[1]);
        Some(lerp(c0, c1, frac[2]))
    }

    /// World coordinates of the centres of the 8 corner voxels.
    pub fn corner_points_world(&self) -> Vec<[f64; 3]> {
        let mut out = Vec::with_capacity(8);
        for &k in &[0.0, (self.dims[2] - 1) as f64] {
            for &j in &[0.0, (self.dims[1] - 1) as f64] {
                for &i in &[0.0, (self.dims[0] - 1) as f64] {
                    out.push(self.world_from_voxel.apply([i, j, k]));
                }
            }
        }
        out
    }

    /// Axis-aligned world bounding box `(min, max)` of the voxel centres.
    pub fn world_bounds(&self) -> ([f64; 3], [f64; 3]) {
        let mut lo = [f64::INFINITY; 3];
        let mut hi = [f64::NEG_INFINITY; 3];
        for p in self.corner_points_world() {
            for ax in 0..3 {
                lo[ax] = lo[ax].min(p[ax]);
                hi[ax] = hi[ax].max(p[ax]);
            }
        }
        (lo, hi)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn approx(a: [f64; 3], b: [f64; 3]) -> bool {
        a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-9)
    }

    #[test]
    fn inverse_round_trips() {
        let a = Affine::from_parts(
            [[-0.9, 0.1, 0.0], [0.05, 0.9, 0.2], [0.0, -0.1, 5.0]],
            [90.0, -120.0, -60.0],
        );
        let inv = a.inverse().unwrap();
        let p = [3.0, -7.5, 11.0];
        assert!(approx(inv.apply(a.apply(p)), p));
        assert!(approx(a.compose(&inv).apply(p), p));
    }

    #[test]
    fn singular_affine_has_no_inverse() {
        let a = Affine::from_parts(
            [[1.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 1.0]],
            [0.0; 3],
        );
        assert!(a.inverse().is_none());
    }

    #[test]
    fn orientation_codes_match_nibabel_conventions() {
        let diag = |x: f64, y: f64, z: f64| {
            Affine::from_parts([[x, 0.0, 0.0], [0.0, y, 0.0], [0.0, 0.0, z]], [0.0; 3])
        };
        assert_eq!(diag(1.0, 1.0, 1.0).orientation_code(), "RAS");
        assert_eq!(diag(-1.0, -1.0, 1.0).orientation_code(), "LPS");
        assert_eq!(diag(-0.7, 0.7, 5.0).orientation_code(), "LAS");
        // Voxel axes permuted: i runs anterior, j runs superior, k runs left.
        let p = Affine::from_parts(
            [[0.0, 0.0, -1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]],
            [0.0; 3],
        );
        assert_eq!(p.orientation_code(), "ASL");
    }

    #[test]
    fn trilinear_is_exact_on_linear_fields() {
        let dims = [4, 3, 5];
        let mut data = Vec::new();
        for k in 0..5 {
            for j in 0..3 {
                for i in 0..4 {
                    data.push((2 * i + 3 * j + 5 * k) as f32);
                }
            }
        }
        let v = Volume::new(dims, data, Affine::identity()).unwrap();
        let s = v.sample_trilinear([1.25, 0.5, 3.75]).unwrap();
        assert!((s - (2.5 + 1.5 + 18.75)).abs() < 1e-4);
        assert_eq!(v.sample_trilinear([3.0, 2.0, 4.0]), Some(v.at(3, 2, 4)));
        assert!(v.sample_trilinear([-0.6, 0.0, 0.0]).is_none());
        assert!(v.sample_trilinear([0.0, f64::NAN, 0.0]).is_none());
    }
}
