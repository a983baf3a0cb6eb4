//! What the tests share: temp data folders, running the real binary and
//! checking what it printed, the GPU-or-skip rule, and a naive reference
//! counter.

use std::collections::HashMap;

use event_counter::Engine;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The arguments of a `count` of `locations` against the folder's
/// region.csv into `result`, then `extra`: the set-up the command-line
/// tests share.
pub fn count_args<'a>(locations: &'a str, result: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "count",
        "--regions",
        "region.csv",
        "--locations",
        locations,
        "-o",
        result,
    ];
    args.extend(extra);
    args
}

/// A temporary data folder.
pub struct DataDir {
    pub dir: tempfile::TempDir,
}

impl DataDir {
    pub fn new() -> DataDir {
        DataDir {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// A folder with region.csv and location.csv.
    pub fn with(regions: &str, locations: &str) -> DataDir {
        let data = DataDir::new();
        data.write("region.csv", regions);
        data.write("location.csv", locations);
        data
    }

    /// Options that count this folder's region.csv and location.csv into
    /// `result`, with every row counted or rejected and no verdict failing
    /// the run: where the library-level tests of rows start from.
    pub fn count_options(&self, result: &str) -> event_counter::CountOptions {
        use event_counter::input::InputSpec;
        let mut options = event_counter::CountOptions::new(
            InputSpec::Local(self.path("region.csv")),
            vec![InputSpec::Local(self.path("location.csv"))],
            event_counter::output::Destination::File(self.path(result)),
        );
        options.thresholds = event_counter::count::Thresholds::allow_all();
        options
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, content: impl AsRef<[u8]>) {
        std::fs::write(self.path(name), content).unwrap();
    }

    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).unwrap()
    }

    pub fn exists(&self, name: &str) -> bool {
        self.path(name).exists()
    }

    /// Runs the binary with `args`, in this folder.
    pub fn run(&self, args: &[&str]) -> Run {
        run_in(self.dir.path(), args, &[])
    }

    /// Runs the binary with extra environment variables.
    pub fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        run_in(self.dir.path(), args, env)
    }

    /// Runs another program (a shell, to limit the binary), in this folder.
    pub fn run_program(&self, program: &str, args: &[&str]) -> Run {
        let output = Command::new(program)
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .unwrap();
        Run {
            code: output.status.code().expect("killed by a signal"),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Files in the folder, sorted: to check nothing stray was left.
    pub fn files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

/// What a run of the binary did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Panics with the run's output unless it exited with `code`.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Run {
        assert_eq!(
            self.code, code,
            "exit code; stderr:\n{}\nstdout:\n{}",
            self.stderr, self.stdout
        );
        self
    }

    #[track_caller]
    pub fn ok(&self) -> &Run {
        self.expect_code(0)
    }

    /// Panics, showing stderr, unless stderr holds `needle`.
    #[track_caller]
    pub fn stderr_has(&self, needle: &str) -> &Run {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}:\n{}",
            self.stderr
        );
        self
    }

    /// Panics, showing stdout, unless stdout holds `needle`.
    #[track_caller]
    pub fn stdout_has(&self, needle: &str) -> &Run {
        assert!(
            self.stdout.contains(needle),
            "stdout lacks {needle:?}:\n{}",
            self.stdout
        );
        self
    }
}

/// The binary under test: this build's, or `EVENT_COUNTER_BIN` (to run the
/// tests against another build, e.g. an older one to show a test fails).
pub fn binary() -> String {
    std::env::var("EVENT_COUNTER_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_event-counter").to_string())
}

pub fn run_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut command = Command::new(binary());
    // The binary quiets Mesa's Wayland probe itself (quiet_wayland_probe in main.rs).
    command.args(args).current_dir(dir);
    for (k, v) in env {
        command.env(k, v);
    }
    let Output {
        status,
        stdout,
        stderr,
    } = command.output().unwrap();
    Run {
        code: status.code().expect("killed by a signal"),
        stdout: String::from_utf8(stdout).unwrap(),
        stderr: String::from_utf8(stderr).unwrap(),
    }
}

/// Whether GPU tests can run here. Without an adapter they are skipped,
/// saying so, unless `EVENT_COUNTER_REQUIRE_GPU=1` makes that a failure
/// (CI sets it, so the GPU path is proven on every change).
#[cfg(feature = "gpu")]
pub fn gpu_available() -> bool {
    use event_counter::gpu::device;
    use std::sync::OnceLock;
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        // As the binary does in main: Mesa's drivers probe for a Wayland
        // display and print an error to stderr when this is unset. Set
        // before the first adapter search, while no test has started wgpu.
        if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
            std::env::set_var("XDG_RUNTIME_DIR", std::env::temp_dir());
        }
        let candidates = device::candidates(device::Search::Usual);
        if device::best(&candidates).is_some() {
            return true;
        }
        let why = device::no_adapter_reason(&candidates);
        if std::env::var("EVENT_COUNTER_REQUIRE_GPU").as_deref() == Ok("1") {
            panic!("EVENT_COUNTER_REQUIRE_GPU=1 but {why}");
        }
        eprintln!("skipping GPU tests: {why}");
        false
    })
}

/// A build without the `gpu` feature has no GPU to test.
#[cfg(not(feature = "gpu"))]
pub fn gpu_available() -> bool {
    false
}

/// Every engine to run a library-level test through: the CPU's, and (where
/// a GPU adapter is) the GPU engines below.
pub fn engines() -> Vec<&'static Engine> {
    static CPU: Engine = Engine::Cpu;
    let mut all = vec![&CPU];
    all.extend(gpu_engines());
    all
}

/// GPU engines, made once for all cases. The GPU backend with its defaults;
/// with chunks and blocks so small that rows cross every edge and room for
/// two pages of bins (most rows handed back, bins folded after nearly
/// every chunk); and in between. The keys path with the device's
/// limits, and so tight that nearly every batch wraps the key ring, most
/// key spaces outgrow its bins (and are counted on the host), and the rest
/// are counted with global atomics or in workgroup memory.
#[cfg(feature = "gpu")]
fn gpu_engines() -> &'static [Engine] {
    use event_counter::gpu::device::{self, Search};
    use event_counter::gpu::{GpuContext, GpuOptions};
    use std::sync::OnceLock;

    static ENGINES: OnceLock<Vec<Engine>> = OnceLock::new();
    ENGINES.get_or_init(|| {
        if !gpu_available() {
            return Vec::new();
        }
        let candidates = device::candidates(Search::Usual);
        let adapter = &candidates[device::best(&candidates).unwrap()].adapter;
        let context = |options| GpuContext::new(adapter, options).unwrap();
        let tight_parse = GpuOptions {
            chunk_bytes: Some(97),
            block_bytes: Some(7),
            max_pages: Some(2),
            ..GpuOptions::default()
        };
        let some_parse = GpuOptions {
            chunk_bytes: Some(1000),
            block_bytes: Some(64),
            max_pages: Some(200),
            ..GpuOptions::default()
        };
        let tight_keys = GpuOptions {
            max_bins: Some(64),
            max_keys: Some(100),
            private_bins: Some(32),
            ..GpuOptions::default()
        };
        vec![
            Engine::Gpu(context(GpuOptions::default())),
            Engine::Gpu(context(tight_parse)),
            Engine::Gpu(context(some_parse)),
            Engine::GpuKeys(context(GpuOptions::default())),
            Engine::GpuKeys(context(tight_keys)),
        ]
    })
}

/// The GPU backend with `options`, and its adapter's name, where a GPU
/// adapter is.
#[cfg(feature = "gpu")]
pub fn gpu_engine_with(options: event_counter::gpu::GpuOptions) -> Option<(String, Engine)> {
    use event_counter::gpu::device::{self, Search};
    if !gpu_available() {
        return None;
    }
    let candidates = device::candidates(Search::Usual);
    let adapter = &candidates[device::best(&candidates).unwrap()].adapter;
    let context = event_counter::gpu::GpuContext::new(adapter, options).unwrap();
    Some((context.info.name.clone(), Engine::Gpu(context)))
}

#[cfg(not(feature = "gpu"))]
fn gpu_engines() -> &'static [Engine] {
    &[]
}

/// The backends to run a test through: cpu always, the GPU's where they
/// can run.
pub fn backends() -> Vec<&'static str> {
    use event_counter::Backend;
    let mut backends = vec![Backend::Cpu];
    if gpu_available() {
        backends.extend([Backend::Gpu, Backend::GpuKeys]);
    }
    backends.into_iter().map(Backend::name).collect()
}

/// Quotes a field the way result.csv must: RFC 4180, always quoted.
pub fn quote(field: &str) -> String {
    format!("\"{}\"", field.replace('"', "\"\""))
}

/// The naive reference: counts (region name, date) pairs over rows already
/// known to be valid, joins names by id, and renders result.csv.
pub fn reference_result(names_by_id: &HashMap<i64, String>, rows: &[(i64, String)]) -> String {
    let mut counts: HashMap<(&str, &str), u64> = HashMap::new();
    for (id, date) in rows {
        if let Some(name) = names_by_id.get(id) {
            *counts.entry((date.as_str(), name.as_str())).or_default() += 1;
        }
    }
    let mut keys: Vec<_> = counts.into_iter().collect();
    keys.sort_by(|a, b| {
        (a.0 .0.as_bytes(), a.0 .1.as_bytes()).cmp(&(b.0 .0.as_bytes(), b.0 .1.as_bytes()))
    });
    let mut out = String::from("\"region_name\",\"date\",\"count\"\n");
    for ((date, name), count) in keys {
        out.push_str(&format!(
            "{},{},{}\n",
            quote(name),
            quote(date),
            quote(&count.to_string())
        ));
    }
    out
}
