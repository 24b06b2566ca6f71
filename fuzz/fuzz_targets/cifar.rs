//! CIFAR-10 binary batches: the input as one batch file, and split in two at its first
//! 3,073-byte record boundary as two files.
#![no_main]

use convlab::data::{cifar, Dataset};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(ds) = cifar::from_batches(&[("fuzz.bin", data)]) {
        assert_eq!(ds.len(), data.len() / cifar::RECORD);
        let last = ds.get(ds.len() - 1).expect("the last record reads");
        assert!(last.label < 10 && last.image.len() == 3 * 32 * 32);
    }
    let at = data.len().min(cifar::RECORD);
    let _ = cifar::from_batches(&[("a.bin", &data[..at]), ("b.bin", &data[at..])]);
});
