package io.spectro.chi;

import io.spectro.SpectroException;
import io.spectro.sampling.SamplerOptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.stream.Stream;

import static io.spectro.sampling.TinyFixture.TINY;
import static org.junit.jupiter.api.Assertions.*;

/** Faults of a run directory (issue 12): NaN diagnostics, foreign state, two processes, refused runs, partial outputs. */
class RunFaultsTest {
    static MemorySegment params;
    static ChiRun.Inputs in;
    /** One chain: R-hat is NaN in every component's diagnostics. */
    static final SamplerOptions ONE_CHAIN = new SamplerOptions(1, 3, 1, 0, 2, 1e-3f, 30f, 300f, false, 0.99f, 0.1f, 1f, 5);

    @BeforeAll
    static void setup() {
        ChiRunTest.setup(); // the same tiny model and token sets
        params = ChiRunTest.params;
        in = ChiRunTest.in;
    }

    static ChiRun.Options opts(SamplerOptions so, ChiRun.Shard shard) {
        return new ChiRun.Options(so, "layer", true, 1 << 20, 1, "cpu", 4096, false, false, 0, shard);
    }

    @Test
    void nanDiagnosticsResumeAndForeignStateIsRefused(@TempDir Path dir) throws Exception {
        ChiRun.Result first = ChiRun.run(TINY, params, in, dir, opts(ONE_CHAIN, ChiRun.Shard.ALL));
        assertTrue(Double.isNaN(first.diagnostics().get(0).rhat()));
        ChiRun.Result again = ChiRun.run(TINY, params, in, dir, opts(ONE_CHAIN, ChiRun.Shard.ALL)); // was "unreadable diagnostics"
        assertEquals(0, again.componentsComputed());
        assertArrayEquals(first.chi(), again.chi());
        assertTrue(Double.isNaN(again.diagnostics().get(0).rhat()));
        // a state file copied over another component's is refused, not read as a wrong column
        Path state = dir.resolve("state");
        Files.copy(state.resolve("0004.bin"), state.resolve("0003.bin"), StandardCopyOption.REPLACE_EXISTING);
        SpectroException e = assertThrows(SpectroException.class, () -> ChiRun.run(TINY, params, in, dir, opts(ONE_CHAIN, ChiRun.Shard.ALL)));
        assertTrue(e.getMessage().contains("0003.bin: belongs to another run or component"), e.getMessage());
        // and so is a damaged one
        byte[] b = Files.readAllBytes(state.resolve("0004.bin"));
        b[b.length / 2] ^= 1;
        Files.write(state.resolve("0003.bin"), b);
        e = assertThrows(SpectroException.class, () -> ChiRun.run(TINY, params, in, dir, opts(ONE_CHAIN, ChiRun.Shard.ALL)));
        assertTrue(e.getMessage().contains("0003.bin: "), e.getMessage());
    }

    @Test
    void aSecondProcessInTheSameRunDirectoryIsRefused(@TempDir Path dir) {
        try (RunLock held = RunLock.acquire(dir, ChiRun.Shard.ALL)) {
            SpectroException e = assertThrows(SpectroException.class, () -> ChiRun.run(TINY, params, in, dir, opts(ONE_CHAIN, ChiRun.Shard.ALL)));
            assertTrue(e.getMessage().contains("another spectro chi is working in this directory"), e.getMessage());
            assertThrows(SpectroException.class, () -> RunLock.acquire(dir, new ChiRun.Shard(0, 2)));
        }
        try (RunLock shard0 = RunLock.acquire(dir, new ChiRun.Shard(0, 2)); RunLock shard1 = RunLock.acquire(dir, new ChiRun.Shard(1, 2))) {
            assertThrows(SpectroException.class, () -> RunLock.acquire(dir, new ChiRun.Shard(1, 2))); // the same shard twice
            assertThrows(SpectroException.class, () -> RunLock.acquire(dir, ChiRun.Shard.ALL));
        }
        RunLock.acquire(dir, ChiRun.Shard.ALL).close(); // released
    }

    @Test
    void aSecondCopyOfASparkTaskWaitsInsteadOfBeingRefused(@TempDir Path dir) throws Exception {
        ChiRun.Shard run3 = ChiRun.Shard.single(3, 12), run4 = ChiRun.Shard.single(4, 12);
        RunLock first = RunLock.acquire(dir, run3, true);
        try (RunLock other = RunLock.acquire(dir, run4, true)) { // another task's run: shares the directory
            assertThrows(SpectroException.class, () -> RunLock.acquire(dir, ChiRun.Shard.ALL)); // an unsharded chi is still refused
        }
        java.util.concurrent.CompletableFuture<RunLock> copy =
                java.util.concurrent.CompletableFuture.supplyAsync(() -> RunLock.acquire(dir, run3, true)); // a retried or speculative copy
        Thread.sleep(300);
        assertFalse(copy.isDone(), "the copy waits while the first attempt holds its run");
        first.close();
        copy.get(30, java.util.concurrent.TimeUnit.SECONDS).close(); // and goes on once it is released
        RunLock.acquire(dir, ChiRun.Shard.ALL).close();
    }

    @Test
    void aRefusedRunWritesNothingAndTheCorrectedOneRuns(@TempDir Path dir) throws Exception {
        SamplerOptions batch7 = new SamplerOptions(1, 3, 1, 0, 7, 1e-3f, 30f, 300f, false, 0.99f, 0.1f, 1f, 5); // 6 sampling rows
        SpectroException e = assertThrows(SpectroException.class, () -> ChiRun.run(TINY, params, in, dir, opts(batch7, ChiRun.Shard.ALL)));
        assertTrue(e.getMessage().contains("batch 7 is larger than the 6 sampling sequences"), e.getMessage());
        assertFalse(Files.exists(dir.resolve("manifest.json")));
        assertEquals(6, ChiRun.run(TINY, params, in, dir, opts(ONE_CHAIN, ChiRun.Shard.ALL)).components().size());
        // a garbage manifest and an --out that is a file: messages, not a Jackson exception or "cannot write (path)"
        Path other = dir.resolveSibling(dir.getFileName() + "-garbage");
        try {
            Files.createDirectories(other);
            Files.writeString(other.resolve("manifest.json"), "{not json");
            e = assertThrows(SpectroException.class, () -> ChiRun.run(TINY, params, in, other, opts(ONE_CHAIN, ChiRun.Shard.ALL)));
            assertTrue(e.getMessage().contains("not a spectro run manifest"), e.getMessage());
            Files.delete(other.resolve("manifest.json"));
            Files.delete(other);
            Files.writeString(other, "a file");
            e = assertThrows(SpectroException.class, () -> ChiRun.run(TINY, params, in, other, opts(ONE_CHAIN, ChiRun.Shard.ALL)));
            assertTrue(e.getMessage().contains("exists and is not a directory"), e.getMessage());
        } finally {
            Files.deleteIfExists(other);
        }
    }

    @Test
    void tracesThatCannotFitAreRefusedBeforeAnyWork(@TempDir Path dir) {
        for (SamplerOptions so : new SamplerOptions[]{
                new SamplerOptions(4096, 100000, 1, 0, 2, 1e-3f, 30f, 300f, false, 0.99f, 0.1f, 1f, 5),
                new SamplerOptions(4, 300_000_000, 8, 0, 2, 1e-3f, 30f, 300f, false, 0.99f, 0.1f, 1f, 5)}) {
            SpectroException e = assertThrows(SpectroException.class, () -> ChiRun.run(TINY, params, in, dir, opts(so, ChiRun.Shard.ALL)));
            assertTrue(e.getMessage().contains("draws per component fit"), e.getMessage());
        }
        assertFalse(Files.exists(dir.resolve("manifest.json")));
    }

    @Test
    void outputsAppearTogetherOrNotAtAll(@TempDir Path dir) throws Exception {
        ChiRun.Result r = ChiRun.run(TINY, params, in, dir, opts(ONE_CHAIN, ChiRun.Shard.ALL));
        Files.writeString(dir.resolve("plots"), "a file where the plots directory goes");
        SpectroException e = assertThrows(SpectroException.class, () -> RunOutputs.write(dir, r, in, RunOutputs.perToken(id -> "#" + id), true));
        assertTrue(e.getMessage().contains("file exists") || e.getMessage().contains("not a directory"), e.getMessage());
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(java.util.List.of(".lock", "manifest.json", "plots", "state"), files.map(p -> p.getFileName().toString()).sorted().toList());
        }
        Files.delete(dir.resolve("plots"));
        RunOutputs.write(dir, r, in, RunOutputs.perToken(id -> "#" + id), true);
        for (String f : new String[]{"chi.npy", "components.json", "tokens.csv", "tokens.arrow", "contexts.jsonl", "diagnostics.json", "plots/l0attn.png"})
            assertTrue(Files.exists(dir.resolve(f)), f);
    }
}
