//! Files whose headers lie: sizes are checked against the file (or against what a gzip
//! stream can hold) before anything is allocated, and every refusal names the file.
//! Files are built on the fly and stay small (sparse files where a size must be huge).
//!
//! `peak_memory_of_hostile_inputs` (ignored; run with `--ignored --nocapture`) runs each
//! case in a child process and prints its peak resident memory (VmHWM).

use std::io::Write;
use std::path::{Path, PathBuf};

use convlab::checkpoint::{self, Normalization};
use convlab::data::{cifar, folder, idx, mnist, DataOptions, Split};
use convlab::{Error, Tensor};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("convlab-hostile-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn idx_header(dims: &[u32]) -> Vec<u8> {
    let mut out = vec![0, 0, 8, dims.len() as u8];
    for d in dims {
        out.extend(d.to_be_bytes());
    }
    out
}

/// Gzips `head` followed by `zeros` zero bytes, streaming (the zeros are never held).
fn gz_with_zeros(head: &[u8], zeros: u64) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(head).unwrap();
    let chunk = vec![0u8; 1 << 20];
    let mut left = zeros;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        enc.write_all(&chunk[..n]).unwrap();
        left -= n as u64;
    }
    enc.finish().unwrap()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn load_err(path: &Path, rank: usize) -> String {
    idx::load(path, rank).unwrap_err().to_string()
}

fn assert_names(err: &str, file: &str, needle: &str) {
    assert!(err.contains(file), "the error names {file}: {err}");
    assert!(err.contains(needle), "expected '{needle}' in: {err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
}

#[test]
fn idx_headers_claiming_more_than_the_file_can_hold_are_refused() {
    let dir = scratch("idx");
    // 10^9 labels announced in a tiny gzip file: more than 1032 × its size.
    let p = write(&dir, "labels.gz", &gz_with_zeros(&idx_header(&[1_000_000_000]), 100));
    assert_names(&load_err(&p, 1), "labels.gz", "claims [1000000000] = 1000000000 bytes, but a");
    assert_names(&load_err(&p, 1), "labels.gz", "cannot hold more than");
    // 2^32 - 1 labels, or images of 28×28: above the absolute limit, raw or gzipped.
    let p = write(&dir, "labels2.gz", &gz_with_zeros(&idx_header(&[u32::MAX]), 100));
    assert_names(&load_err(&p, 1), "labels2.gz", "claims [4294967295] = 4294967295 bytes, more than the limit");
    let claim = idx_header(&[u32::MAX, 28, 28]);
    for (name, bytes) in [("images.gz", gz_with_zeros(&claim, 10)), ("images", [claim.clone(), vec![0; 10]].concat())] {
        let p = write(&dir, name, &bytes);
        assert_names(&load_err(&p, 3), name, "more than the limit of 2147483648 bytes; refusing to allocate");
    }
    // Dimensions whose product overflows 64 bits.
    let p = write(&dir, "overflow", &idx_header(&[u32::MAX; 4]));
    assert_names(&load_err(&p, 4), "overflow", "overflow: their product does not fit in 64 bits");
    // MNIST's real claim (60000×28×28, 47 MB) in a 1 KB gzip file is impossible too.
    let p = write(&dir, "train.gz", &gz_with_zeros(&idx_header(&[60_000, 28, 28]), 1000));
    assert_names(&load_err(&p, 3), "train.gz", "claims [60000, 28, 28] = 47040000 bytes");
    // A gzip bomb: 3 labels announced, 64 MiB of zeros behind them: reading stops at 4 bytes.
    let p = write(&dir, "bomb.gz", &gz_with_zeros(&[idx_header(&[3]), vec![1, 2, 3]].concat(), 64 << 20));
    assert!(std::fs::metadata(&p).unwrap().len() < 100_000);
    assert_names(&load_err(&p, 1), "bomb.gz", "the gzip stream holds more than the 3 bytes the header [3] announces");
    // A truthful gzip file still reads, and a truncated stream says so.
    let good = [idx_header(&[2, 3]), vec![1, 2, 3, 4, 5, 6]].concat();
    let p = write(&dir, "good.gz", &gz_with_zeros(&good, 0));
    assert_eq!(idx::load(&p, 2).unwrap().data, vec![1, 2, 3, 4, 5, 6]);
    let p = write(&dir, "short.gz", &gz_with_zeros(&good[..good.len() - 2], 0));
    assert_names(
        &load_err(&p, 2),
        "short.gz",
        "truncated: the header claims 2 items of [3] (6 bytes) but the file holds 4 bytes",
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn mismatched_counts_and_labels_out_of_range_are_errors() {
    let img = |n: u32| idx::IdxArray { dims: vec![n as usize, 28, 28], data: vec![0; n as usize * 784] };
    let lab = |v: Vec<u8>| idx::IdxArray { dims: vec![v.len()], data: v };
    let err = |i, l| mnist::from_arrays(mnist::Variant::Fashion, i, l, "img", "lab").unwrap_err().to_string();
    assert_eq!(err(img(2), lab(vec![1, 2, 3])), "lab: 3 labels for the 2 images in img");
    assert_eq!(err(img(3), lab(vec![1, 2, 255])), "lab: label 255 at index 2 is not below 10");
    let lying = idx::IdxArray { dims: vec![3], data: vec![1] };
    assert!(err(img(3), lying).contains("do not match the headers"));
    let flat = idx::IdxArray { dims: vec![784], data: vec![0; 784] };
    assert_eq!(err(flat, lab(vec![1])), "img: expected 3 dimensions, the IDX header has 1 ([784])");
    assert_eq!(mnist::from_arrays(mnist::Variant::Mnist, img(2), lab(vec![0, 9]), "i", "l").unwrap().labels(), &[0, 9]);
}

#[test]
fn cifar_sizes_are_checked_before_reading() {
    let dir = scratch("cifar");
    // A sparse 10 GB file: its size alone refuses it, nothing is read.
    let path = dir.join("data_batch_1.bin");
    std::fs::File::create(&path).unwrap().set_len(10_000_000_000).unwrap();
    let err = cifar::load_binary(std::slice::from_ref(&path)).unwrap_err().to_string();
    assert_names(
        &err,
        "data_batch_1.bin",
        "10000000000 bytes is not a whole number of 3073-byte CIFAR-10 records (3254149 complete, 123 bytes left over",
    );
    let mut two = vec![0u8; 2 * cifar::RECORD];
    two[cifar::RECORD] = 10;
    let err = cifar::from_batches(&[("a.bin", &two[..cifar::RECORD]), ("b.bin", &two)]).unwrap_err().to_string();
    assert_eq!(err, "b.bin: record 1: label 10 is not below 10");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A PNG signature and IHDR chunk (with its CRC) announcing `w×h` pixels.
fn png_header(w: u32, h: u32, depth: u8, color: u8) -> Vec<u8> {
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend(w.to_be_bytes());
    ihdr.extend(h.to_be_bytes());
    ihdr.extend([depth, color, 0, 0, 0]);
    let mut crc = flate2::Crc::new();
    crc.update(&ihdr);
    let mut out = b"\x89PNG\r\n\x1a\n\0\0\0\r".to_vec();
    out.extend(ihdr);
    out.extend(crc.sum().to_be_bytes());
    // An empty IDAT chunk: the decoder reads the header up to the first one.
    let mut crc = flate2::Crc::new();
    crc.update(b"IDAT");
    out.extend([0, 0, 0, 0]);
    out.extend(b"IDAT");
    out.extend(crc.sum().to_be_bytes());
    out
}

/// A BMP file and info header announcing `w×h` 24-bit pixels (no pixel data).
fn bmp_header(w: i32, h: i32) -> Vec<u8> {
    let mut out = b"BM".to_vec();
    out.extend(54u32.to_le_bytes()); // file size (a lie)
    out.extend([0; 4]);
    out.extend(54u32.to_le_bytes()); // pixel data offset
    out.extend(40u32.to_le_bytes());
    out.extend(w.to_le_bytes());
    out.extend(h.to_le_bytes());
    out.extend(1u16.to_le_bytes());
    out.extend(24u16.to_le_bytes());
    out.extend([0; 24]);
    out
}

#[test]
fn images_with_huge_headers_are_refused_before_decoding() {
    let err = folder::decode_image(&png_header(100_000, 100_000, 8, 2), "huge.png").unwrap_err().to_string();
    assert_eq!(
        err,
        "huge.png: image header claims 100000×100000 pixels, more than the limit of 16384 per side; refusing to decode"
    );
    let err = folder::decode_image(&bmp_header(20_000, 3), "wide.bmp").unwrap_err().to_string();
    assert_names(&err, "wide.bmp", "image header claims 20000×3 pixels");
    // Within the side limit but 16000×16000 RGBA of 16 bits (2 GB): the allocation limit.
    let err = folder::decode_image(&png_header(16_000, 16_000, 16, 6), "deep.png").unwrap_err().to_string();
    assert_names(&err, "deep.png", "limit");
    let err = folder::decode_image(b"GIF89a not really", "x.png").unwrap_err().to_string();
    assert_names(&err, "x.png", "cannot decode image");

    // Through the folder loader: a sparse 1 GB "image" is refused by its size.
    let root = scratch("folder");
    std::fs::create_dir_all(root.join("a")).unwrap();
    std::fs::File::create(root.join("a/big.png")).unwrap().set_len(1 << 30).unwrap();
    let err = folder::ImageFolder::open(&root, Split::Train, &DataOptions::default()).unwrap_err().to_string();
    assert_names(&err, "big.png", "1073741824 bytes is more than the 268435456-byte limit for an image file");
    std::fs::write(root.join("a/big.png"), png_header(100_000, 100_000, 8, 0)).unwrap();
    let err = folder::ImageFolder::open(&root, Split::Train, &DataOptions::default()).unwrap_err().to_string();
    assert_names(&err, "big.png", "100000×100000 pixels");
    // A real image still decodes, and to_chw gives values in [0, 1].
    let mut png = Vec::new();
    image::GrayImage::from_pixel(3, 2, image::Luma([255]))
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    let img = folder::decode_image(&png, "ok.png").unwrap();
    assert_eq!(folder::to_chw(img, [3, 2, 3]), vec![1.0; 18]);
    std::fs::remove_dir_all(&root).unwrap();
}

/// A safetensors file from a header (JSON text) and data bytes.
/// Found by the `image` fuzz target (a libFuzzer timeout under AddressSanitizer on a busy
/// machine): a 438-byte JPEG that claims 8200×2568 pixels. It is within the limits (a
/// 21-megapixel photo is a legitimate input), so it decodes, to a blank grey image, and the
/// loader's crop and resize work on it.
#[test]
fn a_tiny_jpeg_claiming_21_megapixels_decodes_within_the_limits() {
    let bytes = include_bytes!("../../../fuzz/corpus/image/jpeg-8200x2568-slow.jpg");
    let img = folder::decode_image(bytes, "slow.jpg").unwrap();
    assert_eq!((img.width(), img.height()), (8200, 2568));
    let v = folder::to_chw(folder::crop_resize(img, 4, 3), [1, 4, 3]);
    assert!(v.iter().all(|x| (0.0..=1.0).contains(x)), "{v:?}");
}

fn craft(header: &str, data: &[u8]) -> Vec<u8> {
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

#[test]
fn safetensors_headers_that_do_not_fit_the_file_are_refused() {
    let err = |bytes: &[u8]| checkpoint::from_bytes(bytes, "ck.safetensors").unwrap_err().to_string();
    let mut long = craft("{}", &[]);
    long[..8].copy_from_slice(&(1u64 << 40).to_le_bytes());
    assert_eq!(
        err(&long),
        "ck.safetensors: not a safetensors file (or truncated): the header length does not fit in the file's 10 bytes"
    );
    let past = craft(r#"{"w":{"dtype":"F32","shape":[250],"data_offsets":[0,1000]}}"#, &[0; 16]);
    assert_names(&err(&past), "ck.safetensors", "truncated or corrupt: the header's tensor sizes do not add up");
    let overlap = craft(
        r#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}}"#,
        &[0; 24],
    );
    assert_names(&err(&overlap), "ck.safetensors", "tensor 'b' has data offsets that are not contiguous");
    let huge_shape =
        craft(r#"{"w":{"dtype":"F32","shape":[1099511627776,1099511627776],"data_offsets":[0,4]}}"#, &[0; 4]);
    assert_names(&err(&huge_shape), "ck.safetensors", "overflows");
    // Normalization that would turn every input into NaN or infinity.
    let bad_norm = craft(r#"{"__metadata__":{"normalization":"{\"mean\":[0.5],\"std\":[0.0]}"}}"#, &[]);
    assert_eq!(err(&bad_norm), "ck.safetensors: metadata 'normalization': std[0] = 0 must be a positive finite number");
    let n = Normalization { mean: vec![1e39f64 as f32], std: vec![1.0] };
    assert_eq!(n.check().unwrap_err(), "mean[0] = inf must be a finite number");
    let ok = craft(
        r#"{"__metadata__":{"normalization":"{\"mean\":[0.5],\"std\":[0.25]}"},"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#,
        &[0; 4],
    );
    assert_eq!(checkpoint::from_bytes(&ok, "ok").unwrap().meta.normalization.unwrap().std, vec![0.25]);
}

#[test]
fn non_finite_inputs_are_named_by_index() {
    let x = Tensor::from_vec(vec![0.0, 1.0, f32::INFINITY, f32::NAN, 2.0, 3.0], [1, 2, 3]);
    let err = checkpoint::check_finite("in.safetensors", "input", &x).unwrap_err();
    assert!(matches!(err, Error::Format { .. }));
    assert_eq!(err.to_string(), "in.safetensors: tensor 'input' holds inf at index [0, 0, 2] (2 non-finite values in all); inputs must be finite numbers");
    assert!(checkpoint::check_finite("in", "input", &Tensor::ones([2, 2])).is_ok());
    assert!(
        checkpoint::check_finite("in", "s", &Tensor::from_vec(vec![f32::NEG_INFINITY], Vec::<usize>::new())).is_err()
    );
}

// ---- peak memory --------------------------------------------------------------------------

const CASE_ENV: &str = "CONVLAB_HOSTILE_CASE";
const CASES: [&str; 8] = [
    "baseline",
    "idx_gz_claims_10^9",
    "idx_gz_bomb_1GiB",
    "unbounded_gunzip_1GiB (the old way)",
    "safetensors_header_2^40",
    "png_100000x100000",
    "png_16000x16000x16bit_rgba",
    "cifar_sparse_10GB",
];

fn vm_hwm_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// One case, run in the child process named by the environment (a no-op otherwise).
#[test]
#[ignore = "child of peak_memory_of_hostile_inputs"]
fn hostile_case_child() {
    let Ok(case) = std::env::var(CASE_ENV) else { return };
    let dir = PathBuf::from(std::env::var("CONVLAB_HOSTILE_DIR").unwrap());
    let before = vm_hwm_kib();
    let outcome: Result<String, Error> = match case.as_str() {
        "baseline" => Ok(String::new()),
        "idx_gz_claims_10^9" => idx::load(&dir.join("claims.gz"), 1).map(|a| format!("{:?}", a.dims)),
        "idx_gz_bomb_1GiB" => idx::load(&dir.join("bomb.gz"), 1).map(|a| format!("{:?}", a.dims)),
        "unbounded_gunzip_1GiB (the old way)" => {
            use std::io::Read;
            let raw = std::fs::read(dir.join("bomb.gz")).unwrap();
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&raw[..]).read_to_end(&mut out).unwrap();
            Ok(format!("{} bytes decompressed", out.len()))
        }
        "safetensors_header_2^40" => checkpoint::load(dir.join("long.safetensors")).map(|c| c.meta.model),
        "png_100000x100000" => {
            folder::decode_image(&png_header(100_000, 100_000, 8, 2), "huge.png").map(|_| String::new())
        }
        "png_16000x16000x16bit_rgba" => {
            folder::decode_image(&png_header(16_000, 16_000, 16, 6), "deep.png").map(|_| String::new())
        }
        "cifar_sparse_10GB" => cifar::load_binary(&[dir.join("sparse.bin")]).map(|d| d.labels().len().to_string()),
        other => panic!("unknown case {other}"),
    };
    let msg = match outcome {
        Ok(s) => format!("ok {s}"),
        Err(e) => e.to_string(),
    };
    println!("HWM {before} {} {msg}", vm_hwm_kib());
}

#[test]
#[ignore = "measures peak memory in child processes (a few seconds): run with --ignored --nocapture"]
fn peak_memory_of_hostile_inputs() {
    let dir = scratch("rss");
    std::fs::write(dir.join("claims.gz"), gz_with_zeros(&idx_header(&[1_000_000_000]), 1000)).unwrap();
    let bomb = gz_with_zeros(&[idx_header(&[3]), vec![1, 2, 3]].concat(), 1 << 30);
    std::fs::write(dir.join("bomb.gz"), &bomb).unwrap();
    let mut long = craft("{}", &[]);
    long[..8].copy_from_slice(&(1u64 << 40).to_le_bytes());
    std::fs::write(dir.join("long.safetensors"), long).unwrap();
    std::fs::File::create(dir.join("sparse.bin")).unwrap().set_len(10_000_000_000).unwrap();
    println!("bomb.gz: {} bytes expanding to {} bytes", bomb.len(), (1u64 << 30) + 11);
    println!("{:<38} {:>12} {:>12}  outcome", "case", "start KiB", "peak KiB");
    for case in CASES {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "hostile_case_child", "--ignored", "--nocapture", "--test-threads=1"])
            .env(CASE_ENV, case)
            .env("CONVLAB_HOSTILE_DIR", &dir)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let line = stdout
            .lines()
            .find_map(|l| l.split_once("HWM ").map(|(_, rest)| rest))
            .unwrap_or_else(|| panic!("{case}: {stdout}"));
        let mut parts = line.splitn(3, ' ');
        let (start, peak, msg) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap_or(""));
        println!("{case:<38} {start:>12} {peak:>12}  {msg}");
        let peak: u64 = peak.parse().unwrap();
        if !case.contains("old way") {
            assert!(peak < 64 * 1024, "{case}: peak {peak} KiB");
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
