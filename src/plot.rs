//! `plot`: a picture of a result file. A heatmap of counts, regions by
//! days, with a colour scale, above a line of the daily totals. PNG or SVG,
//! chosen by the output's extension.

use std::collections::BTreeSet;
use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters_backend::DrawingErrorKind;
use plotters_bitmap::BitMapBackendError;

use crate::date::{date_text, day_number};
use crate::error::{Error, Result};
use crate::output::{self, Destination};
use crate::format::RESULT_FILE;
use crate::input::{read_small, InputSpec};
use crate::result_reader::{parse_results, ResultRecord};

/// Text in PNGs needs a font the program carries: DejaVu Sans (its license
/// is next to it in assets/fonts/).
const FONT: &[u8] = include_bytes!("../assets/fonts/DejaVuSans.ttf");

/// The picture's format, from the file name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// A PNG bitmap.
    Png,
    /// An SVG drawing.
    Svg,
}

impl Format {
    /// The format a file name asks for, by its extension.
    pub fn from_path(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "png" => Some(Format::Png),
            "svg" => Some(Format::Svg),
            _ => None,
        }
    }
}

/// The result laid out as a grid: regions (sorted by name) by every day
/// from the first date to the last, gaps included so the x axis is time.
struct Grid {
    regions: Vec<String>,
    first_day: i64,
    days: usize,
    /// (day, region, count) for every non-zero cell.
    cells: Vec<(usize, usize, u64)>,
    /// All regions' count per day: a sum of u64 counts, which can pass
    /// 2^64 (`merge` refuses only a group's count past it).
    daily: Vec<u128>,
    max_cell: u64,
}

fn date_label(day: i64) -> String {
    date_text(day).map_or_else(String::new, |t| String::from_utf8_lossy(&t).into_owned())
}

impl Grid {
    fn new(records: &[ResultRecord]) -> Grid {
        let names: BTreeSet<&[u8]> = records.iter().map(|r| &*r.region).collect();
        let names: Vec<&[u8]> = names.into_iter().collect();
        let first_day = records
            .iter()
            .map(|r| day_number(&r.date))
            .min()
            .unwrap_or(0);
        let last_day = records
            .iter()
            .map(|r| day_number(&r.date))
            .max()
            .unwrap_or(0);
        let days = (last_day - first_day + 1) as usize;
        let mut daily = vec![0u128; days];
        let mut cells = Vec::with_capacity(records.len());
        for r in records {
            let day = (day_number(&r.date) - first_day) as usize;
            let region = names
                .binary_search(&&*r.region)
                .expect("every name is listed");
            daily[day] += u128::from(r.count);
            cells.push((day, region, r.count));
        }
        Grid {
            regions: names
                .iter()
                .map(|n| text(&String::from_utf8_lossy(n)))
                .collect(),
            first_day,
            days,
            max_cell: cells.iter().map(|c| c.2).max().unwrap_or(0),
            cells,
            daily,
        }
    }
}

/// Reads `result` (a result.csv written by a count or a merge) and draws
/// it into `path` (.png or .svg) at `width` x `height` pixels; the rows
/// drawn.
pub fn plot(result: &InputSpec, path: &Path, size: (u32, u32)) -> Result<usize> {
    let bytes = read_small(result, &RESULT_FILE)?;
    let name = result.name();
    let records = parse_results(&bytes, &name)?;
    draw_records(&records, &name, path, size)?;
    Ok(records.len())
}

/// Draws `records` into `path` at `width` x `height` pixels.
fn draw_records(
    records: &[ResultRecord],
    source: &str,
    path: &Path,
    (width, height): (u32, u32),
) -> Result<()> {
    let format = Format::from_path(path).ok_or_else(|| {
        Error::Usage(format!(
            "{}: the picture's name must end in .png or .svg",
            path.display()
        ))
    })?;
    if u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(Error::Usage(format!(
            "{width}x{height} is more than {} million pixels, the most a picture may have",
            MAX_PIXELS / 1_000_000
        )));
    }
    if records.is_empty() {
        return Err(Error::Data {
            file: source.to_string(),
            line: 2,
            reason: "the result has no rows after its header: nothing to plot".into(),
        });
    }
    // Registering twice is harmless; only the first call does anything.
    let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    let grid = Grid::new(records);
    let title = text(&format!("events per region and day: {source}"));
    let failed = |reason: String| Error::Write {
        path: path.to_path_buf(),
        source: std::io::Error::other(reason),
    };
    match format {
        Format::Png => {
            // Drawn into a temporary file next to the picture, renamed over
            // it when whole: a full disk leaves the old picture as it was.
            let dir = match path.parent() {
                Some(dir) if !dir.as_os_str().is_empty() => dir,
                _ => Path::new("."),
            };
            use std::os::unix::fs::PermissionsExt;
            let mut builder = tempfile::Builder::new();
            builder.prefix(".plot.").suffix(".png");
            // As a plain create would: 0666 less the umask, not 0600.
            builder.permissions(std::fs::Permissions::from_mode(0o666));
            let (file, temp) = output::atomic::registered_tempfile(&builder, dir)
                .map_err(|e| failed(e.to_string()))?;
            drop(file);
            let drawn = {
                let root = BitMapBackend::new(&temp, (width, height)).into_drawing_area();
                draw(&root, &grid, &title)
                    .and_then(|()| root.present())
                    .map_err(|e| failed(bitmap_reason(e)))
            };
            output::atomic::unregister(&temp);
            drawn?;
            temp.persist(path).map_err(|e| failed(e.error.to_string()))
        }
        Format::Svg => {
            let mut svg = String::new();
            {
                let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
                draw(&root, &grid, &title)
                    .and_then(|()| root.present())
                    .map_err(|e| failed(e.to_string()))?;
            }
            output::write_file(&Destination::File(path.to_path_buf()), svg.as_bytes())
        }
    }
}

/// The most pixels a picture may have: 32 million, about 100 MB drawn.
pub const MAX_PIXELS: u64 = 32_000_000;

/// A drawing error in words: the bitmap backend's own text is Rust's debug
/// form of its error, unfit for a person.
fn bitmap_reason(e: DrawingAreaErrorKind<BitMapBackendError>) -> String {
    match e {
        DrawingAreaErrorKind::BackendError(DrawingErrorKind::DrawingError(e)) => match e {
            BitMapBackendError::IOError(e) => e.to_string(),
            BitMapBackendError::ImageError(e) => e.to_string(),
            e => format!("{e:?}"),
        },
        e => e.to_string(),
    }
}

/// Text as a picture may show it: characters XML forbids (most control
/// characters; an SVG is XML) become U+FFFD.
fn text(raw: &str) -> String {
    raw.chars()
        .map(|c| {
            let forbidden =
                (c < ' ' && !matches!(c, '\t' | '\n' | '\r')) || c == '\u{FFFE}' || c == '\u{FFFF}';
            if forbidden {
                '\u{FFFD}'
            } else {
                c
            }
        })
        .collect()
}

type DrawResult<DB> =
    std::result::Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    grid: &Grid,
    title: &str,
) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    let (width, height) = root.dim_in_pixel();
    let root = root.titled(title, ("sans-serif", 22))?;
    let (top, bottom) = root.split_vertically(height * 68 / 100);
    let (heat_area, scale_area) = top.split_horizontally(width.saturating_sub(110));

    // Region names fit beside both charts.
    let longest = grid
        .regions
        .iter()
        .map(|n| n.chars().count())
        .max()
        .unwrap_or(1);
    let label_width = (longest as u32 * 7 + 16).min(width / 3);
    draw_heatmap(&heat_area, grid, label_width)?;
    draw_scale(&scale_area, grid)?;
    draw_daily(&bottom, grid, label_width)
}

/// The heatmap: one cell per (day, region), its colour the count's.
fn draw_heatmap<DB: DrawingBackend>(
    heat_area: &DrawingArea<DB, Shift>,
    grid: &Grid,
    label_width: u32,
) -> DrawResult<DB> {
    let (days, regions) = (grid.days as i32, grid.regions.len() as i32);
    let mut heat = ChartBuilder::on(heat_area)
        .margin(8)
        .x_label_area_size(36)
        .y_label_area_size(label_width)
        .build_cartesian_2d(0..days, 0..regions)?;
    // One name per row while they fit, else every n-th.
    let row_pixels = (heat_area.dim_in_pixel().1 as f64 - 60.0) / f64::from(regions);
    let every = (11.0 / row_pixels).ceil().max(1.0) as i32;
    heat.configure_mesh()
        .disable_mesh()
        .x_labels(8)
        .x_label_formatter(&|&day| date_label(grid.first_day + i64::from(day)))
        .y_labels((regions / every).max(1) as usize + 1)
        .y_label_formatter(&|&r| {
            let r = r as usize;
            if r < grid.regions.len() && r as i32 % every == 0 {
                grid.regions[r].clone()
            } else {
                String::new()
            }
        })
        .y_desc("region")
        .label_style(("sans-serif", 11))
        .axis_desc_style(("sans-serif", 13))
        .draw()?;
    heat.draw_series(grid.cells.iter().map(|&(day, region, count)| {
        let (x, y) = (day as i32, region as i32);
        Rectangle::new(
            [(x, y), (x + 1, y + 1)],
            colour(count, grid.max_cell).filled(),
        )
    }))?;

    Ok(())
}

/// The colour scale: the heatmap's colours, bottom to top.
fn draw_scale<DB: DrawingBackend>(
    scale_area: &DrawingArea<DB, Shift>,
    grid: &Grid,
) -> DrawResult<DB> {
    let max = grid.max_cell.max(1) as f64;
    let mut scale = ChartBuilder::on(scale_area)
        .margin_top(8)
        .margin_bottom(44)
        .margin_right(8)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..1.0, 0.0..max)?;
    scale
        .configure_mesh()
        .disable_mesh()
        .disable_x_axis()
        .y_labels(6)
        .y_label_formatter(&|&y| format!("{}", y.round() as u64))
        .y_desc("count")
        .label_style(("sans-serif", 11))
        .axis_desc_style(("sans-serif", 13))
        .draw()?;
    const STEPS: usize = 100;
    scale.draw_series((0..STEPS).map(|i| {
        let (lo, hi) = (
            max * i as f64 / STEPS as f64,
            max * (i + 1) as f64 / STEPS as f64,
        );
        Rectangle::new(
            [(0.0, lo), (1.0, hi)],
            colour(hi as u64, grid.max_cell).filled(),
        )
    }))?;

    Ok(())
}

/// The daily totals, all regions together, under the heatmap.
fn draw_daily<DB: DrawingBackend>(
    bottom: &DrawingArea<DB, Shift>,
    grid: &Grid,
    label_width: u32,
) -> DrawResult<DB> {
    let days = grid.days as i32;
    let top_total = grid.daily.iter().copied().max().unwrap_or(0).max(1) as f64 * 1.05;
    let mut totals = ChartBuilder::on(bottom)
        .margin(8)
        .margin_right(118)
        .x_label_area_size(36)
        .y_label_area_size(label_width)
        .caption("events per day, all regions", ("sans-serif", 14))
        .build_cartesian_2d(0.0..f64::from(days), 0.0..top_total)?;
    totals
        .configure_mesh()
        .x_labels(8)
        .x_label_formatter(&|&x| date_label(grid.first_day + x.floor() as i64))
        .y_labels(5)
        .y_label_formatter(&|&y| format!("{}", y.round() as u128))
        .x_desc("date")
        .y_desc("events")
        .label_style(("sans-serif", 11))
        .axis_desc_style(("sans-serif", 13))
        .light_line_style(WHITE.mix(0.0))
        .draw()?;
    // Each day's point sits in the middle of its heatmap column.
    totals.draw_series(LineSeries::new(
        grid.daily
            .iter()
            .enumerate()
            .map(|(day, &n)| (day as f64 + 0.5, n as f64)),
        RGBColor(33, 113, 181).stroke_width(2),
    ))?;
    Ok(())
}

/// Viridis-like colour for `count` out of `max`: dark blue for few, yellow
/// for many; readable in grey and by most colour-blind readers.
fn colour(count: u64, max: u64) -> RGBColor {
    const STOPS: [(f64, f64, f64); 5] = [
        (68.0, 1.0, 84.0),
        (59.0, 82.0, 139.0),
        (33.0, 145.0, 140.0),
        (94.0, 201.0, 98.0),
        (253.0, 231.0, 37.0),
    ];
    let t = if max == 0 {
        0.0
    } else {
        (count as f64 / max as f64).clamp(0.0, 1.0)
    };
    let x = t * (STOPS.len() - 1) as f64;
    let i = (x.floor() as usize).min(STOPS.len() - 2);
    let f = x - i as f64;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    let mix = |p: f64, q: f64| (p + (q - p) * f).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_run_from_dark_to_bright() {
        assert_eq!(colour(0, 10), RGBColor(68, 1, 84));
        assert_eq!(colour(10, 10), RGBColor(253, 231, 37));
        assert_eq!(colour(0, 0), RGBColor(68, 1, 84));
    }

    #[test]
    fn the_grid_spans_every_day_between_first_and_last() {
        let record = |region: &str, date: &[u8; 10], count| ResultRecord {
            region: region.as_bytes().into(),
            date: *date,
            count,
        };
        let grid = Grid::new(&[
            record("b", b"2019-12-31", 2),
            record("a", b"2020-01-02", 3),
            record("b", b"2020-01-02", 4),
        ]);
        assert_eq!(grid.regions, ["a", "b"]);
        assert_eq!(grid.days, 3);
        assert_eq!(grid.daily, [2, 0, 7]);
        assert_eq!(grid.max_cell, 4);
        assert_eq!(date_label(grid.first_day + 1), "2020-01-01");
        // A day's total past 2^64 wrapped (in a release build) and was drawn
        // below a smaller day's.
        let big = 10_000_000_000_000_000_000u64;
        let grid = Grid::new(&[
            record("a", b"2020-01-01", big),
            record("b", b"2020-01-01", big),
            record("a", b"2020-01-02", big / 2),
        ]);
        assert_eq!(grid.daily, [2 * u128::from(big), u128::from(big / 2)]);
    }
}
