//! Fault tolerance of `convlab train`: `kill -9` at random moments (checkpoint writes
//! included) never leaves an unloadable checkpoint, a mismatched optimizer state or an
//! unreadable `metrics.jsonl`, and resuming after every kill ends bit-identical to an
//! uninterrupted run; a diverging loss stops with the step and the last good checkpoint (or
//! is skipped); an unwritable output folder is reported before training, and a failed write
//! keeps the previous checkpoint.
//!
//! `CONVLAB_KILLS=200` runs more kills than the default; `CONVLAB_KILL_SEED` repeats a
//! sequence of delays.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use convlab::checkpoint;
use convlab::train::metrics::{read_records, Record};
use convlab::train::state::{load_model, load_optimizer, previous_optimizer_path, read_resumable, OPTIMIZER_ID};

mod common;
use common::{convlab, s, scratch};

/// 160 training images in batches of 16: 10 steps per epoch, 3 epochs.
const RUN: [(&str, &str); 11] = [
    ("--model", "lenet5"),
    ("--dataset", "builtin"),
    ("--builtin-size", "160"),
    ("--batch-size", "16"),
    ("--optimizer", "adam"),
    ("--epochs", "3"),
    ("--log-every", "1"),
    ("--test-limit", "64"),
    ("--threads", "1"),
    ("--checkpoint-every", "2"),
    ("--workers", "1"),
];

/// `train` with [`RUN`]'s settings into `dir`, those in `over` (flag, value; or a lone flag
/// with no value, as `--skip-nonfinite`) replacing them.
fn run_args(dir: &Path, over: &[&str]) -> Vec<String> {
    let mut args = vec!["train".to_string(), "--quiet".into(), "--out".into(), s(dir)];
    for (flag, value) in RUN {
        if !over.contains(&flag) {
            args.extend([flag.to_string(), value.to_string()]);
        }
    }
    args.extend(over.iter().map(|a| a.to_string()));
    args
}

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_convlab"))
}

/// Starts a run into `dir`: fresh, or resumed from its checkpoint when there is one.
fn start(dir: &Path) -> std::process::Child {
    let ck = dir.join("checkpoint.safetensors");
    let resume = ["--resume".to_string(), s(&ck)];
    let mut cmd = bin();
    cmd.args(run_args(dir, &[])).args(if ck.exists() { &resume[..] } else { &[] });
    cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap()
}

/// Checks what a killed run left: the checkpoint (when there is one) loads with its own
/// optimizer state, and every whole line of `metrics.jsonl` is a record, in step order.
/// Returns the checkpoint's step and step within its epoch.
fn check_leftovers(dir: &Path) -> Option<(usize, usize)> {
    let metrics = dir.join("metrics.jsonl");
    if metrics.exists() {
        let (records, _torn) = read_records(&metrics).unwrap_or_else(|e| panic!("{e}"));
        assert!(records.windows(2).all(|w| w[0].step <= w[1].step), "{records:?}");
    }
    let ck = dir.join("checkpoint.safetensors");
    if !ck.exists() {
        return None;
    }
    let r = read_resumable(&ck).unwrap_or_else(|e| panic!("{e}"));
    let (model, _) = load_model(&ck).unwrap_or_else(|e| panic!("{e}"));
    let mut opt = r.config.optimizer(model.named_parameters()).unwrap();
    let id = r.checkpoint.meta.extra.get(OPTIMIZER_ID).map(String::as_str);
    assert!(id.is_some(), "no optimizer id in the checkpoint");
    load_optimizer(&ck, &mut *opt, "adam", r.state.step, id).unwrap_or_else(|e| panic!("{e}"));
    Some((r.state.step, r.state.step_in_epoch))
}

/// What must match between runs: everything but timings.
fn comparable(records: &[Record]) -> Vec<String> {
    records
        .iter()
        .map(|r| {
            format!(
                "{} {} {} {:?} {:?} {:?} {:?} {:?} {}",
                r.kind, r.step, r.epoch, r.loss, r.lr, r.train_acc, r.test_acc, r.test_loss, r.skipped_steps
            )
        })
        .collect()
}

fn tensors(path: &Path) -> Vec<(String, Vec<u32>)> {
    let (t, _) = checkpoint::load_tensors(path).unwrap();
    t.into_iter().map(|(k, v)| (k, v.to_vec().iter().map(|x| x.to_bits()).collect())).collect()
}

/// A small deterministic generator for the kill delays.
struct Lcg(u64);
impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % n.max(1)
    }
}

#[test]
fn kill_9_at_random_moments_then_resume_equals_an_uninterrupted_run() {
    let kills: usize = std::env::var("CONVLAB_KILLS").ok().and_then(|v| v.parse().ok()).unwrap_or(40);
    let seed: u64 = std::env::var("CONVLAB_KILL_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
    });
    eprintln!("kill test: {kills} kills, CONVLAB_KILL_SEED={seed}");
    let mut rng = Lcg(seed);

    // The uninterrupted run, timed: the kills fall anywhere in a run's life.
    let reference = scratch("faults", "reference");
    let t0 = Instant::now();
    let o = start(&reference).wait_with_output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let full_ms = t0.elapsed().as_millis() as u64;

    let dir = scratch("faults", "killed");
    let (mut in_write, mut mid_epoch_resumes, mut chains) = (0, 0, 0);
    for i in 0..kills {
        if check_leftovers(&dir).is_some_and(|(_, in_epoch)| in_epoch != 0) {
            mid_epoch_resumes += 1;
        }
        let mut child = start(&dir);
        // Within the first half of a run (startup, steps, checkpoint writes), so that the
        // chain makes progress but is rarely over before the kill.
        std::thread::sleep(Duration::from_millis(rng.below(full_ms / 2)));
        child.kill().unwrap();
        let o = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!err.contains("error") && !err.contains("panicked"), "run {i}: {err}");
        // A kill inside a checkpoint save leaves a temporary file or the previous optimizer state.
        let leftovers = std::fs::read_dir(&dir).unwrap().flatten().any(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            (n.contains(".tmp-") && !n.contains("probe"))
                || e.path() == previous_optimizer_path(&dir.join("checkpoint.safetensors"))
        });
        in_write += leftovers as usize;
        if check_leftovers(&dir).is_some_and(|(step, _)| step == 30) {
            // This chain of killed and resumed runs is complete: compare, start another.
            same_as_reference(&dir, &reference);
            chains += 1;
            std::fs::remove_dir_all(&dir).unwrap();
            std::fs::create_dir_all(&dir).unwrap();
        }
    }
    // Finish the last chain and compare with the uninterrupted run, bit for bit.
    let o = start(&dir).wait_with_output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    same_as_reference(&dir, &reference);
    chains += 1;
    eprintln!(
        "kill test: {kills} kills survived ({in_write} inside a checkpoint save, {mid_epoch_resumes} resumes from a mid-epoch checkpoint); {chains} chains of killed runs each ended identical to the uninterrupted run"
    );
    // The last run removed what the killed ones left behind.
    let names: Vec<String> =
        std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    assert!(!names.iter().any(|n| n.contains(".tmp-") || n.contains(".prev.") || n.contains("probe")), "{names:?}");
}

/// A finished run in `dir` has the weights, optimizer state and metrics (timings aside) of
/// the uninterrupted `reference`, bit for bit.
fn same_as_reference(dir: &Path, reference: &Path) {
    assert_eq!(check_leftovers(dir).unwrap().0, 30);
    for f in ["checkpoint.safetensors", "checkpoint.optimizer.safetensors", "best.safetensors"] {
        assert!(tensors(&dir.join(f)) == tensors(&reference.join(f)), "{f} differs from the uninterrupted run's");
    }
    let (want, _) = read_records(&reference.join("metrics.jsonl")).unwrap();
    let (got, _) = read_records(&dir.join("metrics.jsonl")).unwrap();
    assert_eq!(comparable(&got), comparable(&want));
}

/// One line of stderr with exit status 2, without a panic.
fn one_line_error(o: &Output) -> String {
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    err
}

fn train(dir: &Path, over: &[&str]) -> Output {
    let args = run_args(dir, over);
    convlab(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

#[test]
fn a_diverging_loss_stops_at_its_step_or_is_skipped() {
    let dir = scratch("faults", "diverge");
    let huge = ["--optimizer", "sgd", "--lr", "1e4", "--momentum", "0.9", "--checkpoint-every", "1", "--steps", "20"];
    let err = one_line_error(&train(&dir, &huge));
    assert!(err.contains("diverged at step") && err.contains("--skip-nonfinite"), "{err}");
    let step: usize = err.split("diverged at step ").nth(1).unwrap().split(':').next().unwrap().parse().unwrap();
    let ck = dir.join("checkpoint.safetensors");
    if step == 1 {
        assert!(err.contains("no checkpoint was saved yet"), "{err}");
    } else {
        assert!(err.contains(&format!("{} (step {})", ck.display(), step - 1)), "{err}");
        let r = read_resumable(&ck).unwrap();
        assert_eq!(r.state.step, step - 1);
        let (t, _) = checkpoint::load_tensors(&ck).unwrap();
        assert!(t.values().all(|v| v.to_vec().iter().all(|x| x.is_finite())));
    }
    // With --skip-nonfinite the run goes on; the skipped steps are counted.
    let skip = scratch("faults", "diverge-skip");
    let o = train(&skip, &[&huge[..], &["--skip-nonfinite"]].concat());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (records, _) = read_records(&skip.join("metrics.jsonl")).unwrap();
    let last = records.last().unwrap();
    assert_eq!(last.step, 20);
    assert_eq!(last.skipped_steps, 20 - (step - 1), "{records:?}");
    let steps: Vec<&Record> = records.iter().filter(|r| r.kind == "step").collect();
    assert!(steps[step - 2].loss.is_finite() && steps[step - 1].loss.is_nan(), "{steps:?}");
    let (t, _) = checkpoint::load_tensors(skip.join("checkpoint.safetensors")).unwrap();
    assert!(t.values().all(|v| v.to_vec().iter().all(|x| x.is_finite())), "a skipped step changed the weights");
}

#[test]
fn an_unwritable_output_folder_is_reported_before_training() {
    let dir = scratch("faults", "unwritable");
    let file = dir.join("a-file");
    std::fs::write(&file, "not a folder").unwrap();
    let out = file.join("run");
    let t = Instant::now();
    let err = one_line_error(&train(&out, &[]));
    assert!(err.contains(&s(&out)), "{err}");
    assert!(t.elapsed() < Duration::from_secs(20));
    // A read-only folder (only where permissions bind: not for root).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let ro = dir.join("read-only");
        std::fs::create_dir_all(&ro).unwrap();
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
        if std::fs::write(ro.join("x"), "x").is_err() {
            let err = one_line_error(&train(&ro, &[]));
            assert!(err.contains("not writable") && err.contains(&s(&ro)), "{err}");
            assert!(!ro.join("metrics.jsonl").exists());
        } else {
            eprintln!("skipping the read-only folder case: permissions do not bind this user");
        }
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

/// Runs `convlab train` with files limited to `limit` bytes (a full disk, for one process):
/// writes beyond it fail with EFBIG instead of killing the process.
#[cfg(unix)]
fn train_with_file_limit(dir: &Path, over: &[&str], limit: u64) -> Output {
    use std::os::unix::process::CommandExt;
    let mut cmd = bin();
    cmd.args(run_args(dir, over));
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let lim = libc::rlimit { rlim_cur: limit as libc::rlim_t, rlim_max: limit as libc::rlim_t };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.output().unwrap()
}

#[cfg(unix)]
#[test]
fn a_failed_checkpoint_write_keeps_the_previous_checkpoint() {
    // SGD without momentum has no optimizer state, so the model file is the one that fails;
    // Adam's optimizer file fails first.
    for (name, opt) in [
        ("model", ["--optimizer", "sgd", "--momentum", "0"]),
        ("optimizer", ["--optimizer", "adam", "--momentum", "0.9"]),
    ] {
        let dir = scratch("faults", &format!("full-{name}"));
        let first = train(&dir, &[&opt[..], &["--steps", "4"]].concat());
        assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
        let ck = dir.join("checkpoint.safetensors");
        let before = tensors(&ck);
        let o = train_with_file_limit(&dir, &[&opt[..], &["--resume", &s(&ck), "--steps", "8"]].concat(), 64 << 10);
        let err = one_line_error(&o);
        let failed = if name == "model" { "checkpoint.safetensors" } else { "checkpoint.optimizer.safetensors" };
        assert!(err.contains(&s(&dir.join(failed))) && err.to_lowercase().contains("too large"), "{err}");
        // The previous checkpoint is intact and resumable, with its own optimizer state.
        assert!(tensors(&ck) == before, "the failed write changed the checkpoint");
        let r = read_resumable(&ck).unwrap();
        assert_eq!(r.state.step, 4);
        let kind = opt[1];
        let (model, _) = load_model(&ck).unwrap();
        let mut optimizer = r.config.optimizer(model.named_parameters()).unwrap();
        load_optimizer(&ck, &mut *optimizer, kind, 4, r.checkpoint.meta.extra.get(OPTIMIZER_ID).map(String::as_str))
            .unwrap();
        let names: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.path()).collect();
        assert!(!names.iter().any(|n| s(n).contains(".tmp-")), "{names:?}");
        // And the run goes on once there is room.
        let o = train(&dir, &[&opt[..], &["--resume", &s(&ck), "--steps", "8"]].concat());
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(read_resumable(&ck).unwrap().state.step, 8);
    }
}
