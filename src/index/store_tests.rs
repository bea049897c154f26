//! Tests of the index file format and queries.

use super::*;

fn sample() -> EmbeddingIndex {
    let entries = (0..3)
        .map(|i| IndexEntry {
            study_id: format!("study-{i}"),
            label: Label::ALL[i],
            split: Split::Test,
            report: format!("Report {i}: \"quoted\" text, ünïcode."),
            key: format!("key{i}"),
        })
        .collect();
    let image = vec![vec![1.0, 0.0], vec![0.0, 1.0], vec![0.7, 0.7]];
    let text = vec![vec![0.9, 0.1], vec![-1.0, 0.0], vec![0.5, 0.5]];
    EmbeddingIndex::new("model-abc", entries, image, text).unwrap()
}

fn corrupt_problem(err: IndexError) -> String {
    match err {
        IndexError::Corrupt { problem, .. } => problem,
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[test]
fn save_load_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("idx/index.bcix");
    let index = sample();
    index.save(&path).unwrap();
    assert_eq!(
        EmbeddingIndex::load(&path, Some("model-abc")).unwrap(),
        index
    );
    assert_eq!(EmbeddingIndex::load(&path, None).unwrap(), index);
    let empty = EmbeddingIndex::new("m", vec![], vec![], vec![]).unwrap();
    empty.save(&path).unwrap();
    assert!(EmbeddingIndex::load(&path, None).unwrap().is_empty());
}

#[test]
fn refuses_another_models_index() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index.bcix");
    sample().save(&path).unwrap();
    let err = EmbeddingIndex::load(&path, Some("model-xyz")).unwrap_err();
    assert!(matches!(err, IndexError::FingerprintMismatch { .. }));
    let msg = err.to_string();
    assert!(
        msg.starts_with(
            "index was built by model model-abc, this run is model-xyz: rebuild it with `brainclip index`"
        ),
        "{msg}"
    );
}

#[test]
fn truncated_files_are_reported_as_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index.bcix");
    sample().save(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    for cut in [bytes.len() - 1, bytes.len() - 40, 30, 17] {
        std::fs::write(&path, &bytes[..cut]).unwrap();
        let problem = corrupt_problem(EmbeddingIndex::load(&path, None).unwrap_err());
        assert!(problem.starts_with("truncated"), "cut {cut}: {problem}");
    }
    std::fs::write(&path, b"").unwrap();
    let problem = corrupt_problem(EmbeddingIndex::load(&path, None).unwrap_err());
    assert!(problem.contains("not a brainclip"), "{problem}");
}

#[test]
fn flipped_bits_fail_the_checksum() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index.bcix");
    sample().save(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    // One byte in the embeddings, one in the metadata JSON, one in the checksum.
    for at in [bytes.len() - 40, 30, bytes.len() - 1] {
        let mut bad = bytes.clone();
        bad[at] ^= 0x10;
        std::fs::write(&path, &bad).unwrap();
        let err = EmbeddingIndex::load(&path, None).unwrap_err();
        assert!(
            err.to_string().contains("checksum mismatch"),
            "byte {at}: {err}"
        );
    }
    let mut longer = bytes.clone();
    longer.extend_from_slice(&[0; 4]);
    std::fs::write(&path, &longer).unwrap();
    let problem = corrupt_problem(EmbeddingIndex::load(&path, None).unwrap_err());
    assert!(problem.contains("trailing"), "{problem}");
    let mut other_version = bytes;
    other_version[4] = 9;
    std::fs::write(&path, &other_version).unwrap();
    let err = EmbeddingIndex::load(&path, None).unwrap_err();
    assert!(
        matches!(err, IndexError::OtherFormat { found: 9, .. }),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .starts_with("embedding index of format version 9, this build reads")
    );
}

#[test]
fn missing_file_is_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = EmbeddingIndex::load(&dir.path().join("none.bcix"), None).unwrap_err();
    assert!(matches!(err, IndexError::Io(_)), "{err:?}");
}

#[test]
fn an_absurd_dimension_is_refused() {
    let mut index = sample();
    index.dim = 1 << 20;
    let err = index.validate().unwrap_err().to_string();
    assert!(err.contains("embedding dimension 1048576"), "{err}");
    let entries = sample().entries;
    let empty = vec![Vec::new(); entries.len()];
    let err = EmbeddingIndex::new("m", entries, empty.clone(), empty).unwrap_err();
    assert!(
        err.to_string().contains("dimension 0 for 3 studies"),
        "{err}"
    );
}

#[test]
fn inconsistent_index_is_refused() {
    let mut index = sample();
    index.text.pop();
    assert!(matches!(index.validate(), Err(IndexError::Inconsistent(_))));
    let err = index
        .save(&tempfile::tempdir().unwrap().path().join("x"))
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("2 report embeddings for 3 studies"),
        "{err}"
    );
    let mut index = sample();
    index.image[1] = vec![f32::NAN, 0.0];
    assert!(
        index
            .validate()
            .unwrap_err()
            .to_string()
            .contains("study-1")
    );
}

#[test]
fn queries_rank_images_and_reports() {
    let index = sample();
    let hits = index.query_image(&[1.0, 0.0], 2, None);
    assert_eq!(hits.iter().map(|h| h.index).collect::<Vec<_>>(), vec![0, 2]);
    assert!((hits[0].score - 1.0).abs() < 1e-6);
    let hits = index.query_text(&[1.0, 0.0], 5, Some(0));
    assert_eq!(hits.iter().map(|h| h.index).collect::<Vec<_>>(), vec![2, 1]);
    assert_eq!(index.position("study-2"), Some(2));
    assert_eq!(index.len(), 3);
}
