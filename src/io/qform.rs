//! NIfTI qform: the quaternion form of the voxel-to-world transform, both ways, as in the
//! reference `nifti1_io.c` (`quatern_to_mat44`, `mat44_to_quatern`).

use super::volume::Affine;

/// The qform parameters of an affine: quaternion `(b, c, d)`, `qfac` and voxel sizes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Qform {
    /// Quaternion b.
    pub b: f64,
    /// Quaternion c.
    pub c: f64,
    /// Quaternion d.
    pub d: f64,
    /// Sign of the third axis (`pixdim[0]`): 1 or -1.
    pub qfac: f64,
    /// Voxel sizes (`pixdim[1..=3]`).
    pub zooms: [f64; 3],
}

impl Qform {
    /// As `mat44_to_quatern` in the reference `nifti1_io.c`: normalise the columns, make the
    /// result the nearest orthogonal matrix, flip the third column when the determinant is
    /// negative (`qfac = -1`), then take the rotation's quaternion with `a >= 0`.
    pub fn from_affine(affine: &Affine) -> Self {
        let zooms = affine.column_norms();
        let mut m = affine.linear();
        for (c, z) in zooms.iter().enumerate() {
            for row in &mut m {
                // A zero column (not writable anyway) would give NaN; leave it.
                if *z > 0.0 {
                    row[c] /= z;
                }
            }
        }
        let mut r = orthogonalise(m);
        let qfac = if det3(&r) < 0.0 {
            for row in &mut r {
                row[2] = -row[2];
            }
            -1.0
        } else {
            1.0
        };
        let (b, c, d) = quaternion_bcd(&r);
        Qform {
            b,
            c,
            d,
            qfac,
            zooms,
        }
    }

    /// The voxel-to-world transform with translation `offset`, as `quatern_to_mat44` in the
    /// reference `nifti1_io.c`.
    pub fn to_affine(&self, offset: [f64; 3]) -> Affine {
        let (mut b, mut c, mut d) = (self.b, self.c, self.d);
        let norm2 = b * b + c * c + d * d;
        let a = if 1.0 - norm2 < 1e-7 {
            // Not a unit quaternion's (b, c, d): normalise them and take a 180° rotation.
            let s = 1.0 / norm2.sqrt();
            b *= s;
            c *= s;
            d *= s;
            0.0
        } else {
            (1.0 - norm2).sqrt()
        };
        #[rustfmt::skip]
        let r = [
            [a * a + b * b - c * c - d * d, 2.0 * (b * c - a * d), 2.0 * (b * d + a * c)],
            [2.0 * (b * c + a * d), a * a + c * c - b * b - d * d, 2.0 * (c * d - a * b)],
            [2.0 * (b * d - a * c), 2.0 * (c * d + a * b), a * a + d * d - c * c - b * b],
        ];
        let scale = [self.zooms[0], self.zooms[1], self.zooms[2] * self.qfac];
        let mut linear = [[0.0; 3]; 3];
        for (lr, rr) in linear.iter_mut().zip(&r) {
            for ((l, rv), s) in lr.iter_mut().zip(rr).zip(&scale) {
                *l = rv * s;
            }
        }
        Affine::from_parts(linear, offset)
    }
}

fn det3(a: &[[f64; 3]; 3]) -> f64 {
    Affine::from_parts(*a, [0.0; 3]).determinant()
}

/// Nearest orthogonal matrix by the polar iteration `X <- (X + X^-T) / 2`, which converges
/// in a few steps for the near-orthogonal matrices that real affines give.
fn orthogonalise(m: [[f64; 3]; 3]) -> [[f64; 3]; 3] {
    let mut x = m;
    for _ in 0..50 {
        let Some(inv) = Affine::from_parts(x, [0.0; 3]).inverse() else {
            return x;
        };
        let inv = inv.linear();
        let mut next = [[0.0; 3]; 3];
        let mut change: f64 = 0.0;
        for r in 0..3 {
            for c in 0..3 {
                next[r][c] = 0.5 * (x[r][c] + inv[c][r]);
                change = change.max((next[r][c] - x[r][c]).abs());
            }
        }
        x = next;
        if change < 1e-12 {
            break;
        }
    }
    x
}

/// Quaternion `(b, c, d)` of a proper rotation matrix, with `a >= 0` (`nifti1_io.c`).
fn quaternion_bcd(r: &[[f64; 3]; 3]) -> (f64, f64, f64) {
    let (r11, r12, r13) = (r[0][0], r[0][1], r[0][2]);
    let (r21, r22, r23) = (r[1][0], r[1][1], r[1][2]);
    let (r31, r32, r33) = (r[2][0], r[2][1], r[2][2]);
    let trace = r11 + r22 + r33 + 1.0;
    let (a, b, c, d) = if trace > 0.5 {
        let a = 0.5 * trace.sqrt();
        (
            a,
            0.25 * (r32 - r23) / a,
            0.25 * (r13 - r31) / a,
            0.25 * (r21 - r12) / a,
        )
    } else {
        let xd = 1.0 + r11 - (r22 + r33);
        let yd = 1.0 + r22 - (r11 + r33);
        let zd = 1.0 + r33 - (r11 + r22);
        if xd > 1.0 {
            let b = 0.5 * xd.sqrt();
            (
                0.25 * (r32 - r23) / b,
                b,
                0.25 * (r12 + r21) / b,
                0.25 * (r13 + r31) / b,
            )
        } else if yd > 1.0 {
            let c = 0.5 * yd.sqrt();
            (
                0.25 * (r13 - r31) / c,
                0.25 * (r12 + r21) / c,
                c,
                0.25 * (r23 + r32) / c,
            )
        } else {
            let d = 0.5 * zd.sqrt();
            (
                0.25 * (r21 - r12) / d,
                0.25 * (r13 + r31) / d,
                0.25 * (r23 + r32) / d,
                d,
            )
        }
    };
    if a < 0.0 { (-b, -c, -d) } else { (b, c, d) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qform_round_trips_rotations_and_flips() {
        let (s, c) = (0.3f64.sin(), 0.3f64.cos());
        for flip in [1.0, -1.0] {
            let a = Affine::from_parts(
                [
                    [c * 0.9, -s * 0.9, 0.0],
                    [s * 0.9, c * 0.9, 0.0],
                    [0.0, 0.0, 5.0 * flip],
                ],
                [1.0, 2.0, 3.0],
            );
            let q = Qform::from_affine(&a);
            assert_eq!(q.qfac, flip);
            let back = q.to_affine(a.translation());
            for (x, y) in back.0.iter().flatten().zip(a.0.iter().flatten()) {
                assert!((x - y).abs() < 1e-9, "{:?} vs {:?}", back.0, a.0);
            }
        }
    }
}
