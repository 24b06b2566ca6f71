//! MNIST and Fashion-MNIST: the four IDX files (`train-images-idx3-ubyte`,
//! `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`, `t10k-labels-idx1-ubyte`, each raw
//! or `.gz`), validated and held in memory as bytes.
//!
//! Where the files are looked for, in order:
//! 1. `data_dir` when given (also its `MNIST/raw` or `FashionMNIST/raw` subfolder, the
//!    torchvision layout) — and nowhere else;
//! 2. the cache folder's `mnist/` or `fashion-mnist/`;
//! 3. Fashion-MNIST only: `/usr/share/datasets/fashion-mnist/` (Debian's
//!    `dataset-fashion-mnist` package);
//! 4. when `download` is on, the files are downloaded into the cache folder: MNIST from
//!    torchvision's mirror <https://ossci-datasets.s3.amazonaws.com/mnist/>, Fashion-MNIST
//!    from <http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/>.
//!
//! Verification: Fashion-MNIST's `.gz` files are checked against their published SHA-256
//! values; for MNIST the published SHA-256 values are those of the decompressed files, so
//! the download is checked after gunzipping. Files the user supplies are not hashed, but
//! every file is validated: magic number, dimensions (`N×28×28`, `N`), that it holds the
//! bytes its header claims, matching counts, labels below 10.
//!
//! ```no_run
//! use convlab::data::{self, Split, DataOptions};
//! let train = data::open("mnist", Split::Train, &DataOptions::default()).unwrap();
//! assert_eq!(train.len(), 60_000);
//! ```

use std::path::{Path, PathBuf};

use super::download::{self, Check};
use super::{idx, DataOptions, MemoryDataset, Split};
use crate::Error;

/// Which of the two IDX datasets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    Mnist,
    Fashion,
}

/// Fashion-MNIST's class names in label order.
pub const FASHION_CLASSES: [&str; 10] =
    ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

/// Debian's `dataset-fashion-mnist` installs the files here.
pub const FASHION_SYSTEM_DIR: &str = "/usr/share/datasets/fashion-mnist";

impl Variant {
    pub fn name(self) -> &'static str {
        match self {
            Variant::Mnist => "mnist",
            Variant::Fashion => "fashion-mnist",
        }
    }

    pub fn base_url(self) -> &'static str {
        match self {
            Variant::Mnist => "https://ossci-datasets.s3.amazonaws.com/mnist/",
            Variant::Fashion => "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        }
    }

    pub fn classes(self) -> Vec<String> {
        match self {
            Variant::Mnist => (0..10).map(|d| d.to_string()).collect(),
            Variant::Fashion => FASHION_CLASSES.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// The verification of the downloaded `<file>.gz` (`file` without `.gz`).
    pub fn check(self, file: &str) -> Check {
        let table: &[(&str, Check)] = match self {
            // Published SHA-256 of the decompressed MNIST files.
            Variant::Mnist => &[
                (
                    "train-images-idx3-ubyte",
                    Check::Sha256Gunzipped("ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
                ),
                (
                    "train-labels-idx1-ubyte",
                    Check::Sha256Gunzipped("65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
                ),
                (
                    "t10k-images-idx3-ubyte",
                    Check::Sha256Gunzipped("0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
                ),
                (
                    "t10k-labels-idx1-ubyte",
                    Check::Sha256Gunzipped("ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
                ),
            ],
            // SHA-256 of the .gz files as published on the Fashion-MNIST mirror.
            Variant::Fashion => &[
                (
                    "train-images-idx3-ubyte",
                    Check::Sha256("3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"),
                ),
                (
                    "train-labels-idx1-ubyte",
                    Check::Sha256("a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"),
                ),
                (
                    "t10k-images-idx3-ubyte",
                    Check::Sha256("346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"),
                ),
                (
                    "t10k-labels-idx1-ubyte",
                    Check::Sha256("67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"),
                ),
            ],
        };
        table.iter().find(|(f, _)| *f == file).map(|(_, c)| *c).unwrap_or(Check::None)
    }

    fn torchvision_dir(self) -> &'static str {
        match self {
            Variant::Mnist => "MNIST/raw",
            Variant::Fashion => "FashionMNIST/raw",
        }
    }
}

/// The image and label file names (without `.gz`) of a split.
pub fn file_names(split: Split) -> [&'static str; 2] {
    match split {
        Split::Train => ["train-images-idx3-ubyte", "train-labels-idx1-ubyte"],
        Split::Test => ["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"],
    }
}

/// `dir/name` or `dir/name.gz`, whichever exists.
fn find_in(dir: &Path, name: &str) -> Option<PathBuf> {
    [dir.join(name), dir.join(format!("{name}.gz"))].into_iter().find(|p| p.is_file())
}

/// Both files of a split from one of `dirs` (the first folder holding both).
fn find_pair(dirs: &[PathBuf], names: [&str; 2]) -> Option<[PathBuf; 2]> {
    dirs.iter().find_map(|d| Some([find_in(d, names[0])?, find_in(d, names[1])?]))
}

/// Opens a split (see the module documentation for where the files come from).
pub fn open(variant: Variant, split: Split, opts: &DataOptions) -> Result<MemoryDataset, Error> {
    let names = file_names(split);
    let [images, labels] = if let Some(dir) = &opts.data_dir {
        let dirs = vec![dir.clone(), dir.join(variant.torchvision_dir()), dir.join(variant.name())];
        find_pair(&dirs, names).ok_or_else(|| missing(variant, names, dir, false))?
    } else {
        let cache = opts.cache_dir().join(variant.name());
        let mut dirs = vec![cache.clone()];
        if variant == Variant::Fashion {
            dirs.push(PathBuf::from(FASHION_SYSTEM_DIR));
        }
        match find_pair(&dirs, names) {
            Some(found) => found,
            None if opts.download => {
                for name in names {
                    if find_in(&cache, name).is_none() {
                        let file = format!("{name}.gz");
                        let url = format!("{}{file}", variant.base_url());
                        download::fetch(&url, &cache.join(&file), &variant.check(name), opts.progress)
                            .map_err(|e| Error::Invalid(format!("{e}\n{}", missing(variant, names, &cache, true))))?;
                    }
                }
                find_pair(std::slice::from_ref(&cache), names).ok_or_else(|| missing(variant, names, &cache, true))?
            }
            None => return Err(missing(variant, names, &cache, true)),
        }
    };
    load_files(variant, &images, &labels)
}

/// Reads and validates an image file and a label file.
pub fn load_files(variant: Variant, images: &Path, labels: &Path) -> Result<MemoryDataset, Error> {
    let img = idx::load(images, 3)?;
    let lab = idx::load(labels, 1)?;
    from_arrays(variant, img, lab, &images.display().to_string(), &labels.display().to_string())
}

/// Validates parsed IDX arrays as an MNIST-style split (`N×28×28` images, `N` labels below
/// 10) and builds the dataset; `images` and `labels` name the files in errors.
///
/// ```
/// use convlab::data::{idx::IdxArray, mnist::{self, Variant}};
/// let img = IdxArray { dims: vec![2, 28, 28], data: vec![0; 2 * 784] };
/// let lab = IdxArray { dims: vec![3], data: vec![1, 2, 3] };
/// let err = mnist::from_arrays(Variant::Mnist, img, lab, "img.idx", "lab.idx").unwrap_err();
/// assert_eq!(err.to_string(), "lab.idx: 3 labels for the 2 images in img.idx");
/// ```
pub fn from_arrays(
    variant: Variant,
    img: idx::IdxArray,
    lab: idx::IdxArray,
    images: &str,
    labels: &str,
) -> Result<MemoryDataset, Error> {
    let bad = |p: &str, msg: String| Error::Format { path: p.to_string(), msg };
    if img.dims.len() != 3 {
        return Err(bad(
            images,
            format!("expected 3 dimensions, the IDX header has {} ({:?})", img.dims.len(), img.dims),
        ));
    }
    if lab.dims.len() != 1 {
        return Err(bad(
            labels,
            format!("expected 1 dimensions, the IDX header has {} ({:?})", lab.dims.len(), lab.dims),
        ));
    }
    if img.dims[1..] != [28, 28] {
        return Err(bad(images, format!("images are {}×{}, expected 28×28", img.dims[1], img.dims[2])));
    }
    if img.dims[0] != lab.dims[0] {
        return Err(bad(labels, format!("{} labels for the {} images in {images}", lab.dims[0], img.dims[0])));
    }
    if img.data.len() != img.dims.iter().product::<usize>() || lab.data.len() != lab.dims[0] {
        return Err(bad(
            images,
            format!(
                "{} image bytes and {} label bytes do not match the headers {:?} and {:?}",
                img.data.len(),
                lab.data.len(),
                img.dims,
                lab.dims
            ),
        ));
    }
    if let Some(i) = lab.data.iter().position(|&l| l >= 10) {
        return Err(bad(labels, format!("label {} at index {i} is not below 10", lab.data[i])));
    }
    Ok(MemoryDataset::new(variant.name(), [1, 28, 28], variant.classes(), img.data, lab.data))
}

/// The error for files that are not there: which files, where to put them, where from.
fn missing(variant: Variant, names: [&str; 2], dir: &Path, cache: bool) -> Error {
    let list = names.map(|n| format!("{n}.gz (or {n})")).join(" and ");
    let mut msg = format!(
        "{}: {list} not found in {}. Download them from {} and put them there",
        variant.name(),
        dir.display(),
        names.map(|n| format!("{}{n}.gz", variant.base_url())).join(" and ")
    );
    if cache {
        msg.push_str(", or pass a data folder that holds them");
        if variant == Variant::Fashion {
            msg.push_str(&format!(" (Debian's dataset-fashion-mnist package installs them in {FASHION_SYSTEM_DIR})"));
        }
    }
    Error::Invalid(msg)
}
