//! `event-counter plot`: a heatmap and daily totals of a result file.

use std::path::PathBuf;

use clap::Args;

#[cfg(feature = "plot")]
use event_counter::options::InputSpec;
use event_counter::Error;

use crate::Global;

/// Draw a result file: a heatmap of regions by days, and the daily totals
#[derive(Args, Debug)]
#[command(after_help = "\
Examples:
  event-counter plot sample/result.csv -o heatmap.png
  event-counter plot result.csv -o heatmap.svg --width 2400 --height 1600")]
pub struct PlotArgs {
    /// A result.csv written by count or merge
    result: PathBuf,

    /// The picture to write: .png or .svg
    #[arg(short, long, value_name = "PATH")]
    output: PathBuf,

    /// Width in pixels (width x height at most 32 million)
    #[arg(long, default_value_t = 1600, value_parser = clap::value_parser!(u32).range(200..=10000))]
    width: u32,

    /// Height in pixels
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(200..=10000))]
    height: u32,
}

#[cfg(not(feature = "plot"))]
pub fn run(_args: PlotArgs, _global: Global) -> Result<(), Error> {
    Err(Error::NotBuilt(
        "this build of event-counter cannot plot (built without the plot feature)".into(),
    ))
}

#[cfg(feature = "plot")]
pub fn run(args: PlotArgs, global: Global) -> Result<(), Error> {
    // Refused before any work when it is a closed standard output.
    super::destination(args.output.clone())?;
    let result = InputSpec::Local(args.result.clone());
    let rows = event_counter::plot(&result, &args.output, (args.width, args.height))?;
    if !global.quiet {
        eprintln!(
            "event-counter: drew {rows} rows of {} into {} ({}x{})",
            result.name(),
            args.output.display(),
            args.width,
            args.height
        );
    }
    Ok(())
}
