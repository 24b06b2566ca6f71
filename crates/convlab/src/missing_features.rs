//! What a build without some of the default features answers where the left-out feature
//! would have been needed: an [`Error::MissingFeature`] naming it, and otherwise the engine
//! as usual. (`cargo test -p convlab --no-default-features --lib` runs these.)

// The helpers serve whichever of the tests this build has (none with every feature on).
#![allow(dead_code, unused_imports)]

use std::path::PathBuf;

use crate::data::{self, DataOptions, Split};
use crate::Error;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("convlab-features-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn names_feature(e: &Error, feature: &str) -> bool {
    matches!(e, Error::MissingFeature { feature: f, .. } if *f == feature)
}

#[cfg(not(feature = "archive"))]
#[test]
fn a_gzipped_idx_file_needs_archive() {
    let gz = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
    let err = data::idx::decode(&gz, "labels.gz").unwrap_err();
    assert!(names_feature(&err, "archive"), "{err:?}");
    assert_eq!(err.to_string(), "labels.gz: reading a gzipped file needs the `archive` feature of convlab");
    // Raw IDX files read as before.
    let raw = [0, 0, 8, 1, 0, 0, 0, 2, 7, 3];
    assert_eq!(data::idx::decode(&raw, "labels").unwrap().data, vec![7, 3]);
}

#[cfg(not(feature = "archive"))]
#[test]
fn the_cifar_archive_needs_archive() {
    let dir = scratch("cifar");
    let archive = dir.join("cifar-10-binary.tar.gz");
    std::fs::write(&archive, [0x1f, 0x8b]).unwrap();
    let err = data::cifar::extract(&archive, &dir.join("cache")).unwrap_err();
    assert!(names_feature(&err, "archive"), "{err:?}");
    assert!(err.to_string().contains("unpacking a tar.gz archive"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(not(feature = "download"))]
#[test]
fn downloading_needs_download() {
    let dir = scratch("download");
    let check = data::download::Check::Sha256("00");
    let err = data::download::fetch("https://example.invalid/x.gz", &dir.join("x.gz"), &check, false).unwrap_err();
    assert!(names_feature(&err, "download"), "{err:?}");
    assert_eq!(err.to_string(), "downloading https://example.invalid/x.gz needs the `download` feature of convlab");
    let err = data::download::verify(&dir.join("x.gz"), &check).unwrap_err();
    assert!(names_feature(&err, "download"), "{err:?}");
    // A named dataset missing from the cache says why it was not fetched.
    let opts = DataOptions { cache_dir: Some(dir.clone()), progress: false, ..DataOptions::default() };
    let err = data::open("mnist", Split::Test, &opts).err().unwrap().to_string();
    assert!(err.contains("needs the `download` feature of convlab"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(not(feature = "image"))]
#[test]
fn image_folders_and_uploads_need_image() {
    let dir = scratch("image");
    std::fs::create_dir_all(dir.join("cat")).unwrap();
    let err = data::open(dir.to_str().unwrap(), Split::Train, &DataOptions::default()).err().unwrap();
    assert!(names_feature(&err, "image"), "{err:?}");
    assert!(err.to_string().ends_with("reading an image folder needs the `image` feature of convlab"), "{err}");
    let err = crate::explain::decode_image(b"\x89PNG\r\n\x1a\n", [1, 28, 28]).unwrap_err();
    assert!(names_feature(&err, "image"), "{err:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(not(feature = "plot"))]
#[test]
fn training_without_plot_writes_everything_but_the_curves() {
    use std::sync::Arc;

    use crate::data::MemoryDataset;
    use crate::train::{metrics::Quiet, OptimizerKind, TrainConfig, Trainer};

    let dir = scratch("plot");
    let (n, hw) = (16, 28 * 28);
    let labels: Vec<u8> = (0..n).map(|i| (i % 2) as u8).collect();
    let pixels: Vec<u8> = labels.iter().flat_map(|&l| vec![if l == 0 { 30 } else { 220 }; hw]).collect();
    let ds = Arc::new(MemoryDataset::new("toy", [1, 28, 28], vec!["dark".into(), "bright".into()], pixels, labels));
    let config = TrainConfig {
        model: "lenet5".into(),
        epochs: 1,
        batch_size: 8,
        optimizer: OptimizerKind::Adam,
        workers: 0,
        ..TrainConfig::default()
    };
    let mut trainer = Trainer::new(config, ds.clone(), Some(ds), None).unwrap();
    trainer.set_output(&dir);
    assert_eq!(trainer.run(&mut Quiet).unwrap().state.step, 2);
    for file in ["checkpoint.safetensors", "best.safetensors", "metrics.jsonl"] {
        assert!(dir.join(file).is_file(), "{file}");
    }
    assert!(!dir.join("curves.png").exists());
    let _ = std::fs::remove_dir_all(&dir);
}
