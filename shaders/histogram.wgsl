// Counts u32 keys into bins: bins[key] += 1 for every key below
// bin_count (the host keeps key spaces larger than the bins on the host,
// and never sends such keys; one past the bins would be skipped).
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
    bin_count: u32,
    _pad0: u32,
    _pad1: u32,
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
        let bin = keys[i];
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
        let bin = keys[i];
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
