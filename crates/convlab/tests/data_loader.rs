//! DataLoader: batching, drop_last, seeded shuffling, worker-count independence,
//! normalization, augmentation.

use std::collections::BTreeSet;
use std::sync::Arc;

use convlab::data::{augment, Augment, Batch, DataLoader, Dataset, LoaderConfig, MemoryDataset, Normalization};

/// `n` images of 2×4×5 whose pixel bytes encode (index, channel, position).
fn dataset(n: usize) -> Arc<dyn Dataset> {
    let per = 2 * 4 * 5;
    let pixels: Vec<u8> = (0..n * per).map(|k| ((k / per) * 7 + (k % per) * 3) as u8).collect();
    let labels: Vec<u8> = (0..n).map(|i| (i % 3) as u8).collect();
    Arc::new(MemoryDataset::new("toy", [2, 4, 5], vec!["a".into(), "b".into(), "c".into()], pixels, labels))
}

fn run(loader: &DataLoader, epoch: usize) -> Vec<Batch> {
    loader.epoch(epoch).collect::<Result<Vec<_>, _>>().unwrap()
}

fn config(batch_size: usize) -> LoaderConfig {
    LoaderConfig { batch_size, ..LoaderConfig::default() }
}

#[test]
fn batches_in_order_with_matching_images_and_labels() {
    let ds = dataset(10);
    let loader = DataLoader::new(ds.clone(), config(4));
    assert_eq!(loader.batches_per_epoch(), 3);
    let batches = run(&loader, 0);
    assert_eq!(
        batches.iter().map(|b| b.indices.clone()).collect::<Vec<_>>(),
        vec![vec![0, 1, 2, 3], vec![4, 5, 6, 7], vec![8, 9]]
    );
    assert_eq!(batches[2].images.dims(), &[2, 2, 4, 5]);
    for b in &batches {
        let data = b.images.to_vec();
        for (k, &i) in b.indices.iter().enumerate() {
            let s = ds.get(i).unwrap();
            assert_eq!(b.labels[k], s.label);
            assert_eq!(&data[k * 40..(k + 1) * 40], s.image.as_slice());
        }
    }
}

#[test]
fn drop_last_and_batch_size_edge_cases() {
    let ds = dataset(10);
    let loader = DataLoader::new(ds.clone(), LoaderConfig { drop_last: true, ..config(4) });
    assert_eq!(loader.batches_per_epoch(), 2);
    assert!(run(&loader, 0).iter().all(|b| b.labels.len() == 4));
    let big = DataLoader::new(ds.clone(), LoaderConfig { drop_last: true, ..config(11) });
    assert_eq!((big.batches_per_epoch(), run(&big, 0).len()), (0, 0));
    let one = DataLoader::new(ds.clone(), config(11));
    assert_eq!(run(&one, 0)[0].labels.len(), 10);
    assert!(DataLoader::try_new(ds, config(0)).is_err());
}

#[test]
fn shuffle_is_seeded_per_epoch() {
    let ds = dataset(50);
    let cfg = LoaderConfig { shuffle: true, seed: 3, ..config(8) };
    let loader = DataLoader::new(ds.clone(), cfg.clone());
    let order = |l: &DataLoader, e| run(l, e).into_iter().flat_map(|b| b.indices).collect::<Vec<_>>();
    let e0 = order(&loader, 0);
    assert_eq!(e0.iter().copied().collect::<BTreeSet<_>>().len(), 50, "a permutation");
    assert_ne!(e0, (0..50).collect::<Vec<_>>());
    assert_eq!(e0, order(&DataLoader::new(ds.clone(), cfg.clone()), 0), "same seed and epoch, same order");
    assert_eq!(e0, loader.order(0));
    assert_ne!(e0, order(&loader, 1), "a new order each epoch");
    assert_eq!(
        order(&loader, 7),
        order(&DataLoader::new(ds.clone(), cfg.clone()), 7),
        "a resumed run sees the same order"
    );
    assert_ne!(e0, order(&DataLoader::new(ds, LoaderConfig { seed: 4, ..cfg }), 0));
}

#[test]
fn results_do_not_depend_on_workers_or_prefetch() {
    let ds = dataset(37);
    let base = LoaderConfig {
        shuffle: true,
        seed: 11,
        augment: Augment { random_crop_padding: 1, horizontal_flip: true },
        normalize: Some(Normalization { mean: vec![0.5, 0.25], std: vec![0.5, 0.2] }),
        ..config(5)
    };
    let reference = run(&DataLoader::new(ds.clone(), LoaderConfig { workers: 0, ..base.clone() }), 2);
    for (workers, prefetch) in [(1, 1), (3, 2), (4, 16), (16, 1)] {
        let got = run(&DataLoader::new(ds.clone(), LoaderConfig { workers, prefetch, ..base.clone() }), 2);
        assert_eq!(got.len(), reference.len());
        for (a, b) in got.iter().zip(&reference) {
            assert_eq!((&a.indices, &a.labels), (&b.indices, &b.labels));
            assert_eq!(a.images.to_vec(), b.images.to_vec(), "workers {workers}");
        }
    }
}

#[test]
fn dropping_an_epoch_early_stops_the_workers() {
    let ds = dataset(200);
    let loader = DataLoader::new(ds, LoaderConfig { workers: 3, prefetch: 2, ..config(2) });
    let mut it = loader.epoch(0);
    assert_eq!(it.next().unwrap().unwrap().indices, vec![0, 1]);
    assert_eq!(it.remaining(), 99);
    drop(it); // joins the workers; hangs here if they were not told to stop
}

#[test]
fn normalization_per_channel_and_checked() {
    let ds = dataset(6);
    let norm = Normalization { mean: vec![0.1, 0.6], std: vec![0.5, 0.25] };
    let raw = run(&DataLoader::new(ds.clone(), config(6)), 0).remove(0).images.to_vec();
    let got = run(&DataLoader::new(ds.clone(), LoaderConfig { normalize: Some(norm), ..config(6) }), 0)
        .remove(0)
        .images
        .to_vec();
    for (k, (&r, &g)) in raw.iter().zip(&got).enumerate() {
        let ch = k / 20 % 2;
        let want = if ch == 0 { (r - 0.1) / 0.5 } else { (r - 0.6) / 0.25 };
        assert!((g - want).abs() < 1e-6, "element {k}: {g} vs {want}");
    }
    let three = Normalization { mean: vec![0.0; 3], std: vec![1.0; 3] };
    let err = DataLoader::try_new(ds.clone(), LoaderConfig { normalize: Some(three), ..config(2) }).err().unwrap();
    assert!(err.to_string().contains("2-channel"), "{err}");
    let zero = Normalization { mean: vec![0.0], std: vec![0.0] };
    assert!(DataLoader::try_new(ds, LoaderConfig { normalize: Some(zero), ..config(2) }).is_err());
}

#[test]
fn augmentation_properties() {
    let (c, h, w) = (2, 4, 5);
    let img: Vec<f32> = (0..c * h * w).map(|v| 1.0 + v as f32).collect();
    let off = Augment::default();
    assert_eq!(augment(&img, [c, h, w], &off, 9), img);
    // Flip only: each output is the image or its exact mirror, both happen, each channel alike.
    let flip = Augment { random_crop_padding: 0, horizontal_flip: true };
    let mirror: Vec<f32> = (0..c * h * w).map(|k| img[k - k % w + (w - 1 - k % w)]).collect();
    let outs: Vec<Vec<f32>> = (0..40).map(|s| augment(&img, [c, h, w], &flip, s)).collect();
    assert!(outs.iter().all(|o| *o == img || *o == mirror));
    let flipped = outs.iter().filter(|o| **o == mirror).count();
    assert!((8..=32).contains(&flipped), "{flipped} of 40 flipped");
    // Crop only: a shifted copy with zero padding; every value is from the image or 0, the
    // shift is within the padding, the same for all channels, and seeded.
    let crop = Augment { random_crop_padding: 2, horizontal_flip: false };
    let mut shifts = BTreeSet::new();
    for s in 0..60 {
        let o = augment(&img, [c, h, w], &crop, s);
        assert_eq!(o, augment(&img, [c, h, w], &crop, s));
        let (dy, dx) = find_shift(&img, &o, [c, h, w]).unwrap_or_else(|| panic!("seed {s}: not a padded shift"));
        assert!(dy.abs() <= 2 && dx.abs() <= 2);
        shifts.insert((dy, dx));
    }
    assert!(shifts.len() > 10, "only {} distinct crops", shifts.len());
}

/// The (dy, dx) with `out[y][x] = img[y+dy][x+dx]` (0 outside) for every channel, if any.
fn find_shift(img: &[f32], out: &[f32], [c, h, w]: [usize; 3]) -> Option<(isize, isize)> {
    for dy in -2isize..=2 {
        for dx in -2isize..=2 {
            let ok = (0..c * h * w).all(|k| {
                let (ch, y, x) = (k / (h * w), (k / w % h) as isize, (k % w) as isize);
                let (sy, sx) = (y + dy, x + dx);
                let want = if sy >= 0 && sy < h as isize && sx >= 0 && sx < w as isize {
                    img[ch * h * w + sy as usize * w + sx as usize]
                } else {
                    0.0
                };
                out[k] == want
            });
            if ok {
                return Some((dy, dx));
            }
        }
    }
    None
}

#[test]
fn augmentation_is_seeded_by_epoch_and_index() {
    let ds = dataset(8);
    let cfg = LoaderConfig { augment: Augment { random_crop_padding: 2, horizontal_flip: true }, seed: 1, ..config(8) };
    let loader = DataLoader::new(ds.clone(), cfg.clone());
    let e0 = run(&loader, 0).remove(0).images.to_vec();
    assert_eq!(e0, run(&DataLoader::new(ds.clone(), cfg.clone()), 0).remove(0).images.to_vec());
    assert_ne!(e0, run(&loader, 1).remove(0).images.to_vec(), "new augmentation each epoch");
    // Independent of batch composition: the same index gets the same augmentation.
    let small = run(&DataLoader::new(ds, LoaderConfig { batch_size: 3, ..cfg }), 0);
    assert_eq!(&e0[3 * 40..4 * 40], &small[1].images.to_vec()[0..40]);
}
