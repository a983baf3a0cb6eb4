// Parses chunks of location.csv on the GPU and counts their rows: raw bytes
// in, (day, region) bins out. The host reads the file straight into a
// `data` buffer; rows need never pass through the CPU.
//
// Every invocation owns a block of `params.block` bytes of the chunk and the
// rows that *start* in it (a row starts after a newline, or at the chunk's
// start when that is the file's first row), and reads on past its block to
// finish its last row. So every row is looked at by exactly one invocation:
// the host's chunks follow the same rule, each owning the rows that start in
// it and reaching past its end.
//
// The shader counts only rows it fully understands, exactly as the CPU's
// fast path does: every field quoted or none, no quote or delimiter (the
// file's own byte, `params.delimiter`) inside a field, the header's number
// of fields, a region_id of 1 to 10 digits (at most 4294967295) found in
// the region table, and a date field that is a real calendar date written
// YYYY-MM-DD or a canonical event time (`event_day`): its local day is
// taken from the zone's table, uploaded by the host. Every other row (blank lines aside) is not guessed at: it is
// handed back, and the host runs it through the exact parser, which
// reports it, or counts it, just as the CPU backend would. A block's keys
// are kept in the invocation until its last row is judged; its rows handed
// back are then listed as one bit each (its place among the block's rows),
// and the rest counted; a row at place 32 or later has no bit, so it is
// always the device's (the host's `Rows::host_owns` reads the bits the same
// way). A block that cannot say so (a row to hand back at place 32 or later,
// more keys than it keeps, a full list) counts none of its rows and is
// handed back whole: a bit in a bitmap with a bit for every block, so
// nothing is ever lost to an overflow.
//
// Bins are kept in pages: a page holds the bins of one day and a group of up
// to `page_slots` region slots (all of them, unless there are more than a
// thousand). Pages are handed out as (day, group) pairs appear, through a
// hash table (`table`): the row that puts a pair in the table takes the next
// free page for it at once and is counted. A row of another block that finds
// the pair there before its page (the two ran side by side) has its block
// wait, and `reparse`, the next pass, counts the blocks that waited: a chunk
// whose days are all new (a date-sorted file) is parsed again only where
// rows raced (none on llvmpipe; on a GPU, blocks that run at once and meet
// the same new pair; `blocks_reparsed` counts them). A block that finds no
// room (the pages or the table full) counts none of its rows and stays on
// the waiting bitmap: the host folds the bins (reads them back, adds them to
// its 64-bit totals and frees every page) and runs the chunk again over
// those blocks alone (`REDO`), until none is left. It folds too when the
// pages run low, and before any 32-bit bin could wrap. So any order and span
// of dates, and any number of regions, stay on the device, with memory for
// the pairs in use: no row goes to the host for lack of room.
//
// The work of every invocation is bounded: a row longer than
// `params.max_line` (a few KiB) sends its block back unscanned, so one
// invocation walks at most its block and one short row past it. A driver
// may end a shader that loops too long without a word: llvmpipe stops
// every loop of a group of invocations after 65,535 iterations in all,
// which cost rows next to a 33 KB row before this bound. And `lines`, which
// shares nothing with `parse`, counts the chunk's line ends, in all (so that
// the host can check that every row was accounted for) and per KiB (so
// that the host numbers the lines of a block handed back without reading
// the bytes before it).

struct Params {
    // Bytes in `data`: the chunk, and what follows it up to the overlap.
    data_len: u32,
    // The bytes whose rows this chunk owns: [own_start, own_end).
    own_start: u32,
    own_end: u32,
    // Bit 0: a row starts at own_start (the file's first row). Bit 1: data
    // ends where the file does, so a last row without a newline is whole.
    // Bit 2 (`REDO`): the chunk again, after a fold, over the blocks still
    // on the waiting bitmap in [window_start, window_end) alone. Bit 3
    // (`GIVE_UP`): a row that finds no room is handed back, not kept
    // waiting (the host's bound on a chunk's rounds).
    flags: u32,
    columns: u32,
    id_col: u32,
    date_col: u32,
    // The region table: `ids` holds (id, slot) pairs, hashed into
    // `id_mask + 1` places (`id_shift` = 32 - log2 of that); no id is more
    // than `id_probes` places past its hash.
    id_mask: u32,
    id_shift: u32,
    id_probes: u32,
    // Days since 1970-01-01 of 0000-01-01: a page's day is counted from it.
    day_zero: i32,
    // Region slots per page, and groups of them per day.
    page_slots: u32,
    groups: u32,
    // Pages the bins have room for.
    pages: u32,
    // The page table: `table_mask + 1` places (`table_shift` = 32 - log2
    // of that), each a (day * groups + group + 1, page + 1) pair.
    table_mask: u32,
    table_shift: u32,
    // Bytes each invocation owns.
    block: u32,
    // The longest line parsed here (a few KiB, at least `block`); longer
    // ones send their block back unscanned.
    max_line: u32,
    // Invocations per row of the dispatch grid (workgroups.x * 256).
    row_width: u32,
    // Where the per-KiB line counts and the waiting blocks' bitmap start
    // in `stats.words`.
    line_counts_at: u32,
    waiting_at: u32,
    // Where the list of blocks handed back in part starts in
    // `stats.words`: (block, a bit per row handed back, `lines_into_word`)
    // triples; and how many it may hold (a block past them is handed back
    // whole).
    partial_at: u32,
    partial_capacity: u32,
    // A block whose rows are lost on purpose, so that a test sees the row
    // check fail the run (no block, unless a test asks).
    lose_block: u32,
    // A test's fault in how keys are added (`Fault` in gpu/mod.rs: 1 a
    // region's rows under another slot, 2 a day late, 3 a key dropped
    // before its add), so that a test sees the key check fail the run; 0
    // in every real run.
    fault: u32,
    // The byte between fields (`,`, `;`, tab, `|`, ...).
    delimiter: u32,
    // The run's time zone (`zone_day` below): its table of offsets per UTC
    // day starts at `ids[zone_at]`, two entries a day, for `zone_days` days
    // from day `zone_first` (days since 1970-01-01); with no days, the zone
    // is the fixed offset `zone_offset` (seconds east of UTC) on every day.
    zone_first: i32,
    zone_days: u32,
    zone_at: u32,
    zone_offset: i32,
    // The blocks a `REDO` round takes: all, or a window of them (see
    // `Feeder::again` in feed.rs); its grid starts at `window_start`, 0 in
    // a chunk's first round.
    window_start: u32,
    window_end: u32,
}

// A chunk's counters, then a bit per block handed back whole, the blocks
// handed back in part, the line counts (a word per KiB) and the blocks
// waiting for a page (a bit per block). The host reads back all but the
// last.
struct Stats {
    // Rows that start in the chunk and were counted here or found blank.
    rows: atomic<u32>,
    counted: atomic<u32>,
    blank: atomic<u32>,
    // Blocks handed back whole.
    handed_back: atomic<u32>,
    // Rows that start in the chunk's own bytes, by `lines` alone.
    lines: atomic<u32>,
    // Pages wanted when none was left.
    no_page: atomic<u32>,
    // Blocks put on the list of blocks handed back in part (which may run
    // past its capacity).
    partial: atomic<u32>,
    // The sum (wrapping) of `key_check(day, slot)` over every row counted:
    // the host recomputes it from the bins it folds.
    checksum: atomic<u32>,
    // Blocks that waited for a page, to be parsed again by `reparse`.
    waited: atomic<u32>,
    // Blocks that found no room in `reparse`: left on the waiting bitmap
    // for the chunk's next round, after a fold.
    deferred: atomic<u32>,
    // Blocks a `REDO` round took from the waiting bitmap (in its window).
    taken: atomic<u32>,
    // The first block deferred, bits inverted: the largest `~block`, so
    // that the zeros every round starts with stand for none.
    not_first_deferred: atomic<u32>,
    words: array<atomic<u32>>,
}

// Pages in use (`used`, which may run past the bins' room: the host reads
// it as at most `params.pages`), and the table key of each page.
struct Pages {
    used: atomic<u32>,
    key: array<u32>,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> data: array<u32>;
@group(0) @binding(2) var<storage, read> ids: array<vec2<u32>>;
@group(0) @binding(3) var<storage, read_write> bins: array<atomic<u32>>;
@group(0) @binding(4) var<storage, read_write> stats: Stats;
@group(0) @binding(5) var<storage, read_write> table: array<atomic<u32>>;
@group(0) @binding(6) var<storage, read_write> pages: Pages;

const NEWLINE: u32 = 10u;
const CR: u32 = 13u;
const QUOTE: u32 = 34u;
const NO_SLOT: u32 = 0xffffffffu;
// A table place whose pair got no page.
const NO_ROOM: u32 = 0xffffffffu;
// Places a lookup tries before the block is handed back.
const PAGE_PROBES: u32 = 64u;

// What `classify` made of a row: the first of the pair; the second is the
// bin (COUNTED).
const COUNTED: u32 = 0u;
const BLANK: u32 = 1u;
const NEW_DAY: u32 = 3u;
const HANDED_BACK: vec2<u32> = vec2<u32>(2u, 0u);
// No room for the row's page (pages or table full): its block waits for a
// fold.
const NO_ROOM_YET: vec2<u32> = vec2<u32>(4u, 0u);

// `params.flags` bits.
const FIRST_ROW: u32 = 1u;
const FILE_END: u32 = 2u;
const REDO: u32 = 4u;
const GIVE_UP: u32 = 8u;

// The most rows of a block counted here: a counted row is at least 13
// bytes (`1,2019-01-01` and its newline), so a block of 256 bytes has at
// most 20. A block with more hands itself back.
const MAX_BLOCK_KEYS: u32 = 32u;

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
// date; else the i32 minimum.
fn day_of(at: u32) -> i32 {
    let invalid = INVALID_DAY;
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

const INVALID_DAY: i32 = -2147483647 - 1;
// Days from 0000-01-01 to 10000-01-01.
const LAST_DAY: i32 = 3652425;

// Two ASCII digits' value at `at`, or 100 if either is not a digit.
fn two_digits(at: u32) -> u32 {
    let a = byte_at(at);
    let b = byte_at(at + 1u);
    if (!is_digit(a) || !is_digit(b)) {
        return 100u;
    }
    return (a - 48u) * 10u + (b - 48u);
}

// The local day (days since 1970-01-01) of the date field [cs, ce), or
// INVALID_DAY for anything the host must judge. Read here, exactly as the
// exact parser (`parse_event` in src/date.rs) reads them: `YYYY-MM-DD` (its
// day); that date, `T`, `t` or a space, `HH:MM:SS` (a second 60, a leap
// second, is second 59), a fraction of 1 to 9 digits or none, then nothing
// (a local wall-clock time: its own date), `Z`, `z`, `+HH:MM` / `-HH:MM` or
// `+HHMM` / `-HHMM` (an instant: its day in the run's zone). Every value is
// checked as the exact parser checks it; what it would refuse, and every
// other form (no seconds, epoch numbers), goes back to the host, which
// reports or counts it. The fraction's loop is bounded by the field's
// length, itself bounded by `max_line`.
fn event_day(cs: u32, ce: u32) -> i32 {
    let len = ce - cs;
    if (len < 10u) {
        return INVALID_DAY;
    }
    let day = day_of(cs);
    if (day == INVALID_DAY || len == 10u) {
        return day;
    }
    let sep = byte_at(cs + 10u);
    if (len < 19u || !(sep == 84u || sep == 116u || sep == 32u)) {
        return INVALID_DAY;
    }
    if (byte_at(cs + 13u) != 58u || byte_at(cs + 16u) != 58u) {
        return INVALID_DAY;
    }
    let hour = two_digits(cs + 11u);
    let minute = two_digits(cs + 14u);
    var second = two_digits(cs + 17u);
    if (second == 60u) {
        second = 59u; // a leap second: the last of its minute, as on the CPU
    }
    if (hour > 23u || minute > 59u || second > 59u) {
        return INVALID_DAY;
    }
    var at = cs + 19u;
    if (at < ce && byte_at(at) == 46u) {
        let digits = cs + 20u;
        at = digits;
        loop {
            if (at >= ce || !is_digit(byte_at(at)) || at - digits == 9u) {
                break;
            }
            at = at + 1u;
        }
        if (at == digits || (at < ce && is_digit(byte_at(at)))) {
            return INVALID_DAY; // no digits, or more than 9
        }
    }
    let rest = ce - at;
    if (rest == 0u) {
        return day; // a local wall-clock time: its own date
    }
    var east = 0;
    let sign = byte_at(at);
    if (rest == 1u && (sign == 90u || sign == 122u)) {
        east = 0;
    } else if ((rest == 6u || rest == 5u) && (sign == 43u || sign == 45u)) {
        var minutes_at = at + 3u;
        if (rest == 6u) {
            if (byte_at(at + 3u) != 58u) {
                return INVALID_DAY;
            }
            minutes_at = at + 4u;
        }
        let hours = two_digits(at + 1u);
        let minutes = two_digits(minutes_at);
        if (minutes > 59u || hours > 18u || (hours == 18u && minutes > 0u)) {
            return INVALID_DAY;
        }
        east = i32(hours * 3600u + minutes * 60u);
        if (sign == 45u) {
            east = -east;
        }
    } else {
        return INVALID_DAY;
    }
    // The instant as a UTC day and a second of it: the second of the day
    // less the offset is within a day of [0, 86400).
    let s = i32(hour * 3600u + minute * 60u + second) - east + 86400;
    return zone_day(day + s / 86400 - 1, u32(s % 86400));
}

// The local day of second `of_day` of UTC day `utc_day` in the run's zone,
// or INVALID_DAY outside the zone's table or on a day the zone changes
// its offset more than once (the host knows those).
fn zone_day(utc_day: i32, of_day: u32) -> i32 {
    var offset = params.zone_offset;
    if (params.zone_days != 0u) {
        let i = utc_day - params.zone_first;
        if (i < 0 || u32(i) >= params.zone_days) {
            return INVALID_DAY;
        }
        let entry = ids[params.zone_at + 2u * u32(i)];
        let after = ids[params.zone_at + 2u * u32(i) + 1u];
        // (second of the change, offset before), (offset after, 0); a
        // change past every second marks a day the host must judge.
        if (entry.x == NO_SLOT) {
            return INVALID_DAY;
        }
        offset = bitcast<i32>(entry.y);
        if (of_day >= entry.x) {
            offset = bitcast<i32>(after.x);
        }
    }
    let local = i32(of_day) + offset + 2 * 86400;
    return utc_day + local / 86400 - 2;
}

// The region slot of `id`, or NO_SLOT.
fn slot_of(id: u32) -> u32 {
    var at = (id * 0x9e3779b1u) >> params.id_shift;
    for (var i = 0u; i < params.id_probes; i = i + 1u) {
        let entry = ids[at & params.id_mask];
        if (entry.y == NO_SLOT) {
            return NO_SLOT;
        }
        if (entry.x == id) {
            return entry.y;
        }
        at = at + 1u;
    }
    return NO_SLOT;
}

// A mixing hash of a counted row's key (`key_check` in gpu/parse/mod.rs,
// which must agree): summed over the rows a chunk counts, and recomputed
// by the host from the bins, so that a row added to a bin other than its
// key's shows.
fn key_check(day: u32, slot: u32) -> u32 {
    var x = day * 0x85ebca6bu + slot * 0xc2b2ae35u + 0x27d4eb2fu;
    x = x ^ (x >> 16u);
    x = x * 0x85ebca6bu;
    x = x ^ (x >> 13u);
    x = x * 0xc2b2ae35u;
    x = x ^ (x >> 16u);
    return x;
}

// The key check of the row `classify` last found COUNTED.
var<private> row_check: u32;

// COUNTED, and the bin of region slot `slot` in page `page`.
fn counted_in(page: u32, slot: u32) -> vec2<u32> {
    return vec2<u32>(COUNTED, page * params.page_slots + slot % params.page_slots);
}

// The bin of (day, slot): COUNTED and the bin (its page taken here if the
// pair is new, unless `waited`: `reparse` takes no page, for a race there
// would have no pass after it), NEW_DAY if another invocation has just put
// the pair in the table and not yet given it its page, or NO_ROOM_YET if
// there is no room until the next fold.
fn bin_of(day: u32, slot: u32, waited: bool) -> vec2<u32> {
    let key = day * params.groups + slot / params.page_slots + 1u;
    var at = (key * 0x9e3779b1u) >> params.table_shift;
    for (var i = 0u; i < PAGE_PROBES; i = i + 1u) {
        let place = at & params.table_mask;
        var held = atomicLoad(&table[2u * place]);
        if (held == 0u && !waited) {
            let swap = atomicCompareExchangeWeak(&table[2u * place], 0u, key);
            if (swap.exchanged) {
                let page = atomicAdd(&pages.used, 1u);
                if (page < params.pages) {
                    pages.key[page] = key;
                    atomicStore(&table[2u * place + 1u], page + 1u);
                    return counted_in(page, slot);
                }
                atomicStore(&table[2u * place + 1u], NO_ROOM);
                atomicAdd(&stats.no_page, 1u);
                return NO_ROOM_YET;
            }
            held = swap.old_value;
            if (held == 0u) {
                return NO_ROOM_YET; // a weak exchange that failed: rare
            }
        }
        if (held == key) {
            let page = atomicLoad(&table[2u * place + 1u]);
            if (page == NO_ROOM || (page == 0u && waited)) {
                return NO_ROOM_YET;
            }
            if (page == 0u) {
                return vec2<u32>(NEW_DAY, 0u);
            }
            return counted_in(page - 1u, slot);
        }
        if (held == 0u) {
            return NO_ROOM_YET; // not there, and not to be asked for
        }
        at = at + 1u;
    }
    return NO_ROOM_YET;
}

fn classify(p: u32, e: u32, waited: bool) -> vec2<u32> {
    var end = e;
    if (end > p && byte_at(end - 1u) == CR) {
        end = end - 1u;
    }
    if (end == p) {
        return vec2<u32>(BLANK, 0u);
    }
    let quoted = byte_at(p) == QUOTE;
    var field = 0u;
    var start = p;
    var id = 0u;
    var id_ok = false;
    var day = 0u;
    var date_ok = false;
    loop {
        // The field's content [cs, ce), and whether a delimiter follows it (then
        // the next field starts at `next`, maybe empty at the row's end).
        var cs = start;
        var ce = start;
        var more = false;
        var next = end;
        if (quoted) {
            if (start >= end || byte_at(start) != QUOTE) {
                return HANDED_BACK; // every field must be quoted
            }
            var j = start + 1u;
            loop {
                if (j >= end) {
                    return HANDED_BACK; // not closed on this line
                }
                let b = byte_at(j);
                if (b == QUOTE) {
                    break;
                }
                if (b == params.delimiter) {
                    return HANDED_BACK; // a delimiter inside quotes: not canonical
                }
                j = j + 1u;
            }
            cs = start + 1u;
            ce = j;
            if (j + 1u < end) {
                if (byte_at(j + 1u) != params.delimiter) {
                    return HANDED_BACK; // text after a closing quote, or "" inside
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
                if (b == params.delimiter) {
                    break;
                }
                if (b == QUOTE) {
                    return HANDED_BACK;
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
            if (ce == cs) {
                return HANDED_BACK;
            }
            for (var i = cs; i < ce; i = i + 1u) {
                let b = byte_at(i);
                if (!is_digit(b)) {
                    return HANDED_BACK;
                }
                // Past 4294967295 the id is not a u32: the host judges it.
                if (id > 429496729u || (id == 429496729u && b > 53u)) {
                    return HANDED_BACK;
                }
                id = id * 10u + (b - 48u);
            }
            id_ok = true;
        }
        if (field == params.date_col) {
            let d = event_day(cs, ce);
            // A local day outside the years 0000 to 9999 (an instant near
            // their ends) has no date text: the host reports it.
            date_ok = d != INVALID_DAY && d >= params.day_zero
                && d - params.day_zero < LAST_DAY;
            if (!date_ok) {
                return HANDED_BACK;
            }
            day = u32(d - params.day_zero);
        }
        field = field + 1u;
        if (!more || field > params.columns) {
            break;
        }
        start = next;
    }
    if (field != params.columns || !id_ok || !date_ok) {
        return HANDED_BACK;
    }
    let slot = slot_of(id);
    if (slot == NO_SLOT) {
        return HANDED_BACK; // unmatched: the host reports it
    }
    row_check = key_check(day, slot);
    if (params.fault == 1u) {
        return bin_of(day, slot ^ 1u, waited); // a test's fault
    }
    if (params.fault == 2u) {
        return bin_of(day + 1u, slot, waited); // a test's fault
    }
    return bin_of(day, slot, waited);
}

fn set_bit(at: u32, bit: u32) {
    atomicOr(&stats.words[at + (bit >> 5u)], 1u << (bit & 31u));
}

// Clears bit `bit` of the bitmap at word `at` of `stats.words`.
fn clear_bit(at: u32, bit: u32) {
    atomicAnd(&stats.words[at + (bit >> 5u)], ~(1u << (bit & 31u)));
}

// rows, counted, blank and the key checksum of the workgroup, added to the
// chunk's at the end.
var<workgroup> group_counts: array<atomic<u32>, 4>;

// Whether block `block` is on the waiting bitmap.
fn is_waiting(block: u32) -> bool {
    let word = atomicLoad(&stats.words[params.waiting_at + (block >> 5u)]);
    return (word & (1u << (block & 31u))) != 0u;
}

// Counts the rows of block `block`, or hands the block back, or has it
// wait: for pages (in `parse`, which asks for them) or for a fold (in
// `reparse`, where it found no room). `reparse` (`waited`), and `parse` in
// a chunk's `REDO` round, take only the blocks on the waiting bitmap, and
// take them off it once counted or handed back: what stays on it after
// `reparse` is what the chunk's next round must count.
fn count_block(block: u32, waited: bool) {
    let span = params.own_end - params.own_start;
    if (block >= (span + params.block - 1u) / params.block) {
        return;
    }
    let redo = (params.flags & REDO) != 0u;
    let listed = waited || redo;
    if (listed && !is_waiting(block)) {
        return;
    }
    if (redo && (block < params.window_start || block >= params.window_end)) {
        return; // a later round's
    }
    if (redo && !waited) {
        atomicAdd(&stats.taken, 1u);
    }
    if (block == params.lose_block && !listed) {
        return; // a test's fault: the block's rows vanish
    }
    let block_start = params.own_start + block * params.block;
    let block_end = min(block_start + params.block, params.own_end);
    // The first row that starts in the block, if any.
    var p = block_start;
    var found = false;
    if (block_start == params.own_start && (params.flags & FIRST_ROW) != 0u) {
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
    var keys: array<u32, MAX_BLOCK_KEYS>;
    var checksum = 0u;
    var counted = 0u;
    var rows = 0u;
    var blank = 0u;
    // The rows handed back, a bit each by their place among the block's
    // rows; or the whole block, where the bits cannot say it.
    var back = 0u;
    var whole_block = false;
    var wait = false;
    loop {
        if (!found || p >= block_end) {
            break;
        }
        let row = rows;
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
        if (!whole && e >= params.data_len && (params.flags & FILE_END) != 0u) {
            whole = true; // the file's last row, without a newline
        }
        var outcome = HANDED_BACK;
        if (whole && e - p <= params.max_line) {
            outcome = classify(p, e, waited);
        }
        if (outcome.x == COUNTED) {
            if (counted == MAX_BLOCK_KEYS) {
                whole_block = true;
                break;
            }
            keys[counted] = outcome.y;
            counted = counted + 1u;
            checksum = checksum + row_check;
        } else if (outcome.x == BLANK) {
            blank = blank + 1u;
        } else if (outcome.x == NEW_DAY
            || (outcome.x == NO_ROOM_YET.x && (params.flags & GIVE_UP) == 0u)) {
            // Its page is on its way, or there is no room for it: go on,
            // for other pairs may want pages too, and other rows may be
            // handed back whole.
            wait = true;
        } else if (row < 32u) {
            back = back | (1u << row);
        } else {
            whole_block = true;
            break;
        }
        if (!whole || e - p > params.max_line) {
            // Runs past what the chunk holds, or is too long: the host
            // reads it from the file. It runs past the block too, so no
            // other row starts after it here.
            break;
        }
        p = e + 1u;
    }
    if (!whole_block && wait) {
        if (waited) {
            // No room until a fold: it stays on the bitmap.
            atomicAdd(&stats.deferred, 1u);
            atomicMax(&stats.not_first_deferred, ~block);
        } else {
            set_bit(params.waiting_at, block);
            atomicAdd(&stats.waited, 1u);
        }
        return;
    }
    if (listed) {
        // Counted or handed back below: off the bitmap.
        clear_bit(params.waiting_at, block);
    }
    if (!whole_block && back != 0u) {
        let n = atomicAdd(&stats.partial, 1u);
        if (n < params.partial_capacity) {
            let at = params.partial_at + 3u * n;
            atomicStore(&stats.words[at], block);
            atomicStore(&stats.words[at + 1u], back);
            atomicStore(&stats.words[at + 2u], lines_into_word(block_start));
        } else {
            whole_block = true;
        }
    }
    if (whole_block) {
        set_bit(0u, block);
        atomicAdd(&stats.handed_back, 1u);
        return;
    }
    var first = 0u;
    if (params.fault == 3u && block % 16u == 0u && !listed) {
        first = min(counted, 1u); // a test's fault: the key is not added
    }
    for (var i = first; i < counted; i = i + 1u) {
        atomicAdd(&bins[keys[i]], 1u);
    }
    atomicAdd(&group_counts[0], rows - countOneBits(back));
    atomicAdd(&group_counts[1], counted);
    atomicAdd(&group_counts[2], blank);
    atomicAdd(&group_counts[3], checksum);
}

// The line ends from the start of the line counts' word that holds byte
// `p - 1` up to it: with the line counts, the host knows the line of the
// first row of a block at `p` without reading the bytes before it.
fn lines_into_word(p: u32) -> u32 {
    var low = params.own_start;
    if ((params.flags & FIRST_ROW) == 0u) {
        low = params.own_start - 1u;
    }
    if (p <= params.own_start) {
        return 0u;
    }
    let word_start = low + (p - 1u - low) / LINES_WORD_BYTES * LINES_WORD_BYTES;
    var found = 0u;
    for (var q = word_start; q < p - 1u; q = q + 1u) {
        if (byte_at(q) == NEWLINE) {
            found = found + 1u;
        }
    }
    return found;
}

fn clear_group_counts(local: u32) {
    // wgpu's own zeroing of workgroup memory is off (see gpu/mod.rs).
    if (local < 4u) {
        atomicStore(&group_counts[local], 0u);
    }
    workgroupBarrier();
}

fn add_group_counts(local: u32) {
    workgroupBarrier();
    if (local == 0u) {
        atomicAdd(&stats.rows, atomicLoad(&group_counts[0]));
        atomicAdd(&stats.counted, atomicLoad(&group_counts[1]));
        atomicAdd(&stats.blank, atomicLoad(&group_counts[2]));
        atomicAdd(&stats.checksum, atomicLoad(&group_counts[3]));
    }
}

@compute @workgroup_size(256)
fn parse(
    @builtin(global_invocation_id) id: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    clear_group_counts(local);
    count_block(params.window_start + id.x + id.y * params.row_width, false);
    add_group_counts(local);
}

// Counts the blocks that waited for pages (or hands them back).
@compute @workgroup_size(256)
fn reparse(
    @builtin(global_invocation_id) id: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    clear_group_counts(local);
    count_block(params.window_start + id.x + id.y * params.row_width, true);
    add_group_counts(local);
}

// One invocation per LINES_SPAN bytes: a fixed, short walk.
const LINES_SPAN: u32 = 256u;
// Invocations whose counts make one word of the per-KiB line counts.
const LINES_PER_WORD: u32 = 4u;
const LINES_WORD_BYTES: u32 = 1024u;

var<workgroup> group_lines: array<atomic<u32>, 64>;

// Counts the rows that start in [own_start, own_end): the newlines just
// before them, and the file's first row; in all, and per KiB from `low`
// (below) into the line counts. Nothing here is shared with `parse`, so a
// row that `parse` lost (a driver's watchdog, a bug) shows as a difference
// between the two counts.
@compute @workgroup_size(256)
fn lines(
    @builtin(global_invocation_id) id: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    if (local < 64u) {
        atomicStore(&group_lines[local], 0u);
    }
    workgroupBarrier();
    let thread = id.x + id.y * params.row_width;
    // A row starts at p when byte p - 1 is a newline: look at
    // [own_start - 1, own_end - 1), or from own_start for the first row.
    var low = params.own_start;
    if ((params.flags & FIRST_ROW) == 0u) {
        low = params.own_start - 1u;
    }
    let high = params.own_end - 1u;
    var found = 0u;
    let first = low + thread * LINES_SPAN;
    let spans = (high - low + LINES_SPAN - 1u) / LINES_SPAN;
    if (thread < spans) {
        let last = min(first + LINES_SPAN, high);
        for (var q = first; q < last; q = q + 1u) {
            if (byte_at(q) == NEWLINE) {
                found = found + 1u;
            }
        }
    }
    atomicAdd(&group_lines[local / LINES_PER_WORD], found);
    if (thread == 0u && (params.flags & FIRST_ROW) != 0u) {
        found = found + 1u;
    }
    atomicAdd(&stats.lines, found);
    workgroupBarrier();
    if (local % LINES_PER_WORD == 0u && thread < spans) {
        atomicStore(
            &stats.words[params.line_counts_at + thread / LINES_PER_WORD],
            atomicLoad(&group_lines[local / LINES_PER_WORD]),
        );
    }
}
