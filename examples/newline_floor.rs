//! The floor for any tool that reads every byte: count the newlines of a
//! file with memchr on N threads, reading it in 4 MiB chunks with `pread`,
//! as any reader can. (`count` maps local files instead, which saves the
//! copy; `count --pread` reads them like this.) `benches/peers.sh` reports
//! every tool's time as a multiple of this one.
//!
//! Usage: newline_floor FILE [THREADS]

use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicU64, Ordering};

const CHUNK: u64 = 4 << 20;

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: newline_floor FILE [THREADS]");
    let threads = args.next().map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        |t| t.parse().expect("THREADS is a number"),
    );
    let file = std::fs::File::open(&path).expect("cannot open FILE");
    let len = file.metadata().expect("cannot stat FILE").len();
    let next = AtomicU64::new(0);
    let total = AtomicU64::new(0);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let mut buf = vec![0u8; CHUNK as usize];
                let mut lines = 0u64;
                loop {
                    let start = next.fetch_add(CHUNK, Ordering::Relaxed);
                    if start >= len {
                        break;
                    }
                    let want = CHUNK.min(len - start) as usize;
                    file.read_exact_at(&mut buf[..want], start)
                        .expect("read failed");
                    lines += memchr::memchr_iter(b'\n', &buf[..want]).count() as u64;
                }
                total.fetch_add(lines, Ordering::Relaxed);
            });
        }
    });
    println!("{}", total.load(Ordering::Relaxed));
}
