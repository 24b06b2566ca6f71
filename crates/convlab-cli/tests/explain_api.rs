//! The explainer's JSON API against a real `convlab explain` server: structure, runs,
//! convolution detail equal to the engine's activation, attributions, bad requests as 4xx
//! with a message, and many concurrent clients getting only correct answers.

mod common;

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::{make_checkpoint, target_dir, Server};
use convlab::explain::{Explainer, InputSource};
use serde_json::{json, Value};

struct Setup {
    checkpoint: PathBuf,
    local: Explainer,
}

/// The checkpoint (trained once per test run) and the same model loaded in-process.
fn setup() -> &'static Setup {
    static S: OnceLock<Setup> = OnceLock::new();
    S.get_or_init(|| {
        let checkpoint = make_checkpoint(&target_dir("api"), 30);
        let local = Explainer::from_checkpoint(&checkpoint, None, &convlab::data::DataOptions::default()).unwrap();
        Setup { checkpoint, local }
    })
}

thread_local! {
    static URL: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// A server for one test (killed when the test ends, even by a panic); requests from this
/// test's threads go to it.
fn serve() -> Server {
    let s = Server::start(&setup().checkpoint);
    URL.with(|u| *u.borrow_mut() = s.url.clone());
    s
}

fn base() -> String {
    URL.with(|u| u.borrow().clone())
}

fn get(path: &str) -> (u16, Value) {
    let url = format!("{}{path}", base());
    match ureq::get(&url).call() {
        Ok(r) => (r.status(), r.into_json().unwrap()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_json().unwrap_or(Value::Null)),
        Err(e) => panic!("{url}: {e}"),
    }
}

fn post(path: &str, ctype: &str, body: &[u8]) -> (u16, Value) {
    let url = format!("{}{path}", base());
    match ureq::post(&url).set("Content-Type", ctype).send_bytes(body) {
        Ok(r) => (r.status(), r.into_json().unwrap()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_json().unwrap_or(Value::Null)),
        Err(e) => panic!("{url}: {e}"),
    }
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
}

#[test]
fn structure_lists_every_layer_with_shapes() {
    let _server = serve();
    let (code, m) = get("/api/model");
    assert_eq!(code, 200);
    let layers = m["layers"].as_array().unwrap();
    let kinds: Vec<&str> = layers.iter().map(|l| l["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["Conv2d", "ReLU", "MaxPool2d", "Conv2d", "ReLU", "MaxPool2d", "Flatten", "Linear"]);
    assert_eq!(m["input_shape"], json!([1, 28, 28]));
    assert_eq!(layers[0]["output_shape"], json!([4, 28, 28]));
    assert_eq!(layers[3]["output_shape"], json!([6, 12, 12]));
    assert_eq!(layers[7]["output_shape"], json!([10]));
    assert_eq!(layers[0]["params"], 4 * 9 + 4);
    assert_eq!(layers[0]["geometry"]["padding"], json!([1, 1, 1, 1]));
    assert_eq!(m["classes"].as_array().unwrap().len(), 10);
    assert_eq!(m["metrics"], true);
}

#[test]
fn run_matches_the_engine_and_conv_detail_adds_up() {
    let _server = serve();
    let (code, r) = post("/api/run?maps=16", "application/json", br#"{"sample": 3}"#);
    assert_eq!(code, 200, "{r}");
    let want = setup().local.run(&InputSource::Sample(3), 16).unwrap();
    assert_eq!(floats(&r["logits"]), floats(&want["logits"]));
    let probs = floats(&r["probs"]);
    assert!((probs.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    assert_eq!(r["layers"].as_array().unwrap().len(), 8);
    let conv2 = &r["layers"][3];
    assert_eq!(conv2["maps"].as_array().unwrap().len(), 6);
    // The detail of channel 2 of the second convolution: per-channel results plus bias give
    // the engine's output at every position, and the output is the run's activation.
    let input = r["input_id"].as_str().unwrap();
    let (code, d) = get(&format!("/api/conv?input={input}&layer=3&channel=2"));
    assert_eq!(code, 200, "{d}");
    assert_eq!(d["in_channels"], 4);
    assert!(d["sum_check"].as_f64().unwrap() < 1e-5);
    let out = floats(&d["output"]["data"]);
    assert_eq!(out, floats(&conv2["maps"][2]));
    // Recompute one position by hand from the padded inputs and kernels.
    let (i, j) = (5usize, 7usize);
    let mut acc = d["bias"].as_f64().unwrap();
    for ch in d["inputs"].as_array().unwrap() {
        let pw = ch["padded"]["w"].as_u64().unwrap() as usize;
        let px = floats(&ch["padded"]["data"]);
        let k = floats(&ch["kernel"]);
        for u in 0..3 {
            for v in 0..3 {
                acc += (px[(i + u) * pw + j + v] * k[u * 3 + v]) as f64;
            }
        }
    }
    assert!((acc as f32 - out[i * 12 + j]).abs() < 1e-4, "{acc} vs {}", out[i * 12 + j]);
}

#[test]
fn details_attributions_and_side_views() {
    let _server = serve();
    let input = "sample:5";
    let (code, d) = get(&format!("/api/detail?input={input}&layer=2&channel=1"));
    assert_eq!(code, 200, "{d}");
    assert_eq!((d["input"]["h"].as_u64(), d["output"]["h"].as_u64()), (Some(28), Some(14)));
    let (_, d) = get(&format!("/api/detail?input={input}&layer=7&channel=4"));
    assert_eq!(d["inputs"].as_array().unwrap().len(), 216);
    assert_eq!(d["flatten_from"], json!([6, 6, 6]));
    let dot: f32 = floats(&d["inputs"]).iter().zip(floats(&d["weights"])).map(|(a, b)| a * b).sum::<f32>() + d["bias"].as_f64().unwrap() as f32;
    assert!((dot - d["output"].as_f64().unwrap() as f32).abs() < 1e-4);
    for method in ["saliency", "guided", "gradcam"] {
        let (code, a) = get(&format!("/api/attribution?input={input}&method={method}&class=2"));
        assert_eq!(code, 200, "{method}: {a}");
        let map = floats(&a["map"]);
        assert!(map.iter().all(|v| v.is_finite() && *v >= 0.0) && map.iter().any(|v| *v > 0.0), "{method}");
    }
    let (_, a) = get(&format!("/api/attribution?input={input}&method=gradcam"));
    assert_eq!(a["layer"], "5");
    let (_, f) = get("/api/filters");
    assert_eq!(f["shape"], json!([4, 1, 3, 3]));
    let (_, m) = get("/api/metrics");
    assert_eq!(m.as_array().unwrap().len(), 30);
    let (_, c) = get("/api/confusion?limit=200");
    let total: u64 = c["matrix"].as_array().unwrap().iter().flat_map(|r| r.as_array().unwrap()).map(|v| v.as_u64().unwrap()).sum();
    assert_eq!(total, 200);
    let (_, h) = get("/api/hyper?input=7&kernel=3&padding=same&stride=2");
    assert_eq!((h["ok"].as_bool(), h["output"].as_u64()), (Some(true), Some(4)));
    let (_, h) = get("/api/hyper?input=3&kernel=5&padding=0");
    assert_eq!(h["ok"], false);
    assert!(h["error"].as_str().unwrap().contains("does not fit"));
    let (_, s) = get("/api/samples?offset=0&count=4");
    assert_eq!(s["samples"].as_array().unwrap().len(), 4);
}

#[test]
fn uploads_and_drawings() {
    let _server = serve();
    let img = image::GrayImage::from_fn(40, 30, |x, y| image::Luma([((x * 6 + y * 3) % 256) as u8]));
    let mut png = Vec::new();
    image::DynamicImage::ImageLuma8(img).write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).unwrap();
    let (code, r) = post("/api/run", "image/png", &png);
    assert_eq!(code, 200, "{r}");
    let id = r["input_id"].as_str().unwrap().to_string();
    assert!(id.starts_with('u'));
    let (code, _) = get(&format!("/api/conv?input={id}&layer=0&channel=0"));
    assert_eq!(code, 200);
    let pixels = json!({ "pixels": vec![0.25; 784], "shape": [1, 28, 28] });
    let (code, r) = post("/api/run", "application/json", pixels.to_string().as_bytes());
    assert_eq!(code, 200, "{r}");
}

/// A PNG header claiming 100000×100000 pixels (valid signature and IHDR CRC).
fn huge_png_header() -> Vec<u8> {
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend(100_000u32.to_be_bytes());
    ihdr.extend(100_000u32.to_be_bytes());
    ihdr.extend([8, 0, 0, 0, 0]);
    let crc = crc32(&ihdr);
    let mut v = b"\x89PNG\r\n\x1a\n".to_vec();
    v.extend(13u32.to_be_bytes());
    v.extend(ihdr);
    v.extend(crc.to_be_bytes());
    v
}

fn crc32(data: &[u8]) -> u32 {
    let mut c = 0xffff_ffffu32;
    for &b in data {
        c ^= b as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 { 0xedb8_8320 ^ (c >> 1) } else { c >> 1 };
        }
    }
    !c
}

#[test]
fn bad_requests_get_4xx_with_a_message() {
    let _server = serve();
    let cases: Vec<(u16, (u16, Value))> = vec![
        (400, post("/api/run", "image/png", b"definitely not an image")),
        (400, post("/api/run", "image/png", &huge_png_header())),
        (400, post("/api/run", "image/png", &b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"[..])),
        (413, post("/api/run", "image/png", &vec![0u8; 10 << 20])),
        (400, post("/api/run", "application/json", b"{not json")),
        (400, post("/api/run", "application/json", br#"{"sample": 999999}"#)),
        (400, post("/api/run", "application/json", br#"{"pixels": [1, 2], "shape": [1, 28, 28]}"#)),
        (400, get("/api/conv?input=sample:1&layer=nope&channel=0")),
        (400, get("/api/conv?input=sample:1&layer=0&channel=99")),
        (400, get("/api/conv?input=u999999&layer=0&channel=0")),
        (400, get("/api/conv?input=sample:1&layer=0&channel=-1")),
        (400, get("/api/conv?layer=0")),
        (400, get("/api/attribution?input=sample:1&method=magic")),
        (400, get("/api/attribution?input=sample:1&class=10")),
        (404, get("/api/nothing")),
    ];
    for (i, (want, (code, body))) in cases.into_iter().enumerate() {
        assert_eq!(code, want, "case {i}: {body}");
        assert!(body["error"].as_str().is_some_and(|m| !m.is_empty()), "case {i}: {body}");
    }
    let (code, h) = get("/api/hyper?input=100000000&kernel=3");
    assert_eq!((code, h["ok"].as_bool()), (200, Some(false)));
    // The server is still fine.
    assert_eq!(get("/api/model").0, 200);
}

#[test]
fn concurrent_clients_get_correct_answers() {
    let _server = serve();
    let secs: f64 = std::env::var("CONVLAB_EXPLAIN_LOAD_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(5.0);
    let s = setup();
    let want: Vec<Vec<f32>> = (0..10).map(|i| floats(&s.local.run(&InputSource::Sample(i), 4).unwrap()["probs"])).collect();
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let results: Vec<usize> = std::thread::scope(|sc| {
        let handles: Vec<_> = (0..50)
            .map(|t| {
                let want = &want;
                let url = base();
                sc.spawn(move || {
                    URL.with(|u| *u.borrow_mut() = url);
                    let mut n = 0;
                    while Instant::now() < deadline {
                        let i = (t + n) % 10;
                        let (code, r) = if n % 3 == 2 {
                            get(&format!("/api/conv?input=sample:{i}&layer=0&channel={}", n % 4))
                        } else {
                            post("/api/run?maps=4", "application/json", format!("{{\"sample\": {i}}}").as_bytes())
                        };
                        assert_eq!(code, 200, "{r}");
                        if n % 3 == 2 {
                            assert!(r["sum_check"].as_f64().unwrap() < 1e-5);
                        } else {
                            assert_eq!(floats(&r["probs"]), want[i], "client {t}, request {n}");
                        }
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(results.iter().all(|&n| n > 0), "{results:?}");
    eprintln!("{} requests from 50 clients in {secs} s", results.iter().sum::<usize>());
}
