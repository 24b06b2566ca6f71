//! The explainer in a real browser: headless Chromium driven through chromedriver's HTTP API
//! (W3C WebDriver), against a real `convlab explain` server. Loads the page for a small trained
//! model, checks one overview column per layer, opens the convolution detail and compares the
//! number it shows with the engine's activation, switches inputs by clicking a sample and by
//! uploading a file, draws the blocks of a ResNet (resnet9_slim_cifar, untrained) as groups
//! that open on click, and saves screenshots under `target/explain-tests/browser/`. A second
//! test opens every view for a model whose names hold markup and checks that they show as
//! text, that no element or script came from them and that the page's Content-Security-Policy
//! blocks nothing the page needs.
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
    /// chromedriver and a browser, with their log and launcher in `dir`.
    fn start(driver: &Path, chromium: &Path, dir: &Path) -> Driver {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let log = dir.join("chromedriver.log");
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let chromium = niced_launcher(chromium, dir);
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
    /// Runs `source` in every page this browser opens from now on, before the page's scripts
    /// (Chrome DevTools' `Page.addScriptToEvaluateOnNewDocument`, which the page's
    /// Content-Security-Policy does not govern).
    fn before_every_page(&self, source: &str) {
        let cmd = json!({ "cmd": "Page.addScriptToEvaluateOnNewDocument", "params": { "source": source } });
        call("POST", &self.url("/goog/cdp/execute"), Some(cmd));
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
    let d = Driver::start(&driver, &chromium, &dir);
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

/// Class names with markup, as a checkpoint's metadata may hold them.
const HOSTILE_CLASSES: [&str; 4] = [
    r#"<img src=x onerror="window.__pwned=1">"#,
    "<b>bold</b>",
    r#""><script>window.__pwned=2</script>"#,
    "<svg onload=window.__pwned=3>&amp;",
];
/// A folder name with markup: the dataset's name (`folder:<path>`) holds it.
const HOSTILE_FOLDER: &str = "<img src=x onerror=window.__pwned=4>";
/// A file name with markup, for an upload.
const HOSTILE_FILE: &str = "<img src=x onerror=window.__pwned=5>.png";

/// Installed before the page's scripts: records Content-Security-Policy violations and script
/// errors, and puts markup into the strings of the server's answers that a checkpoint cannot
/// carry (the model is rebuilt from its spec, whose layers are numbered): the model's name,
/// layer names and settings, Grad-CAM's and the filters' layer, and two error messages.
const PAGE_PROBE: &str = r#"
window.__csp = []; window.__errors = [];
document.addEventListener('securitypolicyviolation', e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));
window.addEventListener('error', e => window.__errors.push(String(e.message)));
window.addEventListener('unhandledrejection', e => window.__errors.push(String(e.reason)));
const H = {
  layer: '<img src=x onerror="window.__pwned=6">',
  describe: '<b>bold</b>"><script>window.__pwned=7</script>',
  model: '<img src=x onerror="window.__pwned=8">model ',
  error: '<img src=x onerror="window.__pwned=9">error',
};
const rename = list => { for (const n of list) { n.path = H.layer + n.path; n.describe = H.describe; if (n.children) rename(n.children); } };
const rewrite = {
  '/api/model': j => { j.model = H.model + j.model; rename(j.layers); },
  '/api/detail': j => { j.describe = H.describe; },
  '/api/filters': j => { if (j) j.layer = H.layer + j.layer; },
  '/api/attribution': (j, url) => url.includes('method=guided') ? { status: 400, body: { error: H.error } } : void (j.layer = j.layer && H.layer + j.layer),
  '/api/hyper': (j, url) => url.includes('kernel=9') ? { status: 200, body: { ok: false, error: H.error } } : undefined,
};
const fetched = window.fetch;
window.fetch = async (...args) => {
  const r = await fetched(...args);
  const url = String(args[0]);
  const f = rewrite[url.split('?')[0]];
  if (!f || !r.ok) return r;
  const j = await r.json();
  const swap = f(j, url);
  const out = swap || { status: r.status, body: j };
  return new Response(JSON.stringify(out.body), { status: out.status, headers: { 'Content-Type': 'application/json' } });
};
"#;

/// An untrained model with a GELU, a Softplus (β = 2), dropout, max and average pooling
/// (padding, only inputs counted), over a folder of 16×16 images in 4 classes, saved with markup as class
/// names; its output always favours class 0, so the test images of the others are mistakes.
fn hostile_checkpoint(dir: &Path) -> PathBuf {
    let root = dir.join(HOSTILE_FOLDER);
    let _ = std::fs::remove_dir_all(&root);
    for (split, n) in [("train", 1u32), ("test", 3)] {
        for c in 0..4u32 {
            let class = root.join(split).join(format!("c{c}"));
            std::fs::create_dir_all(&class).unwrap();
            for k in 0..n {
                let img = image::GrayImage::from_fn(16, 16, |x, y| {
                    image::Luma([if (x + c * 3 + k) % 7 < 3 || (y * (c + 1)) % 5 == 0 { 230 } else { 20 }])
                });
                img.save(class.join(format!("{k}.png"))).unwrap();
            }
        }
    }
    let spec = "input(1,16,16) conv(3,3,padding=1) gelu maxpool(2) conv(4,3,padding=1) softplus(2) dropout(0.25) avgpool(3,stride=2,padding=1,count_include_pad=false) flatten linear(4)";
    let m = resolve_model(spec, Some(1), Some(4), None, 11).unwrap();
    let (_, bias) = m.module.named_parameters().into_iter().find(|(n, _)| n == "8.bias").unwrap();
    bias.set_data(vec![50.0, 0.0, 0.0, 0.0]);
    let meta = CheckpointMeta {
        class_names: HOSTILE_CLASSES.iter().map(|s| s.to_string()).collect(),
        ..CheckpointMeta::new(
            &m.description,
            json!({ "in_channels": 1, "num_classes": 4, "dataset": root.to_string_lossy() }),
        )
    };
    let path = dir.join("hostile.safetensors");
    checkpoint::save(&path, &*m.module, &meta).unwrap();
    let metrics: String = (1..=5)
        .map(|s| format!("{{\"step\":{s},\"<img src=x onerror=window.__pwned=10>loss\":{}}}\n", 1.0 / s as f64))
        .collect();
    std::fs::write(dir.join("metrics.jsonl"), metrics).unwrap();
    path
}

/// Dispatches a mouse move over the middle of every element matching `css`; returns the
/// tooltip's text after each.
fn hover_all(d: &Driver, css: &str) -> Vec<String> {
    let v = d.js(&format!(
        "return [...document.querySelectorAll({css:?})].map(e => {{ e.scrollIntoView({{block: 'center'}}); const r = e.getBoundingClientRect(); e.dispatchEvent(new MouseEvent('mousemove', {{ clientX: r.left + r.width / 2, clientY: r.top + r.height / 2, bubbles: true }})); const t = document.getElementById('tooltip'); return t.hidden ? '' : t.textContent; }})"
    ));
    v.as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_string()).collect()
}

fn text_of(d: &Driver, css: &str) -> String {
    d.js(&format!("const e = document.querySelector({css:?}); return e ? e.innerText : ''"))
        .as_str()
        .unwrap()
        .to_string()
}

/// Opens a detail by clicking `css` and waits for its title to start with `title`.
fn open_detail(d: &Driver, css: &str, title: &str) -> String {
    d.click(css);
    d.wait(title, &format!("return document.getElementById('detail-title').textContent.startsWith({title:?})"));
    text_of(d, "#detail")
}

#[test]
fn markup_in_names_reaches_the_page_as_text() {
    let (Some(driver), Some(chromium)) = (
        find_binary("CHROMEDRIVER", &["chromedriver"]),
        find_binary("CHROMIUM", &["chromium", "chromium-browser", "google-chrome"]),
    ) else {
        eprintln!("SKIPPED: chromedriver or chromium not found (install Debian's chromium and chromium-driver, as .ci/run does)");
        return;
    };
    let dir = target_dir("browser-hostile");
    let ck = hostile_checkpoint(&dir);
    let server = Server::start(&ck);
    let d = Driver::start(&driver, &chromium, &dir);
    d.before_every_page(PAGE_PROBE);
    d.go(&format!("{}/", server.url));
    d.wait("the overview", "return document.querySelectorAll('#network .column[data-layer]').length === 9 && document.getElementById('status').textContent.includes('test image 0')");

    // The header, the samples, the overview's columns and output, and their tooltips.
    let info = text_of(&d, "#model-info");
    assert!(
        info.contains(HOSTILE_FOLDER) && info.contains(r#"<img src=x onerror="window.__pwned=8">model input(1,16,16)"#),
        "{info}"
    );
    let thumbs = d.js("return [...document.querySelectorAll('#samples .thumb')].map(t => t.textContent + ' | ' + t.title).join('\\n')");
    assert!(thumbs.as_str().unwrap().contains(HOSTILE_CLASSES[0]), "{thumbs}");
    d.click("#show-detail");
    let network = text_of(&d, "#network");
    for want in [
        r#"<img src=x onerror="window.__pwned=6">0 · Conv2d"#,
        "<b>bold</b>\"><script>",
        HOSTILE_CLASSES[2],
        HOSTILE_CLASSES[3],
    ] {
        assert!(network.contains(want), "overview lacks {want}: {network}");
    }
    let tips =
        [hover_all(&d, "#network .column[data-layer='1'] canvas.map"), hover_all(&d, "#network .out-row")].concat();
    assert!(tips.iter().any(|t| t.starts_with(r#"<img src=x onerror="window.__pwned=6">1 GELU"#)), "{tips:?}");
    for c in HOSTILE_CLASSES {
        assert!(tips.iter().any(|t| t.starts_with(c)), "no tooltip names {c}: {tips:?}");
    }

    // Every kind of detail, each with the engine's settings.
    let conv = open_detail(&d, "#network .column[data-layer='0'] canvas.map", "Convolution");
    assert!(conv.contains(r#"Convolution: <img src=x onerror="window.__pwned=6">0, output channel 0"#), "{conv}");
    d.wait("the dot product", "return !!document.getElementById('dot-output')");
    let gelu = open_detail(&d, "#network .column[data-layer='1'] canvas.map", "GELU");
    assert!(gelu.contains("GELU(approximate='none'): y = 0.5·x·(1 + erf(x / √2))"), "{gelu}");
    let max = open_detail(&d, "#network .column[data-layer='2'] canvas.map:nth-of-type(2)", "MaxPool2d");
    assert!(max.contains("kernel 2×2, stride 2×2") && max.contains("max("), "{max}");
    let softplus = open_detail(&d, "#network .column[data-layer='4'] canvas.map", "Softplus");
    assert!(softplus.contains("Softplus(beta=2, threshold=20): y = 2·x > 20 ? x : log(1 + e^(2·x)) / 2"), "{softplus}");
    let dropout = open_detail(&d, "#network .column[data-layer='5'] canvas.map", "Dropout");
    assert!(dropout.contains("(Dropout <b>bold</b>\"><script>window.__pwned=7</script>)"), "{dropout}");
    let avg = open_detail(&d, "#network .column[data-layer='6'] canvas.map", "AvgPool2d");
    assert!(
        avg.contains("padding top/bottom/left/right 1/1/1/1") && avg.contains("only inputs count in the divisor"),
        "{avg}"
    );
    assert!(avg.contains(") / 4 = "), "a corner window of 2×2 inputs: {avg}");
    let flatten = open_detail(&d, "#network .column[data-layer='7'] canvas.strip", "Flatten");
    assert!(flatten.starts_with(r#"Flatten: <img src=x onerror="window.__pwned=6">7"#), "{flatten}");
    let dense = open_detail(&d, "#network .out-row[data-cls='2']", "Dense");
    d.wait("the softmax", "return !!document.getElementById('softmax-p')");
    assert!(
        dense.starts_with(&format!("Dense <img src=x onerror=\"window.__pwned=6\">8: class {}", HOSTILE_CLASSES[2])),
        "{dense}"
    );
    let softmax = text_of(&d, "#detail table.softmax");
    for c in HOSTILE_CLASSES {
        assert!(softmax.contains(c), "the softmax table lacks {c}: {softmax}");
    }
    assert!(softmax.contains("<img src=x"));

    // Attribution (three methods, one answered with an error), the filters, the confusion
    // matrix and its mistakes, the playground's error, an upload with a hostile file name.
    let options =
        d.js("return [...document.querySelectorAll('#attr-class option')].map(o => o.textContent).join('\\n')");
    assert!(HOSTILE_CLASSES.iter().all(|c| options.as_str().unwrap().contains(c)), "{options}");
    d.wait(
        "saliency",
        &format!(
            "return document.getElementById('attribution').textContent.includes({:?})",
            format!("saliency for \"{}\"", HOSTILE_CLASSES[0])
        ),
    );
    for (method, want) in [
        ("gradcam", r#"Grad-CAM at <img src=x onerror="window.__pwned=6">"#),
        ("guided", r#"<img src=x onerror="window.__pwned=9">error"#),
    ] {
        d.js(&format!("document.getElementById('attr-method').value = '{method}'; document.getElementById('attr-method').onchange()"));
        d.wait(method, &format!("return document.getElementById('attribution').innerText.includes({want:?})"));
    }
    let filters = d.js("return [...document.querySelectorAll('#filters canvas')].map(c => c.title).join('\\n')");
    assert!(filters.as_str().unwrap().contains(r#"of <img src=x onerror="window.__pwned=6">0"#), "{filters}");
    d.wait("the training curve", "return document.querySelectorAll('#curves canvas').length === 1");
    d.click("#confusion-run");
    d.wait("the confusion matrix", "return !!document.querySelector('table.confusion') && document.querySelectorAll('#confusion a[data-i]').length > 0");
    let confusion = text_of(&d, "#confusion");
    for c in HOSTILE_CLASSES {
        assert!(
            confusion.contains(&format!("\n{c}")) || confusion.contains(&format!("\t{c}")),
            "the matrix lacks {c}: {confusion}"
        );
    }
    let mistakes =
        d.js("return [...document.querySelectorAll('#confusion a[data-i]')].map(a => a.textContent).join('\\n')");
    assert!(
        mistakes.as_str().unwrap().contains(&format!("{}→{}", HOSTILE_CLASSES[1], HOSTILE_CLASSES[0])),
        "{mistakes}"
    );
    d.js("const k = document.getElementById('pg-kernel'); k.value = 9; k.oninput()");
    d.wait("the playground's error", "return document.getElementById('pg-formula').innerText === 'Not possible: <img src=x onerror=\"window.__pwned=9\">error'");
    let png = dir.join(HOSTILE_FILE);
    image::GrayImage::from_fn(20, 20, |x, _| image::Luma([(x * 12) as u8]))
        .save_with_format(&png, image::ImageFormat::Png)
        .unwrap();
    let e = d.find("#upload");
    call("POST", &d.url(&format!("/element/{e}/value")), Some(json!({ "text": png.to_string_lossy() })));
    d.wait("the upload", &format!("return document.getElementById('status').textContent === {HOSTILE_FILE:?}"));
    d.click("#confusion a[data-i]");
    d.wait(
        "a mistake's input",
        "return document.getElementById('status').textContent.includes('(true class: <b>bold</b>)')",
    );
    d.screenshot(None, &dir.join("hostile_page.png"));

    // Nothing came from those strings but text: no element, no script, no handler.
    let injected = d.js(
        r#"return {
          pwned: typeof window.__pwned,
          img: document.querySelectorAll('img').length,
          svg: [...document.querySelectorAll('svg')].map(s => s.id).join(','),
          bold: [...document.querySelectorAll('b')].filter(b => b.textContent === 'bold').length,
          scripts: [...document.querySelectorAll('script')].map(s => s.type + ' ' + s.getAttribute('src')).join(','),
          handlers: [...document.querySelectorAll('*')].flatMap(e => [...e.attributes].filter(a => a.name.startsWith('on')).map(a => e.tagName + ' ' + a.name)),
          csp: window.__csp,
          errors: window.__errors,
          status: document.getElementById('status').className,
        }"#,
    );
    assert_eq!(
        injected,
        json!({ "pwned": "undefined", "img": 0, "svg": "edges", "bold": 0, "scripts": "module /app.js", "handlers": [], "csp": [], "errors": [], "status": "" })
    );
}
