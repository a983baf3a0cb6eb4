//! `event-counter adapters`: every GPU adapter wgpu finds, and which one
//! `--backend auto` would take, and why.

use clap::Args;

#[cfg(feature = "gpu")]
use event_counter::adapters::{self as device, AutoChoice, Search};
use event_counter::Error;

/// List the GPU adapters and mark the one --backend auto would use
#[derive(Args, Debug)]
#[command(after_help = "\
Examples:
  event-counter adapters
  WGPU_BACKEND=vulkan event-counter adapters     only Vulkan adapters
  WGPU_ADAPTER_NAME=nvidia event-counter adapters")]
pub struct AdaptersArgs {}

/// A build without GPU support has no adapters to list: it says so, as
/// every subcommand it lacks does (exit 69).
#[cfg(not(feature = "gpu"))]
pub fn run(_args: AdaptersArgs) -> Result<(), Error> {
    Err(Error::NotBuilt(
        "this build of event-counter has no GPU support (built without the gpu feature): \
         --backend auto uses the CPU"
            .into(),
    ))
}

#[cfg(feature = "gpu")]
pub fn run(_args: AdaptersArgs) -> Result<(), Error> {
    let candidates = device::candidates(Search::All);
    let choice = device::auto_choice(&candidates);
    let gpu_pick = device::best(&candidates);
    if candidates.is_empty() {
        println!("no GPU adapters found");
    }
    for (i, c) in candidates.iter().enumerate() {
        let mark = match choice {
            AutoChoice::Gpu(chosen) if chosen == i => "* ",
            _ => "  ",
        };
        println!("{mark}{}", c.info.name);
        println!("    backend:     {:?}", c.info.backend);
        println!("    type:        {:?}", c.info.device_type);
        let driver = format!("{} {}", c.info.driver, c.info.driver_info);
        println!("    driver:      {}", driver.trim());
        println!(
            "    limits:      {} MiB per storage binding, {} KiB workgroup memory, {} invocations per workgroup",
            c.limits.max_storage_buffer_binding_size >> 20,
            c.limits.max_compute_workgroup_storage_size >> 10,
            c.limits.max_compute_invocations_per_workgroup,
        );
        let status = match (&c.unusable, gpu_pick == Some(i)) {
            (Some(why), _) => format!("unusable: {why}"),
            (None, true) => "usable; --backend gpu takes it".to_string(),
            (None, false) => "usable".to_string(),
        };
        println!("    status:      {status}");
    }
    match choice {
        AutoChoice::Gpu(i) => println!(
            "--backend auto uses * {}, the best hardware adapter, for the gpu backend: \
             it parses plain local files; compressed, S3 and piped input is parsed on the CPU",
            candidates[i].info.name
        ),
        AutoChoice::Cpu(why) => println!("--backend auto uses the CPU: {why}"),
    }
    Ok(())
}
