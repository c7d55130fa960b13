package io.spectro.structure;

import io.spectro.SpectroException;
import io.spectro.cli.Main;
import io.spectro.cluster.PprClustering;
import io.spectro.graph.Knn;
import io.spectro.io.Npy;
import io.spectro.map.ClusterMap;
import io.spectro.util.MappedVectors;
import io.spectro.util.Vectors;
import io.spectro.whiten.Whitening;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;

import static org.junit.jupiter.api.Assertions.*;

/** Mapped vs heap vectors give the same bytes; killed stages resume to the same labels; truncated files are refused. */
class OutOfCoreTest {
    static final Knn.Options KO = Knn.Options.defaults().withK(15);
    static final PprClustering.Options PO = PprClustering.Options.defaults().withK(15).withMinSize(10);

    @AfterEach
    void clear() {
        System.clearProperty("spectro.mapBytes");
    }

    static Path run(Path dir, String name) {
        Path r = dir.resolve(name);
        SyntheticRun.write(r, SyntheticRun.Spec.of(600, 12, 4, 3));
        return r;
    }

    static Path stages(Path r) {
        return Pipeline.ensureStages(r, false, Whitening.Options.defaults(), KO, PO, ClusterMap.Options.defaults());
    }

    @Test
    void mappedAndHeapGiveIdenticalBytes(@TempDir Path dir) throws Exception {
        Path a = run(dir, "heap"), b = run(dir, "mapped");
        assertArrayEquals(Files.readAllBytes(a.resolve("chi.npy")), Files.readAllBytes(b.resolve("chi.npy")));
        assertFalse(MappedVectors.useMapping(a.resolve("chi.npy"))); // default threshold 256 MiB: heap
        stages(a);
        System.setProperty("spectro.mapBytes", "0"); // map (and stream) every file
        assertTrue(MappedVectors.useMapping(b.resolve("chi.npy")));
        stages(b);
        for (String f : new String[]{"whiten/whitened.npy", "clusters/knn.npy", "clusters/labels.npy", "clusters/centroids.npy"})
            assertArrayEquals(Files.readAllBytes(a.resolve(f)), Files.readAllBytes(b.resolve(f)), f);
        // the streamed fit equals the in-memory one on the same rows, field by field
        Vectors chi = Vectors.read(a.resolve("chi.npy"));
        try (MappedVectors m = MappedVectors.open(a.resolve("chi.npy"))) {
            Whitening w1 = Whitening.fit(chi, Whitening.Options.defaults()), w2 = Whitening.fit(m, Whitening.Options.defaults(), null);
            assertArrayEquals(w1.pcaMean(), w2.pcaMean());
            assertArrayEquals(w1.eigenvalues(), w2.eigenvalues());
            assertEquals(w1.kept(), w2.kept());
        }
        int[] labels = Npy.readInts(a.resolve("clusters/labels.npy")).data();
        assertTrue(java.util.Arrays.stream(labels).max().getAsInt() >= 2, "found clusters");
    }

    @Test
    void killedStagesResumeToTheSameLabels(@TempDir Path dir) throws Exception {
        Path r = run(dir, "run");
        Path c = stages(r);
        byte[] labels = Files.readAllBytes(c.resolve("labels.npy"));
        Path knn = c.resolve("knn.npy");
        FileTime before = FileTime.fromMillis(1_000_000L);
        Files.setLastModifiedTime(knn, before);
        // killed during clustering: clusters.json (the stage's marker) missing, a partial labels file left
        Files.delete(c.resolve("clusters.json"));
        Files.write(c.resolve("labels.npy"), new byte[7]);
        Files.write(c.resolve("labels.npy.tmp"), new byte[3]);
        stages(r);
        assertArrayEquals(labels, Files.readAllBytes(c.resolve("labels.npy")));
        assertEquals(before, Files.getLastModifiedTime(knn), "the cached kNN graph was reused, not rebuilt");
        assertTrue(Files.isRegularFile(c.resolve("map.json")));
        // killed during kNN: knn.json (its marker) missing, a partial graph in knn.npy.tmp
        Files.delete(c.resolve("knn.json"));
        Files.delete(c.resolve("clusters.json"));
        Files.write(c.resolve("knn.npy.tmp"), new byte[100]);
        stages(r);
        assertArrayEquals(labels, Files.readAllBytes(c.resolve("labels.npy")));
        assertNotEquals(before, Files.getLastModifiedTime(knn), "rebuilt");
        // killed during whitening: transform.json (its marker) missing, a half-written whitened.npy.tmp
        Files.delete(r.resolve("whiten/transform.json"));
        Files.write(r.resolve("whiten/whitened.npy.tmp"), new byte[1000]);
        stages(r);
        assertArrayEquals(labels, Files.readAllBytes(c.resolve("labels.npy")));
    }

    /** A knn.npy cut short (or of another shape) under a valid knn.json is rebuilt, giving the same labels. */
    @Test
    void damagedKnnCacheIsRebuilt(@TempDir Path dir) throws Exception {
        Path r = run(dir, "run");
        Path c = stages(r);
        byte[] labels = Files.readAllBytes(c.resolve("labels.npy")), knn = Files.readAllBytes(c.resolve("knn.npy"));
        Files.delete(c.resolve("clusters.json"));
        Files.write(c.resolve("knn.npy"), java.util.Arrays.copyOf(knn, knn.length - 40));
        stages(r);
        assertArrayEquals(labels, Files.readAllBytes(c.resolve("labels.npy")));
        assertArrayEquals(knn, Files.readAllBytes(c.resolve("knn.npy")));
        Files.delete(c.resolve("clusters.json"));
        Npy.write(c.resolve("knn.npy"), new int[600 * 3], 600, 3); // a graph of another k
        stages(r);
        assertArrayEquals(knn, Files.readAllBytes(c.resolve("knn.npy")));
    }

    @Test
    void mappedFileWithNanColumnIsNamedOrDropped(@TempDir Path dir) throws Exception {
        Path r = run(dir, "run");
        Vectors chi = Vectors.read(r.resolve("chi.npy"));
        float[] x = chi.data().clone();
        x[17 * 12 + 5] = Float.NaN;
        Npy.write(r.resolve("chi.npy"), x, 600, 12);
        System.setProperty("spectro.mapBytes", "0");
        SpectroException e = assertThrows(SpectroException.class,
                () -> Pipeline.whiten(r.resolve("chi.npy"), r.resolve("whiten"), Whitening.Options.defaults()));
        assertTrue(e.getMessage().contains("column(s) [5"), e.getMessage());
        Pipeline.whiten(r.resolve("chi.npy"), r.resolve("whiten"), Whitening.Options.defaults(), true);
        assertEquals(java.util.List.of(5), Pipeline.read(r.resolve("whiten/source.json"), Pipeline.Source.class).droppedColumns());
        try (MappedVectors w = MappedVectors.open(r.resolve("whiten/whitened.npy"))) {
            assertEquals(600, w.rows());
        }
    }

    @Test
    void truncatedVectorsAreRefused(@TempDir Path dir) throws Exception {
        Path r = run(dir, "run");
        byte[] all = Files.readAllBytes(r.resolve("chi.npy"));
        Files.write(r.resolve("chi.npy"), java.util.Arrays.copyOf(all, all.length - 100));
        System.setProperty("spectro.mapBytes", "0");
        SpectroException e = assertThrows(SpectroException.class, () -> MappedVectors.open(r.resolve("chi.npy")));
        assertTrue(e.getMessage().contains("chi.npy: truncated: shape [600, 12] needs 28800 data bytes"), e.getMessage());
        PrintStream old = System.err;
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        System.setErr(new PrintStream(b, true));
        int code;
        try {
            code = Main.run("whiten", "--in", r.resolve("chi.npy").toString(), "--out", r.resolve("whiten").toString());
        } finally {
            System.setErr(old);
        }
        assertEquals(2, code);
        assertTrue(b.toString().contains("truncated"), b.toString());
        assertFalse(Files.exists(r.resolve("whiten/whitened.npy")) || Files.exists(r.resolve("whiten/transform.json")));
    }
}
