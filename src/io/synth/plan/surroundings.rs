//! Normal surroundings of the head: the face block with its sinuses, and sinus disease.

use rand::Rng;

use super::super::findings::{Side, Sinus};
use super::super::lesion::Replace;
use super::super::tissue::Tissue;
use super::builder::Builder;

pub(super) fn face_and_sinuses<R: Rng + ?Sized>(b: &mut Builder<'_, R>) {
    let face = b.ellipsoid(
        [0.0, 48.0, -58.0],
        [52.0, 40.0, 30.0],
        Some([1.0, 0.0, 0.0]),
        Some(Tissue::Fat),
        Replace::Air,
        0,
        0.05,
    );
    b.push(face);
    for x in [-30.0, 30.0] {
        let o = b.ellipsoid(
            [x, 24.0, -60.0],
            [11.0, 15.0, 13.0],
            Some([1.0, 0.0, 0.0]),
            None,
            Replace::All,
            0,
            0.05,
        );
        b.push(o);
    }
    let o = b.ellipsoid(
        [0.0, 40.0, -46.0],
        [11.0, 12.0, 7.0],
        Some([1.0, 0.0, 0.0]),
        None,
        Replace::All,
        0,
        0.05,
    );
    b.push(o);
}

pub(super) fn sinus_disease<R: Rng + ?Sized>(b: &mut Builder<'_, R>, kind: Sinus, side: Side) {
    let xs: &[f64] = match (kind, side) {
        (Sinus::Maxillary, Side::Left) => &[-30.0],
        (Sinus::Maxillary, Side::Right) => &[30.0],
        (Sinus::Maxillary, _) => &[-30.0, 30.0],
        (Sinus::Ethmoid, Side::Left) => &[-5.0],
        (Sinus::Ethmoid, Side::Right) => &[5.0],
        (Sinus::Ethmoid, _) => &[-5.0, 5.0],
    };
    for &x in xs {
        let (c, r) = match kind {
            Sinus::Maxillary => ([x, 24.0, -60.0], [11.0, 15.0, 13.0]),
            Sinus::Ethmoid => ([x, 40.0, -46.0], [6.0, 12.0, 7.0]),
        };
        let t = b.range(0.25, 0.6);
        let m = b.ellipsoid(
            c,
            r,
            Some([1.0, 0.0, 0.0]),
            Some(Tissue::Mucosa),
            Replace::All,
            0,
            0.1,
        );
        b.push(m);
        let air = b.ellipsoid(
            c,
            r.map(|v| v * (1.0 - t)),
            Some([1.0, 0.0, 0.0]),
            None,
            Replace::All,
            0,
            0.1,
        );
        b.push(air);
    }
}
