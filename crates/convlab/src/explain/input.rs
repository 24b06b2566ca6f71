//! The explainer's inputs: a dataset sample, an uploaded PNG/JPEG (checked before decoding:
//! format, header dimensions, byte size) or raw pixels from a drawing, turned into the
//! model's normalized `1×C×H×W` tensor.

#[cfg(feature = "image")]
pub use super::decode::decode_image;
use super::{Explainer, Prepared};
use crate::{Error, Tensor};

/// The largest upload accepted, in bytes.
pub const MAX_IMAGE_BYTES: usize = 8 << 20;
/// The largest width or height of an uploaded image.
pub const MAX_IMAGE_SIDE: u32 = 4096;

/// Where an input comes from.
#[derive(Clone, Debug)]
pub enum InputSource {
    /// The `i`-th image of the dataset's test split.
    Sample(usize),
    /// An encoded PNG or JPEG file.
    Image(Vec<u8>),
    /// Pixels in `[0, 1]`, `C×H×W` with `shape` the model's input shape (or `H×W` for a
    /// one-channel model).
    Pixels { data: Vec<f32>, shape: Vec<usize> },
}

impl InputSource {
    /// The input of a request body: JSON `{"sample": i}` or `{"pixels": [...], "shape": [C, H,
    /// W]}` when `json` (the request's content type), else the bytes of an image file. The
    /// error is a message for the client.
    pub fn from_request(json: bool, body: &[u8]) -> Result<InputSource, String> {
        use serde_json::Value;
        if body.is_empty() {
            return Err(
                "empty request: send {\"sample\": i}, {\"pixels\": [...], \"shape\": [C, H, W]} or a PNG/JPEG file"
                    .into(),
            );
        }
        if !json {
            return Ok(InputSource::Image(body.to_vec()));
        }
        let v: Value = serde_json::from_slice(body).map_err(|e| format!("not valid JSON: {e}"))?;
        if let Some(i) = v.get("sample") {
            let i = i.as_u64().ok_or("'sample' must be a non-negative integer")?;
            return Ok(InputSource::Sample(usize::try_from(i).map_err(|_| "'sample' is out of range")?));
        }
        if let Some(px) = v.get("pixels") {
            let data: Vec<f32> =
                serde_json::from_value(px.clone()).map_err(|_| "'pixels' must be an array of numbers")?;
            let shape: Vec<usize> = serde_json::from_value(v.get("shape").cloned().unwrap_or(Value::Null))
                .map_err(|_| "'shape' must be an array like [1, 28, 28]")?;
            return Ok(InputSource::Pixels { data, shape });
        }
        Err("the JSON body needs 'sample' or 'pixels' and 'shape'".into())
    }
}

/// Without the `image` feature an uploaded image is refused (samples and drawn pixels work).
#[cfg(not(feature = "image"))]
pub fn decode_image(_bytes: &[u8], _shape: [usize; 3]) -> Result<Vec<f32>, Error> {
    Err(Error::MissingFeature { feature: "image", what: "decoding an uploaded image".into() })
}

impl Explainer {
    /// Turns an input into the model's tensor (normalized as in training).
    pub(crate) fn prepare(&self, src: &InputSource) -> Result<Prepared, Error> {
        let [c, h, w] = [self.input_shape[0], self.input_shape[1], self.input_shape[2]];
        let (image, label) = match src {
            InputSource::Sample(i) => {
                let d = self.dataset.as_ref().ok_or_else(|| {
                    Error::Invalid("no dataset: start the explainer with --dataset to pick samples".into())
                })?;
                if *i >= d.len() {
                    return Err(Error::Invalid(format!(
                        "sample {i} is out of range: the test split of {} has {} images",
                        d.name(),
                        d.len()
                    )));
                }
                let s = d.get(*i)?;
                (s.image, Some(s.label))
            }
            InputSource::Image(bytes) => (decode_image(bytes, [c, h, w])?, None),
            InputSource::Pixels { data, shape } => {
                let fits = shape[..] == self.input_shape[..] || (c == 1 && shape[..] == [h, w]);
                if !fits {
                    return Err(Error::Shape(format!(
                        "pixels of shape {shape:?} do not fit the model's input {:?}",
                        self.input_shape
                    )));
                }
                if data.len() != c * h * w {
                    return Err(Error::Shape(format!("{} pixel values given for shape {shape:?}", data.len())));
                }
                if let Some(bad) = data.iter().find(|v| !v.is_finite()) {
                    return Err(Error::Invalid(format!("pixel value {bad} is not a finite number")));
                }
                (data.iter().map(|v| v.clamp(0.0, 1.0)).collect(), None)
            }
        };
        let mut x = image.clone();
        if let Some(n) = &self.normalization {
            for ch in 0..c {
                let m = n.mean.get(ch).or(n.mean.first()).copied().unwrap_or(0.0);
                let s = n.std.get(ch).or(n.std.first()).copied().unwrap_or(1.0);
                for v in &mut x[ch * h * w..(ch + 1) * h * w] {
                    *v = (*v - m) / s;
                }
            }
        }
        Ok(Prepared { x: Tensor::from_vec(x, [1, c, h, w]), image, label })
    }
}
