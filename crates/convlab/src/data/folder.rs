//! Image folders: `root/<class>/*.png|jpg|jpeg|bmp`, one subfolder per class, class names
//! (and so labels) from the sorted folder names. When `root` has `train/` and `test/`
//! subfolders, the split picks one; otherwise `root` itself is the training split and asking
//! for the test split is an error.
//!
//! Images are decoded lazily, one per [`Dataset::get`], so large folders cost only their
//! file list. Every image comes out at one size and channel count:
//! - channels: `grayscale` from the options, else as the first image (grayscale if it has
//!   one luminance channel, RGB otherwise; alpha is dropped);
//! - size: `image_size` `[H, W]` from the options, else the first image's size. An image of
//!   another size is **center-cropped** to the target's aspect ratio (the largest centred
//!   window) and then **resized** with a triangle (bilinear) filter.
//!
//! Files are listed sorted by name within each class, classes in label order.
//!
//! ```
//! use convlab::data::{folder::ImageFolder, Dataset, DataOptions, Split};
//! let root = std::env::temp_dir().join(format!("convlab-folder-doc-{}", std::process::id()));
//! for (class, shade) in [("dark", 10u8), ("light", 240u8)] {
//!     std::fs::create_dir_all(root.join(class)).unwrap();
//!     image::GrayImage::from_pixel(8, 6, image::Luma([shade])).save(root.join(class).join("a.png")).unwrap();
//! }
//! let ds = ImageFolder::open(&root, Split::Train, &DataOptions::default()).unwrap();
//! assert_eq!((ds.len(), ds.image_shape(), ds.classes().to_vec()), (2, [1, 6, 8], vec!["dark".to_string(), "light".into()]));
//! assert_eq!(ds.get(1).unwrap().label, 1);
//! # std::fs::remove_dir_all(&root).unwrap();
//! ```

use std::path::{Path, PathBuf};

use image::imageops::FilterType;
use image::DynamicImage;

use super::{out_of_range, DataOptions, Dataset, Sample, Split};
use crate::Error;

/// File extensions read as images (case-insensitive).
pub const EXTENSIONS: [&str; 4] = ["png", "jpg", "jpeg", "bmp"];

/// A dataset of image files in class folders (see the module documentation).
#[derive(Clone, Debug)]
pub struct ImageFolder {
    name: String,
    root: PathBuf,
    classes: Vec<String>,
    files: Vec<(PathBuf, usize)>,
    shape: [usize; 3],
}

fn io_err(path: &Path, e: std::io::Error) -> Error {
    Error::Io { path: path.display().to_string(), source: e }
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| io_err(dir, e))? {
        let path = entry.map_err(|e| io_err(dir, e))?.path();
        if !path.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')) {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

fn is_image(path: &Path) -> bool {
    path.is_file() && path.extension().is_some_and(|e| EXTENSIONS.iter().any(|x| e.eq_ignore_ascii_case(x)))
}

impl ImageFolder {
    /// Opens `root` (or its `train/` / `test/` subfolder) under the name `folder:<root>`.
    pub fn open(root: &Path, split: Split, opts: &DataOptions) -> Result<ImageFolder, Error> {
        ImageFolder::open_named(root, split, opts, &format!("folder:{}", root.display()))
    }

    /// As [`ImageFolder::open`], under the given dataset name.
    pub fn open_named(root: &Path, split: Split, opts: &DataOptions, name: &str) -> Result<ImageFolder, Error> {
        let has_splits = root.join("train").is_dir() && root.join("test").is_dir();
        let dir = match (has_splits, split) {
            (true, s) => root.join(s.as_str()),
            (false, Split::Train) => root.to_path_buf(),
            (false, Split::Test) => {
                return Err(Error::Invalid(format!(
                    "{}: no test split: the folder has no train/ and test/ subfolders (put the test images in {}/test/<class>/ and the training images in {}/train/<class>/)",
                    root.display(),
                    root.display(),
                    root.display()
                )))
            }
        };
        let class_dirs: Vec<PathBuf> = sorted_entries(&dir)?.into_iter().filter(|p| p.is_dir()).collect();
        if class_dirs.is_empty() {
            return Err(Error::Invalid(format!(
                "{}: no class subfolders (expected {}/<class>/*.png|jpg|jpeg|bmp)",
                dir.display(),
                dir.display()
            )));
        }
        let mut classes = Vec::new();
        let mut files = Vec::new();
        for (label, class_dir) in class_dirs.iter().enumerate() {
            classes.push(class_dir.file_name().unwrap().to_string_lossy().into_owned());
            files.extend(sorted_entries(class_dir)?.into_iter().filter(|p| is_image(p)).map(|p| (p, label)));
        }
        let Some((first, _)) = files.first() else {
            return Err(Error::Invalid(format!(
                "{}: no images (.png, .jpg, .jpeg, .bmp) in its class subfolders",
                dir.display()
            )));
        };
        let (first_gray, first_h, first_w) = if opts.image_size.is_some() && opts.grayscale.is_some() {
            (false, 0, 0)
        } else {
            let img = decode_file(first)?;
            (img.color().channel_count() <= 2, img.height() as usize, img.width() as usize)
        };
        let gray = opts.grayscale.unwrap_or(first_gray);
        let [h, w] = opts.image_size.unwrap_or([first_h, first_w]);
        if h == 0 || w == 0 {
            return Err(Error::Invalid(format!("{}: image size {h}×{w} must be positive", dir.display())));
        }
        Ok(ImageFolder { name: name.to_string(), root: dir, classes, files, shape: [if gray { 1 } else { 3 }, h, w] })
    }

    /// The folder the split was read from.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The image files and their labels, in index order.
    pub fn files(&self) -> &[(PathBuf, usize)] {
        &self.files
    }
}

/// The largest image side the loaders decode (pixels). Larger headers are refused before
/// any pixel buffer is allocated.
pub const MAX_IMAGE_SIDE: u32 = 16_384;
/// The most memory one image decode may allocate (256 MiB).
pub const MAX_IMAGE_ALLOC: u64 = 256 << 20;
/// The largest image file read (256 MiB), checked before reading.
pub const MAX_IMAGE_FILE: u64 = 256 << 20;

/// Reads and decodes an image file as the folder loader does: the file size is checked
/// against [`MAX_IMAGE_FILE`] before reading, then [`decode_image`] applies its limits.
pub fn decode_file(path: &Path) -> Result<DynamicImage, Error> {
    let name = path.display().to_string();
    let io = |e| Error::Io { path: name.clone(), source: e };
    let len = std::fs::metadata(path).map_err(io)?.len();
    if len > MAX_IMAGE_FILE {
        return Err(Error::Format {
            path: name,
            msg: format!("{len} bytes is more than the {MAX_IMAGE_FILE}-byte limit for an image file"),
        });
    }
    decode_image(&std::fs::read(path).map_err(io)?, &name)
}

/// Decodes image file bytes (PNG, JPEG or BMP, recognized by content) as the folder loader
/// does, in bounded memory: the header's dimensions are read first and refused above
/// [`MAX_IMAGE_SIDE`] per side, and the decoder may allocate at most [`MAX_IMAGE_ALLOC`].
/// `name` names the file in errors.
///
/// ```
/// use convlab::data::folder::decode_image;
/// // A PNG header claiming 100000×100000 pixels (signature, then the IHDR chunk).
/// let mut ihdr = b"IHDR".to_vec();
/// ihdr.extend(100_000u32.to_be_bytes());
/// ihdr.extend(100_000u32.to_be_bytes());
/// ihdr.extend([8, 0, 0, 0, 0]); // 8-bit gray
/// let mut crc = flate2::Crc::new();
/// crc.update(&ihdr);
/// let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\r".to_vec();
/// png.extend(ihdr);
/// png.extend(crc.sum().to_be_bytes());
/// png.extend(b"\0\0\0\0IDAT\x35\xaf\x06\x1e"); // an empty IDAT chunk ends the header
/// let err = decode_image(&png, "huge.png").unwrap_err().to_string();
/// assert!(err.starts_with("huge.png: image header claims 100000×100000 pixels"), "{err}");
/// ```
pub fn decode_image(bytes: &[u8], name: &str) -> Result<DynamicImage, Error> {
    let fail = |msg: String| Error::Format { path: name.to_string(), msg };
    let reader = || -> Result<image::ImageReader<std::io::Cursor<&[u8]>>, Error> {
        let mut r = image::ImageReader::new(std::io::Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|e| fail(format!("cannot read image: {e}")))?;
        let mut limits = image::Limits::default();
        limits.max_alloc = Some(MAX_IMAGE_ALLOC);
        r.limits(limits);
        Ok(r)
    };
    let (w, h) = reader()?.into_dimensions().map_err(|e| fail(format!("cannot decode image: {e}")))?;
    if w > MAX_IMAGE_SIDE || h > MAX_IMAGE_SIDE {
        return Err(fail(format!(
            "image header claims {w}×{h} pixels, more than the limit of {MAX_IMAGE_SIDE} per side; refusing to decode"
        )));
    }
    if w == 0 || h == 0 {
        return Err(fail(format!("image header claims {w}×{h} pixels: empty image")));
    }
    reader()?.decode().map_err(|e| fail(format!("cannot decode image: {e}")))
}

/// Center-crops `img` to the aspect ratio of `w×h`, then resizes it to `w×h`.
pub fn crop_resize(img: DynamicImage, h: usize, w: usize) -> DynamicImage {
    let (iw, ih) = (img.width() as u64, img.height() as u64);
    let (w, h) = (w as u32, h as u32);
    if iw == w as u64 && ih == h as u64 {
        return img;
    }
    // The largest window with ratio w:h: width cw = min(iw, ih·w/h).
    let (cw, ch) = if iw * h as u64 > ih * w as u64 {
        ((ih * w as u64 / h as u64).max(1), ih)
    } else {
        (iw, (iw * h as u64 / w as u64).max(1))
    };
    let cropped = img.crop_imm(((iw - cw) / 2) as u32, ((ih - ch) / 2) as u32, cw as u32, ch as u32);
    if cw == w as u64 && ch == h as u64 {
        cropped
    } else {
        cropped.resize_exact(w, h, FilterType::Triangle)
    }
}

/// The `C×H×W` values in `[0, 1]` of an image already `H×W` (gray when `C` is 1, else RGB),
/// as [`Dataset::get`] returns them.
pub fn to_chw(img: DynamicImage, [c, h, w]: [usize; 3]) -> Vec<f32> {
    let mut image = vec![0.0f32; c * h * w];
    if c == 1 {
        for (o, p) in image.iter_mut().zip(img.to_luma8().pixels()) {
            *o = p.0[0] as f32 / 255.0;
        }
    } else {
        let plane = h * w;
        for (i, p) in img.to_rgb8().pixels().enumerate().take(plane) {
            for ch in 0..3 {
                image[ch * plane + i] = p.0[ch] as f32 / 255.0;
            }
        }
    }
    image
}

impl Dataset for ImageFolder {
    fn name(&self) -> &str {
        &self.name
    }
    fn len(&self) -> usize {
        self.files.len()
    }
    fn image_shape(&self) -> [usize; 3] {
        self.shape
    }
    fn classes(&self) -> &[String] {
        &self.classes
    }
    fn get(&self, index: usize) -> Result<Sample, Error> {
        let (path, label) = self.files.get(index).ok_or_else(|| out_of_range(&self.name, index, self.files.len()))?;
        let [_, h, w] = self.shape;
        let image = to_chw(crop_resize(decode_file(path)?, h, w), self.shape);
        Ok(Sample { image, label: *label })
    }
}
