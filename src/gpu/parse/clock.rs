//! The device's own clock: where the adapter can write timestamps between
//! commands, each round of a chunk is stamped before its copy, after it and
//! after its passes, so that the figures say how long the device spent
//! copying and parsing, apart from the host's waits. (On wgpu's one queue
//! the two never overlap: see `DATA_BUFFERS`.)

use std::time::Duration;

use super::RING;
use crate::figures::DeviceTime;

/// Stamps per round: before the copy, after it, after the passes.
const STAMPS: u32 = 3;

/// Bytes of a round's stamps in its readback buffer.
pub(super) const STAMP_BYTES: u64 = STAMPS as u64 * 8;

/// Which stamp of a round.
#[derive(Clone, Copy)]
pub(super) enum Stamp {
    Start = 0,
    Copied = 1,
    Parsed = 2,
}

/// A query set and a resolve buffer per ring slot, and the clock's period.
pub(super) struct DeviceClock {
    sets: Vec<wgpu::QuerySet>,
    resolved: Vec<wgpu::Buffer>,
    /// Nanoseconds per tick.
    period: f32,
}

impl DeviceClock {
    /// The clock of a device that can stamp between commands (`period`
    /// nanoseconds a tick); none where it cannot.
    pub(super) fn new(device: &wgpu::Device, period: Option<f32>) -> Option<DeviceClock> {
        let period = period?;
        let sets = (0..RING)
            .map(|_| {
                device.create_query_set(&wgpu::QuerySetDescriptor {
                    label: Some("chunk stamps"),
                    ty: wgpu::QueryType::Timestamp,
                    count: STAMPS,
                })
            })
            .collect();
        let resolved = (0..RING)
            .map(|_| {
                super::super::buffer(
                    device,
                    "chunk stamps",
                    STAMP_BYTES,
                    wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                )
            })
            .collect();
        Some(DeviceClock {
            sets,
            resolved,
            period,
        })
    }

    /// Stamps `stamp` of the round in ring slot `slot`.
    pub(super) fn stamp(&self, encoder: &mut wgpu::CommandEncoder, slot: usize, stamp: Stamp) {
        encoder.write_timestamp(&self.sets[slot], stamp as u32);
    }

    /// Copies the round's stamps to `readback` at byte `at`, once the
    /// last is written.
    pub(super) fn copy_out(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        slot: usize,
        readback: &wgpu::Buffer,
        at: u64,
    ) {
        encoder.resolve_query_set(&self.sets[slot], 0..STAMPS, &self.resolved[slot], 0);
        encoder.copy_buffer_to_buffer(&self.resolved[slot], 0, readback, at, STAMP_BYTES);
    }

    /// The copy's and the passes' time from a round's stamps, as read
    /// back. A clock that went backwards (some drivers reset it between
    /// submissions) counts as no time rather than a wrapped one.
    pub(super) fn spans(&self, stamps: &[u8]) -> DeviceTime {
        let at = |i: usize| u64::from_le_bytes(stamps[i * 8..i * 8 + 8].try_into().unwrap());
        let ns = |ticks: u64| Duration::from_nanos((ticks as f64 * f64::from(self.period)) as u64);
        let (start, copied, parsed) = (at(0), at(1), at(2));
        DeviceTime {
            copy: ns(copied.saturating_sub(start)),
            passes: ns(parsed.saturating_sub(copied)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamps(values: [u64; 3]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    #[test]
    fn spans_are_ticks_times_the_period_and_never_wrap() {
        let clock = DeviceClock {
            sets: Vec::new(),
            resolved: Vec::new(),
            period: 2.5,
        };
        assert_eq!(
            clock.spans(&stamps([1_000, 5_000, 45_000])),
            DeviceTime {
                copy: Duration::from_nanos(10_000),
                passes: Duration::from_nanos(100_000)
            }
        );
        assert_eq!(
            clock.spans(&stamps([9_000, 5_000, 4_000])),
            DeviceTime::default()
        );
    }
}
