//! The fast path: find a row's end and its fields with a few SIMD compares.
//!
//! For each row we load the 64 bytes that start at it and build three bit
//! masks: where the newlines, delimiters (commas, or the file's own) and
//! quotes are. Almost every row of a
//! real location file is *canonical*: every field quoted with nothing inside
//! that needs care (`"-38.1","177.0","1","2019-01-17"`), or no field quoted
//! at all. For such a row the masks alone say where every field is, and we
//! can check that in a handful of integer operations instead of walking the
//! bytes through a CSV state machine.
//!
//! The fast path only ever *declines*: anything it is not sure about (quotes
//! in odd places, a row longer than 63 bytes, a region_id that is not plain
//! digits, a date that is not already known to be valid) goes to the exact
//! path in `csv`, so both paths always agree. The tests in `scan` check that.

use std::ops::Range;

/// Where the newlines, commas and quotes are in a 64-byte window:
/// bit `i` of each mask is set when `window[i]` is that byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Masks {
    /// Where the `\n` bytes are.
    pub newline: u64,
    /// Where the delimiters are: `,` unless the file has another (`;`,
    /// tab, `|`), found by the same compare at the same speed.
    pub comma: u64,
    /// Where the `"` bytes are.
    pub quote: u64,
}

/// Computes the [`Masks`] of a window with the baseline instructions (for
/// the tests, which compare every kernel with it).
#[cfg(test)]
#[inline(always)]
pub fn masks(window: &[u8; 64], delimiter: u8) -> Masks {
    // SAFETY: the baseline kernel needs nothing beyond the target's baseline.
    unsafe { Baseline::masks(window, delimiter) }
}

/// A way to compute [`Masks`]: one per instruction set.
pub trait Kernel {
    /// # Safety
    /// The CPU must support the kernel's instructions.
    unsafe fn masks(window: &[u8; 64], delimiter: u8) -> Masks;
}

/// SSE2 on x86_64 (part of its baseline), byte by byte elsewhere.
pub struct Baseline;

impl Kernel for Baseline {
    #[inline(always)]
    unsafe fn masks(window: &[u8; 64], delimiter: u8) -> Masks {
        #[cfg(target_arch = "x86_64")]
        {
            // SAFETY: SSE2 is part of the x86_64 baseline.
            unsafe { sse2::masks(window, delimiter) }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            portable::masks(window, delimiter)
        }
    }
}

/// AVX2: two 32-byte compares per byte class instead of four 16-byte ones.
#[cfg(target_arch = "x86_64")]
pub struct Avx2;

#[cfg(target_arch = "x86_64")]
impl Kernel for Avx2 {
    #[inline(always)]
    unsafe fn masks(window: &[u8; 64], delimiter: u8) -> Masks {
        // SAFETY: the caller guarantees AVX2.
        unsafe { avx2::masks(window, delimiter) }
    }
}

/// AVX-512 (BW): one 64-byte compare per byte class, straight into a mask
/// register, instead of two 32-byte compares and two moves of their masks.
#[cfg(target_arch = "x86_64")]
pub struct Avx512;

#[cfg(target_arch = "x86_64")]
impl Kernel for Avx512 {
    #[inline(always)]
    unsafe fn masks(window: &[u8; 64], delimiter: u8) -> Masks {
        // SAFETY: the caller guarantees AVX-512 F and BW.
        unsafe { avx512::masks(window, delimiter) }
    }
}

/// Whether this CPU can run the [`Avx512`] kernel and the code built with
/// it: everything [`has_avx2`] asks, plus AVX-512 F and BW.
#[cfg(target_arch = "x86_64")]
#[inline]
pub fn has_avx512() -> bool {
    has_avx2()
        && std::is_x86_feature_detected!("avx512f")
        && std::is_x86_feature_detected!("avx512bw")
}

/// Whether this CPU can run the [`Avx2`] kernel and the code built with it
/// (checked once; the answer is cached by std).
#[cfg(target_arch = "x86_64")]
#[inline]
pub fn has_avx2() -> bool {
    std::is_x86_feature_detected!("avx2")
        && std::is_x86_feature_detected!("bmi1")
        && std::is_x86_feature_detected!("bmi2")
        && std::is_x86_feature_detected!("popcnt")
        && std::is_x86_feature_detected!("lzcnt")
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::Masks;
    use std::arch::x86_64::*;

    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn masks(window: &[u8; 64], delimiter: u8) -> Masks {
        // SAFETY: `window` is 64 bytes; these read bytes 0..32 and 32..64
        // without alignment requirements.
        let (lo, hi) = unsafe {
            (
                _mm256_loadu_si256(window.as_ptr().cast()),
                _mm256_loadu_si256(window.as_ptr().add(32).cast()),
            )
        };
        let bits = |needle: u8| {
            let n = _mm256_set1_epi8(needle as i8);
            let low = _mm256_movemask_epi8(_mm256_cmpeq_epi8(lo, n)) as u32;
            let high = _mm256_movemask_epi8(_mm256_cmpeq_epi8(hi, n)) as u32;
            u64::from(low) | (u64::from(high) << 32)
        };
        Masks {
            newline: bits(b'\n'),
            comma: bits(delimiter),
            quote: bits(b'"'),
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::Masks;
    use std::arch::x86_64::*;

    /// # Safety
    /// The CPU must support AVX-512 F and BW.
    #[target_feature(enable = "avx512f,avx512bw")]
    pub(super) unsafe fn masks(window: &[u8; 64], delimiter: u8) -> Masks {
        // SAFETY: `window` is 64 bytes; an unaligned load reads all of them.
        let v = unsafe { _mm512_loadu_si512(window.as_ptr().cast()) };
        let bits = |needle: u8| _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8(needle as i8));
        Masks {
            newline: bits(b'\n'),
            comma: bits(delimiter),
            quote: bits(b'"'),
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod sse2 {
    use super::Masks;
    use std::arch::x86_64::*;

    /// # Safety
    /// The CPU must support SSE2.
    #[target_feature(enable = "sse2")]
    pub(super) unsafe fn masks(window: &[u8; 64], delimiter: u8) -> Masks {
        let newline = _mm_set1_epi8(b'\n' as i8);
        let comma = _mm_set1_epi8(delimiter as i8);
        let quote = _mm_set1_epi8(b'"' as i8);
        let mut m = Masks {
            newline: 0,
            comma: 0,
            quote: 0,
        };
        for i in 0..4 {
            // SAFETY: `window` is 64 bytes long and this reads bytes
            // 16*i..16*i+16; loadu has no alignment requirement.
            let v = unsafe { _mm_loadu_si128(window.as_ptr().add(16 * i).cast()) };
            let bits = |needle| u64::from(_mm_movemask_epi8(_mm_cmpeq_epi8(v, needle)) as u16);
            m.newline |= bits(newline) << (16 * i);
            m.comma |= bits(comma) << (16 * i);
            m.quote |= bits(quote) << (16 * i);
        }
        m
    }
}

#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
pub(crate) mod portable {
    use super::Masks;

    /// The same masks one byte at a time, for targets without a SIMD path.
    pub fn masks(window: &[u8; 64], delimiter: u8) -> Masks {
        let mut m = Masks {
            newline: 0,
            comma: 0,
            quote: 0,
        };
        for (i, &b) in window.iter().enumerate() {
            m.newline |= u64::from(b == b'\n') << i;
            m.comma |= u64::from(b == delimiter) << i;
            m.quote |= u64::from(b == b'"') << i;
        }
        m
    }
}

/// The mask of the lowest `n` bits, `n <= 64`.
#[inline(always)]
pub fn low_bits(n: usize) -> u64 {
    if n >= 64 {
        u64::MAX
    } else {
        (1u64 << n) - 1
    }
}

/// Where the region_id and date fields of a canonical row are: [`GeneralFinder`]
/// for any layout, [`StandardFinder`] for the usual one, whose fixed positions
/// let the compiler drop the walk over the commas.
pub trait FieldFinder: Copy {
    /// If a row of `len` bytes (`0 < len < 64`) with these comma and quote
    /// masks (already cut to the row) is canonical, returns where its
    /// region_id and date fields are (without their quotes).
    ///
    /// Canonical means either no quote at all and exactly `columns - 1`
    /// commas, or every field quoted: quotes exactly at the first and last
    /// byte and on both sides of every comma, and nowhere else. Then no
    /// field holds a comma or a quote, and the exact parser would split the
    /// row the same way.
    fn find(self, len: usize, comma: u64, quote: u64) -> Option<(Range<usize>, Range<usize>)>;
}

/// How far inside its commas a canonical row's fields are: 0 with no
/// quotes, 1 when every field of the `columns` is quoted, `None` otherwise.
#[inline(always)]
fn inset(len: usize, comma: u64, quote: u64, columns: u32) -> Option<usize> {
    if quote == 0 {
        return Some(0);
    }
    // Set bits here may coincide or fall outside the row when fields are
    // empty or commas sit at the ends; the popcount catches both.
    let expected = 1 | (1u64 << (len - 1)) | (comma << 1) | (comma >> 1);
    (quote == expected && quote.count_ones() == 2 * columns).then_some(1)
}

/// The [`FieldFinder`] for any layout: the positions of a file's
/// [`Layout`](crate::format::Layout), worked out once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GeneralFinder {
    columns: u32,
    id_col: u32,
    date_col: u32,
    /// The last of the two: no comma past it need be looked at.
    last: u32,
}

impl GeneralFinder {
    /// The finder for rows laid out as `layout`.
    pub fn of(layout: &crate::format::Layout) -> GeneralFinder {
        GeneralFinder {
            columns: layout.columns,
            id_col: layout.id_col,
            date_col: layout.date_col,
            last: layout.id_col.max(layout.date_col),
        }
    }

    /// The usual layout, `lat,long,region_id,date` (the original data's and
    /// `generate`'s), if this is it.
    pub fn standard(&self) -> Option<StandardFinder> {
        (self.columns == 4 && self.id_col == 2 && self.date_col == 3).then_some(StandardFinder)
    }
}

impl FieldFinder for GeneralFinder {
    #[inline(always)]
    fn find(self, len: usize, comma: u64, quote: u64) -> Option<(Range<usize>, Range<usize>)> {
        if comma.count_ones() != self.columns - 1 {
            return None;
        }
        let inset = inset(len, comma, quote, self.columns)?;
        // One walk over the commas up to the last field wanted.
        let (mut id, mut date) = (0..0, 0..0);
        let (mut start, mut rest) = (0, comma);
        for field in 0..=self.last {
            let end = if rest == 0 {
                len
            } else {
                rest.trailing_zeros() as usize
            };
            if field == self.id_col {
                id = start + inset..end - inset;
            }
            if field == self.date_col {
                date = start + inset..end - inset;
            }
            start = end + 1;
            rest &= rest.wrapping_sub(1);
        }
        Some((id, date))
    }
}

/// The [`FieldFinder`] for the usual layout, four columns, region_id third
/// and date last: the commas' positions are the second and the highest set
/// bit, a couple of instructions each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StandardFinder;

impl FieldFinder for StandardFinder {
    #[inline(always)]
    fn find(self, len: usize, comma: u64, quote: u64) -> Option<(Range<usize>, Range<usize>)> {
        if comma.count_ones() != 3 {
            return None;
        }
        let inset = inset(len, comma, quote, 4)?;
        let second = (comma & comma.wrapping_sub(1)).trailing_zeros() as usize;
        let third = 63 - comma.leading_zeros() as usize;
        Some((
            second + 1 + inset..third - inset,
            third + 1 + inset..len - inset,
        ))
    }
}

/// Parses a region_id of 1 to 18 ASCII digits (so it fits an `i64`), the
/// only form the fast path takes; anything else goes to the exact path.
#[inline(always)]
pub fn plain_id(digits: &[u8]) -> Option<i64> {
    if digits.is_empty() || digits.len() > 18 {
        return None;
    }
    let mut value: i64 = 0;
    for &b in digits {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        value = value * 10 + i64::from(d);
    }
    Some(value)
}

/// [`plain_id`] of the field at `at` in a row's window: ids of up to eight
/// digits (all real ones) are read as one word, checked and converted with
/// a few multiplications instead of a loop over their digits.
#[inline(always)]
pub fn window_id(window: &[u8; 64], at: Range<usize>) -> Option<i64> {
    let n = at.len();
    if n == 0 || n > 8 || at.start + 8 > window.len() {
        return plain_id(&window[at]);
    }
    let word = u64::from_le_bytes(window[at.start..at.start + 8].try_into().unwrap());
    // The field's bytes, moved to the top of the word: the zero bytes
    // below them read as leading zeros.
    let shift = 8 * (8 - n) as u32;
    let x = word << shift;
    let ones = 0x0101_0101_0101_0101u64 << shift;
    // Every kept byte is 0x30..=0x39: its high nibble is 3, also after
    // adding 6 (no carry crosses bytes while every byte is 0x30..=0x3F).
    let is_digits = x & (ones * 0xF0) == ones * 0x30
        && x.wrapping_add(ones * 0x06) & (ones * 0xF0) == ones * 0x30;
    if !is_digits {
        return None;
    }
    // Eight digits, first in the lowest byte, to their value (simdjson's
    // parse_eight_digits_unrolled).
    let v = (x & 0x0F0F_0F0F_0F0F_0F0F).wrapping_mul(2561) >> 8;
    let v = (v & 0x00FF_00FF_00FF_00FF).wrapping_mul(6_553_601) >> 16;
    let v = (v & 0x0000_FFFF_0000_FFFF).wrapping_mul(42_949_672_960_001) >> 32;
    Some(v as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(text: &[u8]) -> [u8; 64] {
        let mut w = [b'x'; 64];
        w[..text.len()].copy_from_slice(text);
        w
    }

    fn fields(line: &str) -> Option<(String, String)> {
        let m = masks(&window(line.as_bytes()), b',');
        let cut = low_bits(line.len());
        let layout = crate::format::Layout {
            columns: 4,
            id_col: 2,
            date_col: 3,
            ..crate::format::Layout::default()
        };
        let finder = GeneralFinder::of(&layout);
        let any = finder.find(line.len(), m.comma & cut, m.quote & cut);
        // The standard layout's shortcut finds exactly what the walk does.
        assert_eq!(
            any,
            StandardFinder.find(line.len(), m.comma & cut, m.quote & cut),
            "{line}"
        );
        let (a, b) = any?;
        Some((line[a].to_string(), line[b].to_string()))
    }

    #[test]
    fn simd_and_portable_masks_agree() {
        let mut w = [0u8; 64];
        for seed in 0..200usize {
            for (i, b) in w.iter_mut().enumerate() {
                *b = [b'"', b',', b'\n', b'a', b'0', 0xFF, 0x8A][(i * 7 + i / 3 + seed * i) % 7];
            }
            for d in [b',', b';', b'\t', b'|', 0xFF] {
                assert_eq!(masks(&w, d), portable::masks(&w, d));
                #[cfg(target_arch = "x86_64")]
                if has_avx2() {
                    // SAFETY: checked just above.
                    assert_eq!(unsafe { Avx2::masks(&w, d) }, portable::masks(&w, d));
                }
                #[cfg(target_arch = "x86_64")]
                if has_avx512() {
                    // SAFETY: checked just above.
                    assert_eq!(unsafe { Avx512::masks(&w, d) }, portable::masks(&w, d));
                }
            }
        }
        let m = masks(&window(b"\"a\",b\n"), b',');
        assert_eq!(
            (m.quote, m.comma, m.newline & 0x3f),
            (0b101, 0b1000, 0b100000)
        );
    }

    #[test]
    fn canonical_rows_give_their_fields() {
        assert_eq!(
            fields(r#""-38.1","177.0","1","2019-01-17""#),
            Some(("1".into(), "2019-01-17".into()))
        );
        assert_eq!(
            fields("-38.1,177.0,42,2019-01-17"),
            Some(("42".into(), "2019-01-17".into()))
        );
        assert_eq!(fields(r#""","","7","d""#), Some(("7".into(), "d".into())));
        assert_eq!(fields(",,,"), Some(("".into(), "".into())));
    }

    #[test]
    fn anything_unusual_is_declined() {
        for line in [
            r#""-38,1","177.0","1","2019-01-17""#, // comma inside quotes
            r#""a""b","177.0","1","2019-01-17""#,  // doubled quote
            r#""a", "177.0","1","2019-01-17""#,    // blank outside quotes
            r#""a","177.0",1,"2019-01-17""#,       // partly quoted
            r#""a","b","1","2019-01-17","x""#,     // five fields
            r#""a","b","1""#,                      // three fields
            r#"a,b,1,"2019-01-17"#,                // unclosed quote
            r#"","",",""#,                         // quotes shared between fields
            r#"",",",",","#,
        ] {
            assert_eq!(fields(line), None, "{line}");
        }
    }

    #[test]
    fn window_ids_read_like_plain_ones() {
        let mut window = [b'x'; 64];
        for text in [
            "0",
            "7",
            "42",
            "007",
            "12345678",
            "99999999",
            "123456789",
            "1234567890123456789",
            "",
            "1a",
            "a1",
            "-1",
            " 1",
            "1 ",
            "1/",
            ":1",
            "12345678\u{7f}",
        ] {
            for start in [0, 3, 50, 56, 60] {
                let at = start..start + text.len();
                if at.end > 64 {
                    continue;
                }
                window[at.clone()].copy_from_slice(text.as_bytes());
                assert_eq!(
                    window_id(&window, at.clone()),
                    plain_id(text.as_bytes()),
                    "{text:?} at {start}"
                );
                window[at].fill(b'x');
            }
        }
    }

    #[test]
    fn plain_ids() {
        assert_eq!(plain_id(b"0"), Some(0));
        assert_eq!(plain_id(b"007"), Some(7));
        assert_eq!(
            plain_id(b"999999999999999999"),
            Some(999_999_999_999_999_999)
        );
        assert_eq!(plain_id(b"1234567890123456789"), None);
        assert_eq!(plain_id(b""), None);
        assert_eq!(plain_id(b" 1"), None);
        assert_eq!(plain_id(b"-1"), None);
    }
}
