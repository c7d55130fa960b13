package io.spectro.structure;

import io.spectro.SpectroException;
import io.spectro.io.Npy;
import io.spectro.util.Vectors;
import io.spectro.whiten.Whitening;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

class SyntheticRunTest {
    @Test
    void streamedChiHasItsShapeAndLeavesNoTemporaries(@TempDir Path dir) throws Exception {
        // more rows than one streamed block (2^20 floats / 7 columns = 149,796 rows), so blocks join correctly
        SyntheticRun.Spec spec = SyntheticRun.Spec.of(160_000, 7, 3, 5);
        int[] truth = SyntheticRun.write(dir, spec);
        Npy.Floats chi = Npy.readFloats(dir.resolve("chi.npy"));
        assertEquals(160_000, chi.dim(0));
        assertEquals(7, chi.dim(1));
        assertArrayEquals(truth, Npy.readInts(dir.resolve("truth.npy")).data());
        // rows of one planted cluster share a centre: the last block's rows of cluster 0 average near those of the first
        double first = 0, last = 0;
        int nf = 0, nl = 0;
        for (int r = 0; r < truth.length; r++) if (truth[r] == 0) {
            if (r < 100_000) { first += chi.data()[r * 7]; nf++; } else if (r >= 150_000) { last += chi.data()[r * 7]; nl++; }
        }
        assertEquals(first / nf, last / nl, 0.1, "column 0 of cluster 0 before and after the block boundary");
        try (Stream<Path> s = Files.list(dir)) {
            assertTrue(s.noneMatch(p -> p.getFileName().toString().endsWith(".tmp")), "temporaries left");
        }
        // the same spec writes the same bytes
        Path again = dir.resolve("again");
        SyntheticRun.write(again, spec);
        assertArrayEquals(Files.readAllBytes(dir.resolve("chi.npy")), Files.readAllBytes(again.resolve("chi.npy")));
    }

    @Test
    void centresInASubspaceWhitenToThatManyDirections(@TempDir Path dir) {
        SyntheticRun.Spec spec = SyntheticRun.Spec.parse("6000x60:40:100-200:1:8", 11);
        assertEquals(8, spec.subspace());
        SyntheticRun.write(dir, spec);
        Whitening w = Whitening.fit(Vectors.read(dir.resolve("chi.npy")), Whitening.Options.defaults());
        // 40 random centres span the 8 directions unevenly: the weakest may fall under the threshold
        assertTrue(w.kept() >= 6 && w.kept() <= 8, w.kept() + " directions, " + w.rule());
        // without the subspace the same mixture spreads over many more directions
        Path flat = dir.resolve("flat");
        SyntheticRun.write(flat, SyntheticRun.Spec.parse("6000x60:40:100-200:1", 11));
        Whitening wf = Whitening.fit(Vectors.read(flat.resolve("chi.npy")), Whitening.Options.defaults());
        assertTrue(wf.kept() >= w.kept() + 4, wf.kept() + " vs " + w.kept() + " directions, " + wf.rule());
    }

    @Test
    void badSubspaceIsRefusedByName() {
        SpectroException e = assertThrows(SpectroException.class, () -> SyntheticRun.Spec.parse("100x6:2:0-0:1:7", 1));
        assertTrue(e.getMessage().contains("subspace 7"), e.getMessage());
        e = assertThrows(SpectroException.class, () -> SyntheticRun.Spec.parse("100x6:2:0-0:1:3:9", 1));
        assertTrue(e.getMessage().contains("SUBSPACE"), e.getMessage());
        assertEquals(0, SyntheticRun.Spec.parse("100x6:2:0-0:1:3", 1).sizeLo());
    }
}
