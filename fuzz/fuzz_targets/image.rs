//! Image files as the folder loader reads them: `folder::decode_image` (bounded), then the
//! crop-and-resize to a fixed size and the conversion to C×H×W values in [0, 1].
#![no_main]

use convlab::data::folder;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(img) = folder::decode_image(data, "fuzz.png") {
        assert!(img.width() <= folder::MAX_IMAGE_SIDE && img.height() <= folder::MAX_IMAGE_SIDE);
        let gray = folder::to_chw(folder::crop_resize(img.clone(), 5, 7), [1, 5, 7]);
        let rgb = folder::to_chw(folder::crop_resize(img, 4, 3), [3, 4, 3]);
        assert!(gray.iter().chain(&rgb).all(|v| (0.0..=1.0).contains(v)));
    }
});
