//! Image folders: class names from folders, splits, channels, center-crop + resize, errors.

use std::path::{Path, PathBuf};

use convlab::data::folder::ImageFolder;
use convlab::data::{self, DataOptions, Dataset, Split};
use image::{GrayImage, Luma, Rgb, RgbImage};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("convlab-folder-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn put(path: &Path) -> &Path {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    path
}

#[test]
fn classes_labels_order_and_channels() {
    let root = temp_dir("basic");
    // RGB first image: the dataset is RGB; a grayscale file is expanded to three channels.
    RgbImage::from_pixel(4, 3, Rgb([255, 0, 51])).save(put(&root.join("b_red/x.png"))).unwrap();
    GrayImage::from_pixel(4, 3, Luma([102])).save(put(&root.join("b_red/y.bmp"))).unwrap();
    RgbImage::from_pixel(4, 3, Rgb([0, 0, 255])).save(put(&root.join("a_blue/1.PNG"))).unwrap();
    std::fs::write(root.join("a_blue/notes.txt"), "not an image").unwrap();
    std::fs::create_dir_all(root.join("c_empty")).unwrap();
    let ds = data::open(root.to_str().unwrap(), Split::Train, &DataOptions::default()).unwrap();
    assert_eq!(ds.name(), format!("folder:{}", root.display()));
    assert_eq!(ds.classes(), ["a_blue", "b_red", "c_empty"].map(String::from).as_slice());
    assert_eq!((ds.len(), ds.image_shape()), (3, [3, 3, 4]));
    let blue = ds.get(0).unwrap();
    assert_eq!(blue.label, 0);
    assert_eq!((blue.image[0], blue.image[12], blue.image[24]), (0.0, 0.0, 1.0));
    let red = ds.get(1).unwrap();
    assert_eq!((red.label, red.image[0], red.image[12], red.image[24]), (1, 1.0, 0.0, 0.2));
    let gray = ds.get(2).unwrap();
    assert!(gray.image.iter().all(|&v| v == 0.4));
    assert!(ds.get(3).is_err());
    // A flat folder has no test split.
    let err = data::open(root.to_str().unwrap(), Split::Test, &DataOptions::default()).err().unwrap().to_string();
    assert!(err.contains("test/"), "{err}");
    // Forced grayscale: luminance of the colours.
    let g = ImageFolder::open(&root, Split::Train, &DataOptions { grayscale: Some(true), ..DataOptions::default() })
        .unwrap();
    assert_eq!(g.image_shape(), [1, 3, 4]);
    assert!(g.get(0).unwrap().image[0] < 0.2 && g.get(2).unwrap().image[0] == 0.4);
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn train_and_test_subfolders_and_jpeg() {
    let root = temp_dir("splits");
    GrayImage::from_pixel(6, 6, Luma([200])).save(put(&root.join("train/cat/0.jpg"))).unwrap();
    GrayImage::from_pixel(6, 6, Luma([20])).save(put(&root.join("train/dog/0.jpeg"))).unwrap();
    GrayImage::from_pixel(6, 6, Luma([20])).save(put(&root.join("train/dog/1.png"))).unwrap();
    GrayImage::from_pixel(6, 6, Luma([200])).save(put(&root.join("test/cat/0.png"))).unwrap();
    std::fs::create_dir_all(root.join("test/dog")).unwrap();
    let opts = DataOptions::default();
    let train = data::open(root.to_str().unwrap(), Split::Train, &opts).unwrap();
    let test = data::open(root.to_str().unwrap(), Split::Test, &opts).unwrap();
    assert_eq!((train.len(), test.len(), train.image_shape()), (3, 1, [1, 6, 6]));
    assert_eq!(train.classes(), test.classes());
    let cat = train.get(0).unwrap();
    assert!(cat.image.iter().all(|&v| (v - 200.0 / 255.0).abs() < 0.03), "jpeg decodes near its value");
    assert_eq!(train.get(2).unwrap().label, 1);
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn center_crop_then_resize() {
    let root = temp_dir("resize");
    // 8 wide × 4 high: left quarter black, middle half white, right quarter black.
    let wide = GrayImage::from_fn(8, 4, |x, _| Luma([if (2..6).contains(&x) { 255 } else { 0 }]));
    wide.save(put(&root.join("k/wide.png"))).unwrap();
    // 2×2 image of a single value: resized up to 4×4, stays that value.
    GrayImage::from_pixel(2, 2, Luma([51])).save(put(&root.join("k/small.png"))).unwrap();
    let ds =
        ImageFolder::open(&root, Split::Train, &DataOptions { image_size: Some([4, 4]), ..DataOptions::default() })
            .unwrap();
    assert_eq!(ds.image_shape(), [1, 4, 4]);
    // Square target: the centred 4×4 window of the wide image is all white.
    let s = ds.get(1).unwrap();
    assert!(s.image.iter().all(|&v| v == 1.0), "{:?}", s.image);
    assert!(ds.get(0).unwrap().image.iter().all(|&v| (v - 0.2).abs() < 1e-6));
    // Target 2×4 (same ratio as 4×8): no crop, a downscale keeps black edges and white middle.
    let ds = ImageFolder::open(
        &root,
        Split::Train,
        &DataOptions { image_size: Some([2, 4]), grayscale: Some(true), ..DataOptions::default() },
    )
    .unwrap();
    let s = ds.get(1).unwrap().image;
    assert_eq!(s.len(), 8);
    assert!(s[0] < 0.3 && s[3] < 0.3 && s[1] > 0.7 && s[2] > 0.7, "{s:?}");
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn folder_errors_name_the_problem() {
    let root = temp_dir("errors");
    let err = ImageFolder::open(&root, Split::Train, &DataOptions::default()).unwrap_err().to_string();
    assert!(err.contains("no class subfolders"), "{err}");
    std::fs::create_dir_all(root.join("a")).unwrap();
    let err = ImageFolder::open(&root, Split::Train, &DataOptions::default()).unwrap_err().to_string();
    assert!(err.contains("no images"), "{err}");
    GrayImage::from_pixel(3, 3, Luma([1])).save(root.join("a/ok.png")).unwrap();
    std::fs::write(root.join("a/zz.png"), b"not a png").unwrap();
    let ds = ImageFolder::open(&root, Split::Train, &DataOptions::default()).unwrap();
    let err = ds.get(1).unwrap_err().to_string();
    assert!(err.contains("zz.png") && err.contains("decode"), "{err}");
    std::fs::remove_dir_all(&root).unwrap();
}
