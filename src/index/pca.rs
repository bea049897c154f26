//! A 2-D principal-component projection of embeddings for the viewer's embedding map.

/// Projects `points` (all the same length) onto their first two principal components,
/// found by power iteration with deflation on the covariance matrix. Deterministic; the sign
/// of each axis is fixed so that the largest coordinate is positive. Empty input gives an
/// empty result; fewer than two distinct points give zeros.
pub fn project_2d(points: &[Vec<f32>]) -> Vec<[f32; 2]> {
    let n = points.len();
    let Some(d) = points.first().map(Vec::len) else {
        return Vec::new();
    };
    let mut mean = vec![0f64; d];
    for p in points {
        for (m, x) in mean.iter_mut().zip(p) {
            *m += f64::from(*x) / n as f64;
        }
    }
    let centred: Vec<Vec<f64>> = points
        .iter()
        .map(|p| {
            p.iter()
                .zip(&mean)
                .map(|(x, m)| f64::from(*x) - m)
                .collect()
        })
        .collect();
    let mut cov = vec![0f64; d * d];
    for p in &centred {
        for i in 0..d {
            for j in 0..d {
                cov[i * d + j] += p[i] * p[j];
            }
        }
    }
    // Variance below this is rounding left by the mean, not spread between the points: the
    // mean of identical f32 values in f64 is off by ~1e-16 of their size (squared, ~1e-32 of
    // the sum of squares), while any real difference between f32 values is at least ~1e-7
    // of their size (~1e-14).
    let noise = 1e-18
        * points
            .iter()
            .flatten()
            .map(|x| f64::from(*x) * f64::from(*x))
            .sum::<f64>();
    let mut axes: Vec<Vec<f64>> = Vec::new();
    for _ in 0..2 {
        let axis = leading_eigenvector(&cov, d);
        let lambda = rayleigh(&cov, &axis, d);
        if lambda.is_nan() || lambda <= noise {
            axes.push(vec![0.0; d]);
            continue;
        }
        for i in 0..d {
            for j in 0..d {
                cov[i * d + j] -= lambda * axis[i] * axis[j];
            }
        }
        axes.push(axis);
    }
    let mut out: Vec<[f32; 2]> = centred
        .iter()
        .map(|p| {
            let c = |a: &[f64]| p.iter().zip(a).map(|(x, y)| x * y).sum::<f64>() as f32;
            [c(&axes[0]), c(&axes[1])]
        })
        .collect();
    for ax in 0..2 {
        let extreme = out
            .iter()
            .map(|p| p[ax])
            .max_by(|a, b| a.abs().total_cmp(&b.abs()))
            .unwrap_or(0.0);
        if extreme < 0.0 {
            for p in &mut out {
                p[ax] = -p[ax];
            }
        }
    }
    out
}

fn mat_vec(m: &[f64], v: &[f64], d: usize) -> Vec<f64> {
    (0..d)
        .map(|i| (0..d).map(|j| m[i * d + j] * v[j]).sum())
        .collect()
}

fn rayleigh(m: &[f64], v: &[f64], d: usize) -> f64 {
    mat_vec(m, v, d).iter().zip(v).map(|(a, b)| a * b).sum()
}

/// Unit leading eigenvector of a symmetric positive semi-definite matrix (zeros when the
/// matrix is zero).
fn leading_eigenvector(m: &[f64], d: usize) -> Vec<f64> {
    // A fixed, generic start vector keeps the result deterministic.
    let mut v: Vec<f64> = (0..d).map(|i| 1.0 + (i as f64 * 0.618).fract()).collect();
    for _ in 0..500 {
        let w = mat_vec(m, &v, d);
        let norm = w.iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm < 1e-300 {
            return vec![0.0; d];
        }
        let next: Vec<f64> = w.iter().map(|x| x / norm).collect();
        let change: f64 = next.iter().zip(&v).map(|(a, b)| (a - b).abs()).sum();
        v = next;
        if change < 1e-12 {
            break;
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_the_main_axes_of_an_elongated_cloud() {
        // Points along (1, 1, 0) with spread 10 and along (1, -1, 0) with spread 1.
        let mut pts = Vec::new();
        for a in -5..=5 {
            for b in -1..=1 {
                let (a, b) = (a as f32 * 2.0, b as f32);
                pts.push(vec![a + b + 3.0, a - b - 1.0, 7.0]);
            }
        }
        let proj = project_2d(&pts);
        assert_eq!(proj.len(), pts.len());
        let s = std::f32::consts::SQRT_2;
        for (p, q) in pts.iter().zip(&proj) {
            let (x, y) = (p[0] - 3.0, p[1] + 1.0);
            assert!((q[0].abs() - ((x + y) / s).abs()).abs() < 1e-3, "{q:?}");
            assert!((q[1].abs() - ((x - y) / s).abs()).abs() < 1e-3, "{q:?}");
        }
    }

    #[test]
    fn degenerate_inputs() {
        assert!(project_2d(&[]).is_empty());
        // Identical points whose f64 mean does not give them back exactly.
        let same = vec![vec![0.1f32, 0.7, -0.3, 0.123_456_7]; 6];
        assert_eq!(project_2d(&same), vec![[0.0, 0.0]; 6]);
        // Points on a line: the second axis is empty.
        let line: Vec<Vec<f32>> = (0..6).map(|i| vec![0.1 * i as f32, 0.3, 1.0]).collect();
        let proj = project_2d(&line);
        assert!(proj.iter().all(|p| p[1] == 0.0), "{proj:?}");
        assert!(proj.iter().any(|p| p[0] != 0.0));
        assert_eq!(
            project_2d(&[vec![1.0, 2.0], vec![1.0, 2.0]]),
            vec![[0.0, 0.0]; 2]
        );
    }
}
