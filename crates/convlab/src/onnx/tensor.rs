//! Tensors: element types, the checks on a tensor's shape and data, the conversion of a
//! [`TensorProto`] to the engine's f32 [`Tensor`] or to integers, and the constructors used
//! for export.
//!
//! A tensor's data sits in exactly one place: `raw_data` (fixed width, little-endian), one
//! typed field (`float_data`, `int32_data`, ...) or an external file. Before anything is
//! allocated its dims are checked (no negative dimension, an element count that fits in
//! memory) and the data present is checked to hold exactly that many elements, so an output
//! is never larger than the data it comes from (at most 4 bytes per byte: INT8 to f32).

use prost::bytes::Bytes;

use super::proto::tensor_proto::{DataLocation, DataType};
use super::proto::TensorProto;
use super::quoted;
use crate::Tensor;

/// The largest element count a tensor may claim: the count times 8 bytes (the widest element)
/// fits in an `isize`, so no size computation on it can overflow.
const MAX_ELEMENTS: u64 = (isize::MAX as u64) / 16;

impl DataType {
    /// The name ONNX gives the type (`"FLOAT"`, `"INT64"`).
    pub fn name(self) -> &'static str {
        use DataType::*;
        match self {
            Undefined => "UNDEFINED",
            Float => "FLOAT",
            Uint8 => "UINT8",
            Int8 => "INT8",
            Uint16 => "UINT16",
            Int16 => "INT16",
            Int32 => "INT32",
            Int64 => "INT64",
            String => "STRING",
            Bool => "BOOL",
            Float16 => "FLOAT16",
            Double => "DOUBLE",
            Uint32 => "UINT32",
            Uint64 => "UINT64",
            Complex64 => "COMPLEX64",
            Complex128 => "COMPLEX128",
            Bfloat16 => "BFLOAT16",
            Float8e4m3fn => "FLOAT8E4M3FN",
            Float8e4m3fnuz => "FLOAT8E4M3FNUZ",
            Float8e5m2 => "FLOAT8E5M2",
            Float8e5m2fnuz => "FLOAT8E5M2FNUZ",
            Uint4 => "UINT4",
            Int4 => "INT4",
            Float4e2m1 => "FLOAT4E2M1",
            Float8e8m0 => "FLOAT8E8M0",
            Uint2 => "UINT2",
            Int2 => "INT2",
            Float6e2m3 => "FLOAT6E2M3",
            Float6e3m2 => "FLOAT6E3M2",
        }
    }

    /// Bits per element in `raw_data` (`None`: no fixed width, or a packing ConvLab does not
    /// know: STRING, UNDEFINED, the 6-bit floats).
    pub fn bits(self) -> Option<u64> {
        use DataType::*;
        Some(match self {
            Undefined | String | Float6e2m3 | Float6e3m2 => return None,
            Uint2 | Int2 => 2,
            Uint4 | Int4 | Float4e2m1 => 4,
            Uint8 | Int8 | Bool | Float8e4m3fn | Float8e4m3fnuz | Float8e5m2 | Float8e5m2fnuz | Float8e8m0 => 8,
            Uint16 | Int16 | Float16 | Bfloat16 => 16,
            Float | Int32 | Uint32 => 32,
            Int64 | Uint64 | Double | Complex64 => 64,
            Complex128 => 128,
        })
    }

    /// The typed field that holds this type's values outside `raw_data`, and how many of its
    /// values `numel` elements take.
    fn typed_field(self, numel: u64) -> Option<(Field, u64)> {
        use DataType::*;
        Some(match self {
            Float => (Field::Float, numel),
            Complex64 => (Field::Float, 2 * numel),
            Int32 | Int16 | Int8 | Uint16 | Uint8 | Bool | Float16 | Bfloat16 | Float8e4m3fn | Float8e4m3fnuz
            | Float8e5m2 | Float8e5m2fnuz | Float8e8m0 => (Field::Int32, numel),
            Uint4 | Int4 | Float4e2m1 => (Field::Int32, numel.div_ceil(2)),
            Uint2 | Int2 => (Field::Int32, numel.div_ceil(4)),
            String => (Field::String, numel),
            Int64 => (Field::Int64, numel),
            Double => (Field::Double, numel),
            Complex128 => (Field::Double, 2 * numel),
            Uint32 | Uint64 => (Field::Uint64, numel),
            Undefined | Float6e2m3 | Float6e3m2 => return None,
        })
    }
}

/// The type's name for a `data_type` (or `elem_type`) integer: `"FLOAT"`, or
/// `"data_type 99"` for a number ONNX does not define.
pub fn type_name(data_type: i32) -> String {
    match DataType::try_from(data_type) {
        Ok(t) => t.name().to_string(),
        Err(_) => format!("data_type {data_type}"),
    }
}

/// Where a tensor's data is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Field {
    Raw,
    Float,
    Int32,
    String,
    Int64,
    Double,
    Uint64,
    External,
    /// No data at all (a tensor with no elements).
    Empty,
}

impl Field {
    fn name(self) -> &'static str {
        match self {
            Field::Raw => "raw_data",
            Field::Float => "float_data",
            Field::Int32 => "int32_data",
            Field::String => "string_data",
            Field::Int64 => "int64_data",
            Field::Double => "double_data",
            Field::Uint64 => "uint64_data",
            Field::External => "external data",
            Field::Empty => "no data",
        }
    }
}

/// A tensor's checked header: its shape, element count and type, and where its data is.
#[derive(Clone, Debug)]
pub(crate) struct Header {
    pub dims: Vec<usize>,
    pub numel: usize,
    /// `None`: a `data_type` number ONNX does not define.
    pub dtype: Option<DataType>,
    pub data: Field,
}

impl Header {
    /// The bytes the elements take in `raw_data` or an external file (`None`: no fixed width).
    pub fn raw_len(&self) -> Option<u64> {
        self.dtype.and_then(DataType::bits).map(|bits| (self.numel as u64 * bits).div_ceil(8))
    }
}

/// `"tensor \"w\""`, or `"an unnamed tensor"`: how errors name a tensor.
pub(crate) fn label(t: &TensorProto) -> String {
    if t.name.is_empty() {
        "an unnamed tensor".into()
    } else {
        format!("tensor {}", quoted(&t.name))
    }
}

/// Dims for a message: `[2, 3]`, the first 8 of a longer list and the count.
pub(crate) fn fmt_dims(dims: &[i64]) -> String {
    let shown: Vec<String> = dims.iter().take(8).map(i64::to_string).collect();
    if dims.len() > 8 {
        format!("[{}, ... ({} dims)]", shown.join(", "), dims.len())
    } else {
        format!("[{}]", shown.join(", "))
    }
}

/// The dims as sizes and their element count: no dimension may be negative, and the count
/// (and the product of the nonzero dimensions, which row-major strides reach) must fit
/// [`MAX_ELEMENTS`]. The error does not name the tensor.
pub(crate) fn check_dims(dims: &[i64]) -> Result<(Vec<usize>, usize), String> {
    let mut product: u64 = 1;
    let mut zero = false;
    for (i, &d) in dims.iter().enumerate() {
        if d < 0 {
            return Err(format!("dimension {i} of dims {} is negative", fmt_dims(dims)));
        }
        if d == 0 {
            zero = true;
            continue;
        }
        product = product.checked_mul(d as u64).filter(|&p| p <= MAX_ELEMENTS).ok_or_else(|| {
            format!(
                "dims {} claim more elements than any file or memory holds (at most {MAX_ELEMENTS})",
                fmt_dims(dims)
            )
        })?;
    }
    let sizes = dims.iter().map(|&d| d as usize).collect();
    Ok((sizes, if zero { 0 } else { product as usize }))
}

/// Checks a tensor's header against its data: the dims, the data type, that the data is in
/// exactly one place and holds exactly the elements the dims claim. External data is checked
/// for its keys only here (see `external.rs` for the file). The error does not name the
/// tensor.
pub(crate) fn check(t: &TensorProto) -> Result<Header, String> {
    let (dims, numel) = check_dims(&t.dims)?;
    if let Some(s) = &t.segment {
        return Err(format!("segmented tensors (segment {}..{}) are not supported", s.begin, s.end));
    }
    let dtype = DataType::try_from(t.data_type).ok();
    let shape = || format!("{} dims {}", type_name(t.data_type), fmt_dims(&t.dims));
    let inline = [
        (Field::Raw, t.raw_data.len()),
        (Field::Float, t.float_data.len()),
        (Field::Int32, t.int32_data.len()),
        (Field::String, t.string_data.len()),
        (Field::Int64, t.int64_data.len()),
        (Field::Double, t.double_data.len()),
        (Field::Uint64, t.uint64_data.len()),
    ];
    let mut present = inline.iter().filter(|&&(_, len)| len > 0);
    let first = present.next().copied();
    let data = match DataLocation::try_from(t.data_location) {
        Ok(DataLocation::External) => {
            if let Some((f, _)) = first {
                return Err(format!("data_location is EXTERNAL, but {} holds data too", f.name()));
            }
            if t.external_data.is_empty() {
                return Err("data_location is EXTERNAL, but external_data is empty".into());
            }
            if dtype.is_some_and(|d| d.bits().is_none()) {
                return Err(format!("{} data cannot be external", type_name(t.data_type)));
            }
            Field::External
        }
        Ok(DataLocation::Default) => {
            if !t.external_data.is_empty() {
                return Err("external_data is set, but data_location is not EXTERNAL".into());
            }
            if let (Some((a, _)), Some(&(b, _))) = (first, present.next()) {
                return Err(format!("data in both {} and {}", a.name(), b.name()));
            }
            first.map_or(Field::Empty, |(f, _)| f)
        }
        Err(_) => return Err(format!("data_location {} is neither DEFAULT nor EXTERNAL", t.data_location)),
    };
    let header = Header { dims, numel, dtype, data };
    if t.data_type == DataType::Undefined as i32 {
        return Err("data_type is UNDEFINED".into());
    }
    let Some(dtype) = dtype else {
        // A type this reader does not know: nothing more to check; conversions refuse it.
        return Ok(header);
    };
    let n = numel as u64;
    match (data, first) {
        (Field::External, _) => {}
        (Field::Empty, _) if n > 0 => return Err(format!("holds no data, but {} need {n} elements", shape())),
        (Field::Empty, _) => {}
        (Field::Raw, Some((_, len))) => match header.raw_len() {
            None => return Err(format!("raw_data cannot hold {} values", dtype.name())),
            Some(need) if need != len as u64 => {
                return Err(format!("raw_data holds {len} bytes, but {} need {need}", shape()));
            }
            Some(_) => {}
        },
        (f, Some((_, len))) => match dtype.typed_field(n) {
            Some((want, need)) if want == f => {
                if need != len as u64 {
                    return Err(format!("{} holds {len} values, but {} need {need}", f.name(), shape()));
                }
            }
            _ => return Err(format!("{} in a {} tensor", f.name(), dtype.name())),
        },
        (_, None) => unreachable!("a data field is only chosen when present"),
    }
    Ok(header)
}

fn chunks<const N: usize>(b: &[u8]) -> impl Iterator<Item = [u8; N]> + '_ {
    b.chunks_exact(N).map(|c| c.try_into().expect("chunks_exact gives N bytes"))
}

fn bf16_to_f32(bits: u16) -> f32 {
    f32::from_bits(u32::from(bits) << 16)
}

/// The values as f32, from `raw` (the `raw_data` or external bytes, when the data is there)
/// or the typed field. `h` is `check(t)`; for raw data, `raw.len()` is `h.raw_len()`.
pub(crate) fn to_f32(t: &TensorProto, h: &Header, raw: Option<&[u8]>) -> Result<Vec<f32>, String> {
    use DataType::*;
    let dtype = h.dtype.ok_or_else(|| format!("{} is not a data type ONNX defines", type_name(t.data_type)))?;
    if h.data == Field::Empty {
        return match dtype {
            String | Complex64 | Complex128 => Err(not_numeric(dtype)),
            _ => Ok(Vec::new()),
        };
    }
    let i32s = &t.int32_data;
    Ok(match (dtype, raw) {
        (Float, Some(b)) => chunks::<4>(b).map(f32::from_le_bytes).collect(),
        (Float, None) => t.float_data.clone(),
        (Double, Some(b)) => chunks::<8>(b).map(|c| f64::from_le_bytes(c) as f32).collect(),
        (Double, None) => t.double_data.iter().map(|&v| v as f32).collect(),
        (Float16, Some(b)) => chunks::<2>(b).map(|c| crate::checkpoint::f16_to_f32(u16::from_le_bytes(c))).collect(),
        (Float16, None) => i32s.iter().map(|&v| crate::checkpoint::f16_to_f32(v as u16)).collect(),
        (Bfloat16, Some(b)) => chunks::<2>(b).map(|c| bf16_to_f32(u16::from_le_bytes(c))).collect(),
        (Bfloat16, None) => i32s.iter().map(|&v| bf16_to_f32(v as u16)).collect(),
        (Bool, Some(b)) => b.iter().map(|&v| f32::from(u8::from(v != 0))).collect(),
        (Bool, None) => i32s.iter().map(|&v| f32::from(u8::from(v != 0))).collect(),
        (Int8 | Uint8 | Int16 | Uint16 | Int32 | Int64 | Uint32 | Uint64, _) => {
            return integers(t, h, dtype, raw).map(|v| v.into_iter().map(|x| x as f32).collect());
        }
        _ => return Err(not_numeric(dtype)),
    })
}

fn not_numeric(dtype: DataType) -> String {
    format!(
        "has type {}; ConvLab reads FLOAT, DOUBLE, FLOAT16, BFLOAT16, BOOL and the 8- to 64-bit integers as numbers",
        dtype.name()
    )
}

/// Integer values widened to i128 (UINT64 does not fit an i64).
fn integers(t: &TensorProto, h: &Header, dtype: DataType, raw: Option<&[u8]>) -> Result<Vec<i128>, String> {
    use DataType::*;
    if h.data == Field::Empty {
        return Ok(Vec::new());
    }
    let i32s = &t.int32_data;
    Ok(match (dtype, raw) {
        (Int8, Some(b)) => b.iter().map(|&v| i128::from(v as i8)).collect(),
        (Int8, None) => i32s.iter().map(|&v| i128::from(v as i8)).collect(),
        (Uint8, Some(b)) => b.iter().map(|&v| i128::from(v)).collect(),
        (Uint8, None) => i32s.iter().map(|&v| i128::from(v as u8)).collect(),
        (Bool, Some(b)) => b.iter().map(|&v| i128::from(v != 0)).collect(),
        (Bool, None) => i32s.iter().map(|&v| i128::from(v != 0)).collect(),
        (Int16, Some(b)) => chunks::<2>(b).map(|c| i128::from(i16::from_le_bytes(c))).collect(),
        (Int16, None) => i32s.iter().map(|&v| i128::from(v as i16)).collect(),
        (Uint16, Some(b)) => chunks::<2>(b).map(|c| i128::from(u16::from_le_bytes(c))).collect(),
        (Uint16, None) => i32s.iter().map(|&v| i128::from(v as u16)).collect(),
        (Int32, Some(b)) => chunks::<4>(b).map(|c| i128::from(i32::from_le_bytes(c))).collect(),
        (Int32, None) => i32s.iter().map(|&v| i128::from(v)).collect(),
        (Uint32, Some(b)) => chunks::<4>(b).map(|c| i128::from(u32::from_le_bytes(c))).collect(),
        (Uint32, None) => t.uint64_data.iter().map(|&v| i128::from(v as u32)).collect(),
        (Int64, Some(b)) => chunks::<8>(b).map(|c| i128::from(i64::from_le_bytes(c))).collect(),
        (Int64, None) => t.int64_data.iter().map(|&v| i128::from(v)).collect(),
        (Uint64, Some(b)) => chunks::<8>(b).map(|c| i128::from(u64::from_le_bytes(c))).collect(),
        (Uint64, None) => t.uint64_data.iter().map(|&v| i128::from(v)).collect(),
        _ => {
            return Err(format!(
                "has type {}, where integers (INT64, INT32 or another integer type) are needed",
                dtype.name()
            ))
        }
    })
}

/// The values as i64 (for shapes, axes, indices): any integer type or BOOL; a UINT64 value
/// above `i64::MAX` is an error.
pub(crate) fn to_i64(t: &TensorProto, h: &Header, raw: Option<&[u8]>) -> Result<Vec<i64>, String> {
    let dtype = h.dtype.ok_or_else(|| format!("{} is not a data type ONNX defines", type_name(t.data_type)))?;
    let wide = integers(t, h, dtype, raw)?;
    wide.into_iter()
        .enumerate()
        .map(|(i, v)| i64::try_from(v).map_err(|_| format!("element {i} ({v}) does not fit an INT64")))
        .collect()
}

/// Converts a checked tensor's values to an engine tensor of its shape.
pub(crate) fn to_tensor(t: &TensorProto, h: &Header, raw: Option<&[u8]>) -> Result<Tensor, String> {
    let values = to_f32(t, h, raw)?;
    Tensor::try_from_vec(values, h.dims.clone()).map_err(|e| e.to_string())
}

// ----- construction (export) ---------------------------------------------------------------

/// A FLOAT tensor named `name` holding `t`'s values and shape, in `raw_data`.
///
/// ```
/// use convlab::{onnx, Tensor};
/// let p = onnx::float_tensor("w", &Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [2, 3]));
/// assert_eq!((p.dims.as_slice(), p.raw_data.len()), (&[2i64, 3][..], 24));
/// ```
pub fn float_tensor(name: &str, t: &Tensor) -> TensorProto {
    let data = t.storage();
    let mut raw = Vec::with_capacity(data.len() * 4);
    for v in data.iter() {
        raw.extend_from_slice(&v.to_le_bytes());
    }
    TensorProto {
        dims: t.dims().iter().map(|&d| d as i64).collect(),
        data_type: DataType::Float as i32,
        name: name.into(),
        raw_data: Bytes::from(raw),
        ..Default::default()
    }
}

/// A 1-D INT64 tensor named `name` holding `values`, in `raw_data` (a Reshape's shape, a
/// Slice's starts).
pub fn int64_tensor(name: &str, values: &[i64]) -> TensorProto {
    let mut t = int64_scalar(name, 0);
    t.dims = vec![values.len() as i64];
    t.raw_data = Bytes::from(values.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>());
    t
}

/// A 0-D INT64 tensor named `name` holding `value`.
pub fn int64_scalar(name: &str, value: i64) -> TensorProto {
    TensorProto {
        data_type: DataType::Int64 as i32,
        name: name.into(),
        raw_data: Bytes::copy_from_slice(&value.to_le_bytes()),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensor(dtype: DataType, dims: &[i64]) -> TensorProto {
        TensorProto { dims: dims.to_vec(), data_type: dtype as i32, name: "t".into(), ..Default::default() }
    }

    fn f32s(t: &TensorProto) -> Result<Vec<f32>, String> {
        let h = check(t)?;
        let raw = (h.data == Field::Raw).then(|| t.raw_data.as_ref());
        to_f32(t, &h, raw)
    }

    fn i64s(t: &TensorProto) -> Result<Vec<i64>, String> {
        let h = check(t)?;
        let raw = (h.data == Field::Raw).then(|| t.raw_data.as_ref());
        to_i64(t, &h, raw)
    }

    fn raw(mut t: TensorProto, bytes: Vec<u8>) -> TensorProto {
        t.raw_data = Bytes::from(bytes);
        t
    }

    #[test]
    fn every_numeric_type_reads_as_f32() {
        use DataType::*;
        let le = |v: &[u8]| v.to_vec();
        let cases: Vec<(TensorProto, Vec<f32>)> = vec![
            (raw(tensor(Float, &[2]), [1.5f32, -2.0].iter().flat_map(|v| v.to_le_bytes()).collect()), vec![1.5, -2.0]),
            (TensorProto { float_data: vec![1.0, 2.0], ..tensor(Float, &[2, 1]) }, vec![1.0, 2.0]),
            (raw(tensor(Double, &[1]), 0.25f64.to_le_bytes().to_vec()), vec![0.25]),
            (TensorProto { double_data: vec![3.0], ..tensor(Double, &[]) }, vec![3.0]),
            // 1.0 and -2.0 in half precision; 1.0 in bfloat16 (0x3f80).
            (raw(tensor(Float16, &[2]), le(&[0x00, 0x3c, 0x00, 0xc0])), vec![1.0, -2.0]),
            (TensorProto { int32_data: vec![0x3c00], ..tensor(Float16, &[1]) }, vec![1.0]),
            (raw(tensor(Bfloat16, &[1]), le(&[0x80, 0x3f])), vec![1.0]),
            (TensorProto { int32_data: vec![0xc000], ..tensor(Bfloat16, &[1]) }, vec![-2.0]),
            (raw(tensor(Int8, &[2]), le(&[0xff, 5])), vec![-1.0, 5.0]),
            (raw(tensor(Uint8, &[2]), le(&[0xff, 5])), vec![255.0, 5.0]),
            (TensorProto { int32_data: vec![-7, 3], ..tensor(Int32, &[2]) }, vec![-7.0, 3.0]),
            (raw(tensor(Int64, &[1]), (-9i64).to_le_bytes().to_vec()), vec![-9.0]),
            (raw(tensor(Bool, &[3]), le(&[0, 1, 2])), vec![0.0, 1.0, 1.0]),
            (TensorProto { uint64_data: vec![7], ..tensor(Uint32, &[1]) }, vec![7.0]),
            (tensor(Float, &[0, 3]), vec![]),
        ];
        for (t, want) in cases {
            assert_eq!(f32s(&t).unwrap(), want, "{t:?}");
        }
    }

    #[test]
    fn integers_read_as_i64() {
        use DataType::*;
        assert_eq!(i64s(&int64_tensor("s", &[1, -1, i64::MAX])).unwrap(), [1, -1, i64::MAX]);
        assert_eq!(i64s(&TensorProto { int64_data: vec![4, 5], ..tensor(Int64, &[2]) }).unwrap(), [4, 5]);
        let t = raw(tensor(Int32, &[2]), [-3i32, 4].iter().flat_map(|v| v.to_le_bytes()).collect());
        assert_eq!(i64s(&t).unwrap(), [-3, 4]);
        assert_eq!(i64s(&TensorProto { int32_data: vec![-3], ..tensor(Int32, &[1]) }).unwrap(), [-3]);
        assert_eq!(i64s(&int64_scalar("k", 7)).unwrap(), [7]);
        let big = TensorProto { uint64_data: vec![u64::MAX], ..tensor(Uint64, &[1]) };
        assert!(i64s(&big).unwrap_err().contains("does not fit an INT64"));
        let f = TensorProto { float_data: vec![1.0], ..tensor(Float, &[1]) };
        assert!(i64s(&f).unwrap_err().contains("has type FLOAT, where integers"));
    }

    #[test]
    fn headers_that_lie_are_refused() {
        use DataType::*;
        let cases: Vec<(TensorProto, &str)> = vec![
            (tensor(Float, &[2, -3]), "dimension 1 of dims [2, -3] is negative"),
            (tensor(Float, &[1 << 32, 1 << 32]), "claim more elements"),
            (tensor(Float, &[0, 1 << 40, 1 << 40]), "claim more elements"),
            (raw(tensor(Float, &[2, 3]), vec![0; 23]), "raw_data holds 23 bytes, but FLOAT dims [2, 3] need 24"),
            (TensorProto { float_data: vec![1.0; 5], ..tensor(Float, &[6]) }, "float_data holds 5 values"),
            (tensor(Float, &[4]), "holds no data, but FLOAT dims [4] need 4 elements"),
            (tensor(Float, &[]), "need 1 elements"),
            (TensorProto { int64_data: vec![1], ..tensor(Float, &[1]) }, "int64_data in a FLOAT tensor"),
            (
                TensorProto { float_data: vec![1.0], ..raw(tensor(Float, &[1]), vec![0; 4]) },
                "both raw_data and float_data",
            ),
            (raw(tensor(String, &[1]), vec![1]), "raw_data cannot hold STRING"),
            (tensor(Undefined, &[0]), "UNDEFINED"),
            (TensorProto { data_location: 1, ..tensor(Float, &[1]) }, "external_data is empty"),
            (TensorProto { data_location: 7, ..tensor(Float, &[0]) }, "data_location 7"),
            (TensorProto { segment: Some(Default::default()), ..raw(tensor(Float, &[1]), vec![0; 4]) }, "segmented"),
        ];
        for (t, want) in cases {
            let e = check(&t).unwrap_err();
            assert!(e.contains(want), "{t:?}: expected '{want}' in '{e}'");
        }
        let long: Vec<i64> = vec![-1; 20];
        assert_eq!(fmt_dims(&long), "[-1, -1, -1, -1, -1, -1, -1, -1, ... (20 dims)]");
    }

    #[test]
    fn strings_and_complex_are_not_numbers() {
        let s = TensorProto { string_data: vec![b"a".to_vec()], ..tensor(DataType::String, &[1]) };
        assert!(f32s(&s).unwrap_err().contains("has type STRING;"));
        let c = TensorProto { float_data: vec![1.0, 2.0], ..tensor(DataType::Complex64, &[1]) };
        assert!(f32s(&c).unwrap_err().contains("has type COMPLEX64;"));
        let u = TensorProto { data_type: 99, dims: vec![1], raw_data: Bytes::from_static(&[0]), ..Default::default() };
        assert!(f32s(&u).unwrap_err().contains("data_type 99 is not a data type"));
    }

    #[test]
    fn packed_types_count_their_bytes() {
        // INT4: two per byte, odd counts round up.
        assert!(check(&raw(tensor(DataType::Int4, &[3]), vec![0; 2])).is_ok());
        assert!(check(&raw(tensor(DataType::Int4, &[3]), vec![0; 3])).is_err());
        assert!(check(&TensorProto { int32_data: vec![0; 2], ..tensor(DataType::Uint4, &[3]) }).is_ok());
    }

    #[test]
    fn float_tensor_round_trips() {
        let x = Tensor::from_vec(vec![1.0, -0.5, 3.25, 8.0, 0.0, -1.0], [3, 2]);
        let p = float_tensor("x", &x);
        let h = check(&p).unwrap();
        let back = to_tensor(&p, &h, Some(&p.raw_data)).unwrap();
        assert_eq!((back.dims(), back.to_vec()), (x.dims(), x.to_vec()));
        let s = float_tensor("s", &Tensor::scalar(2.0));
        assert!(s.dims.is_empty() && s.raw_data.len() == 4);
    }
}
