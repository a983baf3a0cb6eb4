//! What proves a run's device counts whole, besides each chunk's row check
//! (`handback.rs`): the keys' checksums, and chunks that tile every file.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

use super::{GpuJob, InFlight};
use crate::error::{Error, Result};

/// A mixing hash of a counted row's key, (day from 0000-01-01, region
/// slot): `key_check` in parse.wgsl, which must agree. The device sums it
/// over every row it counts; the host sums it over the bins it folds (a
/// bin's count times its key's hash), so a row added to a bin other than
/// its key's, a bin added twice or a key dropped shows as a difference.
pub(super) fn key_check(day: u32, slot: u32) -> u32 {
    let mut x = day
        .wrapping_mul(0x85eb_ca6b)
        .wrapping_add(slot.wrapping_mul(0xc2b2_ae35))
        .wrapping_add(0x27d4_eb2f);
    x ^= x >> 16;
    x = x.wrapping_mul(0x85eb_ca6b);
    x ^= x >> 13;
    x = x.wrapping_mul(0xc2b2_ae35);
    x ^= x >> 16;
    x
}

/// The sums that prove what a run counted on the device: the key checksum
/// of every chunk, and of every fold, which must be equal at the end.
#[derive(Default)]
pub(super) struct KeySums {
    pub(super) device: AtomicU32,
    pub(super) folded: AtomicU32,
}

impl KeySums {
    /// Fails unless the bins folded hold exactly the keys the chunks
    /// counted.
    pub(super) fn check(&self) -> Result<()> {
        let device = self.device.load(Ordering::Acquire);
        let folded = self.folded.load(Ordering::Acquire);
        if device == folded {
            return Ok(());
        }
        Err(Error::Internal(format!(
            "the GPU's bins do not hold the keys its chunks counted (key checksum {folded:#010x} \
             folded against {device:#010x} counted): rows were counted under a wrong key, so \
             nothing is written"
        )))
    }
}

/// Where each file's next chunk must start: the chunks' byte ranges must
/// tile each file's rows exactly, no byte twice and none left out, or a
/// row would be counted twice, or not at all, with every chunk's own row
/// check content.
pub(super) struct Tiles(Mutex<Vec<u64>>);

impl Tiles {
    pub(super) fn new(job: &GpuJob<'_>) -> Tiles {
        Tiles(Mutex::new(job.files.iter().map(|f| f.rows.start).collect()))
    }

    /// Takes the next chunk of its file, in the order they were fed.
    pub(super) fn next(&self, job: &GpuJob<'_>, chunk: &InFlight) -> Result<()> {
        let mut reached = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let start = chunk.data_start + u64::from(chunk.params.own_start);
        let expected = reached[chunk.file];
        if start != expected {
            return Err(Error::Internal(format!(
                "{}: a GPU chunk starts at byte {start}, but the chunks before it end at \
                 {expected}; nothing is written",
                job.files[chunk.file].object.name()
            )));
        }
        reached[chunk.file] = chunk.data_start + u64::from(chunk.params.own_end);
        Ok(())
    }

    /// Fails unless every file's chunks reached the end of its rows.
    pub(super) fn check_all(&self, job: &GpuJob<'_>) -> Result<()> {
        let reached = self.0.lock().unwrap_or_else(|e| e.into_inner());
        for (file, &at) in job.files.iter().zip(reached.iter()) {
            if at != file.rows.end {
                return Err(Error::Internal(format!(
                    "{}: the GPU's chunks end at byte {at}, the rows at {}; nothing is written",
                    file.object.name(),
                    file.rows.end
                )));
            }
        }
        Ok(())
    }
}
