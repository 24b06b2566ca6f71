//! Reading nested JSON lists (inline, or `@path`) into tensors, and printing tensors as
//! aligned matrices for the calculator commands.
//!
//! ```text
//! [[1, 2], [3, 4]]          -> shape [2, 2]
//! [[[1, 2]], [[3, 4]]]      -> shape [2, 1, 2]
//! ```

use anyhow::{bail, Context, Result};
use convlab::Tensor;
use serde_json::Value;

/// The largest `@file` the calculators read (64 MiB: millions of numbers).
pub const MAX_FILE_BYTES: u64 = 64 << 20;

/// Parses `arg` (JSON text, or `@file` holding JSON) named `what` in messages into a tensor
/// of rank `min_rank..=max_rank`.
pub fn parse_tensor_arg(what: &str, arg: &str, min_rank: usize, max_rank: usize) -> Result<Tensor> {
    match arg.strip_prefix('@') {
        Some(path) => {
            let text = read_capped(path).with_context(|| format!("--{what}: cannot read {path}"))?;
            parse_tensor_text(path, &text, min_rank, max_rank)
        }
        None => parse_tensor_text(&format!("--{what}"), arg, min_rank, max_rank),
    }
}

/// Reads a text file of at most [`MAX_FILE_BYTES`] (checked while reading, so `/dev/zero`
/// or a fifo cannot exhaust memory).
fn read_capped(path: &str) -> Result<String> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        bail!("larger than the calculator's limit of {MAX_FILE_BYTES} bytes");
    }
    String::from_utf8(bytes).map_err(|e| anyhow::anyhow!("not UTF-8 text ({e})"))
}

/// Parses JSON `text` (a nested list of numbers) into a tensor of rank
/// `min_rank..=max_rank`; `source` names it in messages. Numbers must be finite f32 values
/// (JSON has no NaN or infinity; `1e39` is refused as out of range), lists rectangular and
/// non-empty. Never panics, whatever the text.
pub fn parse_tensor_text(source: &str, text: &str, min_rank: usize, max_rank: usize) -> Result<Tensor> {
    let value: Value = serde_json::from_str(text).with_context(|| format!("{source}: not valid JSON"))?;
    let (dims, data) = nested_to_flat(&value).map_err(|e| anyhow::anyhow!("{source}: {e}"))?;
    if dims.len() < min_rank || dims.len() > max_rank {
        bail!(
            "{source}: expected a {}-D nested list, got {}-D (shape {:?})",
            if min_rank == max_rank { min_rank.to_string() } else { format!("{min_rank}- to {max_rank}") },
            dims.len(),
            dims
        );
    }
    if dims.contains(&0) {
        bail!("{source}: empty list in shape {dims:?}");
    }
    Ok(Tensor::from_vec(data, dims))
}

/// Flattens a rectangular nested list of numbers, or says where it is ragged.
pub fn nested_to_flat(v: &Value) -> std::result::Result<(Vec<usize>, Vec<f32>), String> {
    let mut dims = Vec::new();
    let mut cur = v;
    while let Value::Array(items) = cur {
        dims.push(items.len());
        match items.first() {
            Some(first) => cur = first,
            None => break,
        }
    }
    let mut data = Vec::new();
    walk(v, &dims, 0, &mut String::new(), &mut data)?;
    Ok((dims, data))
}

fn walk(
    v: &Value,
    dims: &[usize],
    depth: usize,
    path: &mut String,
    out: &mut Vec<f32>,
) -> std::result::Result<(), String> {
    match v {
        Value::Array(items) => {
            if depth >= dims.len() || items.len() != dims[depth] {
                return Err(format!(
                    "ragged nested list: element {} has {} items where {} were expected",
                    if path.is_empty() { "[]".to_string() } else { path.clone() },
                    items.len(),
                    dims.get(depth).map(|d| d.to_string()).unwrap_or_else(|| "a number".into())
                ));
            }
            for (i, item) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                walk(item, dims, depth + 1, path, out)?;
                path.truncate(len);
            }
            Ok(())
        }
        Value::Number(n) if depth == dims.len() => {
            let x = n.as_f64().ok_or_else(|| format!("{path}: number out of range"))?;
            if !(x as f32).is_finite() {
                return Err(format!(
                    "{}: {x} is outside the range of f32 values (about ±3.4e38)",
                    if path.is_empty() { "value" } else { path }
                ));
            }
            out.push(x as f32);
            Ok(())
        }
        Value::Number(_) => Err(format!("ragged nested list: {path} is a number where a list was expected")),
        other => Err(format!("{}: expected a number, got {other}", if path.is_empty() { "value" } else { path })),
    }
}

/// Formats a value compactly: integers without a decimal point, others with up to 4 decimals.
pub fn fmt_value(v: f32) -> String {
    if v.is_finite() && v == v.round() && v.abs() < 1e7 {
        format!("{}", v as i64)
    } else if v.is_finite() {
        let s = format!("{v:.4}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        if s == "-0" {
            "0".into()
        } else {
            s.to_string()
        }
    } else {
        format!("{v}")
    }
}

/// Right-aligned rows of a `rows × cols` matrix.
pub fn format_matrix(data: &[f32], rows: usize, cols: usize) -> String {
    let cells: Vec<String> = data.iter().map(|&v| fmt_value(v)).collect();
    let width = cells.iter().map(|c| c.chars().count()).max().unwrap_or(1);
    let mut s = String::new();
    for r in 0..rows {
        let row: Vec<String> = (0..cols).map(|c| format!("{:>width$}", cells[r * cols + c])).collect();
        s.push_str("  ");
        s.push_str(&row.join(" "));
        s.push('\n');
    }
    s
}

/// The tensor as nested JSON lists.
pub fn to_nested(data: &[f32], dims: &[usize]) -> Value {
    if dims.is_empty() {
        // The shortest decimal that reads back as the same f32 (0.33333334, not 0.3333333432674408).
        let v = data[0];
        return if v.is_finite() {
            serde_json::from_str(&format!("{v:?}")).unwrap_or(Value::Null)
        } else {
            Value::Null
        };
    }
    let step: usize = dims[1..].iter().product();
    Value::Array((0..dims[0]).map(|i| to_nested(&data[i * step..(i + 1) * step], &dims[1..])).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rectangular_lists_and_rejects_ragged_ones() {
        let t = parse_tensor_arg("input", "[[1,2,3],[4,5,6]]", 2, 3).unwrap();
        assert_eq!(t.dims(), &[2, 3]);
        assert_eq!(t.to_vec(), vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let e = parse_tensor_arg("input", "[[1,2,3],[4,5]]", 2, 3).unwrap_err().to_string();
        assert!(e.contains("ragged") && e.contains("[1]"), "{e}");
        let e = parse_tensor_arg("input", "[[1,2],[3,[4]]]", 2, 3).unwrap_err().to_string();
        assert!(e.contains("ragged"), "{e}");
        let e = parse_tensor_arg("kernel", "[1,2]", 2, 4).unwrap_err().to_string();
        assert!(e.contains("2- to 4-D"), "{e}");
        let e = parse_tensor_arg("input", "[[1,1e39]]", 2, 3).unwrap_err().to_string();
        assert!(e.contains("[0][1]") && e.contains("f32"), "{e}");
        let e = parse_tensor_arg("input", "[[1,\"a\"]]", 2, 3).unwrap_err().to_string();
        assert!(e.contains("expected a number"), "{e}");
    }

    #[test]
    fn non_finite_and_out_of_range_numbers_are_refused() {
        for (text, needle) in [
            ("[[1, NaN]]", "not valid JSON"),
            ("[[1, Infinity]]", "not valid JSON"),
            ("[[1, -inf]]", "not valid JSON"),
            ("[[1, 1e999]]", "not valid JSON"),
            ("[[1, -3.5e38]]", "[0][1]: -350000000000000000000000000000000000000 is outside the range of f32 values"),
            ("[[1, null]]", "[0][1]: expected a number, got null"),
            ("[]", "empty list in shape [0]"),
            ("[[[[[[1]]]]]]", "expected a 1- to 4-D nested list, got 6-D"),
        ] {
            let e = format!("{:#}", parse_tensor_text("--input", text, 1, 4).unwrap_err());
            assert!(e.starts_with("--input: ") && e.contains(needle), "{text}: {e}");
        }
        let deep = "[".repeat(10_000) + &"]".repeat(10_000);
        let e = format!("{:#}", parse_tensor_text("--input", &deep, 1, 4).unwrap_err());
        assert!(e.contains("recursion limit"), "{e}");
    }

    #[test]
    fn file_arguments_are_read_up_to_a_limit() {
        let e = format!("{:#}", parse_tensor_arg("input", "@/dev/zero", 1, 4).unwrap_err());
        assert!(e.contains("--input: cannot read /dev/zero") && e.contains("limit of 67108864 bytes"), "{e}");
        let e = format!("{:#}", parse_tensor_arg("input", "@/no/such/file.json", 1, 4).unwrap_err());
        assert!(e.contains("cannot read /no/such/file.json"), "{e}");
    }

    #[test]
    fn formats_values_compactly() {
        assert_eq!(fmt_value(32.0), "32");
        assert_eq!(fmt_value(-0.5), "-0.5");
        assert_eq!(fmt_value(1.0 / 3.0), "0.3333");
        assert_eq!(format_matrix(&[1.0, -10.0, 2.0, 3.0], 2, 2), "    1 -10\n    2   3\n");
    }
}
