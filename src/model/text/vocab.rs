//! The vocabulary of the tiny random test model ([`super::write_random_model`]): special
//! tokens, single characters and `##` continuations (so every text tokenises without
//! `[UNK]` for Latin letters and digits), then common English and radiology words.

/// Special tokens, in BERT's usual order; their ids are their positions.
pub(super) const SPECIAL: [&str; 5] = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"];

/// Punctuation that the BERT pre-tokenizer splits off as tokens of their own.
pub(super) const PUNCTUATION: &str = ".,;:-()/%'\"?!+=*&<>[]_#";

/// Whole words: common English, then neuroradiology.
#[rustfmt::skip]
pub(super) const WORDS: &[&str] = &[
    // English
    "the", "of", "and", "in", "to", "with", "is", "are", "was", "were", "be", "been", "on",
    "at", "by", "for", "from", "as", "or", "no", "not", "there", "this", "that", "which", "an",
    "it", "its", "into", "within", "without", "both", "each", "other", "than", "more", "less",
    "most", "also", "may", "can", "could", "likely", "unlikely", "possible", "probable",
    "probably", "seen", "noted", "shows", "shown", "demonstrates", "suggest", "suggests",
    "suggestive", "consistent", "compatible", "evidence", "new", "old", "prior", "previous",
    "interval", "since", "compared", "comparison", "unchanged", "stable", "increased",
    "decreased", "improved", "worsened", "larger", "smaller", "small", "large", "mild",
    "mildly", "moderate", "severe", "marked", "minimal", "slight", "slightly", "multiple",
    "single", "several", "few", "two", "three", "one", "up", "measuring", "measures",
    "approximately", "about", "size", "cm", "mm", "left", "right", "bilateral", "midline",
    "side", "anterior", "posterior", "superior", "inferior", "medial", "lateral", "deep",
    "central", "peripheral", "upper", "lower", "adjacent", "surrounding", "along", "involving",
    "extending", "causing", "associated", "related", "due", "further", "recommend",
    "recommended", "follow", "clinical", "correlation", "findings", "finding", "impression",
    "history", "indication", "technique", "patient", "year", "male", "female", "acute",
    "subacute", "chronic", "early", "late", "normal", "abnormal", "unremarkable", "otherwise",
    "appearance", "appears", "limits", "age", "appropriate",
    // Neuroradiology
    "brain", "head", "skull", "cerebral", "cerebellar", "cerebellum", "cerebrum", "hemisphere",
    "hemispheres", "lobe", "frontal", "parietal", "temporal", "occipital", "insular", "insula",
    "cortex", "cortical", "subcortical", "white", "matter", "gray", "grey", "basal", "ganglia",
    "thalamus", "thalamic", "caudate", "putamen", "lentiform", "internal", "external",
    "capsule", "corpus", "callosum", "brainstem", "pons", "pontine", "midbrain", "medulla",
    "ventricle", "ventricles", "ventricular", "periventricular", "third", "fourth", "sulci",
    "sulcal", "gyri", "fissure", "cistern", "cisterns", "meninges", "dura", "dural", "subdural",
    "epidural", "subarachnoid", "intraventricular", "intraparenchymal", "parenchyma",
    "parenchymal", "extra", "axial", "intra", "vascular", "territory", "artery", "arteries",
    "arterial", "venous", "vein", "sinus", "mca", "aca", "pca", "ica", "middle", "carotid",
    "vertebral", "basilar", "watershed", "infarct", "infarction", "infarcts", "ischemia",
    "ischemic", "ischaemic", "stroke", "lacunar", "lacune", "lacunes", "embolic", "thrombosis",
    "occlusion", "stenosis", "diffusion", "restricted", "restriction", "adc", "dwi", "flair",
    "t1", "t2", "swi", "weighted", "signal", "intensity", "hyperintense", "hyperintensity",
    "hyperintensities", "hypointense", "hypointensity", "isointense", "enhancement",
    "enhancing", "contrast", "gadolinium", "ring", "rim", "nodular", "homogeneous",
    "heterogeneous", "mass", "masses", "lesion", "lesions", "tumor", "tumour", "neoplasm",
    "glioma", "glioblastoma", "meningioma", "metastasis", "metastases", "metastatic",
    "lymphoma", "abscess", "cyst", "cystic", "necrosis", "necrotic", "solid", "edema", "oedema",
    "vasogenic", "cytotoxic", "effect", "shift", "herniation", "effacement", "compression",
    "hemorrhage", "haemorrhage", "hemorrhagic", "haemorrhagic", "hematoma", "haematoma",
    "bleed", "blood", "products", "microbleeds", "hemosiderin", "calcification", "calcified",
    "atrophy", "volume", "loss", "prominent", "enlarged", "dilated", "hydrocephalus", "vessel",
    "disease", "gliosis", "encephalomalacia", "demyelination", "demyelinating", "sclerosis",
    "plaques", "plaque", "trauma", "contusion", "fracture", "orbit", "orbits", "mastoid",
    "paranasal", "sinuses", "clear", "patent", "flow", "voids", "focus", "foci", "area",
    "areas", "region", "regions", "involvement", "spread", "component", "margins", "border",
    "well", "ill", "defined", "circumscribed", "irregular", "round", "oval", "focal", "diffuse",
    "scattered", "confluent", "punctate", "linear", "study", "studies", "scan", "mri", "ct",
    "exam", "examination", "sequence", "sequences", "images", "image", "imaging",
];
