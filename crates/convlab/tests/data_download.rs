//! Downloads against a small HTTP server on 127.0.0.1 started by the test (never the real
//! internet): verification, checksum mismatch, resuming a partial file, a server that ignores
//! ranges, a connection that breaks off, missing files.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use convlab::data::download::{fetch, sha256_hex, verify, Check};

/// Serves `body` at `/file.gz` (with `Range` support), `/norange/file.gz` (ignores ranges),
/// `/cut/file.gz` (announces the whole body, sends half, closes); 404 otherwise. Records the
/// `Range` header of every request. Serves at most 64 connections.
struct Server {
    base: String,
    ranges: Arc<Mutex<Vec<Option<String>>>>,
}

fn serve(body: Vec<u8>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let ranges = Arc::new(Mutex::new(Vec::new()));
    let log = ranges.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(64) {
            let Ok(stream) = stream else { continue };
            let _ = handle(stream, &body, &log);
        }
    });
    Server { base, ranges }
}

fn handle(mut stream: TcpStream, body: &[u8], log: &Mutex<Vec<Option<String>>>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
    let mut range = None;
    loop {
        let mut h = String::new();
        reader.read_line(&mut h)?;
        if h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("range") {
                range = Some(v.trim().to_string());
            }
        }
    }
    log.lock().unwrap().push(range.clone());
    let start = range
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.trim_end_matches('-').parse::<usize>().ok());
    let head = |status: &str, len: usize, extra: &str| {
        format!("HTTP/1.1 {status}\r\nContent-Length: {len}\r\nConnection: close\r\n{extra}\r\n")
    };
    match path.as_str() {
        "/file.gz" => match start {
            Some(s) if s >= body.len() => stream.write_all(
                head("416 Range Not Satisfiable", 0, &format!("Content-Range: bytes */{}\r\n", body.len())).as_bytes(),
            )?,
            Some(s) => {
                let extra = format!("Content-Range: bytes {s}-{}/{}\r\n", body.len() - 1, body.len());
                stream.write_all(head("206 Partial Content", body.len() - s, &extra).as_bytes())?;
                stream.write_all(&body[s..])?;
            }
            None => {
                stream.write_all(head("200 OK", body.len(), "").as_bytes())?;
                stream.write_all(body)?;
            }
        },
        "/norange/file.gz" => {
            stream.write_all(head("200 OK", body.len(), "").as_bytes())?;
            stream.write_all(body)?;
        }
        "/cut/file.gz" => {
            stream.write_all(head("200 OK", body.len(), "").as_bytes())?;
            stream.write_all(&body[..body.len() / 2])?;
        }
        _ => stream.write_all(head("404 Not Found", 0, "").as_bytes())?,
    }
    stream.flush()?;
    stream.shutdown(std::net::Shutdown::Both)
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("convlab-dl-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A gzipped payload and the SHA-256 of the .gz file and of its content, leaked to `'static`.
fn payload() -> (Vec<u8>, &'static str, &'static str) {
    use std::io::Write;
    let content: Vec<u8> = (0..300_000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(&content).unwrap();
    let gz = enc.finish().unwrap();
    let gz_hash: &'static str = Box::leak(sha256_hex(&gz[..]).unwrap().into_boxed_str());
    let content_hash: &'static str = Box::leak(sha256_hex(&content[..]).unwrap().into_boxed_str());
    (gz, gz_hash, content_hash)
}

#[test]
fn download_verifies_and_renames_atomically() {
    let (gz, gz_hash, content_hash) = payload();
    let server = serve(gz.clone());
    let dir = temp_dir("ok");
    let dest = dir.join("sub/file.gz");
    fetch(&format!("{}/file.gz", server.base), &dest, &Check::Sha256(gz_hash), false).unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), gz);
    assert!(!dir.join("sub/file.gz.part").exists());
    verify(&dest, &Check::Sha256Gunzipped(content_hash)).unwrap();
    // Present already: no request is made.
    let before = server.ranges.lock().unwrap().len();
    fetch(&format!("{}/missing.gz", server.base), &dest, &Check::Sha256(gz_hash), false).unwrap();
    assert_eq!(server.ranges.lock().unwrap().len(), before);
    // Verification of the gunzipped content.
    let dest2 = dir.join("content.gz");
    fetch(&format!("{}/file.gz", server.base), &dest2, &Check::Sha256Gunzipped(content_hash), false).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn checksum_mismatch_removes_the_partial_file() {
    let (gz, _, content_hash) = payload();
    let server = serve(gz);
    let dir = temp_dir("mismatch");
    let dest = dir.join("file.gz");
    let wrong = "ab".repeat(32);
    let wrong: &'static str = Box::leak(wrong.into_boxed_str());
    let err = fetch(&format!("{}/file.gz", server.base), &dest, &Check::Sha256(wrong), false).unwrap_err().to_string();
    assert!(err.contains("checksum mismatch") && err.contains(wrong) && err.contains("/file.gz"), "{err}");
    assert!(!dest.exists() && !dir.join("file.gz.part").exists());
    // The content hash given as the file hash does not match either.
    assert!(fetch(&format!("{}/file.gz", server.base), &dest, &Check::Sha256(content_hash), false).is_err());
    assert!(!dest.exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn resumes_from_a_partial_file() {
    let (gz, gz_hash, _) = payload();
    let server = serve(gz.clone());
    let dir = temp_dir("resume");
    let dest = dir.join("file.gz");
    let part = dir.join("file.gz.part");
    std::fs::write(&part, &gz[..10_000]).unwrap();
    fetch(&format!("{}/file.gz", server.base), &dest, &Check::Sha256(gz_hash), false).unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), gz);
    assert_eq!(server.ranges.lock().unwrap().as_slice(), &[Some("bytes=10000-".to_string())]);
    assert!(!part.exists());

    // A complete .part (the rename did not happen): the server answers 416, the file verifies.
    let dest = dir.join("again.gz");
    std::fs::write(dir.join("again.gz.part"), &gz).unwrap();
    fetch(&format!("{}/file.gz", server.base), &dest, &Check::Sha256(gz_hash), false).unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), gz);

    // A server that ignores the range sends everything again: the part file starts over.
    let dest = dir.join("norange.gz");
    std::fs::write(dir.join("norange.gz.part"), b"garbage that is not the start of the file").unwrap();
    fetch(&format!("{}/norange/file.gz", server.base), &dest, &Check::Sha256(gz_hash), false).unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), gz);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn broken_connection_keeps_the_part_for_resuming() {
    let (gz, gz_hash, _) = payload();
    let server = serve(gz.clone());
    let dir = temp_dir("cut");
    let dest = dir.join("file.gz");
    let err =
        fetch(&format!("{}/cut/file.gz", server.base), &dest, &Check::Sha256(gz_hash), false).unwrap_err().to_string();
    assert!(err.contains("resumes next time"), "{err}");
    assert!(!dest.exists());
    let part = std::fs::read(dir.join("file.gz.part")).unwrap();
    assert!(!part.is_empty() && part.len() < gz.len() && gz.starts_with(&part));
    // The next try continues from there.
    fetch(&format!("{}/file.gz", server.base), &dest, &Check::Sha256(gz_hash), false).unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), gz);
    assert_eq!(
        server.ranges.lock().unwrap().last().unwrap().as_deref(),
        Some(format!("bytes={}-", part.len()).as_str())
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn missing_file_and_unreachable_server() {
    let server = serve(vec![1, 2, 3]);
    let dir = temp_dir("404");
    let err =
        fetch(&format!("{}/nothing.gz", server.base), &dir.join("x.gz"), &Check::None, false).unwrap_err().to_string();
    assert!(err.contains("404") && err.contains("/nothing.gz"), "{err}");
    // A port nobody listens on (bound, then closed).
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let err = fetch(&format!("http://127.0.0.1:{port}/file.gz"), &dir.join("y.gz"), &Check::None, false)
        .unwrap_err()
        .to_string();
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
