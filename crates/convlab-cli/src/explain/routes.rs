//! The explainer's HTTP routes: the embedded page and the JSON API.
//!
//! | route | answer |
//! |---|---|
//! | `GET /`, `/app.js`, ... | the page (embedded files: `index.html`, `style.css` and the ES modules in `SCRIPTS`) |
//! | `GET /api/model` | layers, shapes, kinds, settings, class names |
//! | `GET /api/samples?offset=&count=` | test images with labels |
//! | `POST /api/run?maps=N` | body: `{"sample": i}`, `{"pixels": [...], "shape": [C,H,W]}` or PNG/JPEG bytes |
//! | `GET /api/run?sample=i&maps=N` | the same for a sample |
//! | `GET /api/layer?input=&layer=&offset=&count=` | more maps of a wide layer |
//! | `GET /api/detail?input=&layer=&channel=&cin_offset=&cin_count=` | one neuron's arithmetic (`/api/conv` too) |
//! | `GET /api/attribution?input=&method=saliency\|guided\|gradcam&class=&layer=` | class attribution |
//! | `GET /api/filters`, `/api/metrics`, `/api/confusion` | first-layer kernels, training log, confusion matrix |
//! | `GET /api/hyper?input=&kernel=&padding=&stride=&dilation=&mode=` | the playground's arithmetic |
//!
//! Errors are `{"error": "..."}` with 400 (bad input), 404 (unknown route), 405, 413 (too
//! large) or 500 (a failure inside the engine, caught); the HTTP layer ([`super::http`]) adds
//! 403, 408, 417, 431 and 503.
//!
//! Only embedded files are served: a path is looked up in a fixed table, never joined to a
//! folder, so `..`, `%2e%2e` or absolute paths name nothing. No route takes a file name and
//! no route writes a file: the model is the checkpoint given on the command line, uploads
//! are decoded in memory.

use convlab::explain::{hyper, Explainer, HyperQuery, InputSource, MAX_IMAGE_BYTES};
use serde_json::Value;

use super::http::{Request, Response};

/// The largest request body: an image, or the JSON pixels of a drawing.
pub const MAX_BODY: usize = MAX_IMAGE_BYTES + (1 << 20);

const INDEX: &str = include_str!("../../web/index.html");
const STYLE: &str = include_str!("../../web/style.css");
/// The page's ES modules (`app.js` imports the others), served as `text/javascript`.
const SCRIPTS: [(&str, &str); 17] = [
    ("/app.js", include_str!("../../web/app.js")),
    ("/state.js", include_str!("../../web/state.js")),
    ("/api.js", include_str!("../../web/api.js")),
    ("/dom.js", include_str!("../../web/dom.js")),
    ("/draw.js", include_str!("../../web/draw.js")),
    ("/inputs.js", include_str!("../../web/inputs.js")),
    ("/overview.js", include_str!("../../web/overview.js")),
    ("/detail.js", include_str!("../../web/detail.js")),
    ("/conv.js", include_str!("../../web/conv.js")),
    ("/maps.js", include_str!("../../web/maps.js")),
    ("/activation.js", include_str!("../../web/activation.js")),
    ("/pool.js", include_str!("../../web/pool.js")),
    ("/dense.js", include_str!("../../web/dense.js")),
    ("/playground.js", include_str!("../../web/playground.js")),
    ("/beyond.js", include_str!("../../web/beyond.js")),
    ("/attribution.js", include_str!("../../web/attribution.js")),
    ("/confusion.js", include_str!("../../web/confusion.js")),
];

type Reply = Response;

fn json_reply(status: u16, v: &Value) -> Reply {
    Reply { status, content_type: "application/json", body: serde_json::to_vec(v).unwrap_or_default() }
}

fn error(status: u16, msg: impl std::fmt::Display) -> Reply {
    Response::error(status, msg)
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

struct Query(Vec<(String, String)>);

impl Query {
    fn parse(q: &str) -> Query {
        Query(
            q.split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    (percent_decode(k), percent_decode(v))
                })
                .collect(),
        )
    }
    fn get(&self, k: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
    }
    fn req(&self, k: &str) -> Result<&str, Reply> {
        self.get(k).ok_or_else(|| error(400, format!("missing parameter '{k}'")))
    }
    fn num(&self, k: &str, default: usize) -> Result<usize, Reply> {
        match self.get(k) {
            None | Some("") => Ok(default),
            Some(v) => {
                v.parse().map_err(|_| error(400, format!("parameter '{k}' must be a non-negative integer, got '{v}'")))
            }
        }
    }
    fn opt_num(&self, k: &str) -> Result<Option<usize>, Reply> {
        match self.get(k) {
            None | Some("") => Ok(None),
            Some(_) => self.num(k, 0).map(Some),
        }
    }
}

fn engine(r: Result<Value, convlab::Error>) -> Reply {
    match r {
        Ok(v) => json_reply(200, &v),
        Err(e) => error(400, e),
    }
}

/// The input of `POST /api/run`.
fn run_source(req: &Request) -> Result<InputSource, Reply> {
    let json = req.header("Content-Type").unwrap_or_default().to_ascii_lowercase().starts_with("application/json");
    InputSource::from_request(json, &req.body).map_err(|msg| error(400, msg))
}

fn route(ex: &Explainer, req: &Request) -> Reply {
    let (path, q) = req.target.split_once('?').unwrap_or((&req.target, ""));
    let q = Query::parse(q);
    let method = req.method.as_str();
    let r = (|| -> Result<Reply, Reply> {
        if method == "POST" && path == "/api/run" {
            let src = run_source(req)?;
            return Ok(engine(ex.run(&src, q.num("maps", 16)?)));
        }
        if method != "GET" && method != "HEAD" {
            return Err(error(405, format!("{method} is not supported here")));
        }
        Ok(match path {
            "/" | "/index.html" => Reply { status: 200, content_type: "text/html; charset=utf-8", body: INDEX.into() },
            "/style.css" => Reply { status: 200, content_type: "text/css; charset=utf-8", body: STYLE.into() },
            p if p.ends_with(".js") && SCRIPTS.iter().any(|(n, _)| *n == p) => {
                let src = SCRIPTS.iter().find(|(n, _)| *n == p).map(|(_, s)| *s).unwrap_or("");
                Reply { status: 200, content_type: "text/javascript; charset=utf-8", body: src.into() }
            }
            "/api/model" => json_reply(200, &ex.structure()),
            "/api/samples" => engine(ex.samples(q.num("offset", 0)?, q.num("count", 10)?)),
            "/api/run" => engine(ex.run(&InputSource::Sample(q.num("sample", 0)?), q.num("maps", 16)?)),
            "/api/layer" => {
                engine(ex.layer_maps(q.req("input")?, q.req("layer")?, q.num("offset", 0)?, q.num("count", 16)?))
            }
            "/api/detail" | "/api/conv" => engine(ex.detail(
                q.req("input")?,
                q.req("layer")?,
                q.num("channel", 0)?,
                q.num("cin_offset", 0)?,
                q.num("cin_count", 16)?,
            )),
            "/api/attribution" => engine(ex.attribution(
                q.req("input")?,
                q.get("method").unwrap_or("saliency"),
                q.opt_num("class")?,
                q.get("layer").filter(|l| !l.is_empty()),
            )),
            "/api/filters" => json_reply(200, &ex.filters()),
            "/api/metrics" => engine(ex.metrics()),
            "/api/confusion" => engine(ex.confusion(q.num("limit", 500)?.min(2000))),
            "/api/hyper" => {
                let d = HyperQuery::default();
                json_reply(
                    200,
                    &hyper(&HyperQuery {
                        input: q.num("input", d.input)?,
                        kernel: q.num("kernel", d.kernel)?,
                        padding: q.get("padding").unwrap_or(&d.padding).to_string(),
                        stride: q.num("stride", d.stride)?,
                        dilation: q.num("dilation", d.dilation)?,
                        padding_mode: q.get("mode").unwrap_or(&d.padding_mode).to_string(),
                    }),
                )
            }
            _ => error(404, format!("no such page: {path}")),
        })
    })();
    r.unwrap_or_else(|e| e)
}

/// Answers one request; a panic inside becomes a 500 with its message.
pub fn handle(ex: &Explainer, req: &Request) -> Response {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| route(ex, req))).unwrap_or_else(|p| {
        let msg = p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        error(500, format!("internal error: {msg}"))
    })
}

/// Whether answering `req` computes with the model (and so waits for a free worker).
pub fn computes(req: &Request) -> bool {
    req.target.starts_with("/api/") && !req.target.starts_with("/api/hyper")
}
