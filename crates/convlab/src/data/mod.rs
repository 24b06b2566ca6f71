//! Datasets and the data loader.
//!
//! A [`Dataset`] hands out [`Sample`]s: a `C×H×W` image with values in `[0, 1]` and a class
//! label. [`open`] finds one by name:
//! - `"mnist"`, `"fashion-mnist"`: the IDX files (raw or gzipped), held in memory as bytes;
//! - `"cifar10"`: the binary batches (`data_batch_1..5.bin`, `test_batch.bin`), or an image
//!   folder tree `train/<class>/*.jpg`, `test/<class>/*.jpg`;
//! - `"builtin"`: procedurally drawn digits that need no files (see [`builtin`]);
//! - any other name is read as a folder path: `root/<class>/*.png|jpg|jpeg|bmp`, with
//!   `root/train` and `root/test` picked by [`Split`] when present (see [`folder`]).
//!
//! Named datasets come from `data_dir` when given, else from the cache folder
//! (`$CONVLAB_DATA`, else the platform cache folder + `/convlab`), where they are downloaded
//! on first use with SHA-256 verification (see [`download`]).
//!
//! Features: downloading needs `download`, gzipped files and the CIFAR-10 archive `archive`,
//! image folders `image` (all on by default); without one, what needs it is an
//! [`Error::MissingFeature`](crate::Error::MissingFeature) naming it.
//!
//! A [`DataLoader`] turns a dataset into batches: seeded shuffling per epoch, augmentation
//! seeded per sample, normalization, decoding on background threads with bounded prefetch.
//!
//! ```
//! use convlab::data::{self, DataLoader, DataOptions, LoaderConfig, Split};
//! let opts = DataOptions { builtin_size: Some(100), ..DataOptions::default() };
//! let train = data::open("builtin", Split::Train, &opts).unwrap();
//! assert_eq!((train.len(), train.image_shape()), (100, [1, 28, 28]));
//! let config = LoaderConfig { batch_size: 32, normalize: data::normalization("builtin"), ..LoaderConfig::default() };
//! let loader = DataLoader::new(train, config);
//! let batches: Vec<_> = loader.epoch(0).collect::<Result<_, _>>().unwrap();
//! assert_eq!(batches.len(), loader.batches_per_epoch());
//! assert_eq!(batches[0].images.dims(), &[32, 1, 28, 28]);
//! assert_eq!(batches[3].labels.len(), 4);
//! ```

mod archive;
pub mod builtin;
pub mod cifar;
pub mod download;
#[cfg(feature = "image")]
pub mod folder;
pub mod idx;
mod loader;
mod memory;
pub mod mnist;
mod transforms;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use crate::checkpoint::Normalization;
use crate::Error;
pub use loader::{Batch, DataLoader, LoaderConfig};
pub use memory::MemoryDataset;
pub use transforms::{augment, normalize, Augment};

/// Which part of a dataset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Split {
    Train,
    Test,
}

impl Split {
    /// `"train"` or `"test"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "test",
        }
    }
}

/// One image and its label.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// `C×H×W`, row-major, values in `[0, 1]`.
    pub image: Vec<f32>,
    pub label: usize,
}

/// A labelled image dataset with random access.
pub trait Dataset: Send + Sync {
    /// `"mnist"`, `"fashion-mnist"`, `"cifar10"`, `"builtin"` or `"folder:<path>"`.
    fn name(&self) -> &str;
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// `[C, H, W]`.
    fn image_shape(&self) -> [usize; 3];
    /// Class names in label order.
    fn classes(&self) -> &[String];
    /// The sample at `index` (an error for an index out of range or an unreadable image).
    fn get(&self, index: usize) -> Result<Sample, Error>;
}

/// Where datasets come from and how to build them. `Default` gives: no data folder, the
/// default cache folder, downloads on, progress bars on (shown only on a terminal), seed 0.
#[derive(Clone, Debug)]
pub struct DataOptions {
    /// A folder holding the dataset's files already (read only; nothing is downloaded).
    pub data_dir: Option<PathBuf>,
    /// Where downloads go; default `$CONVLAB_DATA`, else the platform cache folder +
    /// `/convlab` (see [`default_cache_dir`]).
    pub cache_dir: Option<PathBuf>,
    /// Download missing files of a named dataset.
    pub download: bool,
    /// Show a progress bar while downloading.
    pub progress: bool,
    /// Seed of the built-in dataset's training split.
    pub seed: u64,
    /// Training images of the built-in dataset (default 10,000).
    pub builtin_size: Option<usize>,
    /// `[H, W]` of folder images (default: the size of the first image).
    pub image_size: Option<[usize; 2]>,
    /// Folder images as one channel (`true`) or three (`false`); default: as the first image.
    pub grayscale: Option<bool>,
}

impl Default for DataOptions {
    fn default() -> Self {
        DataOptions {
            data_dir: None,
            cache_dir: None,
            download: true,
            progress: true,
            seed: 0,
            builtin_size: None,
            image_size: None,
            grayscale: None,
        }
    }
}

impl DataOptions {
    /// The cache folder these options use.
    pub fn cache_dir(&self) -> PathBuf {
        self.cache_dir.clone().unwrap_or_else(default_cache_dir)
    }
}

/// `$CONVLAB_DATA` when set, else the platform cache folder (`~/.cache` on Linux) +
/// `/convlab`, else `./convlab-data`. The platform cache folder is known with the `download`
/// feature (which brings `dirs`); without it the fallback is `./convlab-data`.
pub fn default_cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CONVLAB_DATA").filter(|v| !v.is_empty()) {
        return PathBuf::from(dir);
    }
    platform_cache_dir().map(|d| d.join("convlab")).unwrap_or_else(|| PathBuf::from("convlab-data"))
}

#[cfg(feature = "download")]
fn platform_cache_dir() -> Option<PathBuf> {
    dirs::cache_dir()
}

#[cfg(not(feature = "download"))]
fn platform_cache_dir() -> Option<PathBuf> {
    None
}

/// The named datasets [`open`] knows (any other name is a folder path).
pub fn dataset_names() -> Vec<&'static str> {
    vec!["mnist", "fashion-mnist", "cifar10", "builtin"]
}

/// The canonical name for the spellings users type (`"FashionMNIST"`, `"cifar-10"`, ...).
fn canonical(name: &str) -> Option<&'static str> {
    let key: String = name.to_ascii_lowercase().chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    match key.as_str() {
        "mnist" => Some("mnist"),
        "fashionmnist" | "fashion" => Some("fashion-mnist"),
        "cifar10" => Some("cifar10"),
        "builtin" => Some("builtin"),
        _ => None,
    }
}

/// Opens a dataset by name (see the module documentation) or folder path.
pub fn open(name: &str, split: Split, opts: &DataOptions) -> Result<Arc<dyn Dataset>, Error> {
    match canonical(name) {
        Some("mnist") => Ok(Arc::new(mnist::open(mnist::Variant::Mnist, split, opts)?)),
        Some("fashion-mnist") => Ok(Arc::new(mnist::open(mnist::Variant::Fashion, split, opts)?)),
        Some("cifar10") => cifar::open(split, opts),
        Some(_) => Ok(Arc::new(builtin::open(split, opts))),
        None => {
            let path = Path::new(name);
            if path.is_dir() {
                open_folder(path, split, opts, &format!("folder:{}", path.display()))
            } else {
                Err(Error::Invalid(format!(
                    "unknown dataset '{name}': expected one of {} or a folder of class subfolders",
                    dataset_names().join(", ")
                )))
            }
        }
    }
}

/// An image folder (see [`folder`]) under the dataset name `name`.
#[cfg(feature = "image")]
fn open_folder(root: &Path, split: Split, opts: &DataOptions, name: &str) -> Result<Arc<dyn Dataset>, Error> {
    Ok(Arc::new(folder::ImageFolder::open_named(root, split, opts, name)?))
}

/// Image folders need the `image` feature to decode their files.
#[cfg(not(feature = "image"))]
fn open_folder(root: &Path, _split: Split, _opts: &DataOptions, _name: &str) -> Result<Arc<dyn Dataset>, Error> {
    Err(Error::MissingFeature { feature: "image", what: format!("{}: reading an image folder", root.display()) })
}

/// The per-channel mean and standard deviation conventionally used to normalize a named
/// dataset (the training split's pixel statistics): MNIST 0.1307/0.3081, Fashion-MNIST
/// 0.2860/0.3530, CIFAR-10 (0.4914, 0.4822, 0.4465)/(0.2470, 0.2435, 0.2616), and for the
/// built-in dataset the values measured on its default training split
/// ([`builtin::MEAN`], [`builtin::STD`]). `None` for other names (folders).
pub fn normalization(name: &str) -> Option<Normalization> {
    let (mean, std): (Vec<f32>, Vec<f32>) = match canonical(name)? {
        "mnist" => (vec![0.1307], vec![0.3081]),
        "fashion-mnist" => (vec![0.2860], vec![0.3530]),
        "cifar10" => (vec![0.4914, 0.4822, 0.4465], vec![0.2470, 0.2435, 0.2616]),
        _ => (vec![builtin::MEAN], vec![builtin::STD]),
    };
    Some(Normalization { mean, std })
}

/// The error for an index past the end.
pub(crate) fn out_of_range(name: &str, index: usize, len: usize) -> Error {
    Error::Invalid(format!("{name}: index {index} out of range for {len} samples"))
}
