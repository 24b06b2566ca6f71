//! IDX files (raw or gzipped) as the MNIST loader reads them: `idx::decode` of the whole
//! input, then the input split in two (at a point chosen by its first byte) as an image file
//! and a label file validated together by `mnist::from_arrays`.
#![no_main]

use convlab::data::{idx, mnist};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = idx::decode(data, "fuzz.idx");
    if let Some((&first, rest)) = data.split_first() {
        let at = rest.len() * first as usize / 255;
        let (a, b) = rest.split_at(at);
        if let (Ok(img), Ok(lab)) = (idx::decode(a, "images"), idx::decode(b, "labels")) {
            let _ = mnist::from_arrays(mnist::Variant::Mnist, img, lab, "images", "labels");
        }
    }
});
