//! `convlab explain`: a local web server that shows how a trained model computes.
//!
//! ```text
//! convlab explain --checkpoint runs/lenet/checkpoint.safetensors --dataset builtin
//! ```
//! serves the explainer page (plain HTML/CSS/JS embedded in the binary, no network access
//! needed) and its JSON API on `http://127.0.0.1:7860/`. The model side is
//! [`convlab::explain`]; this module routes requests ([`routes`]) over hyper's HTTP/1.1
//! server ([`http`]: a tokio task per connection, deadlines on reads and writes
//! ([`deadline`]), bounded heads and bodies), with at most `--threads` answers computed at
//! once and every failure answered as a JSON error, never a panic.
//!
//! The server listens on the loopback interface only unless `--allow-remote` is given: the
//! explainer has no login, so another address (`--host 0.0.0.0`) is refused without it and
//! warned about with it.

mod deadline;
mod http;
mod routes;

use std::io::Write;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use clap::Args;
use convlab::data::DataOptions;
use convlab::explain::Explainer;

use http::HttpConfig;

use crate::args::{DatasetArgs, TrainedArgs};

#[derive(Args, Debug)]
#[command(mut_arg("dataset", |a| a.help(
    "The dataset whose test images to offer as inputs (default: the one the checkpoint names)"
)))]
pub struct ExplainArgs {
    #[command(flatten)]
    pub trained: TrainedArgs,
    #[command(flatten)]
    pub data: DatasetArgs,
    /// Port to listen on (0: any free port).
    #[arg(long, default_value_t = 7860)]
    pub port: u16,
    /// Address to listen on; the default serves this machine only.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Allow a --host other than loopback: anyone who reaches it can use the explainer (no login).
    #[arg(long)]
    pub allow_remote: bool,
    /// Requests computed at once (more wait for their turn; connections are not limited by it).
    #[arg(long, default_value_t = 8)]
    pub threads: usize,
    /// Seconds a request may take to arrive, and a body's longest pause (then 408).
    #[arg(long, default_value_t = 10.0)]
    pub request_timeout: f64,
    /// Seconds an idle kept-alive connection stays open.
    #[arg(long, default_value_t = 15.0)]
    pub idle_timeout: f64,
    /// Open connections at most (more are answered 503).
    #[arg(long, default_value_t = 256)]
    pub max_connections: usize,
}

/// Where and how to serve.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    pub host: String,
    pub port: u16,
    pub allow_remote: bool,
    /// Requests computed at once.
    pub threads: usize,
    pub http: HttpConfig,
}

impl ServeOptions {
    /// Loopback on `port`, 8 computing threads, default limits.
    pub fn local(port: u16) -> ServeOptions {
        ServeOptions { host: "127.0.0.1".into(), port, allow_remote: false, threads: 8, http: HttpConfig::default() }
    }
}

fn seconds(name: &str, v: f64) -> Result<Duration> {
    if !(v.is_finite() && v > 0.0 && v <= 86_400.0) {
        bail!("--{name} must be a number of seconds between 0 and 86400, got {v}");
    }
    Ok(Duration::from_secs_f64(v))
}

pub fn run(args: &ExplainArgs) -> Result<()> {
    let http = HttpConfig {
        body_bytes: routes::MAX_BODY,
        request_timeout: seconds("request-timeout", args.request_timeout)?,
        idle_timeout: seconds("idle-timeout", args.idle_timeout)?,
        max_connections: args.max_connections.max(1),
        ..HttpConfig::default()
    };
    let opts = ServeOptions {
        host: args.host.clone(),
        port: args.port,
        allow_remote: args.allow_remote,
        threads: args.threads,
        http,
    };
    // Refuse a remote address before the (possibly slow) model and dataset loading.
    let addrs = resolve(&opts)?;
    let data = DataOptions {
        data_dir: args.data.data_dir.clone(),
        download: args.data.data_dir.is_none(),
        progress: true,
        ..DataOptions::default()
    };
    let ex = Explainer::from_source(&args.trained.source(), args.data.dataset.as_deref(), &data)?;
    for w in &ex.warnings {
        eprintln!("warning: {w}");
    }
    serve_on(ex, &opts, &addrs)
}

/// The addresses `opts.host:opts.port` names, checked against `--allow-remote`.
fn resolve(opts: &ServeOptions) -> Result<Vec<SocketAddr>> {
    let addrs: Vec<SocketAddr> = (opts.host.as_str(), opts.port)
        .to_socket_addrs()
        .map_err(|e| anyhow!("cannot resolve --host {}: {e}", opts.host))?
        .collect();
    if addrs.is_empty() {
        bail!("--host {} names no address", opts.host);
    }
    let remote: Vec<String> = addrs.iter().filter(|a| !a.ip().is_loopback()).map(|a| a.ip().to_string()).collect();
    if !remote.is_empty() && !opts.allow_remote {
        bail!("--host {} is not a loopback address ({}): add --allow-remote to serve other machines (the explainer has no login)", opts.host, remote.join(", "));
    }
    if !remote.is_empty() {
        eprintln!(
            "warning: serving on {} ({}): anyone who can reach this machine can use the explainer, which has no login",
            opts.host,
            remote.join(", ")
        );
    }
    Ok(addrs)
}

/// Serves `ex` with `opts` until the process ends; prints the URL first.
pub fn serve(ex: Explainer, opts: &ServeOptions) -> Result<()> {
    let addrs = resolve(opts)?;
    serve_on(ex, opts, &addrs)
}

fn serve_on(ex: Explainer, opts: &ServeOptions, addrs: &[SocketAddr]) -> Result<()> {
    let listener =
        TcpListener::bind(addrs).map_err(|e| anyhow!("cannot listen on {}:{}: {e}", opts.host, opts.port))?;
    let addr = listener.local_addr()?;
    println!("ConvLab explainer for {}: http://{addr}/", ex.description);
    std::io::stdout().flush()?;
    let mut cfg = opts.http.clone();
    cfg.loopback_hosts_only = !opts.allow_remote;
    cfg.workers = opts.threads.max(1);
    let ex = Arc::new(ex);
    http::serve(listener, &cfg, Arc::new(move |req: &http::Request| routes::handle(&ex, req)), routes::computes)?;
    Ok(())
}
