//! What a simulated study contains, as structured data: the one source from which both the
//! images (lesion rendering) and the report text are generated, and which is saved in
//! `study.json` as ground truth.

use serde::{Deserialize, Serialize};

use crate::config::Label;

/// Side of a finding, in the patient's frame (left = patient's left = world -x in RAS+).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// Patient's left.
    Left,
    /// Patient's right.
    Right,
    /// On the midline (sella, pons, corpus callosum body...).
    Midline,
    /// Both hemispheres.
    Bilateral,
}

/// Anatomical regions used for lesion placement and report wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Region {
    /// Lateral frontal lobe (convexity).
    FrontalLobe,
    /// Medial frontal lobe (ACA territory).
    MedialFrontal,
    /// Parietal lobe.
    ParietalLobe,
    /// Temporal lobe (lateral).
    TemporalLobe,
    /// Medial temporal lobe (hippocampus region).
    MedialTemporal,
    /// Occipital lobe.
    OccipitalLobe,
    /// Insular cortex.
    Insula,
    /// Putamen / lentiform nucleus.
    Putamen,
    /// Caudate nucleus (head).
    Caudate,
    /// Thalamus.
    Thalamus,
    /// Internal capsule (posterior limb).
    InternalCapsule,
    /// Corona radiata.
    CoronaRadiata,
    /// Centrum semiovale (deep white matter above the ventricles).
    CentrumSemiovale,
    /// Periventricular white matter.
    Periventricular,
    /// Juxtacortical white matter.
    Juxtacortical,
    /// Corpus callosum.
    CorpusCallosum,
    /// Pons.
    Pons,
    /// Cerebellar hemisphere.
    Cerebellum,
    /// Cerebral convexity, extra-axial (meningioma).
    Convexity,
    /// Falx cerebri, extra-axial (meningioma).
    Falx,
    /// Sphenoid wing, extra-axial (meningioma).
    SphenoidWing,
    /// Parasagittal, extra-axial (meningioma).
    Parasagittal,
    /// Sella turcica (pituitary).
    Sella,
    /// Middle cranial fossa, extra-axial (arachnoid cyst).
    MiddleCranialFossa,
    /// Posterior fossa / retrocerebellar, extra-axial (arachnoid cyst).
    PosteriorFossa,
}

/// Arterial territory of an infarct.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Territory {
    /// Middle cerebral artery (cortical branches).
    Mca,
    /// Anterior cerebral artery.
    Aca,
    /// Posterior cerebral artery.
    Pca,
    /// Cerebellar arteries (PICA / SCA).
    Cerebellar,
    /// Deep perforators (lenticulostriate, thalamoperforator, pontine perforators): lacunes.
    Perforator,
    /// Border zone between territories.
    Watershed,
}

/// Where microbleeds cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BleedPattern {
    /// Basal ganglia, thalami, pons (hypertensive).
    Deep,
    /// Cortico-subcortical (amyloid angiopathy).
    Lobar,
}

/// Age-related volume loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Atrophy {
    /// Volume appropriate for age.
    None,
    /// Mild generalised volume loss.
    Mild,
    /// Moderate generalised volume loss.
    Moderate,
}

/// Paranasal sinus with mucosal thickening.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sinus {
    /// Maxillary sinus.
    Maxillary,
    /// Ethmoid air cells.
    Ethmoid,
}

/// One finding. Sizes are maximal diameters in mm; `centre_mni` is the lesion centre in MNI
/// (template) millimetres, which the renderer uses and the report never mentions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Finding {
    /// Acute infarct: restricted diffusion (DWI bright, ADC low), mild FLAIR signal.
    AcuteInfarct {
        /// Arterial territory.
        territory: Territory,
        /// Main region involved.
        region: Region,
        /// Side.
        side: Side,
        /// Maximal diameter.
        size_mm: f64,
        /// Small deep infarct (< 15 mm) rather than territorial.
        lacunar: bool,
        /// Petechial haemorrhagic transformation (T2* dark foci within).
        haemorrhagic_transformation: bool,
        /// Centre in MNI mm.
        centre_mni: [f64; 3],
    },
    /// Chronic infarct: CSF-like cavity with FLAIR-bright gliosis, no restriction.
    ChronicInfarct {
        /// Arterial territory.
        territory: Territory,
        /// Main region involved.
        region: Region,
        /// Side.
        side: Side,
        /// Maximal diameter.
        size_mm: f64,
        /// Old lacune rather than territorial.
        lacunar: bool,
        /// Centre in MNI mm.
        centre_mni: [f64; 3],
    },
    /// Parenchymal haematoma with T2* blooming and perilesional oedema.
    Haematoma {
        /// Region.
        region: Region,
        /// Side.
        side: Side,
        /// Maximal diameter.
        size_mm: f64,
        /// Surrounding vasogenic oedema present.
        oedema: bool,
        /// Mass effect on the ventricles.
        mass_effect: bool,
        /// Centre in MNI mm.
        centre_mni: [f64; 3],
    },
    /// Multiple microbleeds (T2* dark dots).
    Microbleeds {
        /// Number of microbleeds.
        count: usize,
        /// Distribution.
        pattern: BleedPattern,
        /// Centres in MNI mm.
        centres_mni: Vec<[f64; 3]>,
    },
    /// Intra-axial glioma-like mass with heterogeneous (necrotic) core and oedema.
    Glioma {
        /// Region.
        region: Region,
        /// Side.
        side: Side,
        /// Maximal diameter of the solid part.
        size_mm: f64,
        /// Central necrosis.
        necrosis: bool,
        /// Midline shift in mm (0 = none).
        midline_shift_mm: f64,
        /// Centre in MNI mm.
        centre_mni: [f64; 3],
    },
    /// One or several metastases at the grey-white junction with oedema.
    Metastases {
        /// Number of lesions.
        count: usize,
        /// Largest diameter.
        largest_mm: f64,
        /// Side(s) involved.
        side: Side,
        /// Regions of the lesions (same order as `centres_mni`).
        regions: Vec<Region>,
        /// Centres in MNI mm.
        centres_mni: Vec<[f64; 3]>,
    },
    /// Extra-axial dural-based mass (meningioma-like).
    Meningioma {
        /// Region (convexity, falx, sphenoid wing, parasagittal).
        region: Region,
        /// Side.
        side: Side,
        /// Maximal diameter.
        size_mm: f64,
        /// Centre in MNI mm.
        centre_mni: [f64; 3],
    },
    /// Sellar mass (pituitary macroadenoma).
    PituitaryMacroadenoma {
        /// Maximal diameter.
        size_mm: f64,
        /// Suprasellar extension towards the chiasm.
        suprasellar_extension: bool,
        /// Centre in MNI mm.
        centre_mni: [f64; 3],
    },
    /// Confluent white-matter hyperintensities of small-vessel disease.
    SmallVesselDisease {
        /// Fazekas grade (2 or 3 for this finding).
        fazekas: u8,
        /// Lacunes in addition.
        lacunes: usize,
    },
    /// Demyelinating plaques.
    Demyelination {
        /// Number of plaques.
        count: usize,
        /// Regions involved.
        regions: Vec<Region>,
        /// One plaque shows restricted diffusion / activity.
        active: bool,
        /// Centres in MNI mm.
        centres_mni: Vec<[f64; 3]>,
    },
    /// Communicating hydrocephalus: ventricles large out of proportion to sulci.
    Hydrocephalus {
        /// Evans index (frontal horn width / inner skull width).
        evans_index: f64,
        /// Periventricular FLAIR halo (transependymal flow).
        periventricular_halo: bool,
    },
    /// Arachnoid cyst: extra-axial, CSF-like on every sequence.
    ArachnoidCyst {
        /// Region.
        region: Region,
        /// Side.
        side: Side,
        /// Maximal diameter.
        size_mm: f64,
        /// Centre in MNI mm.
        centre_mni: [f64; 3],
    },
}

/// Findings present across classes that do not decide the label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incidentals {
    /// Age-related volume loss.
    pub atrophy: Atrophy,
    /// Fazekas grade of background white-matter change (0 or 1 outside small-vessel disease).
    pub fazekas: u8,
    /// Number of non-specific punctate white-matter hyperintensities rendered.
    pub wmh_foci: usize,
    /// Sinus mucosal thickening, with its side.
    pub sinus: Option<(Sinus, Side)>,
}

/// Everything that defines one simulated study's content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StudyFindings {
    /// True class (before any label noise).
    pub label: Label,
    /// Patient age in years.
    pub age_years: u32,
    /// Main findings (empty for `normal`).
    pub findings: Vec<Finding>,
    /// Incidental findings.
    pub incidental: Incidentals,
}
