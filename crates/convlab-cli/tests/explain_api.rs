//! The explainer's JSON API against a real `convlab explain` server: structure, runs,
//! convolution detail equal to the engine's activation, activation settings and pooling
//! windows as the engine uses them, attributions, bad requests as 4xx with a message, the
//! security headers of every answer and the page's modules, hostile requests (path
//! traversal, huge heads and bodies, other hosts),
//! idle and slow clients that must not tie the server up, loopback unless `--allow-remote`,
//! and a load test: many concurrent clients getting only correct answers.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use common::{assert_user_error, make_checkpoint, s, target_dir, Server};
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
    let dot: f32 = floats(&d["inputs"]).iter().zip(floats(&d["weights"])).map(|(a, b)| a * b).sum::<f32>()
        + d["bias"].as_f64().unwrap() as f32;
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
    let total: u64 =
        c["matrix"].as_array().unwrap().iter().flat_map(|r| r.as_array().unwrap()).map(|v| v.as_u64().unwrap()).sum();
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
    image::DynamicImage::ImageLuma8(img)
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
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

#[test]
fn activation_settings_and_pooling_windows_are_the_engines() {
    let _server = serve();
    let (_, m) = get("/api/model");
    let layers = m["layers"].as_array().unwrap();
    assert_eq!(layers[1]["activation"], json!({ "name": "relu" }));
    assert!(layers[0].get("activation").is_none() && layers[0].get("pool").is_none());
    let pool = &layers[2]["pool"];
    assert_eq!(pool["op"], "max");
    assert_eq!((pool["kernel"].clone(), pool["stride"].clone()), (json!([2, 2]), json!([2, 2])));
    assert_eq!((pool["padding"].clone(), pool["dilation"].clone()), (json!([0, 0, 0, 0]), json!([1, 1])));
    assert_eq!(
        (pool["ceil_mode"].clone(), pool["input"].clone(), pool["output"].clone()),
        (json!(false), json!([28, 28]), json!([14, 14]))
    );
    assert_eq!(layers[5]["pool"]["output"], json!([6, 6]));
    // The pooling detail: every output's window (its input positions), the engine's maximum
    // inside it, and outputs equal to the maxima of those windows.
    let (code, d) = get("/api/detail?input=sample:5&layer=2&channel=1");
    assert_eq!(code, 200, "{d}");
    assert_eq!(d["pool"], *pool);
    assert!(d["window_check"].as_f64().unwrap() < 1e-6, "{}", d["window_check"]);
    let (x, y) = (floats(&d["input"]["data"]), floats(&d["output"]["data"]));
    let windows = d["windows"].as_array().unwrap();
    assert_eq!(windows.len(), 14 * 14);
    for (o, (w, arg)) in windows.iter().zip(d["argmax"].as_array().unwrap()).enumerate() {
        let taps: Vec<usize> = w.as_array().unwrap().iter().map(|t| t.as_u64().unwrap() as usize).collect();
        let (i, j) = (o / 14, o % 14);
        assert_eq!(
            taps,
            [2 * i * 28 + 2 * j, 2 * i * 28 + 2 * j + 1, (2 * i + 1) * 28 + 2 * j, (2 * i + 1) * 28 + 2 * j + 1]
        );
        let arg = arg.as_u64().unwrap() as usize;
        assert!(taps.contains(&arg) && x[arg] == y[o], "output {o}: maximum at {arg}, window {taps:?}");
    }
    assert!(d["divisors"].is_null());
    // The activation detail: the settings and the curve the engine computes.
    let (_, d) = get("/api/detail?input=sample:5&layer=1&channel=0");
    assert_eq!(d["activation"], json!({ "name": "relu" }));
    let (cx, cy) = (floats(&d["curve"]["x"]), floats(&d["curve"]["y"]));
    assert!(cx.len() > 10 && cx.len() == cy.len() && cx[0] < 0.0 && *cx.last().unwrap() > 0.0);
    assert!(cx.iter().zip(&cy).all(|(x, y)| *y == x.max(0.0)));
    assert!(d.get("windows").is_none());
}

const CSP_NEEDS: [&str; 5] =
    ["default-src 'self'", "script-src 'self'", "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'"];

/// The `Content-Security-Policy` of a raw answer, after checking it forbids inline script and
/// comes with `nosniff`.
fn check_security_headers(what: &str, answer: &str) {
    let head = answer.split("\r\n\r\n").next().unwrap_or_default().to_ascii_lowercase();
    let csp = head
        .lines()
        .find_map(|l| l.strip_prefix("content-security-policy:"))
        .unwrap_or_else(|| panic!("{what}: no Content-Security-Policy in {head}"));
    for need in CSP_NEEDS {
        assert!(csp.contains(need), "{what}: CSP {csp} lacks {need}");
    }
    let script = csp.split(';').find(|d| d.trim().starts_with("script-src")).unwrap();
    assert!(!script.contains("unsafe-inline") && !script.contains("unsafe-eval"), "{what}: {csp}");
    assert!(head.lines().any(|l| l.trim() == "x-content-type-options: nosniff"), "{what}: {head}");
}

#[test]
fn every_answer_carries_the_security_headers() {
    let server = serve();
    let addr = server.addr();
    for t in ["/", "/app.js", "/style.css", "/api/model", "/api/detail?input=sample:0&layer=nope", "/nothing"] {
        let r = raw_get(addr, t);
        assert!(r.starts_with("HTTP/1.1 200") || r.starts_with("HTTP/1.1 4"), "{t}: {r}");
        check_security_headers(t, &r);
    }
    let refused = [
        b"DELETE /api/model HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".to_vec(),
        b"GET /api/model HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n".to_vec(),
        b"POST /api/run HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000000000\r\n\r\n".to_vec(),
    ];
    for req in refused {
        check_security_headers(&String::from_utf8_lossy(&req), &raw(addr, &req, Duration::from_secs(10)));
    }
    // The fixed answer written when a head does not arrive in time.
    let slow = Server::start_with(&setup().checkpoint, &["--request-timeout", "1"]);
    let r = raw(slow.addr(), b"GET /api/model HTTP/1.1\r\nHost: 127.0.0.1\r\n", Duration::from_secs(10));
    assert!(r.starts_with("HTTP/1.1 408"), "{r}");
    check_security_headers("408", &r);
}

#[test]
fn the_page_is_es_modules_without_inline_script_or_markup_from_strings() {
    let _server = serve();
    let page = ureq::get(&format!("{}/", base())).call().unwrap().into_string().unwrap();
    assert!(page.contains(r#"<script type="module" src="/app.js"></script>"#), "{page}");
    assert_eq!(page.matches("<script").count(), 1, "one script, the entry module");
    let lower = page.to_ascii_lowercase();
    for (i, _) in lower.match_indices(" on") {
        let attr: String = lower[i + 3..].chars().take_while(|c| c.is_ascii_alphabetic()).collect();
        assert!(!lower[i + 3 + attr.len()..].starts_with('='), "inline event handler on{attr} in index.html");
    }
    // Every module app.js imports, directly or not, is served as JavaScript; none turns a
    // string into markup.
    let mut todo = vec!["app.js".to_string()];
    let mut seen = Vec::new();
    while let Some(f) = todo.pop() {
        if seen.contains(&f) {
            continue;
        }
        let r = ureq::get(&format!("{}/{f}", base())).call().unwrap_or_else(|e| panic!("{f}: {e}"));
        assert!(r.content_type() == "text/javascript", "{f}: {}", r.content_type());
        let src = r.into_string().unwrap();
        for banned in ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"] {
            assert!(!src.contains(banned), "{f} uses {banned}");
        }
        for part in src.split(" from './").skip(1) {
            todo.push(part.split('\'').next().unwrap().to_string());
        }
        seen.push(f);
    }
    assert!(seen.len() >= 10 && seen.iter().any(|f| f == "state.js"), "{seen:?}");
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
        (413, post("/api/run", "application/json", &vec![b' '; 10 << 20])),
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
    // The huge image is refused from its header, before any decoding: quickly, with its size.
    let t0 = Instant::now();
    let (_, body) = post("/api/run", "image/png", &huge_png_header());
    assert!(body["error"].as_str().unwrap().contains("100000×100000"), "{body}");
    let mut jpeg = vec![0xff, 0xd8, 0xff, 0xe0, 0, 16];
    jpeg.extend(b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0");
    jpeg.extend([0xff, 0xc0, 0, 17, 8, 0xea, 0x60, 0xea, 0x60, 3, 1, 0x11, 0, 2, 0x11, 1, 3, 0x11, 1]);
    let (code, body) = post("/api/run", "image/jpeg", &jpeg);
    assert_eq!(code, 400);
    assert!(body["error"].as_str().unwrap().contains("60000×60000"), "{body}");
    assert!(t0.elapsed() < Duration::from_secs(2));
    let (code, h) = get("/api/hyper?input=100000000&kernel=3");
    assert_eq!((code, h["ok"].as_bool()), (200, Some(false)));
    // The server is still fine.
    assert_eq!(get("/api/model").0, 200);
}

/// Sends `raw` on a fresh connection; what the server answers until it closes or `limit` passes.
fn raw(addr: &str, raw: &[u8], limit: Duration) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(limit)).unwrap();
    let _ = s.write_all(raw);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn raw_get(addr: &str, target: &str) -> String {
    raw(
        addr,
        format!("GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").as_bytes(),
        Duration::from_secs(10),
    )
}

#[test]
fn hostile_requests_are_refused() {
    let server = serve();
    let addr = server.addr();
    assert!(raw_get(addr, "/app.js").starts_with("HTTP/1.1 200"));
    // Static files are a fixed table: no path reaches the file system.
    for t in [
        "/../Cargo.toml",
        "/../../../../../../etc/passwd",
        "/%2e%2e/%2e%2e/Cargo.toml",
        "/%2E%2E%2F%2E%2E%2FCargo.toml",
        "/..%2f..%2f..%2fetc%2fpasswd",
        "//etc/passwd",
        "/etc/passwd",
        "/web/../../Cargo.toml",
        "/app.js/../../../Cargo.toml",
        "/app.js%00.html",
        "/./app.js/..",
    ] {
        let r = raw_get(addr, t);
        assert!(r.starts_with("HTTP/1.1 404"), "{t}: {r}");
        assert!(!r.contains("[package]") && !r.contains("root:"), "{t}: {r}");
    }
    for t in ["http://127.0.0.1/etc/passwd", "C:\\Windows\\win.ini", "../Cargo.toml", "*"] {
        let r = raw_get(addr, t);
        assert!(r.starts_with("HTTP/1.1 400"), "{t}: {r}");
    }
    // Only the checkpoint it was started with: no parameter names another.
    let (_, plain) = get("/api/model");
    let (_, other) = get("/api/model?checkpoint=/etc/passwd&path=../x.safetensors");
    assert_eq!(plain, other);
    // A chunked body is read like any other, within the same size limit.
    let mut big_chunked = b"POST /api/run HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..10 {
        big_chunked.extend(format!("{:x}\r\n", 1 << 20).bytes());
        big_chunked.extend(vec![b'a'; 1 << 20]);
        big_chunked.extend(b"\r\n");
    }
    big_chunked.extend(b"0\r\n\r\n");
    // hyper answers malformed or oversized heads itself, with an empty body (no "error").
    let cases: [(&str, bool, Vec<u8>); 8] = [
        ("403", true, b"GET /api/model HTTP/1.1\r\nHost: evil.example:7860\r\nConnection: close\r\n\r\n".to_vec()),
        ("431", false, format!("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: {}\r\n\r\n", "a".repeat(20_000)).into_bytes()),
        ("400", true, b"POST /api/run HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n".to_vec()),
        ("413", true, big_chunked),
        ("413", true, b"POST /api/run HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000000000\r\nExpect: 100-continue\r\n\r\n".to_vec()),
        ("405", true, b"DELETE /api/model HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".to_vec()),
        ("400", false, b"GET / HTTP/2.0\r\nHost: 127.0.0.1\r\n\r\n".to_vec()),
        ("400", false, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nbad header\r\n\r\n".to_vec()),
    ];
    for (want, json, req) in cases {
        let t0 = Instant::now();
        let r = raw(addr, &req, Duration::from_secs(10));
        assert!(r.starts_with(&format!("HTTP/1.1 {want}")), "want {want}: {}", &r[..r.len().min(300)]);
        assert!((!json || r.contains("\"error\":")) && !r.contains("100 Continue"), "{r}");
        assert!(t0.elapsed() < Duration::from_secs(5), "want {want}: answered after {:?}", t0.elapsed());
    }
    assert_eq!(get("/api/model").0, 200);
}

#[test]
fn idle_and_slow_clients_do_not_tie_it_up() {
    let server =
        Server::start_with(&setup().checkpoint, &["--threads", "2", "--request-timeout", "2", "--idle-timeout", "2"]);
    URL.with(|u| *u.borrow_mut() = server.url.clone());
    let addr = server.addr().to_string();
    // Many idle connections (far more than the 2 computing threads), a client sending its
    // head one byte per second (slowloris) and one whose body stops half way.
    let idle: Vec<TcpStream> = (0..40).map(|_| TcpStream::connect(&addr).unwrap()).collect();
    let slow = {
        let addr = addr.clone();
        std::thread::spawn(move || {
            let mut s = TcpStream::connect(&addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
            let t0 = Instant::now();
            let mut answer = Vec::new();
            for b in b"GET /api/model HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaa\r\n\r\n" {
                if s.write_all(&[*b]).is_err() {
                    break;
                }
                let mut buf = [0u8; 512];
                if let Ok(n) = s.read(&mut buf) {
                    answer.extend_from_slice(&buf[..n]);
                    break;
                }
            }
            (String::from_utf8_lossy(&answer).into_owned(), t0.elapsed())
        })
    };
    let stalled = {
        let addr = addr.clone();
        std::thread::spawn(move || {
            raw(&addr, b"POST /api/run HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"sam", Duration::from_secs(10))
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    for i in 0..3 {
        let t0 = Instant::now();
        assert_eq!(get("/api/model").0, 200);
        let (code, r) = post("/api/run?maps=4", "application/json", format!("{{\"sample\": {i}}}").as_bytes());
        assert_eq!(code, 200, "{r}");
        assert!(
            t0.elapsed() < Duration::from_secs(3),
            "normal requests took {:?} beside idle and slow clients",
            t0.elapsed()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let (answer, took) = slow.join().unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "slowloris got {answer:?} after {took:?}");
    assert!(took < Duration::from_secs(6), "{took:?}");
    assert!(stalled.join().unwrap().starts_with("HTTP/1.1 408"));
    // Idle connections are closed by the server after --idle-timeout.
    for mut c in idle.into_iter().take(3) {
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        assert_eq!(c.read(&mut [0u8; 16]).unwrap(), 0);
    }
    assert_eq!(get("/api/model").0, 200);
}

#[test]
fn remote_hosts_need_allow_remote() {
    let ck = s(&setup().checkpoint);
    assert_user_error(
        &["explain", "--checkpoint", &ck, "--host", "0.0.0.0", "--port", "0"],
        &["--allow-remote", "not a loopback address"],
    );
    assert_user_error(&["explain", "--checkpoint", &ck, "--request-timeout", "0"], &["--request-timeout"]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_convlab"))
        .args(["explain", "--checkpoint", &ck, "--host", "0.0.0.0", "--port", "0", "--allow-remote"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut warning = String::new();
    BufReader::new(child.stderr.take().unwrap()).read_line(&mut warning).unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(warning.starts_with("warning:") && warning.contains("no login"), "{warning}");
    assert!(line.contains("http://0.0.0.0:"), "{line}");
}

/// Every file under `dir` with its size and modification time.
fn listing(dir: &Path) -> Vec<(PathBuf, u64, std::time::SystemTime)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let m = e.metadata().unwrap();
        if m.is_dir() {
            out.extend(listing(&e.path()));
        } else {
            out.push((e.path(), m.len(), m.modified().unwrap()));
        }
    }
    out.sort();
    out
}

/// The load test: `clients` clients for `secs` seconds, each mixing the page, runs of test
/// images, convolution details and image uploads, on kept-alive connections and (every 5th
/// request) a fresh one; every answer is checked. `CONVLAB_EXPLAIN_LOAD=full` runs 100
/// clients for 60 s; `CONVLAB_EXPLAIN_LOAD_CLIENTS` and `CONVLAB_EXPLAIN_LOAD_SECS` set
/// either (CI default: 30 clients, 4 s). Prints the request count and the server's peak
/// memory (VmHWM).
#[test]
fn load_many_clients_mixed_requests() {
    let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<f64>().ok());
    let full = std::env::var("CONVLAB_EXPLAIN_LOAD").is_ok_and(|v| v == "full");
    let clients = env("CONVLAB_EXPLAIN_LOAD_CLIENTS").unwrap_or(if full { 100.0 } else { 30.0 }) as usize;
    let secs = env("CONVLAB_EXPLAIN_LOAD_SECS").unwrap_or(if full { 60.0 } else { 4.0 });
    let st = setup();
    let before = listing(st.checkpoint.parent().unwrap());
    let server = serve();
    let url = server.url.clone();
    let want: Vec<Vec<f32>> =
        (0..10).map(|i| floats(&st.local.run(&InputSource::Sample(i), 4).unwrap()["probs"])).collect();
    let pngs: Vec<(Vec<u8>, Vec<f32>)> = (0..3u32)
        .map(|k| {
            let img =
                image::GrayImage::from_fn(32 + 8 * k, 28, |x, y| image::Luma([((x * (k + 3) + y * 5) % 256) as u8]));
            let mut png = Vec::new();
            image::DynamicImage::ImageLuma8(img)
                .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
                .unwrap();
            let p = floats(&st.local.run(&InputSource::Image(png.clone()), 4).unwrap()["probs"]);
            (png, p)
        })
        .collect();
    let failures = AtomicUsize::new(0);
    let first_failures = Mutex::new(Vec::<String>::new());
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let counts: Vec<usize> = std::thread::scope(|sc| {
        let handles: Vec<_> = (0..clients)
            .map(|t| {
                let (want, pngs, url, failures, first_failures) = (&want, &pngs, &url, &failures, &first_failures);
                sc.spawn(move || {
                    let agent = || ureq::AgentBuilder::new().timeout(Duration::from_secs(120)).build();
                    let mut kept = agent();
                    let mut n = 0;
                    while Instant::now() < deadline {
                        let a = if n % 5 == 4 { agent() } else { kept.clone() };
                        let i = (t + n) % 10;
                        let check = |r: Result<ureq::Response, ureq::Error>| -> Result<String, String> {
                            match r {
                                Ok(r) if r.status() == 200 => r.into_string().map_err(|e| e.to_string()),
                                Ok(r) => Err(format!("status {}", r.status())),
                                Err(e) => Err(e.to_string()),
                            }
                        };
                        let json = |s: &str| serde_json::from_str::<Value>(s).map_err(|e| e.to_string());
                        let outcome: Result<(), String> = (|| match n % 6 {
                            0 => {
                                let page = check(a.get(&format!("{url}/")).call())?;
                                page.contains("<title>ConvLab explainer</title>")
                                    .then_some(())
                                    .ok_or("wrong page".into())
                            }
                            1 => {
                                let r = json(&check(
                                    a.post(&format!("{url}/api/run?maps=4"))
                                        .set("Content-Type", "application/json")
                                        .send_string(&format!("{{\"sample\": {i}}}")),
                                )?)?;
                                (floats(&r["probs"]) == want[i])
                                    .then_some(())
                                    .ok_or(format!("wrong probabilities for sample {i}"))
                            }
                            2 => {
                                let r = json(&check(
                                    a.get(&format!("{url}/api/conv?input=sample:{i}&layer=0&channel={}", n % 4)).call(),
                                )?)?;
                                (r["sum_check"].as_f64().is_some_and(|v| v < 1e-5))
                                    .then_some(())
                                    .ok_or("wrong convolution detail".into())
                            }
                            3 => {
                                let (png, p) = &pngs[(t + n) % pngs.len()];
                                let r = json(&check(
                                    a.post(&format!("{url}/api/run?maps=4"))
                                        .set("Content-Type", "image/png")
                                        .send_bytes(png),
                                )?)?;
                                (floats(&r["probs"]) == *p
                                    && r["input_id"].as_str().is_some_and(|id| id.starts_with('u')))
                                .then_some(())
                                .ok_or("wrong upload answer".into())
                            }
                            4 => {
                                let js = check(a.get(&format!("{url}/overview.js")).call())?;
                                js.contains("CL.renderOverview").then_some(()).ok_or("wrong script".into())
                            }
                            _ => {
                                let r = json(&check(a.get(&format!("{url}/api/run?sample={i}&maps=2")).call())?)?;
                                (floats(&r["probs"]) == want[i])
                                    .then_some(())
                                    .ok_or(format!("wrong probabilities for sample {i}"))
                            }
                        })();
                        if let Err(e) = outcome {
                            failures.fetch_add(1, Ordering::Relaxed);
                            let mut f = first_failures.lock().unwrap();
                            if f.len() < 10 {
                                f.push(format!("client {t}, request {n} (kind {}): {e}", n % 6));
                            }
                            kept = agent();
                        }
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let total: usize = counts.iter().sum();
    let failed = failures.load(Ordering::Relaxed);
    let peak = server.peak_rss_kib().map_or("unknown".to_string(), |k| format!("{:.1} MiB", k as f64 / 1024.0));
    eprintln!("load: {clients} clients, {secs} s, {total} requests ({:.0}/s), {failed} failed, server peak memory (VmHWM) {peak}", total as f64 / secs);
    assert_eq!(failed, 0, "{:?}", first_failures.lock().unwrap());
    assert!(counts.iter().all(|&n| n > 0), "{counts:?}");
    assert_eq!(listing(st.checkpoint.parent().unwrap()), before, "the server wrote files");
    assert_eq!(get("/api/model").0, 200);
}

/// A checkpoint whose training data folder is gone (a deleted temporary folder): the
/// explainer starts without test samples and says why; a dataset asked for by name must open.
#[test]
fn a_checkpoint_whose_dataset_is_gone_starts_with_a_warning() {
    let dir = target_dir("gone-dataset");
    let _ = std::fs::remove_dir_all(&dir);
    let path = make_checkpoint(&dir, 1);
    let gone = dir.join("deleted-data");
    let (tensors, raw) = convlab::checkpoint::load_tensors(&path).unwrap();
    let mut meta = convlab::CheckpointMeta::from_metadata(&raw).unwrap();
    meta.config["dataset"] = json!("mnist");
    meta.config["data_dir"] = json!(gone.display().to_string());
    let moved = dir.join("moved.safetensors");
    convlab::checkpoint::save_tensors(&moved, &tensors, &meta.to_metadata()).unwrap();
    let opts = convlab::data::DataOptions { download: false, ..Default::default() };
    let ex = Explainer::from_checkpoint(&moved, None, &opts).unwrap();
    assert!(ex.dataset.is_none());
    assert_eq!(ex.warnings.len(), 1, "{:?}", ex.warnings);
    assert!(ex.warnings[0].contains("'mnist'") && ex.warnings[0].contains("--dataset"), "{}", ex.warnings[0]);
    assert_eq!(ex.structure()["warnings"][0], json!(ex.warnings[0]));
    let e =
        Explainer::from_checkpoint(&moved, Some("mnist"), &convlab::data::DataOptions { data_dir: Some(gone), ..opts })
            .err()
            .unwrap();
    assert!(e.to_string().contains("dataset 'mnist'"), "{e}");
}
