//! A round of a chunk on the device: the shader's parameters, and the
//! copies, clears and passes submitted for it.

use std::mem::offset_of;
use std::ops::Range;

use super::super::clock::Stamp;
use super::super::{padded, Counters, GpuFile, Params, DATA_BUFFERS, REDO, STATS_WORDS};
use super::Feeder;
use crate::date::day_number;
use crate::gpu::{grid, Fault};

impl Feeder<'_> {
    /// The shader's parameters for a chunk of `file` of `data_len` bytes
    /// that owns the rows starting in `own`, but for its flags and the
    /// pages' shape (`launch` sets that).
    pub(super) fn params(&self, file: &GpuFile, data_len: u32, own: Range<u32>) -> Params {
        let shape = self.ring.shape;
        let options = &self.job.context.options;
        Params {
            data_len,
            own_start: own.start,
            own_end: own.end,
            columns: file.layout.columns,
            id_col: file.layout.id_col,
            date_col: file.layout.date_col,
            id_mask: self.ids.mask,
            id_shift: self.ids.shift,
            id_probes: self.ids.probes,
            day_zero: day_number(b"0000-01-01") as i32,
            block: shape.block,
            max_line: shape.max_line,
            line_counts_at: shape.line_counts_at(),
            waiting_at: shape.waiting_at(),
            partial_at: shape.partial_at(),
            partial_capacity: shape.partial_capacity,
            lose_block: options.lose_block().unwrap_or(u32::MAX),
            fault: match options.fault() {
                Some(fault @ (Fault::OtherSlot | Fault::DayLate | Fault::DroppedKey)) => {
                    fault as u32
                }
                _ => 0,
            },
            delimiter: u32::from(file.layout.delimiter),
            zone_first: self.zone.first_day,
            zone_days: self.zone.days(),
            zone_at: self.ids.zone_at,
            zone_offset: self.zone.fixed,
            ..Params::default()
        }
    }

    /// Submits a round of the chunk in ring slot `slot` (its staging
    /// memory holds its `params.data_len` bytes, padded to a word): the
    /// copy to its data buffer, the passes, and the copy of its stats (and
    /// the device clock's stamps, where there is one) to its readback
    /// buffer. A first round clears the stats; a later one (`REDO`) keeps
    /// what the rounds before found and clears only what each round starts
    /// afresh.
    pub(super) fn launch(
        &mut self,
        chunk: u64,
        slot: usize,
        params: &mut Params,
    ) -> wgpu::SubmissionIndex {
        let context = self.job.context;
        let shape = self.ring.shape;
        let redo = params.flags & REDO != 0;
        let span = params.own_end - params.own_start;
        // A later round's grid covers its window alone.
        let blocks = if redo {
            params.window_end - params.window_start
        } else {
            span.div_ceil(shape.block)
        };
        let parse_grid = grid(u64::from(blocks));
        // `lines` on grid rows of the same width (the shader's
        // `row_width`): one invocation per 256 bytes, from a byte before
        // `own`.
        let lines_groups = (u64::from(span) + 1).div_ceil(256).div_ceil(256);
        let lines_grid = (
            parse_grid.0,
            lines_groups.div_ceil(u64::from(parse_grid.0)).max(1) as u32,
        );
        let pages = self.pages.shape;
        let places = pages.places();
        params.row_width = parse_grid.2;
        params.page_slots = pages.page_slots;
        params.groups = pages.groups;
        params.pages = pages.pages;
        params.table_mask = places - 1;
        params.table_shift = 32 - places.trailing_zeros();
        context
            .queue
            .write_buffer(&self.ring.params[slot], 0, bytemuck::bytes_of(params));

        let (staging, stats) = (&self.ring.staging[slot], &self.ring.stats[slot]);
        let data = &self.ring.data[slot % DATA_BUFFERS];
        let pipelines = context.parse();
        let mut encoder = context.device.create_command_encoder(&Default::default());
        // A later round finds its bytes there still, unless another chunk
        // took the data buffer since.
        let clock = self.ring.clock.as_ref();
        let stamp = |encoder: &mut wgpu::CommandEncoder, stamp| {
            if let Some(clock) = clock {
                clock.stamp(encoder, slot, stamp);
            }
        };
        stamp(&mut encoder, Stamp::Start);
        let in_data = &mut self.in_data[slot % DATA_BUFFERS];
        if *in_data != Some(chunk) {
            encoder.copy_buffer_to_buffer(staging, 0, data, 0, padded(params.data_len));
            *in_data = Some(chunk);
        }
        let word = |offset: usize| offset as u64;
        if redo {
            // What found no room starts afresh; the
            // counts, the blocks handed back, the line counts and the
            // waiting bits (this round's blocks) are the chunk's so far.
            encoder.clear_buffer(stats, word(offset_of!(Counters, no_page)), Some(4));
            encoder.clear_buffer(stats, word(offset_of!(Counters, waited)), Some(16));
        } else {
            let counted_words = STATS_WORDS as u64 + u64::from(shape.bitmap_words);
            encoder.clear_buffer(stats, 0, Some(counted_words * 4));
            encoder.clear_buffer(
                stats,
                (STATS_WORDS as u64 + u64::from(shape.waiting_at())) * 4,
                Some(u64::from(shape.bitmap_words) * 4),
            );
        }
        stamp(&mut encoder, Stamp::Copied);
        let mut passes = vec![
            (&pipelines.parse, (parse_grid.0, parse_grid.1)),
            (&pipelines.reparse, (parse_grid.0, parse_grid.1)),
        ];
        if !redo {
            // The chunk's lines, once.
            passes.push((&pipelines.lines, lines_grid));
        }
        for (pipeline, (x, y)) in passes {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            pass.set_pipeline(pipeline);
            pass.set_bind_group(0, &self.bind_groups[slot], &[]);
            pass.dispatch_workgroups(x, y, 1);
        }
        stamp(&mut encoder, Stamp::Parsed);
        let readback = &self.ring.readbacks[slot];
        let read = shape.readback_bytes() - 4;
        encoder.copy_buffer_to_buffer(stats, 0, readback, 0, read);
        encoder.copy_buffer_to_buffer(&self.pages.pages, 0, readback, read, 4);
        if let Some(clock) = clock {
            clock.copy_out(&mut encoder, slot, readback, shape.readback_bytes());
        }
        context.queue.submit([encoder.finish()])
    }
}
