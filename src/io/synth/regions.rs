//! Where lesions go: MNI coordinates (left hemisphere; the right is mirrored, x -> -x) of the
//! anatomical regions used for placement. Values were read off the ICBM152 2009a template.

use super::findings::{Region, Side};

/// Centre of a region in the LEFT hemisphere (x < 0 = patient's left in RAS+), or on the
/// midline for midline structures.
pub fn left_centre(region: Region) -> [f64; 3] {
    match region {
        Region::FrontalLobe => [-38.0, 28.0, 24.0],
        Region::MedialFrontal => [-9.0, 32.0, 40.0],
        Region::ParietalLobe => [-38.0, -55.0, 42.0],
        Region::TemporalLobe => [-50.0, -22.0, -8.0],
        Region::MedialTemporal => [-27.0, -24.0, -14.0],
        Region::OccipitalLobe => [-20.0, -86.0, 6.0],
        Region::Insula => [-37.0, 0.0, 4.0],
        Region::Putamen => [-25.0, 2.0, 1.0],
        Region::Caudate => [-13.0, 12.0, 10.0],
        Region::Thalamus => [-11.0, -18.0, 7.0],
        Region::InternalCapsule => [-21.0, -9.0, 8.0],
        Region::CoronaRadiata => [-26.0, -10.0, 28.0],
        Region::CentrumSemiovale => [-26.0, -15.0, 40.0],
        Region::Periventricular => [-24.0, -30.0, 20.0],
        Region::Juxtacortical => [-40.0, -10.0, 40.0],
        Region::CorpusCallosum => [-6.0, -5.0, 24.0],
        Region::Pons => [-4.0, -27.0, -30.0],
        Region::Cerebellum => [-26.0, -64.0, -36.0],
        Region::Convexity => [-50.0, -10.0, 40.0],
        Region::Falx => [-6.0, -20.0, 50.0],
        Region::SphenoidWing => [-32.0, 12.0, -18.0],
        Region::Parasagittal => [-14.0, -10.0, 55.0],
        Region::Sella => [0.0, 0.0, -30.0],
        Region::MiddleCranialFossa => [-42.0, 14.0, -34.0],
        Region::PosteriorFossa => [-8.0, -84.0, -36.0],
    }
}

/// Region centre on the given side (midline structures ignore the side; bilateral uses left).
pub fn centre(region: Region, side: Side) -> [f64; 3] {
    let c = left_centre(region);
    match side {
        Side::Right => [-c[0], c[1], c[2]],
        _ => c,
    }
}

/// The side a point lies on (|x| < 3 mm counts as midline).
pub fn side_of(p: [f64; 3]) -> Side {
    if p[0] < -3.0 {
        Side::Left
    } else if p[0] > 3.0 {
        Side::Right
    } else {
        Side::Midline
    }
}

/// Centre of the brain used as the origin of outward rays (near the third ventricle).
pub const BRAIN_CENTRE: [f64; 3] = [0.0, -18.0, 12.0];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn right_side_mirrors_x() {
        let l = centre(Region::Putamen, Side::Left);
        let r = centre(Region::Putamen, Side::Right);
        assert!(l[0] < 0.0 && r[0] > 0.0 && l[1] == r[1]);
        assert_eq!(side_of(l), Side::Left);
        assert_eq!(side_of(r), Side::Right);
    }
}
