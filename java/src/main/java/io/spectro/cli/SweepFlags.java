package io.spectro.cli;

import picocli.CommandLine.Option;

/** How {@code spectro chi} lays a sweep out (components, fast path, batching): the mixin chi and cost share. */
final class SweepFlags {
    @Option(names = "--components", defaultValue = "default", description = "default | layer | qkv | spec file") String components;
    @Option(names = "--no-fast-path", description = "disable the restriction-aware fast path (full forward/backward every step)") boolean noFast;
    @Option(names = "--cache-mb", defaultValue = "2048", description = "memory budget of the fast path's activation cache in MiB (default ${DEFAULT-VALUE})") long cacheMb;
    @Option(names = "--max-batch-tokens", defaultValue = "8192", description = "largest B*T of one native batch (default ${DEFAULT-VALUE})") int maxBatchTokens;
}
