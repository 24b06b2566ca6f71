//! Checkpoints: `checkpoint::from_bytes` (the safetensors header, offsets, dtypes and the
//! ConvLab metadata), then a non-strict load of what fits into a small module.
#![no_main]

use convlab::checkpoint;
use convlab::nn::{Linear, ParamRng};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(ck) = checkpoint::from_bytes(data, "fuzz.safetensors") {
        let net = Linear::new(2, 2, true, &mut ParamRng::new(0));
        let _ = checkpoint::apply(&net, &ck.tensors, false);
        let _ = ck.meta.to_metadata();
        let _ = ck.meta.model_config();
        for t in ck.tensors.values() {
            let _ = checkpoint::check_finite("fuzz.safetensors", "t", t);
        }
    }
});
