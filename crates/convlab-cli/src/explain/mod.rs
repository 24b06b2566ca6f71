//! `convlab explain`: a local web server that shows how a trained model computes.
//!
//! ```text
//! convlab explain --checkpoint runs/lenet/checkpoint.safetensors --dataset builtin
//! ```
//! serves the explainer page (plain HTML/CSS/JS embedded in the binary, no network access
//! needed) and its JSON API on `http://127.0.0.1:7860/` (loopback unless `--host` says
//! otherwise). The model side is [`convlab::explain`]; this module only routes requests
//! ([`routes`]) over a pool of worker threads, with bounded request sizes and every failure
//! answered as a JSON error, never a panic.

mod routes;

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{anyhow, Result};
use clap::Args;
use convlab::data::DataOptions;
use convlab::explain::Explainer;

#[derive(Args, Debug)]
pub struct ExplainArgs {
    /// A checkpoint written by `convlab train` (its metadata names the model).
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// The dataset whose test images to offer as inputs (default: the one the checkpoint names).
    #[arg(long)]
    pub dataset: Option<String>,
    /// A folder that already holds the dataset's files (nothing is downloaded then).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Port to listen on (0: any free port).
    #[arg(long, default_value_t = 7860)]
    pub port: u16,
    /// Address to listen on; the default serves this machine only.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Worker threads answering requests.
    #[arg(long, default_value_t = 8)]
    pub threads: usize,
}

pub fn run(args: &ExplainArgs) -> Result<()> {
    let opts = DataOptions { data_dir: args.data_dir.clone(), download: args.data_dir.is_none(), progress: true, ..DataOptions::default() };
    let ex = Explainer::from_checkpoint(&args.checkpoint, args.dataset.as_deref(), &opts)?;
    serve(ex, &args.host, args.port, args.threads)
}

/// Serves `ex` on `host:port` until the process ends; prints the URL first.
pub fn serve(ex: Explainer, host: &str, port: u16, threads: usize) -> Result<()> {
    let server = tiny_http::Server::http((host, port)).map_err(|e| anyhow!("cannot listen on {host}:{port}: {e}"))?;
    let addr = server.server_addr().to_ip().ok_or_else(|| anyhow!("no IP address to listen on"))?;
    println!("ConvLab explainer for {}: http://{addr}/", ex.description);
    std::io::stdout().flush()?;
    let server = Arc::new(server);
    let ex = Arc::new(ex);
    let workers: Vec<_> = (0..threads.max(1))
        .map(|_| {
            let (server, ex) = (server.clone(), ex.clone());
            std::thread::spawn(move || {
                while let Ok(req) = server.recv() {
                    routes::handle(&ex, req);
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.join();
    }
    Ok(())
}
