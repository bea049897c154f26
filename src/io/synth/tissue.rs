//! Tissue relaxation parameters and MR signal equations (values and equations from
//! `../shared/DATA.md`), drawn per subject and turned into per-sequence signal tables.

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::config::Sequence;

/// Tissue classes rendered by the simulator. Index into [`SignalTable`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub enum Tissue {
    /// Grey matter.
    Gm,
    /// White matter.
    Wm,
    /// Cerebrospinal fluid (also chronic infarct cavities and arachnoid cysts).
    Csf,
    /// Cortical bone of the skull.
    Bone,
    /// Scalp fat / marrow.
    Fat,
    /// Acute infarct (cytotoxic oedema, restricted diffusion).
    AcuteInfarct,
    /// Gliosis, white-matter hyperintensity, demyelinating plaque.
    Gliosis,
    /// Vasogenic oedema.
    Oedema,
    /// Solid high-grade tumour.
    TumourSolid,
    /// Tumour necrosis.
    Necrosis,
    /// Acute haematoma (deoxyhaemoglobin).
    Haematoma,
    /// Haemosiderin (microbleeds, haematoma rim).
    Haemosiderin,
    /// Meningioma.
    Meningioma,
    /// Thickened sinus mucosa.
    Mucosa,
    /// Pituitary adenoma.
    Adenoma,
    /// Active demyelinating plaque with restricted diffusion.
    ActivePlaque,
}

/// Number of tissue classes.
pub const N_TISSUES: usize = 16;

/// Relaxation parameters of one tissue.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TissueParams {
    /// Relative proton density.
    pub pd: f64,
    /// T1 in ms (at the subject's field strength).
    pub t1_ms: f64,
    /// T2 in ms.
    pub t2_ms: f64,
    /// T2* in ms.
    pub t2s_ms: f64,
    /// Apparent diffusion coefficient in 10^-3 mm²/s.
    pub adc: f64,
}

/// Acquisition parameters of the three sequences.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Protocol {
    /// Field strength in tesla (1.5 or 3).
    pub field_t: f64,
    /// DWI repetition time (ms).
    pub dwi_tr_ms: f64,
    /// DWI echo time (ms).
    pub dwi_te_ms: f64,
    /// b-value (s/mm²).
    pub b_value: f64,
    /// T2* GRE repetition time (ms).
    pub gre_tr_ms: f64,
    /// T2* GRE echo time (ms).
    pub gre_te_ms: f64,
    /// T2* GRE flip angle (degrees).
    pub gre_flip_deg: f64,
    /// FLAIR repetition time (ms).
    pub flair_tr_ms: f64,
    /// FLAIR echo time (ms).
    pub flair_te_ms: f64,
    /// FLAIR inversion time (ms).
    pub flair_ti_ms: f64,
}

fn u<R: Rng + ?Sized>(rng: &mut R, lo: f64, hi: f64) -> f64 {
    rng.random_range(lo..=hi)
}

/// Draws a protocol (field strength and sequence timings) for one study.
pub fn draw_protocol<R: Rng + ?Sized>(rng: &mut R) -> Protocol {
    let field_t = if rng.random_bool(0.5) { 3.0 } else { 1.5 };
    // The TI is set for the population's CSF T1, not the subject's.
    let t1_csf = if field_t > 2.0 { 4000.0 } else { 4000.0 * 0.78 };
    let flair_tr_ms = u(rng, 8000.0, 10000.0);
    // TI that nulls CSF for this TR, with a small mis-set as on real scanners.
    let e = (-flair_tr_ms / t1_csf).exp();
    let ti_null = t1_csf * (2.0 / (1.0 + e)).ln();
    Protocol {
        field_t,
        dwi_tr_ms: u(rng, 4000.0, 6000.0),
        dwi_te_ms: u(rng, 70.0, 95.0),
        b_value: 1000.0,
        gre_tr_ms: u(rng, 500.0, 800.0),
        gre_te_ms: u(rng, 15.0, 25.0),
        gre_flip_deg: u(rng, 18.0, 22.0),
        flair_tr_ms,
        flair_te_ms: u(rng, 90.0, 125.0),
        flair_ti_ms: ti_null * u(rng, 0.99, 1.01),
    }
}

/// Draws every tissue's parameters for one subject at the protocol's field strength.
pub fn draw_tissues<R: Rng + ?Sized>(
    rng: &mut R,
    protocol: &Protocol,
) -> [TissueParams; N_TISSUES] {
    let t1f = if protocol.field_t > 2.0 { 1.0 } else { 0.78 };
    let mut p =
        |pd: f64, t1: (f64, f64), t2: (f64, f64), t2s: (f64, f64), adc: (f64, f64)| TissueParams {
            pd,
            t1_ms: u(rng, t1.0, t1.1) * t1f,
            t2_ms: u(rng, t2.0, t2.1),
            t2s_ms: u(rng, t2s.0, t2s.1),
            adc: u(rng, adc.0, adc.1),
        };
    let gm = p(
        0.80,
        (1300.0, 1450.0),
        (85.0, 100.0),
        (45.0, 60.0),
        (0.75, 0.85),
    );
    let wm = p(
        0.70,
        (800.0, 900.0),
        (70.0, 80.0),
        (40.0, 50.0),
        (0.65, 0.75),
    );
    let csf = p(
        1.00,
        (3900.0, 4100.0),
        (1500.0, 2000.0),
        (1000.0, 1500.0),
        (2.9, 3.2),
    );
    let bone = p(0.05, (250.0, 350.0), (2.0, 5.0), (1.0, 2.0), (0.2, 0.4));
    let fat = p(
        0.90,
        (350.0, 400.0),
        (70.0, 90.0),
        (35.0, 45.0),
        (0.01, 0.02),
    );
    let gliosis = p(
        0.75,
        (1000.0, 1200.0),
        (110.0, 140.0),
        (55.0, 65.0),
        (0.9, 1.2),
    );
    let oedema = p(
        0.85,
        (1200.0, 1500.0),
        (120.0, 180.0),
        (65.0, 75.0),
        (1.3, 1.7),
    );
    let solid = p(
        0.85,
        (1400.0, 1800.0),
        (110.0, 150.0),
        (55.0, 65.0),
        (0.8, 1.1),
    );
    let necrosis = p(
        0.95,
        (2500.0, 3500.0),
        (300.0, 800.0),
        (150.0, 250.0),
        (2.0, 2.5),
    );
    let haematoma = p(
        0.85,
        (1300.0, 1450.0),
        (20.0, 40.0),
        (5.0, 15.0),
        (0.5, 0.7),
    );
    let haemosiderin = p(
        0.70,
        (800.0, 900.0),
        (30.0, 50.0),
        (5.0, 10.0),
        (0.65, 0.75),
    );
    let meningioma = p(
        0.80,
        (1300.0, 1450.0),
        (85.0, 100.0),
        (45.0, 60.0),
        (0.75, 0.9),
    );
    let mucosa = p(
        0.90,
        (1100.0, 1300.0),
        (150.0, 250.0),
        (80.0, 120.0),
        (1.6, 2.0),
    );
    let adenoma = p(
        0.82,
        (1200.0, 1400.0),
        (90.0, 110.0),
        (50.0, 60.0),
        (0.7, 0.9),
    );
    let active = p(
        0.78,
        (1000.0, 1200.0),
        (110.0, 140.0),
        (55.0, 65.0),
        (0.5, 0.65),
    );
    let acute = TissueParams {
        pd: gm.pd * 1.05,
        t1_ms: gm.t1_ms * 1.1,
        t2_ms: gm.t2_ms * u(rng, 1.2, 1.6),
        t2s_ms: gm.t2s_ms,
        adc: u(rng, 0.35, 0.50),
    };
    [
        gm,
        wm,
        csf,
        bone,
        fat,
        acute,
        gliosis,
        oedema,
        solid,
        necrosis,
        haematoma,
        haemosiderin,
        meningioma,
        mucosa,
        adenoma,
        active,
    ]
}

/// Magnitude signal of a tissue in a sequence (arbitrary units, PD = 1 scale).
pub fn signal(seq: Sequence, t: &TissueParams, pr: &Protocol) -> f64 {
    let e = |x: f64| (-x).exp();
    match seq {
        Sequence::Dwi => {
            t.pd * (1.0 - e(pr.dwi_tr_ms / t.t1_ms))
                * e(pr.dwi_te_ms / t.t2_ms)
                * e(pr.b_value * t.adc * 1e-3)
        }
        Sequence::T2s => {
            let a = pr.gre_flip_deg.to_radians();
            let e1 = e(pr.gre_tr_ms / t.t1_ms);
            t.pd * a.sin() * (1.0 - e1) / (1.0 - a.cos() * e1) * e(pr.gre_te_ms / t.t2s_ms)
        }
        Sequence::Flair => {
            t.pd * (1.0 - 2.0 * e(pr.flair_ti_ms / t.t1_ms) + e(pr.flair_tr_ms / t.t1_ms)).abs()
                * e(pr.flair_te_ms / t.t2_ms)
        }
    }
}

/// Per-sequence signal of every tissue, scaled so that white matter is 1.
#[derive(Debug, Clone)]
pub struct SignalTable {
    /// `values[sequence channel][tissue]`.
    pub values: [[f32; N_TISSUES]; 3],
}

impl SignalTable {
    /// Computes the table for one subject.
    pub fn new(tissues: &[TissueParams; N_TISSUES], protocol: &Protocol) -> SignalTable {
        let mut values = [[0.0f32; N_TISSUES]; 3];
        for seq in Sequence::ALL {
            let wm = signal(seq, &tissues[Tissue::Wm as usize], protocol).max(1e-9);
            for (t, p) in tissues.iter().enumerate() {
                let mut s = signal(seq, p, protocol) / wm;
                // DWI is acquired with fat suppression.
                if seq == Sequence::Dwi && t == Tissue::Fat as usize {
                    s *= 0.05;
                }
                values[seq.channel()][t] = s as f32;
            }
        }
        SignalTable { values }
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    fn table(seed: u64) -> SignalTable {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let pr = draw_protocol(&mut rng);
        let t = draw_tissues(&mut rng, &pr);
        SignalTable::new(&t, &pr)
    }

    #[test]
    fn contrasts_follow_clinical_appearance() {
        for seed in 0..20 {
            let v = table(seed).values;
            let (dwi, t2s, flair) = (&v[0], &v[1], &v[2]);
            let t = |x: Tissue| x as usize;
            // DWI: CSF dark, acute infarct bright.
            assert!(
                dwi[t(Tissue::Csf)] < 0.5 * dwi[t(Tissue::Gm)],
                "seed {seed}"
            );
            assert!(
                dwi[t(Tissue::AcuteInfarct)] > 1.4 * dwi[t(Tissue::Gm)],
                "seed {seed}"
            );
            // FLAIR: CSF nulled, gliosis and oedema brighter than grey matter.
            assert!(
                flair[t(Tissue::Csf)] < 0.25 * flair[t(Tissue::Wm)],
                "seed {seed}"
            );
            assert!(
                flair[t(Tissue::Gliosis)] > 1.2 * flair[t(Tissue::Gm)],
                "seed {seed}"
            );
            assert!(
                flair[t(Tissue::Oedema)] > 1.2 * flair[t(Tissue::Gm)],
                "seed {seed}"
            );
            // T2*: blood products dark.
            assert!(
                t2s[t(Tissue::Haemosiderin)] < 0.5 * t2s[t(Tissue::Wm)],
                "seed {seed}"
            );
            assert!(
                t2s[t(Tissue::Haematoma)] < 0.6 * t2s[t(Tissue::Gm)],
                "seed {seed}"
            );
            // Chronic cavity (CSF-like) shows no restriction.
            assert!(dwi[t(Tissue::Csf)] < dwi[t(Tissue::Wm)]);
        }
    }
}
