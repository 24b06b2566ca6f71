//! The safetensors encoding: tensors to bytes (f32, or i64 for integer counters) and bytes to
//! f32 tensors, whatever numeric dtype PyTorch wrote. Every failure is an [`Error::Format`]
//! naming the file; crafted, truncated or foreign bytes never panic.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use safetensors::tensor::{SafeTensorError, SafeTensors, View};
use safetensors::Dtype;

use crate::{Error, Tensor};

/// How a tensor is written: f32 values, or (for PyTorch's integer buffers such as
/// `num_batches_tracked`) i64.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stored {
    F32,
    I64,
}

/// One tensor ready for [`safetensors::serialize`].
struct Encoded {
    dtype: Dtype,
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

impl View for &Encoded {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.bytes)
    }
    fn data_len(&self) -> usize {
        self.bytes.len()
    }
}

fn encode_one(t: &Tensor, stored: Stored) -> Encoded {
    let data = t.storage();
    let bytes = match stored {
        Stored::F32 => data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        Stored::I64 => data.iter().flat_map(|v| (v.round() as i64).to_le_bytes()).collect(),
    };
    Encoded { dtype: if stored == Stored::F32 { Dtype::F32 } else { Dtype::I64 }, shape: t.dims().to_vec(), bytes }
}

/// The bytes of a safetensors file holding `tensors` and the string `metadata`.
pub(crate) fn encode(
    path: &Path,
    tensors: &[(String, Tensor, Stored)],
    metadata: &BTreeMap<String, String>,
) -> Result<Vec<u8>, Error> {
    let encoded: Vec<(String, Encoded)> = tensors.iter().map(|(n, t, s)| (n.clone(), encode_one(t, *s))).collect();
    let meta: HashMap<String, String> = metadata.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    let meta = if meta.is_empty() { None } else { Some(meta) };
    safetensors::serialize(encoded.iter().map(|(n, e)| (n.as_str(), e)), &meta).map_err(|e| Error::Format {
        path: path.display().to_string(),
        msg: format!("cannot encode safetensors: {e:?}"),
    })
}

fn describe(e: &SafeTensorError, len: usize) -> String {
    match e {
        SafeTensorError::HeaderTooSmall => {
            format!("not a safetensors file: {len} bytes, too short for the 8-byte header length")
        }
        SafeTensorError::HeaderTooLarge | SafeTensorError::InvalidHeaderLength => {
            format!("not a safetensors file (or truncated): the header length does not fit in the file's {len} bytes")
        }
        SafeTensorError::InvalidHeader
        | SafeTensorError::InvalidHeaderStart
        | SafeTensorError::InvalidHeaderDeserialization => {
            "not a safetensors file: the header is not a valid JSON table of tensors".into()
        }
        SafeTensorError::MetadataIncompleteBuffer => {
            format!("truncated or corrupt: the header's tensor sizes do not add up to the file's {len} bytes")
        }
        SafeTensorError::TensorInvalidInfo => {
            "corrupt header: a tensor's byte range does not match its shape and dtype".into()
        }
        SafeTensorError::InvalidOffset(name) => {
            format!("corrupt header: tensor '{name}' has data offsets that are not contiguous")
        }
        SafeTensorError::ValidationOverflow => "corrupt header: a tensor's shape overflows".into(),
        other => format!("cannot read safetensors: {other:?}"),
    }
}

/// An IEEE 754 half-precision value (its bits) as f32.
pub(crate) fn f16_to_f32(h: u16) -> f32 {
    let sign = if h & 0x8000 != 0 { -1.0f32 } else { 1.0 };
    let exp = ((h >> 10) & 0x1f) as i32;
    let mant = (h & 0x3ff) as f32;
    match exp {
        0 => sign * mant * (2.0f32).powi(-24),
        31 if mant == 0.0 => sign * f32::INFINITY,
        31 => f32::NAN,
        _ => sign * (1.0 + mant / 1024.0) * (2.0f32).powi(exp - 15),
    }
}

/// The values of one stored tensor as f32 (floats rounded, integers converted).
fn to_f32(dtype: Dtype, b: &[u8]) -> Option<Vec<f32>> {
    fn chunks<const N: usize>(b: &[u8]) -> impl Iterator<Item = [u8; N]> + '_ {
        b.chunks_exact(N).map(|c| c.try_into().expect("chunks_exact gives N bytes"))
    }
    Some(match dtype {
        Dtype::F32 => chunks::<4>(b).map(f32::from_le_bytes).collect(),
        Dtype::F64 => chunks::<8>(b).map(|c| f64::from_le_bytes(c) as f32).collect(),
        Dtype::F16 => chunks::<2>(b).map(|c| f16_to_f32(u16::from_le_bytes(c))).collect(),
        Dtype::BF16 => chunks::<2>(b).map(|c| f32::from_bits((u16::from_le_bytes(c) as u32) << 16)).collect(),
        Dtype::I64 => chunks::<8>(b).map(|c| i64::from_le_bytes(c) as f32).collect(),
        Dtype::U64 => chunks::<8>(b).map(|c| u64::from_le_bytes(c) as f32).collect(),
        Dtype::I32 => chunks::<4>(b).map(|c| i32::from_le_bytes(c) as f32).collect(),
        Dtype::U32 => chunks::<4>(b).map(|c| u32::from_le_bytes(c) as f32).collect(),
        Dtype::I16 => chunks::<2>(b).map(|c| i16::from_le_bytes(c) as f32).collect(),
        Dtype::U16 => chunks::<2>(b).map(|c| u16::from_le_bytes(c) as f32).collect(),
        Dtype::I8 => b.iter().map(|&v| v as i8 as f32).collect(),
        Dtype::U8 | Dtype::BOOL => b.iter().map(|&v| v as f32).collect(),
        _ => return None,
    })
}

/// The tensors (as f32) and string metadata of the safetensors bytes read from `path`.
pub(crate) fn decode(path: &Path, bytes: &[u8]) -> Result<super::TensorsAndMetadata, Error> {
    let err = |msg: String| Error::Format { path: path.display().to_string(), msg };
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| err(describe(&e, bytes.len())))?;
    let metadata: BTreeMap<String, String> = header.metadata().clone().unwrap_or_default().into_iter().collect();
    let st = SafeTensors::deserialize(bytes).map_err(|e| err(describe(&e, bytes.len())))?;
    let mut tensors = BTreeMap::new();
    for (name, view) in st.tensors() {
        let data = to_f32(view.dtype(), view.data())
            .ok_or_else(|| err(format!("tensor '{name}': dtype {:?} cannot be converted to f32", view.dtype())))?;
        let t = Tensor::try_from_vec(data, view.shape().to_vec()).map_err(|e| err(format!("tensor '{name}': {e}")))?;
        tensors.insert(name, t);
    }
    Ok((tensors, metadata))
}
