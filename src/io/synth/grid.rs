//! Axis-aligned grids with `C` interleaved channels, sampled trilinearly in millimetres: the
//! simulator's hot path samples several maps at one point, so the weights are computed once.

/// A regular grid of `C`-channel values, axis-aligned with the template (MNI) axes.
#[derive(Debug, Clone)]
pub struct Grid<const C: usize> {
    dims: [usize; 3],
    origin: [f64; 3],
    inv_spacing: f64,
    data: Vec<[f32; C]>,
}

impl<const C: usize> Grid<C> {
    /// A grid with voxel `(0, 0, 0)` at `origin` (mm) and isotropic `spacing_mm`; `data` is
    /// `i`-fastest and must hold `dims` values.
    pub fn new(
        dims: [usize; 3],
        origin: [f64; 3],
        spacing_mm: f64,
        data: Vec<[f32; C]>,
    ) -> Option<Self> {
        (data.len() == dims.iter().product::<usize>() && dims.iter().all(|&d| d >= 2)).then_some(
            Grid {
                dims,
                origin,
                inv_spacing: 1.0 / spacing_mm,
                data,
            },
        )
    }

    /// A grid filled by evaluating `f` at every node (mm). Dimensions below 2 are raised to 2.
    pub fn from_fn(
        dims: [usize; 3],
        origin: [f64; 3],
        spacing_mm: f64,
        f: impl Fn([f64; 3]) -> [f32; C],
    ) -> Self {
        let dims = dims.map(|d| d.max(2));
        let mut data = Vec::with_capacity(dims.iter().product());
        for k in 0..dims[2] {
            for j in 0..dims[1] {
                for i in 0..dims[0] {
                    let p = [i, j, k].map(|v| v as f64 * spacing_mm);
                    data.push(f([origin[0] + p[0], origin[1] + p[1], origin[2] + p[2]]));
                }
            }
        }
        Grid {
            dims,
            origin,
            inv_spacing: 1.0 / spacing_mm,
            data,
        }
    }

    /// Trilinear sample at a point in mm; `None` outside the grid.
    #[inline]
    pub fn sample(&self, p: [f64; 3]) -> Option<[f32; C]> {
        let mut base = [0usize; 3];
        let mut t = [0f32; 3];
        for a in 0..3 {
            let x = (p[a] - self.origin[a]) * self.inv_spacing;
            let hi = (self.dims[a] - 1) as f64;
            if !(x >= 0.0 && x <= hi) {
                return None;
            }
            let b = (x as usize).min(self.dims[a] - 2);
            base[a] = b;
            t[a] = (x - b as f64) as f32;
        }
        let (nx, nxy) = (self.dims[0], self.dims[0] * self.dims[1]);
        let i0 = base[0] + nx * base[1] + nxy * base[2];
        let corners = [
            i0,
            i0 + 1,
            i0 + nx,
            i0 + nx + 1,
            i0 + nxy,
            i0 + nxy + 1,
            i0 + nxy + nx,
            i0 + nxy + nx + 1,
        ];
        let (wx, wy, wz) = (t[0], t[1], t[2]);
        let w = [
            (1.0 - wx) * (1.0 - wy) * (1.0 - wz),
            wx * (1.0 - wy) * (1.0 - wz),
            (1.0 - wx) * wy * (1.0 - wz),
            wx * wy * (1.0 - wz),
            (1.0 - wx) * (1.0 - wy) * wz,
            wx * (1.0 - wy) * wz,
            (1.0 - wx) * wy * wz,
            wx * wy * wz,
        ];
        let mut out = [0f32; C];
        for (ci, wi) in corners.iter().zip(w) {
            let v = &self.data[*ci];
            for c in 0..C {
                out[c] += wi * v[c];
            }
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_linear_fields_exactly() {
        let dims = [4, 5, 6];
        let mut data = Vec::new();
        for k in 0..6 {
            for j in 0..5 {
                for i in 0..4 {
                    data.push([i as f32 + 2.0 * j as f32, 3.0 * k as f32]);
                }
            }
        }
        let g = Grid::new(dims, [-10.0, 0.0, 5.0], 2.0, data).unwrap();
        let v = g
            .sample([-10.0 + 2.0 * 1.5, 2.0 * 2.25, 5.0 + 2.0 * 4.5])
            .unwrap();
        assert!((v[0] - (1.5 + 4.5)).abs() < 1e-5 && (v[1] - 13.5).abs() < 1e-5);
        assert!(g.sample([-10.1, 0.0, 5.0]).is_none());
        assert!(g.sample([-4.0, 8.0, 15.0]).is_some());
    }
}
