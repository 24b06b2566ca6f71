//! [`MemoryDataset`]: images held in memory as bytes (`0..=255`), as MNIST, Fashion-MNIST,
//! CIFAR-10 and the built-in dataset are.

use super::{out_of_range, Dataset, Sample};
use crate::Error;

/// A dataset whose images sit in one byte buffer, `C×H×W` bytes per image, each byte read
/// as `value / 255`.
#[derive(Clone, Debug)]
pub struct MemoryDataset {
    name: String,
    shape: [usize; 3],
    classes: Vec<String>,
    pixels: Vec<u8>,
    labels: Vec<u8>,
}

impl MemoryDataset {
    /// A dataset from `labels.len()` images of `shape` in `pixels`. Panics when the sizes
    /// disagree or a label is not below `classes.len()` (loaders validate files first).
    pub fn new(
        name: impl Into<String>,
        shape: [usize; 3],
        classes: Vec<String>,
        pixels: Vec<u8>,
        labels: Vec<u8>,
    ) -> Self {
        let name = name.into();
        let per: usize = shape.iter().product();
        assert_eq!(
            pixels.len(),
            per * labels.len(),
            "MemoryDataset {name}: {} bytes for {} images of {shape:?}",
            pixels.len(),
            labels.len()
        );
        assert!(
            labels.iter().all(|&l| (l as usize) < classes.len()),
            "MemoryDataset {name}: label not below {}",
            classes.len()
        );
        MemoryDataset { name, shape, classes, pixels, labels }
    }

    /// All labels, in order.
    pub fn labels(&self) -> &[u8] {
        &self.labels
    }

    /// The bytes of image `index` (`C×H×W`).
    pub fn image_bytes(&self, index: usize) -> &[u8] {
        let per: usize = self.shape.iter().product();
        &self.pixels[index * per..(index + 1) * per]
    }

    /// All image bytes, image after image.
    pub fn pixels(&self) -> &[u8] {
        &self.pixels
    }
}

impl Dataset for MemoryDataset {
    fn name(&self) -> &str {
        &self.name
    }
    fn len(&self) -> usize {
        self.labels.len()
    }
    fn image_shape(&self) -> [usize; 3] {
        self.shape
    }
    fn classes(&self) -> &[String] {
        &self.classes
    }
    fn get(&self, index: usize) -> Result<Sample, Error> {
        if index >= self.labels.len() {
            return Err(out_of_range(&self.name, index, self.labels.len()));
        }
        let image = self.image_bytes(index).iter().map(|&b| b as f32 / 255.0).collect();
        Ok(Sample { image, label: self.labels[index] as usize })
    }
}
