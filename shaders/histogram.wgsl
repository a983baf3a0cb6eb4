// Counts u32 keys into bins: bins[key - bin_base] += 1 for every key in
// [bin_base, bin_base + bin_count). Keys outside that window are skipped,
// which lets the host count a key space larger than one storage binding in
// several passes over the same keys.
//
// Two entry points, chosen by the host per dispatch:
// - count_private: when the window fits in workgroup memory, each workgroup
//   counts into its own bins with cheap shared-memory atomics and adds them
//   to the global bins once at the end. Contention on hot bins (few regions,
//   few dates) stays inside the workgroup.
// - count_global: otherwise, every key is one atomicAdd on global memory.
//
// Bins are 32-bit (WGSL core has no 64-bit atomics). The host copies them
// into 64-bit totals and clears them before any bin could wrap.

struct Params {
    key_count: u32,
    bin_base: u32,
    bin_count: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> keys: array<u32>;
@group(0) @binding(2) var<storage, read_write> bins: array<atomic<u32>>;

const WORKGROUP_SIZE: u32 = 256u;

// Set by the host from the device's workgroup memory limit.
override PRIVATE_BINS: u32 = 4096u;

var<workgroup> private_bins: array<atomic<u32>, PRIVATE_BINS>;

@compute @workgroup_size(256)
fn count_global(
    @builtin(global_invocation_id) id: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let stride = groups.x * WORKGROUP_SIZE;
    for (var i = id.x; i < params.key_count; i += stride) {
        // Keys below bin_base wrap around to huge values and are skipped too.
        let bin = keys[i] - params.bin_base;
        if (bin < params.bin_count) {
            atomicAdd(&bins[bin], 1u);
        }
    }
}

@compute @workgroup_size(256)
fn count_private(
    @builtin(global_invocation_id) id: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    // The host turns off wgpu's own zeroing of workgroup memory (it makes
    // some GL drivers compile for tens of seconds), so clear our bins here.
    for (var b = local; b < params.bin_count; b += WORKGROUP_SIZE) {
        atomicStore(&private_bins[b], 0u);
    }
    workgroupBarrier();

    let stride = groups.x * WORKGROUP_SIZE;
    for (var i = id.x; i < params.key_count; i += stride) {
        let bin = keys[i] - params.bin_base;
        if (bin < params.bin_count) {
            atomicAdd(&private_bins[bin], 1u);
        }
    }
    workgroupBarrier();

    for (var b = local; b < params.bin_count; b += WORKGROUP_SIZE) {
        let n = atomicLoad(&private_bins[b]);
        if (n != 0u) {
            atomicAdd(&bins[b], n);
        }
    }
}
