package io.spectro.chi;

import io.spectro.SpectroException;
import io.spectro.model.Checkpoint;
import io.spectro.sampling.SamplerOptions;
import io.spectro.sampling.TinyFixture;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static io.spectro.sampling.TinyFixture.TINY;
import static org.junit.jupiter.api.Assertions.*;

class ChiRunTest {
    static MemorySegment params;
    static ChiRun.Inputs in;
    static final SamplerOptions SO = new SamplerOptions(2, 4, 2, 1, 2, 1e-3f, 30f, 300f, true, 0.99f, 0.1f, 1f, 5);

    @BeforeAll
    static void setup() {
        TinyFixture.assumeNative();
        params = TinyFixture.params(TINY, 3);
        in = new ChiRun.Inputs(TinyFixture.tokens(2, 9, 64, 4), 2, 9, TinyFixture.tokens(6, 9, 64, 5), 6, 9);
    }

    @AfterEach
    void unhook() {
        ChiRun.afterComponent = k -> {};
    }

    static ChiRun.Options opts(int threads) {
        return new ChiRun.Options(SO, "default", true, 1 << 20, threads, "cpu", 4096, false, false);
    }

    private static void assertBitIdentical(float[] a, float[] b) {
        assertEquals(a.length, b.length);
        for (int i = 0; i < a.length; i++)
            assertEquals(Float.floatToRawIntBits(a[i]), Float.floatToRawIntBits(b[i]), "element " + i);
    }

    @Test
    void sameSeedSameBitsWithOneAndTwoThreads(@TempDir Path dir) {
        ChiRun.Result one = ChiRun.run(TINY, params, in, dir.resolve("t1"), opts(1));
        ChiRun.Result two = ChiRun.run(TINY, params, in, dir.resolve("t2"), opts(2));
        assertEquals(16 * 8, one.chi().length);
        assertBitIdentical(one.chi(), two.chi());
        for (float v : one.chi()) assertTrue(Float.isFinite(v));
        assertTrue(one.diagnostics().stream().allMatch(d -> d.status().equals("ok")));
        assertEquals(8, one.componentsComputed());
    }

    @Test
    void resumeAfterAKillIsBitIdentical(@TempDir Path dir) {
        ChiRun.Result whole = ChiRun.run(TINY, params, in, dir.resolve("whole"), opts(2));
        ChiRun.afterComponent = k -> { if (k == 3) throw new IllegalStateException("killed"); };
        assertThrows(IllegalStateException.class, () -> ChiRun.run(TINY, params, in, dir.resolve("killed"), opts(2)));
        ChiRun.afterComponent = k -> {};
        assertTrue(Files.exists(dir.resolve("killed/state/0002.bin")));
        assertFalse(Files.exists(dir.resolve("killed/state/0003.bin")));
        ChiRun.Result resumed = ChiRun.run(TINY, params, in, dir.resolve("killed"), opts(2));
        assertEquals(5, resumed.componentsComputed());
        assertBitIdentical(whole.chi(), resumed.chi());
    }

    static ChiRun.Options shardOpts(int k, int m) {
        return new ChiRun.Options(SO, "default", true, 1 << 20, 1, "cpu", 4096, false, false, 0, new ChiRun.Shard(k, m));
    }

    @Test
    void shardsComputeTheirRunsAndTheUnshardedRunAssemblesThemBitIdentical(@TempDir Path dir) throws Exception {
        ChiRun.Result whole = ChiRun.run(TINY, params, in, dir.resolve("whole"), opts(1));
        // one shard alone: runs r with (r + 1) % 3 == 1 are components 0, 3, 6; the full run is shard 0's
        ChiRun.Result alone = ChiRun.run(TINY, params, in, dir.resolve("alone"), shardOpts(1, 3));
        assertEquals(3, alone.componentsComputed());
        assertEquals(1 + 5, alone.missingRuns());
        for (float v : alone.chi()) assertTrue(Float.isNaN(v)); // no full run yet: no column can be formed
        assertTrue(Files.exists(dir.resolve("alone/state/0006.bin")) && !Files.exists(dir.resolve("alone/state/0001.bin")));
        // three shards at the same time in one directory, then the unsharded run computes nothing
        Path shared = dir.resolve("shared");
        ExecutorService pool = Executors.newFixedThreadPool(3);
        try {
            List<Future<ChiRun.Result>> fs = new ArrayList<>();
            for (int k = 0; k < 3; k++) {
                int kk = k;
                fs.add(pool.submit(() -> ChiRun.run(TINY, params, in, shared, shardOpts(kk, 3))));
            }
            int computed = 0;
            for (Future<ChiRun.Result> f : fs) computed += f.get().componentsComputed();
            assertEquals(8, computed); // every component exactly once
        } finally {
            pool.shutdownNow();
        }
        ChiRun.Result assembled = ChiRun.run(TINY, params, in, shared, opts(2));
        assertEquals(0, assembled.componentsComputed());
        assertEquals(0, assembled.missingRuns());
        assertBitIdentical(whole.chi(), assembled.chi());
        assertEquals("0/4", new ChiRun.Shard(0, 4).index() + "/" + ChiRun.Shard.parse(" 0/4").count());
        for (String bad : new String[]{"4/4", "-1/2", "1", "a/b", "1/0"})
            assertThrows(IllegalArgumentException.class, () -> ChiRun.Shard.parse(bad), bad);
    }

    @Test
    void aDifferentRunInTheSameDirectoryIsRefused(@TempDir Path dir) {
        ChiRun.run(TINY, params, in, dir, opts(1));
        ChiRun.Options other = new ChiRun.Options(SO.withNbeta(10f), "default", true, 1 << 20, 1, "cpu", 4096, false, false);
        SpectroException e = assertThrows(SpectroException.class, () -> ChiRun.run(TINY, params, in, dir, other));
        assertTrue(e.getMessage().contains("sampler differs"), e.getMessage());
    }

    @Test
    void aCheckpointRunEqualsAFloat32RunAndSharesItsManifest(@TempDir Path dir) throws Exception {
        Checkpoint.write(dir.resolve("ck"), TINY, params, "bf16");
        try (Checkpoint ck = Checkpoint.open(dir.resolve("ck"))) {
            assertEquals(ChiRun.sha256(ck.params()), ChiRun.sha256(ck));
            ChiRun.Result viaCopy = ChiRun.run(TINY, ck.params(), in, dir.resolve("copy"), opts(1));
            ChiRun.Result mapped = ChiRun.run(ck, in, dir.resolve("mapped"), opts(1));
            assertBitIdentical(viaCopy.chi(), mapped.chi());
            assertEquals(Files.readString(dir.resolve("copy/manifest.json")), Files.readString(dir.resolve("mapped/manifest.json")));
        }
    }

    @Test
    void outOfVocabularyProbeTokenIsAClearError(@TempDir Path dir) {
        int[] bad = in.probe().clone();
        bad[3] = 64;
        ChiRun.Inputs badIn = new ChiRun.Inputs(bad, 2, 9, in.sampling(), 6, 9);
        SpectroException e = assertThrows(SpectroException.class, () -> ChiRun.run(TINY, params, badIn, dir, opts(1)));
        assertTrue(e.getMessage().contains("probe set: token id 64"), e.getMessage());
    }
}
