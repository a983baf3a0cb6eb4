// Parses a chunk of location.csv on the GPU and counts its rows: raw bytes
// in, (day, region) bins out. The host reads the file straight into the
// `data` buffer; rows need never pass through the CPU.
//
// Every invocation owns a block of `params.block` bytes of the chunk and the
// rows that *start* in it (a row starts after a newline, or at the chunk's
// start when that is the file's first row), and reads on past its block to
// finish its last row. So every row is parsed by exactly one invocation, and
// every row of the chunk by some invocation: the host's chunks follow the same
// rule, each owning the rows that start in it and reaching past its end.
//
// The shader counts only rows it fully understands, exactly as the CPU's
// fast path does: every field quoted or none, no quote or comma inside a
// field, the header's number of fields, a region_id of 1 to 9 digits found in
// the region table, a real calendar date written YYYY-MM-DD inside the day
// window. Every other row (blank lines aside) is not guessed at: its offset
// goes to the retry list, and the host hands it to the exact parser, which
// reports it, or counts it, just as the CPU backend would. If the list
// overflows, `merge` drops the chunk's bins and the host redoes the chunk.
//
// `merge` then adds the chunk's bins to the run's (or drops them), and clears
// them for the next chunk. Bins are 32-bit; the host folds them into 64-bit
// totals before any could wrap.
//
// The work of every invocation is bounded: a row longer than
// `params.max_line` (a few KiB) goes back to the host unscanned, so one
// invocation walks at most its block and one short row past it, twice. A
// driver may end a shader that loops too long without a word: llvmpipe
// stops every loop of a group of invocations after 65,535 iterations in
// all, which cost rows next to a 33 KB row before this bound. And `lines`,
// which shares nothing with `parse`, counts the chunk's line ends, so that
// the host can check that every row the chunk owns was accounted for.

struct Params {
    // Bytes in `data`: the chunk, and what follows it up to the overlap.
    data_len: u32,
    // The bytes whose rows this chunk owns: [own_start, own_end).
    own_start: u32,
    own_end: u32,
    // Bit 0: a row starts at own_start (the file's first row). Bit 1: data
    // ends where the file does, so a last row without a newline is whole.
    flags: u32,
    columns: u32,
    id_col: u32,
    date_col: u32,
    // Length of `slot_of_id`: larger ids are left to the host.
    ids: u32,
    // Days since 1970-01-01 of the first day of the window.
    window_start: i32,
    window_days: u32,
    slots: u32,
    retry_capacity: u32,
    // Bytes each invocation owns.
    block: u32,
    // The longest line parsed here (a few KiB, at least `block`); longer
    // ones go back to the host unscanned.
    max_line: u32,
    // Invocations per row of the dispatch grid (workgroups.x * 256).
    row_width: u32,
    _pad: u32,
}

struct Stats {
    rows: atomic<u32>,
    counted: atomic<u32>,
    blank: atomic<u32>,
    retries: atomic<u32>,
    // Rows that start in the chunk's own bytes, by `lines` alone.
    lines: atomic<u32>,
    retry: array<u32>,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> data: array<u32>;
@group(0) @binding(2) var<storage, read> slot_of_id: array<u32>;
@group(0) @binding(3) var<storage, read_write> chunk_bins: array<atomic<u32>>;
@group(0) @binding(4) var<storage, read_write> stats: Stats;

const NEWLINE: u32 = 10u;
const CR: u32 = 13u;
const QUOTE: u32 = 34u;
const COMMA: u32 = 44u;
const NO_SLOT: u32 = 0xffffffffu;

// What `classify` made of a row.
const COUNTED: u32 = 0u;
const BLANK: u32 = 1u;
const RETRY: u32 = 2u;

fn byte_at(i: u32) -> u32 {
    return (data[i >> 2u] >> ((i & 3u) * 8u)) & 0xffu;
}

fn is_digit(b: u32) -> bool {
    return b >= 48u && b <= 57u;
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
// days_from_civil, as in src/date.rs).
fn days_from_civil(y0: i32, m: i32, d: i32) -> i32 {
    var y = y0;
    if (m <= 2) {
        y = y - 1;
    }
    var era = y / 400;
    if (y < 0 && y % 400 != 0) {
        era = era - 1;
    }
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

// The day number of the 10 bytes at `at`, if they are a real YYYY-MM-DD
// date; else a value below every window (i32 minimum).
fn day_of(at: u32) -> i32 {
    let invalid = -2147483647 - 1;
    var digits: array<i32, 10>;
    for (var i = 0u; i < 10u; i = i + 1u) {
        let b = byte_at(at + i);
        if (i == 4u || i == 7u) {
            if (b != 45u) {
                return invalid;
            }
        } else {
            if (!is_digit(b)) {
                return invalid;
            }
            digits[i] = i32(b) - 48;
        }
    }
    let year = digits[0] * 1000 + digits[1] * 100 + digits[2] * 10 + digits[3];
    let month = digits[5] * 10 + digits[6];
    let day = digits[8] * 10 + digits[9];
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    var last = 31;
    if (month == 4 || month == 6 || month == 9 || month == 11) {
        last = 30;
    } else if (month == 2) {
        last = 28;
        if (leap) {
            last = 29;
        }
    } else if (month < 1 || month > 12) {
        return invalid;
    }
    if (day < 1 || day > last) {
        return invalid;
    }
    return days_from_civil(year, month, day);
}

// Counts the row [p, e) (e: its newline, or the end of the file) if it is
// canonical and known; says whether it was counted, blank, or to retry.
fn classify(p: u32, e: u32) -> u32 {
    var end = e;
    if (end > p && byte_at(end - 1u) == CR) {
        end = end - 1u;
    }
    if (end == p) {
        return BLANK;
    }
    let quoted = byte_at(p) == QUOTE;
    var field = 0u;
    var start = p;
    var id = 0u;
    var id_ok = false;
    var day = 0;
    var date_ok = false;
    loop {
        // The field's content [cs, ce), and whether a comma follows it (then
        // the next field starts at `next`, maybe empty at the row's end).
        var cs = start;
        var ce = start;
        var more = false;
        var next = end;
        if (quoted) {
            if (start >= end || byte_at(start) != QUOTE) {
                return RETRY; // every field must be quoted
            }
            var j = start + 1u;
            loop {
                if (j >= end) {
                    return RETRY; // not closed on this line
                }
                let b = byte_at(j);
                if (b == QUOTE) {
                    break;
                }
                if (b == COMMA) {
                    return RETRY; // a comma inside quotes: not canonical
                }
                j = j + 1u;
            }
            cs = start + 1u;
            ce = j;
            if (j + 1u < end) {
                if (byte_at(j + 1u) != COMMA) {
                    return RETRY; // text after a closing quote, or "" inside
                }
                more = true;
                next = j + 2u;
            }
        } else {
            var j = start;
            loop {
                if (j >= end) {
                    break;
                }
                let b = byte_at(j);
                if (b == COMMA) {
                    break;
                }
                if (b == QUOTE) {
                    return RETRY;
                }
                j = j + 1u;
            }
            cs = start;
            ce = j;
            if (j < end) {
                more = true;
                next = j + 1u;
            }
        }
        if (field == params.id_col) {
            let n = ce - cs;
            if (n == 0u || n > 9u) {
                return RETRY;
            }
            for (var i = cs; i < ce; i = i + 1u) {
                let b = byte_at(i);
                if (!is_digit(b)) {
                    return RETRY;
                }
                id = id * 10u + (b - 48u);
            }
            id_ok = true;
        }
        if (field == params.date_col) {
            if (ce - cs != 10u) {
                return RETRY;
            }
            day = day_of(cs);
            date_ok = day != (-2147483647 - 1);
            if (!date_ok) {
                return RETRY;
            }
        }
        field = field + 1u;
        if (!more || field > params.columns) {
            break;
        }
        start = next;
    }
    if (field != params.columns || !id_ok || !date_ok || id >= params.ids) {
        return RETRY;
    }
    let slot = slot_of_id[id];
    if (slot == NO_SLOT) {
        return RETRY; // unmatched: the host reports it
    }
    let d = day - params.window_start;
    if (d < 0 || u32(d) >= params.window_days) {
        return RETRY;
    }
    atomicAdd(&chunk_bins[u32(d) * params.slots + slot], 1u);
    return COUNTED;
}

fn retry(p: u32) {
    let i = atomicAdd(&stats.retries, 1u);
    if (i < params.retry_capacity) {
        stats.retry[i] = p;
    }
}

// rows, counted, blank of the workgroup, added to the chunk's at the end.
var<workgroup> group_counts: array<atomic<u32>, 3>;

@compute @workgroup_size(256)
fn parse(
    @builtin(global_invocation_id) id: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    // wgpu's own zeroing of workgroup memory is off (see gpu/mod.rs).
    if (local < 3u) {
        atomicStore(&group_counts[local], 0u);
    }
    workgroupBarrier();

    var rows = 0u;
    var counted = 0u;
    var blank = 0u;
    let thread = id.x + id.y * params.row_width;
    let span = params.own_end - params.own_start;
    if (thread < (span + params.block - 1u) / params.block) {
        let block_start = params.own_start + thread * params.block;
        let block_end = min(block_start + params.block, params.own_end);
        // The first row that starts in the block, if any.
        var p = block_start;
        var found = false;
        if (block_start == params.own_start && (params.flags & 1u) != 0u) {
            found = true;
        } else {
            var q = block_start - 1u;
            loop {
                if (q + 1u >= block_end) {
                    break;
                }
                if (byte_at(q) == NEWLINE) {
                    found = true;
                    p = q + 1u;
                    break;
                }
                q = q + 1u;
            }
        }
        loop {
            if (!found || p >= block_end) {
                break;
            }
            rows = rows + 1u;
            var e = p;
            var whole = false;
            loop {
                if (e >= params.data_len || e - p > params.max_line) {
                    break;
                }
                if (byte_at(e) == NEWLINE) {
                    whole = true;
                    break;
                }
                e = e + 1u;
            }
            if (!whole && e >= params.data_len && (params.flags & 2u) != 0u) {
                whole = true; // the file's last row, without a newline
            }
            if (!whole || e - p > params.max_line) {
                // Runs past what the chunk holds, or is too long: the host
                // reads it from the file. Where it ends is unknown here, so
                // no later row of this block can be found either; the rows
                // after it start past the block anyway.
                retry(p);
                break;
            }
            let outcome = classify(p, e);
            if (outcome == COUNTED) {
                counted = counted + 1u;
            } else if (outcome == BLANK) {
                blank = blank + 1u;
            } else {
                retry(p);
            }
            p = e + 1u;
        }
    }
    atomicAdd(&group_counts[0], rows);
    atomicAdd(&group_counts[1], counted);
    atomicAdd(&group_counts[2], blank);
    workgroupBarrier();
    if (local == 0u) {
        atomicAdd(&stats.rows, atomicLoad(&group_counts[0]));
        atomicAdd(&stats.counted, atomicLoad(&group_counts[1]));
        atomicAdd(&stats.blank, atomicLoad(&group_counts[2]));
    }
}

// One invocation per LINES_SPAN bytes: a fixed, short walk.
const LINES_SPAN: u32 = 256u;

// Counts the rows that start in [own_start, own_end): the newlines just
// before them, and the file's first row. Nothing here is shared with
// `parse`, so a row that `parse` lost (a driver's watchdog, a bug) shows as
// a difference between the two counts.
@compute @workgroup_size(256)
fn lines(
    @builtin(global_invocation_id) id: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    if (local == 0u) {
        atomicStore(&group_lines, 0u);
    }
    workgroupBarrier();
    let thread = id.x + id.y * params.row_width;
    // A row starts at p when byte p - 1 is a newline: look at
    // [own_start - 1, own_end - 1), or from own_start for the first row.
    var low = params.own_start;
    if ((params.flags & 1u) == 0u) {
        low = params.own_start - 1u;
    }
    let high = params.own_end - 1u;
    var found = 0u;
    let first = low + thread * LINES_SPAN;
    if (thread < (high - low + LINES_SPAN - 1u) / LINES_SPAN) {
        let last = min(first + LINES_SPAN, high);
        for (var q = first; q < last; q = q + 1u) {
            if (byte_at(q) == NEWLINE) {
                found = found + 1u;
            }
        }
    }
    if (thread == 0u && (params.flags & 1u) != 0u) {
        found = found + 1u;
    }
    atomicAdd(&group_lines, found);
    workgroupBarrier();
    if (local == 0u) {
        atomicAdd(&stats.lines, atomicLoad(&group_lines));
    }
}

var<workgroup> group_lines: atomic<u32>;

struct MergeParams {
    bins: u32,
    retry_capacity: u32,
    row_width: u32,
    _pad: u32,
}

// What `merge` reads of the chunk's stats.
struct Counters {
    rows: u32,
    counted: u32,
    blank: u32,
    retries: u32,
}

@group(0) @binding(0) var<uniform> merge_params: MergeParams;
@group(0) @binding(1) var<storage, read_write> merge_chunk: array<u32>;
@group(0) @binding(2) var<storage, read_write> merge_total: array<u32>;
@group(0) @binding(3) var<storage, read> merge_stats: Counters;

@compute @workgroup_size(256)
fn merge(@builtin(global_invocation_id) id: vec3<u32>) {
    let bin = id.x + id.y * merge_params.row_width;
    if (bin < merge_params.bins) {
        let n = merge_chunk[bin];
        if (n != 0u) {
            merge_chunk[bin] = 0u;
            // An overflowed retry list means the host redoes the chunk: its
            // bins must not count twice.
            if (merge_stats.retries <= merge_params.retry_capacity) {
                merge_total[bin] = merge_total[bin] + n;
            }
        }
    }
}
