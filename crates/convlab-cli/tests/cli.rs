//! The calculator commands, run as a user runs them.

use std::process::{Command, Output};

fn convlab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_convlab")).args(args).output().expect("the convlab binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn json_output(args: &[&str]) -> serde_json::Value {
    let mut all = args.to_vec();
    all.push("--json");
    let o = convlab(&all);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).expect("--json prints one JSON object")
}

/// Asserts a one-line error on stderr with exit status 2, containing `needle`.
fn assert_user_error(args: &[&str], needle: &str) {
    let o = convlab(args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "args {args:?}: stderr {err}");
    assert!(err.contains(needle), "args {args:?}: expected '{needle}' in {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
}

const SIX: &str = "[[2,3,1,5,2,3],[7,4,5,2,3,1],[3,9,6,0,4,2],[0,6,4,7,1,2],[4,1,0,8,0,6],[7,0,2,1,6,3]]";

#[test]
fn lecture_six_by_six_example_prints_matrix_and_arithmetic() {
    let o = convlab(&["conv2d", "--input", SIX, "--kernel", "[[1,0,1],[4,-3,2],[3,0,-1]]"]);
    assert!(o.status.success());
    let text = stdout(&o);
    assert!(text.contains("32  40  37   7"), "{text}");
    assert!(text.contains("height: (6 - 3 + 0 + 0) / 1 + 1 = 4"), "{text}");
    let v = json_output(&["conv2d", "--input", SIX, "--kernel", "[[1,0,1],[4,-3,2],[3,0,-1]]"]);
    assert_eq!(v["output"][0], serde_json::json!([32.0, 40.0, 37.0, 7.0]));
    assert_eq!(v["output_shape"], serde_json::json!([4, 4]));
}

#[test]
fn flip_gives_true_convolution() {
    let input = "[[1,1,1,1,1],[-1,0,-3,0,1],[2,1,1,-1,0],[0,-1,1,2,1],[1,2,1,1,1]]";
    let kernel = "[[1,0,0],[0,0,0],[0,0,-1]]";
    let v = json_output(&["conv2d", "--input", input, "--kernel", kernel, "--flip"]);
    assert_eq!(v["output"], serde_json::json!([[0.0, -2.0, -1.0], [2.0, 2.0, 4.0], [-1.0, 0.0, 0.0]]));
    assert_eq!(v["operation"], "convolution");
    let v = json_output(&["conv2d", "--input", input, "--kernel", kernel]);
    assert_eq!(v["output"][0], serde_json::json!([0.0, 2.0, 1.0]), "cross-correlation does not flip");
}

#[test]
fn padding_modes_stride_and_multiple_kernels() {
    // same padding with stride 2 on 5x5: ceil(5/2) = 3, P_start = 1, P_end = 1.
    let input = "[[1,2,3,4,5],[6,7,8,9,10],[11,12,13,14,15],[16,17,18,19,20],[21,22,23,24,25]]";
    let v = json_output(&[
        "conv2d",
        "--input",
        input,
        "--kernel",
        "[[0,0,0],[0,1,0],[0,0,0]]",
        "--stride",
        "2",
        "--padding",
        "same",
    ]);
    assert_eq!(v["output"], serde_json::json!([[1.0, 3.0, 5.0], [11.0, 13.0, 15.0], [21.0, 23.0, 25.0]]));
    // Edge (replicate) padding repeats the border: the top-left of a 3x3 mean starts at 1,1,2 / 1,1,2 / 6,6,7.
    let v = json_output(&[
        "conv2d",
        "--input",
        input,
        "--kernel",
        "[[1,1,1],[1,1,1],[1,1,1]]",
        "--padding",
        "1",
        "--padding-mode",
        "edge",
    ]);
    assert_eq!(v["output"][0][0], serde_json::json!(1.0 + 1.0 + 2.0 + 1.0 + 1.0 + 2.0 + 6.0 + 6.0 + 7.0));
    // full padding: output 7x7 for a 5x5 input and 3x3 kernel.
    let v = json_output(&["conv2d", "--input", input, "--kernel", "[[1,1,1],[1,1,1],[1,1,1]]", "--padding", "full"]);
    assert_eq!(v["output_shape"], serde_json::json!([7, 7]));
    assert_eq!(v["output"][0][0], serde_json::json!(1.0));
    // Two kernels over a 2-channel input, with a bias per kernel.
    let x = "[[[1,2],[3,4]],[[5,6],[7,8]]]";
    let k = "[[[[1]],[[0]]],[[[0]],[[1]]]]";
    let v = json_output(&["conv2d", "--input", x, "--kernel", k, "--bias", "[10, 20]"]);
    assert_eq!(v["output"], serde_json::json!([[[11.0, 12.0], [13.0, 14.0]], [[25.0, 26.0], [27.0, 28.0]]]));
}

#[test]
fn reads_json_from_files() {
    let dir = std::env::temp_dir().join(format!("convlab-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (i, k) = (dir.join("in.json"), dir.join("k.json"));
    std::fs::write(&i, SIX).unwrap();
    std::fs::write(&k, "[[1,0,1],[4,-3,2],[3,0,-1]]").unwrap();
    let v = json_output(&["conv2d", "--input", &format!("@{}", i.display()), "--kernel", &format!("@{}", k.display())]);
    assert_eq!(v["output"][1], serde_json::json!([5.0, 35.0, 51.0, 14.0]));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn lecture_max_pool_example() {
    let x = "[[1,1,2,0],[0,1,1,2],[0,0,1,3],[0,0,1,1]]";
    let o = convlab(&["pool2d", "--input", x, "--kernel-size", "2"]);
    assert!(o.status.success());
    assert!(stdout(&o).contains("  1 2\n  0 3\n"), "{}", stdout(&o));
    let v = json_output(&["pool2d", "--input", x, "--kernel-size", "2", "--op", "avg"]);
    assert_eq!(v["output"], serde_json::json!([[0.75, 1.25], [0.0, 1.5]]));
}

#[test]
fn bad_input_is_a_one_line_error_with_status_2() {
    assert_user_error(&["conv2d", "--input", "[[1,2],[3]]", "--kernel", "[[1]]"], "ragged");
    assert_user_error(&["conv2d", "--input", "[[1,2],[3,4]]", "--kernel", "[[1,2,3],[1,2,3],[1,2,3]]"], "does not fit");
    assert_user_error(&["conv2d", "--input", "[[1,2],[3,4]]", "--kernel", "[[1]]", "--stride", "0"], "stride");
    assert_user_error(&["conv2d", "--input", "[[1,2],[3,4]]", "--kernel", "[[1]]", "--padding", "huge"], "--padding");
    assert_user_error(
        &["conv2d", "--input", "[[1,2],[3,4]]", "--kernel", "[[1]]", "--padding-mode", "foo"],
        "padding-mode",
    );
    assert_user_error(&["conv2d", "--input", "[[1,2],[3,4]]", "--kernel", "[[1]]", "--bias", "[1,2]"], "--bias");
    assert_user_error(&["conv2d", "--input", "not json", "--kernel", "[[1]]"], "not valid JSON");
    assert_user_error(&["conv2d", "--input", "@/no/such/file.json", "--kernel", "[[1]]"], "/no/such/file.json");
    assert_user_error(&["conv2d", "--input", "[[[1,2]]]", "--kernel", "[[[1]],[[1]]]"], "channels");
    assert_user_error(
        &["conv2d", "--input", "[[1,2],[3,4]]", "--kernel", "[[1]]", "--padding", "2", "--padding-mode", "reflect"],
        "reflect",
    );
    assert_user_error(&["pool2d", "--input", "[[1,2],[3,4]]", "--kernel-size", "3"], "kernel");
    assert_user_error(&["pool2d", "--input", "[[1,2],[3,4]]", "--kernel-size", "2", "--op", "median"], "--op");
    assert_user_error(&["pool2d", "--input", "[[1,2],[3,4]]", "--kernel-size", "2", "--padding", "2"], "padding");
}

#[test]
fn empty_huge_and_overflowing_input_is_a_user_error() {
    let x = "[[1,2,3],[4,5,6],[7,8,9]]";
    assert_user_error(&["conv2d", "--input", "[]", "--kernel", "[[1]]"], "--input");
    assert_user_error(&["conv2d", "--input", "[[]]", "--kernel", "[[1]]"], "empty");
    assert_user_error(&["conv2d", "--input", "[[1e400]]", "--kernel", "[[1]]"], "not valid JSON");
    assert_user_error(&["conv2d", "--input", "[[1e39]]", "--kernel", "[[1]]"], "f32");
    assert_user_error(&["conv2d", "--input", x, "--kernel", "[[1]]", "--bias", "1e39"], "f32");
    assert_user_error(&["conv2d", "--input", "[1,2,3]", "--kernel", "[[1]]"], "1-D");
    assert_user_error(&["conv2d", "--input", "[[[[1]]]]", "--kernel", "[[1]]"], "4-D");
    assert_user_error(&["conv2d", "--input", x, "--kernel", "[[1]]", "--groups", "0"], "groups");
    assert_user_error(&["conv2d", "--input", x, "--kernel", "[[1,1],[1,1]]", "--dilation", "5"], "does not fit");
    assert_user_error(
        &["conv2d", "--input", x, "--kernel", "[[1,1],[1,1]]", "--dilation", "18446744073709551615"],
        "too large",
    );
    assert_user_error(&["conv2d", "--input", x, "--kernel", "[[1]]", "--padding", "18446744073709551615"], "too large");
    assert_user_error(&["conv2d", "--input", x, "--kernel", "[[1]]", "--padding", "100000000"], "limit");
    assert_user_error(&["pool2d", "--input", x, "--kernel-size", "18446744073709551615", "--stride", "1"], "too small");
    assert_user_error(&["pool2d", "--input", x, "--kernel-size", "2", "--dilation", "3"], "too small");
    assert_user_error(&["pool2d", "--input", x, "--kernel-size", "2", "--dilation", "2", "--op", "avg"], "dilation");
    assert_user_error(&["pool2d", "--input", "[[[[1]]]]", "--kernel-size", "1"], "4-D");
}

#[test]
fn pool_dilation_and_ceil_mode() {
    let x = "[[1,2,3,4,5],[6,7,8,9,10],[11,12,13,14,15],[16,17,18,19,20],[21,22,23,24,25]]";
    // Taps at rows/cols 0 and 2: the window's maximum is its bottom-right tap.
    let v = json_output(&["pool2d", "--input", x, "--kernel-size", "2", "--stride", "1", "--dilation", "2"]);
    assert_eq!(v["output"], serde_json::json!([[13.0, 14.0, 15.0], [18.0, 19.0, 20.0], [23.0, 24.0, 25.0]]));
    // ceil mode keeps the last, partial window: ceil((5 - 2) / 2) + 1 = 3.
    let v = json_output(&["pool2d", "--input", x, "--kernel-size", "2", "--ceil-mode"]);
    assert_eq!(v["output"], serde_json::json!([[7.0, 9.0, 10.0], [17.0, 19.0, 20.0], [22.0, 24.0, 25.0]]));
}

#[test]
fn convlab_isa_caps_the_kernels_vector_extension() {
    let run = |isa: &str| -> serde_json::Value {
        let o = Command::new(env!("CARGO_BIN_EXE_convlab"))
            .args(["bench", "--filter", "conv2d_fwd/lenet_conv1", "--quick", "--json"])
            .env("CONVLAB_ISA", isa)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        let line = out.lines().find(|l| l.contains("\"machine\"")).expect("a machine line");
        serde_json::from_str(line).unwrap()
    };
    let widest = convlab::kernels::simd::detected();
    assert_eq!(run("baseline")["kernel_isa"], "baseline");
    let avx2 = if widest >= convlab::kernels::simd::Isa::Avx2 { "avx2" } else { "baseline" };
    assert_eq!(run("avx2")["kernel_isa"], avx2);
    assert_eq!(run("no-such-isa")["kernel_isa"], widest.name());
    assert!(!run("avx512")["cpu"].as_str().unwrap().is_empty());
}
