//! The calculators' JSON input (`--input` / `--kernel` text): parsing into a tensor, then
//! printing it back as the commands do. The parser is the CLI's own source file.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../crates/convlab-cli/src/calc/matrix.rs"]
mod matrix;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(t) = matrix::parse_tensor_text("--input", text, 1, 4) {
        let values = t.to_vec();
        assert!(values.iter().all(|v| v.is_finite()));
        let nested = matrix::to_nested(&values, t.dims());
        let back = matrix::parse_tensor_text("again", &nested.to_string(), 1, 4).expect("printed output parses back");
        assert_eq!(back.dims(), t.dims());
        let cols = *t.dims().last().unwrap();
        let _ = matrix::format_matrix(&values, values.len() / cols, cols);
    }
});
