//! `mpirun -np 2 convlab train` (feature `distributed`): the same losses and weights as one
//! process within a stated tolerance, a killed rank that stops the job with its rank named
//! and leaves the checkpoint loadable, a resume on two ranks; and, in a build without the
//! feature, a clear refusal under an MPI launcher. The MPI tests skip with a message when
//! `mpirun` is not installed (`.ci/run` installs Open MPI and runs them).

mod common;

#[cfg(not(feature = "distributed"))]
use std::process::Command;

#[cfg(not(feature = "distributed"))]
use common::{s, scratch};

/// Relative tolerance of the two-rank run against one process (SGD with momentum): the
/// gradients of the two halves of a batch are summed by MPI in f32 instead of in one pass
/// over the batch, so results differ by float rounding carried over the steps. (Adam divides
/// by the root of tiny second moments, which turns such rounding into visibly different
/// updates of parameters whose gradients are near zero: about 4e-4 relative after 40 steps.)
#[cfg(feature = "distributed")]
const TOLERANCE: f64 = 1e-4;

#[cfg(not(feature = "distributed"))]
#[test]
fn without_the_feature_an_mpi_launch_is_refused() {
    let out = scratch("distributed", "refused");
    let o = Command::new(env!("CARGO_BIN_EXE_convlab"))
        .args(["train", "--model", "lenet5", "--dataset", "builtin", "--steps", "1", "--out", &s(&out)])
        .env("OMPI_COMM_WORLD_SIZE", "2")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("started by an MPI launcher with 2 ranks") && err.contains("--features distributed"), "{err}");
    assert!(!out.join("checkpoint.safetensors").exists());
}

#[cfg(feature = "distributed")]
mod mpi {
    use std::path::{Path, PathBuf};
    use std::process::{Command, Output, Stdio};
    use std::time::{Duration, Instant};

    use convlab::checkpoint;
    use convlab::train::metrics::read_records;

    use super::common::{s, scratch};
    use super::TOLERANCE;

    fn mpirun() -> Option<Command> {
        let found = Command::new("mpirun")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !found {
            eprintln!("skipped: mpirun not found (Debian: apt-get install libopenmpi-dev openmpi-bin)");
            return None;
        }
        let mut c = Command::new("mpirun");
        // Root in containers and CI; two ranks even on a one-core machine.
        c.args(["--allow-run-as-root", "--oversubscribe", "-np", "2", env!("CARGO_BIN_EXE_convlab")]);
        c.env("OMPI_ALLOW_RUN_AS_ROOT", "1").env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1");
        Some(c)
    }

    fn train_args(out: &Path, epochs: usize) -> Vec<String> {
        [
            "train",
            "--model",
            "lenet5",
            "--dataset",
            "builtin",
            "--builtin-size",
            "1000",
            "--batch-size",
            "50",
            "--optimizer",
            "sgd",
            "--lr",
            "0.05",
        ]
        .iter()
        .map(|a| a.to_string())
        .chain([
            "--epochs".into(),
            epochs.to_string(),
            "--threads".into(),
            "1".into(),
            "--log-every".into(),
            "5".into(),
            "--seed".into(),
            "1".into(),
        ])
        .chain(["--quiet".into(), "--out".into(), s(out)])
        .collect()
    }

    fn check(o: &Output, what: &str) {
        assert!(
            o.status.success(),
            "{what}: {}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }

    fn max_rel_diff(a: &Path, b: &Path) -> f64 {
        let (a, b) = (checkpoint::load(a).unwrap(), checkpoint::load(b).unwrap());
        assert_eq!(a.tensors.keys().collect::<Vec<_>>(), b.tensors.keys().collect::<Vec<_>>());
        let mut worst = 0f64;
        for (name, ta) in &a.tensors {
            let (va, vb) = (ta.to_vec(), b.tensors[name].to_vec());
            let scale = va.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6) as f64;
            let d = va.iter().zip(&vb).fold(0f32, |m, (x, y)| m.max((x - y).abs())) as f64;
            worst = worst.max(d / scale);
        }
        worst
    }

    #[test]
    fn two_ranks_equal_one_process() {
        let Some(mut mpi) = mpirun() else { return };
        let (one, two) = (scratch("distributed", "one"), scratch("distributed", "two"));
        check(&Command::new(env!("CARGO_BIN_EXE_convlab")).args(train_args(&one, 2)).output().unwrap(), "one process");
        let o = mpi.args(train_args(&two, 2)).output().unwrap();
        check(&o, "two ranks");
        let w = max_rel_diff(&one.join("checkpoint.safetensors"), &two.join("checkpoint.safetensors"));
        assert!(w < TOLERANCE, "weights differ by {w:e} (relative to each tensor's largest value)");
        let (r1, _) = read_records(&one.join("metrics.jsonl")).unwrap();
        let (r2, _) = read_records(&two.join("metrics.jsonl")).unwrap();
        assert_eq!(r1.len(), r2.len(), "rank 0 alone writes the metrics, one line per record");
        for (a, b) in r1.iter().zip(&r2) {
            assert_eq!((a.kind.as_str(), a.step), (b.kind.as_str(), b.step));
            assert!(
                (a.loss - b.loss).abs() <= TOLERANCE * a.loss.abs(),
                "step {}: loss {} vs {}",
                a.step,
                a.loss,
                b.loss
            );
            assert!(b.allreduce_ms.is_some() && a.allreduce_ms.is_none());
        }
        eprintln!(
            "two ranks vs one process: weights {w:e}, final loss {} vs {}",
            r1.last().unwrap().loss,
            r2.last().unwrap().loss
        );
        // Resume on two ranks: two more epochs from the two-rank checkpoint.
        let mut resume = mpirun().unwrap();
        let o = resume
            .args(["train", "--resume", &s(&two.join("checkpoint.safetensors")), "--epochs", "3", "--quiet"])
            .output()
            .unwrap();
        check(&o, "resume on two ranks");
        let (r3, _) = read_records(&two.join("metrics.jsonl")).unwrap();
        assert_eq!(r3.iter().filter(|r| r.kind == "epoch").count(), 3);
    }

    /// The ranks (children of `mpirun`) whose environment says they are rank `rank`.
    fn rank_pids(mpirun_pid: u32, rank: &str) -> Vec<u32> {
        let mut out = Vec::new();
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else { continue };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
            let ppid: Option<u32> =
                stat.rsplit(')').next().and_then(|r| r.split_whitespace().nth(1)).and_then(|p| p.parse().ok());
            if ppid != Some(mpirun_pid) {
                continue;
            }
            let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            if env.split(|b| *b == 0).any(|kv| kv == format!("OMPI_COMM_WORLD_RANK={rank}").as_bytes()) {
                out.push(pid);
            }
        }
        out
    }

    #[test]
    fn a_killed_rank_stops_the_job_and_names_it() {
        let Some(mut mpi) = mpirun() else { return };
        let out: PathBuf = scratch("distributed", "killed");
        let mut args = train_args(&out, 50);
        args.extend(["--checkpoint-every".into(), "5".into()]);
        let child = mpi.args(&args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let start = Instant::now();
        // Kill rank 1 once a checkpoint exists.
        loop {
            assert!(start.elapsed() < Duration::from_secs(60), "no checkpoint appeared");
            if out.join("checkpoint.safetensors").exists() {
                let pids = rank_pids(child.id(), "1");
                if let Some(pid) = pids.first() {
                    unsafe_kill(*pid);
                    break;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let killed_at = Instant::now();
        let o = child.wait_with_output().unwrap();
        let waited = killed_at.elapsed();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "the job must fail: {err}");
        assert!(waited < Duration::from_secs(30), "the job took {waited:?} to stop");
        assert!(err.contains("rank 1"), "mpirun names the rank: {err}");
        let ck = checkpoint::load(out.join("checkpoint.safetensors")).expect("the last checkpoint loads");
        assert!(!ck.tensors.is_empty());
        eprintln!("job stopped {waited:?} after rank 1 was killed");
    }

    fn unsafe_kill(pid: u32) {
        let status = Command::new("kill").args(["-9", &pid.to_string()]).status().unwrap();
        assert!(status.success());
    }
}
