//! The device's tables: the region ids (a hash of id to region slot, built
//! once) and the bins, kept in pages of one day and a group of region
//! slots, handed out on the device as (day, group) pairs appear (see
//! parse.wgsl). Here they are sized, and folded into the run's totals.

use std::collections::hash_map::{Entry, HashMap};

use wgpu::util::DeviceExt;

use super::super::{buffer, device_bins, Fault, GpuContext};
use super::checks::key_check;
use super::zone::ZoneTable;
use crate::date::{date_text, day_number, DateText};
use crate::error::{Error, Result};
use crate::histogram::Histogram;
use crate::regions::RegionTable;
use crate::scan::ScanContext;

/// The most bins the pages may take on the device: 512 MiB of them. Four
/// years of 70,000 regions (100 million bins) fit.
const MAX_BINS: u32 = 1 << 27;

/// Region slots a page holds at most, where there are more than this many:
/// memory then follows the (day, region) pairs in use, not the product.
/// Four years of 70,000 regions, every pair in use, are 400,000 pages.
const PAGE_SLOTS: u32 = 256;

/// Pages the bins start with beyond what a sample asks for.
const FIRST_PAGES: u32 = 256;

/// Bins the pages start with at least: 64 MiB of them, so that a chunk of
/// dates the sample did not see (a date-sorted file) still finds pages
/// for all of them (4 million days of 4 regions, 65,536 pages of 256).
const FIRST_BINS: u32 = 1 << 24;

/// Bytes of bins read back at a time, so that host memory stays flat.
const READBACK_BYTES: u64 = 16 << 20;

/// The region table as the shader looks ids up: (id, slot) pairs in a
/// table of a power of two places, each id at most `probes` places past
/// its hash. Ids outside `u32` are never on the device (their rows are the
/// host's), and neither is a slot where none is.
///
/// The time zone's table (`ZoneTable`) follows the ids in the same buffer,
/// at `zone_at`: the shader reads both, and neither changes during a run.
pub(super) struct IdTable {
    pub(super) buffer: wgpu::Buffer,
    pub(super) mask: u32,
    pub(super) shift: u32,
    pub(super) probes: u32,
    pub(super) zone_at: u32,
}

/// Where id `id` hashes to, in a table of `1 << (32 - shift)` places
/// (`slot_of` in parse.wgsl).
fn hash(id: u32, shift: u32) -> u32 {
    id.wrapping_mul(0x9e37_79b1) >> shift
}

impl IdTable {
    pub(super) fn new(device: &wgpu::Device, regions: &RegionTable, zone: &ZoneTable) -> IdTable {
        let ids: Vec<(u32, u32)> = regions
            .ids()
            .iter()
            .filter_map(|&id| Some((u32::try_from(id).ok()?, regions.slot(id)?)))
            .collect();
        // Half full at most: short probes.
        let places = (ids.len() * 2).next_power_of_two().max(2);
        let bits = places.trailing_zeros();
        let shift = 32 - bits;
        let mask = (places - 1) as u32;
        let mut table = vec![[0u32, u32::MAX]; places];
        let mut probes = 1;
        for (id, slot) in ids {
            let mut at = hash(id, shift);
            let mut tried = 1;
            while table[(at & mask) as usize][1] != u32::MAX {
                at = at.wrapping_add(1);
                tried += 1;
            }
            table[(at & mask) as usize] = [id, slot];
            probes = probes.max(tried);
        }
        let zone_at = table.len() as u32;
        table.extend_from_slice(&zone.entries);
        let buffer = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("region ids and zone offsets"),
            contents: bytemuck::cast_slice(&table),
            usage: wgpu::BufferUsages::STORAGE,
        });
        IdTable {
            buffer,
            mask,
            shift,
            probes,
            zone_at,
        }
    }
}

/// How the bins are laid out in pages.
#[derive(Clone, Copy, Debug)]
pub(super) struct PageShape {
    /// Region slots per page.
    pub(super) page_slots: u32,
    /// Pages per day: groups of `page_slots` slots.
    pub(super) groups: u32,
    /// Pages the bins have room for.
    pub(super) pages: u32,
    /// The most pages the bins may grow to.
    pub(super) most_pages: u32,
}

impl PageShape {
    /// Pages for `slots` region slots: as many as `sampled` (the pairs of a
    /// sample of the data) suggest, twice over, and [`FIRST_BINS`] at
    /// least, as far as the device and `max_pages` (a test's) allow.
    pub(super) fn new(
        context: &GpuContext,
        slots: u32,
        sampled: u64,
        max_pages: Option<u32>,
    ) -> PageShape {
        let page_slots = Self::page_slots(slots);
        let groups = slots.div_ceil(page_slots).max(1);
        let bins = MAX_BINS.min(device_bins(&context.limits));
        // The table of pages has two words a place, twice as many places.
        let most_pages = (bins / page_slots)
            .min(device_bins(&context.limits) / 4)
            .min(max_pages.unwrap_or(u32::MAX))
            .max(1);
        let wanted = (sampled.saturating_mul(2) + u64::from(FIRST_PAGES))
            .max(u64::from(FIRST_BINS / page_slots))
            .min(u64::from(u32::MAX)) as u32;
        PageShape {
            page_slots,
            groups,
            pages: wanted.min(most_pages),
            most_pages,
        }
    }

    /// Region slots per page, for `slots` in all: [`PAGE_SLOTS`] at most,
    /// but every (day, group) pair must have a key below 2^32 (`bin_of` in
    /// parse.wgsl): at most 1,024 groups a day.
    pub(super) fn page_slots(slots: u32) -> u32 {
        slots.min(PAGE_SLOTS).max(slots.div_ceil(1024)).max(1)
    }

    /// Places in the page table: a power of two, at least twice the pages.
    pub(super) fn places(&self) -> u32 {
        (u64::from(self.pages) * 2).next_power_of_two().min(1 << 31) as u32
    }
}

/// The bins on the device and the table of their pages.
pub(super) struct PageBins {
    pub(super) shape: PageShape,
    pub(super) bins: wgpu::Buffer,
    pub(super) table: wgpu::Buffer,
    /// Pages in use, then each page's key.
    pub(super) pages: wgpu::Buffer,
    pages_readback: wgpu::Buffer,
    bins_readback: wgpu::Buffer,
}

impl PageBins {
    pub(super) fn new(context: &GpuContext, shape: PageShape) -> PageBins {
        use wgpu::BufferUsages as U;
        let device = &context.device;
        let bins_size = u64::from(shape.pages) * u64::from(shape.page_slots) * 4;
        let pages_size = (1 + u64::from(shape.pages)) * 4;
        PageBins {
            shape,
            // Fresh buffers are zeroed by wgpu.
            bins: buffer(
                device,
                "bins",
                bins_size,
                U::STORAGE | U::COPY_SRC | U::COPY_DST,
            ),
            table: buffer(
                device,
                "page table",
                u64::from(shape.places()) * 8,
                U::STORAGE | U::COPY_DST,
            ),
            pages: buffer(
                device,
                "pages",
                pages_size,
                U::STORAGE | U::COPY_SRC | U::COPY_DST,
            ),
            pages_readback: buffer(
                device,
                "pages readback",
                pages_size,
                U::MAP_READ | U::COPY_DST,
            ),
            bins_readback: buffer(
                device,
                "bins readback",
                bins_size.min(READBACK_BYTES),
                U::MAP_READ | U::COPY_DST,
            ),
        }
    }

    /// Reads the bins back, adds them to the run's totals (as `scan` keys
    /// them), and frees every page; returns the key checksum of what it
    /// added (see `key_check`) and the pages it read. Only the pages in use
    /// are read, a step at a time; each page's day is turned into the
    /// run's date index once per fold, and the adds run on `threads`
    /// threads. Chunks in flight are in: the copies come after them on the
    /// queue, and their reports come later through their own readback
    /// buffers.
    pub(super) fn fold(
        &self,
        context: &GpuContext,
        scan: &ScanContext<'_>,
        histogram: &dyn Histogram,
        threads: usize,
    ) -> Result<(u32, u64)> {
        let mut checksum = 0u32;
        let page_slots = self.shape.page_slots;
        let mut encoder = context.device.create_command_encoder(&Default::default());
        encoder.copy_buffer_to_buffer(&self.pages, 0, &self.pages_readback, 0, self.pages.size());
        context.queue.submit([encoder.finish()]);
        let keys: Vec<u32> =
            context.read_back(&self.pages_readback, self.pages.size(), None, |bytes| {
                let words: &[u32] = bytemuck::cast_slice(bytes);
                let used = (words[0] as usize).min(words.len() - 1);
                Ok(words[1..1 + used].to_vec())
            })?;
        let mut days = HashMap::new();
        let page_bytes = u64::from(page_slots) * 4;
        let step = (self.bins_readback.size() / page_bytes).max(1);
        let mut first = 0u64;
        while first < keys.len() as u64 {
            let count = step.min(keys.len() as u64 - first);
            let mut encoder = context.device.create_command_encoder(&Default::default());
            encoder.copy_buffer_to_buffer(
                &self.bins,
                first * page_bytes,
                &self.bins_readback,
                0,
                count * page_bytes,
            );
            context.queue.submit([encoder.finish()]);
            let keys = &keys[first as usize..(first + count) as usize];
            context.read_back(&self.bins_readback, count * page_bytes, None, |bytes| {
                let bins: &[u32] = bytemuck::cast_slice(bytes);
                for &key in keys {
                    let day = (key - 1) / self.shape.groups;
                    if let Entry::Vacant(entry) = days.entry(day) {
                        entry.insert(date_index(scan, day)?);
                    }
                }
                let added = AddPages {
                    shape: self.shape,
                    scan,
                    histogram,
                    days: &days,
                    key_space: scan.keys.bins(scan.dates.len()),
                };
                let sum = added.on_threads(keys, bins, threads)?;
                checksum = checksum.wrapping_add(sum);
                Ok(())
            })?;
            first += count;
        }
        let mut encoder = context.device.create_command_encoder(&Default::default());
        if !keys.is_empty() && context.options.fault() != Some(Fault::BinsNotCleared) {
            encoder.clear_buffer(&self.bins, 0, Some(keys.len() as u64 * page_bytes));
        }
        encoder.clear_buffer(&self.table, 0, None);
        encoder.clear_buffer(&self.pages, 0, None);
        context.queue.submit([encoder.finish()]);
        Ok((checksum, keys.len() as u64))
    }
}

/// The run's date index of day `day` of the pages (days since 0000-01-01).
fn date_index(scan: &ScanContext<'_>, day: u32) -> Result<u32> {
    let day_zero = day_number(b"0000-01-01");
    let text: DateText = date_text(day_zero + i64::from(day))
        .ok_or_else(|| Error::Internal("a page of a day past the year 9999".into()))?;
    scan.dates.intern(&text).map_err(|_| scan.too_many_dates())
}

/// Pages read back, added to the run's totals.
struct AddPages<'a> {
    shape: PageShape,
    scan: &'a ScanContext<'a>,
    histogram: &'a dyn Histogram,
    /// The run's date index of each page's day.
    days: &'a HashMap<u32, u32>,
    key_space: u64,
}

impl AddPages<'_> {
    /// Adds the pages keyed `keys`, whose bins are `bins`, on up to
    /// `threads` threads (the totals take adds from any thread); returns
    /// their key checksum.
    fn on_threads(&self, keys: &[u32], bins: &[u32], threads: usize) -> Result<u32> {
        let page_slots = self.shape.page_slots as usize;
        // A few thousand pages a thread at least: a thread costs more than
        // a few pages' adds.
        let per_thread = keys.len().div_ceil(threads.max(1)).max(4096);
        if per_thread >= keys.len() {
            return self.add(keys, bins);
        }
        std::thread::scope(|scope| {
            let parts: Vec<_> = keys
                .chunks(per_thread)
                .zip(bins.chunks(per_thread * page_slots))
                .map(|(keys, bins)| scope.spawn(move || self.add(keys, bins)))
                .collect();
            let mut checksum = 0u32;
            for part in parts {
                let sum = part
                    .join()
                    .unwrap_or_else(|_| Err(Error::Internal("a folding thread panicked".into())))?;
                checksum = checksum.wrapping_add(sum);
            }
            Ok(checksum)
        })
    }

    /// Adds the pages keyed `keys`, whose bins are `bins`; returns their
    /// key checksum.
    fn add(&self, keys: &[u32], bins: &[u32]) -> Result<u32> {
        let PageShape {
            page_slots, groups, ..
        } = self.shape;
        let slots = self.scan.keys.region_slots();
        let totals = self.histogram.totals();
        let mut checksum = 0u32;
        for (&key, row) in keys.iter().zip(bins.chunks(page_slots as usize)) {
            if row.iter().all(|&n| n == 0) {
                continue;
            }
            // The page's key: day * groups + group + 1.
            let (day, group) = ((key - 1) / groups, (key - 1) % groups);
            let slot = group * page_slots;
            let row = &row[..(slots - slot).min(page_slots) as usize];
            for (i, &n) in row.iter().enumerate() {
                checksum = checksum.wrapping_add(n.wrapping_mul(key_check(day, slot + i as u32)));
            }
            let index = self.days[&day];
            totals.add_bins(self.scan.keys.pack(index, slot), row, self.key_space)?;
        }
        Ok(checksum)
    }
}
