//! Dataset files: MNIST, Fashion-MNIST and CIFAR-10 from `../shared/data` (skipped with a
//! message when absent), crafted broken files, and the offline error.

use std::path::{Path, PathBuf};

use convlab::data::download::{verify, Check};
use convlab::data::{self, cifar, mnist, DataOptions, Dataset, Split};

/// `../shared/data/<sub>` beside the repository (or under `$CONVLAB_TEST_DATA` when set).
fn shared(sub: &str) -> Option<PathBuf> {
    let root = std::env::var_os("CONVLAB_TEST_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    let dir = root.join(sub);
    if dir.is_dir() {
        Some(dir)
    } else {
        println!("skipped: {} not found (the offline dataset copies are absent)", dir.display());
        None
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("convlab-data-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn offline(dir: &Path) -> DataOptions {
    DataOptions { data_dir: Some(dir.to_path_buf()), download: false, progress: false, ..DataOptions::default() }
}

#[test]
fn mnist_from_shared_copy() {
    let Some(dir) = shared("mnist") else { return };
    let train = data::open("mnist", Split::Train, &offline(&dir)).unwrap();
    assert_eq!((train.name(), train.len(), train.image_shape()), ("mnist", 60_000, [1, 28, 28]));
    let labels: Vec<usize> = (0..6).map(|i| train.get(i).unwrap().label).collect();
    assert_eq!(labels, [5, 0, 4, 1, 9, 2]);
    let ds = mnist::open(mnist::Variant::Mnist, Split::Train, &offline(&dir)).unwrap();
    let mut counts = [0usize; 10];
    for &l in ds.labels() {
        counts[l as usize] += 1;
    }
    assert_eq!(counts, [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]);
    let n = ds.pixels().len() as f64;
    let mean = ds.pixels().iter().map(|&b| b as f64).sum::<f64>() / n / 255.0;
    let var = ds.pixels().iter().map(|&b| (b as f64 / 255.0 - mean).powi(2)).sum::<f64>() / n;
    let norm = data::normalization("mnist").unwrap();
    assert!(
        (mean - norm.mean[0] as f64).abs() < 1e-4 && (var.sqrt() - norm.std[0] as f64).abs() < 1e-4,
        "{mean} {}",
        var.sqrt()
    );
    let test = data::open("mnist", Split::Test, &offline(&dir)).unwrap();
    assert_eq!(test.len(), 10_000);
    // The table's hashes of the decompressed files (what a download is checked against).
    for name in ["train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"] {
        verify(&dir.join(format!("{name}.gz")), &mnist::Variant::Mnist.check(name)).unwrap();
    }
    let wrong = Check::Sha256Gunzipped("0000000000000000000000000000000000000000000000000000000000000000");
    let err = verify(&dir.join("t10k-labels-idx1-ubyte.gz"), &wrong).unwrap_err().to_string();
    assert!(err.contains("checksum mismatch") && err.contains("ff7bcfd4"), "{err}");
}

#[test]
fn fashion_mnist_from_shared_copy() {
    let Some(dir) = shared("fashion-mnist") else { return };
    let train = mnist::open(mnist::Variant::Fashion, Split::Train, &offline(&dir)).unwrap();
    assert_eq!((train.name(), train.len()), ("fashion-mnist", 60_000));
    let mut counts = [0usize; 10];
    for &l in train.labels() {
        counts[l as usize] += 1;
    }
    assert_eq!(counts, [6000; 10]);
    assert_eq!(train.classes()[0], "T-shirt/top");
    assert_eq!(train.classes()[9], "Ankle boot");
    let n = train.pixels().len() as f64;
    let mean = train.pixels().iter().map(|&b| b as f64).sum::<f64>() / n / 255.0;
    assert!((mean - 0.2860).abs() < 1e-3, "{mean}");
    let test = data::open("FashionMNIST", Split::Test, &offline(&dir)).unwrap();
    assert_eq!(test.len(), 10_000);
}

#[test]
fn cifar10_exact_binary_subsets() {
    let Some(dir) = shared("cifar-10") else { return };
    let train = cifar::load_binary(&[dir.join("exact-train-200/data_batch_1_first200.bin")]).unwrap();
    assert_eq!((train.len(), train.image_shape()), (200, [3, 32, 32]));
    let labels: Vec<usize> = (0..10).map(|i| train.get(i).unwrap().label).collect();
    assert_eq!(labels, [6, 9, 9, 4, 1, 1, 2, 7, 8, 3]);
    assert_eq!(train.classes()[6], "frog");
    let test = cifar::load_binary(&[dir.join("exact-test-200/test_subset_200.bin")]).unwrap();
    assert_eq!(test.len(), 200);
    let mean: f64 = (0..3).map(|c| channel_mean(&train, c)).sum::<f64>() / 3.0;
    assert!((0.3..0.6).contains(&mean), "{mean}");

    // The data folder layout: five training batches and a test batch.
    let tmp = temp_dir("cifar-bin");
    for name in cifar::file_names(Split::Train) {
        std::fs::copy(dir.join("exact-train-200/data_batch_1_first200.bin"), tmp.join(name)).unwrap();
    }
    std::fs::copy(dir.join("exact-test-200/test_subset_200.bin"), tmp.join("test_batch.bin")).unwrap();
    let opened = data::open("cifar10", Split::Train, &offline(&tmp)).unwrap();
    assert_eq!((opened.name(), opened.len()), ("cifar10", 1000));
    assert_eq!(opened.get(200).unwrap(), train.get(0).unwrap());
    assert_eq!(data::open("cifar-10", Split::Test, &offline(&tmp)).unwrap().len(), 200);
    std::fs::remove_dir_all(&tmp).unwrap();
}

fn channel_mean(ds: &data::MemoryDataset, c: usize) -> f64 {
    let mut sum = 0.0;
    for i in 0..ds.len() {
        sum += ds.image_bytes(i)[c * 1024..(c + 1) * 1024].iter().map(|&b| b as f64).sum::<f64>();
    }
    sum / (ds.len() * 1024) as f64 / 255.0
}

#[test]
fn cifar10_image_folder_form() {
    let Some(dir) = shared("cifar-10") else { return };
    // Unpack three images per class and split from the JPEG archive.
    let tmp = temp_dir("cifar-jpg");
    let file = std::fs::File::open(dir.join("CIFAR-10-images-jpg.tar.gz")).unwrap();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().into_owned();
        let keep = path.extension().is_some_and(|e| e == "jpg")
            && path.file_stem().and_then(|s| s.to_str()).and_then(|s| s.parse::<u32>().ok()).is_some_and(|n| n < 3);
        if keep {
            let out = tmp.join(&path);
            std::fs::create_dir_all(out.parent().unwrap()).unwrap();
            entry.unpack(&out).unwrap();
        }
    }
    let train = data::open("cifar10", Split::Train, &offline(&tmp)).unwrap();
    assert_eq!((train.name(), train.len(), train.image_shape()), ("cifar10", 30, [3, 32, 32]));
    assert_eq!(train.classes(), cifar::CLASSES.map(String::from).as_slice());
    let s = train.get(29).unwrap();
    assert_eq!(s.label, 9);
    let mean = s.image.iter().sum::<f32>() / s.image.len() as f32;
    assert!(mean > 0.05 && mean < 0.95, "{mean}");
    let test = data::open("cifar10", Split::Test, &offline(&tmp)).unwrap();
    assert_eq!(test.len(), 30);
    std::fs::remove_dir_all(&tmp).unwrap();
}

fn idx_bytes(magic: [u8; 4], dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut out = magic.to_vec();
    for d in dims {
        out.extend(d.to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// Writes a 3-image MNIST test split into `dir` (images gzipped, labels raw).
fn write_split(dir: &Path, images: &[u8], labels: &[u8]) {
    std::fs::write(dir.join("t10k-images-idx3-ubyte.gz"), gz(images)).unwrap();
    std::fs::write(dir.join("t10k-labels-idx1-ubyte"), labels).unwrap();
}

#[test]
fn crafted_idx_files() {
    let dir = temp_dir("idx");
    let pixels: Vec<u8> = (0..3 * 784).map(|k| (k % 256) as u8).collect();
    let good_images = idx_bytes([0, 0, 8, 3], &[3, 28, 28], &pixels);
    let good_labels = idx_bytes([0, 0, 8, 1], &[3], &[7, 0, 9]);
    write_split(&dir, &good_images, &good_labels);
    let ds = data::open("mnist", Split::Test, &offline(&dir)).unwrap();
    assert_eq!(ds.len(), 3);
    assert_eq!(ds.get(2).unwrap().label, 9);
    assert_eq!(ds.get(0).unwrap().image[1], 1.0 / 255.0);

    let err_with = |images: &[u8], labels: &[u8]| {
        write_split(&dir, images, labels);
        data::open("mnist", Split::Test, &offline(&dir)).err().expect("should fail").to_string()
    };
    let cases: Vec<(Vec<u8>, Vec<u8>, &str, &str)> = vec![
        (
            idx_bytes([0, 0, 8, 3], &[3, 28, 28], &pixels),
            idx_bytes([0, 0, 9, 1], &[3], &[1, 2, 3]),
            "t10k-labels",
            "0x09",
        ),
        (idx_bytes([1, 2, 8, 3], &[3, 28, 28], &pixels), good_labels.clone(), "t10k-images", "magic number"),
        (good_images[..1000].to_vec(), good_labels.clone(), "t10k-images", "truncated"),
        (idx_bytes([0, 0, 8, 3], &[5, 28, 28], &pixels), good_labels.clone(), "t10k-images", "claims 5 items"),
        (idx_bytes([0, 0, 8, 3], &[3, 32, 32], &pixels[..]), good_labels.clone(), "t10k-images", "claims 3 items"),
        (good_images.clone(), idx_bytes([0, 0, 8, 1], &[3], &[1, 10, 2]), "t10k-labels", "label 10 at index 1"),
        (good_images.clone(), idx_bytes([0, 0, 8, 1], &[2], &[1, 2]), "t10k-labels", "2 labels for the 3 images"),
        (good_images.clone(), idx_bytes([0, 0, 8, 3], &[3, 1, 1], &[1, 2, 3]), "t10k-labels", "expected 1 dimensions"),
        (good_images.clone(), vec![0, 0, 8], "t10k-labels", "too short"),
    ];
    for (images, labels, file, what) in cases {
        let err = err_with(&images, &labels);
        assert!(err.contains(file) && err.contains(what), "expected '{file}' and '{what}' in: {err}");
    }
    // A damaged gzip stream.
    let mut bad_gz = gz(&good_images);
    let n = bad_gz.len();
    bad_gz.truncate(n / 2);
    std::fs::write(dir.join("t10k-images-idx3-ubyte.gz"), bad_gz).unwrap();
    let err = data::open("mnist", Split::Test, &offline(&dir)).err().unwrap().to_string();
    assert!(err.contains("t10k-images-idx3-ubyte.gz") && err.contains("gzip"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn crafted_cifar_files() {
    let dir = temp_dir("cifar-bad");
    let mut record = vec![4u8];
    record.extend(vec![128u8; 3072]);
    let path = dir.join("test_batch.bin");
    std::fs::write(&path, &record[..3000]).unwrap();
    let err = cifar::load_binary(std::slice::from_ref(&path)).unwrap_err().to_string();
    assert!(err.contains("test_batch.bin") && err.contains("3073-byte"), "{err}");
    record[0] = 12;
    std::fs::write(&path, &record).unwrap();
    let err = cifar::load_binary(std::slice::from_ref(&path)).unwrap_err().to_string();
    assert!(err.contains("test_batch.bin") && err.contains("label 12"), "{err}");
    std::fs::write(&path, b"").unwrap();
    assert!(cifar::load_binary(&[path]).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn offline_without_files_says_what_to_put_where() {
    let cache = temp_dir("empty-cache");
    let opts =
        DataOptions { cache_dir: Some(cache.clone()), download: false, progress: false, ..DataOptions::default() };
    let err = data::open("mnist", Split::Train, &opts).err().unwrap().to_string();
    for want in [
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        &cache.join("mnist").display().to_string(),
    ] {
        assert!(err.contains(want), "expected '{want}' in: {err}");
    }
    let err = data::open("cifar10", Split::Test, &opts).err().unwrap().to_string();
    assert!(err.contains("test_batch.bin") && err.contains("cifar-10-binary.tar.gz"), "{err}");
    let err = data::open("mnist", Split::Test, &offline(&cache)).err().unwrap().to_string();
    assert!(err.contains("t10k-images-idx3-ubyte.gz") && err.contains(&cache.display().to_string()), "{err}");
    let err = data::open("no-such-dataset", Split::Train, &opts).err().unwrap().to_string();
    assert!(err.contains("mnist, fashion-mnist, cifar10, builtin"), "{err}");
    assert_eq!(data::dataset_names(), ["mnist", "fashion-mnist", "cifar10", "builtin"]);
    std::fs::remove_dir_all(&cache).unwrap();
}

#[test]
fn normalization_table() {
    let n = data::normalization("cifar10").unwrap();
    assert_eq!((n.mean, n.std), (vec![0.4914, 0.4822, 0.4465], vec![0.2470, 0.2435, 0.2616]));
    assert_eq!(data::normalization("fashion-mnist").unwrap().std, vec![0.3530]);
    assert_eq!(data::normalization("MNIST").unwrap().mean, vec![0.1307]);
    assert!(data::normalization("/some/folder").is_none());
}

#[test]
fn cifar10_archive_extraction() {
    let dir = temp_dir("cifar-tar");
    let mut record = vec![8u8];
    record.extend((0..3072).map(|k| (k % 251) as u8));
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
    let mut header = tar::Header::new_gnu();
    header.set_size(record.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    builder.append_data(&mut header, "cifar-10-batches-bin/test_batch.bin", &record[..]).unwrap();
    let archive = builder.into_inner().unwrap().finish().unwrap();
    std::fs::write(dir.join("cifar-10-binary.tar.gz"), &archive).unwrap();
    let cache = dir.join("cache");
    cifar::extract(&dir.join("cifar-10-binary.tar.gz"), &cache).unwrap();
    let ds = cifar::load_binary(&[cache.join("cifar-10-batches-bin/test_batch.bin")]).unwrap();
    assert_eq!((ds.len(), ds.get(0).unwrap().label, ds.image_bytes(0)[1]), (1, 8, 1));
    assert!(std::fs::read_dir(&cache).unwrap().count() == 1, "no temporary folder left behind");
    // In a data folder the archive must be the published one.
    let opts = DataOptions { cache_dir: Some(dir.join("cache2")), ..offline(&dir) };
    let err = data::open("cifar10", Split::Test, &opts).err().unwrap().to_string();
    assert!(err.contains("checksum mismatch") && err.contains(cifar::SHA256), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
