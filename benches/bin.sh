# Sourced by the bench scripts: `release_bin [EXAMPLE...]` sets `bin` to a
# folder holding the release `event-counter` and the named examples, built
# here; or, when EVENT_COUNTER_BIN_DIR is set (a machine without a Rust
# toolchain), to that folder as it is.
release_bin() {
  if [ -n "${EVENT_COUNTER_BIN_DIR:-}" ]; then
    bin=$EVENT_COUNTER_BIN_DIR
    return
  fi
  local args=(--bin event-counter) example
  for example in "$@"; do args+=(--example "$example"); done
  cargo build --release --quiet "${args[@]}"
  bin=target/release
  for example in "$@"; do cp "target/release/examples/$example" "$bin/$example"; done
}
