//! An S3 endpoint on 127.0.0.1 that answers from memory, fast enough not to
//! be what a `count` over `s3://` waits for: what `benches/s3.sh` measures
//! S3 reads with. moto, the test server, answers at a few MB/s.
//!
//! Every file of DIR is loaded into memory and served as the object of that
//! name in any bucket (`s3://any/location.csv`): `HEAD`, and `GET` whole or
//! by one `Range: bytes=A-B`, over keep-alive connections, a thread each.
//! Nothing else of S3 is there (no listing, no writes, no signatures
//! checked). It also answers `GET /_stats` with the GETs served, their
//! bytes, and the most that were in flight at once, and `POST /_reset`.
//!
//! Usage: s3_loopback DIR [PORT]   (prints "listening on PORT" when ready)

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// What the server has done since the last reset.
#[derive(Default)]
struct Stats {
    gets: AtomicU64,
    bytes: AtomicU64,
    in_flight: AtomicU64,
    max_in_flight: AtomicU64,
}

type Objects = HashMap<String, Vec<u8>>;

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = args.next().expect("usage: s3_loopback DIR [PORT]");
    let port: u16 = args
        .next()
        .map_or(0, |p| p.parse().expect("PORT is a number"));
    let mut objects = Objects::new();
    for entry in std::fs::read_dir(&dir).expect("cannot read DIR") {
        let path = entry.expect("cannot read DIR").path();
        if path.is_file() {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            objects.insert(name, std::fs::read(&path).expect("cannot read a file"));
        }
    }
    let objects = Arc::new(objects);
    let stats = Arc::new(Stats::default());
    let listener = TcpListener::bind(("127.0.0.1", port)).expect("cannot listen");
    println!("listening on {}", listener.local_addr().unwrap().port());
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let (objects, stats) = (objects.clone(), stats.clone());
        std::thread::spawn(move || {
            // A connection ends when the client closes it, or on an error.
            let _ = serve(stream, &objects, &stats);
        });
    }
}

/// Answers the requests of one connection until it closes.
fn serve(stream: TcpStream, objects: &Objects, stats: &Stats) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    loop {
        let mut request = String::new();
        if reader.read_line(&mut request)? == 0 {
            return Ok(());
        }
        let mut headers = HashMap::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line)?;
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
            }
        }
        // A body (none of the requests served has one) is read and dropped.
        let body: usize = headers
            .get("content-length")
            .map_or(0, |n| n.parse().unwrap_or(0));
        std::io::copy(&mut (&mut reader).take(body as u64), &mut std::io::sink())?;

        let mut parts = request.split_whitespace();
        let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let path = target.split('?').next().unwrap_or("");
        if path == "/_stats" {
            let text = format!(
                "{{\"gets\": {}, \"bytes\": {}, \"max_in_flight\": {}}}",
                stats.gets.load(Ordering::Relaxed),
                stats.bytes.load(Ordering::Relaxed),
                stats.max_in_flight.load(Ordering::Relaxed)
            );
            respond(&mut out, "200 OK", &[], text.as_bytes())?;
            continue;
        }
        if path == "/_reset" {
            for counter in [&stats.gets, &stats.bytes, &stats.max_in_flight] {
                counter.store(0, Ordering::Relaxed);
            }
            respond(&mut out, "200 OK", &[], b"")?;
            continue;
        }
        // Path-style addressing: /bucket/key.
        let key = path
            .trim_start_matches('/')
            .split_once('/')
            .map_or("", |(_, k)| k);
        let Some(object) = objects.get(key) else {
            let missing = b"<Error><Code>NoSuchKey</Code></Error>";
            respond(&mut out, "404 Not Found", &[], missing)?;
            continue;
        };
        let len = object.len();
        let range = headers
            .get("range")
            .and_then(|r| r.strip_prefix("bytes="))
            .and_then(|r| r.split_once('-'))
            .map(|(a, b)| {
                let start: usize = a.parse().unwrap_or(0);
                let end: usize = b.parse().map_or(len, |e: usize| e + 1).min(len);
                start.min(end)..end
            });
        let common = [
            ("Last-Modified", "Thu, 26 Nov 2026 00:00:00 GMT".to_string()),
            ("ETag", "\"loopback\"".to_string()),
            ("Accept-Ranges", "bytes".to_string()),
        ];
        match (method, range) {
            ("HEAD", _) => {
                let mut headers = common.to_vec();
                headers.push(("Content-Length", len.to_string()));
                head(&mut out, "200 OK", &headers)?;
            }
            ("GET", range) => {
                let now = stats.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
                stats.max_in_flight.fetch_max(now, Ordering::Relaxed);
                let mut headers = common.to_vec();
                let (status, body) = match range {
                    Some(range) => {
                        let last = range.end.max(1) - 1;
                        headers.push((
                            "Content-Range",
                            format!("bytes {}-{last}/{len}", range.start),
                        ));
                        ("206 Partial Content", &object[range])
                    }
                    None => ("200 OK", &object[..]),
                };
                let sent = respond(&mut out, status, &headers, body);
                stats.in_flight.fetch_sub(1, Ordering::Relaxed);
                stats.gets.fetch_add(1, Ordering::Relaxed);
                stats.bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
                sent?;
            }
            _ => respond(&mut out, "501 Not Implemented", &[], b"")?,
        }
    }
}

/// Sends a status line and headers, with no body to follow (a HEAD).
fn head(out: &mut TcpStream, status: &str, headers: &[(&str, String)]) -> std::io::Result<()> {
    let mut text = format!("HTTP/1.1 {status}\r\n");
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("\r\n");
    out.write_all(text.as_bytes())
}

/// Sends a response with `body`.
fn respond(
    out: &mut TcpStream,
    status: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> std::io::Result<()> {
    let mut all = headers.to_vec();
    all.push(("Content-Length", body.len().to_string()));
    head(out, status, &all)?;
    out.write_all(body)
}
