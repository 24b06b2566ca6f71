//! The explainer in a real browser: headless Chromium driven through chromedriver's HTTP API
//! (W3C WebDriver), against a real `convlab explain` server. Loads the page for a small trained
//! model, checks one overview column per layer, opens the convolution detail and compares the
//! number it shows with the engine's activation, switches inputs by clicking a sample and by
//! uploading a file, draws the blocks of a ResNet (resnet9_slim_cifar, untrained) as groups
//! that open on click, and saves screenshots under `target/explain-tests/browser/`.
//!
//! Skips (with a message) when `chromedriver` or `chromium` cannot be found; `.ci/run`
//! installs both. `CHROMEDRIVER` and `CHROMIUM` name other binaries.

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{make_checkpoint, target_dir, Server};
use convlab::checkpoint::{self, CheckpointMeta};
use convlab::explain::{Explainer, InputSource};
use convlab::spec::resolve_model;
use serde_json::{json, Value};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn find_binary(env: &str, names: &[&str]) -> Option<PathBuf> {
    if let Ok(p) = std::env::var(env) {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var("PATH").unwrap_or_default();
    names.iter().flat_map(|n| std::env::split_paths(&path).map(move |d| d.join(n))).find(|p| p.is_file())
}

/// This process's nice value (0 where /proc is missing).
fn own_nice() -> i32 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(16)?.parse().ok()).unwrap_or(0)
}

/// A launcher for `chromium` that keeps it at the test's `nice` level. Started as root,
/// chromedriver resets the nice value of the browser it starts to 0, and Chromium then raises
/// the priority of its own processes (browser and GPU process to nice -8): a test run under
/// `nice -n 19` would still have its browser compete at full priority with whatever else runs
/// on a busy machine (CI on 2 cores, or a long job beside the tests). The launcher sets the
/// test's nice value again and drops CAP_SYS_NICE with `setpriv` where it can, so that
/// Chromium cannot raise priorities; elsewhere it starts Chromium unchanged.
fn niced_launcher(chromium: &Path, dir: &Path) -> PathBuf {
    let path = dir.join("chromium-niced.sh");
    let (c, n) = (chromium.display(), own_nice().max(0));
    let script = format!(
        "#!/bin/sh\nif command -v setpriv >/dev/null 2>&1 && setpriv --bounding-set=-sys_nice true 2>/dev/null; then\n  exec nice -n {n} setpriv --bounding-set=-sys_nice -- '{c}' \"$@\"\nfi\nexec nice -n {n} '{c}' \"$@\"\n"
    );
    std::fs::write(&path, script).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    path
}

struct Driver {
    child: Child,
    base: String,
    session: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ =
            ureq::delete(&format!("{}/session/{}", self.base, self.session)).timeout(Duration::from_secs(10)).call();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn call(method: &str, url: &str, body: Option<Value>) -> Value {
    let req = ureq::request(method, url).timeout(Duration::from_secs(60));
    let r = match body {
        Some(b) => req.send_json(b),
        None => req.call(),
    };
    match r {
        Ok(r) => r.into_json::<Value>().unwrap()["value"].clone(),
        Err(ureq::Error::Status(code, r)) => panic!("{method} {url}: {code} {}", r.into_string().unwrap_or_default()),
        Err(e) => panic!("{method} {url}: {e}"),
    }
}

impl Driver {
    fn start(driver: &Path, chromium: &Path) -> Driver {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let log = target_dir("browser").join("chromedriver.log");
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let chromium = niced_launcher(chromium, &target_dir("browser"));
        let t0 = Instant::now();
        while ureq::get(&format!("{base}/status")).call().is_err() {
            assert!(t0.elapsed() < Duration::from_secs(20), "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let caps = json!({ "capabilities": { "alwaysMatch": { "browserName": "chrome", "pageLoadStrategy": "eager", "goog:chromeOptions": {
            "binary": chromium.to_string_lossy(),
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage", "--no-first-run", "--disable-extensions", "--disable-component-update", "--disable-sync", "--disable-background-timer-throttling", "--disable-renderer-backgrounding", "--disable-backgrounding-occluded-windows", "--window-size=1400,1300"],
        } } } });
        let mut d = Driver { child, base: base.clone(), session: String::new() };
        // The first start of a browser on a fresh machine can be slow: allow one retry.
        let v = match ureq::post(&format!("{base}/session")).timeout(Duration::from_secs(90)).send_json(caps.clone()) {
            Ok(r) => r.into_json::<Value>().unwrap()["value"].clone(),
            Err(e) => {
                eprintln!("starting the browser failed once ({e}); trying again");
                call("POST", &format!("{base}/session"), Some(caps))
            }
        };
        d.session = v["sessionId"].as_str().unwrap().to_string();
        d
    }
    fn url(&self, p: &str) -> String {
        format!("{}/session/{}{p}", self.base, self.session)
    }
    /// Navigates and waits until the explainer's page is there. No reload: the first load of a
    /// fresh browser must work (it once stalled on the server's connection handling, see
    /// `src/explain/http.rs`).
    fn go(&self, url: &str) {
        call("POST", &self.url("/timeouts"), Some(json!({ "pageLoad": 30000, "script": 30000 })));
        call("POST", &self.url("/url"), Some(json!({ "url": url })));
        assert!(
            self.poll(
                "return document.readyState === 'complete' && !!document.getElementById('status')",
                Duration::from_secs(30)
            ),
            "the explainer page at {url} did not load in headless Chromium"
        );
    }
    fn js(&self, script: &str) -> Value {
        call("POST", &self.url("/execute/sync"), Some(json!({ "script": script, "args": [] })))
    }
    /// Whether `script` returns something truthy within `limit`.
    fn poll(&self, script: &str, limit: Duration) -> bool {
        let t0 = Instant::now();
        while t0.elapsed() < limit {
            let v = self.js(script);
            if !v.is_null() && v != json!(false) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        false
    }
    fn wait(&self, what: &str, script: &str) -> Value {
        let t0 = Instant::now();
        loop {
            let v = self.js(script);
            if !v.is_null() && v != json!(false) {
                return v;
            }
            let errors = self
                .js("return document.getElementById('status') ? document.getElementById('status').textContent : ''");
            assert!(t0.elapsed() < Duration::from_secs(90), "timed out waiting for {what} (status: {errors})");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    fn find(&self, css: &str) -> String {
        let v = call("POST", &self.url("/element"), Some(json!({ "using": "css selector", "value": css })));
        v[ELEMENT].as_str().unwrap().to_string()
    }
    fn click(&self, css: &str) {
        let e = self.find(css);
        self.js(&format!("document.querySelector({css:?}).scrollIntoView({{block: 'center'}})"));
        call("POST", &self.url(&format!("/element/{e}/click")), Some(json!({})));
    }
    fn screenshot(&self, css: Option<&str>, path: &Path) {
        let v = match css {
            Some(c) => {
                let e = self.find(c);
                self.js(&format!("document.querySelector({c:?}).scrollIntoView({{block: 'start'}})"));
                call("GET", &self.url(&format!("/element/{e}/screenshot")), None)
            }
            None => call("GET", &self.url("/screenshot"), None),
        };
        std::fs::write(path, base64(v.as_str().unwrap())).unwrap();
    }
}

fn base64(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        _ => 63,
    };
    let b: Vec<u8> = s.bytes().filter(|c| !c.is_ascii_whitespace() && *c != b'=').map(val).collect();
    b.chunks(4)
        .flat_map(|c| {
            let n = c.iter().enumerate().fold(0u32, |a, (i, &v)| a | (v as u32) << (18 - 6 * i));
            [(n >> 16) as u8, (n >> 8) as u8, n as u8].into_iter().take(c.len() - 1)
        })
        .collect()
}

/// The engine's activation of `layer`, channel `ch`, at (i, j) for test sample `sample`.
fn activation(ex: &Explainer, sample: usize, layer: usize, ch: usize, i: usize, j: usize) -> f32 {
    let r = ex.run(&InputSource::Sample(sample), 64).unwrap();
    let l = &r["layers"][layer];
    let w = l["shape"][2].as_u64().unwrap() as usize;
    l["maps"][ch][i * w + j].as_f64().unwrap() as f32
}

/// Waits for the convolution detail and checks its displayed value at the shown position.
fn check_dot_product(d: &Driver, ex: &Explainer, sample: usize, layer: usize, ch: usize) {
    let v = d.wait(
        "the convolution detail",
        &format!("const e = document.getElementById('dot-output'); return e && e.dataset.input === 'sample:{sample}' ? [e.textContent, Number(e.dataset.i), Number(e.dataset.j)] : null"),
    );
    let (shown, i, j) = (
        v[0].as_str().unwrap().parse::<f32>().unwrap(),
        v[1].as_u64().unwrap() as usize,
        v[2].as_u64().unwrap() as usize,
    );
    let want = activation(ex, sample, layer, ch, i, j);
    assert!(
        (shown - want).abs() <= 1e-5 + 1e-5 * want.abs(),
        "sample {sample}: shown {shown} at ({i}, {j}), engine {want}"
    );
}

#[test]
fn the_page_in_headless_chromium() {
    let (Some(driver), Some(chromium)) = (
        find_binary("CHROMEDRIVER", &["chromedriver"]),
        find_binary("CHROMIUM", &["chromium", "chromium-browser", "google-chrome"]),
    ) else {
        eprintln!("SKIPPED: chromedriver or chromium not found (install Debian's chromium and chromium-driver, as .ci/run does)");
        return;
    };
    let dir = target_dir("browser");
    let ck = make_checkpoint(&dir, 30);
    let ex = Explainer::from_checkpoint(&ck, None, &convlab::data::DataOptions::default()).unwrap();
    let server = Server::start(&ck);
    let d = Driver::start(&driver, &chromium);
    d.go(&format!("{}/", server.url));

    // One overview column per layer.
    let layers = ex.structure()["layers"].as_array().unwrap().len();
    let overview = format!(
        "const n = document.querySelectorAll('#network .column[data-layer]').length; return n === {layers} ? n : null"
    );
    let cols = d.wait("the overview", &overview);
    assert_eq!(cols, json!(layers));
    d.wait("the first run", "return document.querySelectorAll('#network canvas.map').length > 20 && document.getElementById('status').textContent.includes('test image 0')");
    std::thread::sleep(Duration::from_millis(300));
    d.screenshot(None, &dir.join("page.png"));
    d.screenshot(Some("#overview"), &dir.join("overview.png"));

    // The convolution detail of the second convolution (layer 3), channel 1.
    d.click("#network .column[data-layer='3'] canvas.map:nth-of-type(2)");
    check_dot_product(&d, &ex, 0, 3, 1);
    d.click("#detail .player button"); // pause for the picture
    d.screenshot(Some("#detail"), &dir.join("conv_detail.png"));

    // Another input by clicking a sample: the detail follows it.
    d.click("#samples .thumb[data-index='3']");
    d.wait("sample 3", "return document.getElementById('status').textContent.includes('test image 3')");
    check_dot_product(&d, &ex, 3, 3, 1);

    // Activation and pooling views, the output with softmax.
    d.click("#network .column[data-layer='1'] canvas.map");
    d.wait("the activation view", "return document.getElementById('detail-title').textContent.startsWith('ReLU')");
    d.click("#detail .player button");
    d.screenshot(Some("#detail"), &dir.join("activation.png"));
    d.click("#network .column[data-layer='2'] canvas.map");
    d.wait("the pooling view", "return document.getElementById('detail-title').textContent.startsWith('MaxPool2d')");
    d.click("#detail .player button");
    d.screenshot(Some("#detail"), &dir.join("pooling.png"));
    d.click("#network .out-row[data-cls='3']");
    let p =
        d.wait("the softmax view", "const e = document.getElementById('softmax-p'); return e ? e.textContent : null");
    let probs = ex.run(&InputSource::Sample(3), 4).unwrap()["probs"][3].as_f64().unwrap();
    assert!((p.as_str().unwrap().parse::<f64>().unwrap() - probs).abs() < 1e-5);
    d.screenshot(Some("#detail"), &dir.join("dense_softmax.png"));

    // Upload a file.
    let img = image::GrayImage::from_fn(56, 56, |x, y| {
        image::Luma([if (20..36).contains(&x) && (8..48).contains(&y) { 255 } else { 0 }])
    });
    let png = dir.join("upload.png");
    img.save(&png).unwrap();
    let e = d.find("#upload");
    call("POST", &d.url(&format!("/element/{e}/value")), Some(json!({ "text": png.to_string_lossy() })));
    d.wait("the uploaded image", "return document.getElementById('status').textContent.includes('upload.png')");
    let id = d.js("return CL.run.input_id");
    assert!(id.as_str().unwrap().starts_with('u'), "{id}");
    d.screenshot(Some("#overview"), &dir.join("overview_upload.png"));

    // The playground and the views beyond CNN Explainer.
    d.screenshot(Some("#playground"), &dir.join("playground.png"));
    d.js("document.getElementById('attr-method').value = 'gradcam'; document.getElementById('attr-method').onchange()");
    d.wait("Grad-CAM", "return document.getElementById('attribution').textContent.includes('Grad-CAM')");
    d.click("#confusion-run");
    d.wait("the confusion matrix", "return !!document.querySelector('table.confusion')");
    d.screenshot(Some("#beyond"), &dir.join("beyond.png"));
    let status = d.js("return document.getElementById('status').className");
    assert_ne!(status, json!("error"));

    check_blocks(&d, &dir);
}

/// An untrained resnet9_slim_cifar saved as a checkpoint (no dataset: the page runs a blank image).
fn resnet_checkpoint(dir: &Path) -> PathBuf {
    let m = resolve_model("resnet9_slim_cifar", Some(3), Some(10), None, 3).unwrap();
    let meta = CheckpointMeta {
        class_names: (0..10).map(|i| format!("class {i}")).collect(),
        ..CheckpointMeta::new(&m.description, json!({ "in_channels": 3, "num_classes": 10 }))
    };
    let path = dir.join("resnet9_slim.safetensors");
    checkpoint::save(&path, &*m.module, &meta).unwrap();
    path
}

/// ResNet blocks are drawn as one column each, open on a click (nested blocks too), and close
/// again.
fn check_blocks(d: &Driver, dir: &Path) {
    let ck = resnet_checkpoint(dir);
    let ex = Explainer::from_checkpoint(&ck, None, &convlab::data::DataOptions::default()).unwrap();
    let top: Vec<String> =
        ex.structure()["layers"].as_array().unwrap().iter().map(|l| l["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(top, ["conv1", "conv2", "res1", "conv3", "conv4", "res2", "classifier"]);
    let server = Server::start(&ck);
    d.go(&format!("{}/", server.url));
    let columns =
        "return [...document.querySelectorAll('#network .column[data-layer]')].map(c => c.dataset.layer).join(' ')";
    // Every block is one group column, except the classifier, which is drawn as the output.
    let groups = format!("return document.querySelectorAll('#network .col-head.group').length === {} && document.querySelectorAll('#network canvas.map').length > 10", top.len() - 1);
    d.wait("the ResNet overview with one group per block", &groups);
    assert_eq!(d.js(columns), json!(top.join(" ")));
    d.click("#network .column[data-layer='res1'] .col-head");
    d.wait("res1 open", "return !!document.querySelector(\"#network .column[data-layer='res1.1']\")");
    assert_eq!(d.js(columns), json!("conv1 conv2 res1.0 res1.1 conv3 conv4 res2 classifier"));
    d.click("#network .column[data-layer='res1.0'] .col-head");
    d.wait(
        "res1.0 open",
        "return document.querySelectorAll(\"#network .column[data-layer^='res1.0.'] canvas.map\").length >= 3",
    );
    assert_eq!(d.js(columns), json!("conv1 conv2 res1.0.0 res1.0.1 res1.0.2 res1.1 conv3 conv4 res2 classifier"));
    let heads = d.js("return [...document.querySelectorAll(\"#network .column[data-layer^='res1.0.'] .col-head\")].map(h => h.firstChild.textContent.trim()).join(',')");
    assert_eq!(heads, json!("conv,batch norm,relu"));
    std::thread::sleep(Duration::from_millis(300));
    d.screenshot(Some("#overview"), &dir.join("blocks.png"));
    d.click("#network .column[data-layer='res1.0.0'] canvas.map");
    d.wait(
        "the detail of a convolution inside a block",
        "return document.getElementById('detail-title').textContent.includes('res1.0.0')",
    );
    // An open block is bracketed and named above its columns; its name closes it (with the
    // blocks inside it).
    let tags = d.js("return [...document.querySelectorAll('#network .block-tag')].map(t => t.dataset.block).join(' ')");
    assert_eq!(tags, json!("res1 res1.0"));
    d.click("#network .block-tag[data-block='res1.0']");
    d.wait(
        "res1.0 closed",
        "return !!document.querySelector(\"#network .column[data-layer='res1.0'] .col-head.group\")",
    );
    assert_eq!(d.js(columns), json!("conv1 conv2 res1.0 res1.1 conv3 conv4 res2 classifier"));
    d.click("#network .column[data-layer='res1.1'] .col-head");
    d.wait("res1.1 open", "return !!document.querySelector(\"#network .column[data-layer='res1.1.2']\")");
    d.click("#network .block-tag[data-block='res1']");
    d.wait("res1 closed", "return !document.querySelector('#network .block-tag')");
    assert_eq!(d.js(columns), json!(top.join(" ")));
    d.click("#network .column[data-layer='res1'] .col-head");
    assert_eq!(
        d.js(columns),
        json!("conv1 conv2 res1.0 res1.1 conv3 conv4 res2 classifier"),
        "inner blocks stay closed after reopening"
    );
    let status = d.js("return document.getElementById('status').className");
    assert_ne!(status, json!("error"), "{}", d.js("return document.getElementById('status').textContent"));
}
